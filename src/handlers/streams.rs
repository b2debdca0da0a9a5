//! Realtime streams and typing. A stream subscribes to the hub first, then backfills the
//! events stored after its resume point, then delivers live events, skipping ids it already
//! sent: every stored event after the resume point arrives exactly once, in id order.

use std::io;
use std::sync::Arc;
use std::sync::mpsc::RecvTimeoutError;
use std::thread;
use std::time::Duration;

use rouille::{Request, Response};

use super::{Caller, authenticate_token};
use crate::app::App;
use crate::domain::{ConversationId, EventId, User, UserId};
use crate::error::ApiError;
use crate::http::server::take_connection;
use crate::http::sse::{self, SseWriter};
use crate::http::ws::{self, WsWriter};
use crate::http::{Params, extract, reply};
use crate::realtime::hub::{Frame, Hub, Subscription};
use crate::repo::{self, Pool, RepoError, conversations, events};
use crate::wire::{self, Resync, Typing, WsReply};

/// How often a WebSocket stream passes on replies and pings when no event comes.
const WS_TICK: Duration = Duration::from_millis(50);
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
    let stream = EventStream::open(app, &caller, resume)?;
    Ok(sse::response(Box::new(SseUpgrade(Some(stream)))))
}

/// `GET /api/ws`: the same events over WebSocket, resuming from `since`; client frames are
/// `{"type": "typing", "conversation_id"}` and `{"type": "ping"}`.
pub fn ws(app: &App, request: &Request, _: &Params) -> Result<Response, ApiError> {
    let accept = ws::handshake(request)?;
    let caller = stream_caller(app, request)?;
    let resume = extract::cursor_param(request, "since")?;
    let stream = EventStream::open(app, &caller, resume)?;
    let typist = Typist {
        pool: app.pool.clone(),
        hub: Arc::clone(&app.realtime.hub),
        user: caller.user,
    };
    Ok(ws::response(
        accept,
        Box::new(WsUpgrade(Some((stream, typist)))),
    ))
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
    let typist = Typist {
        pool: app.pool.clone(),
        hub: Arc::clone(&app.realtime.hub),
        user: caller.user.clone(),
    };
    typist.typing_in(params.id("id")?)?;
    Ok(reply::no_content())
}

/// A user who may say they are typing, over HTTP or a WebSocket frame.
struct Typist {
    pool: Pool,
    hub: Arc<Hub>,
    user: User,
}

impl Typist {
    /// Tells the other members; `404` unless the user is a member.
    fn typing_in(&self, id: ConversationId) -> Result<(), ApiError> {
        let me = self.user.id;
        let members = repo::read(&self.pool, |conn| {
            conversations::require_member(conn, id, me)?;
            conversations::member_ids(conn, id)
        })?;
        if !self.hub.allow_typing(me, id) {
            return Ok(());
        }
        let data = serde_json::to_string(&Typing {
            conversation_id: id,
            user: wire::UserRef {
                id: me,
                name: self.user.name.clone(),
            },
        })
        .map_err(|e| ApiError::internal(format!("typing payload: {e}")))?;
        let frame = Frame::Ephemeral {
            kind: "typing",
            data: data.into(),
        };
        self.hub.publish(&frame, &members, Some(me));
        Ok(())
    }

    /// The answer to one client frame of a WebSocket, if it needs one.
    fn answer(&self, text: &str) -> Option<String> {
        let Ok(frame) = serde_json::from_str::<serde_json::Value>(text) else {
            return Some(ws_error("frames must be JSON objects"));
        };
        match frame["type"].as_str() {
            Some("ping") => Some(ws_reply(&WsReply::Pong)),
            Some("typing") => match frame["conversation_id"].as_i64() {
                Some(id) if id > 0 => match self.typing_in(id) {
                    Ok(()) => None,
                    Err(err) if err.status() == 404 => Some(ws_error("no such conversation")),
                    Err(_) => Some(ws_error("typing could not be sent")),
                },
                _ => Some(ws_error("typing needs a conversation_id")),
            },
            _ => Some(ws_error("unknown frame type; expected typing or ping")),
        }
    }
}

fn ws_error(message: &'static str) -> String {
    ws_reply(&WsReply::Error { message })
}

fn ws_reply(reply: &WsReply) -> String {
    serde_json::to_string(reply).unwrap_or_default()
}

/// One open stream: its subscription and where it resumes from.
struct EventStream {
    pool: Pool,
    user: UserId,
    resume: Option<EventId>,
    subscription: Subscription,
}

/// What a transport does with the stream: SSE and WebSocket carry the same events.
trait Sink {
    fn stored(&mut self, id: EventId, kind: &str, data: &str) -> io::Result<()>;
    fn ephemeral(&mut self, kind: &str, data: &str) -> io::Result<()>;
    /// Work between events (pings, liveness, replies); false once the stream should end.
    fn service(&mut self) -> io::Result<bool>;
    /// How long to wait for an event before `service` is due.
    fn tick(&self) -> Duration;
    /// The stream was closed by the server (logout, revocation, too slow).
    fn closed_by_server(&mut self) {}
}

impl Sink for SseWriter {
    fn stored(&mut self, id: EventId, kind: &str, data: &str) -> io::Result<()> {
        SseWriter::stored(self, id, kind, data)
    }

    fn ephemeral(&mut self, kind: &str, data: &str) -> io::Result<()> {
        SseWriter::ephemeral(self, kind, data)
    }

    fn service(&mut self) -> io::Result<bool> {
        SseWriter::service(self)
    }

    fn tick(&self) -> Duration {
        SseWriter::tick(self)
    }
}

/// Server frames are `{"id", "type", "data"}` text.
impl Sink for WsWriter {
    fn stored(&mut self, id: EventId, kind: &str, data: &str) -> io::Result<()> {
        WsWriter::stored(self, id, kind, data)
    }

    fn ephemeral(&mut self, kind: &str, data: &str) -> io::Result<()> {
        WsWriter::ephemeral(self, kind, data)
    }

    fn service(&mut self) -> io::Result<bool> {
        WsWriter::service(self)
    }

    fn tick(&self) -> Duration {
        WS_TICK
    }

    fn closed_by_server(&mut self) {
        self.close(
            ws::policy_close(),
            "stream closed by the server; resume with since",
        );
    }
}

/// Runs the stream on the connection's own thread once the layer hands it over.
struct SseUpgrade(Option<EventStream>);

impl rouille::Upgrade for SseUpgrade {
    fn build(&mut self, _: Box<dyn rouille::ReadWrite + Send>) {
        let (Some(stream), Some(connection)) = (self.0.take(), take_connection()) else {
            return;
        };
        let mut writer = SseWriter::new(connection.stream);
        if let Err(err) = stream.run(&mut writer) {
            log::debug!("event stream ended: {err}");
        }
        // The socket closes when the writer drops.
    }
}

/// Runs a WebSocket session: a reader thread for client frames, the events on this thread.
struct WsUpgrade(Option<(EventStream, Typist)>);

impl rouille::Upgrade for WsUpgrade {
    fn build(&mut self, _: Box<dyn rouille::ReadWrite + Send>) {
        let (Some((stream, typist)), Some(connection)) = (self.0.take(), take_connection()) else {
            return;
        };
        let (reader, mut writer) = match ws::split(connection) {
            Ok(halves) => halves,
            Err(err) => {
                log::debug!("websocket setup failed: {err}");
                return;
            }
        };
        let spawned = thread::Builder::new()
            .name("ws-reader".into())
            .stack_size(256 * 1024)
            .spawn(move || reader.run(|text| typist.answer(text)));
        if spawned.is_err() {
            log::error!("cannot start a websocket reader; closing the connection");
            writer.close(ws::policy_close(), "server busy");
            return;
        }
        if let Err(err) = stream.run(&mut writer) {
            log::debug!("websocket stream ended: {err}");
        }
        writer.close(ws::normal_close(), "bye");
    }
}

impl EventStream {
    /// Subscribes first, so nothing committed from now on can be missed.
    fn open(app: &App, caller: &Caller, resume: Option<EventId>) -> Result<EventStream, ApiError> {
        let subscription = app
            .realtime
            .hub
            .subscribe(caller.user.id, caller.session.id)
            .map_err(|_| ApiError::busy())?;
        Ok(EventStream {
            pool: app.pool.clone(),
            user: caller.user.id,
            resume,
            subscription,
        })
    }

    fn run(self, sink: &mut impl Sink) -> Result<(), StreamError> {
        let mut last = self.catch_up(sink)?;
        loop {
            match self.subscription.frames.recv_timeout(sink.tick()) {
                Ok(Frame::Stored(event)) if event.id <= last => {}
                Ok(Frame::Stored(event)) => {
                    sink.stored(event.id, &event.kind, &event.data)?;
                    last = event.id;
                }
                Ok(Frame::Ephemeral { kind, data }) => sink.ephemeral(kind, &data)?,
                Err(RecvTimeoutError::Timeout) => {}
                // Closed by logout or revocation, or dropped for falling behind.
                Err(RecvTimeoutError::Disconnected) => {
                    sink.closed_by_server();
                    return Ok(());
                }
            }
            if !sink.service()? {
                return Ok(());
            }
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
