//! The `events` table: the outbox of realtime events, appended in the same transaction as
//! the change each one reports, so an event exists exactly when its change committed.
//!
//! Text a sender takes back does not stay behind in it: editing or deleting a message rewrites
//! the text in the stored events that carry that message, in the transaction of the edit or
//! delete itself. A stream resuming from before the change is sent the message as it is now.
//! Rewriting in place, rather than storing references and rendering each event when it is
//! sent, keeps the resume and dispatch paths a plain read of stored payloads, and it leaves
//! each event's reactions as they were when it was written, so that clients that apply
//! `reaction.*` events on top of a `message.*` payload still count right.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSqlOutput, Type, ValueRef};
use rusqlite::{Connection, OptionalExtension, ToSql, params};
use serde_json::value::RawValue;

use super::{RepoError, RepoResult, Tx};
use crate::domain::{ConversationId, EventId, MessageId, ReplyPreview, Timestamp, UserId};
use crate::realtime::event::{Event, EventKind};
use crate::wire;

/// The stored events that carry a message's text, found through the `events_by_message`
/// index (the expression and the condition must match that index's exactly).
fn carrying_message() -> String {
    format!(
        "json_extract(data, '$.message.id') = ?1
     AND type IN ('{}', '{}')",
        EventKind::MessageCreated,
        EventKind::MessageUpdated
    )
}

/// An event kind is stored by its wire name.
impl ToSql for EventKind {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for EventKind {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<EventKind> {
        value
            .as_str()?
            .parse()
            .map_err(|e| FromSqlError::Other(Box::new(e)))
    }
}

/// Writes an event to the outbox inside the transaction of the change it reports; its id.
pub fn record(
    tx: &Tx,
    conversation_id: ConversationId,
    event: &wire::Event,
) -> RepoResult<EventId> {
    let data = serde_json::to_string(&event.data)
        .map_err(|e| RepoError::Other(format!("event payload: {e}")))?;
    append(tx, conversation_id, event.kind, &data, Timestamp::now())
}

/// Appends an event; `data` is its JSON payload, already serialised.
fn append(
    tx: &Tx,
    conversation_id: ConversationId,
    kind: EventKind,
    data: &str,
    now: Timestamp,
) -> RepoResult<EventId> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO events (conversation_id, type, data, created_at) VALUES (?1, ?2, ?3, ?4)",
    )?;
    stmt.execute(params![conversation_id, kind, data, now.0])?;
    Ok(EventId(tx.last_insert_rowid()))
}

/// After an edit: every stored event that carries the message gets its new text and edit
/// time (`message.*` payloads are `{"message": Message}`, as the contract has them).
pub fn rewrite_edited(tx: &Tx, id: MessageId, body: &str, edited_at: Timestamp) -> RepoResult<()> {
    let mut stmt = tx.prepare_cached(&format!(
        "UPDATE events SET data = json_set(data, '$.message.body', ?2, '$.message.edited_at', ?3)
         WHERE {}",
        carrying_message()
    ))?;
    stmt.execute(params![id, body, edited_at.to_string()])?;
    Ok(())
}

/// After a delete: every stored event that carries the message shows its tombstone (empty
/// text, no reactions), as the message itself now does.
pub fn rewrite_deleted(tx: &Tx, id: MessageId) -> RepoResult<()> {
    let mut stmt = tx.prepare_cached(&format!(
        "UPDATE events SET data = json_set(data, '$.message.body', '',
             '$.message.deleted', json('true'), '$.message.reactions', json('[]'),
             '$.message.attachments', json('[]'))
         WHERE {}",
        carrying_message()
    ))?;
    stmt.execute([id])?;
    Ok(())
}

/// After an edit or delete of a message that `reply` answers: the stored events that carry
/// the reply show the original's preview as it now is.
pub fn rewrite_reply_preview(tx: &Tx, reply: MessageId, preview: &ReplyPreview) -> RepoResult<()> {
    let preview = serde_json::to_string(&wire::ReplyPreview::from(preview.clone()))
        .map_err(|e| RepoError::Other(format!("reply preview: {e}")))?;
    let mut stmt = tx.prepare_cached(&format!(
        "UPDATE events SET data = json_set(data, '$.message.reply_to', json(?2)) WHERE {}",
        carrying_message()
    ))?;
    stmt.execute(params![reply, preview])?;
    Ok(())
}

fn stored_from_row(row: &rusqlite::Row) -> rusqlite::Result<Event> {
    let data = RawValue::from_string(row.get(3)?)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(3, Type::Text, Box::new(e)))?;
    Ok(Event {
        id: row.get(0)?,
        conversation_id: row.get(1)?,
        kind: row.get(2)?,
        data,
    })
}

/// Up to `limit` events after `after`, in id order: what the dispatcher fans out next.
pub fn after(conn: &Connection, after: EventId, limit: u32) -> RepoResult<Vec<Event>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, conversation_id, type, data FROM events WHERE id > ?1 ORDER BY id LIMIT ?2",
    )?;
    let events = stmt
        .query_map(params![after, limit], stored_from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(events)
}

/// Up to `limit` events after `after` of the conversations `user` was a member of when each
/// event was written (from the event that made them a member through the one that ended it),
/// in id order: what a resuming stream missed. The finer rules (history hidden from
/// newcomers, blocked people) are `Audience`'s, applied to what this returns.
pub fn after_for_member(
    conn: &Connection,
    user: UserId,
    after: EventId,
    limit: u32,
) -> RepoResult<Vec<Event>> {
    let mut stmt = conn.prepare_cached(
        "SELECT e.id, e.conversation_id, e.type, e.data
         FROM members m JOIN events e ON e.conversation_id = m.conversation_id
         WHERE m.user_id = ?1 AND e.id > ?2 AND e.id >= m.joined_event
         UNION ALL
         SELECT e.id, e.conversation_id, e.type, e.data
         FROM past_members p JOIN events e ON e.conversation_id = p.conversation_id
         WHERE p.user_id = ?1 AND e.id > ?2 AND e.id BETWEEN p.from_event AND p.to_event
         ORDER BY 1 LIMIT ?3",
    )?;
    let events = stmt
        .query_map(params![user, after, limit], stored_from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(events)
}

/// The highest id ever handed out (0 if none), pruned events included.
pub fn newest_id(conn: &Connection) -> RepoResult<EventId> {
    Ok(conn.query_row(
        "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0)",
        [],
        |row| row.get(0),
    )?)
}

/// The highest id that has been pruned (0 if none was): a resume point below it has lost
/// events.
pub fn pruned_through(conn: &Connection) -> RepoResult<EventId> {
    Ok(conn.query_row(
        "SELECT coalesce((SELECT min(id) - 1 FROM events),
                         (SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0)",
        [],
        |row| row.get(0),
    )?)
}

/// Deletes up to `batch` events older than `before`; how many went.
pub fn prune(tx: &Tx, before: Timestamp, batch: u32) -> RepoResult<usize> {
    Ok(tx.execute(
        "DELETE FROM events WHERE id IN
             (SELECT id FROM events WHERE created_at < ?1 ORDER BY id LIMIT ?2)",
        params![before.0, batch],
    )?)
}

/// Begins a new epoch (see `realtime::resume`) at the next event id; its random id.
pub fn begin_epoch(tx: &Tx) -> RepoResult<String> {
    Ok(tx.query_row(
        "INSERT INTO epochs (id, first_event)
         VALUES (lower(hex(randomblob(8))),
                 coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0) + 1)
         RETURNING id",
        [],
        |row| row.get(0),
    )?)
}

/// After a restore: the file starts a timeline no client has seen. Its epochs and stored
/// events go, so every resume point handed out before (a token of any earlier epoch, or a
/// plain id up to `past`, the newest id either the restored or the replaced database handed
/// out) is answered with `resync`; new events count on from above all of them.
pub fn start_new_timeline(tx: &Tx, past: EventId) -> RepoResult<()> {
    tx.execute("DELETE FROM epochs", [])?;
    tx.execute("DELETE FROM events", [])?;
    // With no events left, a plain id below the sequence counts as pruned: one more than
    // `past` puts every id handed out before below it.
    let floor = past.0.max(newest_id(tx)?.0) + 1;
    let raised = tx.execute(
        "UPDATE sqlite_sequence SET seq = ?1 WHERE name = 'events'",
        [floor],
    )?;
    if raised == 0 {
        tx.execute(
            "INSERT INTO sqlite_sequence (name, seq) VALUES ('events', ?1)",
            [floor],
        )?;
    }
    Ok(())
}

/// The last event id an id of `epoch` can name: `Some(None)` for the current epoch (no limit
/// but the newest event), `None` for an epoch this database never had.
pub fn epoch_end(conn: &Connection, epoch: &str) -> RepoResult<Option<Option<EventId>>> {
    let mut stmt = conn.prepare_cached(
        "SELECT (SELECT n.first_event - 1 FROM epochs n WHERE n.seq > e.seq ORDER BY n.seq LIMIT 1)
         FROM epochs e WHERE e.id = ?1",
    )?;
    Ok(stmt
        .query_row(params![epoch], |row| row.get(0))
        .optional()?)
}
