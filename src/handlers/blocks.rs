//! Blocking people. While a user blocks someone, what that person does in their direct
//! conversation (messages, reactions, read marker) does not reach the user: it is left out
//! of the user's history, unread counts, last message and events. The blocked person is not
//! told: their sends succeed and they see the conversation as before. Groups are unaffected.

use rouille::{Request, Response};

use super::auth::Caller;
use crate::app::App;
use crate::domain::{Timestamp, UserId};
use crate::error::ApiError;
use crate::http::{Params, reply};
use crate::repo::{self, blocks, users};
use crate::wire::BlockList;

/// `GET /api/blocks`: the people the caller blocks.
pub fn list(app: &App, _: &Request, _: &Params, caller: &Caller) -> Result<Response, ApiError> {
    let users = repo::read(&app.pool, |conn| blocks::list(conn, caller.user.id))?;
    Ok(reply_list(users))
}

/// `PUT /api/blocks/{user_id}`.
pub fn block(
    app: &App,
    _: &Request,
    params: &Params,
    caller: &Caller,
) -> Result<Response, ApiError> {
    let other: UserId = params.id("user_id")?;
    if other == caller.user.id {
        return Err(ApiError::invalid_field(
            "user_id",
            "you cannot block yourself",
        ));
    }
    let users = repo::write(&app.pool, |tx| {
        users::find(tx, other)?;
        blocks::block(tx, caller.user.id, other, Timestamp::now())?;
        blocks::list(tx, caller.user.id)
    })?;
    Ok(reply_list(users))
}

/// `DELETE /api/blocks/{user_id}`.
pub fn unblock(
    app: &App,
    _: &Request,
    params: &Params,
    caller: &Caller,
) -> Result<Response, ApiError> {
    let other: UserId = params.id("user_id")?;
    let users = repo::write(&app.pool, |tx| {
        blocks::unblock(tx, caller.user.id, other)?;
        blocks::list(tx, caller.user.id)
    })?;
    Ok(reply_list(users))
}

fn reply_list(users: Vec<crate::domain::UserRef>) -> Response {
    reply::ok(&BlockList {
        users: users.into_iter().map(Into::into).collect(),
    })
}
