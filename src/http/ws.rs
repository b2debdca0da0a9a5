//! WebSocket on a taken-over connection (RFC 6455, framing by `tungstenite`): the handshake,
//! and a connection split into a reader, which hands client frames to the realtime layer's
//! `Typist`, and a writer, the `Sink` the stream engine runs on, so the server can push while
//! the client is silent. tungstenite cannot be shared between threads, so each side has its
//! own codec: the reader's automatic replies (pongs, the closing handshake) are passed to the
//! writer as whole frames and written between its own, never interleaved with them.
//!
//! A client can make the server write (answers, pongs) without ever reading, so what waits
//! for the writer is bounded: past `REPLY_QUEUE` the client is too slow and is closed, and
//! client frames are rate-limited per connection (see `FrameBudget`), so a flood costs the
//! server a bounded amount of memory and one connection's worth of work.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use rouille::{Request, Response, ResponseBody};
use tungstenite::protocol::frame::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{Role, WebSocketConfig};
use tungstenite::{Message, WebSocket};

use super::rouille_bridge::{self, HandOff, TakeOver};
use crate::error::{ApiError, Kind};
use crate::realtime::client::{Typist, error_reply};
use crate::realtime::event::WireEvent;
use crate::realtime::stream::{Ending, EventStream, Sink};

/// The largest frame or message a client may send.
pub const MAX_FRAME: usize = 64 * 1024;
/// The server pings this often, and closes a connection whose client has not answered
/// within `PONG_TIMEOUT`.
const PING_INTERVAL: Duration = Duration::from_secs(15);
const PONG_TIMEOUT: Duration = Duration::from_secs(45);
/// Replies a connection may have waiting for the writer (on top of the hub's event queue).
/// A client that sends frames without reading the answers fills it and is closed as too slow.
const REPLY_QUEUE: usize = 32;
/// How long a reply waits for room in a full queue before the client counts as too slow,
/// and how often it looks.
const REPLY_WAIT: Duration = Duration::from_secs(1);
const REPLY_POLL: Duration = Duration::from_millis(1);
/// How often the writer passes on replies and pings when no event comes: soon while replies
/// are flowing (the queue is small), rarely when the connection is quiet.
const BUSY_TICK: Duration = Duration::from_millis(1);
const QUIET_TICK: Duration = Duration::from_millis(50);

/// How many frames a client may send: a bucket of `burst` frames that refills at
/// `per_minute`. Frames past it are dropped (the first one answered with an error); a client
/// that sends another `burst` frames regardless is disconnected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRate {
    pub per_minute: u32,
    pub burst: u32,
}

/// Close code for a revoked or expired session (application range 4000-4999).
const SESSION_ENDED: u16 = 4001;

/// Each way the server ends a WebSocket has its own close code and reason: 4001 for a
/// session that ended (do not retry), 1008 for a client that broke the rules or a busy
/// server, 1001 for going away, 1000 for a normal end.
fn close_frame(ending: Ending) -> (CloseCode, &'static str) {
    match ending {
        Ending::Revoked => (CloseCode::from(SESSION_ENDED), "session revoked"),
        Ending::Expired => (CloseCode::from(SESSION_ENDED), "session expired"),
        Ending::TooSlow => (CloseCode::Policy, "too slow; resume with since"),
        Ending::TooManyFrames => (CloseCode::Policy, "too many frames"),
        Ending::GoingAway => (CloseCode::Away, "going away"),
        Ending::NoPong => (CloseCode::Away, "no pong"),
        Ending::Busy => (CloseCode::Policy, "server busy"),
        Ending::Bye => (CloseCode::Normal, "bye"),
    }
}

/// Checks the upgrade request and returns the `Sec-WebSocket-Accept` value.
pub fn handshake(request: &Request) -> Result<String, ApiError> {
    let has_token = |header: &str, token: &str| {
        request.header(header).is_some_and(|value| {
            value
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case(token))
        })
    };
    let key = request.header("Sec-WebSocket-Key").map(str::trim);
    match key {
        Some(key)
            if has_token("Upgrade", "websocket")
                && has_token("Connection", "upgrade")
                && request.header("Sec-WebSocket-Version").map(str::trim) == Some("13") =>
        {
            Ok(tungstenite::handshake::derive_accept_key(key.as_bytes()))
        }
        _ => Err(ApiError::new(
            Kind::InvalidParameter,
            "This endpoint takes a WebSocket upgrade (version 13)",
        )),
    }
}

/// `101 Switching Protocols`; the session runs once the head is out: `stream` on this
/// thread, the client's frames (at most `rate`) answered by `typist` on a reader thread.
pub fn response(accept: String, stream: EventStream, typist: Typist, rate: FrameRate) -> Response {
    Response {
        status_code: 101,
        headers: vec![
            ("Upgrade".into(), "websocket".into()),
            ("Connection".into(), "Upgrade".into()),
            ("Sec-WebSocket-Accept".into(), accept.into()),
        ],
        data: ResponseBody::empty(),
        upgrade: Some(rouille_bridge::upgrade(WsUpgrade(stream, typist, rate))),
    }
}

/// Runs a WebSocket session: a reader thread for client frames, the events on this thread.
struct WsUpgrade(EventStream, Typist, FrameRate);

impl TakeOver for WsUpgrade {
    fn take_over(self, connection: HandOff) {
        let WsUpgrade(stream, typist, rate) = self;
        let (reader, mut writer) = match split(connection, rate) {
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

/// What the reader hands the writer.
enum Outgoing {
    /// Frames the reader's codec produced (pong, close reply), ready to go on the wire.
    Frames(Vec<u8>),
    /// A text message to send, such as the answer to a client frame.
    Text(String),
}

/// Why the reader stopped reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReaderEnd {
    /// The client closed, or the connection failed.
    Gone,
    /// The reply queue was full.
    TooSlow,
    /// The client sent frames past its rate.
    TooManyFrames,
}

/// The reader's socket: reads from the connection, and passes anything its codec writes to
/// the writer instead of writing it itself.
struct ReaderSocket {
    stream: TcpStream,
    to_writer: SyncSender<Outgoing>,
    /// Set when the reply queue was full, so the failed read is known as "too slow".
    overflowed: bool,
}

impl ReaderSocket {
    /// Queues something for the writer, waiting up to `REPLY_WAIT` for room (the writer
    /// passes replies on between events, so a burst may briefly fill the queue); a queue that
    /// stays full means the client is not reading, which is an error.
    fn queue(&mut self, outgoing: Outgoing) -> io::Result<()> {
        let deadline = Instant::now() + REPLY_WAIT;
        let mut outgoing = outgoing;
        loop {
            match self.to_writer.try_send(outgoing) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Full(back)) if Instant::now() < deadline => {
                    outgoing = back;
                    std::thread::sleep(REPLY_POLL);
                }
                Err(TrySendError::Full(_)) => {
                    self.overflowed = true;
                    return Err(io::Error::other("reply queue full"));
                }
                Err(TrySendError::Disconnected(_)) => {
                    return Err(io::Error::from(io::ErrorKind::BrokenPipe));
                }
            }
        }
    }
}

impl Read for ReaderSocket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.read(buf)
    }
}

impl Write for ReaderSocket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.queue(Outgoing::Frames(buf.to_vec()))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct WsReader {
    socket: WebSocket<ReaderSocket>,
    ended: Arc<OnceLock<ReaderEnd>>,
    last_pong: Arc<Mutex<Instant>>,
    budget: FrameBudget,
}

struct WsWriter {
    socket: WebSocket<TcpStream>,
    from_reader: Receiver<Outgoing>,
    /// Set by the reader when it stops, before it lets go of the queue.
    reader_ended: Arc<OnceLock<ReaderEnd>>,
    last_pong: Arc<Mutex<Instant>>,
    last_ping: Instant,
    /// Whether the last service passed on any replies.
    busy: bool,
}

fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_frame_size(Some(MAX_FRAME))
        .max_message_size(Some(MAX_FRAME))
}

/// Splits a handed-off connection into its reader, whose client may send frames at `rate`,
/// and its writer.
fn split(connection: HandOff, rate: FrameRate) -> io::Result<(WsReader, WsWriter)> {
    let (to_writer, from_reader) = sync_channel(REPLY_QUEUE);
    let reader_socket = ReaderSocket {
        stream: connection.stream.try_clone()?,
        to_writer,
        overflowed: false,
    };
    let ended = Arc::new(OnceLock::new());
    let last_pong = Arc::new(Mutex::new(Instant::now()));
    let reader = WsReader {
        socket: WebSocket::from_partially_read(
            reader_socket,
            connection.leftover,
            Role::Server,
            Some(config()),
        ),
        ended: Arc::clone(&ended),
        last_pong: Arc::clone(&last_pong),
        budget: FrameBudget::new(rate, Instant::now()),
    };
    // The layer left a read deadline on the socket; the reader waits for client frames
    // without one (server pings and the pong timeout bound a dead client).
    connection.stream.set_read_timeout(None)?;
    let writer = WsWriter {
        socket: WebSocket::from_raw_socket(connection.stream, Role::Server, Some(config())),
        from_reader,
        reader_ended: ended,
        last_pong,
        last_ping: Instant::now(),
        busy: false,
    };
    Ok((reader, writer))
}

impl WsReader {
    /// Reads client messages until the connection ends, the client floods, or it stops
    /// reading what it is sent; `answer` turns each text message into an optional reply.
    /// Binary messages get an error reply; control frames are handled by the codec.
    fn run(mut self, mut answer: impl FnMut(&str) -> Option<String>) {
        let end = loop {
            let message = match self.socket.read() {
                Ok(message) => message,
                Err(err) => break self.read_failed(&err),
            };
            let reply = match self.budget.charge(Instant::now()) {
                Verdict::Serve => self.reply_to(&message, &mut answer),
                Verdict::Drop { first: true } => Some(error_reply("too many frames; slow down")),
                Verdict::Drop { first: false } => None,
                Verdict::Disconnect => break ReaderEnd::TooManyFrames,
            };
            if let Some(reply) = reply
                && self.socket.get_mut().queue(Outgoing::Text(reply)).is_err()
            {
                break ReaderEnd::TooSlow;
            }
        };
        log::debug!("websocket reader stopped: {end:?}");
        // Recorded before the queue's sender drops with `self`, so the writer sees why.
        let _ = self.ended.set(end);
    }

    fn reply_to(
        &self,
        message: &Message,
        answer: &mut impl FnMut(&str) -> Option<String>,
    ) -> Option<String> {
        match message {
            Message::Text(text) => answer(text.as_str()),
            Message::Binary(_) => Some(error_reply("frames must be JSON text")),
            Message::Pong(_) => {
                *self
                    .last_pong
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Instant::now();
                None
            }
            _ => None,
        }
    }

    fn read_failed(&self, err: &tungstenite::Error) -> ReaderEnd {
        if self.socket.get_ref().overflowed {
            ReaderEnd::TooSlow
        } else {
            log::debug!("websocket read ended: {err}");
            ReaderEnd::Gone
        }
    }
}

/// What to do with one client frame.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Serve,
    /// Over the rate: ignored; the first of a run is answered with an error.
    Drop {
        first: bool,
    },
    Disconnect,
}

/// A token bucket counted in whole frames: a frame is earned every minute/`per_minute`, and
/// not before, so a test that sends a few frames never races the refill.
#[derive(Debug)]
struct FrameBudget {
    rate: FrameRate,
    /// Frames left; below zero, how many have been dropped (down to `-burst`).
    tokens: i64,
    /// When the last frame was earned (or the bucket was last full).
    earned_at: Instant,
    limited: bool,
}

impl FrameBudget {
    fn new(rate: FrameRate, now: Instant) -> FrameBudget {
        FrameBudget {
            rate,
            tokens: i64::from(rate.burst),
            earned_at: now,
            limited: false,
        }
    }

    fn charge(&mut self, now: Instant) -> Verdict {
        self.refill(now);
        if self.tokens > 0 {
            self.tokens -= 1;
            self.limited = false;
            return Verdict::Serve;
        }
        if self.tokens > -i64::from(self.rate.burst) {
            self.tokens -= 1;
            let first = !self.limited;
            self.limited = true;
            return Verdict::Drop { first };
        }
        Verdict::Disconnect
    }

    fn refill(&mut self, now: Instant) {
        let burst = i64::from(self.rate.burst);
        let every = Duration::from_secs(60) / self.rate.per_minute.max(1);
        let earned = now.duration_since(self.earned_at).as_nanos() / every.as_nanos().max(1);
        let earned = i64::try_from(earned).unwrap_or(i64::MAX);
        if earned > 0 {
            self.tokens = self.tokens.saturating_add(earned).min(burst);
            self.earned_at = if self.tokens == burst {
                now
            } else {
                // Only the whole frames earned are spent from the elapsed time.
                self.earned_at + every * u32::try_from(earned).unwrap_or(u32::MAX)
            };
        }
    }
}

impl WsWriter {
    fn text(&mut self, text: String) -> io::Result<()> {
        self.socket.send(Message::text(text)).map_err(to_io)
    }

    /// Sends a close frame saying why, then ends the connection. Only the first close of a
    /// connection reaches the client.
    fn close(&mut self, ending: Ending) {
        let (code, reason) = close_frame(ending);
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        // The client may be gone already; the socket is shut either way.
        let _ = self.socket.close(Some(frame));
        let _ = self.socket.flush();
        let _ = self.socket.get_ref().shutdown(Shutdown::Both);
    }
}

/// Server frames are `{"id", "resume", "type", "data"}` text.
impl Sink for WsWriter {
    fn send(&mut self, event: &WireEvent) -> io::Result<()> {
        self.text(event.json())
    }

    /// Passes on what the reader produced, pings, and enforces the pong timeout. False once
    /// the connection should end (closed with the reason, if the server ended it).
    fn service(&mut self) -> io::Result<bool> {
        self.busy = false;
        loop {
            match self.from_reader.try_recv() {
                Ok(Outgoing::Frames(bytes)) => self.socket.get_mut().write_all(&bytes)?,
                Ok(Outgoing::Text(text)) => self.text(text)?,
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
            self.busy = true;
        }
        match self.reader_ended.get() {
            Some(ReaderEnd::Gone) => return Ok(false),
            Some(ReaderEnd::TooSlow) => {
                self.close(Ending::TooSlow);
                return Ok(false);
            }
            Some(ReaderEnd::TooManyFrames) => {
                self.close(Ending::TooManyFrames);
                return Ok(false);
            }
            None => {}
        }
        let last_pong = *self
            .last_pong
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if last_pong.elapsed() > PONG_TIMEOUT {
            self.close(Ending::NoPong);
            return Ok(false);
        }
        if self.last_ping.elapsed() >= PING_INTERVAL {
            self.socket
                .send(Message::Ping(Vec::new().into()))
                .map_err(to_io)?;
            self.last_ping = Instant::now();
        }
        Ok(true)
    }

    fn tick(&self) -> Duration {
        if self.busy { BUSY_TICK } else { QUIET_TICK }
    }

    fn closed_by_server(&mut self, ending: Ending) {
        self.close(ending);
    }
}

fn to_io(err: tungstenite::Error) -> io::Error {
    match err {
        tungstenite::Error::Io(err) => err,
        other => io::Error::other(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(per_minute: u32, burst: u32) -> FrameRate {
        FrameRate { per_minute, burst }
    }

    #[test]
    fn a_burst_is_served_then_as_many_dropped_then_the_client_is_disconnected() {
        let now = Instant::now();
        let mut budget = FrameBudget::new(rate(1, 3), now);
        let verdicts: Vec<Verdict> = (0..7).map(|_| budget.charge(now)).collect();
        assert_eq!(
            verdicts,
            vec![
                Verdict::Serve,
                Verdict::Serve,
                Verdict::Serve,
                Verdict::Drop { first: true },
                Verdict::Drop { first: false },
                Verdict::Drop { first: false },
                Verdict::Disconnect,
            ]
        );
    }

    #[test]
    fn frames_are_earned_whole_at_the_rate_and_never_past_the_burst() {
        let start = Instant::now();
        let mut budget = FrameBudget::new(rate(60, 2), start);
        assert_eq!(budget.charge(start), Verdict::Serve);
        assert_eq!(budget.charge(start), Verdict::Serve);
        assert_eq!(budget.charge(start), Verdict::Drop { first: true });
        let almost = start + Duration::from_millis(999);
        assert_eq!(budget.charge(almost), Verdict::Drop { first: false });
        // Three seconds earn three frames at 60 a minute: two pay for the dropped ones.
        let later = start + Duration::from_secs(3);
        assert_eq!(budget.charge(later), Verdict::Serve);
        assert_eq!(budget.charge(later), Verdict::Drop { first: true });
        let much_later = start + Duration::from_secs(3600);
        let served = (0..5)
            .filter(|_| budget.charge(much_later) == Verdict::Serve)
            .count();
        assert_eq!(served, 2, "an idle hour still leaves a burst of two");
    }

    #[test]
    fn close_frames_say_why() {
        assert_eq!(
            close_frame(Ending::Revoked),
            (CloseCode::from(4001), "session revoked")
        );
        assert_eq!(close_frame(Ending::GoingAway).0, CloseCode::Away);
        assert_ne!(
            close_frame(Ending::TooSlow).1,
            close_frame(Ending::Revoked).1
        );
    }
}
