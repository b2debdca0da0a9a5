//! The `conversations` and `members` tables: who talks where, what happened last, and how far
//! each member has read. Loading a page of conversations takes a fixed number of queries,
//! whatever the number of members, messages or reactions.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params};

use super::{RepoError, RepoResult, Tx, id_array, messages};
use crate::domain::{
    Audience, Conversation, ConversationId, ConversationKind, CurrentMember, EventId, Membership,
    MessageId, PageRequest, PastMember, ReplyPreview, Timestamp, Title, UserId, UserRef,
};

/// A new conversation's id: past every id in use, and past those of gone groups whose
/// `member.left` events and spans are still kept, so that no stream ever takes a gone group's
/// events for a new conversation's (each part is one index lookup). Once retention pruned
/// them, an id may come back: a stream from before then gets a `resync`.
const NEXT_CONVERSATION_ID: &str = "(SELECT max(coalesce((SELECT max(id) FROM conversations), 0),
                   coalesce((SELECT max(conversation_id) FROM events), 0),
                   coalesce((SELECT max(conversation_id) FROM past_members), 0)) + 1)";

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
            &format!(
                "INSERT INTO conversations
                     (id, kind, direct_key, created_by, created_at, last_activity_at)
                 VALUES ({NEXT_CONVERSATION_ID}, 'direct', ?1, ?2, ?3, ?3)
                 ON CONFLICT (direct_key) DO NOTHING RETURNING id"
            ),
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
        &format!(
            "INSERT INTO conversations (id, kind, title, created_by, created_at, last_activity_at)
             VALUES ({NEXT_CONVERSATION_ID}, 'group', ?1, ?2, ?3, ?3) RETURNING id"
        ),
        params![title.map(Title::as_str), creator, now.0],
        |row| row.get(0),
    )?;
    let mut everyone = vec![creator];
    everyone.extend(members.iter().filter(|m| **m != creator));
    add_members(tx, id, &everyone, now)?;
    make_owner(tx, id, creator)?;
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

/// The members a conversation is created with: sent all of its events.
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

/// A member who joins a group after it was created: their read marker at the newest message
/// so that only what comes after counts as unread, and the history before it hidden unless
/// the group shows it. They are sent no event until `joined_at_event` names the
/// `member.joined` event written after this (which carries the group with them in it).
pub fn join(tx: &Tx, id: ConversationId, user: UserId) -> RepoResult<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO members (conversation_id, user_id, joined_at, joined_event,
                              last_read_message_id, history_from)
         SELECT id, ?2, ?3, ?4, coalesce(last_message_id, 0),
                CASE WHEN history_visible THEN 0 ELSE coalesce(last_message_id, 0) END
         FROM conversations WHERE id = ?1",
    )?;
    stmt.execute(params![id, user, Timestamp::now().0, i64::MAX])?;
    Ok(())
}

/// The new member is sent the events from `joined_event` on.
pub fn joined_at_event(
    tx: &Tx,
    id: ConversationId,
    user: UserId,
    joined_event: EventId,
) -> RepoResult<()> {
    tx.prepare_cached(
        "UPDATE members SET joined_event = ?3 WHERE conversation_id = ?1 AND user_id = ?2",
    )?
    .execute(params![id, user, joined_event])?;
    Ok(())
}

/// Ends a membership; the membership it was (`NotFound` if they were no member). Its span is
/// kept by `left_at_event` once the `member.left` event is written.
pub fn remove(tx: &Tx, id: ConversationId, user: UserId) -> RepoResult<CurrentMember> {
    tx.prepare_cached(
        "DELETE FROM members WHERE conversation_id = ?1 AND user_id = ?2
         RETURNING joined_event, history_from",
    )?
    .query_row(params![id, user], |row| {
        Ok(CurrentMember {
            user,
            joined_event: row.get(0)?,
            history_from: row.get(1)?,
        })
    })
    .optional()?
    .ok_or(RepoError::NotFound)
}

/// Keeps an ended membership's span, from the event it began at through `left_event` (the
/// `member.left` event, the last one they are sent), and the history it showed, for the
/// dispatcher and for streams resuming from before it.
pub fn left_at_event(
    tx: &Tx,
    id: ConversationId,
    ended: CurrentMember,
    left_event: EventId,
) -> RepoResult<()> {
    tx.prepare_cached(
        "INSERT INTO past_members (conversation_id, user_id, from_event, to_event, history_from)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        id,
        ended.user,
        ended.joined_event,
        left_event,
        ended.history_from
    ])?;
    Ok(())
}

/// Deletes up to `batch` ended memberships whose events are all pruned: nobody can be sent
/// anything of them any more. How many went.
pub fn prune_past_members(tx: &Tx, batch: u32) -> RepoResult<usize> {
    Ok(tx.execute(
        "DELETE FROM past_members WHERE (conversation_id, user_id, to_event) IN
             (SELECT conversation_id, user_id, to_event FROM past_members
              WHERE to_event < coalesce((SELECT min(id) FROM events),
                                        (SELECT seq FROM sqlite_sequence WHERE name = 'events') + 1,
                                        0)
              LIMIT ?1)",
        [batch],
    )?)
}

/// Removes a group whose last member left: its messages, reactions and members go with it
/// (foreign keys), and so do its stored events, except each former member's `member.left`,
/// kept with their spans, so that a stream resuming from before it still gets its last event
/// (retention prunes them later, as any other). Its id is not given again while they are
/// kept (`NEXT_CONVERSATION_ID`).
pub fn delete_group(tx: &Tx, id: ConversationId) -> RepoResult<()> {
    tx.prepare_cached("DELETE FROM conversations WHERE id = ?1")?
        .execute([id])?;
    tx.prepare_cached(
        "DELETE FROM events WHERE conversation_id = ?1
           AND id NOT IN (SELECT to_event FROM past_members WHERE conversation_id = ?1)",
    )?
    .execute([id])?;
    Ok(())
}

pub fn make_owner(tx: &Tx, id: ConversationId, user: UserId) -> RepoResult<()> {
    tx.prepare_cached("UPDATE members SET owner = 1 WHERE conversation_id = ?1 AND user_id = ?2")?
        .execute(params![id, user])?;
    Ok(())
}

pub fn rename(tx: &Tx, id: ConversationId, title: &Title) -> RepoResult<()> {
    tx.prepare_cached("UPDATE conversations SET title = ?2 WHERE id = ?1")?
        .execute(params![id, title.as_str()])?;
    Ok(())
}

pub fn set_history_visible(tx: &Tx, id: ConversationId, visible: bool) -> RepoResult<()> {
    tx.prepare_cached("UPDATE conversations SET history_visible = ?2 WHERE id = ?1")?
        .execute(params![id, visible])?;
    Ok(())
}

pub fn set_muted(tx: &Tx, id: ConversationId, user: UserId, muted: bool) -> RepoResult<()> {
    tx.prepare_cached("UPDATE members SET muted = ?3 WHERE conversation_id = ?1 AND user_id = ?2")?
        .execute(params![id, user, muted])?;
    Ok(())
}

/// The conversation's kind; `NotFound` if there is none.
pub fn kind(conn: &Connection, id: ConversationId) -> RepoResult<ConversationKind> {
    let kind: String = conn
        .prepare_cached("SELECT kind FROM conversations WHERE id = ?1")?
        .query_row([id], |row| row.get(0))
        .optional()?
        .ok_or(RepoError::NotFound)?;
    Ok(kind_from(&kind))
}

fn kind_from(name: &str) -> ConversationKind {
    if name == "direct" {
        ConversationKind::Direct
    } else {
        ConversationKind::Group
    }
}

/// The user's membership; `NotFound` unless they are a member.
pub fn membership(conn: &Connection, id: ConversationId, user: UserId) -> RepoResult<Membership> {
    conn.prepare_cached(
        "SELECT owner, history_from FROM members WHERE conversation_id = ?1 AND user_id = ?2",
    )?
    .query_row(params![id, user], |row| {
        Ok(Membership {
            owner: row.get(0)?,
            history_from: row.get(1)?,
        })
    })
    .optional()?
    .ok_or(RepoError::NotFound)
}

/// How many members and how many owners the conversation has.
pub fn head_count(conn: &Connection, id: ConversationId) -> RepoResult<(usize, usize)> {
    let (members, owners): (i64, i64) = conn
        .prepare_cached(
            "SELECT count(*), coalesce(sum(owner), 0) FROM members WHERE conversation_id = ?1",
        )?
        .query_row([id], |row| Ok((row.get(0)?, row.get(1)?)))?;
    Ok((
        usize::try_from(members).unwrap_or(0),
        usize::try_from(owners).unwrap_or(0),
    ))
}

/// The member who has been one the longest (the first to join; ties by lower id).
pub fn longest_standing(conn: &Connection, id: ConversationId) -> RepoResult<Option<UserId>> {
    Ok(conn
        .prepare_cached(
            "SELECT user_id FROM members WHERE conversation_id = ?1
             ORDER BY joined_event, joined_at, user_id LIMIT 1",
        )?
        .query_row([id], |row| row.get(0))
        .optional()?)
}

/// Who may be sent the events of each conversation from `from` on: the members now (with
/// the event they joined at), the memberships that ended at or after `from`, and in a direct
/// conversation who blocks whom.
pub fn audiences(
    conn: &Connection,
    ids: &[ConversationId],
    from: EventId,
) -> RepoResult<HashMap<ConversationId, Audience>> {
    let list = id_array(ids.iter().copied());
    let mut audiences: HashMap<ConversationId, Audience> = HashMap::new();
    let mut stmt = conn.prepare_cached(
        "SELECT conversation_id, user_id, joined_event, history_from FROM members
         WHERE conversation_id IN rarray(?1)",
    )?;
    let mut rows = stmt.query([&list])?;
    while let Some(row) = rows.next()? {
        audiences
            .entry(row.get(0)?)
            .or_default()
            .current
            .push(CurrentMember {
                user: row.get(1)?,
                joined_event: row.get(2)?,
                history_from: row.get(3)?,
            });
    }
    let mut stmt = conn.prepare_cached(
        "SELECT p.conversation_id, p.user_id, p.from_event, p.to_event, p.history_from,
                coalesce(e.created_at, 0)
         FROM past_members p LEFT JOIN events e ON e.id = p.to_event
         WHERE p.conversation_id IN rarray(?1) AND p.to_event >= ?2",
    )?;
    let mut rows = stmt.query(params![&list, from])?;
    while let Some(row) = rows.next()? {
        audiences
            .entry(row.get(0)?)
            .or_default()
            .past
            .push(PastMember {
                user: row.get(1)?,
                from_event: row.get(2)?,
                to_event: row.get(3)?,
                history_from: row.get(4)?,
                left_at: Timestamp(row.get(5)?),
            });
    }
    let mut stmt = conn.prepare_cached(
        "SELECT c.id, b.user_id, b.blocked_id
         FROM conversations c
         JOIN members me ON me.conversation_id = c.id
         JOIN blocks b ON b.user_id = me.user_id
         JOIN members other ON other.conversation_id = c.id AND other.user_id = b.blocked_id
         WHERE c.id IN rarray(?1) AND c.kind = 'direct'",
    )?;
    let mut rows = stmt.query([&list])?;
    while let Some(row) = rows.next()? {
        audiences
            .entry(row.get(0)?)
            .or_default()
            .blocks
            .push((row.get(1)?, row.get(2)?));
    }
    Ok(audiences)
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

/// Messages after the member's read marker that others sent and did not delete (in a direct
/// conversation, not counting those of a person the member blocks).
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
                   AND m.sender_id <> mb.user_id AND m.deleted_at IS NULL
                   AND NOT EXISTS (SELECT 1 FROM blocks b
                                   JOIN conversations c ON c.id = mb.conversation_id
                                   WHERE b.user_id = mb.user_id AND b.blocked_id = m.sender_id
                                     AND c.kind = 'direct'))
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
/// unread count: five queries whatever the number of conversations (and one for each direct
/// conversation with a person the viewer blocks).
fn load(
    conn: &Connection,
    ids: &[ConversationId],
    viewer: UserId,
) -> RepoResult<Vec<Conversation>> {
    let mut stmt = conn.prepare_cached(
        "SELECT c.id, c.kind, c.title, c.created_at, c.last_activity_at, c.last_message_id,
                c.history_visible, coalesce(mb.muted, 0)
         FROM conversations c
         LEFT JOIN members mb ON mb.conversation_id = c.id AND mb.user_id = ?2
         WHERE c.id IN rarray(?1)",
    )?;
    let mut rows: HashMap<ConversationId, (Conversation, Option<MessageId>)> = stmt
        .query_map(params![id_array(ids.iter().copied()), viewer], |row| {
            let kind: String = row.get(1)?;
            let conversation = Conversation {
                id: row.get(0)?,
                kind: kind_from(&kind),
                title: row.get(2)?,
                members: Vec::new(),
                owners: Vec::new(),
                history_visible: row.get(6)?,
                muted: row.get(7)?,
                last_message: None,
                unread_count: 0,
                created_at: Timestamp(row.get(3)?),
                last_activity_at: Timestamp(row.get(4)?),
            };
            Ok((conversation.id, (conversation, row.get(5)?)))
        })?
        .collect::<Result<_, _>>()?;

    let (mut members, mut owners) = members_of(conn, ids)?;
    let mut unread = unread_counts(conn, ids, viewer)?;
    let hidden = hidden_from(conn, ids, viewer)?;
    let mut last_ids = Vec::new();
    for (id, (_, last)) in &mut rows {
        *last = newest_shown(
            conn,
            *id,
            *last,
            hidden.get(id).copied().unwrap_or_default(),
        )?;
        last_ids.extend(*last);
    }
    let mut last_messages: HashMap<MessageId, _> =
        messages::load_seen(conn, &last_ids, viewer, &hidden)?
            .into_iter()
            .map(|m| (m.id, m))
            .collect();

    Ok(ids
        .iter()
        .filter_map(|id| rows.remove(id))
        .map(|(mut conversation, last_id)| {
            conversation.members = members.remove(&conversation.id).unwrap_or_default();
            conversation.owners = owners.remove(&conversation.id).unwrap_or_default();
            conversation.unread_count = unread.remove(&conversation.id).unwrap_or(0);
            conversation.last_message = last_id.and_then(|m| last_messages.remove(&m));
            conversation
        })
        .collect())
}

/// The newest message of a conversation the viewer sees, from its newest one (`last`): in a
/// direct conversation with a person they block, the newest one that person did not send.
fn newest_shown(
    conn: &Connection,
    id: ConversationId,
    last: Option<MessageId>,
    hidden: Hidden,
) -> RepoResult<Option<MessageId>> {
    let newest = match (last, hidden.sender) {
        (Some(_), Some(blocked)) => messages::newest_not_from(conn, id, blocked)?,
        (last, _) => last,
    };
    Ok(newest.filter(|m| hidden.shows(*m)))
}

type MembersAndOwners = (
    HashMap<ConversationId, Vec<UserRef>>,
    HashMap<ConversationId, Vec<UserId>>,
);

fn members_of(conn: &Connection, ids: &[ConversationId]) -> RepoResult<MembersAndOwners> {
    let mut stmt = conn.prepare_cached(
        "SELECT mb.conversation_id, u.id, u.name, mb.owner
         FROM members mb JOIN users u ON u.id = mb.user_id
         WHERE mb.conversation_id IN rarray(?1) ORDER BY mb.conversation_id, u.id",
    )?;
    let mut rows = stmt.query([id_array(ids.iter().copied())])?;
    let (mut members, mut owners): MembersAndOwners = Default::default();
    while let Some(row) = rows.next()? {
        let conversation: ConversationId = row.get(0)?;
        let user = UserRef {
            id: row.get(1)?,
            name: row.get(2)?,
        };
        if row.get(3)? {
            owners.entry(conversation).or_default().push(user.id);
        }
        members.entry(conversation).or_default().push(user);
    }
    Ok((members, owners))
}

/// What of each conversation's history the viewer does not see: the messages before they
/// joined a group that hides them, and in a direct conversation those of a person they block.
pub fn hidden_from(
    conn: &Connection,
    ids: &[ConversationId],
    viewer: UserId,
) -> RepoResult<HashMap<ConversationId, Hidden>> {
    let mut stmt = conn.prepare_cached(
        "SELECT mb.conversation_id, mb.history_from,
                (SELECT b.blocked_id FROM blocks b
                 JOIN members other ON other.conversation_id = mb.conversation_id
                                   AND other.user_id = b.blocked_id
                 WHERE b.user_id = mb.user_id AND c.kind = 'direct')
         FROM members mb JOIN conversations c ON c.id = mb.conversation_id
         WHERE mb.user_id = ?2 AND mb.conversation_id IN rarray(?1)",
    )?;
    let hidden = stmt
        .query_map(params![id_array(ids.iter().copied()), viewer], |row| {
            Ok((
                row.get(0)?,
                Hidden {
                    through: row.get(1)?,
                    sender: row.get(2)?,
                },
            ))
        })?
        .collect::<Result<_, _>>()?;
    Ok(hidden)
}

/// One conversation's hidden history, as `hidden_from` reads it.
#[derive(Debug, Clone, Copy)]
pub struct Hidden {
    /// The messages up to this one (`MessageId(0)`: none).
    pub through: MessageId,
    /// Everything this person sends (a direct conversation's other member, blocked).
    pub sender: Option<UserId>,
}

/// Nothing hidden: what a member who hides nothing sees.
impl Default for Hidden {
    fn default() -> Hidden {
        Hidden {
            through: MessageId(0),
            sender: None,
        }
    }
}

impl Hidden {
    /// Whether a message with this id shows; the sender is checked by the queries.
    pub fn shows(&self, message: MessageId) -> bool {
        message > self.through
    }

    /// Whether a message shows, by its id and by who sent it.
    pub fn shows_from(&self, message: MessageId, sender: UserId) -> bool {
        self.shows(message) && Some(sender) != self.sender
    }

    /// Whether a reply's preview may quote its original.
    pub fn shows_original(&self, preview: &ReplyPreview) -> bool {
        preview
            .original
            .as_ref()
            .is_some_and(|quoted| self.shows_from(preview.id, quoted.sender.id))
    }
}

/// The members `actor` reaches in a conversation: all of them, but in a direct conversation
/// not one who blocks the actor (what they do there stops reaching who blocks them).
pub fn members_reached_by(
    conn: &Connection,
    id: ConversationId,
    actor: UserId,
) -> RepoResult<Vec<UserId>> {
    let mut stmt = conn.prepare_cached(
        "SELECT mb.user_id FROM members mb JOIN conversations c ON c.id = mb.conversation_id
         WHERE mb.conversation_id = ?1
           AND NOT (c.kind = 'direct' AND EXISTS (SELECT 1 FROM blocks b
                                                  WHERE b.user_id = mb.user_id
                                                    AND b.blocked_id = ?2))",
    )?;
    let ids = stmt
        .query_map(params![id, actor], |row| row.get(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ids)
}

/// The ids of a conversation's members.
pub fn member_ids(conn: &Connection, id: ConversationId) -> RepoResult<Vec<UserId>> {
    let mut stmt = conn.prepare_cached("SELECT user_id FROM members WHERE conversation_id = ?1")?;
    let ids = stmt
        .query_map([id], |row| row.get(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Email, Name, Parse};
    use crate::repo::{self, events, users};
    use crate::wire;

    #[test]
    fn an_ended_membership_goes_once_its_events_are_pruned() {
        let dir = tempfile::tempdir().expect("temp dir");
        let pool = repo::open(&dir.path().join("past.db"), 2).expect("open");
        let now = Timestamp::now();
        let record = |tx: &Tx, group, user| {
            events::record(
                tx,
                group,
                &wire::Event::read_updated(group, user, MessageId(1)),
            )
        };
        let left = repo::write(&pool, |tx| {
            let mut ids = Vec::new();
            for name in ["ada", "bob"] {
                let name = Name::parse(name).expect("name");
                let email = Email::parse(&format!("{}@example.org", name.folded())).expect("email");
                ids.push(users::insert(tx, &name, &email, "unused-hash", now)?.id);
            }
            let group = create_group(tx, ids[0], None, &[ids[1]], now)?;
            let ended = remove(tx, group, ids[1])?;
            let left = record(tx, group, ids[1])?;
            left_at_event(tx, group, ended, left)?;
            record(tx, group, ids[0])?;
            Ok::<_, RepoError>(left)
        })
        .expect("seed");
        let count = || {
            repo::read(&pool, |conn| {
                conn.query_row("SELECT count(*) FROM past_members", [], |row| {
                    row.get::<_, i64>(0)
                })
                .map_err(RepoError::from)
            })
            .expect("count")
        };

        let prune = || repo::write(&pool, |tx| prune_past_members(tx, 10)).expect("prune");
        assert_eq!(prune(), 0);
        assert_eq!(count(), 1, "kept while its last event is");
        repo::write(&pool, |tx| {
            tx.execute("DELETE FROM events WHERE id <= ?1", [left])
                .map_err(RepoError::from)
        })
        .expect("prune through the member's last event");
        assert_eq!(prune(), 1);
        assert_eq!(count(), 0);
    }
}
