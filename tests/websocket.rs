//! Realtime over WebSocket: the same events as SSE, client frames, resume, closing (and the
//! close codes that say why), and what a client that floods frames or never reads costs.

use std::io::Write;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::Message;
use tungstenite::stream::MaybeTlsStream;

use crate::util::sse::subscribe;
use crate::util::ws::{PING, Socket, answers_ping, close_frame, close_of, connect, next, send};
use crate::util::{EVERY_KIND, PASSWORD, TestServer, TestUser, every_kind_of_change};

/// Writes up to `count` 125-byte pings (each one a 125-byte pong to answer) straight to the
/// socket, never reading; stops when the server has read nothing for 3 s (a reader that is
/// merely slow, or waiting a moment for room to answer, reads again well within that). How
/// many went out.
fn flood_pings(socket: &mut Socket, count: usize) -> usize {
    const BATCH: usize = 100;
    let MaybeTlsStream::Plain(stream) = socket.get_mut() else {
        panic!("plain socket");
    };
    stream
        .set_write_timeout(Some(Duration::from_secs(3)))
        .expect("write timeout");
    let mask = [0x12u8, 0x34, 0x56, 0x78];
    let mut frame = vec![0x89, 0x80 | 125];
    frame.extend_from_slice(&mask);
    frame.extend((0..125).map(|i| b'x' ^ mask[i % 4]));
    let batch = frame.repeat(BATCH);
    let mut sent = 0;
    while sent < count && stream.write_all(&batch).is_ok() {
        sent += BATCH;
    }
    sent
}

#[test]
fn events_arrive_as_frames_and_client_frames_are_answered() {
    let server = TestServer::start();
    let ada = server.user("Ada");
    let bob = server.user("Bob");
    let mut socket = connect(&server, &ada, "");
    assert!(answers_ping(&mut socket));
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
    let ahead = format!("?since={}", frame["id"].as_i64().expect("id") + 1);
    let mut too_far = connect(&server, &ada, &ahead);
    assert_eq!(next(&mut too_far).expect("resync")["type"], "resync");
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
    let (ada, bob, id) = server.ada_and_bob_group();
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
    let resume = seen["resume"].as_str().expect("resume token");
    assert!(resume.ends_with(&format!("-{}", seen["id"])), "{resume}");
    let mut resumed = connect(&server, &ada, &format!("?since={resume}"));
    let got: Vec<Value> = (0..100)
        .map(|_| next(&mut resumed).expect("missed")["data"]["message"]["id"].clone())
        .collect();
    let expected: Vec<Value> = missed.iter().map(|m| json!(m)).collect();
    assert_eq!(got, expected);
}

#[test]
fn logout_revocation_and_password_change_close_sockets_as_revoked() {
    let server = TestServer::start();
    let ada = server.user("Ada");
    let mut socket = connect(&server, &ada, "");
    server
        .request("POST", "/api/auth/logout")
        .token(&ada.token)
        .send();
    assert_eq!(close_frame(&mut socket), close_of(4001, "session revoked"));

    let bob = server.user("Bob");
    let second = server.login(&bob.email, PASSWORD).body["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let bob_elsewhere = TestUser {
        id: bob.id,
        email: bob.email.clone(),
        token: second,
    };
    let sessions = server.get("/api/auth/sessions", &bob.token);
    let other_id = sessions.body["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .find(|s| s["current"] == false)
        .expect("the other session")["id"]
        .clone();
    let mut revoked = connect(&server, &bob_elsewhere, "");
    let reply = server
        .request("DELETE", &format!("/api/auth/sessions/{other_id}"))
        .token(&bob.token)
        .send();
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(close_frame(&mut revoked), close_of(4001, "session revoked"));

    let third = server.login(&bob.email, PASSWORD).body["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let mut changed_away = connect(
        &server,
        &TestUser {
            id: bob.id,
            email: bob.email.clone(),
            token: third,
        },
        "",
    );
    server
        .request("POST", "/api/profile/password")
        .token(&bob.token)
        .json(&json!({"current_password": PASSWORD, "new_password": "another password"}))
        .send();
    assert_eq!(
        close_frame(&mut changed_away),
        close_of(4001, "session revoked")
    );
}

/// The server's resident memory in KiB, from `/proc`.
fn rss_kib(server: &TestServer) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

#[test]
fn a_client_that_floods_frames_and_never_reads_is_cut_off_and_others_go_on() {
    let server = TestServer::start();
    let ada = server.user("Ada");
    let bob = server.user("Bob");
    let cid = server.user("Cid");
    let id = server.group(&cid.token, &[bob.id]);
    let mut bob_stream = subscribe(&server, &bob, None);
    let mut flooder = connect(&server, &ada, "");
    const FRAMES: usize = 1_000_000;
    let sent = flood_pings(&mut flooder, FRAMES);
    assert!(sent < FRAMES, "the flood was cut off");
    let mid = server.say(&cid.token, id, "still here");
    let live = bob_stream.stored(1);
    assert_eq!(live[0].data["message"]["id"], mid, "another user's stream");
    assert_eq!(server.get("/healthz", "").status, 200);
    assert!(rss_kib(&server) < 64 * 1024, "{} KiB", rss_kib(&server));
}

#[test]
fn replies_to_a_client_that_never_reads_are_bounded_even_within_its_rate() {
    // A rate this high never applies: what is tested is the bound on queued replies.
    let server = TestServer::start_with(&[
        "--ws-frame-burst",
        "100000",
        "--ws-frames-per-minute",
        "600000",
    ]);
    let ada = server.user("Ada");
    let bob = server.user("Bob");
    let cid = server.user("Cid");
    let id = server.group(&cid.token, &[bob.id]);
    let mut bob_stream = subscribe(&server, &bob, None);
    let mut flooder = connect(&server, &ada, "");
    // Half a million pings are 65 MB, and as many pongs to answer; kept unbounded, they were
    // all read and queued at once.
    let flood = thread::spawn(move || {
        let sent = flood_pings(&mut flooder, 500_000);
        (sent, flooder)
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut peak = 0;
    while Instant::now() < deadline && !flood.is_finished() {
        peak = peak.max(rss_kib(&server));
        thread::sleep(Duration::from_millis(20));
    }
    peak = peak.max(rss_kib(&server));
    assert!(peak < 64 * 1024, "peak {peak} KiB");
    let mid = server.say(&cid.token, id, "still here");
    let live = bob_stream.stored(1);
    assert_eq!(live[0].data["message"]["id"], mid, "another user's stream");
    drop(flood);
}

#[test]
fn a_client_over_its_frame_rate_is_warned_then_disconnected() {
    // One frame a minute: nothing is earned back while the test runs.
    let server = TestServer::start_with(&["--ws-frame-burst", "3", "--ws-frames-per-minute", "1"]);
    let ada = server.user("Ada");
    let mut socket = connect(&server, &ada, "");
    for _ in 0..3 {
        send(&mut socket, PING);
    }
    for _ in 0..3 {
        assert_eq!(
            next(&mut socket),
            Some(json!({"type": "pong"})),
            "at the burst"
        );
    }
    send(&mut socket, PING);
    assert_eq!(
        next(&mut socket),
        Some(json!({"type": "error", "message": "too many frames; slow down"})),
        "one past it"
    );
    // Two more are dropped unanswered; the burst's worth past the limit ends the connection.
    for _ in 0..3 {
        send(&mut socket, PING);
    }
    assert_eq!(close_frame(&mut socket), close_of(1008, "too many frames"));
    let mut again = connect(&server, &ada, "");
    assert!(
        answers_ping(&mut again),
        "a new connection has its own budget"
    );
}

#[test]
fn streams_end_when_their_session_expires_or_is_revoked_in_the_database() {
    let server = TestServer::start_with(&["--stream-session-check", "1"]);
    let ada = server.user("Ada");
    let bob = server.user("Bob");
    let cid = server.user("Cid");
    let mut ada_socket = connect(&server, &ada, "");
    let mut ada_events = subscribe(&server, &ada, None);
    let mut bob_socket = connect(&server, &bob, "");
    let mut cid_socket = connect(&server, &cid, "");
    // As an operator's sqlite3 or another process would: the server is not told.
    let db = server.open_db();
    db.execute(
        "UPDATE sessions SET expires_at = 0 WHERE user_id = ?1",
        [ada.id],
    )
    .expect("expire");
    db.execute("DELETE FROM sessions WHERE user_id = ?1", [bob.id])
        .expect("revoke");
    assert_eq!(
        close_frame(&mut ada_socket),
        close_of(4001, "session expired")
    );
    assert!(ada_events.ends_within(Duration::from_secs(5)));
    assert_eq!(
        close_frame(&mut bob_socket),
        close_of(4001, "session revoked")
    );
    // Long enough for Cid's session to have been checked too.
    thread::sleep(Duration::from_millis(1500));
    assert!(
        answers_ping(&mut cid_socket),
        "a live session's stream stays"
    );
}

#[test]
fn sigterm_closes_sockets_with_going_away_and_the_server_exits_at_once() {
    let mut server = TestServer::start();
    let ada = server.user("Ada");
    let mut socket = connect(&server, &ada, "");
    let mut events = subscribe(&server, &ada, None);
    server.terminate();
    assert_eq!(close_frame(&mut socket), close_of(1001, "going away"));
    assert!(events.ends_within(Duration::from_secs(5)));
    // Open streams used to hold the stop for the whole 10 s drain.
    server.assert_stops_before_the_drain();
}

#[test]
fn a_client_that_stopped_reading_does_not_hold_up_the_stop() {
    let mut server = TestServer::start();
    let ada = server.user("Ada");
    let bob = server.user("Bob");
    let id = server.group(&bob.token, &[ada.id]);
    let _stalled = connect(&server, &ada, "");
    // Enough to fill both socket buffers, so the stream's writer blocks on the socket.
    let long = "x".repeat(4000);
    for _ in 0..1500 {
        server.say(&bob.token, id, &long);
    }
    server.terminate();
    // Its writer used to stay blocked until the write timeout, and the stop waited the whole
    // 10 s drain for it.
    server.assert_stops_before_the_drain();
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
