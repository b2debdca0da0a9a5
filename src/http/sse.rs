//! Server-Sent Events on a taken-over connection: the response head, and each event written
//! and flushed on its own (`id`, `event`, `data` lines; a `: ping` comment to keep proxies
//! from closing an idle stream).

use std::io::{self, ErrorKind, Write};
use std::net::TcpStream;

use rouille::{Response, ResponseBody, Upgrade};

/// The head of an event stream; the body is written by `upgrade` once the head is out.
pub fn response(upgrade: Box<dyn Upgrade + Send>) -> Response {
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
        upgrade: Some(upgrade),
    }
}

/// Writes events to the client; each `write_all` goes straight to the socket.
pub struct SseWriter(pub TcpStream);

impl SseWriter {
    /// A stored event, with its id for `Last-Event-ID`.
    pub fn stored(&mut self, id: i64, kind: &str, data: &str) -> io::Result<()> {
        self.0
            .write_all(format!("id: {id}\nevent: {kind}\ndata: {data}\n\n").as_bytes())
    }

    /// An event without an id (typing, resync).
    pub fn ephemeral(&mut self, kind: &str, data: &str) -> io::Result<()> {
        self.0
            .write_all(format!("event: {kind}\ndata: {data}\n\n").as_bytes())
    }

    pub fn ping(&mut self) -> io::Result<()> {
        self.0.write_all(b": ping\n\n")
    }

    /// Whether the client has closed its end. An SSE client sends nothing after its request,
    /// so end-of-stream (or an error) on a non-blocking peek means it has gone.
    pub fn client_gone(&self) -> bool {
        if self.0.set_nonblocking(true).is_err() {
            return true;
        }
        let gone = match self.0.peek(&mut [0u8; 1]) {
            Ok(0) => true,
            Ok(_) => false,
            Err(err) => err.kind() != ErrorKind::WouldBlock,
        };
        self.0.set_nonblocking(false).is_err() || gone
    }
}
