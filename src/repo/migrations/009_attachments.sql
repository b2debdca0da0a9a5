-- Version 9: attachments. Pictures and files sent with messages, kept in the database so that
-- the one file is the whole backup. An upload is a row in `attachments` and its bytes in
-- pieces in `attachment_chunks`: each piece is written in a short transaction of its own as
-- it arrives, so a slow upload never holds the write lock, and none is ever in memory whole.
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
