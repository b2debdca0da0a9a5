//! Abuse resistance: rate limits at their thresholds (the fail2ban recipe is in fail2ban.rs).

use serde_json::json;

use crate::util::{PASSWORD, TestServer, unique_email};

const LIMITS_ON: &[&str] = &["--rate-limits", "on"];

#[test]
fn failed_logins_lock_the_account_after_ten_but_not_another_account() {
    let server = TestServer::start_with(LIMITS_ON);
    let ada = server.user("Ada");
    let bob = server.user("Bob");
    for _ in 0..10 {
        server
            .login(&ada.email, "wrong password")
            .assert_error(401, "invalid_credentials");
    }
    let limited = server.login(&ada.email, "wrong password");
    limited.assert_error(429, "rate_limited");
    let retry: u64 = limited
        .header("Retry-After")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=90).contains(&retry), "{retry}");
    // Even the right password waits: the account is locked until the bucket refills.
    server
        .login(&ada.email, PASSWORD)
        .assert_error(429, "rate_limited");
    assert_eq!(
        server.login(&bob.email, PASSWORD).status,
        200,
        "another account is unaffected"
    );
}

#[test]
fn failed_logins_are_limited_per_address() {
    let server = TestServer::start_with(LIMITS_ON);
    for i in 0..50 {
        let reply = server.login(&unique_email(&format!("nobody{i}")), "wrong password");
        reply.assert_error(401, "invalid_credentials");
    }
    server
        .login(&unique_email("one-more"), "wrong password")
        .assert_error(429, "rate_limited");
}

#[test]
fn registrations_are_limited_per_address() {
    let server = TestServer::start_with(LIMITS_ON);
    for i in 0..10 {
        server.register(&format!("User {i}"));
    }
    let reply = server.post(
        "/api/auth/register",
        json!({"name": "Eleventh", "email": unique_email("eleven"), "password": PASSWORD}),
    );
    reply.assert_error(429, "rate_limited");
    assert!(reply.header("Retry-After").is_some());
}

#[test]
fn a_limited_reset_request_looks_like_any_other() {
    let server = TestServer::start_with(&[
        "--rate-limits",
        "on",
        "--mail-command",
        "cat >> {dir}/outbox",
    ]);
    let ada = server.register("Ada");
    let email = ada["email"].as_str().expect("email");
    let replies: Vec<_> = (0..4)
        .map(|_| server.post("/api/password/reset-request", json!({"email": email})))
        .collect();
    for reply in &replies {
        assert_eq!(reply.status, 200);
        assert_eq!(reply.bytes, replies[0].bytes);
    }
    // Only three mails went out: the fourth request was limited, silently.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let outbox = std::fs::read_to_string(server.dir().join("outbox")).unwrap_or_default();
    assert_eq!(outbox.matches("Subject: ").count(), 3);
}

#[test]
fn message_sends_are_limited_per_user() {
    let server = TestServer::start_with(LIMITS_ON);
    let ada = server.user("Ada");
    let bob = server.user("Bob");
    let id = server.group(&ada.token, &[bob.id]);
    for i in 0..30 {
        server.say(&ada.token, id, &format!("m{i}"));
    }
    let limited = server.send(&ada.token, id, json!({"body": "one too many"}));
    limited.assert_error(429, "rate_limited");
    assert_eq!(
        server.send(&bob.token, id, json!({"body": "mine"})).status,
        201
    );
}
