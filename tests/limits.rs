//! Abuse resistance: rate limits at their thresholds (the fail2ban recipe is in fail2ban.rs).
//!
//! Every window here is a day long, so nothing refills while a test runs however slow the
//! machine is: the tests count attempts, never race the clock.

use serde_json::json;

use crate::util::{PASSWORD, Reply, TestServer, TestUser, at_once, unique_email};

/// Limits on, at their default counts, with windows nothing refills during a test.
const LIMITS_ON: &[&str] = &[
    "--rate-limits",
    "on",
    "--login-failures-per-account",
    "10/1d",
    "--login-failures-per-address",
    "50/1d",
    "--registrations-per-address",
    "10/1d",
    "--reset-requests-per-email",
    "3/1d",
    "--reset-requests-per-address",
    "10/1d",
    "--sends-per-user",
    "30/1d",
];

/// Starts with `LIMITS_ON` and then `extra` (the last flag wins).
fn limited(extra: &[&str]) -> TestServer {
    TestServer::start_with(&[LIMITS_ON, extra].concat())
}

#[test]
fn failed_logins_lock_the_account_after_ten_but_not_another_account() {
    let server = limited(&[]);
    let ada = server.user("Ada");
    let bob = server.user("Bob");
    for _ in 0..10 {
        server
            .login(&ada.email, "wrong password")
            .assert_error(401, "invalid_credentials");
    }
    let limited = server.login(&ada.email, "wrong password");
    limited.assert_error(429, "rate_limited");
    let retry = limited.retry_after();
    // One attempt comes back every window / attempts: a day / 10.
    assert!((8000..=8640).contains(&retry), "{retry}");
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
    let server = limited(&["--login-failures-per-address", "5/1d"]);
    let ada = server.user("Ada");
    for i in 0..5 {
        let reply = server.login(&unique_email(&format!("nobody{i}")), "wrong password");
        reply.assert_error(401, "invalid_credentials");
    }
    server
        .login(&unique_email("one-more"), "wrong password")
        .assert_error(429, "rate_limited");
    server
        .login(&ada.email, PASSWORD)
        .assert_error(429, "rate_limited");
}

#[test]
fn registrations_are_limited_per_address() {
    let server = limited(&[]);
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
    let server = limited(&["--mail-command", "cat >> {dir}/outbox"]);
    let ada = server.register("Ada");
    let email = ada["email"].as_str().expect("email");
    let replies: Vec<_> = (0..4)
        .map(|_| server.post("/api/password/reset-request", json!({"email": email})))
        .collect();
    for reply in &replies {
        assert_eq!(reply.status, 200);
        assert_eq!(reply.bytes, replies[0].bytes);
    }
    // Resets are mailed one after another in the order asked, so once a later request's
    // mail is out, every earlier one that was going to be sent has been: no waiting on a clock.
    let bob = server.register("Bob");
    let bob_email = bob["email"].as_str().expect("email");
    let marker = server.post("/api/password/reset-request", json!({"email": bob_email}));
    assert_eq!(marker.status, 200);
    let sent = server.wait_for_mail("marker mail", |sent| {
        sent.contains(bob_email) && sent.matches("Subject: ").count() >= 4
    });
    assert!(sent.contains(bob_email), "the marker mail arrived: {sent}");
    // Only three of Ada's went out: the fourth request was limited, silently.
    assert_eq!(sent.matches("Subject: ").count(), 3 + 1);
}

#[test]
fn message_sends_are_limited_per_user() {
    let server = limited(&[]);
    let (ada, bob, id) = server.ada_and_bob_group();
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

/// Statuses of the replies, counted: (401s, 429s, any other).
fn tally(replies: &[Reply]) -> (usize, usize, Vec<u16>) {
    let count = |status| replies.iter().filter(|r| r.status == status).count();
    let others = replies
        .iter()
        .map(|r| r.status)
        .filter(|s| ![401, 429].contains(s))
        .collect();
    (count(401), count(429), others)
}

#[test]
fn a_parallel_burst_of_wrong_passwords_gets_only_the_accounts_budget_evaluated() {
    let server = limited(&["--login-failures-per-account", "3/1d"]);
    let ada = server.user("Ada");
    // All twelve arrive before the first check is over: each must reserve its attempt first.
    let replies = at_once(12, |_| server.login(&ada.email, "wrong password"));
    assert_eq!(
        tally(&replies),
        (3, 9, vec![]),
        "3 evaluated, the rest refused"
    );
    for reply in replies.iter().filter(|r| r.status == 429) {
        reply.assert_error(429, "rate_limited");
    }
    server
        .login(&ada.email, PASSWORD)
        .assert_error(429, "rate_limited");
    let failures = server
        .log()
        .iter()
        .filter(|l| l.contains("auth event=login_failure"))
        .count();
    assert_eq!(failures, 3);
}

#[test]
fn a_parallel_burst_of_wrong_passwords_gets_only_the_addresss_budget_evaluated() {
    let server = limited(&["--login-failures-per-address", "3/1d"]);
    let replies = at_once(12, |i| {
        server.login(&unique_email(&format!("nobody{i}")), "wrong password")
    });
    assert_eq!(
        tally(&replies),
        (3, 9, vec![]),
        "3 evaluated, the rest refused"
    );
}

#[test]
fn a_right_password_gives_its_attempt_back() {
    let server = limited(&["--login-failures-per-account", "3/1d"]);
    let ada = server.user("Ada");
    for _ in 0..2 {
        server
            .login(&ada.email, "wrong password")
            .assert_error(401, "invalid_credentials");
    }
    for _ in 0..4 {
        assert_eq!(server.login(&ada.email, PASSWORD).status, 200);
    }
    server
        .login(&ada.email, "wrong password")
        .assert_error(401, "invalid_credentials");
    server
        .login(&ada.email, "wrong password")
        .assert_error(429, "rate_limited");
}

#[test]
fn letter_case_in_the_email_does_not_buy_more_guesses() {
    let server = limited(&["--login-failures-per-account", "2/1d"]);
    let ada = server.user("Ada");
    let shouted = ada.email.to_uppercase();
    server
        .login(&ada.email, "wrong password")
        .assert_error(401, "invalid_credentials");
    server
        .login(&shouted, "wrong password")
        .assert_error(401, "invalid_credentials");
    server
        .login(&shouted, "wrong password")
        .assert_error(429, "rate_limited");
}

fn change_password(server: &TestServer, user: &TestUser, current: &str) -> Reply {
    server
        .request("POST", "/api/profile/password")
        .token(&user.token)
        .json(&json!({"current_password": current, "new_password": "a brand new password"}))
        .send()
}

#[test]
fn wrong_current_passwords_share_the_login_limit_and_log_line() {
    let server = limited(&["--login-failures-per-account", "3/1d"]);
    let ada = server.user("Ada");
    for _ in 0..2 {
        change_password(&server, &ada, "wrong password").assert_error(401, "invalid_credentials");
    }
    server
        .login(&ada.email, "wrong password")
        .assert_error(401, "invalid_credentials");
    // The account's three wrong passwords are used up, by either road.
    change_password(&server, &ada, "wrong password").assert_error(429, "rate_limited");
    change_password(&server, &ada, PASSWORD).assert_error(429, "rate_limited");
    server
        .login(&ada.email, PASSWORD)
        .assert_error(429, "rate_limited");
    let line = format!("auth event=login_failure client=127.0.0.1 user={}", ada.id);
    let failures = server.log().iter().filter(|l| l.ends_with(&line)).count();
    assert_eq!(failures, 3, "one fail2ban line per wrong password");
    assert!(
        server.wait_for_log("auth event=lockout").is_some(),
        "the refusals are logged as lockouts"
    );
}

#[test]
fn wrong_current_passwords_are_limited_per_address_and_in_a_burst() {
    let server = limited(&["--login-failures-per-address", "3/1d"]);
    let ada = server.user("Ada");
    let bob = server.user("Bob");
    let replies = at_once(10, |_| change_password(&server, &ada, "wrong password"));
    assert_eq!(
        tally(&replies),
        (3, 7, vec![]),
        "3 evaluated, the rest refused"
    );
    // The address has used up its wrong passwords: its logins wait too.
    server
        .login(&bob.email, "wrong password")
        .assert_error(429, "rate_limited");
}

#[test]
fn an_address_past_its_reset_limit_cannot_spend_anyone_elses() {
    let server = TestServer::start_with(&[
        "--rate-limits",
        "on",
        "--reset-requests-per-email",
        "1/1d",
        "--reset-requests-per-address",
        "1/1d",
        "--trust-proxy",
        "127.0.0.1",
        "--mail-command",
        "cat >> {dir}/outbox",
    ]);
    let ada = server.register("Ada");
    let ada_email = ada["email"].as_str().expect("email");
    let bob = server.register("Bob");
    let bob_email = bob["email"].as_str().expect("email");
    let reset_from = |client: &str, email: &str| {
        server
            .request("POST", "/api/password/reset-request")
            .header("X-Forwarded-For", client)
            .json(&json!({"email": email}))
            .send()
            .status
    };
    // An address spends its one request, then asks for Ada's reset: refused by its own limit,
    // which must leave Ada's budget alone...
    assert_eq!(reset_from("203.0.113.9", &unique_email("nobody")), 200);
    assert_eq!(reset_from("203.0.113.9", ada_email), 200);
    // ...so Ada, from her own address, still gets her link.
    assert_eq!(reset_from("198.51.100.1", ada_email), 200);
    // Mails go out in the order asked: once Bob's is out, Ada's would be too.
    assert_eq!(reset_from("192.0.2.7", bob_email), 200);
    let sent = server.wait_for_mail("marker mail", |sent| sent.contains(bob_email));
    assert!(sent.contains(bob_email), "the marker mail arrived: {sent}");
    assert!(sent.contains(ada_email), "Ada's reset mail was sent");
}
