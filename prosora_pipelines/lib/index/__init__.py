"""The article index: chunking, embedding, the LanceDB vector store and its refresh,
search and index checks."""
