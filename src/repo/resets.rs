//! The `password_resets` table: single-use reset tokens, stored as SHA-256 digests.

use rusqlite::{Connection, OptionalExtension, params};

use super::{RepoResult, Tx};
use crate::domain::{Timestamp, UserId};

/// Stores a new reset token for the user and drops every older one: only the newest link works.
pub fn replace(
    tx: &Tx,
    user_id: UserId,
    token_hash: &[u8],
    now: Timestamp,
    expires_at: Timestamp,
) -> RepoResult<()> {
    delete_for_user(tx, user_id)?;
    tx.execute(
        "INSERT INTO password_resets (user_id, token_hash, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4)",
        params![user_id, token_hash, now.0, expires_at.0],
    )?;
    Ok(())
}

/// The user a token belongs to, if it is unused and unexpired.
pub fn find_usable(
    conn: &Connection,
    token_hash: &[u8],
    now: Timestamp,
) -> RepoResult<Option<UserId>> {
    Ok(conn
        .query_row(
            "SELECT user_id FROM password_resets
             WHERE token_hash = ?1 AND used_at IS NULL AND expires_at > ?2",
            params![token_hash, now.0],
            |row| row.get(0),
        )
        .optional()?)
}

/// Marks a usable token used and returns its user; `None` if it was not usable, so two
/// requests racing with one token cannot both succeed.
pub fn consume(tx: &Tx, token_hash: &[u8], now: Timestamp) -> RepoResult<Option<UserId>> {
    Ok(tx
        .query_row(
            "UPDATE password_resets SET used_at = ?2
             WHERE token_hash = ?1 AND used_at IS NULL AND expires_at > ?2
             RETURNING user_id",
            params![token_hash, now.0],
            |row| row.get(0),
        )
        .optional()?)
}

/// Drops every reset token of the user, e.g. once they changed their password themselves.
pub fn delete_for_user(tx: &Tx, user_id: UserId) -> RepoResult<()> {
    tx.execute("DELETE FROM password_resets WHERE user_id = ?1", [user_id])?;
    Ok(())
}

/// Deletes up to `batch` reset tokens that are used or expired; how many went.
pub fn delete_spent(tx: &Tx, now: Timestamp, batch: u32) -> RepoResult<usize> {
    Ok(tx.execute(
        "DELETE FROM password_resets WHERE id IN
             (SELECT id FROM password_resets
              WHERE used_at IS NOT NULL OR expires_at <= ?1 LIMIT ?2)",
        params![now.0, batch],
    )?)
}
