//! The connection layer against hostile and unusual clients, each failure the old engine had
//! reproduced against the real binary: huge declared bodies, slow heads, floods of idle
//! connections, many keep-alive clients at once, oversized heads, and graceful shutdown.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::util::raw::{
    CAP_OF_THREE, HEALTHZ, awaiting_bodies, closed, connect, connect_from, exchange, healthz_for,
    healthz_on, held_connections, read_response, refused_for_the_cap, refused_unanswered, served,
    wait_for_a_freed_slot,
};
use crate::util::{BIN, TestServer, at_once};

fn healthz_ms(server: &TestServer) -> u128 {
    let started = Instant::now();
    let (response, _) = exchange(server, HEALTHZ);
    assert_eq!(response.status, 200);
    started.elapsed().as_millis()
}

#[test]
fn a_huge_declared_body_gets_413_and_the_server_keeps_serving() {
    let server = TestServer::start();
    let (response, mut reader) = exchange(
        &server,
        b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 100000000000000\r\n\r\n{",
    );
    assert_eq!(response.status, 413);
    assert_eq!(response.header("connection"), Some("close"));
    let body: serde_json::Value = serde_json::from_slice(&response.body).expect("json");
    assert_eq!(body["error"], "payload_too_large");
    assert!(closed(&mut reader));
    healthz_ms(&server);
}

#[test]
fn malformed_framing_gets_400_and_a_closed_connection() {
    let server = TestServer::start();
    for request in [
        &b"POST /api/auth/login HTTP/1.1\r\nContent-Length: abc\r\n\r\n"[..],
        b"POST /api/auth/login HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        b"POST /api/auth/login HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
        b"POST /api/auth/login HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"GARBAGE\x01\x02\r\n\r\n",
    ] {
        let (response, mut reader) = exchange(&server, request);
        assert_eq!(response.status, 400, "{}", String::from_utf8_lossy(request));
        assert!(closed(&mut reader));
    }
    healthz_ms(&server);
}

#[test]
fn oversized_heads_get_414_and_431() {
    let server = TestServer::start();
    let long_target = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(8 * 1024));
    assert_eq!(exchange(&server, long_target.as_bytes()).0.status, 414);
    let at_limit = format!(
        "GET /healthz HTTP/1.1\r\nX-Big: {}\r\n\r\n",
        "v".repeat(8 * 1024 - 7)
    );
    assert_eq!(exchange(&server, at_limit.as_bytes()).0.status, 200);
    let long_header = format!(
        "GET /healthz HTTP/1.1\r\nX-Big: {}\r\n\r\n",
        "v".repeat(8 * 1024 - 6)
    );
    assert_eq!(exchange(&server, long_header.as_bytes()).0.status, 431);
    let headers = |n: usize| {
        let fields: String = (0..n).map(|i| format!("X-{i}: v\r\n")).collect();
        format!("GET /healthz HTTP/1.1\r\n{fields}\r\n")
    };
    assert_eq!(exchange(&server, headers(100).as_bytes()).0.status, 200);
    assert_eq!(exchange(&server, headers(101).as_bytes()).0.status, 431);
    // A 200 MiB header is cut off at the line limit, not read in full.
    let stream = connect(&server);
    (&stream)
        .write_all(b"GET /healthz HTTP/1.1\r\nX-Huge: ")
        .expect("write");
    let mut sent = 0;
    let filler = vec![b'v'; 64 * 1024];
    while sent < 200 << 20 && (&stream).write_all(&filler).is_ok() {
        sent += filler.len();
    }
    assert!(
        sent < 200 << 20,
        "the server stopped reading long before 200 MiB"
    );
    healthz_ms(&server);
}

#[test]
fn slow_heads_are_cut_at_the_deadline_while_others_are_served() {
    // Hundreds of slow clients, all from one loopback address: lift the per-address cap.
    let server =
        TestServer::start_with(&["--request-timeout", "2", "--max-connections-per-ip", "1000"]);
    let request = HEALTHZ;
    // Each connection sends its first byte at once: the deadline runs from there.
    let slow: Vec<TcpStream> = (0..300)
        .map(|_| {
            let stream = connect(&server);
            (&stream).write_all(&request[..1]).expect("first byte");
            stream
        })
        .collect();
    let started = Instant::now();
    let mut worst = 0;
    for byte in &request[1..3] {
        std::thread::sleep(Duration::from_secs(1));
        for stream in &slow {
            // The server may already have cut it; that is the point.
            let _ = (&*stream).write_all(&[*byte]);
        }
        worst = worst.max(healthz_ms(&server));
    }
    assert!(
        worst < 1000,
        "normal requests stayed fast: worst {worst} ms"
    );
    for stream in slow {
        let mut reader = BufReader::new(stream);
        let response = read_response(&mut reader, false);
        assert_eq!(response.status, 408);
    }
    assert!(started.elapsed() < Duration::from_secs(15));
}

#[test]
fn idle_connections_past_the_cap_are_refused_and_the_server_recovers() {
    rlimit::increase_nofile_limit(8192).expect("open-file limit");
    // Silent new connections are closed after --request-timeout; keep them for this test. They
    // all come from one address, so its own cap is lifted to test the server-wide one.
    let server = TestServer::start_with(&[
        "--max-connections",
        "1000",
        "--max-connections-per-ip",
        "1000",
        "--request-timeout",
        "120",
    ]);
    let idle: Vec<TcpStream> = (0..2000).map(|_| connect(&server)).collect();
    std::thread::sleep(Duration::from_millis(500));
    // Over-cap connections are closed at once; the first thousand are held open.
    let refused = idle
        .iter()
        .filter(|stream| {
            stream.set_nonblocking(true).expect("nonblocking");
            match (&**stream).read(&mut [0u8; 1]) {
                Ok(n) => n == 0,
                Err(err) => err.kind() != ErrorKind::WouldBlock,
            }
        })
        .count();
    assert!(
        (990..=1010).contains(&refused),
        "about a thousand refused, got {refused}"
    );
    drop(idle);
    // Once they are gone, the server answers again.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if served(&connect(&server)) {
            break;
        }
        assert!(Instant::now() < deadline, "server never recovered");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sixty_four_keep_alive_clients_at_once_are_all_answered() {
    let server = TestServer::start();
    let started = Instant::now();
    let statuses = at_once(64, |_| {
        let stream = connect(&server);
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        (0..3)
            .map(|_| {
                (&stream).write_all(HEALTHZ).expect("write");
                read_response(&mut reader, false).status
            })
            .collect::<Vec<u16>>()
    });
    assert!(statuses.iter().flatten().all(|s| *s == 200));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let server = TestServer::start();
    let stream = connect(&server);
    (&stream)
        .write_all(b"GET /healthz HTTP/1.1\r\n\r\nGET /nope HTTP/1.1\r\n\r\nHEAD /healthz HTTP/1.1\r\n\r\nGET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n")
        .expect("write");
    let mut reader = BufReader::new(stream);
    assert_eq!(read_response(&mut reader, false).status, 200);
    assert_eq!(read_response(&mut reader, false).status, 404);
    let head = read_response(&mut reader, true);
    assert_eq!(head.status, 200);
    assert!(head.header("content-length").is_some_and(|n| n != "0"));
    let last = read_response(&mut reader, false);
    assert_eq!(last.header("connection"), Some("close"));
    assert!(last.header("date").is_some_and(|d| d.ends_with(" GMT")));
    assert_eq!(last.header("server"), Some("emotechat"));
    assert!(closed(&mut reader));
}

#[test]
fn expect_100_continue_and_chunked_bodies_work() {
    let server = TestServer::start();
    let body = json!({"email": "a@b.org", "password": "12345678"}).to_string();
    let stream = connect(&server);
    let head = format!(
        "POST /api/auth/login HTTP/1.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        body.len()
    );
    (&stream).write_all(head.as_bytes()).expect("head");
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    assert_eq!(read_response(&mut reader, false).status, 100);
    (&stream).write_all(body.as_bytes()).expect("body");
    assert_eq!(read_response(&mut reader, false).status, 401);

    let (half, rest) = body.split_at(10);
    let chunked = format!(
        "POST /api/auth/login HTTP/1.1\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\n\r\n{:x}\r\n{half}\r\n{:x}\r\n{rest}\r\n0\r\n\r\n",
        half.len(),
        rest.len()
    );
    (&stream).write_all(chunked.as_bytes()).expect("chunked");
    assert_eq!(read_response(&mut reader, false).status, 401);

    let (refused, _) = exchange(
        &server,
        b"POST /api/auth/login HTTP/1.1\r\nContent-Type: application/json\r\n\
          Content-Length: 70000\r\nExpect: 100-continue\r\n\r\n",
    );
    assert_eq!(refused.status, 413, "refused before the body is sent");
    let big_chunk = format!(
        "POST /api/auth/login HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n",
        70_000
    );
    assert_eq!(exchange(&server, big_chunk.as_bytes()).0.status, 413);
}

#[test]
fn http_1_0_clients_get_a_closed_connection() {
    let server = TestServer::start();
    let (response, mut reader) = exchange(&server, b"GET /healthz HTTP/1.0\r\n\r\n");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("connection"), Some("close"));
    assert!(closed(&mut reader));
}

#[test]
fn sigterm_finishes_requests_in_flight_and_exits_cleanly() {
    let mut server = TestServer::start();
    let user = server.register("Ada");
    let email = user["email"].as_str().expect("email").to_owned();
    let pid = server.pid();
    let login = std::thread::scope(|scope| {
        let in_flight = scope.spawn(|| server.login(&email, crate::util::PASSWORD).status);
        // The login is hashing (hundreds of milliseconds) when the signal arrives.
        std::thread::sleep(Duration::from_millis(60));
        crate::util::terminate(pid);
        in_flight.join().expect("login thread")
    });
    assert_eq!(login, 200, "the request in flight was answered");
    let status = server.wait_exit(Duration::from_secs(15)).expect("exited");
    assert!(status.success(), "{status:?}");
    let wal = server.db_path().with_extension("db-wal");
    assert_eq!(
        std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0),
        0,
        "WAL checkpointed"
    );
    assert!(server.log().iter().any(|l| l.contains("shutting down")));
}

#[test]
fn a_request_head_still_arriving_does_not_hold_up_the_stop() {
    let mut server = TestServer::start();
    let mut half = std::net::TcpStream::connect(server.addr()).expect("connect");
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .expect("half a head");
    // A round trip on another connection gives the server time to read those bytes (were it
    // not to, the connection would still be waiting for its first byte: idle, and closed too).
    assert_eq!(server.get("/healthz", "").status, 200);
    server.terminate();
    // No request is in hand on that connection, so nothing is cut short by closing it; it
    // used to hold the stop for the whole 10 s drain.
    server.assert_stops_before_the_drain();
}

/// With few file descriptors, accepting fails (EMFILE) while idle clients hold them all; the
/// old engine's accept loop died of that. Here the errors are logged, accepting pauses, and
/// the server answers again once the idle clients leave.
#[test]
fn running_out_of_file_descriptors_does_not_stop_the_server() {
    let dir = tempfile::tempdir().expect("dir");
    let command = format!(
        "ulimit -n 96 && exec {BIN} --addr 127.0.0.1:0 --db {}/e.db --request-timeout 120 \
         --max-connections-per-ip 1000",
        dir.path().display()
    );
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    while !line.starts_with("listening on ") {
        line.clear();
        assert!(
            stderr.read_line(&mut line).expect("stderr") > 0,
            "server exited"
        );
    }
    let addr = line
        .trim()
        .trim_start_matches("listening on http://")
        .to_owned();
    let log = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let healthy = || {
        TcpStream::connect(&addr).is_ok_and(|stream| {
            stream
                .set_read_timeout(Some(Duration::from_secs(2)))
                .expect("timeout");
            served(&stream)
        })
    };
    assert!(healthy());
    // More than the descriptors left, but few enough that the rest wait in the listen
    // backlog instead of hanging in connect().
    let idle: Vec<TcpStream> = (0..100)
        .filter_map(|_| TcpStream::connect(&addr).ok())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    assert!(!healthy(), "no descriptor is left for another client");
    drop(idle);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !healthy() {
        assert!(Instant::now() < deadline, "the server never recovered");
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    let log = log.join().expect("log");
    assert!(log.contains("accept failed"), "accept errors are logged");
}

#[test]
fn one_address_at_its_connection_cap_leaves_room_for_others() {
    let server = TestServer::start_with(CAP_OF_THREE);
    // At the cap: three kept-alive connections from one address are all served.
    let held = held_connections(&server, 3);
    // One past it: the fourth is closed at once, unanswered.
    assert!(refused_unanswered(connect(&server)));
    // Another address is served meanwhile.
    assert_eq!(healthz_on(&connect_from(&server, "127.0.0.2")).status, 200);
    // A slot given back can be taken again.
    drop(held.into_iter().next());
    wait_for_a_freed_slot(&server);
}

/// The default cap is a sixteenth of --max-connections: one address opening every slot gets
/// only its share, and a second address still connects.
#[test]
fn one_address_cannot_take_every_connection_by_default() {
    let server = TestServer::start_with(&["--max-connections", "64", "--request-timeout", "120"]);
    let first: Vec<TcpStream> = (0..64).map(|_| connect(&server)).collect();
    std::thread::sleep(Duration::from_millis(300));
    let refused = first
        .into_iter()
        .filter(|stream| {
            stream.set_nonblocking(true).expect("nonblocking");
            match (&*stream).read(&mut [0u8; 1]) {
                Ok(n) => n == 0,
                Err(err) => err.kind() != ErrorKind::WouldBlock,
            }
        })
        .count();
    assert_eq!(refused, 64 - 4, "the first address holds 64/16 = 4");
    assert_eq!(healthz_on(&connect_from(&server, "127.0.0.2")).status, 200);
}

/// A trusted proxy is not capped at the socket: its requests count against the client each
/// one is forwarded for, while it is served.
#[test]
fn behind_a_trusted_proxy_the_cap_applies_to_the_forwarded_client() {
    let server = TestServer::start_with(&[
        "--trust-proxy",
        "127.0.0.1",
        "--max-connections-per-ip",
        "2",
        "--body-timeout",
        "120",
    ]);
    // Two requests for one client in flight: their bodies have not arrived.
    let mut in_flight = awaiting_bodies(&server, 2, "203.0.113.9");
    let past = refused_for_the_cap(&server, "203.0.113.9", &mut in_flight);
    assert_eq!(past.status, 429, "one past the forwarded client's cap");
    let body: serde_json::Value = serde_json::from_slice(&past.body).expect("json");
    assert_eq!(body["error"], "rate_limited");
    assert_eq!(past.header("retry-after"), Some("1"));
    // The proxy's own fourth connection carries another client and is served.
    let (other, _) = exchange(&server, healthz_for("198.51.100.2").as_bytes());
    assert_eq!(other.status, 200);
    // Once a request is answered, its client has the slot back.
    let finished = &in_flight[0];
    (&*finished).write_all(b"{}").expect("body");
    let mut reader = BufReader::new(finished);
    assert_eq!(read_response(&mut reader, false).status, 400);
    let deadline = Instant::now() + Duration::from_secs(10);
    while exchange(&server, healthz_for("203.0.113.9").as_bytes())
        .0
        .status
        != 200
    {
        assert!(Instant::now() < deadline, "the slot never came back");
        std::thread::sleep(Duration::from_millis(20));
    }
}
