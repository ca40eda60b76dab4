"""Trends: topics of the recent window and the catalog's megatrends, and their tables."""
