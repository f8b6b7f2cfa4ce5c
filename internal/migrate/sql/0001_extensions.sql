-- pgvector holds knowledge embeddings (retrieval); every later migration may rely on it.
CREATE EXTENSION IF NOT EXISTS vector;
