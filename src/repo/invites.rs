//! The `invites` table: invite codes for `--registration invite`, stored as SHA-256 digests.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{RepoResult, Tx};
use crate::domain::{Invite, InviteId, Timestamp};

const INVITE_COLUMNS: &str = "id, prefix, max_uses, uses, created_at, expires_at";

fn invite_from_row(row: &Row) -> rusqlite::Result<Invite> {
    Ok(Invite {
        id: row.get(0)?,
        prefix: row.get(1)?,
        max_uses: row.get(2)?,
        uses: row.get(3)?,
        created_at: Timestamp(row.get(4)?),
        expires_at: Timestamp(row.get(5)?),
    })
}

pub fn insert(
    tx: &Tx,
    code_hash: &[u8],
    prefix: &str,
    max_uses: u32,
    now: Timestamp,
    expires_at: Timestamp,
) -> RepoResult<Invite> {
    let sql = format!(
        "INSERT INTO invites (code_hash, prefix, max_uses, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5) RETURNING {INVITE_COLUMNS}"
    );
    Ok(tx.query_row(
        &sql,
        params![code_hash, prefix, max_uses, now.0, expires_at.0],
        invite_from_row,
    )?)
}

/// Every invite, oldest first, spent and expired ones included.
pub fn list(conn: &Connection) -> RepoResult<Vec<Invite>> {
    let sql = format!("SELECT {INVITE_COLUMNS} FROM invites ORDER BY id");
    let mut stmt = conn.prepare(&sql)?;
    let invites = stmt
        .query_map([], invite_from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(invites)
}

/// Whether a code could be used now: known, not used up, not expired. A check before the
/// password is hashed; `use_one` decides.
pub fn is_usable(conn: &Connection, code_hash: &[u8], now: Timestamp) -> RepoResult<bool> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM invites WHERE code_hash = ?1 AND uses < max_uses AND expires_at > ?2",
            params![code_hash, now.0],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Counts one use of a usable code; false if it was not usable. One statement, in the write
/// that creates the account, so that registrations racing for the last use cannot both get it.
pub fn use_one(tx: &Tx, code_hash: &[u8], now: Timestamp) -> RepoResult<bool> {
    let changed = tx.execute(
        "UPDATE invites SET uses = uses + 1
         WHERE code_hash = ?1 AND uses < max_uses AND expires_at > ?2",
        params![code_hash, now.0],
    )?;
    Ok(changed > 0)
}

/// Deletes the invite with this code digest; false if there is none.
pub fn delete_by_hash(tx: &Tx, code_hash: &[u8]) -> RepoResult<bool> {
    Ok(tx.execute("DELETE FROM invites WHERE code_hash = ?1", [code_hash])? > 0)
}

/// Deletes the invite with this id; false if there is none.
pub fn delete(tx: &Tx, id: InviteId) -> RepoResult<bool> {
    Ok(tx.execute("DELETE FROM invites WHERE id = ?1", [id])? > 0)
}
