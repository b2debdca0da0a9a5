//! The `messages` table. Pages are walked by id (keyset pagination), so a page costs the same
//! however long the history is, and messages arriving meanwhile never shift a page.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::conversations::{self, Hidden};
use super::{RepoError, RepoResult, Tx, attachments, events, id_array, reactions};
use crate::domain::{
    ClientId, ConversationId, Message, MessageBody, MessageId, Quoted, ReplyPreview, Timestamp,
    UserId, UserRef, excerpt,
};

/// Which way a page of history goes from its cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    Newest,
    Before(MessageId),
    After(MessageId),
    /// The message itself (if it is there), up to half a page before it, and the rest after:
    /// what a client loads to show a message it jumps to.
    Around(MessageId),
}

/// A page of history in ascending id order. `has_more`: more lie beyond it in the direction
/// of travel (older for `Newest`, `Before` and `Around`, newer for `After`); `has_newer`,
/// for `Around` only: newer ones lie past it.
pub struct Page {
    pub messages: Vec<Message>,
    pub has_more: bool,
    pub has_newer: Option<bool>,
}

const MESSAGE_COLUMNS: &str = "m.id, m.conversation_id, m.sender_id, u.name, m.body, m.client_id,
     m.created_at, m.edited_at, m.deleted_at IS NOT NULL,
     o.id, o.sender_id, ou.name, o.body, o.deleted_at IS NOT NULL";

/// A message with its sender, and the original it replies to (if any) with its sender: the
/// reply's preview is read with it, so it always shows the original as it is now.
const MESSAGE_FROM: &str = "messages m JOIN users u ON u.id = m.sender_id
     LEFT JOIN replies r ON r.message_id = m.id
     LEFT JOIN messages o ON o.id = r.reply_to
     LEFT JOIN users ou ON ou.id = o.sender_id";

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
        reply_to: preview_from_row(row)?,
        attachments: Vec::new(),
    })
}

fn preview_from_row(row: &Row) -> rusqlite::Result<Option<ReplyPreview>> {
    let Some(id) = row.get::<_, Option<MessageId>>(9)? else {
        return Ok(None);
    };
    let body: String = row.get(12)?;
    Ok(Some(ReplyPreview {
        id,
        original: Some(Quoted {
            sender: UserRef {
                id: row.get(10)?,
                name: row.get(11)?,
            },
            excerpt: excerpt(&body),
            deleted: row.get(13)?,
        }),
    }))
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

/// Messages by id, in id order, as `viewer` sees them (see `for_viewer`): four queries
/// whatever the count (three without a viewer).
pub fn load(
    conn: &Connection,
    ids: &[MessageId],
    viewer: Option<UserId>,
) -> RepoResult<Vec<Message>> {
    for_viewer(conn, rows(conn, ids)?, viewer)
}

/// What each of a viewer's conversations hides from them (`conversations::hidden_from`).
pub type HiddenIn = HashMap<ConversationId, Hidden>;

/// `load` for a viewer whose conversations' `hidden` the caller has read already.
pub fn load_seen(
    conn: &Connection,
    ids: &[MessageId],
    viewer: UserId,
    hidden: &HiddenIn,
) -> RepoResult<Vec<Message>> {
    complete(conn, rows(conn, ids)?, Some(viewer), Some(hidden))
}

/// The messages by id, in id order, without reactions and attachments.
fn rows(conn: &Connection, ids: &[MessageId]) -> RepoResult<Vec<Message>> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM {MESSAGE_FROM} WHERE m.id IN rarray(?1) ORDER BY m.id"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let messages = stmt
        .query_map([id_array(ids.iter().copied())], message_from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(messages)
}

/// A page of history from `cursor`, at most `limit` messages, without what is `hidden` from
/// the viewer.
pub fn page(
    conn: &Connection,
    conversation_id: ConversationId,
    cursor: Cursor,
    limit: u32,
    viewer: UserId,
    hidden: Hidden,
) -> RepoResult<Page> {
    let (messages, has_more, has_newer) = match cursor {
        Cursor::Newest => {
            let (older, more) = walk(
                conn,
                conversation_id,
                Walk::Older(MessageId(i64::MAX)),
                limit,
                hidden,
            )?;
            (older, more, None)
        }
        Cursor::Before(id) => {
            let (older, more) = walk(conn, conversation_id, Walk::Older(id), limit, hidden)?;
            (older, more, None)
        }
        Cursor::After(id) => {
            let (newer, more) = walk(conn, conversation_id, Walk::Newer(id), limit, hidden)?;
            (newer, more, None)
        }
        Cursor::Around(id) => {
            let before = limit.div_ceil(2);
            let (mut older, more_older) = walk(
                conn,
                conversation_id,
                Walk::Older(MessageId(id.0.saturating_add(1))),
                before,
                hidden,
            )?;
            let (newer, more_newer) = walk(
                conn,
                conversation_id,
                Walk::Newer(id),
                limit - before,
                hidden,
            )?;
            older.extend(newer);
            (older, more_older, Some(more_newer))
        }
    };
    Ok(Page {
        messages: complete(
            conn,
            messages,
            Some(viewer),
            Some(&HiddenIn::from([(conversation_id, hidden)])),
        )?,
        has_more,
        has_newer,
    })
}

/// One direction of a history walk, from an id not included.
enum Walk {
    Older(MessageId),
    Newer(MessageId),
}

/// Up to `limit` messages from the walk's start, in ascending id order, and whether more lie
/// beyond them.
fn walk(
    conn: &Connection,
    conversation_id: ConversationId,
    walk: Walk,
    limit: u32,
    hidden: Hidden,
) -> RepoResult<(Vec<Message>, bool)> {
    let (condition, order, from) = match walk {
        Walk::Older(id) => ("m.id < ?2", "DESC", id),
        Walk::Newer(id) => ("m.id > ?2", "ASC", id),
    };
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM {MESSAGE_FROM}
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
    Ok((messages, has_more))
}

/// Completes messages as `viewer` sees them: reactions (their own marked, none from a person
/// they block in a direct conversation), attachments, and previews that quote no original the
/// viewer's history hides. Without a viewer (what a stored event carries) the messages are
/// whole: a stream hides previews per recipient.
fn for_viewer(
    conn: &Connection,
    messages: Vec<Message>,
    viewer: Option<UserId>,
) -> RepoResult<Vec<Message>> {
    let Some(viewer) = viewer else {
        return complete(conn, messages, None, None);
    };
    let mut ids: Vec<ConversationId> = messages.iter().map(|m| m.conversation_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let hidden = conversations::hidden_from(conn, &ids, viewer)?;
    complete(conn, messages, Some(viewer), Some(&hidden))
}

/// `for_viewer` with what the viewer's conversations hide from them already read.
fn complete(
    conn: &Connection,
    mut messages: Vec<Message>,
    viewer: Option<UserId>,
    hidden: Option<&HiddenIn>,
) -> RepoResult<Vec<Message>> {
    let unseen_sender = |message: &Message| {
        hidden
            .and_then(|h| h.get(&message.conversation_id))
            .and_then(|h| h.sender)
    };
    // Reactions by whose reactions the viewer does not see: one query for most pages, one
    // more per direct conversation with a blocked person.
    let mut by_unseen: HashMap<Option<UserId>, Vec<MessageId>> = HashMap::new();
    for message in &messages {
        by_unseen
            .entry(unseen_sender(message))
            .or_default()
            .push(message.id);
    }
    let mut counts = HashMap::new();
    for (unseen, ids) in by_unseen {
        counts.extend(reactions::counts(conn, ids, viewer, unseen)?);
    }
    let mut attached = attachments::of_messages(conn, messages.iter().map(|m| m.id))?;
    for message in &mut messages {
        message.reactions = counts.remove(&message.id).unwrap_or_default();
        message.attachments = attached.remove(&message.id).unwrap_or_default();
        if let (Some(hidden), Some(preview)) = (hidden, &mut message.reply_to) {
            // Not a member (no entry): nothing is vouched for, so nothing is quoted.
            let shows = hidden
                .get(&message.conversation_id)
                .is_some_and(|h| h.shows_original(preview));
            if !shows {
                *preview = ReplyPreview::hidden(preview.id);
            }
        }
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
    events::rewrite_edited(tx, id, body.as_str(), now)?;
    rewrite_reply_previews(tx, id)
}

/// Turns a message into a tombstone: its text, reactions and attachments (bytes and all) are
/// gone, here and in the stored events that carry it; its id and times stay.
pub fn delete(tx: &Tx, id: MessageId, now: Timestamp) -> RepoResult<()> {
    tx.execute(
        "UPDATE messages SET body = '', deleted_at = ?2 WHERE id = ?1",
        params![id, now.0],
    )?;
    reactions::delete_all(tx, id)?;
    attachments::delete_of_message(tx, id)?;
    events::rewrite_deleted(tx, id)?;
    rewrite_reply_previews(tx, id)
}

/// Records that `message` replies to `original`.
pub fn record_reply(tx: &Tx, message: MessageId, original: MessageId) -> RepoResult<()> {
    tx.prepare_cached("INSERT INTO replies (message_id, reply_to) VALUES (?1, ?2)")?
        .execute(params![message, original])?;
    Ok(())
}

/// After an edit or delete of `original`: the stored events of the replies to it carry its
/// new preview, so that no resumed stream shows the text it replaced.
fn rewrite_reply_previews(tx: &Tx, original: MessageId) -> RepoResult<()> {
    let replies: Vec<MessageId> = tx
        .prepare_cached("SELECT message_id FROM replies WHERE reply_to = ?1")?
        .query_map([original], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    for reply in load(tx, &replies, None)? {
        if let Some(preview) = &reply.reply_to {
            events::rewrite_reply_preview(tx, reply.id, preview)?;
        }
    }
    Ok(())
}

/// The newest message of the conversation that `sender` did not send.
pub fn newest_not_from(
    conn: &Connection,
    conversation_id: ConversationId,
    sender: UserId,
) -> RepoResult<Option<MessageId>> {
    Ok(conn
        .prepare_cached(
            "SELECT id FROM messages WHERE conversation_id = ?1 AND sender_id IS NOT ?2
             ORDER BY id DESC LIMIT 1",
        )?
        .query_row(params![conversation_id, sender], |row| row.get(0))
        .optional()?)
}

/// Whether the conversation holds this message and `viewer`'s history shows it (not from
/// before they joined a group that hides it, nor from a person they block); `NotFound` unless
/// they are a member.
pub fn shown_to(
    conn: &Connection,
    conversation_id: ConversationId,
    id: MessageId,
    viewer: UserId,
) -> RepoResult<bool> {
    let hidden = conversations::hidden_from(conn, &[conversation_id], viewer)?
        .remove(&conversation_id)
        .ok_or(RepoError::NotFound)?;
    let sender: Option<UserId> = conn
        .prepare_cached("SELECT sender_id FROM messages WHERE id = ?1 AND conversation_id = ?2")?
        .query_row(params![id, conversation_id], |row| row.get(0))
        .optional()?;
    Ok(sender.is_some_and(|sender| hidden.shows_from(id, sender)))
}

/// One message as `viewer` sees it; `NotFound` unless they are a member and their history
/// shows it (as `shown_to` says): what every action on a single message starts from, so that none
/// tells a hidden message from a missing one.
pub fn get_shown(
    conn: &Connection,
    conversation_id: ConversationId,
    id: MessageId,
    viewer: UserId,
) -> RepoResult<Message> {
    let hidden = conversations::hidden_from(conn, &[conversation_id], viewer)?;
    let seen = hidden
        .get(&conversation_id)
        .copied()
        .ok_or(RepoError::NotFound)?;
    match load_seen(conn, &[id], viewer, &hidden)?.pop() {
        Some(message)
            if message.conversation_id == conversation_id
                && seen.shows_from(message.id, message.sender.id) =>
        {
            Ok(message)
        }
        _ => Err(RepoError::NotFound),
    }
}
