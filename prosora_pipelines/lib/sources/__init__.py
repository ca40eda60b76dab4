"""Sources: the catalog and its snapshot, fetching, feed and web-page parsing, raw
entries and their store, and source health."""
