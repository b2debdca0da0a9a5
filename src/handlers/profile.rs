//! The user directory, the caller's own profile, and password change.

use rouille::{Request, Response};

use super::auth::Caller;
use super::guesses::{self, Account};
use super::{client_address, refuse_common};
use crate::app::App;
use crate::domain::{Name, Parse, Password, UserId, fold_case};
use crate::error::ApiError;
use crate::http::{Params, extract, reply};
use crate::repo::{self, resets, sessions, users};
use crate::wire::{self, OneUserPublic, OneUserSelf, Pagination, UserPage};

/// The longest name search accepted: names themselves are at most 100 characters.
const SEARCH_MAX_CHARS: usize = 100;

pub fn list_users(
    app: &App,
    request: &Request,
    _: &Params,
    _: &Caller,
) -> Result<Response, ApiError> {
    let page = extract::page_request(request)?;
    let search = extract::text_param(request, "q", SEARCH_MAX_CHARS)?.map(|q| fold_case(&q));
    let (found, total) = repo::read(&app.pool, |conn| users::page(conn, search.as_deref(), page))?;
    Ok(reply::ok(&UserPage {
        users: found.into_iter().map(Into::into).collect(),
        pagination: Pagination::new(page, total),
    }))
}

pub fn get_user(app: &App, _: &Request, params: &Params, _: &Caller) -> Result<Response, ApiError> {
    let id: UserId = params.id("id")?;
    let user = repo::read(&app.pool, |conn| users::find(conn, id))?;
    Ok(reply::ok(&OneUserPublic { user: user.into() }))
}

pub fn me(_: &App, _: &Request, _: &Params, caller: &Caller) -> Result<Response, ApiError> {
    Ok(reply::ok(&OneUserSelf {
        user: caller.user.clone().into(),
    }))
}

pub fn rename(
    app: &App,
    request: &Request,
    _: &Params,
    caller: &Caller,
) -> Result<Response, ApiError> {
    let body = extract::json_object(request, extract::BODY_LIMIT)?;
    let name: Name = body.field("name")?;
    let user = repo::write(&app.pool, |tx| users::rename(tx, caller.user.id, &name))?;
    Ok(reply::ok(&OneUserSelf { user: user.into() }))
}

/// A current password that breaks the password rules cannot be the right one, so it is
/// answered like any wrong password. Wrong current passwords share login's limits and log
/// line (see `guesses`): a stolen token must not become a way to guess the password.
pub fn change_password(
    app: &App,
    request: &Request,
    _: &Params,
    caller: &Caller,
) -> Result<Response, ApiError> {
    let body = extract::json_object(request, extract::BODY_LIMIT)?;
    let current = Password::parse(body.string("current_password")?)
        .map_err(|_| ApiError::invalid_credentials())?;
    let new: Password = body.field("new_password")?;
    refuse_common(&new, "new_password")?;
    let user_id = caller.user.id;
    let stored = repo::read(&app.pool, |conn| users::password_hash(conn, user_id))?;
    let guess = guesses::reserve(app, client_address(app, request), Account::User(user_id))?;
    if !app.hasher.verify(&current, &stored)?.matches {
        return Err(guess.wrong(Some(user_id)));
    }
    // The right password: the reserved guess is given back.
    drop(guess);
    let hash = app.hasher.hash(&new)?;
    repo::write(&app.pool, |tx| {
        users::set_password_hash(tx, user_id, &hash)?;
        resets::delete_for_user(tx, user_id)?;
        sessions::delete_all_for_user(tx, user_id, Some(caller.session.id))
    })?;
    app.realtime
        .hub
        .close_user(user_id, Some(caller.session.id));
    Ok(reply::ok(&wire::Notice {
        message: "Password changed",
    }))
}
