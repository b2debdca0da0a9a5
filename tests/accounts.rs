//! Registration, login, logout, validation and sessions.

use std::time::Duration;

use serde_json::json;

use crate::util::sse::subscribe;
use crate::util::{PASSWORD, TestServer, millis_of, unique_email};

#[test]
fn register_returns_the_new_user() {
    let server = TestServer::start();
    let email = unique_email("ada");
    let reply = server.post(
        "/api/auth/register",
        json!({"name": "  Ada Lovelace ", "email": email, "password": PASSWORD, "extra": 1}),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["message"], "Registration successful");
    let user = &reply.body["user"];
    assert!(user["id"].as_i64().expect("id") > 0);
    assert_eq!(user["name"], "Ada Lovelace");
    assert_eq!(user["email"], email.as_str());
    let created = user["created_at"].as_str().expect("created_at");
    assert_eq!(created.len(), 24, "{created}");
    assert!(created.ends_with('Z') && created.as_bytes()[19] == b'.');
    assert_eq!(user.as_object().expect("object").len(), 4);
}

#[test]
fn register_refuses_a_taken_email_in_any_case() {
    let server = TestServer::start();
    let user = server.register("Ada");
    let email = user["email"].as_str().expect("email").to_uppercase();
    let reply = server.post(
        "/api/auth/register",
        json!({"name": "Other", "email": email, "password": PASSWORD}),
    );
    reply.assert_error(409, "email_taken");
}

#[test]
fn register_validates_each_field_at_and_past_its_limit() {
    let server = TestServer::start();
    let register = |name: &str, email: &str, password: &str| {
        server.post(
            "/api/auth/register",
            json!({"name": name, "email": email, "password": password}),
        )
    };
    let email = || unique_email("limits");
    assert_eq!(register(&"é".repeat(100), &email(), PASSWORD).status, 200);
    register(&"é".repeat(101), &email(), PASSWORD).assert_field_error(
        400,
        "validation_failed",
        "name",
    );
    register("   ", &email(), PASSWORD).assert_field_error(400, "validation_failed", "name");
    register("a\u{0}b", &email(), PASSWORD).assert_field_error(400, "validation_failed", "name");

    let long_email = format!("{}@example.org", "a".repeat(242));
    assert_eq!(long_email.len(), 254);
    assert_eq!(register("Long", &long_email, PASSWORD).status, 200);
    let too_long = format!("b{long_email}");
    register("Long", &too_long, PASSWORD).assert_field_error(400, "validation_failed", "email");
    for bad in [
        "no-at.org",
        "two@@example.org",
        "@example.org",
        "a@localhost",
        "a b@example.org",
    ] {
        register("Bad", bad, PASSWORD).assert_field_error(400, "validation_failed", "email");
    }

    assert_eq!(register("Short", &email(), "zq8v!k2p").status, 200);
    register("Short", &email(), "1234567").assert_field_error(400, "validation_failed", "password");
    assert_eq!(register("Long", &email(), &"p".repeat(1024)).status, 200);
    register("Long", &email(), &"p".repeat(1025)).assert_field_error(
        400,
        "validation_failed",
        "password",
    );
}

#[test]
fn the_most_common_passwords_are_refused_wherever_a_password_is_set() {
    let server = TestServer::start();
    for common in ["password", "12345678", "iloveyou", "Football"] {
        server
            .post(
                "/api/auth/register",
                json!({"name": "Ada", "email": unique_email("ada"), "password": common}),
            )
            .assert_field_error(400, "validation_failed", "password");
    }
    let user = server.user("Ada");
    server
        .request("POST", "/api/profile/password")
        .token(&user.token)
        .json(&json!({"current_password": PASSWORD, "new_password": "baseball"}))
        .send()
        .assert_field_error(400, "validation_failed", "new_password");
    server
        .post(
            "/api/password/reset",
            json!({"token": "x", "password": "sunshine"}),
        )
        .assert_field_error(400, "validation_failed", "password");
}

#[test]
fn register_reports_missing_and_mistyped_fields() {
    let server = TestServer::start();
    let reply = server.post(
        "/api/auth/register",
        json!({"name": "Ada", "password": PASSWORD}),
    );
    reply.assert_field_error(400, "validation_failed", "email");
    let reply = server.post(
        "/api/auth/register",
        json!({"name": 5, "email": unique_email("x"), "password": PASSWORD}),
    );
    reply.assert_field_error(400, "validation_failed", "name");
    let reply = server.post(
        "/api/auth/register",
        json!({"name": "Ada", "email": unique_email("x"), "password": null}),
    );
    reply.assert_field_error(400, "validation_failed", "password");
}

#[test]
fn login_returns_a_bearer_token_for_the_session() {
    let server = TestServer::start_with(&["--session-days", "2"]);
    let user = server.register("Ada");
    let email = user["email"].as_str().expect("email");
    let reply = server.login(&email.to_uppercase(), PASSWORD);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["message"], "Login successful");
    assert_eq!(reply.body["token_type"], "Bearer");
    assert_eq!(reply.body["user"], user);
    let token = reply.body["token"].as_str().expect("token");
    assert_eq!(token.len(), 43, "256 bits in base64url");
    let expires = reply.body["expires_at"].as_str().expect("expires_at");
    let created = user["created_at"].as_str().expect("created_at");
    let lifetime = millis_of(expires) - millis_of(created);
    let two_days = 2 * 86_400_000;
    assert!(
        (two_days..two_days + 60_000).contains(&lifetime),
        "{created} {expires}"
    );

    let validated = server.get("/api/auth/validate", token);
    assert_eq!(validated.status, 200);
    assert_eq!(validated.body["message"], "Token is valid");
    assert_eq!(validated.body["user"], user);
    assert_eq!(validated.body["expires_at"], expires);
}

/// The answers are the same; that they take the same time (the unknown email is checked
/// against a dummy scrypt hash) is measured by `bench/login_timing.py`, not asserted here.
#[test]
fn wrong_password_and_unknown_email_look_the_same() {
    let server = TestServer::start();
    let user = server.register("Ada");
    let email = user["email"].as_str().expect("email");
    let wrong = server.login(email, "not the password");
    let unknown = server.login(&unique_email("nobody"), PASSWORD);
    wrong.assert_error(401, "invalid_credentials");
    unknown.assert_error(401, "invalid_credentials");
    assert_eq!(wrong.body, unknown.body);
}

#[test]
fn login_validates_its_body() {
    let server = TestServer::start();
    server
        .post("/api/auth/login", json!({"email": "ada@example.org"}))
        .assert_field_error(400, "validation_failed", "password");
    server
        .post(
            "/api/auth/login",
            json!({"email": "nope", "password": PASSWORD}),
        )
        .assert_field_error(400, "validation_failed", "email");
}

#[test]
fn missing_malformed_and_unknown_tokens_get_401_with_a_challenge() {
    let server = TestServer::start();
    let replies = [
        server.request("GET", "/api/auth/validate").send(),
        server
            .request("GET", "/api/auth/validate")
            .header("Authorization", "Basic abc")
            .send(),
        server
            .request("GET", "/api/auth/validate")
            .header("Authorization", "Bearer")
            .send(),
        server.get(
            "/api/auth/validate",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ),
    ];
    for reply in replies {
        reply.assert_error(401, "unauthorized");
        assert_eq!(reply.header("WWW-Authenticate"), Some("Bearer"));
    }
}

#[test]
fn logout_revokes_exactly_the_session_it_was_called_with() {
    let server = TestServer::start();
    let user = server.user("Ada");
    let second = server.login(&user.email, PASSWORD).body["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let reply = server
        .request("POST", "/api/auth/logout")
        .token(&user.token)
        .send();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, json!({"message": "Logged out"}));
    server
        .get("/api/auth/validate", &user.token)
        .assert_error(401, "unauthorized");
    assert_eq!(server.get("/api/auth/validate", &second).status, 200);
    server
        .request("POST", "/api/auth/logout")
        .token(&user.token)
        .send()
        .assert_error(401, "unauthorized");
}

#[test]
fn sessions_list_the_callers_live_sessions_newest_first() {
    let server = TestServer::start();
    let user = server.user("Ada");
    let newer = server
        .request("POST", "/api/auth/login")
        .header("User-Agent", "TestPhone/1.0")
        .json(&json!({"email": user.email, "password": PASSWORD}))
        .send();
    let newer_token = newer.body["token"].as_str().expect("token");
    let other = server.user("Bob");

    let reply = server.get("/api/auth/sessions", &user.token);
    assert_eq!(reply.status, 200);
    let sessions = reply.body["sessions"].as_array().expect("sessions");
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions[0]["user_agent"], "TestPhone/1.0");
    assert_eq!(sessions[0]["device"], "TestPhone");
    assert_eq!(sessions[0]["current"], false);
    assert_eq!(sessions[1]["current"], true);
    for session in sessions {
        for key in [
            "id",
            "created_at",
            "last_used_at",
            "expires_at",
            "user_agent",
            "device",
            "current",
        ] {
            assert!(session.get(key).is_some(), "{key} missing in {session}");
        }
    }

    let newer_id = sessions[0]["id"].as_i64().expect("id");
    server
        .request("DELETE", &format!("/api/auth/sessions/{newer_id}"))
        .token(&other.token)
        .send()
        .assert_error(404, "not_found");
    let revoked = server
        .request("DELETE", &format!("/api/auth/sessions/{newer_id}"))
        .token(&user.token)
        .send();
    assert_eq!(revoked.status, 200);
    assert_eq!(revoked.body, json!({"message": "Session revoked"}));
    server
        .get("/api/auth/validate", newer_token)
        .assert_error(401, "unauthorized");
    assert_eq!(server.get("/api/auth/validate", &user.token).status, 200);
    server
        .request("DELETE", "/api/auth/sessions/abc")
        .token(&user.token)
        .send()
        .assert_error(404, "not_found");
}

#[test]
fn an_expired_session_is_refused() {
    let server = TestServer::start();
    let user = server.user("Ada");
    let db = rusqlite::Connection::open(server.db_path()).expect("open db");
    db.busy_timeout(Duration::from_secs(5)).expect("timeout");
    db.execute("UPDATE sessions SET expires_at = 0", [])
        .expect("expire");
    server
        .get("/api/auth/validate", &user.token)
        .assert_error(401, "unauthorized");
}

#[test]
fn a_weaker_stored_hash_is_upgraded_on_login() {
    use scrypt::password_hash::PasswordHasher;
    let server = TestServer::start();
    let user = server.user("Ada");
    let weak = scrypt::Scrypt::new_with_params(scrypt::Params::new(10, 8, 1).expect("params"))
        .hash_password(PASSWORD.as_bytes())
        .expect("hash")
        .to_string();
    let db = rusqlite::Connection::open(server.db_path()).expect("open db");
    db.busy_timeout(Duration::from_secs(5)).expect("timeout");
    db.execute("UPDATE users SET password_hash = ?1", [&weak])
        .expect("weaken");
    assert_eq!(server.login(&user.email, PASSWORD).status, 200);
    let stored: String = db
        .query_row("SELECT password_hash FROM users", [], |row| row.get(0))
        .expect("hash");
    assert!(stored.starts_with("$scrypt$ln=15,r=8,p=3$"), "{stored}");
    assert_eq!(server.login(&user.email, PASSWORD).status, 200);
}

#[test]
fn past_the_sessions_quota_a_login_ends_the_oldest_session_and_its_streams() {
    let server = TestServer::start_with(&["--sessions-per-user", "2"]);
    let ada = server.user("Ada");
    let mut oldest_stream = subscribe(&server, &ada, None);
    let token = |reply: crate::util::Reply| reply.body["token"].as_str().expect("token").to_owned();
    let second = token(server.login(&ada.email, PASSWORD));
    assert_eq!(
        server.get("/api/auth/validate", &ada.token).status,
        200,
        "at the quota"
    );
    let third = token(server.login(&ada.email, PASSWORD));
    server
        .get("/api/auth/validate", &ada.token)
        .assert_error(401, "unauthorized");
    assert!(
        oldest_stream.ends_within(Duration::from_secs(10)),
        "the revoked session's stream is closed"
    );
    for kept in [&second, &third] {
        assert_eq!(server.get("/api/auth/validate", kept).status, 200);
    }
    let listed = server.get("/api/auth/sessions", &third);
    assert_eq!(
        listed.body["sessions"].as_array().expect("sessions").len(),
        2
    );
}

#[test]
fn parallel_logins_cannot_overshoot_the_sessions_quota() {
    let server = TestServer::start_with(&["--sessions-per-user", "2"]);
    let ada = server.user("Ada");
    let replies = crate::util::at_once(6, |_| {
        crate::util::through_busy(|| server.login(&ada.email, PASSWORD))
    });
    assert!(
        replies.iter().all(|r| r.status == 200),
        "every login succeeds"
    );
    let valid = replies
        .iter()
        .filter(|r| {
            let token = r.body["token"].as_str().expect("token");
            server.get("/api/auth/validate", token).status == 200
        })
        .count();
    assert_eq!(valid, 2, "only the two newest sessions live on");
    server
        .get("/api/auth/validate", &ada.token)
        .assert_error(401, "unauthorized");
}

#[test]
fn names_and_emails_are_one_account_whichever_unicode_form_they_come_in() {
    let server = TestServer::start_with(&["--mail-command", "cat >> {dir}/outbox"]);
    // É typed as E and a combining accent, then as one character in other letter cases.
    let decomposed = "E\u{301}mile.Zola@Example.org";
    let composed_upper = "\u{c9}MILE.ZOLA@example.ORG";
    let reply = server.post(
        "/api/auth/register",
        json!({"name": "E\u{301}mile", "email": decomposed, "password": PASSWORD}),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["user"]["name"], "\u{c9}mile");
    assert_eq!(reply.body["user"]["email"], "\u{c9}mile.Zola@Example.org");
    server
        .post(
            "/api/auth/register",
            json!({"name": "Twin", "email": composed_upper, "password": PASSWORD}),
        )
        .assert_error(409, "email_taken");
    let login = server.login(composed_upper, PASSWORD);
    assert_eq!(login.status, 200, "{}", login.body);
    let token = login.body["token"].as_str().expect("token");
    let found = server.get("/api/profile/users?q=E%CC%81MILE", token);
    assert_eq!(found.body["pagination"]["total_items"], 1, "{}", found.body);
    let reset = server.post(
        "/api/password/reset-request",
        json!({"email": "e\u{301}mile.zola@example.org"}),
    );
    assert_eq!(reset.status, 200);
    // The mail command may still be writing when the file appears: wait for the header.
    let addressed = "To: <\u{c9}mile.Zola@Example.org>";
    let mail = server.wait_for_mail("whole mail head", |mail| {
        mail.contains("\r\n\r\n") || mail.contains("\n\n")
    });
    assert!(mail.contains(addressed), "{mail}");
}

#[test]
fn names_with_direction_overrides_or_invisible_formatting_are_refused() {
    let server = TestServer::start();
    let ada = server.user("Ada");
    let bob = server.user("Bob");
    for name in [
        "Ada\u{202E}txt.exe",
        "\u{2066}Ada\u{2069}",
        "Ad\u{200B}a",
        "Ada\u{200F}",
        "A\u{FEFF}da",
        "Ada\u{1B}[31m",
    ] {
        let email = unique_email("ada");
        server
            .post(
                "/api/auth/register",
                json!({"name": name, "email": email, "password": PASSWORD}),
            )
            .assert_field_error(400, "validation_failed", "name");
        server
            .request("PATCH", "/api/profile")
            .token(&ada.token)
            .json(&json!({"name": name}))
            .send()
            .assert_field_error(400, "validation_failed", "name");
        server
            .conversation(&ada.token, &[bob.id], Some(name))
            .assert_field_error(400, "validation_failed", "title");
    }
    let family = "👨\u{200D}👩\u{200D}👧 Ada";
    let renamed = server
        .request("PATCH", "/api/profile")
        .token(&ada.token)
        .json(&json!({"name": family}))
        .send();
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    assert_eq!(renamed.body["user"]["name"], family);
}

#[test]
fn accounts_stored_before_normalisation_are_found_by_their_normal_form() {
    // A file written before names and emails were normalised (version 1; version 5 brings
    // them to NFC) holding a decomposed address, as typed and lower-cased as typed.
    let dir = tempfile::tempdir().expect("dir");
    {
        let db = rusqlite::Connection::open(dir.path().join("emotechat.db")).expect("open");
        db.execute_batch(include_str!("fixtures/schema_v1.sql"))
            .expect("v1 schema");
        db.execute(
            "INSERT INTO users (id, name, name_fold, email, email_lower, password_hash, created_at)
             VALUES (7, 'E\u{301}mile', 'e\u{301}mile', 'E\u{301}mile@example.org',
                     'e\u{301}mile@example.org', ?1, 1000)",
            [crate::util::password_hash()],
        )
        .expect("an older account");
    }
    let server = TestServer::start_in(dir, &[]);
    let login = server.login("\u{c9}MILE@example.org", PASSWORD);
    assert_eq!(login.status, 200, "{}", login.body);
    assert_eq!(login.body["user"]["name"], "\u{c9}mile");
    assert_eq!(login.body["user"]["email"], "\u{c9}mile@example.org");
}
