"""Links: per-space trackable entry points whose landing mints the click uid."""
