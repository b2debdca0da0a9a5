//! The `blocks` table: the people each user blocked. What blocking hides is decided where
//! history, unread counts and events are read (`conversations::hidden_from`, the unread
//! count, `realtime::audience`); this file only keeps the list.

use rusqlite::{Connection, params};

use super::{RepoResult, Tx};
use crate::domain::{Timestamp, UserId, UserRef};

/// Blocks `blocked` for `user`; blocking twice changes nothing.
pub fn block(tx: &Tx, user: UserId, blocked: UserId, now: Timestamp) -> RepoResult<()> {
    tx.prepare_cached(
        "INSERT INTO blocks (user_id, blocked_id, created_at) VALUES (?1, ?2, ?3)
         ON CONFLICT DO NOTHING",
    )?
    .execute(params![user, blocked, now.0])?;
    Ok(())
}

pub fn unblock(tx: &Tx, user: UserId, blocked: UserId) -> RepoResult<()> {
    tx.prepare_cached("DELETE FROM blocks WHERE user_id = ?1 AND blocked_id = ?2")?
        .execute(params![user, blocked])?;
    Ok(())
}

/// The people `user` blocks, by name.
pub fn list(conn: &Connection, user: UserId) -> RepoResult<Vec<UserRef>> {
    let mut stmt = conn.prepare_cached(
        "SELECT u.id, u.name FROM blocks b JOIN users u ON u.id = b.blocked_id
         WHERE b.user_id = ?1 ORDER BY u.name_fold, u.id",
    )?;
    let users = stmt
        .query_map([user], |row| {
            Ok(UserRef {
                id: row.get(0)?,
                name: row.get(1)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(users)
}
