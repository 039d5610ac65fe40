"""The landing: GET /<slug> on the tracker's hosts and verified custom domains."""
