//! The error contract: every failure is the contract's JSON body, and nothing leaks.

use serde_json::json;

use crate::util::{PASSWORD, TestServer};

#[test]
fn unknown_routes_are_json_404s() {
    let server = TestServer::start();
    for path in [
        "/nothing",
        "/api",
        "/api/nothing",
        "/api/profile/",
        "/api/auth/sessions/1/x",
    ] {
        server
            .request("GET", path)
            .send()
            .assert_error(404, "not_found");
    }
}

#[test]
fn a_known_path_with_the_wrong_method_is_405_with_allow() {
    let server = TestServer::start();
    let reply = server.request("DELETE", "/api/profile").send();
    reply.assert_error(405, "method_not_allowed");
    assert_eq!(reply.header("Allow"), Some("GET, PATCH"));
    let reply = server.request("GET", "/api/auth/login").send();
    reply.assert_error(405, "method_not_allowed");
    assert_eq!(reply.header("Allow"), Some("POST"));
}

#[test]
fn bodies_must_be_json_objects() {
    let server = TestServer::start();
    let send = |content_type: &str, body: &[u8]| {
        server
            .request("POST", "/api/auth/login")
            .body_bytes(content_type, body.to_vec())
            .send()
    };
    send("text/plain", br#"{"email":"a@b.org"}"#).assert_error(415, "unsupported_media_type");
    send("application/json", b"{not json").assert_error(400, "invalid_json");
    send("application/json", b"[1, 2]").assert_error(400, "invalid_json");
    send("application/json", b"\"a string\"").assert_error(400, "invalid_json");
    send("application/json", b"{\"email\": \"\xff\"}").assert_error(400, "invalid_json");
    send("application/json", b"").assert_error(400, "invalid_json");
    send("application/json", "[".repeat(5000).as_bytes()).assert_error(400, "invalid_json");
    let reply = send(
        "application/json; charset=utf-8",
        br#"{"email":"a@b.org","password":"12345678"}"#,
    );
    reply.assert_error(401, "invalid_credentials");
}

#[test]
fn a_body_without_a_content_type_is_415() {
    let server = TestServer::start();
    let body = r#"{"email":"a@b.org","password":"12345678"}"#;
    let answer = server.raw(
        format!(
            "POST /api/auth/login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    assert!(answer.starts_with("HTTP/1.1 415"), "{answer}");
    assert!(answer.contains("\"unsupported_media_type\""), "{answer}");
}

#[test]
fn bodies_are_limited_to_64_kib() {
    let server = TestServer::start();
    let padded = |size: usize| {
        let body = json!({"email": "a@b.org", "password": "12345678"}).to_string();
        let mut bytes = body.into_bytes();
        bytes.resize(size, b' ');
        bytes
    };
    let send = |bytes: Vec<u8>| {
        server
            .request("POST", "/api/auth/login")
            .body_bytes("application/json", bytes)
            .send()
    };
    send(padded(65_536)).assert_error(401, "invalid_credentials");
    send(padded(65_537)).assert_error(413, "payload_too_large");
    // Far larger declared bodies are refused unread: see transport::a_huge_declared_body_*.
}

#[test]
fn no_response_or_log_line_carries_a_secret() {
    let server = TestServer::start_with(&["--mail-command", "cat > /dev/null"]);
    let user = server.user("Ada");
    let mut replies = vec![
        server.get("/api/auth/validate", &user.token),
        server.get("/api/profile", &user.token),
        server.get("/api/auth/sessions", &user.token),
        server.get("/api/profile/users", &user.token),
        server.login(&user.email, "wrong password"),
        server.post(
            "/api/auth/register",
            json!({"name": "X", "email": user.email, "password": PASSWORD}),
        ),
        server.post("/api/password/reset-request", json!({"email": user.email})),
        server.post(
            "/api/password/reset",
            json!({"token": "x", "password": PASSWORD}),
        ),
        server
            .request("GET", "/api/events?access_token=secret-in-query")
            .send(),
    ];
    replies.push(
        server
            .request("POST", "/api/profile/password")
            .token(&user.token)
            .json(&json!({"current_password": PASSWORD, "new_password": "second password"}))
            .send(),
    );
    for reply in &replies {
        let text = String::from_utf8_lossy(&reply.bytes);
        for secret in [
            "$scrypt$",
            PASSWORD,
            "second password",
            "SELECT",
            "sqlite",
            "/tmp",
            "panicked",
        ] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        if !text.contains("Login successful") {
            assert!(!text.contains(&user.token), "token in {text}");
        }
    }
    for line in server.log() {
        for secret in [
            PASSWORD,
            "second password",
            user.token.as_str(),
            "secret-in-query",
            user.email.as_str(),
        ] {
            assert!(!line.contains(secret), "{secret} in log line {line}");
        }
    }
    assert!(
        server
            .log()
            .iter()
            .any(|l| l.contains("GET /api/profile 200"))
    );
}

#[test]
fn path_parameters_that_are_not_percent_encoded_utf8_are_validation_errors() {
    let server = TestServer::start();
    let (ada, _, id) = server.ada_and_bob_group();
    let mid = server.say(&ada.token, id, "hello");
    let message = format!("/api/conversations/{id}/messages/{mid}");
    // Half an emoji, a byte that is never UTF-8, and escapes that are not escapes.
    for bad in ["%F0%9F", "%FF", "%ZZ", "%E2%9D"] {
        for (method, path, field, token) in [
            (
                "PUT",
                format!("{message}/reactions/{bad}"),
                "emote",
                Some(&ada.token),
            ),
            (
                "DELETE",
                format!("{message}/reactions/{bad}"),
                "emote",
                Some(&ada.token),
            ),
            ("GET", format!("/api/emotes/{bad}"), "name", None),
            (
                "DELETE",
                format!("/api/emotes/{bad}"),
                "name",
                Some(&ada.token),
            ),
            (
                "GET",
                format!("/api/profile/users/{bad}"),
                "id",
                Some(&ada.token),
            ),
            (
                "GET",
                format!("/api/conversations/{bad}/messages"),
                "id",
                Some(&ada.token),
            ),
            (
                "DELETE",
                format!("/api/conversations/{id}/messages/{bad}"),
                "message_id",
                Some(&ada.token),
            ),
        ] {
            let call = server.request(method, &path);
            let reply = match token {
                Some(token) => call.token(token).send(),
                None => call.send(),
            };
            assert_eq!(reply.status, 400, "{method} {path}: {}", reply.body);
            reply.assert_field_error(400, "validation_failed", field);
        }
    }
    // The bearer check still comes first on private routes.
    server
        .request("PUT", &format!("{message}/reactions/%F0%9F"))
        .send()
        .assert_error(401, "unauthorized");
    // Well-formed but wrong values keep their documented answers.
    server
        .get("/api/profile/users/abc", &ada.token)
        .assert_error(404, "not_found");
    server
        .request("PUT", &format!("{message}/reactions/abc"))
        .token(&ada.token)
        .send()
        .assert_field_error(400, "validation_failed", "emote");
    server
        .request("GET", "/api/emotes/%C3%A9moji")
        .send()
        .assert_error(404, "not_found");
}
