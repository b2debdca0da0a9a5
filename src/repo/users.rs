//! The `users` table.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{RepoError, RepoResult, Tx};
use crate::domain::{Account, Email, Name, PageRequest, Timestamp, User, UserId, fold_case, nfc};

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

/// What a login is checked against.
pub struct Credentials {
    pub user: User,
    pub password_hash: String,
    /// An operator disabled the account: no password lets it in.
    pub disabled: bool,
}

/// A user with their password hash and whether they are disabled, for checking a login.
pub fn find_credentials_by_email(
    conn: &Connection,
    email: &Email,
) -> RepoResult<Option<Credentials>> {
    let sql = format!(
        "SELECT {USER_COLUMNS}, password_hash, disabled_at IS NOT NULL FROM users
         WHERE email_lower = ?1"
    );
    Ok(conn
        .query_row(&sql, [email.lowered()], |row| {
            Ok(Credentials {
                user: user_from_row(row)?,
                password_hash: row.get(4)?,
                disabled: row.get(5)?,
            })
        })
        .optional()?)
}

/// Notes that the user signed in or made a request.
pub fn mark_seen(tx: &Tx, id: UserId, now: Timestamp) -> RepoResult<()> {
    tx.execute(
        "UPDATE users SET last_seen_at = ?2 WHERE id = ?1",
        params![id, now.0],
    )?;
    Ok(())
}

/// Every account with when it was last seen and whether it is disabled, by id.
pub fn accounts(conn: &Connection) -> RepoResult<Vec<Account>> {
    let sql = format!("SELECT {USER_COLUMNS}, last_seen_at, disabled_at FROM users ORDER BY id");
    let mut stmt = conn.prepare(&sql)?;
    let accounts = stmt
        .query_map([], |row| {
            Ok(Account {
                user: user_from_row(row)?,
                last_seen_at: row.get::<_, Option<i64>>(4)?.map(Timestamp),
                disabled_at: row.get::<_, Option<i64>>(5)?.map(Timestamp),
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(accounts)
}

/// Disables or enables the user; `NotFound` if there is no such user. Disabling an account
/// that is disabled keeps its first time.
pub fn set_disabled(tx: &Tx, id: UserId, disabled: bool, now: Timestamp) -> RepoResult<()> {
    let changed = tx.execute(
        "UPDATE users SET disabled_at = CASE WHEN ?2 THEN coalesce(disabled_at, ?3) END
         WHERE id = ?1",
        params![id, disabled, now.0],
    )?;
    if changed == 0 {
        return Err(RepoError::NotFound);
    }
    Ok(())
}

/// The users disabled after `since`, with when; by the partial index of disabled users.
pub fn disabled_after(conn: &Connection, since: Timestamp) -> RepoResult<Vec<(UserId, Timestamp)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, disabled_at FROM users WHERE disabled_at > ?1 ORDER BY disabled_at",
    )?;
    let disabled = stmt
        .query_map([since.0], |row| Ok((row.get(0)?, Timestamp(row.get(1)?))))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(disabled)
}

/// Whether an operator disabled the user.
pub fn is_disabled(conn: &Connection, id: UserId) -> RepoResult<bool> {
    Ok(conn.query_row(
        "SELECT disabled_at IS NOT NULL FROM users WHERE id = ?1",
        [id],
        |row| row.get(0),
    )?)
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
