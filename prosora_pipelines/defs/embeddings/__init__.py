"""Embeddings: the chunked, embedded article index in LanceDB, searched by meaning and words."""
