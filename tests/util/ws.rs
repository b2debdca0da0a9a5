//! A WebSocket client for `GET /api/ws` (framing by `tungstenite`): connect, read the
//! server's JSON frames and its close frame, send client frames.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::client::IntoClientRequest;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

use super::{TestServer, TestUser};

pub type Socket = WebSocket<MaybeTlsStream<TcpStream>>;

/// The client frame that asks for a pong.
pub const PING: &str = r#"{"type":"ping"}"#;

/// Opens `/api/ws{query}` as `user`; reads wait 5 s at most.
pub fn connect(server: &TestServer, user: &TestUser, query: &str) -> Socket {
    let url = format!("ws://{}/api/ws{query}", server.addr());
    let mut request = url.into_client_request().expect("request");
    let bearer = format!("Bearer {}", user.token).parse().expect("header");
    request.headers_mut().insert("Authorization", bearer);
    let (socket, response) = tungstenite::connect(request).expect("websocket handshake");
    assert_eq!(response.status().as_u16(), 101);
    if let MaybeTlsStream::Plain(stream) = socket.get_ref() {
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
    }
    socket
}

/// The next text frame as JSON, or `None` if the connection ended or nothing came in time.
pub fn next(socket: &mut Socket) -> Option<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        match socket.read() {
            Ok(Message::Text(text)) => {
                return Some(serde_json::from_str(text.as_str()).expect("json"));
            }
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
    None
}

pub fn send(socket: &mut Socket, frame: &str) {
    socket.send(Message::text(frame.to_owned())).expect("send");
}

/// Sends a ping frame; true if the next frame is its pong.
pub fn answers_ping(socket: &mut Socket) -> bool {
    send(socket, PING);
    next(socket) == Some(json!({"type": "pong"}))
}

/// Reads past any other frames to the server's close frame: its code and reason, or `None`
/// if the connection ended without one (or nothing came for 5 s).
pub fn close_frame(socket: &mut Socket) -> Option<(u16, String)> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        match socket.read() {
            Ok(Message::Close(Some(frame))) => {
                return Some((u16::from(frame.code), frame.reason.to_string()));
            }
            Ok(Message::Close(None)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
    None
}

/// What `close_frame` returns for a close with `code` and `reason`.
pub fn close_of(code: u16, reason: &str) -> Option<(u16, String)> {
    Some((code, reason.to_owned()))
}
