"""Articles: cleaning, canonical URLs, published dates, deduplication, the articles
table and its checks."""
