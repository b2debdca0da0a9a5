//! WebSocket on a taken-over connection (RFC 6455, framing by `tungstenite`): the handshake,
//! and a connection split into a reader and a writer so the server can push while the client
//! is silent. tungstenite cannot be shared between threads, so each side has its own codec:
//! the reader's automatic replies (pongs, the closing handshake) are passed to the writer as
//! whole frames and written between its own, never interleaved with them.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::time::{Duration, Instant};

use rouille::{Request, Response, ResponseBody, Upgrade};
use tungstenite::protocol::frame::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{Role, WebSocketConfig};
use tungstenite::{Message, WebSocket};

use super::server::HandOff;
use crate::error::{ApiError, Kind};

/// The largest frame or message a client may send.
pub const MAX_FRAME: usize = 64 * 1024;
/// The server pings this often, and closes a connection whose client has not answered
/// within `PONG_TIMEOUT`.
const PING_INTERVAL: Duration = Duration::from_secs(15);
const PONG_TIMEOUT: Duration = Duration::from_secs(45);

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

/// `101 Switching Protocols`; `upgrade` runs the session once the head is out.
pub fn response(accept: String, upgrade: Box<dyn Upgrade + Send>) -> Response {
    Response {
        status_code: 101,
        headers: vec![
            ("Upgrade".into(), "websocket".into()),
            ("Connection".into(), "Upgrade".into()),
            ("Sec-WebSocket-Accept".into(), accept.into()),
        ],
        data: ResponseBody::empty(),
        upgrade: Some(upgrade),
    }
}

/// What the reader hands the writer.
enum Outgoing {
    /// Frames the reader's codec produced (pong, close reply), ready to go on the wire.
    Frames(Vec<u8>),
    /// A text message to send, such as the answer to a client frame.
    Text(String),
}

/// The reader's socket: reads from the connection, and passes anything its codec writes to
/// the writer instead of writing it itself.
struct ReaderSocket {
    stream: TcpStream,
    to_writer: Sender<Outgoing>,
}

impl Read for ReaderSocket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.read(buf)
    }
}

impl Write for ReaderSocket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.to_writer
            .send(Outgoing::Frames(buf.to_vec()))
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

pub struct WsReader {
    socket: WebSocket<ReaderSocket>,
    alive: Arc<AtomicBool>,
    last_pong: Arc<std::sync::Mutex<Instant>>,
}

pub struct WsWriter {
    socket: WebSocket<TcpStream>,
    from_reader: Receiver<Outgoing>,
    alive: Arc<AtomicBool>,
    last_pong: Arc<std::sync::Mutex<Instant>>,
    last_ping: Instant,
}

fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_frame_size(Some(MAX_FRAME))
        .max_message_size(Some(MAX_FRAME))
}

/// Splits a handed-off connection into its reader and writer.
pub fn split(connection: HandOff) -> io::Result<(WsReader, WsWriter)> {
    let (to_writer, from_reader) = channel();
    let reader_socket = ReaderSocket {
        stream: connection.stream.try_clone()?,
        to_writer,
    };
    let alive = Arc::new(AtomicBool::new(true));
    let last_pong = Arc::new(std::sync::Mutex::new(Instant::now()));
    let reader = WsReader {
        socket: WebSocket::from_partially_read(
            reader_socket,
            connection.leftover,
            Role::Server,
            Some(config()),
        ),
        alive: Arc::clone(&alive),
        last_pong: Arc::clone(&last_pong),
    };
    // The layer left a read deadline on the socket; the reader waits for client frames
    // without one (server pings and the pong timeout bound a dead client).
    connection.stream.set_read_timeout(None)?;
    let writer = WsWriter {
        socket: WebSocket::from_raw_socket(connection.stream, Role::Server, Some(config())),
        from_reader,
        alive,
        last_pong,
        last_ping: Instant::now(),
    };
    Ok((reader, writer))
}

impl WsReader {
    /// Reads client messages until the connection ends; `answer` turns each text message
    /// into an optional reply. Binary messages get an error reply; control frames are
    /// handled by the codec.
    pub fn run(mut self, mut answer: impl FnMut(&str) -> Option<String>) {
        loop {
            let reply = match self.socket.read() {
                Ok(Message::Text(text)) => answer(text.as_str()),
                Ok(Message::Binary(_)) => {
                    Some(r#"{"type":"error","message":"frames must be JSON text"}"#.to_owned())
                }
                Ok(Message::Pong(_)) => {
                    *self
                        .last_pong
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = Instant::now();
                    None
                }
                Ok(_) => None,
                Err(err) => {
                    log::debug!("websocket read ended: {err}");
                    break;
                }
            };
            if let Some(reply) = reply {
                let _ = self.socket.get_mut().to_writer.send(Outgoing::Text(reply));
            }
        }
        self.alive.store(false, Ordering::SeqCst);
    }
}

impl WsWriter {
    pub fn text(&mut self, text: String) -> io::Result<()> {
        self.socket.send(Message::text(text)).map_err(to_io)
    }

    /// A stored event as `{"id", "type", "data"}`; `data` is already JSON and goes in as is.
    pub fn stored(&mut self, id: i64, kind: &str, data: &str) -> io::Result<()> {
        self.text(format!(r#"{{"id":{id},"type":"{kind}","data":{data}}}"#))
    }

    /// An event without an id (typing, resync): `{"id": null, "type", "data"}`.
    pub fn ephemeral(&mut self, kind: &str, data: &str) -> io::Result<()> {
        self.text(format!(r#"{{"id":null,"type":"{kind}","data":{data}}}"#))
    }

    /// Passes on what the reader produced, pings, and enforces the pong timeout. False once
    /// the connection should end.
    pub fn service(&mut self) -> io::Result<bool> {
        loop {
            match self.from_reader.try_recv() {
                Ok(Outgoing::Frames(bytes)) => self.socket.get_mut().write_all(&bytes)?,
                Ok(Outgoing::Text(text)) => self.text(text)?,
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return Ok(false),
            }
        }
        if !self.alive.load(Ordering::SeqCst) {
            return Ok(false);
        }
        let last_pong = *self
            .last_pong
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if last_pong.elapsed() > PONG_TIMEOUT {
            self.close(CloseCode::Away, "no pong");
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

    /// Sends a close frame with a reason, then ends the connection.
    pub fn close(&mut self, code: CloseCode, reason: &str) {
        let frame = CloseFrame {
            code,
            reason: reason.to_owned().into(),
        };
        // The client may be gone already; the socket is shut either way.
        let _ = self.socket.close(Some(frame));
        let _ = self.socket.flush();
        let _ = self.socket.get_ref().shutdown(Shutdown::Both);
    }
}

/// The policy close code, for a stream the server ended (logout, too slow).
pub fn policy_close() -> CloseCode {
    CloseCode::Policy
}

/// The normal close code, for a session that simply ends.
pub fn normal_close() -> CloseCode {
    CloseCode::Normal
}

fn to_io(err: tungstenite::Error) -> io::Error {
    match err {
        tungstenite::Error::Io(err) => err,
        other => io::Error::other(other.to_string()),
    }
}
