//! Request handlers, one file per area of the contract. Each one reads its input through
//! `http::extract`, checks who may do it, calls the repository, and replies with a wire type:
//! no SQL and no hand-built JSON here. The auth gate that turns a bearer token into the
//! `Caller` is in `auth`; this file keeps only the helpers several handlers share.

pub mod attachments;
pub mod auth;
pub mod blocks;
pub mod conversations;
pub mod emotes;
pub mod groups;
mod guesses;
pub mod health;
pub mod messages;
pub mod openapi;
pub mod password;
pub mod profile;
pub mod reactions;
pub mod search;
pub mod streams;
pub mod web;

use std::net::IpAddr;

use rouille::Request;

use crate::app::App;
use crate::domain::{Password, UserId};
use crate::error::ApiError;
use crate::http::extract;
use crate::repo;

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
