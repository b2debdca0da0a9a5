//! Server-Sent Events on a taken-over connection: the response head, then the stream engine
//! runs with this transport as its `Sink`, each event written and flushed on its own (`id`,
//! `event`, `data` lines; a `: ping` comment to keep proxies from closing an idle stream).

use std::io::{self, ErrorKind, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use rouille::{Response, ResponseBody};

use super::rouille_bridge::{self, HandOff, TakeOver};
use crate::realtime::event::WireEvent;
use crate::realtime::stream::{EventStream, Sink};

/// The head of an event stream; `stream` runs once the head is out.
pub fn response(stream: EventStream) -> Response {
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
        upgrade: Some(rouille_bridge::upgrade(SseUpgrade(stream))),
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

/// A comment at least this often keeps proxies from closing an idle stream.
const PING_INTERVAL: Duration = Duration::from_secs(15);
/// How often an idle stream checks whether its client has gone, so its place is freed soon.
const LIVENESS_CHECK: Duration = Duration::from_secs(1);

/// Writes events to the client; each `write_all` goes straight to the socket.
struct SseWriter {
    stream: TcpStream,
    last_write: Instant,
    last_check: Instant,
}

impl SseWriter {
    fn new(stream: TcpStream) -> SseWriter {
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
        if self.last_write.elapsed() >= PING_INTERVAL {
            self.write(b": ping\n\n")?;
        }
        if self.last_check.elapsed() >= LIVENESS_CHECK {
            self.last_check = Instant::now();
            return Ok(!self.client_gone());
        }
        Ok(true)
    }

    fn tick(&self) -> Duration {
        LIVENESS_CHECK
    }
}
