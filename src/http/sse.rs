//! Server-Sent Events on a taken-over connection: the response head, then the stream engine
//! runs with this transport as its `Sink`, each event written and flushed on its own (`id`,
//! `event`, `data` lines; a `: ping` comment to keep proxies from closing an idle stream).
//! A client that asks for heartbeats (`?heartbeat=1`) gets a `heartbeat` event instead of the
//! comment, and one at the start: `EventSource` never shows comments to a page, so only an
//! event lets a page notice a connection that died without closing (a phone that changed
//! networks) and reconnect.

use std::io::{self, ErrorKind, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use rouille::{Response, ResponseBody};

use super::rouille_bridge::{self, HandOff, TakeOver};
use crate::realtime::event::WireEvent;
use crate::realtime::stream::{EventStream, Sink};

/// How a stream keeps itself alive while no event is due.
pub struct KeepAlive {
    /// Quiet time after which something is sent (`--sse-ping-secs`).
    pub every: Duration,
    /// Heartbeat events with this data instead of comments, when the client asked for them.
    pub heartbeat: Option<String>,
}

impl KeepAlive {
    /// What is written after each quiet interval.
    fn frame(&self) -> Vec<u8> {
        match &self.heartbeat {
            Some(data) => format!("event: heartbeat\ndata: {data}\n\n").into_bytes(),
            None => b": ping\n\n".to_vec(),
        }
    }
}

/// The head of an event stream; `stream` runs once the head is out.
pub fn response(stream: EventStream, keep_alive: KeepAlive) -> Response {
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
        upgrade: Some(rouille_bridge::upgrade(SseUpgrade(stream, keep_alive))),
    }
}

/// Runs the stream on the connection's own thread once the layer hands it over.
struct SseUpgrade(EventStream, KeepAlive);

impl TakeOver for SseUpgrade {
    fn take_over(self, connection: HandOff) {
        let SseUpgrade(stream, keep_alive) = self;
        let heartbeats = keep_alive.heartbeat.is_some();
        let mut writer = SseWriter::new(connection.stream, keep_alive);
        // The first heartbeat tells the client the interval before any quiet one has passed.
        if heartbeats && let Err(err) = writer.keep_alive() {
            log::debug!("event stream ended: {err}");
            return;
        }
        if let Err(err) = stream.run(&mut writer) {
            log::debug!("event stream ended: {err}");
        }
        // The socket closes when the writer drops.
    }
}

/// How often an idle stream checks whether its client has gone, so its place is freed soon.
const LIVENESS_CHECK: Duration = Duration::from_secs(1);

/// Writes events to the client; each `write_all` goes straight to the socket.
struct SseWriter {
    stream: TcpStream,
    keep_alive: KeepAlive,
    last_write: Instant,
    last_check: Instant,
}

impl SseWriter {
    fn new(stream: TcpStream, keep_alive: KeepAlive) -> SseWriter {
        SseWriter {
            stream,
            keep_alive,
            last_write: Instant::now(),
            last_check: Instant::now(),
        }
    }

    fn keep_alive(&mut self) -> io::Result<()> {
        let frame = self.keep_alive.frame();
        self.write(&frame)
    }

    fn write(&mut self, text: &[u8]) -> io::Result<()> {
        self.last_write = Instant::now();
        self.stream.write_all(text)
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

impl Sink for SseWriter {
    fn send(&mut self, event: &WireEvent) -> io::Result<()> {
        self.write(event.sse().as_bytes())
    }

    /// Between events: a ping when the stream has been quiet, and a check that the client is
    /// still there. False once it has gone.
    fn service(&mut self) -> io::Result<bool> {
        if self.last_write.elapsed() >= self.keep_alive.every {
            self.keep_alive()?;
        }
        if self.last_check.elapsed() >= LIVENESS_CHECK {
            self.last_check = Instant::now();
            return Ok(!self.client_gone());
        }
        Ok(true)
    }

    fn tick(&self) -> Duration {
        // A quarter of the interval at most, so a keep-alive is never much later than due.
        LIVENESS_CHECK.min(self.keep_alive.every / 4)
    }
}
