//! Data on disk: restarts keep it, and files from older versions are brought forward.

use rusqlite::Connection;

use crate::util::{PASSWORD, TestServer, password_hash, schema_version};

#[test]
fn a_restart_keeps_every_account_and_session() {
    let mut server = TestServer::start();
    let ada = server.user("Ada");
    let bob = server.user("Bob");
    server.restart();
    assert_eq!(server.get("/api/auth/validate", &ada.token).status, 200);
    assert_eq!(
        server.get("/api/auth/validate", &bob.token).body["user"]["id"],
        bob.id
    );
    assert_eq!(server.login(&ada.email, PASSWORD).status, 200);
    let users = server.get("/api/profile/users", &ada.token);
    assert_eq!(users.body["pagination"]["total_items"], 2);
}

#[test]
fn a_version_1_file_is_migrated_without_losing_data() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("emotechat.db");
    let token = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    {
        let db = Connection::open(&path).expect("open");
        db.execute_batch(include_str!("fixtures/schema_v1.sql"))
            .expect("v1 schema");
        let hash = password_hash();
        db.execute(
            "INSERT INTO users (id, name, name_fold, email, email_lower, password_hash, created_at)
             VALUES (7, 'Old Timer', 'old timer', 'Old@Example.org', 'old@example.org', ?1, 1000)",
            [&hash],
        )
        .expect("user");
        let digest: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(token.as_bytes()).into();
        db.execute(
            "INSERT INTO sessions (user_id, token_hash, user_agent, created_at, last_used_at,
                                   expires_at)
             VALUES (7, ?1, 'old client', 1000, 1000, 99999999999999)",
            [&digest[..]],
        )
        .expect("session");
    }

    let server = TestServer::start_in(dir, &[]);
    let validated = server.get("/api/auth/validate", token);
    assert_eq!(validated.status, 200, "{}", validated.body);
    assert_eq!(validated.body["user"]["name"], "Old Timer");
    assert_eq!(
        validated.body["user"]["created_at"],
        "1970-01-01T00:00:01.000Z"
    );
    assert_eq!(server.login("old@example.org", PASSWORD).status, 200);

    let db = Connection::open(server.db_path()).expect("open");
    let version: i64 = db
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("version");
    assert_eq!(version, schema_version());
    // The users total the triggers keep starts from the users the old file held.
    let listed = server.get("/api/profile/users", token);
    assert_eq!(
        listed.body["pagination"]["total_items"], 1,
        "{}",
        listed.body
    );
    let chat_tables: i64 = db
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table'
             AND name IN ('conversations', 'members', 'messages', 'reactions', 'emotes', 'events')",
            [],
            |r| r.get(0),
        )
        .expect("tables");
    assert_eq!(chat_tables, 6);
}
