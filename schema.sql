-- EmoteChat's whole current schema, applied to a new database file.
-- An existing file is brought here by the steps in src/repo/migrations/; a unit test checks
-- that both roads end in the same schema. Times are milliseconds since the Unix epoch (UTC).

-- Accounts ---------------------------------------------------------------------------------

-- `disabled_at`: when an operator disabled the account (`emotechat user disable`), NULL while
-- it may sign in. `last_seen_at`: its last login or request, at the granularity sessions are
-- touched with. Both added by version 7 with ALTER TABLE, hence on a line of their own.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL,
    -- lower-cased name: the case-insensitive search in every script runs against it
    name_fold     TEXT    NOT NULL,
    email         TEXT    NOT NULL,
    -- unique on the lower-cased form, so "A@x.org" and "a@x.org" are one account
    email_lower   TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
    , disabled_at INTEGER, last_seen_at INTEGER);

-- the disabled accounts, which the server looks at every second to close their streams
CREATE INDEX users_disabled ON users(disabled_at) WHERE disabled_at IS NOT NULL;

-- How many users there are, kept by triggers: every page of the users list reports the
-- total, and counting a million rows per request would not do.
CREATE TABLE user_count (n INTEGER NOT NULL);
INSERT INTO user_count (n) VALUES (0);
CREATE TRIGGER user_count_up AFTER INSERT ON users BEGIN
    UPDATE user_count SET n = n + 1;
END;
CREATE TRIGGER user_count_down AFTER DELETE ON users BEGIN
    UPDATE user_count SET n = n - 1;
END;

CREATE TABLE sessions (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- SHA-256 of the bearer token; the token itself is never stored
    token_hash   BLOB    NOT NULL UNIQUE,
    user_agent   TEXT,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);
CREATE INDEX sessions_by_user ON sessions(user_id);
CREATE INDEX sessions_by_expiry ON sessions(expires_at);

CREATE TABLE password_resets (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash BLOB    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE INDEX password_resets_by_user ON password_resets(user_id);
CREATE INDEX password_resets_by_expiry ON password_resets(expires_at);

-- Invite codes for `--registration invite`.
CREATE TABLE invites (
    id         INTEGER PRIMARY KEY,
    -- SHA-256 of the code; the code itself is shown once, when it is made, and never stored
    code_hash  BLOB    NOT NULL UNIQUE,
    -- the code's first characters, so that an operator can tell codes apart in a list
    prefix     TEXT    NOT NULL,
    max_uses   INTEGER NOT NULL,
    -- counted in the write that creates the account, so uses never pass max_uses
    uses       INTEGER NOT NULL DEFAULT 0 CHECK (uses <= max_uses),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);

-- Chat -------------------------------------------------------------------------------------

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
    , history_visible INTEGER NOT NULL DEFAULT 1);

-- `owner` and the columns after it were added by version 8 (see migrations/008_groups.sql,
-- which says what each means), where ALTER TABLE put them.
CREATE TABLE members (
    conversation_id      INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    user_id              INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    joined_at            INTEGER NOT NULL,
    -- the read marker: only moves forward
    last_read_message_id INTEGER NOT NULL DEFAULT 0,
    owner INTEGER NOT NULL DEFAULT 0, joined_event INTEGER NOT NULL DEFAULT 0,
    history_from INTEGER NOT NULL DEFAULT 0, muted INTEGER NOT NULL DEFAULT 0,
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
-- sender and deletion ride along so that unread counts never leave the index
CREATE INDEX messages_by_conversation ON messages(conversation_id, id, sender_id, deleted_at);
-- idempotent retries: one message per (conversation, sender, client_id)
CREATE UNIQUE INDEX messages_by_client_id ON messages(conversation_id, sender_id, client_id)
    WHERE client_id IS NOT NULL;

-- Full-text search (version 10). An external-content FTS5 table: the index points into
-- `messages` by id and keeps no second copy of the text (a contentless table would be as
-- small, but could not give the text back; an FTS5 table with its own content would store
-- every body twice). `columnsize=0` drops the per-row token counts, which only ranking by
-- relevance reads; results come newest first, by id. unicode61 with remove_diacritics 2
-- folds case and diacritics, so "cafe" finds "Café". `prefix = '1 2'` (version 12) keeps
-- postings per first one and two letters, so a short last word, a prefix, is read newest
-- first like a word instead of merging the postings of every word it starts.
CREATE VIRTUAL TABLE messages_fts USING fts5(
    body,
    content = 'messages', content_rowid = 'id', columnsize = 0, prefix = '1 2',
    tokenize = 'unicode61 remove_diacritics 2'
);
-- The words in the index, in order (version 12): a longer prefix is completed into the few
-- words that start with it by seeking here (src/repo/search.rs).
CREATE VIRTUAL TABLE messages_fts_terms USING fts5vocab(messages_fts, instance);
-- The index changes with the message, in the same transaction: sending, editing, deleting
-- (a tombstone's empty body leaves no terms), and a conversation's messages going with it.
-- An external-content index forgets a row only when told the text it indexed: `old.body`.
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, body) VALUES (new.id, new.body);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF body ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, body) VALUES ('delete', old.id, old.body);
    INSERT INTO messages_fts (rowid, body) VALUES (new.id, new.body);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, body) VALUES ('delete', old.id, old.body);
END;
-- Replies (version 10): the earlier message of the same conversation a message answers. A
-- table of its own rather than a column, so that the few messages that are replies carry
-- it and the preview of the original is read with it (never copied, so it follows edits and
-- deletes).
CREATE TABLE replies (
    message_id INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
    reply_to   INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE
);
-- the replies to a message, whose previews change when it is edited or deleted
CREATE INDEX replies_by_original ON replies(reply_to);

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
-- the events that carry a message's text, rewritten when it is edited or deleted
CREATE INDEX events_by_message ON events(json_extract(data, '$.message.id'))
    WHERE type IN ('message.created', 'message.updated');

-- Each start of the server begins an epoch, a random id carried in realtime event ids, so
-- that a resume point from another database, or from a timeline a restored backup no longer
-- has, gets `resync` instead of silence.
CREATE TABLE epochs (
    seq         INTEGER PRIMARY KEY,
    id          TEXT    NOT NULL UNIQUE,
    -- the first event id handed out in this epoch: the one before the next epoch's first is
    -- the last one an id of this epoch can name
    first_event INTEGER NOT NULL
);

-- Groups that change (version 8). Columns added to conversations (`history_visible`) and
-- members (`owner`, `joined_event`, `history_from`, `muted`): see migrations/008_groups.sql.
-- Memberships that ended: a member who left or was removed is sent the events from
-- `from_event` through `to_event` (the `member.left` event that ended it) and nothing after.
-- No foreign key to conversations: the last member's span outlives a group that is gone, so
-- that their last event still reaches them. `history_from`: the member's, kept (version 11).
CREATE TABLE past_members (
    conversation_id INTEGER NOT NULL,
    user_id         INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    from_event      INTEGER NOT NULL,
    to_event        INTEGER NOT NULL,
    history_from    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (conversation_id, user_id, to_event)
) WITHOUT ROWID;
CREATE INDEX past_members_by_user ON past_members(user_id, conversation_id);

-- People a user blocked: what they send in a direct conversation no longer reaches the user.
CREATE TABLE blocks (
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    blocked_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, blocked_id)
) WITHOUT ROWID;

-- Attachments (version 9) ------------------------------------------------------------------

-- Pictures and files sent with messages, kept in the database so that the one file is the
-- whole backup. An upload is a row in `attachments` and its bytes in pieces in
-- `attachment_chunks`: each piece is written in a short transaction of its own as it
-- arrives, so a slow upload never holds the write lock, and none is ever in memory whole.
-- AUTOINCREMENT: an id is never handed out again, so a URL always means the same bytes (they
-- are cached as immutable) and a stale id can never name someone's newer upload.
CREATE TABLE attachments (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    uploader_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- the message it was sent with; NULL until then (unattached uploads are pruned)
    message_id      INTEGER REFERENCES messages(id) ON DELETE CASCADE,
    name            TEXT    NOT NULL,
    -- told from the bytes: one of the four image types, or application/octet-stream
    content_type    TEXT    NOT NULL,
    width           INTEGER,
    height          INTEGER,
    -- the declared length while uploading (so quotas count uploads in flight), then the
    -- stored length
    size            INTEGER NOT NULL,
    -- SHA-256 of the stored bytes, the ETag; NULL until the upload is complete
    digest          TEXT,
    created_at      INTEGER NOT NULL
);
CREATE INDEX attachments_by_message ON attachments(message_id) WHERE message_id IS NOT NULL;
CREATE INDEX attachments_by_uploader ON attachments(uploader_id, message_id);
CREATE INDEX attachments_unattached ON attachments(created_at) WHERE message_id IS NULL;

CREATE TABLE attachment_chunks (
    attachment_id INTEGER NOT NULL REFERENCES attachments(id) ON DELETE CASCADE,
    seq           INTEGER NOT NULL,
    data          BLOB    NOT NULL,
    PRIMARY KEY (attachment_id, seq)
);

PRAGMA user_version = 12;
