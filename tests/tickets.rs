//! Stream tickets: `POST /api/events/ticket` gives a short-lived, single-use ticket that opens
//! one SSE or WebSocket stream of the caller's session instead of the session token.

use std::thread;
use std::time::Duration;

use serde_json::json;
use tungstenite::client::IntoClientRequest;

use crate::util::sse::{bearer, open};
use crate::util::{TestServer, TestUser};

/// Tickets one session may hold unspent (`auth::tickets::PER_SESSION`).
const PER_SESSION: usize = 16;

fn ticket(server: &TestServer, user: &TestUser) -> String {
    let reply = server
        .request("POST", "/api/events/ticket")
        .token(&user.token)
        .send();
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["ticket"].as_str().expect("ticket").to_owned()
}

/// The status of `GET /api/events?ticket=…` with no other credentials.
fn open_with(server: &TestServer, ticket: &str) -> u16 {
    open(server, &format!("/api/events?ticket={ticket}"), "").status
}

#[test]
fn a_ticket_opens_the_callers_stream_once() {
    let server = TestServer::start();
    let ada = server.user("Ada");
    let bob = server.user("Bob");
    let reply = server
        .request("POST", "/api/events/ticket")
        .token(&ada.token)
        .send();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["expires_in"], 30);
    let ticket = reply.body["ticket"].as_str().expect("ticket");
    let mut stream = open(&server, &format!("/api/events?ticket={ticket}"), "");
    assert_eq!(stream.status, 200);
    let conversation = server.conversation(&bob.token, &[ada.id], None);
    let id = conversation.body["conversation"]["id"]
        .as_i64()
        .expect("id");
    server.say(&bob.token, id, "hello Ada");
    let events = stream.stored(2);
    assert_eq!(events[1].kind, "message.created");
    assert_eq!(events[1].data["message"]["body"], "hello Ada");
    let again = open(&server, &format!("/api/events?ticket={ticket}"), "");
    assert_eq!(again.status, 401, "a ticket works once");
    assert_eq!(again.header("WWW-Authenticate"), Some("Bearer"));
    assert!(
        !server.log().iter().any(|line| line.contains(ticket)),
        "tickets are not logged"
    );
}

#[test]
fn a_ticket_past_its_lifetime_is_refused() {
    let server = TestServer::start_with(&["--stream-ticket-secs", "1"]);
    let ada = server.user("Ada");
    let reply = server
        .request("POST", "/api/events/ticket")
        .token(&ada.token)
        .send();
    assert_eq!(reply.body["expires_in"], 1);
    let fresh = ticket(&server, &ada);
    assert_eq!(open_with(&server, &fresh), 200, "within its lifetime");
    let stale = ticket(&server, &ada);
    thread::sleep(Duration::from_millis(1100));
    assert_eq!(open_with(&server, &stale), 401);
}

#[test]
fn tickets_need_a_session_and_die_with_it() {
    let server = TestServer::start();
    server
        .request("POST", "/api/events/ticket")
        .send()
        .assert_error(401, "unauthorized");
    assert_eq!(open_with(&server, "made-up"), 401);
    let ada = server.user("Ada");
    let unused = ticket(&server, &ada);
    let logout = server
        .request("POST", "/api/auth/logout")
        .token(&ada.token)
        .send();
    assert_eq!(logout.status, 200);
    assert_eq!(open_with(&server, &unused), 401, "the session is gone");
}

#[test]
fn a_session_holds_sixteen_unspent_tickets_and_loses_the_oldest_past_that() {
    let server = TestServer::start();
    let ada = server.user("Ada");
    let held: Vec<String> = (0..PER_SESSION).map(|_| ticket(&server, &ada)).collect();
    assert_eq!(open_with(&server, &held[0]), 200, "at the limit all work");
    // Fifteen held: two more make one past the limit, and the oldest held one goes.
    let newer = [ticket(&server, &ada), ticket(&server, &ada)];
    assert_eq!(open_with(&server, &held[1]), 401);
    assert_eq!(open_with(&server, &held[2]), 200);
    assert_eq!(open_with(&server, &newer[1]), 200);
}

#[test]
fn a_ticket_opens_a_websocket_and_the_token_in_the_query_still_works() {
    let server = TestServer::start();
    let ada = server.user("Ada");
    let url = format!(
        "ws://{}/api/ws?ticket={}",
        server.addr(),
        ticket(&server, &ada)
    );
    let request = url.as_str().into_client_request().expect("request");
    let (mut socket, response) = tungstenite::connect(request).expect("handshake");
    assert_eq!(response.status().as_u16(), 101);
    if let tungstenite::stream::MaybeTlsStream::Plain(stream) = socket.get_ref() {
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
    }
    crate::util::ws::send(&mut socket, &json!({"type": "ping"}).to_string());
    assert_eq!(
        crate::util::ws::next(&mut socket).expect("pong")["type"],
        "pong"
    );
    let by_token = open(
        &server,
        &format!("/api/events?access_token={}", ada.token),
        "",
    );
    assert_eq!(by_token.status, 200);
    assert_eq!(
        open(&server, "/api/events", &bearer(&ada.token)).status,
        200
    );
}
