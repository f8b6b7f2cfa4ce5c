-- The control plane: entities' assistant settings, admins, scheduled rooms,
-- invitations, what happened in rooms, and who changed what.

-- An entity's defaults for its rooms and its assistant. Its default instructions are
-- entities.instructions (0002). Empty provider and model fields mean the workers'
-- configured ones.
ALTER TABLE entities
    ADD COLUMN max_participants integer NOT NULL DEFAULT 10 CHECK (max_participants BETWEEN 1 AND 1000),
    ADD COLUMN retention_days   integer NOT NULL DEFAULT 30 CHECK (retention_days IN (30, 90, 365)),
    ADD COLUMN assistant_name   text    NOT NULL DEFAULT 'Assistant' CHECK (length(assistant_name) BETWEEN 1 AND 64),
    ADD COLUMN voice            text    NOT NULL DEFAULT '' CHECK (length(voice) <= 64),
    ADD COLUMN stt_provider     text    NOT NULL DEFAULT '' CHECK (stt_provider IN ('', 'pocketsphinx', 'openai')),
    ADD COLUMN stt_model        text    NOT NULL DEFAULT '' CHECK (length(stt_model) <= 128),
    ADD COLUMN llm_provider     text    NOT NULL DEFAULT '' CHECK (llm_provider IN ('', 'extractive', 'openai')),
    ADD COLUMN llm_model        text    NOT NULL DEFAULT '' CHECK (length(llm_model) <= 128),
    ADD COLUMN tts_provider     text    NOT NULL DEFAULT '' CHECK (tts_provider IN ('', 'espeak', 'openai')),
    ADD COLUMN tts_model        text    NOT NULL DEFAULT '' CHECK (length(tts_model) <= 128);

-- Admins sign in with email and password. A platform admin sees every entity; an
-- entity admin sees one.
CREATE TABLE admins (
    id            bigserial PRIMARY KEY,
    email         text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    password_hash text NOT NULL,
    role          text NOT NULL CHECK (role IN ('platform', 'entity')),
    entity_id     text REFERENCES entities (id) ON DELETE CASCADE,
    name          text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((role = 'platform') = (entity_id IS NULL))
);
CREATE UNIQUE INDEX admins_email ON admins (lower(email));

-- A room's id is its LiveKit room name, which the assistant's context is cached under.
ALTER TABLE rooms
    ADD COLUMN title            text NOT NULL DEFAULT '' CHECK (length(title) <= 200),
    ADD COLUMN duration_minutes integer NOT NULL DEFAULT 60 CHECK (duration_minutes BETWEEN 5 AND 1440),
    -- NULL: the entity's max_participants.
    ADD COLUMN capacity         integer CHECK (capacity BETWEEN 1 AND 1000),
    -- scheduled → live → ended
    ADD COLUMN status           text NOT NULL DEFAULT 'scheduled' CHECK (status IN ('scheduled', 'live', 'ended')),
    ADD COLUMN started_at       timestamptz,
    ADD COLUMN ended_at         timestamptz,
    -- The dispatcher's job giving the room its assistant while it is live.
    ADD COLUMN job_id           text NOT NULL DEFAULT '',
    ADD COLUMN created_at       timestamptz NOT NULL DEFAULT now();

-- An invitation is a magic link for one person to one room. The link's token and
-- password live in Redis only (for 24 hours); the row keeps a hash of the token, to
-- revoke it, and what became of it.
CREATE TABLE invitations (
    id          bigserial PRIMARY KEY,
    room_id     text NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    email       text NOT NULL DEFAULT '' CHECK (length(email) <= 254),
    phone       text NOT NULL DEFAULT '' CHECK (length(phone) <= 32),
    token_hash  bytea NOT NULL UNIQUE,
    -- active → used | revoked (by an admin, or after three wrong passwords)
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'used', 'revoked')),
    created_by  bigint REFERENCES admins (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    revoked_at  timestamptz,
    sent_at     timestamptz,
    CHECK (email <> '' OR phone <> '')
);
CREATE INDEX invitations_room ON invitations (room_id, created_at);

-- What happened in a room: started, finished, participants joining and leaving.
CREATE TABLE room_events (
    id          bigserial PRIMARY KEY,
    room_id     text NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('started', 'finished', 'participant_joined', 'participant_left')),
    participant text NOT NULL DEFAULT '',
    name        text NOT NULL DEFAULT '',
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX room_events_room ON room_events (room_id, at);

-- Every change made through the control plane, and every sign-in.
CREATE TABLE audit_log (
    id        bigserial PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    admin_id  bigint REFERENCES admins (id) ON DELETE SET NULL,
    actor     text NOT NULL DEFAULT '',
    entity_id text,
    action    text NOT NULL,
    target    text NOT NULL DEFAULT '',
    detail    text NOT NULL DEFAULT '',
    ip        text NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_entity ON audit_log (entity_id, at);
