//! The operator's commands (`emotechat invite ...`, `emotechat user ...`) run as their own
//! processes against the database file of a running server, and `--registration`.

use std::process::Command;
use std::time::Duration;

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::util::sse;
use crate::util::{
    BIN, CommandOutput, PASSWORD, TestServer, run_command, through_busy, unique_email,
};

fn register_with(server: &TestServer, invite: Option<&str>) -> crate::util::Reply {
    let mut body =
        json!({"name": "Invited", "email": unique_email("invited"), "password": PASSWORD});
    if let Some(code) = invite {
        body["invite"] = json!(code);
    }
    server.post("/api/auth/register", body)
}

/// Makes an invite with the given extra arguments; its code, from the printed line.
fn create_invite(server: &TestServer, args: &[&str]) -> (String, CommandOutput) {
    let mut all = vec!["invite", "create"];
    all.extend_from_slice(args);
    let output = server.command(&all);
    output.success();
    (output.line_value("Invite code:"), output)
}

#[test]
fn closed_registration_refuses_everyone() {
    let server = TestServer::start_with(&["--registration", "closed"]);
    register_with(&server, None).assert_error(403, "registration_closed");
    let (code, _) = create_invite(&server, &[]);
    register_with(&server, Some(&code)).assert_error(403, "registration_closed");
}

#[test]
fn open_registration_ignores_invites_and_needs_none() {
    let server = TestServer::start();
    assert_eq!(register_with(&server, None).status, 200);
    assert_eq!(register_with(&server, Some("anything")).status, 200);
    let body = json!({
        "name": "Curious", "email": unique_email("curious"), "password": PASSWORD, "invite": {}
    });
    server
        .post("/api/auth/register", body)
        .assert_field_error(400, "validation_failed", "invite");
}

#[test]
fn invite_registration_needs_a_real_code_and_prints_a_link_to_the_form() {
    let server = TestServer::start_with(&["--registration", "invite"]);
    register_with(&server, None).assert_error(403, "invite_required");
    register_with(&server, Some("not-a-code")).assert_error(403, "invite_invalid");
    register_with(&server, Some("  ")).assert_field_error(400, "validation_failed", "invite");
    let (code, output) = create_invite(&server, &[]);
    assert_eq!(code.len(), 43, "256 bits in base64url: {output:?}");
    assert_eq!(
        output.line_value("Link:"),
        format!("{}/register?invite={code}", server.base)
    );
    let reply = register_with(&server, Some(&format!(" {code} ")));
    assert_eq!(reply.status, 200, "{}", reply.body);
    // One use by default: the second registration is past it.
    register_with(&server, Some(&code)).assert_error(403, "invite_invalid");
}

#[test]
fn a_code_makes_as_many_accounts_as_its_uses_and_no_more() {
    let server = TestServer::start_with(&["--registration", "invite"]);
    let (code, _) = create_invite(&server, &["--uses", "3"]);
    for _ in 0..3 {
        assert_eq!(register_with(&server, Some(&code)).status, 200);
    }
    register_with(&server, Some(&code)).assert_error(403, "invite_invalid");
    let list = server.command(&["invite", "list"]);
    assert!(list.success().contains("3/3"), "{list:?}");
    assert!(list.stdout.contains("used up"), "{list:?}");
}

#[test]
fn parallel_registrations_cannot_overshoot_the_uses() {
    let server = TestServer::start_with(&["--registration", "invite"]);
    let (code, _) = create_invite(&server, &["--uses", "3"]);
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let tries: Vec<_> = (0..8)
            .map(|_| scope.spawn(|| through_busy(|| register_with(&server, Some(&code))).status))
            .collect();
        tries
            .into_iter()
            .map(|t| t.join().expect("thread"))
            .collect()
    });
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 403).count(),
        5,
        "{statuses:?}"
    );
    let users: i64 = server
        .open_db()
        .query_row("SELECT count(*) FROM users", [], |r| r.get(0))
        .expect("count");
    assert_eq!(users, 3);
}

#[test]
fn a_registration_refused_for_its_email_uses_nothing() {
    let server = TestServer::start_with(&["--registration", "invite"]);
    let (first, _) = create_invite(&server, &[]);
    let email = unique_email("ada");
    let body =
        |code: &str| json!({"name": "Ada", "email": email, "password": PASSWORD, "invite": code});
    assert_eq!(server.post("/api/auth/register", body(&first)).status, 200);
    let (second, _) = create_invite(&server, &[]);
    server
        .post("/api/auth/register", body(&second))
        .assert_error(409, "email_taken");
    assert_eq!(register_with(&server, Some(&second)).status, 200);
}

/// Invite `id`'s expiry, and its creation, in milliseconds, read from the database.
fn invite_times(server: &TestServer, code: &str) -> (i64, i64) {
    let digest = Sha256::digest(code.as_bytes()).to_vec();
    server
        .open_db()
        .query_row(
            "SELECT created_at, expires_at FROM invites WHERE code_hash = ?1",
            [digest],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("the invite is stored by its SHA-256")
}

#[test]
fn a_code_lasts_its_days_and_not_an_instant_more() {
    let server = TestServer::start_with(&["--registration", "invite"]);
    let (code, _) = create_invite(&server, &["--days", "365", "--uses", "2"]);
    let (created, expires) = invite_times(&server, &code);
    assert_eq!(expires - created, 365 * 86_400_000);
    // The clock is not waited for: the expiry is moved to the edge instead, as time would.
    let set_expiry = |at: &str| {
        let digest = Sha256::digest(code.as_bytes()).to_vec();
        server
            .open_db()
            .execute(
                &format!("UPDATE invites SET expires_at = {at} WHERE code_hash = ?1"),
                [digest],
            )
            .expect("move the expiry");
    };
    // Still valid a minute before its end...
    set_expiry("CAST(unixepoch('subsec') * 1000 AS INTEGER) + 60000");
    assert_eq!(register_with(&server, Some(&code)).status, 200);
    // ...and refused once its end has come.
    set_expiry("CAST(unixepoch('subsec') * 1000 AS INTEGER)");
    register_with(&server, Some(&code)).assert_error(403, "invite_invalid");
    let list = server.command(&["invite", "list"]);
    assert!(list.success().contains("expired"), "{list:?}");
}

#[test]
fn uses_and_days_are_limited_on_the_command_line() {
    let server = TestServer::start_with(&["--registration", "invite"]);
    create_invite(&server, &["--uses", "10000", "--days", "1"]);
    for past in [
        &["--uses", "10001"][..],
        &["--days", "366"],
        &["--uses", "0"],
        &["--days", "0"],
    ] {
        let mut args = vec!["invite", "create"];
        args.extend_from_slice(past);
        let output = server.command(&args);
        assert_eq!(output.code, Some(2), "{past:?}: {output:?}");
        assert_eq!(output.stderr.trim().lines().count(), 1, "{output:?}");
    }
    let list = server.command(&["invite", "list"]);
    assert_eq!(
        list.success().lines().count(),
        2,
        "a header and one code: {list:?}"
    );
}

#[test]
fn codes_are_stored_hashed_shown_once_and_revoked_by_code_or_id() {
    let server = TestServer::start_with(&["--registration", "invite"]);
    let (by_code, _) = create_invite(&server, &["--uses", "5"]);
    let (by_id, _) = create_invite(&server, &["--uses", "5"]);
    let list = server.command(&["invite", "list"]);
    let text = list.success();
    assert!(!text.contains(&by_code) && !text.contains(&by_id), "{text}");
    assert!(text.contains(&format!("{}...", &by_code[..6])), "{text}");
    let stored: Vec<u8> = ["", "-wal"]
        .iter()
        .flat_map(|suffix| {
            let mut path = server.db_path().into_os_string();
            path.push(suffix);
            std::fs::read(path).unwrap_or_default()
        })
        .collect();
    let stored = String::from_utf8_lossy(&stored);
    assert!(!stored.contains(&by_code) && !stored.contains(&by_id));
    invite_times(&server, &by_code);

    server.command(&["invite", "revoke", &by_code]).success();
    register_with(&server, Some(&by_code)).assert_error(403, "invite_invalid");
    let id_line = server.command(&["invite", "list"]);
    let id = id_line
        .success()
        .lines()
        .nth(1)
        .and_then(|line| line.split_whitespace().next())
        .expect("the remaining code's id")
        .to_owned();
    server.command(&["invite", "revoke", &id]).success();
    register_with(&server, Some(&by_id)).assert_error(403, "invite_invalid");
    let again = server.command(&["invite", "revoke", &id]);
    assert_eq!(again.code, Some(1), "{again:?}");
    assert!(again.stderr.contains("no invite"), "{again:?}");
}

#[test]
fn user_list_shows_every_account_with_when_it_was_last_seen() {
    let server = TestServer::start();
    let ada = server.user("Ada");
    let bob = server.register("Bob");
    let list = server.command(&["user", "list"]);
    let lines: Vec<&str> = list.success().lines().collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    for column in ["ID", "NAME", "EMAIL", "CREATED", "LAST SEEN", "DISABLED"] {
        assert!(lines[0].contains(column), "{lines:?}");
    }
    let row_of = |email: &str| {
        lines
            .iter()
            .find(|line| line.contains(email))
            .unwrap_or_else(|| panic!("{email} missing: {lines:?}"))
            .split("  ")
            .filter(|cell| !cell.is_empty())
            .map(str::trim)
            .collect::<Vec<_>>()
    };
    let ada_row = row_of(&ada.email);
    assert_eq!(ada_row[0], ada.id.to_string());
    assert_eq!(ada_row[1], "Ada");
    assert!(ada_row[4].ends_with('Z'), "seen at login: {ada_row:?}");
    assert_eq!(ada_row[5], "no");
    let bob_row = row_of(bob["email"].as_str().expect("email"));
    assert_eq!(bob_row[4], "-", "never signed in: {bob_row:?}");
}

#[test]
fn a_disabled_user_is_locked_out_at_once_and_looks_like_a_wrong_password() {
    // Streams look their session up again only hourly here: closing Ada's is the lockout
    // watch's doing.
    let server = TestServer::start_with(&["--stream-session-check", "3600"]);
    let ada = server.user("Ada");
    let bob = server.user("Bob");
    let mut stream = sse::subscribe(&server, &ada, None);
    let mut bobs_stream = sse::subscribe(&server, &bob, None);
    let wrong = server.login(&ada.email, "not the password at all");
    wrong.assert_error(401, "invalid_credentials");

    let output = server.command(&["user", "disable", &ada.email.to_uppercase()]);
    assert!(output.success().contains("Disabled"), "{output:?}");
    server
        .get("/api/auth/validate", &ada.token)
        .assert_error(401, "unauthorized");
    assert!(stream.ends_within(Duration::from_secs(10)));
    assert!(!bobs_stream.ends_within(Duration::from_millis(1500)));
    let right = server.login(&ada.email, PASSWORD);
    assert_eq!((right.status, &right.body), (wrong.status, &wrong.body));
    let list = server.command(&["user", "list"]);
    let row = list
        .success()
        .lines()
        .find(|line| line.contains(&ada.email))
        .expect("Ada listed");
    assert!(row.contains("since "), "{row}");

    server.command(&["user", "enable", &ada.email]).success();
    assert_eq!(server.login(&ada.email, PASSWORD).status, 200);
    assert_eq!(server.get("/api/auth/validate", &bob.token).status, 200);
}

#[test]
fn a_reset_link_from_the_command_line_sets_a_password_once() {
    let server = TestServer::start_with(&["--reset-minutes", "5"]);
    let ada = server.user("Ada");
    let output = server.command(&["user", "reset-link", &ada.email]);
    let link = output
        .success()
        .lines()
        .next()
        .expect("the link")
        .to_owned();
    let token = link
        .strip_prefix(&format!("{}/reset-password?token=", server.base))
        .unwrap_or_else(|| panic!("{link}"));
    assert!(output.stdout.contains("5 minutes"), "{output:?}");
    let reset = |password: &str| {
        server.post(
            "/api/password/reset",
            json!({"token": token, "password": password}),
        )
    };
    assert_eq!(reset("a brand new passphrase").status, 200);
    reset("another new passphrase").assert_error(400, "invalid_token");
    assert_eq!(
        server.login(&ada.email, "a brand new passphrase").status,
        200
    );
    server
        .get("/api/auth/validate", &ada.token)
        .assert_error(401, "unauthorized");

    server.command(&["user", "disable", &ada.email]).success();
    let refused = server.command(&["user", "reset-link", &ada.email]);
    assert_eq!(refused.code, Some(1), "{refused:?}");
    assert!(refused.stderr.contains("disabled"), "{refused:?}");
}

#[test]
fn unknown_accounts_and_commands_fail_with_one_line() {
    let server = TestServer::start();
    for (args, code, says) in [
        (
            &["user", "disable", "nobody@example.org"][..],
            1,
            "no account",
        ),
        (&["user", "enable", "not an email"], 1, "email"),
        (
            &["user", "reset-link", "nobody@example.org"],
            1,
            "no account",
        ),
        (&["user", "frobnicate"], 2, "unknown command"),
        (
            &["invite", "revoke"],
            2,
            "usage: emotechat invite revoke CODE|ID",
        ),
    ] {
        let output = server.command(args);
        assert_eq!(output.code, Some(code), "{args:?}: {output:?}");
        assert!(output.stderr.starts_with("emotechat: "), "{output:?}");
        assert!(output.stderr.contains(says), "{output:?}");
        assert_eq!(output.stderr.trim().lines().count(), 1, "{output:?}");
    }
}

#[test]
fn commands_neither_create_a_database_nor_touch_a_foreign_file() {
    let dir = tempfile::tempdir().expect("dir");
    let missing = dir.path().join("missing.db");
    let output = run_command(
        Command::new(BIN)
            .args(["user", "list", "--db"])
            .arg(&missing),
    );
    assert_eq!(output.code, Some(1), "{output:?}");
    assert!(output.stderr.contains("does not exist"), "{output:?}");
    assert!(std::fs::read_dir(dir.path()).expect("dir").next().is_none());

    let notes = dir.path().join("notes.db");
    let content = b"These are my notes, not a database.\n".repeat(200);
    std::fs::write(&notes, &content).expect("write");
    let output = run_command(
        Command::new(BIN)
            .args(["invite", "list", "--db"])
            .arg(&notes),
    );
    assert_eq!(output.code, Some(1), "{output:?}");
    assert!(
        output.stderr.contains("not an SQLite database"),
        "{output:?}"
    );
    assert_eq!(std::fs::read(&notes).expect("read"), content);

    let other = dir.path().join("other.db");
    rusqlite::Connection::open(&other)
        .and_then(|db| db.execute_batch("CREATE TABLE accounts (x)"))
        .expect("another program's database");
    let output = run_command(
        Command::new(BIN)
            .args(["user", "list"])
            .env("EMOTECHAT_DB", &other),
    );
    assert_eq!(output.code, Some(1), "{output:?}");
    assert!(output.stderr.contains("no EmoteChat schema"), "{output:?}");
}

#[test]
fn help_lists_every_command_and_the_registration_setting() {
    let output = run_command(Command::new(BIN).arg("--help"));
    let text = output.success();
    for expected in [
        "--registration",
        "EMOTECHAT_REGISTRATION",
        "invite create [--uses N] [--days D]",
        "invite list",
        "invite revoke CODE|ID",
        "user list",
        "user disable EMAIL",
        "user enable EMAIL",
        "user reset-link EMAIL",
    ] {
        assert!(text.contains(expected), "{expected} missing from:\n{text}");
    }
    assert_eq!(
        run_command(Command::new(BIN).args(["user", "--help"])).stdout,
        text
    );
}

#[test]
fn a_disabled_account_is_mailed_no_reset_link() {
    let server = TestServer::start_with(&["--mail-command", "cat >> {dir}/outbox"]);
    let ada = server.register("Ada");
    let bob = server.register("Bob");
    let email = |user: &serde_json::Value| user["email"].as_str().expect("email").to_owned();
    server.command(&["user", "disable", &email(&ada)]).success();
    for user in [&ada, &bob] {
        let reply = server.post("/api/password/reset-request", json!({"email": email(user)}));
        assert_eq!(reply.status, 200);
    }
    // One worker takes the requests in order: once Bob's mail is out, Ada's turn has passed.
    let mail = server.wait_for_mail("mail for Bob", |mail| mail.contains(&email(&bob)));
    assert!(!mail.contains(&email(&ada)), "{mail}");
}
