"""The daily digest: the day's most important stories, summarized, cited, grouped by topic."""
