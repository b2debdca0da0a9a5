//! Password reset: asking for a link, and using it.

use rouille::{Request, Response};

use super::{audit, client_address, refuse_common};
use crate::app::App;
use crate::auth::token;
use crate::domain::{Email, Password, Timestamp};
use crate::error::{ApiError, Kind};
use crate::http::{Params, extract, reply};
use crate::ratelimit::Rule;
use crate::repo::{self, resets, sessions, users};
use crate::wire;

/// Always the same answer, so it tells nothing about which emails have accounts.
pub fn request_reset(app: &App, request: &Request, _: &Params) -> Result<Response, ApiError> {
    let body = extract::json_object(request, extract::BODY_LIMIT)?;
    let email: Email = body.field("email")?;
    let client = client_address(app, request);
    // A limited request is answered like any other: the limits reveal nothing. Both budgets
    // are taken together or not at all, so an address past its own limit cannot use up
    // anyone's per-email budget (and so block their reset).
    let allowed = app.limits.reserve(&[
        (Rule::ResetRequestsPerAddress, &client.to_string()),
        (Rule::ResetRequestsPerEmail, &email.lowered()),
    ]);
    if let Ok(reservation) = allowed {
        reservation.spend();
        app.resets.request(email);
    }
    audit("reset_request", client, None);
    Ok(reply::ok(&wire::Notice {
        message: "If that email is registered, a reset link has been sent",
    }))
}

/// The password is checked before the token, so a rejected password leaves the token usable;
/// the token is checked before hashing, so a bad token costs no scrypt work; and it is
/// consumed atomically, so two requests with one token cannot both succeed.
pub fn reset(app: &App, request: &Request, _: &Params) -> Result<Response, ApiError> {
    let body = extract::json_object(request, extract::BODY_LIMIT)?;
    let digest = token::digest(body.string("token")?);
    let password: Password = body.field("password")?;
    refuse_common(&password, "password")?;
    let invalid_token = || {
        ApiError::new(
            Kind::InvalidToken,
            "The reset link is invalid or has expired",
        )
    };
    let usable = repo::read(&app.pool, |conn| {
        resets::find_usable(conn, &digest, Timestamp::now())
    })?;
    if usable.is_none() {
        return Err(invalid_token());
    }
    let hash = app.hasher.hash(&password)?;
    let user_id = repo::write(&app.pool, |tx| {
        let user_id = resets::consume(tx, &digest, Timestamp::now())?.ok_or_else(invalid_token)?;
        users::set_password_hash(tx, user_id, &hash)?;
        sessions::delete_all_for_user(tx, user_id, None)?;
        Ok::<_, ApiError>(user_id)
    })?;
    app.realtime.hub.close_user(user_id, None);
    audit("reset", client_address(app, request), Some(user_id));
    Ok(reply::ok(&wire::Notice {
        message: "Password has been reset",
    }))
}
