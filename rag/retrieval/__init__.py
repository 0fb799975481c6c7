"""Finding passages: the dense retriever, hybrid dense + lexical search, rank fusion and reranking."""
