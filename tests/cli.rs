//! The command line: help, version, and refusing bad settings and foreign files.

use std::process::Command;

use crate::util::{BIN, TestServer};

fn run(args: &[&str], dir: &std::path::Path) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("EMOTECHAT_ADDR")
        .output()
        .expect("run emotechat")
}

#[test]
fn help_lists_every_setting_with_its_default() {
    let dir = tempfile::tempdir().expect("dir");
    let output = run(&["--help"], dir.path());
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    for expected in [
        "--addr",
        "EMOTECHAT_ADDR",
        "127.0.0.1:8080",
        "--db",
        "emotechat.db",
        "--public-url",
        "--mail-command",
        "--session-days",
        "30",
        "--reset-minutes",
        "15",
        "--rate-limits",
    ] {
        assert!(
            text.contains(expected),
            "{expected} missing from help:\n{text}"
        );
    }
}

#[test]
fn version_prints_the_version() {
    let dir = tempfile::tempdir().expect("dir");
    let output = run(&["--version"], dir.path());
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        format!("emotechat {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn a_bad_setting_exits_with_one_line_before_opening_anything() {
    let dir = tempfile::tempdir().expect("dir");
    for args in [
        &["--session-days", "0"][..],
        &["serve", "--addr", "nowhere"],
        &["--rate-limits", "sometimes"],
        &["--unknown-flag"],
        &["frobnicate"],
    ] {
        let output = run(args, dir.path());
        assert!(!output.status.success(), "{args:?} should fail");
        let text = String::from_utf8_lossy(&output.stderr);
        assert_eq!(text.trim().lines().count(), 1, "{text}");
        assert!(text.starts_with("emotechat: "), "{text}");
    }
    let output = Command::new(BIN)
        .current_dir(dir.path())
        .env("EMOTECHAT_RESET_MINUTES", "0")
        .output()
        .expect("run");
    assert!(!output.status.success());
    assert!(
        std::fs::read_dir(dir.path()).expect("dir").next().is_none(),
        "nothing was created"
    );
}

#[test]
fn a_file_that_is_not_sqlite_is_refused_untouched() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("notes.db");
    let content = b"These are my notes, not a database.\n".repeat(200);
    std::fs::write(&path, &content).expect("write");
    let output = run(
        &[
            "--db",
            path.to_str().expect("path"),
            "--addr",
            "127.0.0.1:0",
        ],
        dir.path(),
    );
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("not an SQLite database"));
    assert_eq!(std::fs::read(&path).expect("read"), content);
    // The server's lock file (`notes.db.lock`, see `emotechat restore`) is the one other file.
    let mut left: Vec<String> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["notes.db", "notes.db.lock"], "no -wal or -shm left");
}

#[test]
fn a_database_from_a_newer_release_is_refused_untouched() {
    let mut server = TestServer::start();
    server.register("Ada");
    server.stop();
    let path = server.db_path();
    let db = rusqlite::Connection::open(&path).expect("open");
    db.pragma_update(None, "user_version", 99).expect("version");
    drop(db);
    let before = std::fs::read(&path).expect("read");
    let output = run(
        &[
            "--db",
            path.to_str().expect("path"),
            "--addr",
            "127.0.0.1:0",
        ],
        &server.dir(),
    );
    assert!(!output.status.success());
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(text.contains("newer"), "{text}");
    assert_eq!(std::fs::read(&path).expect("read"), before);
}
