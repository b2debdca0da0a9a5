//! The `sessions` table: one row per login, found by the SHA-256 of its bearer token.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{RepoResult, Tx};
use crate::domain::{Session, SessionId, Timestamp, User, UserId};

const SESSION_COLUMNS: &str = "id, user_agent, created_at, last_used_at, expires_at";

fn session_from_row(row: &Row) -> rusqlite::Result<Session> {
    Ok(Session {
        id: row.get(0)?,
        user_agent: row.get(1)?,
        created_at: Timestamp(row.get(2)?),
        last_used_at: Timestamp(row.get(3)?),
        expires_at: Timestamp(row.get(4)?),
    })
}

pub fn insert(
    tx: &Tx,
    user_id: UserId,
    token_hash: &[u8],
    user_agent: Option<&str>,
    now: Timestamp,
    expires_at: Timestamp,
) -> RepoResult<Session> {
    let sql = format!(
        "INSERT INTO sessions (user_id, token_hash, user_agent, created_at, last_used_at,
                                    expires_at)
         VALUES (?1, ?2, ?3, ?4, ?4, ?5) RETURNING {SESSION_COLUMNS}"
    );
    Ok(tx.query_row(
        &sql,
        params![user_id, token_hash, user_agent, now.0, expires_at.0],
        session_from_row,
    )?)
}

/// Session columns followed by user columns, as `session_and_user` reads them; qualified,
/// since both tables have an `id` and a `created_at`. Callers add the `WHERE`.
///
/// A macro rather than a `const`, so `concat!` builds each whole statement at compile time
/// and the token check, run on every request, formats nothing.
macro_rules! session_and_user_select {
    () => {
        "SELECT s.id, s.user_agent, s.created_at, s.last_used_at, s.expires_at,
                u.id, u.name, u.email, u.created_at
         FROM sessions s JOIN users u ON u.id = s.user_id"
    };
}

/// The unexpired session a token hash belongs to, with its user, unless an operator disabled
/// the user (disabling deletes the user's sessions too; this holds against a login that
/// raced the disable).
pub fn find_live_by_token(
    conn: &Connection,
    token_hash: &[u8],
    now: Timestamp,
) -> RepoResult<Option<(Session, User)>> {
    let sql = concat!(
        session_and_user_select!(),
        " WHERE s.token_hash = ?1 AND s.expires_at > ?2 AND u.disabled_at IS NULL"
    );
    let mut stmt = conn.prepare_cached(sql)?;
    Ok(stmt
        .query_row(params![token_hash, now.0], session_and_user)
        .optional()?)
}

/// A row of session columns followed by user columns.
fn session_and_user(row: &Row) -> rusqlite::Result<(Session, User)> {
    let user = User {
        id: row.get(5)?,
        name: row.get(6)?,
        email: row.get(7)?,
        created_at: Timestamp(row.get(8)?),
    };
    Ok((session_from_row(row)?, user))
}

/// The unexpired session with this id, with its user unless disabled: a stream ticket names
/// its session.
pub fn find_live_by_id(
    conn: &Connection,
    id: SessionId,
    now: Timestamp,
) -> RepoResult<Option<(Session, User)>> {
    let sql = concat!(
        session_and_user_select!(),
        " WHERE s.id = ?1 AND s.expires_at > ?2 AND u.disabled_at IS NULL"
    );
    let mut stmt = conn.prepare_cached(sql)?;
    Ok(stmt
        .query_row(params![id, now.0], session_and_user)
        .optional()?)
}

/// When a session expires; `None` once it is gone (logged out, revoked, pruned).
pub fn expiry(conn: &Connection, id: SessionId) -> RepoResult<Option<Timestamp>> {
    let mut stmt = conn.prepare_cached("SELECT expires_at FROM sessions WHERE id = ?1")?;
    Ok(stmt
        .query_row(params![id], |row| Ok(Timestamp(row.get(0)?)))
        .optional()?)
}

pub fn touch(tx: &Tx, id: SessionId, now: Timestamp) -> RepoResult<()> {
    tx.execute(
        "UPDATE sessions SET last_used_at = ?2 WHERE id = ?1",
        params![id, now.0],
    )?;
    Ok(())
}

/// The user's unexpired sessions, newest first.
pub fn list_live(conn: &Connection, user_id: UserId, now: Timestamp) -> RepoResult<Vec<Session>> {
    let sql = format!(
        "SELECT {SESSION_COLUMNS} FROM sessions
         WHERE user_id = ?1 AND expires_at > ?2 ORDER BY created_at DESC, id DESC"
    );
    let mut stmt = conn.prepare(&sql)?;
    let sessions = stmt
        .query_map(params![user_id, now.0], session_from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(sessions)
}

/// Deletes one of the user's sessions; false if the user has no session with that id.
pub fn delete_own(tx: &Tx, user_id: UserId, id: SessionId) -> RepoResult<bool> {
    let deleted = tx.execute(
        "DELETE FROM sessions WHERE id = ?1 AND user_id = ?2",
        params![id, user_id],
    )?;
    Ok(deleted > 0)
}

/// Deletes every session of the user except `keep` (if given).
pub fn delete_all_for_user(tx: &Tx, user_id: UserId, keep: Option<SessionId>) -> RepoResult<()> {
    tx.execute(
        "DELETE FROM sessions WHERE user_id = ?1 AND id IS NOT ?2",
        params![user_id, keep],
    )?;
    Ok(())
}

/// Deletes the user's live sessions beyond the `keep` newest; the ids of those deleted.
pub fn delete_all_but_newest(
    tx: &Tx,
    user_id: UserId,
    keep: u32,
    now: Timestamp,
) -> RepoResult<Vec<SessionId>> {
    let mut stmt = tx.prepare_cached(
        "DELETE FROM sessions WHERE id IN
             (SELECT id FROM sessions WHERE user_id = ?1 AND expires_at > ?2
              ORDER BY created_at DESC, id DESC LIMIT -1 OFFSET ?3)
         RETURNING id",
    )?;
    let deleted = stmt
        .query_map(params![user_id, now.0, keep], |row| row.get(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(deleted)
}

/// Deletes up to `batch` expired sessions; how many went.
pub fn delete_expired(tx: &Tx, now: Timestamp, batch: u32) -> RepoResult<usize> {
    Ok(tx.execute(
        "DELETE FROM sessions WHERE id IN
             (SELECT id FROM sessions WHERE expires_at <= ?1 LIMIT ?2)",
        params![now.0, batch],
    )?)
}
