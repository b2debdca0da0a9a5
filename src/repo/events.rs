//! The `events` table: the outbox of realtime events, appended in the same transaction as
//! the change each one reports, so an event exists exactly when its change committed.

use rusqlite::params;

use super::{RepoResult, Tx};
use crate::domain::{ConversationId, EventId, Timestamp};

/// Appends an event; `data` is its JSON payload, already serialised.
pub fn append(
    tx: &Tx,
    conversation_id: ConversationId,
    kind: &str,
    data: &str,
    now: Timestamp,
) -> RepoResult<EventId> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO events (conversation_id, type, data, created_at) VALUES (?1, ?2, ?3, ?4)",
    )?;
    stmt.execute(params![conversation_id, kind, data, now.0])?;
    Ok(tx.last_insert_rowid())
}
