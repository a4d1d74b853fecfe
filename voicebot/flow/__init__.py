"""Call flows: the YAML language, its validator and the pure interpreter."""
