//! Realtime streams and typing. A stream subscribes to the hub first, then backfills the
//! events stored after its resume point, then delivers live events, skipping ids it already
//! sent: every stored event after the resume point arrives exactly once, in id order.
//!
//! A stream lives no longer than its session: logout and revocation in this process end it
//! through the hub at once; expiry, and revocation by anything else that writes the database
//! (an operator's `sqlite3`, a future admin command), are found by looking the session up
//! again every `--stream-session-check` seconds and at the session's known expiry instant.
//! One query per stream per interval is cheap, and needs no channel from other processes.

use std::io;
use std::sync::Arc;
use std::sync::mpsc::RecvTimeoutError;
use std::thread;
use std::time::{Duration, Instant};

use rouille::{Request, Response};

use super::auth::{Caller, authenticate_token};
use crate::app::App;
use crate::domain::{ConversationId, EventId, SessionId, Timestamp, User, UserId};
use crate::error::ApiError;
use crate::http::rouille_bridge::{HandOff, TakeOver};
use crate::http::sse::{self, SseWriter};
use crate::http::ws::{self, Ending, FrameRate, WsWriter};
use crate::http::{Params, extract, reply};
use crate::realtime::hub::{EndReason, Frame, Hub, Subscription};
use crate::realtime::resume::{self, Epoch, ResumePoint};
use crate::repo::{self, Pool, RepoError, conversations, events, sessions};
use crate::wire::{self, Resync, Typing, WsReply};

/// Stored events read per backfill query.
const BACKFILL_BATCH: u32 = 500;

/// `GET /api/events`: Server-Sent Events. Authenticated by bearer header or `access_token`
/// (browsers' `EventSource` cannot set headers); resumes from `Last-Event-ID` or `since`.
pub fn sse(app: &App, request: &Request, _: &Params) -> Result<Response, ApiError> {
    let caller = stream_caller(app, request)?;
    let resume = match request.header("Last-Event-ID") {
        Some(id) => Some(resume_point("Last-Event-ID", id.trim())?),
        None => since(request)?,
    };
    let stream = EventStream::open(app, &caller, resume)?;
    Ok(sse::response(SseUpgrade(stream)))
}

/// `GET /api/ws`: the same events over WebSocket, resuming from `since`; client frames are
/// `{"type": "typing", "conversation_id"}` and `{"type": "ping"}`.
pub fn ws(app: &App, request: &Request, _: &Params) -> Result<Response, ApiError> {
    let accept = ws::handshake(request)?;
    let caller = stream_caller(app, request)?;
    let resume = since(request)?;
    let stream = EventStream::open(app, &caller, resume)?;
    let typist = Typist {
        pool: app.pool.clone(),
        hub: Arc::clone(&app.realtime.hub),
        user: caller.user,
    };
    let rate = FrameRate {
        per_minute: app.config.ws_frames_per_minute,
        burst: app.config.ws_frame_burst,
    };
    Ok(ws::response(accept, WsUpgrade(stream, typist, rate)))
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
                Some(id) if id > 0 => match self.typing_in(ConversationId(id)) {
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

/// One open stream: its subscription, where it resumes from, and the session it lives by.
struct EventStream {
    pool: Pool,
    user: UserId,
    resume: Option<ResumePoint>,
    epoch: Epoch,
    subscription: Subscription,
    session: SessionWatch,
}

/// What a transport does with the stream: SSE and WebSocket carry the same events.
trait Sink {
    /// A stored event; `token` is its id as the client hands it back to resume.
    fn stored(&mut self, id: EventId, token: &str, kind: &str, data: &str) -> io::Result<()>;
    fn ephemeral(&mut self, kind: &str, data: &str) -> io::Result<()>;
    /// Work between events (pings, liveness, replies); false once the stream should end.
    fn service(&mut self) -> io::Result<bool>;
    /// How long to wait for an event before `service` is due.
    fn tick(&self) -> Duration;
    /// The server ends the stream, for this reason.
    fn closed_by_server(&mut self, _: Ending) {}
}

/// An SSE client is told nothing more: the stream simply ends. `EventSource` reconnects,
/// and then meets the same `401` or the next server.
impl Sink for SseWriter {
    fn stored(&mut self, _: EventId, token: &str, kind: &str, data: &str) -> io::Result<()> {
        SseWriter::stored(self, token, kind, data)
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

/// Server frames are `{"id", "resume", "type", "data"}` text.
impl Sink for WsWriter {
    fn stored(&mut self, id: EventId, token: &str, kind: &str, data: &str) -> io::Result<()> {
        WsWriter::stored(self, id, token, kind, data)
    }

    fn ephemeral(&mut self, kind: &str, data: &str) -> io::Result<()> {
        WsWriter::ephemeral(self, kind, data)
    }

    fn service(&mut self) -> io::Result<bool> {
        WsWriter::service(self)
    }

    fn tick(&self) -> Duration {
        WsWriter::tick(self)
    }

    fn closed_by_server(&mut self, ending: Ending) {
        self.close(ending);
    }
}

/// Runs the stream on the connection's own thread once the layer hands it over.
struct SseUpgrade(EventStream);

impl TakeOver for SseUpgrade {
    fn take_over(self, connection: HandOff) {
        let SseUpgrade(stream) = self;
        let mut writer = SseWriter::new(connection.stream);
        if let Err(err) = stream.run(&mut writer) {
            log::debug!("event stream ended: {err}");
        }
        // The socket closes when the writer drops.
    }
}

/// Runs a WebSocket session: a reader thread for client frames, the events on this thread.
struct WsUpgrade(EventStream, Typist, FrameRate);

impl TakeOver for WsUpgrade {
    fn take_over(self, connection: HandOff) {
        let WsUpgrade(stream, typist, rate) = self;
        let (reader, mut writer) = match ws::split(connection, rate) {
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
            writer.close(Ending::Busy);
            return;
        }
        if let Err(err) = stream.run(&mut writer) {
            log::debug!("websocket stream ended: {err}");
        }
        writer.close(Ending::Bye);
    }
}

impl EventStream {
    /// Subscribes first, so nothing committed from now on can be missed.
    fn open(
        app: &App,
        caller: &Caller,
        resume: Option<ResumePoint>,
    ) -> Result<EventStream, ApiError> {
        let subscription = app
            .realtime
            .hub
            .subscribe(caller.user.id, caller.session.id)
            .map_err(|_| ApiError::busy())?;
        let check_every = Duration::from_secs(u64::from(app.config.stream_session_check_secs));
        Ok(EventStream {
            pool: app.pool.clone(),
            user: caller.user.id,
            resume,
            epoch: app.realtime.epoch.clone(),
            subscription,
            session: SessionWatch::new(caller.session.id, caller.session.expires_at, check_every),
        })
    }

    fn run(mut self, sink: &mut impl Sink) -> Result<(), StreamError> {
        let mut last = self.catch_up(sink)?;
        loop {
            match self.subscription.frames.recv_timeout(sink.tick()) {
                Ok(Frame::Stored(event)) if event.id <= last => {}
                Ok(Frame::Stored(event)) => {
                    let token = resume::token(&self.epoch, event.id);
                    sink.stored(event.id, &token, &event.kind, &event.data)?;
                    last = event.id;
                }
                Ok(Frame::Ephemeral { kind, data }) => sink.ephemeral(kind, &data)?,
                Err(RecvTimeoutError::Timeout) => {}
                // The hub let go of the stream; it recorded why.
                Err(RecvTimeoutError::Disconnected) => {
                    sink.closed_by_server(self.hub_ending());
                    return Ok(());
                }
            }
            if let Some(ending) = self.session.ended(&self.pool)? {
                sink.closed_by_server(ending);
                return Ok(());
            }
            if !sink.service()? {
                return Ok(());
            }
        }
    }

    fn hub_ending(&self) -> Ending {
        match self.subscription.end_reason() {
            Some(EndReason::Revoked) => Ending::Revoked,
            Some(EndReason::ShuttingDown) => Ending::GoingAway,
            Some(EndReason::TooSlow) | None => Ending::TooSlow,
        }
    }

    /// Sends what was stored after the resume point and returns the last id sent; without
    /// a resume point the stream starts at the newest event. A resume point this database
    /// cannot continue from gets one `resync` instead: one from another database, one ahead
    /// of the newest event (a restored backup), or one older than what is kept.
    fn catch_up(&self, sink: &mut impl Sink) -> Result<EventId, StreamError> {
        let newest = repo::read(&self.pool, events::newest_id)?;
        let Some(resume) = &self.resume else {
            return Ok(newest);
        };
        if let Some(reason) = self.cannot_resume(resume, newest)? {
            let data = serde_json::to_string(&Resync { reason }).unwrap_or_default();
            sink.ephemeral("resync", &data)?;
            return Ok(newest);
        }
        let mut last = resume.id;
        loop {
            let batch = repo::read(&self.pool, |conn| {
                events::after_for_member(conn, self.user, last, BACKFILL_BATCH)
            })?;
            for event in &batch {
                let token = resume::token(&self.epoch, event.id);
                sink.stored(event.id, &token, &event.kind, &event.data)?;
                last = event.id;
            }
            if batch.len() < BACKFILL_BATCH as usize {
                return Ok(last);
            }
        }
    }

    /// Why the stream cannot pick up after `resume`, if it cannot.
    fn cannot_resume(
        &self,
        resume: &ResumePoint,
        newest: EventId,
    ) -> Result<Option<&'static str>, StreamError> {
        if let Some(epoch) = &resume.epoch {
            match repo::read(&self.pool, |conn| events::epoch_end(conn, epoch))? {
                None => {
                    return Ok(Some(
                        "the resume point is from another database or a restored one; refetch",
                    ));
                }
                Some(Some(end)) if resume.id > end => {
                    return Ok(Some(
                        "the resume point is from events a restored database does not have; refetch",
                    ));
                }
                Some(_) => {}
            }
        }
        if resume.id > newest {
            return Ok(Some(
                "the resume point is ahead of the newest event (a restored database?); refetch",
            ));
        }
        if resume.id < repo::read(&self.pool, events::pruned_through)? {
            return Ok(Some(
                "the resume point is older than the events kept; refetch",
            ));
        }
        Ok(None)
    }
}

/// Keeps a stream within its session's life: looks the session up again every `every`, and
/// at its expiry instant, whichever comes first.
struct SessionWatch {
    id: SessionId,
    every: Duration,
    next_check: Instant,
}

impl SessionWatch {
    fn new(id: SessionId, expires_at: Timestamp, every: Duration) -> SessionWatch {
        SessionWatch {
            id,
            every,
            next_check: Self::due(expires_at, every),
        }
    }

    /// The next check: after `every`, or at the expiry instant if that is sooner.
    fn due(expires_at: Timestamp, every: Duration) -> Instant {
        let left_ms = u64::try_from(expires_at.0 - Timestamp::now().0).unwrap_or(0);
        Instant::now() + every.min(Duration::from_millis(left_ms))
    }

    /// How the stream must end, once its session has; `None` while it lives.
    fn ended(&mut self, pool: &Pool) -> Result<Option<Ending>, StreamError> {
        if Instant::now() < self.next_check {
            return Ok(None);
        }
        let id = self.id;
        match repo::read(pool, |conn| sessions::expiry(conn, id))? {
            None => Ok(Some(Ending::Revoked)),
            Some(expires_at) if expires_at.0 <= Timestamp::now().0 => Ok(Some(Ending::Expired)),
            Some(expires_at) => {
                self.next_check = Self::due(expires_at, self.every);
                Ok(None)
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
