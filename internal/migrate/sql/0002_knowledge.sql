-- Knowledge: organisations (entities), their departments, documents and chunks.
-- Chunks are partitioned by entity: each entity's chunks live in a table of their own
-- (created by the retrieval package when the entity is first used) with its own HNSW
-- and full-text indexes, so an entity's search never reads another entity's rows and
-- the vector index serves the entity filter exactly.
CREATE TABLE entities (
    id           text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_.:-]{1,64}$'),
    name         text NOT NULL DEFAULT '',
    instructions text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE departments (
    entity_id    text NOT NULL REFERENCES entities (id) ON DELETE CASCADE,
    id           text NOT NULL CHECK (id ~ '^[A-Za-z0-9_.:-]{1,64}$'),
    name         text NOT NULL DEFAULT '',
    instructions text NOT NULL DEFAULT '',
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (entity_id, id)
);

CREATE TABLE knowledge_documents (
    id            bigserial PRIMARY KEY,
    entity_id     text NOT NULL REFERENCES entities (id) ON DELETE CASCADE,
    -- NULL: the document is for the whole entity.
    department_id text,
    name          text NOT NULL,
    format        text NOT NULL,
    bytes         bigint NOT NULL,
    sha256        bytea NOT NULL,
    -- pending → ingesting → ready | failed
    status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'ingesting', 'ready', 'failed')),
    error         text NOT NULL DEFAULT '',
    chunks        integer NOT NULL DEFAULT 0,
    embedder      text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (entity_id, department_id) REFERENCES departments (entity_id, id) ON DELETE CASCADE
);
-- One document of a name per entity and department: uploading it again replaces it.
CREATE UNIQUE INDEX knowledge_documents_name ON knowledge_documents (entity_id, coalesce(department_id, ''), name);

CREATE TABLE knowledge_chunks (
    entity_id     text NOT NULL,
    document_id   bigint NOT NULL REFERENCES knowledge_documents (id) ON DELETE CASCADE,
    department_id text,
    idx           integer NOT NULL,
    content       text NOT NULL,
    tokens        integer NOT NULL,
    -- Sized per entity partition (a CHECK there), by the embedder that made it.
    embedding     vector NOT NULL,
    tsv           tsvector GENERATED ALWAYS AS (to_tsvector('english', content)) STORED,
    PRIMARY KEY (entity_id, document_id, idx)
) PARTITION BY LIST (entity_id);

-- A meeting room belongs to an entity (and maybe a department); its prompt and topic
-- shape the assistant's context there.
CREATE TABLE rooms (
    id            text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_.:-]{1,128}$'),
    entity_id     text NOT NULL REFERENCES entities (id) ON DELETE CASCADE,
    department_id text,
    prompt        text NOT NULL DEFAULT '',
    topic         text NOT NULL DEFAULT '',
    scheduled_at  timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (entity_id, department_id) REFERENCES departments (entity_id, id) ON DELETE CASCADE
);
CREATE INDEX rooms_entity ON rooms (entity_id, department_id);
