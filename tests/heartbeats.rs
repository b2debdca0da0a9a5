//! SSE heartbeats: `EventSource` hides comments from a page, so a client that asks for them
//! (`?heartbeat=1`) gets `heartbeat` events, one at the start and one after every quiet
//! `--sse-ping-secs`; a client that does not ask sees only the `: ping` comments, as before.

use std::time::Duration;

use serde_json::json;

use crate::util::sse::{self, Stream};
use crate::util::{TestServer, TestUser};

/// The version of the web client the server serves, as its page names its assets.
pub fn served_version(server: &TestServer) -> String {
    let page = server.request("GET", "/").send();
    let html = String::from_utf8(page.bytes).expect("html");
    let start = html.find("/assets/").expect("an asset path") + "/assets/".len();
    html[start..].split('/').next().expect("version").to_owned()
}

fn heartbeats(server: &TestServer, user: &TestUser) -> Stream {
    let stream = sse::open(server, "/api/events?heartbeat=1", &sse::bearer(&user.token));
    assert_eq!(stream.status, 200);
    stream
}

#[test]
fn a_stream_that_asks_gets_a_heartbeat_at_once_and_after_each_quiet_interval() {
    let server = TestServer::start_with(&["--sse-ping-secs", "1"]);
    let (ada, bob, id) = server.ada_and_bob_group();
    let mut stream = heartbeats(&server, &ada);
    let first = stream.next(Duration::from_secs(5)).expect("a heartbeat");
    let expected = json!({"interval": 1, "client_version": served_version(&server)});
    assert_eq!((first.kind.as_str(), first.id), ("heartbeat", None));
    assert_eq!(first.data, expected);

    server.say(&bob.token, id, "Hello");
    // Heartbeats may come first if saying it took longer than a second.
    let message = std::iter::from_fn(|| stream.next(Duration::from_secs(5)))
        .find(|event| event.kind != "heartbeat")
        .expect("the message");
    assert_eq!(message.kind, "message.created");
    // Then another after the quiet second (waited for generously, so a busy machine is no
    // failure).
    let next = stream
        .next(Duration::from_secs(5))
        .expect("another heartbeat");
    assert_eq!(next.kind, "heartbeat");
    assert_eq!(next.data, expected);
}

#[test]
fn a_stream_that_does_not_ask_gets_ping_comments_at_the_set_interval() {
    let server = TestServer::start_with(&["--sse-ping-secs", "1"]);
    let ada = server.user("Ada");
    let mut stream = sse::subscribe(&server, &ada, None);
    let text = stream.text_until(|text| text.matches(": ping\n\n").count() >= 2);
    assert!(!text.contains("heartbeat"), "{text}");
}

#[test]
fn a_heartbeat_parameter_other_than_1_is_refused() {
    let server = TestServer::start();
    let ada = server.user("Ada");
    for value in ["0", "yes", ""] {
        let reply = server
            .request("GET", &format!("/api/events?heartbeat={value}"))
            .token(&ada.token)
            .send();
        reply.assert_field_error(400, "invalid_parameter", "heartbeat");
    }
}
