//! The `reactions` table: one row per (message, emote, user), so adding twice counts once.

use std::collections::HashMap;

use rusqlite::{Connection, params};

use super::{RepoResult, Tx, id_array};
use crate::domain::{MessageId, ReactionCount, Timestamp, UserId};

/// How many distinct emotes one message may carry.
pub const MAX_DISTINCT_EMOTES: i64 = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addition {
    Added,
    AlreadyThere,
    /// The message already carries the maximum number of distinct emotes.
    TooManyEmotes,
}

pub fn add(
    tx: &Tx,
    message_id: MessageId,
    emote: &str,
    user_id: UserId,
    now: Timestamp,
) -> RepoResult<Addition> {
    let (distinct, emote_present): (i64, bool) = tx.query_row(
        "SELECT count(DISTINCT emote), coalesce(max(emote = ?2), 0)
         FROM reactions WHERE message_id = ?1",
        params![message_id, emote],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    if !emote_present && distinct >= MAX_DISTINCT_EMOTES {
        return Ok(Addition::TooManyEmotes);
    }
    let inserted = tx.execute(
        "INSERT INTO reactions (message_id, emote, user_id, created_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT DO NOTHING",
        params![message_id, emote, user_id, now.0],
    )?;
    Ok(if inserted == 1 {
        Addition::Added
    } else {
        Addition::AlreadyThere
    })
}

/// Removes the user's reaction; false if there was none.
pub fn remove(tx: &Tx, message_id: MessageId, emote: &str, user_id: UserId) -> RepoResult<bool> {
    let removed = tx.execute(
        "DELETE FROM reactions WHERE message_id = ?1 AND emote = ?2 AND user_id = ?3",
        params![message_id, emote, user_id],
    )?;
    Ok(removed > 0)
}

pub fn delete_all(tx: &Tx, message_id: MessageId) -> RepoResult<()> {
    tx.execute("DELETE FROM reactions WHERE message_id = ?1", [message_id])?;
    Ok(())
}

/// Per-emote tallies of the given messages in one query, each message's emotes in the order
/// they were first used, leaving out the reactions of `unseen` (a person the viewer blocks);
/// `me` says whether `viewer` is among those who reacted.
pub fn counts(
    conn: &Connection,
    message_ids: impl IntoIterator<Item = MessageId>,
    viewer: Option<UserId>,
    unseen: Option<UserId>,
) -> RepoResult<HashMap<MessageId, Vec<ReactionCount>>> {
    let message_ids: Vec<MessageId> = message_ids.into_iter().collect();
    let (Some(&first), Some(&last)) = (message_ids.iter().min(), message_ids.iter().max()) else {
        return Ok(HashMap::new());
    };
    // Most pages carry no reaction at all. One probe of the key range answers that, and
    // costs a fraction of the grouped query below.
    let any: bool = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM reactions WHERE message_id BETWEEN ?1 AND ?2)",
        )?
        .query_row(params![first, last], |row| row.get(0))?;
    if !any {
        return Ok(HashMap::new());
    }
    let mut stmt = conn.prepare_cached(
        "SELECT message_id, emote, count(*), max(user_id IS ?2), min(created_at) AS first_use
         FROM reactions WHERE message_id IN rarray(?1) AND user_id IS NOT ?3
         GROUP BY message_id, emote ORDER BY message_id, first_use, emote",
    )?;
    let mut rows = stmt.query(params![id_array(message_ids), viewer, unseen])?;
    let mut counts: HashMap<MessageId, Vec<ReactionCount>> = HashMap::new();
    while let Some(row) = rows.next()? {
        counts.entry(row.get(0)?).or_default().push(ReactionCount {
            emote: row.get(1)?,
            count: row.get(2)?,
            me: row.get(3)?,
        });
    }
    Ok(counts)
}
