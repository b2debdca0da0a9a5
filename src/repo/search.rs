//! Message search through the `messages_fts` index (see schema.sql: an external-content
//! FTS5 table kept by triggers on `messages`). Results walk newest first by message id, so a
//! page is keyed by the id it stops at, as history pages are.

use std::collections::HashMap;

use rusqlite::{Connection, params};

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
                query.fts_expression(),
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
    Ok((hits, has_more))
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
