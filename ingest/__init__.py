"""Documents in, searchable chunks out: loaders, chunking, embedders, vector stores."""
