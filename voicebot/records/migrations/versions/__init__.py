"""One file per schema revision, in order (each names the one before it)."""
