//! Realtime streams and typing. A stream subscribes to the hub first, then backfills the
//! events stored after its resume point, then delivers live events, skipping ids it already
//! sent: every stored event after the resume point arrives exactly once, in id order.

use std::io;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use rouille::{Request, Response};

use super::{Caller, authenticate_token};
use crate::app::App;
use crate::domain::{ConversationId, EventId, UserId};
use crate::error::ApiError;
use crate::http::server::take_connection;
use crate::http::sse::{self, SseWriter};
use crate::http::{Params, extract, reply};
use crate::realtime::hub::{Frame, Subscription};
use crate::repo::{self, Pool, RepoError, conversations, events};
use crate::wire::{self, Resync, Typing};

/// A comment or ping at least this often keeps proxies from closing an idle stream.
const PING_INTERVAL: Duration = Duration::from_secs(15);
/// How often an idle stream checks whether its client has gone, so its place is freed soon.
const LIVENESS_CHECK: Duration = Duration::from_secs(1);
/// Stored events read per backfill query.
const BACKFILL_BATCH: u32 = 500;

/// `GET /api/events`: Server-Sent Events. Authenticated by bearer header or `access_token`
/// (browsers' `EventSource` cannot set headers); resumes from `Last-Event-ID` or `since`.
pub fn sse(app: &App, request: &Request, _: &Params) -> Result<Response, ApiError> {
    let caller = stream_caller(app, request)?;
    let resume = match request.header("Last-Event-ID") {
        Some(id) => Some(id.trim().parse::<EventId>().map_err(|_| {
            ApiError::invalid_parameter("Last-Event-ID", "Last-Event-ID must be an event id")
        })?),
        None => extract::cursor_param(request, "since")?,
    };
    let subscription = app
        .realtime
        .hub
        .subscribe(caller.user.id, caller.session.id)
        .map_err(|_| ApiError::busy())?;
    let stream = EventStream {
        pool: app.pool.clone(),
        user: caller.user.id,
        resume,
        subscription,
    };
    Ok(sse::response(Box::new(SseUpgrade(Some(stream)))))
}

/// The caller of a stream request: bearer header, or the `access_token` query parameter.
fn stream_caller(app: &App, request: &Request) -> Result<Caller, ApiError> {
    let from_query = request.get_param("access_token");
    let token = extract::bearer_token(request)
        .or(from_query.as_deref())
        .ok_or_else(ApiError::unauthorized)?;
    authenticate_token(app, token)
}

/// `POST /api/conversations/{id}/typing`: tells the other members, at most once per user and
/// conversation every two seconds; nothing is stored.
pub fn typing(
    app: &App,
    _: &Request,
    params: &Params,
    caller: &Caller,
) -> Result<Response, ApiError> {
    let id: ConversationId = params.id("id")?;
    let me = caller.user.id;
    let members = repo::read(&app.pool, |conn| {
        conversations::require_member(conn, id, me)?;
        conversations::member_ids(conn, id)
    })?;
    if app.realtime.hub.allow_typing(me, id) {
        let data = serde_json::to_string(&Typing {
            conversation_id: id,
            user: wire::UserRef {
                id: me,
                name: caller.user.name.clone(),
            },
        })
        .map_err(|e| ApiError::internal(format!("typing payload: {e}")))?;
        let frame = Frame::Ephemeral {
            kind: "typing",
            data: data.into(),
        };
        app.realtime.hub.publish(&frame, &members, Some(me));
    }
    Ok(reply::no_content())
}

/// One open stream: its subscription and where it resumes from.
struct EventStream {
    pool: Pool,
    user: UserId,
    resume: Option<EventId>,
    subscription: Subscription,
}

/// What a transport does with frames (SSE here; WebSocket frames the same events).
trait Sink {
    fn stored(&mut self, id: EventId, kind: &str, data: &str) -> io::Result<()>;
    fn ephemeral(&mut self, kind: &str, data: &str) -> io::Result<()>;
    fn ping(&mut self) -> io::Result<()>;
    fn client_gone(&self) -> bool;
}

impl Sink for SseWriter {
    fn stored(&mut self, id: EventId, kind: &str, data: &str) -> io::Result<()> {
        SseWriter::stored(self, id, kind, data)
    }

    fn ephemeral(&mut self, kind: &str, data: &str) -> io::Result<()> {
        SseWriter::ephemeral(self, kind, data)
    }

    fn ping(&mut self) -> io::Result<()> {
        SseWriter::ping(self)
    }

    fn client_gone(&self) -> bool {
        SseWriter::client_gone(self)
    }
}

/// Runs the stream on the connection's own thread once the layer hands it over.
struct SseUpgrade(Option<EventStream>);

impl rouille::Upgrade for SseUpgrade {
    fn build(&mut self, _: Box<dyn rouille::ReadWrite + Send>) {
        let (Some(stream), Some(connection)) = (self.0.take(), take_connection()) else {
            return;
        };
        let mut writer = SseWriter(connection.stream);
        if let Err(err) = stream.run(&mut writer) {
            log::debug!("event stream ended: {err}");
        }
        // The socket closes when the writer drops.
    }
}

impl EventStream {
    fn run(self, sink: &mut impl Sink) -> Result<(), StreamError> {
        let mut last = self.catch_up(sink)?;
        let mut last_write = Instant::now();
        loop {
            match self.subscription.frames.recv_timeout(LIVENESS_CHECK) {
                Ok(Frame::Stored(event)) if event.id <= last => continue,
                Ok(Frame::Stored(event)) => {
                    sink.stored(event.id, &event.kind, &event.data)?;
                    last = event.id;
                }
                Ok(Frame::Ephemeral { kind, data }) => sink.ephemeral(kind, &data)?,
                Err(RecvTimeoutError::Timeout) if sink.client_gone() => return Ok(()),
                Err(RecvTimeoutError::Timeout) if last_write.elapsed() < PING_INTERVAL => continue,
                Err(RecvTimeoutError::Timeout) => sink.ping()?,
                // Closed by logout or revocation, or dropped for falling behind.
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            }
            last_write = Instant::now();
        }
    }

    /// Sends what was stored after the resume point and returns the last id sent; without
    /// a resume point the stream starts at the newest event. A resume point older than what
    /// is kept gets one `resync` instead.
    fn catch_up(&self, sink: &mut impl Sink) -> Result<EventId, StreamError> {
        let Some(mut last) = self.resume else {
            return Ok(repo::read(&self.pool, events::newest_id)?);
        };
        if last < repo::read(&self.pool, events::pruned_through)? {
            let data = serde_json::to_string(&Resync {
                reason: "the resume point is older than the events kept; refetch",
            })
            .unwrap_or_default();
            sink.ephemeral("resync", &data)?;
            return Ok(repo::read(&self.pool, events::newest_id)?);
        }
        loop {
            let batch = repo::read(&self.pool, |conn| {
                events::after_for_member(conn, self.user, last, BACKFILL_BATCH)
            })?;
            for event in &batch {
                sink.stored(event.id, &event.kind, &event.data)?;
                last = event.id;
            }
            if batch.len() < BACKFILL_BATCH as usize {
                return Ok(last);
            }
        }
    }
}

/// Why a stream stopped early.
#[derive(Debug)]
enum StreamError {
    Io(io::Error),
    Repo(RepoError),
}

impl std::fmt::Display for StreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StreamError::Io(err) => write!(f, "{err}"),
            StreamError::Repo(err) => write!(f, "{err}"),
        }
    }
}

impl From<io::Error> for StreamError {
    fn from(err: io::Error) -> StreamError {
        StreamError::Io(err)
    }
}

impl From<RepoError> for StreamError {
    fn from(err: RepoError) -> StreamError {
        StreamError::Repo(err)
    }
}
