//! Request handlers, one file per area of the contract. Each one reads its input through
//! `http::extract`, checks who may do it, calls the repository, and replies with a wire type:
//! no SQL and no hand-built JSON here.

pub mod auth;
pub mod conversations;
pub mod emotes;
mod guesses;
pub mod health;
pub mod messages;
pub mod password;
pub mod profile;
pub mod reactions;
pub mod streams;

use std::net::IpAddr;

use rouille::Request;

use crate::app::App;
use crate::auth::token;
use crate::domain::{Password, Session, Timestamp, User, UserId};
use crate::error::ApiError;
use crate::http::extract;
use crate::repo::{self, sessions};

/// `last_used_at` is rewritten at most this often, so that a busy client does not turn every
/// read into a database write.
const TOUCH_INTERVAL_MS: i64 = 60_000;

/// The authenticated user making a request, and the session they made it with.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: User,
    pub session: Session,
}

/// The auth gate of private routes: a live session for the bearer token, or `401`.
pub fn authenticate(app: &App, request: &Request) -> Result<Caller, ApiError> {
    let token = extract::bearer_token(request).ok_or_else(ApiError::unauthorized)?;
    authenticate_token(app, token)
}

/// The live session a token belongs to, or `401`.
fn authenticate_token(app: &App, token: &str) -> Result<Caller, ApiError> {
    let digest = token::digest(token);
    let now = Timestamp::now();
    let found = repo::read(&app.pool, |conn| {
        sessions::find_live_by_token(conn, &digest, now)
    })?;
    let (session, user) = found.ok_or_else(ApiError::unauthorized)?;
    if now.0 - session.last_used_at.0 >= TOUCH_INTERVAL_MS {
        repo::write(&app.pool, |tx| sessions::touch(tx, session.id, now))?;
    }
    Ok(Caller { user, session })
}

/// Refuses a new password that is one of the most common ones (`field` names it).
fn refuse_common(password: &Password, field: &str) -> Result<(), ApiError> {
    if crate::auth::common::is_common(password) {
        return Err(ApiError::invalid_field(
            field,
            format!("{field} is one of the most common passwords; choose another"),
        ));
    }
    Ok(())
}

/// The client's address, as the rate limits and the auth log see it.
fn client_address(app: &App, request: &Request) -> IpAddr {
    extract::client_address(request, &app.config.trusted_proxies)
}

/// One line per authentication event, in a fixed format a fail2ban filter can match (see the
/// README): `auth event=<name> client=<address> user=<id or ->`. Never an email or a secret.
fn audit(event: &str, client: IpAddr, user: Option<UserId>) {
    let user = user.map_or_else(|| "-".to_owned(), |id| id.to_string());
    log::warn!(target: "emotechat::auth", "auth event={event} client={client} user={user}");
}

/// Runs a write that records events, then wakes the dispatcher once it has committed.
fn write_with_events<T>(
    app: &App,
    work: impl FnOnce(&repo::Tx) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let value = repo::write(&app.pool, work)?;
    app.realtime.poke.poke();
    Ok(value)
}
