//! The `messages` table. Pages are walked by id (keyset pagination), so a page costs the same
//! however long the history is, and messages arriving meanwhile never shift a page.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::conversations::Hidden;
use super::{RepoError, RepoResult, Tx, events, id_array, reactions};
use crate::domain::{
    ClientId, ConversationId, Message, MessageBody, MessageId, Timestamp, UserId, UserRef,
};

/// Which way a page of history goes from its cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    Newest,
    Before(MessageId),
    After(MessageId),
}

const MESSAGE_COLUMNS: &str = "m.id, m.conversation_id, m.sender_id, u.name, m.body, m.client_id,
     m.created_at, m.edited_at, m.deleted_at IS NOT NULL";

fn message_from_row(row: &Row) -> rusqlite::Result<Message> {
    Ok(Message {
        id: row.get(0)?,
        conversation_id: row.get(1)?,
        sender: UserRef {
            id: row.get(2)?,
            name: row.get(3)?,
        },
        body: row.get(4)?,
        client_id: row.get(5)?,
        created_at: Timestamp(row.get(6)?),
        edited_at: row.get::<_, Option<i64>>(7)?.map(Timestamp),
        deleted: row.get(8)?,
        reactions: Vec::new(),
    })
}

/// Stores a message; `None` if the sender already sent one with this `client_id` here.
pub fn insert(
    tx: &Tx,
    conversation_id: ConversationId,
    sender_id: UserId,
    body: &MessageBody,
    client_id: Option<&ClientId>,
    now: Timestamp,
) -> RepoResult<Option<MessageId>> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO messages (conversation_id, sender_id, body, client_id, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (conversation_id, sender_id, client_id) WHERE client_id IS NOT NULL
         DO NOTHING
         RETURNING id",
    )?;
    Ok(stmt
        .query_row(
            params![
                conversation_id,
                sender_id,
                body.as_str(),
                client_id.map(ClientId::as_str),
                now.0
            ],
            |row| row.get(0),
        )
        .optional()?)
}

/// The id of the message a sender already sent with this `client_id`.
pub fn id_by_client_id(
    conn: &Connection,
    conversation_id: ConversationId,
    sender_id: UserId,
    client_id: &ClientId,
) -> RepoResult<MessageId> {
    Ok(conn.query_row(
        "SELECT id FROM messages
         WHERE conversation_id = ?1 AND sender_id = ?2 AND client_id = ?3",
        params![conversation_id, sender_id, client_id.as_str()],
        |row| row.get(0),
    )?)
}

/// One message of a conversation, with reactions as `viewer` sees them; `NotFound` if the
/// conversation has no such message.
pub fn get(
    conn: &Connection,
    conversation_id: ConversationId,
    id: MessageId,
    viewer: Option<UserId>,
) -> RepoResult<Message> {
    let mut found = load(conn, &[id], viewer)?;
    match found.pop() {
        Some(message) if message.conversation_id == conversation_id => Ok(message),
        _ => Err(RepoError::NotFound),
    }
}

/// Messages by id, in id order, with their reactions: two queries whatever the count.
pub fn load(
    conn: &Connection,
    ids: &[MessageId],
    viewer: Option<UserId>,
) -> RepoResult<Vec<Message>> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN users u ON u.id = m.sender_id
         WHERE m.id IN rarray(?1) ORDER BY m.id"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let messages = stmt
        .query_map([id_array(ids.iter().copied())], message_from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    with_reactions(conn, messages, viewer)
}

/// A page of history in ascending id order, without what is `hidden` from the viewer, and
/// whether more lie beyond it in the direction of travel (older for `Newest` and `Before`,
/// newer for `After`).
pub fn page(
    conn: &Connection,
    conversation_id: ConversationId,
    cursor: Cursor,
    limit: u32,
    viewer: UserId,
    hidden: Hidden,
) -> RepoResult<(Vec<Message>, bool)> {
    let (condition, order, from) = match cursor {
        Cursor::Newest => ("m.id < ?2", "DESC", MessageId(i64::MAX)),
        Cursor::Before(id) => ("m.id < ?2", "DESC", id),
        Cursor::After(id) => ("m.id > ?2", "ASC", id),
    };
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN users u ON u.id = m.sender_id
         WHERE m.conversation_id = ?1 AND {condition}
           AND m.id > ?4 AND m.sender_id IS NOT ?5
         ORDER BY m.id {order} LIMIT ?3"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    // One row more than asked for says whether there is more.
    let mut messages = stmt
        .query_map(
            params![
                conversation_id,
                from,
                i64::from(limit) + 1,
                hidden.through,
                hidden.sender
            ],
            message_from_row,
        )?
        .collect::<Result<Vec<_>, _>>()?;
    let has_more = messages.len() > limit as usize;
    messages.truncate(limit as usize);
    messages.sort_by_key(|m| m.id);
    Ok((with_reactions(conn, messages, Some(viewer))?, has_more))
}

fn with_reactions(
    conn: &Connection,
    mut messages: Vec<Message>,
    viewer: Option<UserId>,
) -> RepoResult<Vec<Message>> {
    let mut counts: HashMap<MessageId, _> =
        reactions::counts(conn, messages.iter().map(|m| m.id), viewer)?;
    for message in &mut messages {
        message.reactions = counts.remove(&message.id).unwrap_or_default();
    }
    Ok(messages)
}

/// Replaces a message's text, here and in the stored events that carry it, so that the
/// previous text is kept nowhere.
pub fn edit(tx: &Tx, id: MessageId, body: &MessageBody, now: Timestamp) -> RepoResult<()> {
    tx.execute(
        "UPDATE messages SET body = ?2, edited_at = ?3 WHERE id = ?1",
        params![id, body.as_str(), now.0],
    )?;
    events::rewrite_edited(tx, id, body.as_str(), now)
}

/// Turns a message into a tombstone: its text and reactions are gone, here and in the stored
/// events that carry it; its id and times stay.
pub fn delete(tx: &Tx, id: MessageId, now: Timestamp) -> RepoResult<()> {
    tx.execute(
        "UPDATE messages SET body = '', deleted_at = ?2 WHERE id = ?1",
        params![id, now.0],
    )?;
    reactions::delete_all(tx, id)?;
    events::rewrite_deleted(tx, id)
}

/// Whether the conversation holds a message with this id.
pub fn exists_in(
    conn: &Connection,
    conversation_id: ConversationId,
    id: MessageId,
) -> RepoResult<bool> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM messages WHERE id = ?1 AND conversation_id = ?2",
            params![id, conversation_id],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}
