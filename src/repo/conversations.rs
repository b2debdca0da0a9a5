//! The `conversations` and `members` tables: who talks where, what happened last, and how far
//! each member has read. Loading a page of conversations takes a fixed number of queries,
//! whatever the number of members, messages or reactions.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params};

use super::{RepoError, RepoResult, Tx, id_array, messages};
use crate::domain::{
    Conversation, ConversationId, ConversationKind, MessageId, PageRequest, Timestamp, Title,
    UserId, UserRef,
};

/// Creates the direct conversation of two users, or finds the one they already have. The
/// unique `direct_key` decides, so two simultaneous creations end in one conversation.
/// Returns the conversation and whether it was created now.
pub fn create_direct(
    tx: &Tx,
    creator: UserId,
    other: UserId,
    now: Timestamp,
) -> RepoResult<(ConversationId, bool)> {
    let key = format!("{}:{}", creator.min(other), creator.max(other));
    let created: Option<ConversationId> = tx
        .query_row(
            "INSERT INTO conversations (kind, direct_key, created_by, created_at, last_activity_at)
             VALUES ('direct', ?1, ?2, ?3, ?3)
             ON CONFLICT (direct_key) DO NOTHING RETURNING id",
            params![key, creator, now.0],
            |row| row.get(0),
        )
        .optional()?;
    match created {
        Some(id) => {
            add_members(tx, id, &[creator, other], now)?;
            Ok((id, true))
        }
        None => {
            let id = tx.query_row(
                "SELECT id FROM conversations WHERE direct_key = ?1",
                [key],
                |row| row.get(0),
            )?;
            Ok((id, false))
        }
    }
}

/// Creates a group with the creator and the given members.
pub fn create_group(
    tx: &Tx,
    creator: UserId,
    title: Option<&Title>,
    members: &[UserId],
    now: Timestamp,
) -> RepoResult<ConversationId> {
    let id = tx.query_row(
        "INSERT INTO conversations (kind, title, created_by, created_at, last_activity_at)
         VALUES ('group', ?1, ?2, ?3, ?3) RETURNING id",
        params![title.map(Title::as_str), creator, now.0],
        |row| row.get(0),
    )?;
    let mut everyone = vec![creator];
    everyone.extend(members.iter().filter(|m| **m != creator));
    add_members(tx, id, &everyone, now)?;
    Ok(id)
}

/// When the groups the user created after `since` were created, oldest first. Found through
/// the user's memberships (a creator is a member), so that the index on members keeps this
/// from reading every conversation.
pub fn groups_created_since(
    conn: &Connection,
    user_id: UserId,
    since: Timestamp,
) -> RepoResult<Vec<Timestamp>> {
    let mut stmt = conn.prepare_cached(
        "SELECT c.created_at FROM members mb JOIN conversations c ON c.id = mb.conversation_id
         WHERE mb.user_id = ?1 AND c.created_by = ?1 AND c.kind = 'group'
           AND c.created_at > ?2
         ORDER BY c.created_at",
    )?;
    let times = stmt
        .query_map(params![user_id, since.0], |row| Ok(Timestamp(row.get(0)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(times)
}

pub fn add_members(
    tx: &Tx,
    id: ConversationId,
    members: &[UserId],
    now: Timestamp,
) -> RepoResult<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO members (conversation_id, user_id, joined_at) VALUES (?1, ?2, ?3)",
    )?;
    for member in members {
        stmt.execute(params![id, member, now.0])?;
    }
    Ok(())
}

/// `NotFound` unless the user is a member: a non-member must not learn that it exists.
pub fn require_member(conn: &Connection, id: ConversationId, user_id: UserId) -> RepoResult<()> {
    let mut stmt =
        conn.prepare_cached("SELECT 1 FROM members WHERE conversation_id = ?1 AND user_id = ?2")?;
    stmt.query_row(params![id, user_id], |_| Ok(()))
        .optional()?
        .ok_or(RepoError::NotFound)
}

/// Records a new message as the conversation's latest activity.
pub fn record_message(
    tx: &Tx,
    id: ConversationId,
    message_id: MessageId,
    now: Timestamp,
) -> RepoResult<()> {
    let mut stmt = tx.prepare_cached(
        "UPDATE conversations SET last_activity_at = ?2, last_message_id = ?3 WHERE id = ?1",
    )?;
    stmt.execute(params![id, now.0, message_id])?;
    Ok(())
}

/// Moves the member's read marker forward to `message_id`; never back. Returns the marker
/// afterwards and whether it moved.
pub fn mark_read(
    tx: &Tx,
    id: ConversationId,
    user_id: UserId,
    message_id: MessageId,
) -> RepoResult<(MessageId, bool)> {
    let mut stmt = tx.prepare_cached(
        "UPDATE members SET last_read_message_id = ?3
         WHERE conversation_id = ?1 AND user_id = ?2 AND last_read_message_id < ?3",
    )?;
    let moved = stmt.execute(params![id, user_id, message_id])? > 0;
    let marker = tx.query_row(
        "SELECT last_read_message_id FROM members WHERE conversation_id = ?1 AND user_id = ?2",
        params![id, user_id],
        |row| row.get(0),
    )?;
    Ok((marker, moved))
}

/// Messages after the member's read marker that others sent and did not delete.
pub fn unread_count(conn: &Connection, id: ConversationId, user_id: UserId) -> RepoResult<i64> {
    Ok(unread_counts(conn, &[id], user_id)?
        .get(&id)
        .copied()
        .unwrap_or(0))
}

fn unread_counts(
    conn: &Connection,
    ids: &[ConversationId],
    user_id: UserId,
) -> RepoResult<HashMap<ConversationId, i64>> {
    let mut stmt = conn.prepare_cached(
        "SELECT mb.conversation_id,
                (SELECT count(*) FROM messages m
                 WHERE m.conversation_id = mb.conversation_id
                   AND m.id > mb.last_read_message_id
                   AND m.sender_id <> mb.user_id AND m.deleted_at IS NULL)
         FROM members mb WHERE mb.user_id = ?2 AND mb.conversation_id IN rarray(?1)",
    )?;
    let counts = stmt
        .query_map(params![id_array(ids.iter().copied()), user_id], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?
        .collect::<Result<_, _>>()?;
    Ok(counts)
}

/// One page of the user's conversations, most recent activity first (ties: higher id first),
/// and how many they have in all.
pub fn page_for_user(
    conn: &Connection,
    user_id: UserId,
    page: PageRequest,
) -> RepoResult<(Vec<Conversation>, i64)> {
    let total = conn.query_row(
        "SELECT count(*) FROM members WHERE user_id = ?1",
        [user_id],
        |row| row.get(0),
    )?;
    let mut stmt = conn.prepare_cached(
        "SELECT c.id FROM members mb JOIN conversations c ON c.id = mb.conversation_id
         WHERE mb.user_id = ?1
         ORDER BY c.last_activity_at DESC, c.id DESC LIMIT ?2 OFFSET ?3",
    )?;
    let ids = stmt
        .query_map(params![user_id, page.page_size, page.offset()], |row| {
            row.get(0)
        })?
        .collect::<Result<Vec<ConversationId>, _>>()?;
    Ok((load(conn, &ids, user_id)?, total))
}

/// One conversation as the member `viewer` sees it.
pub fn get(conn: &Connection, id: ConversationId, viewer: UserId) -> RepoResult<Conversation> {
    load(conn, &[id], viewer)?.pop().ok_or(RepoError::NotFound)
}

/// Conversations by id, in the order given, with members, last message and the viewer's
/// unread count: five queries whatever the number of conversations.
fn load(
    conn: &Connection,
    ids: &[ConversationId],
    viewer: UserId,
) -> RepoResult<Vec<Conversation>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, kind, title, created_at, last_activity_at, last_message_id
         FROM conversations WHERE id IN rarray(?1)",
    )?;
    let mut rows: HashMap<ConversationId, (Conversation, Option<MessageId>)> = stmt
        .query_map([id_array(ids.iter().copied())], |row| {
            let kind: String = row.get(1)?;
            let conversation = Conversation {
                id: row.get(0)?,
                kind: if kind == "direct" {
                    ConversationKind::Direct
                } else {
                    ConversationKind::Group
                },
                title: row.get(2)?,
                members: Vec::new(),
                last_message: None,
                unread_count: 0,
                created_at: Timestamp(row.get(3)?),
                last_activity_at: Timestamp(row.get(4)?),
            };
            Ok((conversation.id, (conversation, row.get(5)?)))
        })?
        .collect::<Result<_, _>>()?;

    let mut members = members_of(conn, ids)?;
    let mut unread = unread_counts(conn, ids, viewer)?;
    let last_ids: Vec<MessageId> = rows.values().filter_map(|(_, last)| *last).collect();
    let mut last_messages: HashMap<MessageId, _> = messages::load(conn, &last_ids, Some(viewer))?
        .into_iter()
        .map(|m| (m.id, m))
        .collect();

    Ok(ids
        .iter()
        .filter_map(|id| rows.remove(id))
        .map(|(mut conversation, last_id)| {
            conversation.members = members.remove(&conversation.id).unwrap_or_default();
            conversation.unread_count = unread.remove(&conversation.id).unwrap_or(0);
            conversation.last_message = last_id.and_then(|m| last_messages.remove(&m));
            conversation
        })
        .collect())
}

fn members_of(
    conn: &Connection,
    ids: &[ConversationId],
) -> RepoResult<HashMap<ConversationId, Vec<UserRef>>> {
    let mut stmt = conn.prepare_cached(
        "SELECT mb.conversation_id, u.id, u.name
         FROM members mb JOIN users u ON u.id = mb.user_id
         WHERE mb.conversation_id IN rarray(?1) ORDER BY mb.conversation_id, u.id",
    )?;
    let mut rows = stmt.query([id_array(ids.iter().copied())])?;
    let mut members: HashMap<ConversationId, Vec<UserRef>> = HashMap::new();
    while let Some(row) = rows.next()? {
        members.entry(row.get(0)?).or_default().push(UserRef {
            id: row.get(1)?,
            name: row.get(2)?,
        });
    }
    Ok(members)
}

/// The ids of a conversation's members.
pub fn member_ids(conn: &Connection, id: ConversationId) -> RepoResult<Vec<UserId>> {
    let mut stmt = conn.prepare_cached("SELECT user_id FROM members WHERE conversation_id = ?1")?;
    let ids = stmt
        .query_map([id], |row| row.get(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ids)
}
