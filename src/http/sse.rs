//! Server-Sent Events on a taken-over connection: the response head, and each event written
//! and flushed on its own (`id`, `event`, `data` lines; a `: ping` comment to keep proxies
//! from closing an idle stream).

use std::io::{self, ErrorKind, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use rouille::{Response, ResponseBody};

use super::rouille_bridge::{self, TakeOver};

/// The head of an event stream; the body is written by `stream` once the head is out.
pub fn response(stream: impl TakeOver) -> Response {
    Response {
        status_code: 200,
        headers: vec![
            (
                "Content-Type".into(),
                "text/event-stream; charset=utf-8".into(),
            ),
            ("Cache-Control".into(), "no-store".into()),
            ("X-Accel-Buffering".into(), "no".into()),
            ("Connection".into(), "close".into()),
        ],
        data: ResponseBody::empty(),
        upgrade: Some(rouille_bridge::upgrade(stream)),
    }
}

/// A comment at least this often keeps proxies from closing an idle stream.
const PING_INTERVAL: Duration = Duration::from_secs(15);
/// How often an idle stream checks whether its client has gone, so its place is freed soon.
const LIVENESS_CHECK: Duration = Duration::from_secs(1);

/// Writes events to the client; each `write_all` goes straight to the socket.
pub struct SseWriter {
    stream: TcpStream,
    last_write: Instant,
    last_check: Instant,
}

impl SseWriter {
    pub fn new(stream: TcpStream) -> SseWriter {
        SseWriter {
            stream,
            last_write: Instant::now(),
            last_check: Instant::now(),
        }
    }

    fn write(&mut self, text: &[u8]) -> io::Result<()> {
        self.last_write = Instant::now();
        self.stream.write_all(text)
    }

    /// Between events: a ping when the stream has been quiet, and a check that the client is
    /// still there. False once it has gone.
    pub fn service(&mut self) -> io::Result<bool> {
        if self.last_write.elapsed() >= PING_INTERVAL {
            self.write(b": ping\n\n")?;
        }
        if self.last_check.elapsed() >= LIVENESS_CHECK {
            self.last_check = Instant::now();
            return Ok(!self.client_gone());
        }
        Ok(true)
    }

    /// How long to wait for an event before `service` is due.
    pub fn tick(&self) -> Duration {
        LIVENESS_CHECK
    }

    /// A stored event, with its id (`<epoch>-<id>`) for `Last-Event-ID`.
    pub fn stored(&mut self, id: &str, kind: &str, data: &str) -> io::Result<()> {
        self.write(format!("id: {id}\nevent: {kind}\ndata: {data}\n\n").as_bytes())
    }

    /// An event without an id (typing, resync).
    pub fn ephemeral(&mut self, kind: &str, data: &str) -> io::Result<()> {
        self.write(format!("event: {kind}\ndata: {data}\n\n").as_bytes())
    }

    /// Whether the client has closed its end. An SSE client sends nothing after its request,
    /// so end-of-stream (or an error) on a non-blocking peek means it has gone.
    fn client_gone(&self) -> bool {
        if self.stream.set_nonblocking(true).is_err() {
            return true;
        }
        let gone = match self.stream.peek(&mut [0u8; 1]) {
            Ok(0) => true,
            Ok(_) => false,
            Err(err) => err.kind() != ErrorKind::WouldBlock,
        };
        self.stream.set_nonblocking(false).is_err() || gone
    }
}
