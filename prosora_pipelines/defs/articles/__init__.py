"""Articles: clean, canonical, deduplicated articles built from the raw entries."""
