"""The live ops deck: one page per space, every widget a partial with its own URL."""
