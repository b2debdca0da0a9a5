//! Realtime over WebSocket: the same events as SSE, client frames, resume, closing.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::client::IntoClientRequest;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

use crate::realtime::{EVERY_KIND, every_kind_of_change};
use crate::util::{TestServer, TestUser};

type Socket = WebSocket<MaybeTlsStream<TcpStream>>;

fn connect(server: &TestServer, user: &TestUser, query: &str) -> Socket {
    let url = format!("{}/api/ws{query}", server.base.replace("http://", "ws://"));
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
fn next(socket: &mut Socket) -> Option<Value> {
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

fn send(socket: &mut Socket, frame: &str) {
    socket.send(Message::text(frame.to_owned())).expect("send");
}

#[test]
fn events_arrive_as_frames_and_client_frames_are_answered() {
    let server = TestServer::start();
    let ada = server.user("Ada");
    let bob = server.user("Bob");
    let mut socket = connect(&server, &ada, "");
    send(&mut socket, r#"{"type":"ping"}"#);
    assert_eq!(next(&mut socket), Some(json!({"type": "pong"})));
    send(&mut socket, "not json");
    assert_eq!(next(&mut socket).expect("error frame")["type"], "error");
    send(&mut socket, r#"{"type":"dance"}"#);
    assert_eq!(next(&mut socket).expect("error frame")["type"], "error");

    let id = server.group(&bob.token, &[ada.id]);
    let created = next(&mut socket).expect("conversation.created");
    assert_eq!(created["type"], "conversation.created");
    assert!(created["id"].as_i64().is_some());
    let mid = server.say(&bob.token, id, "over the socket");
    let frame = next(&mut socket).expect("message.created");
    assert_eq!(frame["type"], "message.created");
    assert_eq!(frame["data"]["message"]["id"], mid);
    assert!(frame["id"].as_i64() > created["id"].as_i64());
}

#[test]
fn a_member_receives_every_kind_of_event_and_a_non_member_none() {
    let server = TestServer::start();
    let ada = server.user("Ada");
    let bob = server.user("Bob");
    let eve = server.user("Eve");
    let mut ada_socket = connect(&server, &ada, "");
    let mut eve_socket = connect(&server, &eve, "");
    every_kind_of_change(&server, &bob, &ada);
    let kinds: Vec<Value> = (0..7)
        .map(|_| next(&mut ada_socket).expect("event")["type"].clone())
        .collect();
    let expected: Vec<Value> = EVERY_KIND.iter().map(|k| json!(k)).collect();
    assert_eq!(kinds, expected);
    if let MaybeTlsStream::Plain(stream) = eve_socket.get_ref() {
        stream
            .set_read_timeout(Some(Duration::from_millis(500)))
            .expect("timeout");
    }
    assert!(eve_socket.read().is_err(), "nothing for a non-member");
}

#[test]
fn typing_frames_reach_the_other_members() {
    let server = TestServer::start();
    let ada = server.user("Ada");
    let bob = server.user("Bob");
    let id = server.group(&ada.token, &[bob.id]);
    let mut ada_socket = connect(&server, &ada, "");
    let mut bob_socket = connect(&server, &bob, "");
    send(
        &mut ada_socket,
        &json!({"type": "typing", "conversation_id": id}).to_string(),
    );
    let typing = next(&mut bob_socket).expect("typing");
    assert_eq!(
        typing,
        json!({"id": null, "type": "typing", "data": {"conversation_id": id, "user": {"id": ada.id, "name": "Ada"}}})
    );
    send(
        &mut ada_socket,
        &json!({"type": "typing", "conversation_id": 999_999}).to_string(),
    );
    assert_eq!(next(&mut ada_socket).expect("error")["type"], "error");
}

#[test]
fn a_socket_resumes_from_since_without_gaps() {
    let server = TestServer::start();
    let ada = server.user("Ada");
    let bob = server.user("Bob");
    let id = server.group(&bob.token, &[ada.id]);
    let mut socket = connect(&server, &ada, "");
    server.say(&bob.token, id, "seen");
    let seen = next(&mut socket).expect("seen");
    drop(socket);
    let missed: Vec<i64> = (0..100)
        .map(|i| server.say(&bob.token, id, &format!("m{i}")))
        .collect();
    let mut resumed = connect(&server, &ada, &format!("?since={}", seen["id"]));
    let got: Vec<Value> = (0..100)
        .map(|_| next(&mut resumed).expect("missed")["data"]["message"]["id"].clone())
        .collect();
    let expected: Vec<Value> = missed.iter().map(|m| json!(m)).collect();
    assert_eq!(got, expected);
}

#[test]
fn logout_closes_the_socket_with_a_close_frame() {
    let server = TestServer::start();
    let ada = server.user("Ada");
    let mut socket = connect(&server, &ada, "");
    server
        .request("POST", "/api/auth/logout")
        .token(&ada.token)
        .send();
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut closed = false;
    while Instant::now() < deadline && !closed {
        closed = matches!(socket.read(), Ok(Message::Close(_)) | Err(_));
    }
    assert!(closed);
}

#[test]
fn oversized_frames_end_the_connection_and_plain_requests_are_refused() {
    let server = TestServer::start();
    let ada = server.user("Ada");
    let mut socket = connect(&server, &ada, "");
    let _ = socket.send(Message::text("x".repeat(65 * 1024)));
    assert!(next(&mut socket).is_none(), "the server closed it");
    let reply = server.get("/api/ws", &ada.token);
    reply.assert_error(400, "invalid_parameter");
    let refused = tungstenite::connect(format!(
        "{}/api/ws",
        server.base.replace("http://", "ws://")
    ));
    assert!(refused.is_err(), "no token, no socket");
}
