//! The repository: the only place that speaks SQL. This file owns the connection pool, the
//! pragmas every connection gets, the schema and its migrations, and the error type the rest
//! of the program sees. One file per table beside it, one function per query; `query_plans`
//! checks that the hot paths' statements stay few and use their indexes.

pub mod attachments;
pub mod backup;
pub mod blocks;
pub mod conversations;
pub mod emotes;
pub mod events;
mod ids;
pub mod invites;
pub mod lock;
pub mod messages;
#[cfg(test)]
mod query_plans;
pub mod reactions;
pub mod resets;
pub mod search;
pub mod sessions;
pub mod users;
mod writer;

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use r2d2::PooledConnection;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::config::DbConfig;
use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};

pub use writer::Tx;
use writer::Writer;

/// The schema a new file gets.
const SCHEMA: &str = include_str!("../../schema.sql");
/// The version `SCHEMA` sets with `PRAGMA user_version`.
pub const SCHEMA_VERSION: i64 = 12;
/// The steps from version 1 on: the first takes a file to version 2, the next to 3, and so on.
const MIGRATIONS: &[Step] = &[
    Step::Sql(include_str!("migrations/002_chat.sql")),
    Step::Sql(include_str!("migrations/003_counts.sql")),
    Step::Sql(include_str!("migrations/004_taken_back.sql")),
    // Version 5: names and emails in Unicode NFC.
    Step::Rust(users::normalise_stored),
    Step::Sql(include_str!("migrations/006_epoch.sql")),
    Step::Sql(include_str!("migrations/007_admin.sql")),
    Step::Sql(include_str!("migrations/008_groups.sql")),
    Step::Sql(include_str!("migrations/009_attachments.sql")),
    Step::Sql(include_str!("migrations/010_search_replies.sql")),
    Step::Sql(include_str!("migrations/011_past_history.sql")),
    Step::Sql(include_str!("migrations/012_search_speed.sql")),
];

/// One step of a migration: SQL, or Rust for what SQL cannot do (Unicode normalisation). Each
/// runs inside the transaction of the whole migration.
enum Step {
    Sql(&'static str),
    Rust(fn(&Connection) -> rusqlite::Result<()>),
}

/// How long a connection waits for another writer before giving up with `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Read connections the server may open: enough for the request threads of a small server.
pub const POOL_SIZE: u32 = 16;
/// Read connections kept open when idle. More are opened on demand (and closed again after
/// ten idle minutes), so an idle server starts fast and stays small.
const POOL_MIN_IDLE: u32 = 1;

/// The database: a pool of connections for reads, and the one connection every write goes
/// through (see `writer`). Cloning it is cheap and shares both.
#[derive(Clone)]
pub struct Pool {
    readers: r2d2::Pool<SqliteConnectionManager>,
    writer: Arc<Writer>,
}

impl Pool {
    /// A read connection from the pool.
    pub fn get(&self) -> Result<PooledConnection<SqliteConnectionManager>, RepoError> {
        Ok(self.readers.get()?)
    }

    /// How group commit is doing, for the metrics.
    pub fn commit_stats(&self) -> &writer::CommitStats {
        self.writer.stats()
    }

    /// The write connection, for tests that trace its statements.
    #[cfg(test)]
    pub fn writer_connection(&self) -> impl std::ops::Deref<Target = Connection> + '_ {
        self.writer.connection()
    }
}

#[derive(Debug)]
pub enum RepoError {
    NotFound,
    /// A unique value is already taken (the constraint's columns say which).
    Conflict(String),
    /// The database stayed locked or the pool stayed empty for too long.
    Busy,
    Other(String),
}

impl fmt::Display for RepoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RepoError::NotFound => f.write_str("not found"),
            RepoError::Conflict(what) => write!(f, "conflict: {what}"),
            RepoError::Busy => f.write_str("database busy"),
            RepoError::Other(cause) => write!(f, "database error: {cause}"),
        }
    }
}

impl From<rusqlite::Error> for RepoError {
    fn from(err: rusqlite::Error) -> RepoError {
        match &err {
            rusqlite::Error::QueryReturnedNoRows => RepoError::NotFound,
            rusqlite::Error::SqliteFailure(code, message) => match code.code {
                ErrorCode::ConstraintViolation
                    if code.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE =>
                {
                    RepoError::Conflict(message.clone().unwrap_or_default())
                }
                ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => RepoError::Busy,
                _ => RepoError::Other(err.to_string()),
            },
            _ => RepoError::Other(err.to_string()),
        }
    }
}

impl From<r2d2::Error> for RepoError {
    fn from(_: r2d2::Error) -> RepoError {
        RepoError::Busy
    }
}

pub type RepoResult<T> = Result<T, RepoError>;

/// Why a database file could not be opened; shown to the operator as one line.
#[derive(Debug)]
pub struct OpenError(pub String);

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Opens (or creates) the database file, checks that it is an EmoteChat database this binary
/// understands, brings its schema up to date, and returns a pool of configured connections.
/// A file that is not SQLite, belongs to something else, or was written by a newer EmoteChat
/// is refused before anything is written to it.
pub fn open(path: &Path, connections: u32) -> Result<Pool, OpenError> {
    let shown = path.display();
    let exists = path
        .try_exists()
        .map_err(|e| OpenError(format!("cannot open database {shown}: {e}")))?;
    if !exists {
        create_aside(path)
            .map_err(|e| OpenError(format!("cannot create database {shown}: {e}")))?;
    }
    let mut conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| OpenError(format!("cannot open database {shown}: {e}")))?;
    let found = inspect(&conn).map_err(|e| OpenError(format!("database {shown}: {e}")))?;
    configure(&mut conn)
        .map_err(|e| OpenError(format!("cannot configure database {shown}: {e}")))?;
    migrate(&mut conn, found)
        .map_err(|e| OpenError(format!("cannot upgrade database {shown}: {e}")))?;

    let manager = SqliteConnectionManager::file(path).with_init(configure);
    let readers = r2d2::Pool::builder()
        .max_size(connections)
        .min_idle(Some(POOL_MIN_IDLE.min(connections)))
        // A local SQLite connection cannot go stale; checking it on every checkout would
        // cost a query per request.
        .test_on_check_out(false)
        .connection_timeout(BUSY_TIMEOUT)
        .build(manager)
        .map_err(|e| OpenError(format!("cannot open database {shown}: {e}")))?;
    Ok(Pool {
        readers,
        writer: Arc::new(Writer::new(conn)),
    })
}

/// Opens an existing database as `open` does, but refuses a missing file instead of creating
/// one: for the operator's commands, where a mistyped path must not leave an empty database.
pub fn open_existing(path: &Path, connections: u32) -> Result<Pool, OpenError> {
    let shown = path.display();
    match path.try_exists() {
        Ok(true) => open(path, connections),
        Ok(false) => Err(OpenError(format!(
            "database {shown} does not exist (give its path with --db or EMOTECHAT_DB)"
        ))),
        Err(e) => Err(OpenError(format!("cannot open database {shown}: {e}"))),
    }
}

/// Builds a new database beside `path` and moves it into place once it is complete and on
/// disk: a crash during a first start leaves no half-made database behind, and building
/// without a sync per step, then syncing the finished file once, takes the first start from
/// nine syncs to two.
fn create_aside(path: &Path) -> Result<(), String> {
    // Named per process, so two servers started at once on a new path never share one.
    let mut aside = path.as_os_str().to_owned();
    aside.push(format!(".new-{}", std::process::id()));
    let aside = std::path::PathBuf::from(aside);
    // Left by a first start that crashed, under a process id that came round again (in a
    // container, every start has the same one): never given the real name, so never used.
    remove_aside(&aside)?;
    let built = build_new(&aside);
    let placed = built.and_then(|()| place(&aside, path));
    // After a link the aside name is only a second name of the database; after a failure
    // it is a half-made file nobody opens. Either way it goes.
    let removed = remove_aside(&aside);
    placed.and(removed)
}

fn remove_aside(aside: &Path) -> Result<(), String> {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = aside.as_os_str().to_owned();
        name.push(suffix);
        match std::fs::remove_file(&name) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(format!("cannot remove {}: {e}", Path::new(&name).display()));
            }
            _ => {}
        }
    }
    Ok(())
}

fn build_new(aside: &Path) -> Result<(), String> {
    let mut conn = Connection::open(aside).map_err(|e| e.to_string())?;
    // No syncs and no journal while building: a file that is not finished is never given
    // its name, so there is nothing to recover. WAL mode, which the file keeps, comes last.
    conn.execute_batch(
        "PRAGMA synchronous = OFF;
         PRAGMA journal_mode = OFF;",
    )
    .map_err(|e| e.to_string())?;
    migrate(&mut conn, Found::Empty).map_err(|e| e.to_string())?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(|e| e.to_string())?;
    if mode != "wal" {
        return Err(format!(
            "the file system does not support SQLite's WAL mode (got {mode})"
        ));
    }
    conn.close().map_err(|(_, e)| e.to_string())?;
    std::fs::File::open(aside)
        .and_then(|file| file.sync_all())
        .map_err(|e| e.to_string())
}

/// Gives the finished file its real name without replacing one that appeared meanwhile: a
/// hard link fails if the name exists. On a file system without hard links, a rename, after
/// one more look (a first start racing another first start there can still lose its file).
fn place(aside: &Path, path: &Path) -> Result<(), String> {
    match std::fs::hard_link(aside, path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
        Err(_) if path.exists() => return Ok(()),
        Err(_) => std::fs::rename(aside, path).map_err(|e| e.to_string())?,
    }
    // The new name is durable once the directory is. Best effort, as in SQLite: some file
    // systems cannot sync a directory, and the database itself is complete either way.
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if let Err(err) = std::fs::File::open(dir).and_then(|dir| dir.sync_all()) {
        log::warn!("cannot sync the directory of a new database: {err}");
    }
    Ok(())
}

/// What an existing file holds, read without writing anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    Empty,
    Version(i64),
}

fn inspect(conn: &Connection) -> Result<Found, String> {
    conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| e.to_string())?;
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(|e| match e.sqlite_error_code() {
            Some(ErrorCode::NotADatabase) => "not an SQLite database; refusing to touch it".into(),
            _ => e.to_string(),
        })?;
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0))
        .map_err(|e| e.to_string())?;
    match version {
        0 if tables == 0 => Ok(Found::Empty),
        0 => Err("holds tables but no EmoteChat schema version; refusing to touch it".into()),
        v if v > SCHEMA_VERSION => Err(format!(
            "schema version {v} is newer than this EmoteChat understands ({SCHEMA_VERSION}); \
             run a newer release"
        )),
        v => Ok(Found::Version(v)),
    }
}

/// The pragmas every connection gets. `busy_timeout` first, so that the others wait for a
/// lock instead of failing. `synchronous = FULL` syncs the WAL at every commit: an
/// acknowledged write survives a crash of the process and a power cut alike.
fn configure(conn: &mut Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // The query planner stability guarantee: a cached statement keeps its plan whatever
    // values are bound. With STAT4 statistics compiled in (libsqlite3-sys's default, off in
    // .cargo/config.toml) SQLite re-prepared statements on new bindings, a quarter of the
    // time of a history page; this keeps a build with other flags from doing so again. Our
    // plans are fixed by their indexes (see `query_plans`).
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    // `rarray(?)`: a list of ids as one bound parameter, for batch loads without N+1 queries.
    rusqlite::vtab::array::load_module(conn)?;
    conn.execute_batch(
        "PRAGMA foreign_keys = ON;
         PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;",
    )
}

/// Migrations run on the connection `open` is configuring, before the writer that later owns
/// it exists, in a transaction of their own: they are the one kind of write that does not go
/// through `write`, and nothing else can run while they do.
fn migrate(conn: &mut Connection, found: Found) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    match found {
        Found::Empty => tx.execute_batch(SCHEMA)?,
        Found::Version(from) => {
            for (to, step) in (2_i64..).zip(MIGRATIONS) {
                if to > from {
                    match step {
                        Step::Sql(sql) => tx.execute_batch(sql)?,
                        Step::Rust(work) => work(&tx)?,
                    }
                    tx.pragma_update(None, "user_version", to)?;
                }
            }
        }
    }
    tx.commit()
}

/// Runs `work` as one atomic write and returns once it is durable. Any error, the caller's
/// own included, rolls back everything `work` did. Concurrent writes share one commit (see
/// `writer`); `work` must not call `write` itself.
pub fn write<T, E: From<RepoError>>(
    pool: &Pool,
    work: impl FnOnce(&Tx) -> Result<T, E>,
) -> Result<T, E> {
    pool.writer.run(work)
}

/// Runs a read on a pooled connection.
pub fn read<T, E: From<RepoError>>(
    pool: &Pool,
    work: impl FnOnce(&Connection) -> Result<T, E>,
) -> Result<T, E> {
    let conn = pool.get()?;
    work(&conn)
}

/// A list of ids as one `rarray(?)` parameter.
fn id_array<T: Into<i64>>(ids: impl IntoIterator<Item = T>) -> rusqlite::vtab::array::Array {
    std::rc::Rc::new(
        ids.into_iter()
            .map(|id| rusqlite::types::Value::from(id.into()))
            .collect(),
    )
}

/// Folds the write-ahead log into the database file, so a stopped server leaves one
/// self-contained file behind.
pub fn checkpoint(pool: &Pool) -> RepoResult<()> {
    read(pool, |conn| {
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok::<_, RepoError>(())
    })
}

/// Whether the database answers a trivial query.
pub fn ping(pool: &Pool) -> RepoResult<()> {
    read(pool, |conn| {
        conn.query_row("SELECT 1", [], |_| Ok(()))?;
        Ok::<_, RepoError>(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every table, index and column definition, normalised for comparison.
    fn schema_of(conn: &Connection) -> Vec<(String, String)> {
        let mut stmt = conn
            .prepare("SELECT name, sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY name")
            .expect("prepare");
        stmt.query_map([], |row| {
            let sql: String = row.get(1)?;
            Ok((
                row.get(0)?,
                sql.split_whitespace().collect::<Vec<_>>().join(" "),
            ))
        })
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
    }

    #[test]
    fn migrating_from_version_1_gives_the_current_schema() {
        let mut fresh = Connection::open_in_memory().expect("open");
        migrate(&mut fresh, Found::Empty).expect("fresh schema");

        let mut old = Connection::open_in_memory().expect("open");
        old.execute_batch(include_str!("../../tests/fixtures/schema_v1.sql"))
            .expect("v1 schema");
        assert_eq!(inspect(&old), Ok(Found::Version(1)));
        migrate(&mut old, Found::Version(1)).expect("migrate");

        assert_eq!(schema_of(&old), schema_of(&fresh));
        let version = |c: &Connection| -> i64 {
            c.query_row("PRAGMA user_version", [], |r| r.get(0))
                .expect("version")
        };
        assert_eq!(version(&old), SCHEMA_VERSION);
        assert_eq!(version(&fresh), SCHEMA_VERSION);
    }

    #[test]
    fn migrating_to_version_4_rewrites_taken_back_text_in_stored_events() {
        let mut conn = Connection::open_in_memory().expect("open");
        conn.execute_batch(include_str!("../../tests/fixtures/schema_v1.sql"))
            .expect("v1 schema");
        for step in &MIGRATIONS[..2] {
            let Step::Sql(sql) = step else {
                panic!("versions 2 and 3 are SQL");
            };
            conn.execute_batch(sql).expect("to version 3");
        }
        conn.execute_batch(
            "INSERT INTO users VALUES (1, 'Ada', 'ada', 'a@x.org', 'a@x.org', 'h', 0);
             INSERT INTO conversations VALUES (1, 'group', NULL, NULL, 1, 0, 0, 3);
             INSERT INTO messages VALUES
                 (1, 1, 1, 'kept', NULL, 0, NULL, NULL),
                 (2, 1, 1, 'second', NULL, 0, 1795693294512, NULL),
                 (3, 1, 1, '', NULL, 0, NULL, 5);
             INSERT INTO events (conversation_id, type, data, created_at) VALUES
                 (1, 'message.created', '{\"message\":{\"id\":1,\"body\":\"kept\",\"edited_at\":null,\"deleted\":false,\"reactions\":[]}}', 0),
                 (1, 'message.created', '{\"message\":{\"id\":2,\"body\":\"first\",\"edited_at\":null,\"deleted\":false,\"reactions\":[]}}', 0),
                 (1, 'message.created', '{\"message\":{\"id\":3,\"body\":\"gone\",\"edited_at\":null,\"deleted\":false,\"reactions\":[{\"emote\":\"x\",\"count\":1,\"me\":false}]}}', 0),
                 (1, 'reaction.added', '{\"message_id\":3,\"emote\":\"x\"}', 0);",
        )
        .expect("version 3 data");
        migrate(&mut conn, Found::Version(3)).expect("migrate");
        let messages: Vec<serde_json::Value> = conn
            .prepare("SELECT data FROM events ORDER BY id")
            .expect("prepare")
            .query_map([], |row| row.get::<_, String>(0))
            .expect("query")
            .map(|data| serde_json::from_str(&data.expect("row")).expect("json"))
            .collect();
        let message = |i: usize| messages[i]["message"].clone();
        assert_eq!(message(0)["body"], "kept");
        assert_eq!(message(0)["edited_at"], serde_json::Value::Null);
        assert_eq!(message(1)["body"], "second");
        assert_eq!(message(1)["edited_at"], "2026-11-26T11:41:34.512Z");
        assert_eq!(message(2)["body"], "");
        assert_eq!(message(2)["deleted"], true);
        assert_eq!(message(2)["reactions"], serde_json::json!([]));
        assert_eq!(messages[3]["message_id"], 3);
    }

    #[test]
    fn migrating_to_version_5_normalises_names_and_emails() {
        let mut conn = Connection::open_in_memory().expect("open");
        conn.execute_batch(include_str!("../../tests/fixtures/schema_v1.sql"))
            .expect("v1 schema");
        // As versions that kept text as typed stored it: decomposed accents, lower-cased
        // without normalising; user 3 holds what user 1's address becomes once normalised.
        conn.execute_batch(
            "INSERT INTO users VALUES
                 (1, 'E\u{301}mile', 'e\u{301}mile', 'E\u{301}mile@X.org', 'e\u{301}mile@x.org', 'h', 0),
                 (2, 'Ada', 'ada', 'ada@x.org', 'ada@x.org', 'h', 0),
                 (3, 'Other', 'other', '\u{c9}mile@x.org', '\u{e9}mile@x.org', 'h', 0),
                 (4, 'O\u{308}tto', 'o\u{308}tto', 'O\u{308}tto@x.org', 'o\u{308}tto@x.org', 'h', 0);",
        )
        .expect("version 1 users");
        migrate(&mut conn, Found::Version(1)).expect("migrate");
        let row = |id: i64| -> [String; 4] {
            conn.query_row(
                "SELECT name, name_fold, email, email_lower FROM users WHERE id = ?1",
                [id],
                |r| Ok([r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?]),
            )
            .expect("user")
        };
        assert_eq!(row(2), ["Ada", "ada", "ada@x.org", "ada@x.org"]);
        assert_eq!(
            row(4),
            [
                "\u{d6}tto",
                "\u{f6}tto",
                "\u{d6}tto@x.org",
                "\u{f6}tto@x.org"
            ]
        );
        assert_eq!(
            row(3),
            ["Other", "other", "\u{c9}mile@x.org", "\u{e9}mile@x.org"]
        );
        // User 1's address would be user 3's: it stays as it was (and the log says so).
        assert_eq!(
            row(1),
            [
                "\u{c9}mile",
                "\u{e9}mile",
                "E\u{301}mile@X.org",
                "e\u{301}mile@x.org"
            ]
        );
    }

    /// The tables' files, whose functions must write through a `Tx`.
    const TABLE_FILES: &[(&str, &str)] = &[
        ("attachments", include_str!("attachments.rs")),
        ("conversations", include_str!("conversations.rs")),
        ("emotes", include_str!("emotes.rs")),
        ("events", include_str!("events.rs")),
        ("messages", include_str!("messages.rs")),
        ("reactions", include_str!("reactions.rs")),
        ("resets", include_str!("resets.rs")),
        ("sessions", include_str!("sessions.rs")),
        ("users", include_str!("users.rs")),
    ];

    /// Each top-level function of a file outside its tests: its name, signature and body.
    fn functions(source: &str) -> Vec<(&str, &str, &str)> {
        let code = source.split("#[cfg(test)]").next().unwrap_or(source);
        code.split("\n}\n")
            .filter_map(|item| {
                let start = item.rfind("\npub fn ").or_else(|| item.rfind("\nfn "))?;
                let function = item[start..].trim_start();
                let (signature, body) = function.split_once(" {\n")?;
                let name = signature.split("fn ").nth(1)?.split(['(', '<']).next()?;
                Some((name, signature, body))
            })
            .collect()
    }

    #[test]
    fn every_function_that_changes_a_table_takes_the_writers_transaction() {
        let mut checked = 0;
        for (file, source) in TABLE_FILES {
            for (name, signature, body) in functions(source) {
                let writes = ["INSERT ", "UPDATE ", "DELETE "]
                    .iter()
                    .any(|verb| body.contains(verb));
                // A migration step: it runs before the writer exists.
                if !writes || (*file, name) == ("users", "normalise_stored") {
                    continue;
                }
                checked += 1;
                assert!(
                    signature.contains("tx: &Tx"),
                    "{file}::{name} writes without a Tx: {signature}"
                );
            }
        }
        assert!(checked >= 25, "only {checked} writing functions found");
    }

    #[test]
    fn a_new_database_is_built_aside_and_leaves_nothing_else_behind() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("chat.db");
        let pool = open(&path, 1).expect("open");
        let conn = pool.get().expect("connection");
        assert_eq!(inspect(&conn), Ok(Found::Version(SCHEMA_VERSION)));
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            names
                .iter()
                .all(|n| n.starts_with("chat.db") && !n.contains(".new")),
            "{names:?}"
        );
    }

    #[test]
    fn a_half_made_database_left_under_the_same_process_id_is_discarded() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("chat.db");
        let leftover = dir
            .path()
            .join(format!("chat.db.new-{}", std::process::id()));
        std::fs::write(&leftover, "half made").expect("leftover");
        let pool = open(&path, 1).expect("open");
        let conn = pool.get().expect("connection");
        assert_eq!(inspect(&conn), Ok(Found::Version(SCHEMA_VERSION)));
        assert!(!leftover.exists());
    }

    #[test]
    fn a_database_that_appeared_meanwhile_is_not_replaced() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (aside, path) = (dir.path().join("a.db.new-1"), dir.path().join("a.db"));
        std::fs::write(&aside, "built by us").expect("aside");
        std::fs::write(&path, "built by another server").expect("path");
        place(&aside, &path).expect("place");
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "built by another server"
        );
    }

    #[test]
    fn foreign_databases_are_refused() {
        let conn = Connection::open_in_memory().expect("open");
        conn.execute_batch("CREATE TABLE other (x)")
            .expect("create");
        assert!(inspect(&conn).is_err());
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .expect("version");
        assert!(inspect(&conn).expect_err("newer").contains("newer"));
    }
}
