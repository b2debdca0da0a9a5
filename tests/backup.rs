//! Backups and restores: `emotechat backup FILE` against the database file a running server
//! is writing, `emotechat restore FILE` (refused while a server holds the database, with a new
//! event timeline after it), the server's scheduled backups, and an upgrade from a database
//! written by schema version 6 (`tests/fixtures/schema_v6.db`).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use rusqlite::Connection;
use serde_json::Value;

use crate::util::sse::{self, subscribe, subscribe_after};
use crate::util::{BIN, PASSWORD, TestServer, schema_version};

/// Runs `emotechat ARGS…` on the server's database, as an operator would beside it.
fn emotechat(server: &TestServer, args: &[&str]) -> Output {
    let db = server.db_path();
    Command::new(BIN)
        .args(args)
        .arg("--db")
        .arg(&db)
        .env_remove("EMOTECHAT_DB")
        .output()
        .expect("run emotechat")
}

fn backup(server: &TestServer, target: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["backup"];
    args.extend_from_slice(extra);
    args.push(target.to_str().expect("path"));
    emotechat(server, &args)
}

fn restore(server: &TestServer, source: &Path) -> Output {
    emotechat(server, &["restore", source.to_str().expect("path")])
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The one line a failed command writes, checked to be one `emotechat: …` line.
fn refusal(output: &Output) -> String {
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let text = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.starts_with("emotechat: "), "{text}");
    text
}

/// The number after `label` in a command's report, such as `newest message id 42`.
fn number_after(text: &str, label: &str) -> i64 {
    let rest = &text[text
        .find(label)
        .unwrap_or_else(|| panic!("{label} in {text}"))
        + label.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("a number after {label} in {text}"))
}

fn integrity(conn: &Connection) -> String {
    conn.query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .expect("integrity check")
}

fn user_version(conn: &Connection) -> i64 {
    conn.query_row("PRAGMA user_version", [], |row| row.get(0))
        .expect("version")
}

fn message_ids(conn: &Connection) -> Vec<i64> {
    conn.prepare("SELECT id FROM messages ORDER BY id")
        .expect("prepare")
        .query_map([], |row| row.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("ids")
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn history(server: &TestServer, token: &str, conversation: i64) -> Vec<Value> {
    let reply = server.get(
        &format!("/api/conversations/{conversation}/messages"),
        token,
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["messages"].as_array().expect("messages").clone()
}

fn bodies(messages: &[Value]) -> Vec<String> {
    messages
        .iter()
        .map(|m| m["body"].as_str().expect("body").to_owned())
        .collect()
}

#[test]
fn a_backup_taken_while_the_server_takes_writes_is_whole_and_names_its_newest_message() {
    let server = TestServer::start();
    let (ada, bob, id) = server.ada_and_bob_group();
    let first = server.say(&ada.token, id, "before the backup");
    let target = server.dir().join("backup.db");
    let stop = AtomicBool::new(false);
    let (output, sent) = thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let mut sent = 0;
            while !stop.load(Ordering::Relaxed) && sent < 5000 {
                server.say(&bob.token, id, &format!("during {sent}"));
                sent += 1;
            }
            sent
        });
        // The backup starts once writes are flowing.
        let deadline = Instant::now() + Duration::from_secs(20);
        while message_ids(&server.open_db()).len() < 20 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        let output = backup(&server, &target, &[]);
        stop.store(true, Ordering::Relaxed);
        (output, writer.join().expect("writer"))
    });
    assert!(output.status.success(), "{output:?}");
    let report = stdout(&output);
    assert!(report.contains("integrity ok"), "{report}");
    assert_eq!(
        number_after(&report, "schema version "),
        schema_version(),
        "{report}"
    );
    let newest = number_after(&report, "newest message id ");
    assert_eq!(
        number_after(&report, ": "),
        std::fs::metadata(&target).expect("size").len() as i64
    );

    let copy = Connection::open(&target).expect("open the backup");
    assert_eq!(integrity(&copy), "ok");
    assert_eq!(user_version(&copy), schema_version());
    let ids = message_ids(&copy);
    assert_eq!(
        ids.last(),
        Some(&newest),
        "the report names the copy's newest message"
    );
    assert_eq!(
        ids,
        (first..=newest).collect::<Vec<_>>(),
        "a snapshot: every message up to its newest, none missing"
    );
    assert!(newest > first + 10, "written while messages arrived");
    let total = message_ids(&server.open_db()).len() as i64;
    assert_eq!(total, 1 + sent, "every send was answered and stored");
    assert_eq!(
        names_in(&server.dir())
            .iter()
            .filter(|n| n.starts_with("backup.db"))
            .collect::<Vec<_>>(),
        ["backup.db"],
        "no temporary file or log left beside the backup"
    );
}

#[test]
fn a_backup_does_not_replace_an_existing_file_unless_told_to() {
    let server = TestServer::start();
    let (ada, _, id) = server.ada_and_bob_group();
    let target = server.dir().join("taken.db");
    std::fs::write(&target, "someone's file").expect("write");
    let text = refusal(&backup(&server, &target, &[]));
    assert!(
        text.contains("already exists") && text.contains("--overwrite"),
        "{text}"
    );
    assert_eq!(
        std::fs::read_to_string(&target).expect("read"),
        "someone's file"
    );

    let newest = server.say(&ada.token, id, "wanted");
    let output = backup(&server, &target, &["--overwrite"]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(number_after(&stdout(&output), "newest message id "), newest);
    assert_eq!(
        message_ids(&Connection::open(&target).expect("open")),
        [newest]
    );
}

#[test]
fn a_backup_of_a_missing_or_foreign_database_fails_with_a_reason_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let target = dir.path().join("out.db");
    let run = |db: &Path| {
        Command::new(BIN)
            .args(["backup", "--db"])
            .arg(db)
            .arg(&target)
            .output()
            .expect("run")
    };
    let missing = refusal(&run(&dir.path().join("nowhere.db")));
    assert!(missing.contains("no database at"), "{missing}");

    let notes = dir.path().join("notes.db");
    std::fs::write(&notes, "my notes, not a database\n".repeat(100)).expect("write");
    let text = refusal(&run(&notes));
    assert!(text.contains("not an EmoteChat database"), "{text}");

    let other = dir.path().join("other.db");
    Connection::open(&other)
        .expect("open")
        .execute_batch("CREATE TABLE photos (name TEXT)")
        .expect("another program's database");
    let text = refusal(&run(&other));
    assert!(text.contains("not an EmoteChat database"), "{text}");
    assert_eq!(
        names_in(dir.path()),
        ["notes.db", "other.db"],
        "nothing written"
    );
}

#[test]
fn the_database_comes_from_emotechat_db_as_for_the_server() {
    let server = TestServer::start();
    let (ada, _, id) = server.ada_and_bob_group();
    let newest = server.say(&ada.token, id, "from the environment");
    let target = server.dir().join("env.db");
    let output = Command::new(BIN)
        .args(["backup", target.to_str().expect("path")])
        .env("EMOTECHAT_DB", server.db_path())
        .current_dir(std::env::temp_dir())
        .output()
        .expect("run");
    assert!(output.status.success(), "{output:?}");
    assert_eq!(number_after(&stdout(&output), "newest message id "), newest);
}

#[test]
fn restore_is_refused_while_a_server_holds_the_database_and_done_once_it_stopped() {
    let mut server = TestServer::start();
    let (ada, _, id) = server.ada_and_bob_group();
    let kept = server.say(&ada.token, id, "in the backup");
    let saved = server.dir().join("saved.db");
    assert!(backup(&server, &saved, &[]).status.success());
    server.say(&ada.token, id, "after the backup");

    let text = refusal(&restore(&server, &saved));
    assert!(text.contains("in use by a running server"), "{text}");
    assert_eq!(
        bodies(&history(&server, &ada.token, id)),
        ["in the backup", "after the backup"],
        "the running server's database is untouched"
    );

    server.stop();
    let db = server.db_path();
    let wal = PathBuf::from(format!("{}-wal", db.display()));
    assert!(wal.exists(), "a killed server leaves its log behind");
    let output = restore(&server, &saved);
    assert!(output.status.success(), "{output:?}");
    let report = stdout(&output);
    assert_eq!(
        number_after(&report, "newest message id "),
        kept,
        "{report}"
    );
    assert!(report.contains("resynchronise"), "{report}");
    assert!(!wal.exists(), "the replaced database's log is gone");
    assert!(
        names_in(&server.dir())
            .iter()
            .all(|n| !n.contains(".restore-")),
        "{:?}",
        names_in(&server.dir())
    );

    server.restart();
    assert_eq!(bodies(&history(&server, &ada.token, id)), ["in the backup"]);
    assert_eq!(server.login(&ada.email, PASSWORD).status, 200);
    assert_eq!(user_version(&server.open_db()), schema_version());
}

#[test]
fn after_a_restore_every_resume_point_from_before_gets_resync() {
    // Each resume point below opens two streams, which the server notices closed only later.
    let mut server = TestServer::start_with(&["--max-streams-per-user", "64"]);
    let ada = server.user("Ada");
    let bob = server.user("Bob");
    let id = server.group(&bob.token, &[ada.id]);
    let mut stream = subscribe(&server, &ada, None);
    server.say(&bob.token, id, "in the backup");
    let saved = server.dir().join("saved.db");
    assert!(backup(&server, &saved, &[]).status.success());
    server.say(&bob.token, id, "lost");
    server.say(&bob.token, id, "lost too");
    let before: Vec<(String, i64)> = stream
        .stored(3)
        .into_iter()
        .map(|e| (e.token.expect("token"), e.id.expect("id")))
        .collect();
    assert_eq!(before.len(), 3, "one message in the backup, two after it");
    drop(stream);

    server.stop();
    assert!(restore(&server, &saved).status.success());
    server.restart();
    server.say(&bob.token, id, "after the restore");

    let mut points: Vec<String> = before.iter().map(|(token, _)| token.clone()).collect();
    points.extend(before.iter().map(|(_, id)| id.to_string()));
    for point in &points {
        let mut header = subscribe_after(&server, &ada, Some(point));
        let event = header.next(Duration::from_secs(5)).expect("an event");
        assert_eq!(
            event.kind, "resync",
            "Last-Event-ID {point}: {:?}",
            event.data
        );
        let mut query = sse::open(
            &server,
            &format!("/api/events?since={point}"),
            &sse::bearer(&ada.token),
        );
        assert_eq!(query.status, 200);
        let event = query.next(Duration::from_secs(5)).expect("an event");
        assert_eq!(event.kind, "resync", "since={point}: {:?}", event.data);
    }

    let mut fresh = subscribe(&server, &ada, None);
    server.say(&bob.token, id, "live");
    let live = fresh.stored(1);
    assert_eq!(live[0].data["message"]["body"], "live");
    assert!(
        live[0].id.expect("id") > before[2].1,
        "new events count on above every id handed out before"
    );
}

#[test]
fn restore_refuses_what_is_not_a_sound_backup_and_leaves_the_database_as_it_was() {
    let mut server = TestServer::start();
    server.ada_and_bob_group();
    let good = server.dir().join("good.db");
    assert!(backup(&server, &good, &[]).status.success());
    server.terminate();
    server.assert_stops_before_the_drain();
    let db = server.db_path();
    let before = std::fs::read(&db).expect("read");

    let missing = refusal(&restore(&server, &server.dir().join("nowhere.db")));
    assert!(missing.contains("no backup at"), "{missing}");

    let notes = server.dir().join("notes.db");
    std::fs::write(&notes, "not a database\n".repeat(300)).expect("write");
    let text = refusal(&restore(&server, &notes));
    assert!(text.contains("not an EmoteChat database"), "{text}");

    let damaged = server.dir().join("damaged.db");
    let mut bytes = std::fs::read(&good).expect("read");
    let page = 4096;
    for byte in &mut bytes[page * 2..page * 3] {
        *byte = 0x5a;
    }
    std::fs::write(&damaged, &bytes).expect("write");
    let text = refusal(&restore(&server, &damaged));
    assert!(text.contains("damaged.db"), "{text}");

    let live = server.dir().join("live.db");
    let open = Connection::open(&live).expect("open");
    open.execute_batch("PRAGMA journal_mode = WAL; PRAGMA user_version = 6; CREATE TABLE t (x);")
        .expect("a live database");
    let text = refusal(&restore(&server, &live));
    assert!(text.contains("live database"), "{text}");
    drop(open);

    // Another program (an sqlite3 shell) with the database open: its file is not swapped away
    // under it.
    let shell = Connection::open(&db).expect("open");
    shell
        .query_row("SELECT count(*) FROM users", [], |row| row.get::<_, i64>(0))
        .expect("read");
    let text = refusal(&restore(&server, &good));
    assert!(text.contains("another program has"), "{text}");
    drop(shell);

    assert_eq!(std::fs::read(&db).expect("read"), before, "untouched");
    assert!(
        names_in(&server.dir())
            .iter()
            .all(|n| !n.contains(".restore-")),
        "{:?}",
        names_in(&server.dir())
    );
}

#[test]
fn a_server_does_not_start_while_a_restore_holds_the_database() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("emotechat.db");
    // This test plays the restore: it holds the lock `emotechat restore` takes.
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.path().join("emotechat.db.lock"))
        .expect("lock file");
    lock.try_lock().expect("exclusive lock");
    let output = Command::new(BIN)
        .args(["--addr", "127.0.0.1:0", "--db"])
        .arg(&db)
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(text.contains("a restore of"), "{text}");
    assert!(!db.exists(), "the database was not touched");
    drop(lock);
    let server = TestServer::start_in(dir, &[]);
    server.user("Ada");
}

/// A backup file named as the schedule names them, `hours` old by its time and its name.
fn old_backup(dir: &Path, hours: u64) -> String {
    let at = SystemTime::now() - Duration::from_secs(hours * 3600);
    let name = format!("emotechat-20200101T{:02}0000.000Z.db", 23 - hours);
    let file = File::create(dir.join(&name)).expect("create");
    file.set_modified(at).expect("mtime");
    name
}

/// Starts a server with scheduled backups into `{dir}/backups`, waits for its first one,
/// stops it gracefully (which finishes the schedule's work), and lists the directory.
fn backups_after_one_tick(
    keep: &str,
    existing: impl Fn(&Path) -> Vec<String>,
) -> (Vec<String>, Vec<String>) {
    let dir = tempfile::tempdir().expect("dir");
    let backups = dir.path().join("backups");
    std::fs::create_dir(&backups).expect("mkdir");
    let before = existing(&backups);
    let mut server = TestServer::start_in(
        dir,
        &[
            "--backup-dir",
            "{dir}/backups",
            "--backup-every",
            "1",
            "--backup-keep",
            keep,
        ],
    );
    server
        .wait_for_log("scheduled backup /")
        .expect("a scheduled backup");
    server.terminate();
    server.assert_stops_before_the_drain();
    (before, names_in(&server.dir().join("backups")))
}

#[test]
fn scheduled_backups_keep_every_backup_up_to_the_limit() {
    let (before, after) = backups_after_one_tick("2", |dir| {
        std::fs::write(dir.join("notes.txt"), "mine").expect("write");
        vec![old_backup(dir, 2)]
    });
    assert_eq!(after.len(), 3, "{after:?}");
    assert_eq!(after[0], before[0], "at the limit nothing is deleted");
    assert!(after[1].starts_with("emotechat-2"), "{after:?}");
    assert_eq!(after[2], "notes.txt", "other files are left alone");
}

#[test]
fn scheduled_backups_one_past_the_limit_delete_the_oldest() {
    let (before, after) =
        backups_after_one_tick("2", |dir| vec![old_backup(dir, 3), old_backup(dir, 2)]);
    assert_eq!(after.len(), 2, "{after:?}");
    assert_eq!(after[0], before[1], "the newer old one stays");
    assert!(!after.contains(&before[0]), "the oldest went: {after:?}");
    assert!(after[1].as_str() > before[1].as_str());
}

#[test]
fn scheduled_backups_rotate_on_their_interval_and_each_is_a_sound_copy() {
    let dir = tempfile::tempdir().expect("dir");
    let mut server = TestServer::start_in(
        dir,
        &[
            "--backup-dir",
            "{dir}/b",
            "--backup-every",
            "0.0001",
            "--backup-keep",
            "2",
        ],
    );
    let (ada, _, id) = server.ada_and_bob_group();
    let newest = server.say(&ada.token, id, "in every backup");
    let backups = server.dir().join("b");
    let mut seen: Vec<String> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < 4 && Instant::now() < deadline {
        for name in names_in(&backups) {
            if name.ends_with("Z.db") && !seen.contains(&name) {
                seen.push(name);
            }
        }
        thread::sleep(Duration::from_millis(20));
    }
    assert!(seen.len() >= 4, "four backups within 60 s: {seen:?}");
    server.terminate();
    server.assert_stops_before_the_drain();
    let left = names_in(&backups);
    assert_eq!(left.len(), 2, "{left:?}");
    seen.sort();
    assert!(
        left.iter().all(|n| n.as_str() >= seen[2].as_str()),
        "the newest two: {left:?} of {seen:?}"
    );
    for name in &left {
        let copy = Connection::open(backups.join(name)).expect("open");
        assert_eq!(integrity(&copy), "ok");
        assert_eq!(message_ids(&copy).last(), Some(&newest));
    }
}

#[test]
fn a_failed_scheduled_backup_is_logged_and_tried_again_without_stopping_the_server() {
    let dir = tempfile::tempdir().expect("dir");
    let blocked = dir.path().join("b");
    std::fs::write(&blocked, "a file where the directory should be").expect("write");
    let mut server = TestServer::start_in(
        dir,
        &[
            "--backup-dir",
            "{dir}/b",
            "--backup-every",
            "0.0001",
            "--backup-keep",
            "3",
        ],
    );
    let failed = server
        .wait_for_log("scheduled backup failed")
        .expect("the failure is logged");
    assert!(failed.contains("ERROR"), "{failed}");
    let (ada, _, id) = server.ada_and_bob_group();
    server.say(&ada.token, id, "still serving");
    assert_eq!(server.request("GET", "/healthz").send().status, 200);

    std::fs::remove_file(&blocked).expect("unblock");
    let made = server
        .wait_for_log(&format!("scheduled backup {}", blocked.display()))
        .expect("the next tick succeeds");
    assert!(made.contains("integrity ok"), "{made}");
    server.terminate();
    server.assert_stops_before_the_drain();
    assert!(!names_in(&blocked).is_empty());
}

/// `tests/fixtures/schema_v6.db` was written by EmoteChat at schema version 6 (how: the
/// script beside it). Today's binary must open it in place, bring its version forward
/// to today's, and serve what it holds.
#[test]
fn todays_binary_opens_and_serves_a_schema_version_6_database() {
    let dir = tempfile::tempdir().expect("dir");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema_v6.db");
    std::fs::copy(&fixture, dir.path().join("emotechat.db")).expect("copy the fixture");
    let server = TestServer::start_in(dir, &[]);
    assert_eq!(user_version(&server.open_db()), schema_version());

    let login = server.login("ada@example.org", PASSWORD);
    assert_eq!(login.status, 200, "{}", login.body);
    let token = login.body["token"].as_str().expect("token").to_owned();
    let list = server.get("/api/conversations", &token);
    let conversations = list.body["conversations"].as_array().expect("list").clone();
    assert_eq!(conversations.len(), 2, "{}", list.body);
    let group = conversations
        .iter()
        .find(|c| c["title"] == "Fixture group")
        .expect("the group");
    let messages = history(&server, &token, group["id"].as_i64().expect("id"));
    assert_eq!(
        bodies(&messages),
        ["hello from version 6", "a reply", "edited text", ""]
    );
    assert!(messages[2]["edited_at"].is_string());
    assert_eq!(messages[3]["deleted"], true);
    let reactions: Vec<&str> = messages[1]["reactions"]
        .as_array()
        .expect("reactions")
        .iter()
        .map(|r| r["emote"].as_str().expect("emote"))
        .collect();
    assert_eq!(reactions.len(), 2, "{reactions:?}");
    assert!(reactions.contains(&":fixture:") && reactions.contains(&"\u{1F44D}"));
    let emote = server.request("GET", "/api/emotes/fixture").send();
    assert_eq!(emote.status, 200);
    assert_eq!(emote.header("Content-Type"), Some("image/png"));

    let bob = server.login("bob@example.org", PASSWORD);
    assert_eq!(bob.status, 200);
    let bob_token = bob.body["token"].as_str().expect("token");
    let direct = server.get("/api/conversations", bob_token).body["conversations"]
        .as_array()
        .expect("list")
        .iter()
        .find(|c| c["title"].is_null())
        .expect("the direct conversation")["id"]
        .as_i64()
        .expect("id");
    assert_eq!(bodies(&history(&server, bob_token, direct)), ["just us"]);
    let sent = server.say(&token, direct, "written by today's binary");
    assert!(sent > 5);
    let output = backup(&server, &server.dir().join("after.db"), &[]);
    assert_eq!(
        number_after(&stdout(&output), "schema version "),
        schema_version()
    );
}
