-- Version 12: search that stays fast on a large history.
--
-- The last word of a query is a prefix. FTS5 answers a prefix by merging the postings of
-- every word that starts with it before it yields the first (newest) hit: a whole index read
-- for a one-letter prefix. `prefix = '1 2'` keeps postings per first one and per first two
-- letters, so those prefixes are read like a word, newest first, and stop after a page. A
-- longer prefix is completed through `messages_fts_terms` into the few words that start with
-- it (src/repo/search.rs), and those are read lazily too. The index is built anew for the
-- messages stored before this version; the triggers that keep it stay as they are.
DROP TABLE messages_fts;
CREATE VIRTUAL TABLE messages_fts USING fts5(
    body,
    content = 'messages', content_rowid = 'id', columnsize = 0, prefix = '1 2',
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');
-- The words in the index, in order: a seek finds the first word at or after a prefix
-- without reading the postings of the ones before it.
CREATE VIRTUAL TABLE messages_fts_terms USING fts5vocab(messages_fts, instance);
