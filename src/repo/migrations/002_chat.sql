-- Version 2: the chat tables (conversations, members, messages, reactions, emotes, events).
-- Brings a version-1 file (accounts only) to version 2.

CREATE TABLE conversations (
    id               INTEGER PRIMARY KEY,
    kind             TEXT    NOT NULL CHECK (kind IN ('direct', 'group')),
    title            TEXT,
    -- "<smaller user id>:<larger user id>" for a direct conversation: the unique key that
    -- makes two simultaneous creations of the same pair end in one conversation
    direct_key       TEXT    UNIQUE,
    created_by       INTEGER NOT NULL REFERENCES users(id),
    created_at       INTEGER NOT NULL,
    last_activity_at INTEGER NOT NULL,
    last_message_id  INTEGER
);

CREATE TABLE members (
    conversation_id      INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    user_id              INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    joined_at            INTEGER NOT NULL,
    -- the read marker: only moves forward
    last_read_message_id INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (conversation_id, user_id)
) WITHOUT ROWID;
CREATE INDEX members_by_user ON members(user_id, conversation_id);

CREATE TABLE messages (
    id              INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    sender_id       INTEGER NOT NULL REFERENCES users(id),
    body            TEXT    NOT NULL,
    client_id       TEXT,
    created_at      INTEGER NOT NULL,
    edited_at       INTEGER,
    -- a deleted message stays as a tombstone with an empty body
    deleted_at      INTEGER
);
CREATE INDEX messages_by_conversation ON messages(conversation_id, id);
-- idempotent retries: one message per (conversation, sender, client_id)
CREATE UNIQUE INDEX messages_by_client_id ON messages(conversation_id, sender_id, client_id)
    WHERE client_id IS NOT NULL;

CREATE TABLE reactions (
    message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    -- an emoji, or a custom emote as ":name:"
    emote      TEXT    NOT NULL,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (message_id, emote, user_id)
) WITHOUT ROWID;

CREATE TABLE emotes (
    id           INTEGER PRIMARY KEY,
    name         TEXT    NOT NULL UNIQUE,
    content_type TEXT    NOT NULL,
    image        BLOB    NOT NULL,
    -- hex SHA-256 of the image: its ETag
    digest       TEXT    NOT NULL,
    created_by   INTEGER NOT NULL REFERENCES users(id),
    created_at   INTEGER NOT NULL
);

-- The outbox of realtime events, written in the same transaction as the change it reports.
-- AUTOINCREMENT so that an id is never handed out twice, even after old rows are pruned:
-- clients resume from the last id they saw.
CREATE TABLE events (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id INTEGER NOT NULL,
    type            TEXT    NOT NULL,
    data            TEXT    NOT NULL,
    created_at      INTEGER NOT NULL
);
CREATE INDEX events_by_conversation ON events(conversation_id, id);
CREATE INDEX events_by_time ON events(created_at);
