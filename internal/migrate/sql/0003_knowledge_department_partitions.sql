-- Each entity's chunk partition is itself partitioned by department (the retrieval
-- package creates the tables: one for entity-wide chunks, one per department), so a
-- department's search reads small HNSW graphs with no filter. A unique constraint on
-- a partitioned table must hold its partition keys, and department_id may be NULL, so
-- the primary key gives way to a plain index; ReplaceDocument writes a document's
-- chunks in one transaction, numbered once. The index serves that replacement and
-- the cascade when a document is deleted (which names the document only).
ALTER TABLE knowledge_chunks DROP CONSTRAINT knowledge_chunks_pkey;
CREATE INDEX knowledge_chunks_document ON knowledge_chunks (document_id, idx);

-- Rooms about to meet are found by time, to pre-warm their agent contexts.
CREATE INDEX rooms_scheduled ON rooms (scheduled_at) WHERE scheduled_at IS NOT NULL;
