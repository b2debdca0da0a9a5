//! Sessions, from issue to check: registration, login, logout, token validation and the
//! caller's sessions, and the gate every private route and stream passes, which turns a
//! bearer token into the `Caller`.

use rouille::{Request, Response};

use super::guesses::{self, Account};
use super::{audit, client_address, refuse_common};
use crate::app::App;
use crate::auth::token;
use crate::config::Registration;
use crate::domain::{
    Email, InviteCode, Name, NewEmail, Password, Session, SessionId, Timestamp, User, UserId,
};
use crate::error::{ApiError, Kind};
use crate::http::{Params, extract, reply};
use crate::ratelimit::Rule;
use crate::repo::users::Credentials;
use crate::repo::{self, RepoError, invites, sessions, users};
use crate::wire::{self, LoggedIn, Registered, SessionInfo, Sessions, TokenValid};

/// User agents are kept for the sessions list; longer ones are cut, not refused.
const USER_AGENT_MAX_CHARS: usize = 256;

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

/// The live session a token belongs to, or `401`. Streams pass a token from the query too.
pub fn authenticate_token(app: &App, token: &str) -> Result<Caller, ApiError> {
    let digest = token::digest(token);
    let now = Timestamp::now();
    let found = repo::read(&app.pool, |conn| {
        sessions::find_live_by_token(conn, &digest, now)
    })?;
    caller_of(app, found, now)
}

/// The caller of a stream ticket's session, if it is still live (not revoked, not expired).
pub fn authenticate_session(app: &App, id: SessionId) -> Result<Caller, ApiError> {
    let now = Timestamp::now();
    let found = repo::read(&app.pool, |conn| sessions::find_live_by_id(conn, id, now))?;
    caller_of(app, found, now)
}

/// The caller of a session found live, or `401`; marks the session used.
fn caller_of(
    app: &App,
    found: Option<(Session, User)>,
    now: Timestamp,
) -> Result<Caller, ApiError> {
    let (session, user) = found.ok_or_else(ApiError::unauthorized)?;
    if now.0 - session.last_used_at.0 >= TOUCH_INTERVAL_MS {
        repo::write(&app.pool, |tx| {
            sessions::touch(tx, session.id, now)?;
            users::mark_seen(tx, user.id, now)
        })?;
    }
    Ok(Caller { user, session })
}

/// Open, closed or by invite, as `--registration` says. An invite code is checked before the
/// password is hashed (a bad code costs no scrypt work), and its use is counted in the write
/// that creates the account, so registrations racing for its last use cannot both get it,
/// and a registration that fails (email taken) uses nothing.
pub fn register(app: &App, request: &Request, _: &Params) -> Result<Response, ApiError> {
    if app.config.registration == Registration::Closed {
        return Err(ApiError::new(
            Kind::RegistrationClosed,
            "This server does not take new accounts",
        ));
    }
    let body = extract::json_object(request, extract::BODY_LIMIT)?;
    let name: Name = body.field("name")?;
    let NewEmail(email) = body.field("email")?;
    let password: Password = body.field("password")?;
    refuse_common(&password, "password")?;
    let invite = match app.config.registration {
        Registration::Invite => Some(invite_digest(&body)?),
        // Ignored, but still a string or null as documented: anything else is a client's bug
        // it should hear about.
        Registration::Open | Registration::Closed => {
            body.optional_string("invite")?;
            None
        }
    };
    let client = client_address(app, request).to_string();
    app.limits
        .hit(Rule::RegistrationsPerAddress, &client)
        .map_err(ApiError::rate_limited)?;
    if let Some(digest) = &invite {
        let usable = repo::read(&app.pool, |conn| {
            invites::is_usable(conn, digest, Timestamp::now())
        })?;
        if !usable {
            return Err(invite_invalid());
        }
    }
    let hash = app.hasher.hash(&password)?;
    let user = repo::write(&app.pool, |tx| {
        let now = Timestamp::now();
        if let Some(digest) = &invite
            && !invites::use_one(tx, digest, now)?
        {
            return Err(invite_invalid());
        }
        users::insert(tx, &name, &email, &hash, now).map_err(|err| match err {
            RepoError::Conflict(_) => ApiError::new(
                Kind::EmailTaken,
                "An account with that email already exists",
            ),
            other => other.into(),
        })
    })?;
    Ok(reply::ok(&Registered {
        message: "Registration successful",
        user: user.into(),
    }))
}

/// The digest of the body's invite code, or `403 invite_required` without one.
fn invite_digest(body: &extract::JsonObject) -> Result<[u8; 32], ApiError> {
    let code: Option<InviteCode> = body.optional("invite")?;
    code.map(|code| token::digest(code.as_str()))
        .ok_or_else(|| {
            ApiError::new(
                Kind::InviteRequired,
                "An invite code is needed to create an account here",
            )
        })
}

fn invite_invalid() -> ApiError {
    ApiError::new(
        Kind::InviteInvalid,
        "The invite code is unknown, used up or expired",
    )
}

/// Unknown email and wrong password look the same from outside: same error, and the same
/// scrypt work (against a dummy hash) so the timing does not tell either. Wrong passwords are
/// limited per account and per client address (see `guesses`); past either limit the answer
/// is `429`.
pub fn login(app: &App, request: &Request, _: &Params) -> Result<Response, ApiError> {
    let body = extract::json_object(request, extract::BODY_LIMIT)?;
    let email: Email = body.field("email")?;
    let password: Password = body.field("password")?;
    let client = client_address(app, request);
    let found = repo::read(&app.pool, |conn| {
        users::find_credentials_by_email(conn, &email)
    })?;
    let Some(Credentials {
        user,
        password_hash,
        disabled,
    }) = found
    else {
        let guess = guesses::reserve(app, client, Account::Unknown(&email))?;
        app.hasher.verify_dummy(&password)?;
        app.metrics.login_failed();
        return Err(guess.wrong(None));
    };
    let guess = guesses::reserve(app, client, Account::User(user.id))?;
    let verdict = app.hasher.verify(&password, &password_hash)?;
    // A disabled account gets the answer of a wrong password, after the same work: the
    // answer tells nobody whether the password was right or the account is disabled.
    if !verdict.matches || disabled {
        app.metrics.login_failed();
        return Err(guess.wrong(Some(user.id)));
    }
    // The right password: the reserved guess is given back.
    drop(guess);
    let fresh_hash = if verdict.needs_rehash {
        Some(app.hasher.hash(&password)?)
    } else {
        None
    };
    let session = open_session(app, request, user.id, fresh_hash.as_deref())?;
    audit("login_success", client, Some(user.id));
    Ok(reply::ok(&LoggedIn {
        message: "Login successful",
        token: session.0,
        token_type: "Bearer",
        expires_at: session.1,
        user: user.into(),
    }))
}

/// Stores a new session (and a re-hashed password, if any); the token and its expiry. Past
/// the sessions quota, the oldest sessions are revoked in the same transaction, and their
/// streams closed.
fn open_session(
    app: &App,
    request: &Request,
    user_id: UserId,
    fresh_hash: Option<&str>,
) -> Result<(String, Timestamp), ApiError> {
    let issued = token::issue().map_err(|e| ApiError::internal(format!("random source: {e}")))?;
    let now = Timestamp::now();
    let expires_at = now.plus_days(app.config.session_days);
    let user_agent = user_agent(request);
    let keep = app.config.quotas.sessions_per_user;
    let (session, revoked) = repo::write(&app.pool, |tx| {
        if let Some(hash) = fresh_hash {
            users::set_password_hash(tx, user_id, hash)?;
        }
        let session = sessions::insert(
            tx,
            user_id,
            &issued.digest,
            user_agent.as_deref(),
            now,
            expires_at,
        )?;
        let revoked = sessions::delete_all_but_newest(tx, user_id, keep, now)?;
        users::mark_seen(tx, user_id, now)?;
        Ok::<_, RepoError>((session, revoked))
    })?;
    for id in revoked {
        app.realtime.hub.close_session(id);
    }
    Ok((issued.token, session.expires_at))
}

fn user_agent(request: &Request) -> Option<String> {
    request
        .header("User-Agent")
        .map(|agent| agent.chars().take(USER_AGENT_MAX_CHARS).collect())
}

pub fn logout(
    app: &App,
    request: &Request,
    _: &Params,
    caller: &Caller,
) -> Result<Response, ApiError> {
    repo::write(&app.pool, |tx| {
        sessions::delete_own(tx, caller.user.id, caller.session.id)
    })?;
    app.realtime.hub.close_session(caller.session.id);
    audit("logout", client_address(app, request), Some(caller.user.id));
    Ok(reply::ok(&wire::Notice {
        message: "Logged out",
    }))
}

pub fn validate(_: &App, _: &Request, _: &Params, caller: &Caller) -> Result<Response, ApiError> {
    Ok(reply::ok(&TokenValid {
        message: "Token is valid",
        user: caller.user.clone().into(),
        expires_at: caller.session.expires_at,
    }))
}

pub fn sessions(app: &App, _: &Request, _: &Params, caller: &Caller) -> Result<Response, ApiError> {
    let now = Timestamp::now();
    let live = repo::read(&app.pool, |conn| {
        sessions::list_live(conn, caller.user.id, now)
    })?;
    Ok(reply::ok(&Sessions {
        sessions: live
            .into_iter()
            .map(|session| SessionInfo::new(session, caller.session.id))
            .collect(),
    }))
}

pub fn revoke_session(
    app: &App,
    _: &Request,
    params: &Params,
    caller: &Caller,
) -> Result<Response, ApiError> {
    let id: SessionId = params.id("id")?;
    let revoked = repo::write(&app.pool, |tx| sessions::delete_own(tx, caller.user.id, id))?;
    if !revoked {
        return Err(ApiError::not_found());
    }
    app.realtime.hub.close_session(id);
    Ok(reply::ok(&wire::Notice {
        message: "Session revoked",
    }))
}
