//! The `users` table.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{RepoError, RepoResult, Tx};
use crate::domain::{Email, Name, PageRequest, Timestamp, User, UserId, fold_case, nfc};

const USER_COLUMNS: &str = "id, name, email, created_at";

fn user_from_row(row: &Row) -> rusqlite::Result<User> {
    Ok(User {
        id: row.get(0)?,
        name: row.get(1)?,
        email: row.get(2)?,
        created_at: Timestamp(row.get(3)?),
    })
}

/// Inserts a user; `Conflict` if the email (in any letter case) is taken.
pub fn insert(
    tx: &Tx,
    name: &Name,
    email: &Email,
    password_hash: &str,
    now: Timestamp,
) -> RepoResult<User> {
    let sql = format!(
        "INSERT INTO users (name, name_fold, email, email_lower, password_hash, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING {USER_COLUMNS}"
    );
    Ok(tx.query_row(
        &sql,
        params![
            name.as_str(),
            name.folded(),
            email.as_str(),
            email.lowered(),
            password_hash,
            now.0
        ],
        user_from_row,
    )?)
}

/// A user with their password hash, for checking a login.
pub fn find_with_hash_by_email(
    conn: &Connection,
    email: &Email,
) -> RepoResult<Option<(User, String)>> {
    let sql = format!("SELECT {USER_COLUMNS}, password_hash FROM users WHERE email_lower = ?1");
    Ok(conn
        .query_row(&sql, [email.lowered()], |row| {
            Ok((user_from_row(row)?, row.get(4)?))
        })
        .optional()?)
}

pub fn password_hash(conn: &Connection, id: UserId) -> RepoResult<String> {
    Ok(conn.query_row(
        "SELECT password_hash FROM users WHERE id = ?1",
        [id],
        |row| row.get(0),
    )?)
}

pub fn find(conn: &Connection, id: UserId) -> RepoResult<User> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1");
    Ok(conn.query_row(&sql, [id], user_from_row)?)
}

pub fn find_by_email(conn: &Connection, email: &Email) -> RepoResult<Option<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email_lower = ?1");
    Ok(conn
        .query_row(&sql, [email.lowered()], user_from_row)
        .optional()?)
}

pub fn rename(tx: &Tx, id: UserId, name: &Name) -> RepoResult<User> {
    let sql = format!(
        "UPDATE users SET name = ?2, name_fold = ?3 WHERE id = ?1 RETURNING {USER_COLUMNS}"
    );
    Ok(tx.query_row(
        &sql,
        params![id, name.as_str(), name.folded()],
        user_from_row,
    )?)
}

pub fn set_password_hash(tx: &Tx, id: UserId, password_hash: &str) -> RepoResult<()> {
    let changed = tx.execute(
        "UPDATE users SET password_hash = ?2 WHERE id = ?1",
        params![id, password_hash],
    )?;
    if changed == 0 {
        return Err(RepoError::NotFound);
    }
    Ok(())
}

/// One page of users by id, optionally only those whose name contains `search` (already
/// case-folded; matched literally, so `%` and `_` are plain characters), with the total.
pub fn page(
    conn: &Connection,
    search: Option<&str>,
    page: PageRequest,
) -> RepoResult<(Vec<User>, i64)> {
    // instr() is a literal substring test, unlike LIKE with its wildcards.
    let filter = "(?1 IS NULL OR instr(name_fold, ?1) > 0)";
    let total: i64 = match search {
        // Kept by triggers: counting every row would cost a full scan per page.
        None => conn.query_row("SELECT n FROM user_count", [], |row| row.get(0))?,
        Some(search) => conn.query_row(
            "SELECT count(*) FROM users WHERE instr(name_fold, ?1) > 0",
            [search],
            |row| row.get(0),
        )?,
    };
    let sql =
        format!("SELECT {USER_COLUMNS} FROM users WHERE {filter} ORDER BY id LIMIT ?2 OFFSET ?3");
    let mut stmt = conn.prepare_cached(&sql)?;
    let users = stmt
        .query_map(
            params![search, page.page_size, page.offset()],
            user_from_row,
        )?
        .collect::<Result<Vec<_>, _>>()?;
    Ok((users, total))
}

/// Which of the given ids belong to no user.
pub fn missing_ids(conn: &Connection, ids: &[UserId]) -> RepoResult<Vec<UserId>> {
    let mut stmt = conn.prepare_cached(
        "SELECT value FROM rarray(?1) WHERE NOT EXISTS (SELECT 1 FROM users WHERE id = value)
         ORDER BY value",
    )?;
    let missing = stmt
        .query_map([super::id_array(ids.iter().copied())], |row| row.get(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(missing)
}

/// Brings names and emails stored by versions that kept them as typed into NFC, with their
/// lookup forms made again the way `Name::folded` and `Email::lowered` make them now. An
/// email whose new form another account already has keeps its old one: that account was
/// told apart from the other before, and cannot be merged with it here. A migration step: it
/// runs in the migration's transaction before the writer exists, hence a `Connection`.
pub fn normalise_stored(conn: &Connection) -> rusqlite::Result<()> {
    let mut stmt =
        conn.prepare("SELECT id, name, name_fold, email, email_lower FROM users ORDER BY id")?;
    let users = stmt
        .query_map([], |row| {
            Ok((
                row.get::<_, UserId>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, String>(4)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    for (id, name, name_fold, email, email_lower) in users {
        let (normal_name, folded) = (nfc(&name), fold_case(&name));
        if normal_name != name || folded != name_fold {
            conn.execute(
                "UPDATE users SET name = ?2, name_fold = ?3 WHERE id = ?1",
                params![id, normal_name, folded],
            )?;
        }
        let (normal_email, lowered) = (nfc(&email), fold_case(&email));
        if normal_email == email && lowered == email_lower {
            continue;
        }
        let changed = conn.execute(
            "UPDATE OR IGNORE users SET email = ?2, email_lower = ?3 WHERE id = ?1",
            params![id, normal_email, lowered],
        )?;
        if changed == 0 {
            log::warn!(
                "user {id}: the normalised email is another account's; kept as it was stored"
            );
        }
    }
    Ok(())
}
