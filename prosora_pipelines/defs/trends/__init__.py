"""Trends: the topics of the recent articles and how they grow, and the catalog's megatrends."""
