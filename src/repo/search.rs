//! Message search through the `messages_fts` index (see schema.sql: an external-content
//! FTS5 table kept by triggers on `messages`). Results walk newest first by message id, so a
//! page is keyed by the id it stops at, as history pages are.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params};

use super::{RepoResult, id_array, messages};
use crate::domain::{
    ConversationId, ConversationKind, ConversationRef, MessageId, SearchHit, SearchQuery, UserId,
};

/// Where a search looks: every conversation the viewer is a member of, or one of them.
#[derive(Debug, Clone, Copy)]
pub struct Scope {
    pub viewer: UserId,
    pub within: Option<ConversationId>,
}

/// Up to `limit` messages matching `query` older than `before` (newest first), in the
/// conversations the viewer is a member of now, never deleted ones, nor what their history
/// hides from them (as `conversations::hidden_from` says: messages from before they joined a
/// group that hides them, a blocked person's in a direct conversation); and whether more match.
pub fn page(
    conn: &Connection,
    query: &SearchQuery,
    scope: Scope,
    before: Option<MessageId>,
    limit: u32,
) -> RepoResult<(Vec<SearchHit>, bool)> {
    // One snapshot for the completion of the last word and the walk, so that a word sent in
    // between cannot be missing from one and present in the other.
    let tx = conn.unchecked_transaction()?;
    let expression = match_expression(&tx, query)?;
    // CROSS JOIN keeps the index as the outer loop: it yields matches newest first, and the
    // walk stops at the first `limit + 1` the viewer may read.
    let mut stmt = conn.prepare_cached(
        "SELECT messages_fts.rowid FROM messages_fts
         CROSS JOIN messages m ON m.id = messages_fts.rowid
         CROSS JOIN members mb ON mb.conversation_id = m.conversation_id AND mb.user_id = ?2
         WHERE messages_fts MATCH ?1 AND messages_fts.rowid < ?3 AND m.deleted_at IS NULL
           AND (?4 IS NULL OR m.conversation_id = ?4)
           AND m.id > mb.history_from
           AND NOT EXISTS (SELECT 1 FROM blocks b JOIN conversations c ON c.id = m.conversation_id
                           WHERE b.user_id = ?2 AND b.blocked_id = m.sender_id
                             AND c.kind = 'direct')
         ORDER BY messages_fts.rowid DESC LIMIT ?5",
    )?;
    let mut ids: Vec<MessageId> = stmt
        .query_map(
            params![
                expression,
                scope.viewer,
                before.unwrap_or(MessageId(i64::MAX)),
                scope.within,
                i64::from(limit) + 1
            ],
            |row| row.get(0),
        )?
        .collect::<Result<_, _>>()?;
    let has_more = ids.len() > limit as usize;
    ids.truncate(limit as usize);

    let mut found: HashMap<MessageId, _> = messages::load(conn, &ids, Some(scope.viewer))?
        .into_iter()
        .map(|m| (m.id, m))
        .collect();
    let conversation_ids: Vec<ConversationId> = found.values().map(|m| m.conversation_id).collect();
    let conversations = conversation_refs(conn, &conversation_ids, scope.viewer)?;
    let hits = ids
        .iter()
        .filter_map(|id| found.remove(id))
        .filter_map(|message| {
            let conversation = conversations.get(&message.conversation_id)?.clone();
            Some(SearchHit {
                message,
                conversation,
            })
        })
        .collect();
    tx.commit()?;
    Ok((hits, has_more))
}

/// Prefixes of at most this many letters have postings of their own in the index (schema.sql:
/// `prefix = '1 2'`), which FTS5 reads like a word's: no completion needed.
const INDEXED_PREFIX_CHARS: usize = 2;

/// Words starting with the last one's prefix beyond this many, and FTS5 merges them as a
/// prefix: completing would cost a seek each, and the OR of them a cursor each.
const MAX_COMPLETIONS: usize = 16;

/// The FTS5 expression for `query`: with the last word's prefix completed into the words of
/// the index that start with it, which FTS5 reads newest first and stops after a page, where
/// it would merge the postings of all of them in full for the prefix; as a prefix when it has
/// postings of its own (`INDEXED_PREFIX_CHARS`), when the words are too many, or when the
/// query's folding needs FTS5's tokenizer (see `SearchQuery::last_prefix`).
fn match_expression(conn: &Connection, query: &SearchQuery) -> RepoResult<String> {
    let Some(prefix) = query
        .last_prefix()
        .filter(|prefix| prefix.len() > INDEXED_PREFIX_CHARS)
    else {
        return Ok(query.fts_expression());
    };
    let words = completions(conn, &prefix)?;
    let completed = (words.len() <= MAX_COMPLETIONS)
        .then(|| query.fts_expression_completed(&words))
        .flatten();
    Ok(completed.unwrap_or_else(|| query.fts_expression()))
}

/// Up to `MAX_COMPLETIONS + 1` words of the index that start with `prefix`, in order: one seek
/// each in `messages_fts_terms`, which reads only the first posting of the word it lands on.
/// The next word after `word` is the first at or after `word` + U+0001, as no word holds a
/// control character (the tokenizer parts words at them).
fn completions(conn: &Connection, prefix: &str) -> RepoResult<Vec<String>> {
    let mut stmt =
        conn.prepare_cached("SELECT term FROM messages_fts_terms WHERE term >= ?1 LIMIT 1")?;
    let mut words: Vec<String> = Vec::new();
    let mut from = prefix.to_owned();
    while words.len() <= MAX_COMPLETIONS {
        let next: Option<String> = stmt.query_row([&from], |row| row.get(0)).optional()?;
        match next {
            Some(word) if word.starts_with(prefix) => {
                from = format!("{word}\u{1}");
                words.push(word);
            }
            _ => break,
        }
    }
    Ok(words)
}

/// The conversations by id, each named as `viewer` sees it.
fn conversation_refs(
    conn: &Connection,
    ids: &[ConversationId],
    viewer: UserId,
) -> RepoResult<HashMap<ConversationId, ConversationRef>> {
    let mut stmt = conn.prepare_cached(
        "SELECT c.id, c.kind, c.title,
                coalesce(c.title, CASE c.kind WHEN 'direct' THEN
                    (SELECT u.name FROM members mb JOIN users u ON u.id = mb.user_id
                     WHERE mb.conversation_id = c.id AND mb.user_id != ?2 LIMIT 1) END)
         FROM conversations c WHERE c.id IN rarray(?1)",
    )?;
    let refs = stmt
        .query_map(params![id_array(ids.iter().copied()), viewer], |row| {
            let kind: String = row.get(1)?;
            let conversation = ConversationRef {
                id: row.get(0)?,
                kind: if kind == "direct" {
                    ConversationKind::Direct
                } else {
                    ConversationKind::Group
                },
                title: row.get(2)?,
                name: row.get(3)?,
            };
            Ok((conversation.id, conversation))
        })?
        .collect::<Result<_, _>>()?;
    Ok(refs)
}
