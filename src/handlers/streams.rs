//! Realtime endpoints: they authenticate, read where a stream resumes from, and hand over to
//! the stream engine (`realtime::stream`) on the transport asked for.

use std::time::{Duration, Instant};

use rouille::{Request, Response};

use super::auth::{Caller, authenticate_session, authenticate_token};
use crate::app::App;
use crate::auth::tickets::IssueError;
use crate::error::ApiError;
use crate::http::ws::{self, FrameRate};
use crate::http::{Params, extract, reply, sse};
use crate::realtime::client::Typist;
use crate::realtime::hub::Transport;
use crate::realtime::resume::ResumePoint;
use crate::realtime::stream::EventStream;
use crate::wire::{Heartbeat, StreamTicket};

/// `POST /api/events/ticket`: a single-use ticket that opens one stream of the caller's
/// session, so a browser need not put its session token in the stream's URL.
pub fn ticket(app: &App, _: &Request, _: &Params, caller: &Caller) -> Result<Response, ApiError> {
    let ticket = app
        .tickets
        .issue(caller.session.id, Instant::now())
        .map_err(|err| match err {
            IssueError::Full => ApiError::busy(),
            IssueError::Random => ApiError::internal("random source failed for a stream ticket"),
        })?;
    Ok(reply::ok(&StreamTicket {
        ticket,
        expires_in: app.tickets.lifetime().as_secs(),
    }))
}

/// `GET /api/events`: Server-Sent Events. Authenticated by a `ticket`, the bearer header or
/// `access_token` (browsers' `EventSource` cannot set headers); resumes from
/// `Last-Event-ID` or `since`; `heartbeat=1` asks for heartbeat events.
pub fn sse(app: &App, request: &Request, _: &Params) -> Result<Response, ApiError> {
    let caller = stream_caller(app, request)?;
    let resume = match request.header("Last-Event-ID") {
        Some(id) => Some(resume_point("Last-Event-ID", id.trim())?),
        None => since(request)?,
    };
    let keep_alive = keep_alive(app, request)?;
    Ok(sse::response(
        open(app, &caller, resume, Transport::Sse)?,
        keep_alive,
    ))
}

/// Comments every `--sse-ping-secs`, or heartbeat events when the client asks for them with
/// `heartbeat=1`: their data says the interval (so the client knows when to give up on a
/// silent connection) and the version of the web client this server serves (so an open page
/// knows it is out of date).
fn keep_alive(app: &App, request: &Request) -> Result<sse::KeepAlive, ApiError> {
    let every = app.config.sse_ping_secs;
    let heartbeat = match request.get_param("heartbeat").as_deref() {
        None => None,
        Some("1") => Some(
            serde_json::to_string(&Heartbeat {
                interval: every,
                client_version: app.web.version(),
            })
            .map_err(|_| ApiError::internal("a heartbeat did not serialise"))?,
        ),
        Some(_) => {
            return Err(ApiError::invalid_parameter(
                "heartbeat",
                "heartbeat must be 1",
            ));
        }
    };
    Ok(sse::KeepAlive {
        every: Duration::from_secs(u64::from(every)),
        heartbeat,
    })
}

/// `GET /api/ws`: the same events over WebSocket, resuming from `since`; client frames are
/// `{"type": "typing", "conversation_id"}` and `{"type": "ping"}`.
pub fn ws(app: &App, request: &Request, _: &Params) -> Result<Response, ApiError> {
    let accept = ws::handshake(request)?;
    let caller = stream_caller(app, request)?;
    let stream = open(app, &caller, since(request)?, Transport::WebSocket)?;
    let typist = Typist::new(&app.pool, &app.realtime.hub, caller.user);
    let rate = FrameRate {
        per_minute: app.config.ws_frames_per_minute,
        burst: app.config.ws_frame_burst,
    };
    Ok(ws::response(accept, stream, typist, rate))
}

/// `POST /api/conversations/{id}/typing`: tells the other members, at most once per user and
/// conversation every two seconds; nothing is stored.
pub fn typing(
    app: &App,
    _: &Request,
    params: &Params,
    caller: &Caller,
) -> Result<Response, ApiError> {
    let typist = Typist::new(&app.pool, &app.realtime.hub, caller.user.clone());
    typist.typing_in(params.id("id")?)?;
    Ok(reply::no_content())
}

/// The caller's stream, or `503` when the server takes no more.
fn open(
    app: &App,
    caller: &Caller,
    resume: Option<ResumePoint>,
    transport: Transport,
) -> Result<EventStream, ApiError> {
    let check_every = Duration::from_secs(u64::from(app.config.stream_session_check_secs));
    EventStream::open(
        &app.pool,
        &app.realtime,
        caller.user.id,
        &caller.session,
        check_every,
        resume,
        transport,
    )
    .map_err(|_| ApiError::busy())
}

/// The `since` query parameter, if given.
fn since(request: &Request) -> Result<Option<ResumePoint>, ApiError> {
    request
        .get_param("since")
        .map(|text| resume_point("since", &text))
        .transpose()
}

/// An event id as the stream sent it (`<epoch>-<id>`), or a plain numeric one.
fn resume_point(field: &str, text: &str) -> Result<ResumePoint, ApiError> {
    ResumePoint::parse(text)
        .ok_or_else(|| ApiError::invalid_parameter(field, format!("{field} must be an event id")))
}

/// The caller of a stream request: a `ticket` (spent by this request), the bearer header, or
/// the `access_token` query parameter.
fn stream_caller(app: &App, request: &Request) -> Result<Caller, ApiError> {
    if let Some(ticket) = request.get_param("ticket") {
        let session = app
            .tickets
            .redeem(&ticket, Instant::now())
            .ok_or_else(ApiError::unauthorized)?;
        return authenticate_session(app, session);
    }
    let from_query = request.get_param("access_token");
    let token = extract::bearer_token(request)
        .or(from_query.as_deref())
        .ok_or_else(ApiError::unauthorized)?;
    authenticate_token(app, token)
}
