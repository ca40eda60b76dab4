"""The daily digest: the day's stories that matter most to the catalog, summarized and cited."""
