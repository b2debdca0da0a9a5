//! `emotechat user list|disable|enable|reset-link`.

use super::{Failed, printable, table};
use crate::config::Config;
use crate::domain::{Email, Parse, Timestamp, User};
use crate::repo::{self, Pool, resets, sessions, users};

pub fn list(pool: &Pool) -> Result<String, Failed> {
    let accounts = repo::read(pool, users::accounts)?;
    if accounts.is_empty() {
        return Ok("No accounts.\n".into());
    }
    let when = |t: Option<Timestamp>| t.map_or_else(|| "-".to_owned(), |t| t.to_string());
    let rows: Vec<Vec<String>> = accounts
        .into_iter()
        .map(|a| {
            vec![
                a.user.id.to_string(),
                printable(&a.user.name),
                printable(&a.user.email),
                a.user.created_at.to_string(),
                when(a.last_seen_at),
                a.disabled_at
                    .map_or_else(|| "no".to_owned(), |t| format!("since {t}")),
            ]
        })
        .collect();
    Ok(table(
        &["ID", "NAME", "EMAIL", "CREATED", "LAST SEEN", "DISABLED"],
        &rows,
    ))
}

/// Disables the account and, in the same write, ends its sessions and drops its reset links:
/// every request with one of its tokens is refused from the commit on, and the server closes
/// its open streams within a second (see `realtime::lockouts`).
pub fn disable(pool: &Pool, email: &str) -> Result<String, Failed> {
    let user = account(pool, email)?;
    let now = Timestamp::now();
    repo::write(pool, |tx| {
        users::set_disabled(tx, user.id, true, now)?;
        sessions::delete_all_for_user(tx, user.id, None)?;
        resets::delete_for_user(tx, user.id)
    })?;
    Ok(format!(
        "Disabled {}: its sessions are ended and it cannot sign in.\n",
        shown(&user)
    ))
}

pub fn enable(pool: &Pool, email: &str) -> Result<String, Failed> {
    let user = account(pool, email)?;
    repo::write(pool, |tx| {
        users::set_disabled(tx, user.id, false, Timestamp::now())
    })?;
    Ok(format!("Enabled {}: it can sign in again.\n", shown(&user)))
}

/// A one-time reset link, for a server without mail: the same kind of link the reset mail
/// carries, replacing any earlier one.
pub fn reset_link(pool: &Pool, config: &Config, email: &str) -> Result<String, Failed> {
    let user = account(pool, email)?;
    if repo::read(pool, |conn| users::is_disabled(conn, user.id))? {
        return Err(Failed(format!(
            "{} is disabled; enable it first (emotechat user enable)",
            shown(&user)
        )));
    }
    let minutes = config.reset_minutes;
    let token = crate::resets::store_fresh_token(pool, user.id, minutes).map_err(Failed)?;
    Ok(format!(
        "{}\nFor {}: it sets a new password once, within {minutes} minutes.\n",
        crate::resets::link(&config.public_url_for(&config.addr), &token),
        shown(&user)
    ))
}

/// The account with this email (in any letter case), or a failure saying there is none.
fn account(pool: &Pool, email: &str) -> Result<User, Failed> {
    let parsed = Email::parse(email)
        .map_err(|why| Failed(format!("'{}': email {}", printable(email), why.0)))?;
    repo::read(pool, |conn| users::find_by_email(conn, &parsed))?
        .ok_or_else(|| Failed(format!("no account has the email {}", printable(email))))
}

fn shown(user: &User) -> String {
    format!(
        "user {} ({}, {})",
        user.id,
        printable(&user.name),
        printable(&user.email)
    )
}
