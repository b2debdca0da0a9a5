-- Version 10: full-text search over messages, and replies.
--
-- An external-content FTS5 table: the index points into `messages` by id and keeps no second
-- copy of the text (a contentless table would be as small, but could not give the text back
-- for highlighting, and an FTS5 table with its own content would store every body twice).
-- `columnsize=0` drops the per-row token counts, which only ranking by relevance reads;
-- results come newest first, by id. unicode61 with remove_diacritics 2 folds case and
-- diacritics, so "cafe" finds "Café".
CREATE VIRTUAL TABLE messages_fts USING fts5(
    body,
    content = 'messages', content_rowid = 'id', columnsize = 0,
    tokenize = 'unicode61 remove_diacritics 2'
);
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
-- the messages stored before this version
INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');

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
