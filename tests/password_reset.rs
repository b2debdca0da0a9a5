//! Password reset by mailed link.

use std::time::Duration;

use serde_json::json;

use crate::util::{PASSWORD, Reply, TestServer, unique_email};

const MAIL: &[&str] = &["--mail-command", "cat >> {dir}/outbox"];

fn request_reset(server: &TestServer, email: &str) -> Reply {
    server.post("/api/password/reset-request", json!({"email": email}))
}

/// Waits for the `n`th mail in the outbox and returns it.
fn mail(server: &TestServer, n: usize) -> String {
    let mails = |text: &str| -> Vec<String> {
        text.split("From: ")
            .filter(|m| !m.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let text = server.wait_for_mail(&format!("mail {n}"), |text| mails(text).len() >= n);
    mails(&text).swap_remove(n - 1)
}

fn token_in(mail: &str) -> String {
    let start = mail.find("token=").expect("link in mail") + "token=".len();
    mail[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

fn reset(server: &TestServer, token: &str, password: &str) -> Reply {
    server.post(
        "/api/password/reset",
        json!({"token": token, "password": password}),
    )
}

#[test]
fn known_and_unknown_emails_get_the_same_answer() {
    let server = TestServer::start_with(MAIL);
    let user = server.register("Ada");
    let known = request_reset(&server, user["email"].as_str().expect("email"));
    let unknown = request_reset(&server, &unique_email("nobody"));
    assert_eq!(known.status, 200);
    assert_eq!(
        known.body,
        json!({"message": "If that email is registered, a reset link has been sent"})
    );
    assert_eq!(known.status, unknown.status);
    assert_eq!(known.bytes, unknown.bytes);
    let names = |r: &Reply| {
        let mut names: Vec<String> = r.headers.iter().map(|(k, _)| k.to_lowercase()).collect();
        names.sort();
        names
    };
    assert_eq!(names(&known), names(&unknown));
    request_reset(&server, "not-an-email").assert_field_error(400, "validation_failed", "email");
}

#[test]
fn the_mailed_link_resets_the_password_once_and_ends_every_session() {
    let server = TestServer::start_with(&[
        "--mail-command",
        "cat >> {dir}/outbox",
        "--public-url",
        "https://chat.example.org/",
    ]);
    let user = server.user("Ada");
    assert_eq!(
        request_reset(&server, &user.email.to_uppercase()).status,
        200
    );
    let message = mail(&server, 1);
    assert!(
        message.contains(&format!("To: <{}>", user.email)),
        "{message}"
    );
    assert!(message.contains("\r\nDate: ") && message.contains("\r\nSubject: "));
    assert!(message.contains("https://chat.example.org/reset-password?token="));
    let token = token_in(&message);
    assert_eq!(token.len(), 43);

    let reply = reset(&server, &token, "brand new password");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body, json!({"message": "Password has been reset"}));
    server
        .get("/api/auth/validate", &user.token)
        .assert_error(401, "unauthorized");
    server
        .login(&user.email, PASSWORD)
        .assert_error(401, "invalid_credentials");
    assert_eq!(server.login(&user.email, "brand new password").status, 200);
    reset(&server, &token, "another password").assert_error(400, "invalid_token");
}

#[test]
fn a_refused_password_does_not_use_up_the_token() {
    let server = TestServer::start_with(MAIL);
    let user = server.user("Ada");
    request_reset(&server, &user.email);
    let token = token_in(&mail(&server, 1));
    reset(&server, &token, "short").assert_field_error(400, "validation_failed", "password");
    assert_eq!(reset(&server, &token, "long enough now").status, 200);
}

#[test]
fn a_newer_request_replaces_the_older_link() {
    let server = TestServer::start_with(MAIL);
    let user = server.user("Ada");
    request_reset(&server, &user.email);
    let first = token_in(&mail(&server, 1));
    request_reset(&server, &user.email);
    let second = token_in(&mail(&server, 2));
    assert_ne!(first, second);
    reset(&server, &first, "new password 1").assert_error(400, "invalid_token");
    assert_eq!(reset(&server, &second, "new password 2").status, 200);
}

#[test]
fn unknown_and_expired_tokens_are_invalid() {
    let server = TestServer::start_with(MAIL);
    let user = server.user("Ada");
    reset(&server, "no-such-token", "new password 1").assert_error(400, "invalid_token");
    request_reset(&server, &user.email);
    let token = token_in(&mail(&server, 1));
    let db = rusqlite::Connection::open(server.db_path()).expect("open db");
    db.busy_timeout(Duration::from_secs(5)).expect("timeout");
    db.execute("UPDATE password_resets SET expires_at = 0", [])
        .expect("expire");
    reset(&server, &token, "new password 1").assert_error(400, "invalid_token");
    assert_eq!(server.get("/api/auth/validate", &user.token).status, 200);
}

#[test]
fn reset_links_live_for_the_configured_minutes() {
    let server = TestServer::start_with(&[
        "--mail-command",
        "cat >> {dir}/outbox",
        "--reset-minutes",
        "7",
    ]);
    let user = server.user("Ada");
    request_reset(&server, &user.email);
    assert!(mail(&server, 1).contains("within 7 minutes"));
    let db = rusqlite::Connection::open(server.db_path()).expect("open db");
    let lifetime: i64 = db
        .query_row(
            "SELECT expires_at - created_at FROM password_resets",
            [],
            |r| r.get(0),
        )
        .expect("reset row");
    assert_eq!(lifetime, 7 * 60_000);
}

#[test]
fn without_a_mail_command_the_link_goes_to_the_log() {
    let server = TestServer::start();
    let user = server.user("Ada");
    request_reset(&server, &user.email);
    let line = server
        .wait_for_log("/reset-password?token=")
        .expect("link logged");
    assert_eq!(token_in(&line).len(), 43);
    assert!(
        !line.contains(&user.email),
        "the log names users by id: {line}"
    );
}

#[test]
fn a_failing_mail_command_is_logged_not_reported() {
    let server = TestServer::start_with(&["--mail-command", "exit 7"]);
    let user = server.user("Ada");
    assert_eq!(request_reset(&server, &user.email).status, 200);
    let line = server
        .wait_for_log("reset mail for user")
        .expect("failure logged");
    assert!(line.contains("exit"), "{line}");
    assert!(!line.contains("token="), "{line}");
}

#[test]
fn reset_mails_have_a_valid_sender_date_and_message_id_for_an_ip_host() {
    let server = TestServer::start_with(&[
        "--mail-command",
        "cat >> {dir}/outbox",
        "--public-url",
        "http://[::1]:8080",
    ]);
    let user = server.user("Ada");
    request_reset(&server, &user.email);
    request_reset(&server, &user.email);
    let (first, second) = (mail(&server, 1), mail(&server, 2));
    let header = |mail: &str, name: &str| -> String {
        let head = mail.split("\r\n\r\n").next().expect("head");
        let prefix = format!("{name}: ");
        let found: Vec<&str> = head
            .split("\r\n")
            .filter_map(|line| line.strip_prefix(&prefix))
            .collect();
        assert_eq!(found.len(), 1, "one {name} in {mail}");
        found[0].to_owned()
    };
    // `mail` splits the outbox at "From: ", so the first header is the rest of that line.
    assert!(
        first.starts_with("EmoteChat <noreply@[IPv6:::1]>\r\n"),
        "{first}"
    );
    assert_eq!(header(&first, "To"), format!("<{}>", user.email));
    assert!(header(&first, "Date").ends_with(" +0000"), "{first}");
    let id = header(&first, "Message-ID");
    assert!(id.starts_with('<') && id.ends_with("@[IPv6:::1]>"), "{id}");
    assert_ne!(id, header(&second, "Message-ID"));
}

#[test]
fn addresses_that_would_add_recipients_are_refused_at_registration() {
    let server = TestServer::start();
    for email in [
        "ada@example.org>,<eve@example.net",
        "eve>,<eve@example.net",
        "ada,eve@example.org",
        "\"ada\"@example.org",
        "ada(x)@example.org",
        "ada;eve@example.org",
    ] {
        server
            .post(
                "/api/auth/register",
                json!({"name": "Ada", "email": email, "password": PASSWORD}),
            )
            .assert_field_error(400, "validation_failed", "email");
    }
}

#[test]
fn an_address_stored_before_the_rule_gets_no_reset_mail() {
    let server = TestServer::start_with(MAIL);
    let address = "ada>,<eve@example.net";
    server
        .open_db()
        .execute(
            "INSERT INTO users (name, name_fold, email, email_lower, password_hash, created_at)
             VALUES ('Ada', 'ada', ?1, ?1, 'not-a-hash', 0)",
            [address],
        )
        .expect("an account from before the rule");
    assert_eq!(request_reset(&server, address).status, 200);
    let line = server
        .wait_for_log("reset mail for user")
        .expect("refusal logged");
    assert!(line.contains("not sent"), "{line}");
    assert!(
        !server.dir().join("outbox").exists(),
        "no mail was handed on"
    );
}
