//! Security headers, CORS, and housekeeping of expired data.

use std::time::{Duration, Instant};

use crate::util::{TestServer, header_in, raw};

#[test]
fn every_answer_carries_the_security_headers() {
    let server = TestServer::start();
    let user = server.user("Ada");
    for reply in [
        server.get("/api/profile", &user.token),
        server.request("GET", "/nowhere").send(),
        server.post("/api/auth/login", serde_json::json!({})),
    ] {
        assert_eq!(reply.header("X-Content-Type-Options"), Some("nosniff"));
        assert_eq!(reply.header("Referrer-Policy"), Some("no-referrer"));
        assert_eq!(reply.header("Cache-Control"), Some("no-store"));
        assert!(
            reply
                .header("Content-Security-Policy")
                .is_some_and(|p| p.contains("default-src 'none'"))
        );
    }
}

const SECURITY_HEADERS: [&str; 4] = [
    "X-Content-Type-Options",
    "Referrer-Policy",
    "Content-Security-Policy",
    "Cache-Control",
];

/// The status and the value of each security header of a raw HTTP answer.
fn status_and_security_headers(answer: &str) -> (u16, Vec<Option<String>>) {
    let (status, headers) = raw::read_head(&mut answer.as_bytes());
    let values = SECURITY_HEADERS
        .iter()
        .map(|name| header_in(&headers, name).map(str::to_owned))
        .collect();
    (status, values)
}

/// The connection layer's own refusals, which never reach a handler, carry exactly the
/// security headers a handler's answer does.
#[test]
fn transport_errors_carry_the_security_headers_too() {
    let server = TestServer::start_with(&[
        "--request-timeout",
        "1",
        "--trust-proxy",
        "127.0.0.1",
        "--max-connections-per-ip",
        "1",
    ]);
    let (status, expected) = status_and_security_headers(
        &server.raw(b"GET /nowhere HTTP/1.1\r\nConnection: close\r\n\r\n"),
    );
    assert_eq!(status, 404);
    assert!(expected.iter().all(Option::is_some), "{expected:?}");
    // Holds the forwarded client's one slot: the body never comes.
    let in_flight = raw::connect(&server);
    std::io::Write::write_all(
        &mut &in_flight,
        b"POST /api/auth/login HTTP/1.1\r\nContent-Length: 2\r\nX-Forwarded-For: 203.0.113.9\r\n\r\n",
    )
    .expect("head");
    std::thread::sleep(Duration::from_millis(200));
    let long_target = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(9000));
    let long_header = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "v".repeat(9000));
    let cases: [(&[u8], u16); 7] = [
        (b"GARBAGE\x01\x02\r\n\r\n", 400),
        (b"G", 408),
        (
            b"POST /api/auth/login HTTP/1.1\r\nContent-Length: 100000000000\r\n\r\n",
            413,
        ),
        (long_target.as_bytes(), 414),
        (long_header.as_bytes(), 431),
        (
            b"GET /healthz HTTP/1.1\r\nX-Forwarded-For: 203.0.113.9\r\n\r\n",
            429,
        ),
        (
            b"POST /api/auth/login HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
            501,
        ),
    ];
    for (request, status) in cases {
        let (got, headers) = status_and_security_headers(&server.raw(request));
        assert_eq!(got, status);
        assert_eq!(headers, expected, "{status}");
    }
    drop(in_flight);
}

#[test]
fn cors_is_off_unless_origins_are_listed() {
    let closed = TestServer::start();
    let reply = closed
        .request("GET", "/healthz")
        .header("Origin", "https://chat.example.org")
        .send();
    assert_eq!(reply.header("Access-Control-Allow-Origin"), None);

    let open = TestServer::start_with(&["--cors-origins", "https://chat.example.org"]);
    let preflight = open
        .request("OPTIONS", "/api/conversations")
        .header("Origin", "https://chat.example.org")
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization, content-type",
        )
        .send();
    assert_eq!(preflight.status, 204);
    assert_eq!(
        preflight.header("Access-Control-Allow-Origin"),
        Some("https://chat.example.org")
    );
    assert!(
        preflight
            .header("Access-Control-Allow-Methods")
            .is_some_and(|m| m.contains("POST"))
    );
    assert!(
        preflight
            .header("Access-Control-Allow-Headers")
            .is_some_and(|h| h.contains("Authorization"))
    );
    let reply = open
        .request("GET", "/healthz")
        .header("Origin", "https://chat.example.org")
        .send();
    assert_eq!(
        reply.header("Access-Control-Allow-Origin"),
        Some("https://chat.example.org")
    );
    let stranger = open
        .request("OPTIONS", "/api/conversations")
        .header("Origin", "https://evil.example")
        .header("Access-Control-Request-Method", "POST")
        .send();
    assert_eq!(stranger.header("Access-Control-Allow-Origin"), None);
}

#[test]
fn expired_sessions_and_spent_reset_tokens_are_pruned() {
    let mut server = TestServer::start();
    let ada = server.user("Ada");
    let bob = server.user("Bob");
    let db = server.open_db();
    db.execute(
        "UPDATE sessions SET expires_at = 0 WHERE user_id = ?1",
        [ada.id],
    )
    .expect("expire");
    db.execute(
        "INSERT INTO password_resets (user_id, token_hash, created_at, expires_at, used_at)
         VALUES (?1, x'01', 0, 0, NULL), (?1, x'02', 0, 99999999999999, 5)",
        [bob.id],
    )
    .expect("spent tokens");
    drop(db);
    // Housekeeping runs at start.
    server.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let db = server.open_db();
        let count = |sql: &str| -> i64 { db.query_row(sql, [], |r| r.get(0)).expect("count") };
        let left = (
            count("SELECT count(*) FROM sessions"),
            count("SELECT count(*) FROM password_resets"),
        );
        if left == (1, 0) {
            break;
        }
        assert!(Instant::now() < deadline, "left {left:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(server.get("/api/auth/validate", &bob.token).status, 200);
}

/// Behind a trusted proxy the client is the right-most `X-Forwarded-For` address that is not a
/// trusted proxy, read across every header line; proxies are named by address or CIDR range.
#[test]
fn the_auth_log_names_the_client_from_every_forwarded_for_line() {
    let server = TestServer::start_with(&["--trust-proxy", "127.0.0.1, 10.0.0.0/8"]);
    let body = r#"{"email":"nobody@example.org","password":"wrong password"}"#;
    let request = format!(
        "POST /api/auth/login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\
         X-Forwarded-For: 198.51.100.1, 203.0.113.7\r\n\
         X-Forwarded-For: 192.0.2.44, 10.1.2.3\r\n\r\n{body}",
        body.len()
    );
    let answer = server.raw(request.as_bytes());
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    let line = server
        .wait_for_log("event=login_failure")
        .expect("the failure is logged");
    assert!(line.contains("client=192.0.2.44 "), "{line}");
}
