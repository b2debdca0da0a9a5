//! `emotechat backup FILE` and `emotechat restore FILE`, and the copy the server's scheduled
//! backups make: the files around the SQL in `repo::backup`. A backup is built under a
//! temporary name beside its target, checked (integrity, EmoteChat schema), synced, and only
//! then given its name, so a crash or a full disk never leaves a half-written file under the
//! name of a backup. A restore does the same beside the database, while it holds the
//! database's lock (`repo::lock`), so no server runs on the file it replaces.

use std::fmt;
use std::fs::File;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::domain::EventId;
use crate::repo::backup::{self as sql, Contents};
use crate::repo::lock::{DbLock, LockError};
use crate::repo::{self, events};

/// Whether a backup may replace a file that already has its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    Refuse,
    Replace,
}

/// What a finished backup holds.
#[derive(Debug, Clone, Copy)]
pub struct BackupSummary {
    pub(crate) bytes: u64,
    pub(crate) contents: Contents,
    pub(crate) took: Duration,
}

impl fmt::Display for BackupSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} bytes, schema version {}, newest message id {}, integrity ok, took {:.2} s",
            self.bytes,
            self.contents.schema_version,
            newest_shown(&self.contents),
            self.took.as_secs_f64()
        )
    }
}

/// What a finished restore put in place.
#[derive(Debug, Clone, Copy)]
pub struct RestoreSummary {
    pub(crate) bytes: u64,
    /// The version the backup had, before the restore brought it up to date.
    pub(crate) backup_version: i64,
    pub(crate) contents: Contents,
}

impl fmt::Display for RestoreSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} bytes, schema version {}",
            self.bytes, self.contents.schema_version
        )?;
        if self.backup_version != self.contents.schema_version {
            write!(f, " (upgraded from {})", self.backup_version)?;
        }
        write!(
            f,
            ", newest message id {}, integrity ok; connected clients will resynchronise",
            newest_shown(&self.contents)
        )
    }
}

fn newest_shown(contents: &Contents) -> String {
    contents
        .newest_message
        .map_or_else(|| "none".to_owned(), |id| id.0.to_string())
}

/// Copies the database at `db` to `target` while a server may be running on it and writing.
pub fn backup(db: &Path, target: &Path, existing: Existing) -> Result<BackupSummary, String> {
    let started = Instant::now();
    require_file(db, "no database at")?;
    if existing == Existing::Refuse && exists(target)? {
        return Err(format!(
            "{} already exists; give --overwrite to replace it",
            target.display()
        ));
    }
    let source = sql::open_existing(db)?;
    let aside = aside_name(target, "tmp");
    remove_with_companions(&aside)?;
    let written = write_checked(&source, &aside).and_then(|contents| {
        place(&aside, target, existing)?;
        Ok(contents)
    });
    // After a link the aside name is a second name of the backup; after a failure it is a
    // half-written file. Either way it goes.
    let removed = remove_with_companions(&aside);
    let contents = written?;
    removed?;
    Ok(BackupSummary {
        bytes: size_of(target)?,
        contents,
        took: started.elapsed(),
    })
}

/// The copy, checked and on disk, under its temporary name.
fn write_checked(source: &rusqlite::Connection, aside: &Path) -> Result<Contents, String> {
    let expected = sql::contents(source)?.schema_version;
    sql::copy_into(source, aside).map_err(|e| format!("cannot write the copy: {e}"))?;
    let contents = check(aside)?;
    if contents.schema_version != expected {
        return Err(format!(
            "the copy has schema version {} where the database has {expected}",
            contents.schema_version
        ));
    }
    sync_file(aside)?;
    Ok(contents)
}

/// Integrity and schema of a database file: what it holds, or why it cannot be trusted.
fn check(path: &Path) -> Result<Contents, String> {
    let conn = sql::open_existing(path)?;
    sql::integrity(&conn)
        .map_err(|e| format!("cannot check {}: {e}", path.display()))?
        .map_err(|problems| format!("{} failed its integrity check: {problems}", path.display()))?;
    let contents = sql::contents(&conn)?;
    conn.close()
        .map_err(|(_, e)| format!("cannot close {}: {e}", path.display()))?;
    Ok(contents)
}

/// Puts the backup at `source` in place of the database at `db`, with a new event timeline so
/// that clients resynchronise. Refuses while a server holds the database.
pub fn restore(db: &Path, source: &Path) -> Result<RestoreSummary, String> {
    let _lock = DbLock::exclusive(db).map_err(|err| match err {
        LockError::Held => format!(
            "{} is in use by a running server; stop the server, then restore",
            db.display()
        ),
        LockError::Io(reason) => reason,
    })?;
    require_file(source, "no backup at")?;
    if has_live_log(source)? {
        return Err(format!(
            "{} has a write-ahead log beside it, so it is a live database rather than a backup; \
             make a backup of it first (emotechat backup --db {0} FILE)",
            source.display()
        ));
    }
    let past = newest_event_of(db)?;
    let staged = aside_name(db, "restore");
    remove_with_companions(&staged)?;
    let restored = stage(source, &staged, past).and_then(|summary| {
        retire(db)?;
        std::fs::rename(&staged, db)
            .map_err(|e| format!("cannot move the restored file into place: {e}"))?;
        sync_dir(db);
        Ok(summary)
    });
    let removed = remove_with_companions(&staged);
    let summary = restored?;
    removed?;
    Ok(summary)
}

/// The newest event id the database being replaced handed out (0 if there is none yet), so
/// that the restored file counts on from above it. A file that is not an EmoteChat database
/// is not replaced: `--db` probably names the wrong file.
fn newest_event_of(db: &Path) -> Result<EventId, String> {
    if !exists(db)? {
        return Ok(EventId(0));
    }
    let conn = sql::open_existing(db).map_err(|e| format!("refusing to replace it: {e}"))?;
    events::newest_id(&conn).map_err(|e| format!("cannot read {}: {e}", db.display()))
}

/// Copies the backup to `staged`, checks it, brings its schema up to date and starts a new
/// event timeline in it; then it is synced and ready to be renamed.
fn stage(source: &Path, staged: &Path, past: EventId) -> Result<RestoreSummary, String> {
    std::fs::copy(source, staged).map_err(|e| format!("cannot copy {}: {e}", source.display()))?;
    // The checks name the file they read; the operator knows it by the backup's name.
    let backup_version = check(staged)
        .map_err(|e| e.replace(&staged.display().to_string(), &source.display().to_string()))?
        .schema_version;
    let pool = repo::open(staged, 1).map_err(|e| e.to_string())?;
    repo::write(&pool, |tx| events::start_new_timeline(tx, past))
        .map_err(|e: repo::RepoError| format!("cannot reset the event timeline: {e}"))?;
    let contents = {
        let conn = pool.get().map_err(|e| e.to_string())?;
        sql::contents(&conn)?
    };
    repo::checkpoint(&pool).map_err(|e| format!("cannot checkpoint: {e}"))?;
    drop(pool);
    sync_file(staged)?;
    Ok(RestoreSummary {
        bytes: size_of(staged)?,
        backup_version,
        contents,
    })
}

/// Makes sure nothing of the replaced database outlives it: its write-ahead log would be
/// replayed onto the restored file. Leaving WAL mode needs every other connection closed, so
/// it also proves no other program (an sqlite3 shell, another command) has the file open.
fn retire(db: &Path) -> Result<(), String> {
    if exists(db)? {
        let conn = sql::open_existing(db)?;
        sql::leave_wal(&conn).map_err(|e| {
            format!(
                "another program has {} open ({e}); close it and restore again",
                db.display()
            )
        })?;
        conn.close()
            .map_err(|(_, e)| format!("cannot close {}: {e}", db.display()))?;
    }
    for suffix in ["-wal", "-shm", "-journal"] {
        remove_if_there(&with_suffix(db, suffix))?;
    }
    Ok(())
}

/// Whether a non-empty `-wal` file sits beside `path`.
fn has_live_log(path: &Path) -> Result<bool, String> {
    match std::fs::metadata(with_suffix(path, "-wal")) {
        Ok(meta) => Ok(meta.len() > 0),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(format!("cannot look beside {}: {e}", path.display())),
    }
}

/// Gives the checked copy its name: a rename when replacing is allowed, otherwise a hard link,
/// which fails if the name appeared meanwhile instead of replacing what appeared.
fn place(aside: &Path, target: &Path, existing: Existing) -> Result<(), String> {
    let placed = match existing {
        Existing::Replace => std::fs::rename(aside, target),
        Existing::Refuse => match std::fs::hard_link(aside, target) {
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Err(e),
            // A file system without hard links (FAT on a USB stick): a rename after one more look.
            Err(_) if !target.exists() => std::fs::rename(aside, target),
            other => other,
        },
    };
    placed.map_err(|e| format!("cannot name the backup {}: {e}", target.display()))?;
    sync_dir(target);
    Ok(())
}

fn require_file(path: &Path, missing: &str) -> Result<(), String> {
    if exists(path)? {
        Ok(())
    } else {
        Err(format!("{missing} {}", path.display()))
    }
}

fn exists(path: &Path) -> Result<bool, String> {
    path.try_exists()
        .map_err(|e| format!("cannot look at {}: {e}", path.display()))
}

fn size_of(path: &Path) -> Result<u64, String> {
    std::fs::metadata(path)
        .map(|meta| meta.len())
        .map_err(|e| format!("cannot read the size of {}: {e}", path.display()))
}

/// `<path>.<tag>-<pid>`: beside `path`, so the final rename stays on one file system, and
/// per process, so two commands at once never share one.
fn aside_name(path: &Path, tag: &str) -> PathBuf {
    with_suffix(path, &format!(".{tag}-{}", std::process::id()))
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn remove_with_companions(path: &Path) -> Result<(), String> {
    remove_if_there(path)?;
    for suffix in ["-wal", "-shm", "-journal"] {
        remove_if_there(&with_suffix(path, suffix))?;
    }
    Ok(())
}

fn remove_if_there(path: &Path) -> Result<(), String> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != ErrorKind::NotFound => {
            Err(format!("cannot remove {}: {e}", path.display()))
        }
        _ => Ok(()),
    }
}

fn sync_file(path: &Path) -> Result<(), String> {
    File::open(path)
        .and_then(|file| file.sync_all())
        .map_err(|e| format!("cannot sync {}: {e}", path.display()))
}

/// Makes a new name durable. Best effort, as SQLite does it: some file systems cannot sync a
/// directory, and the file itself is complete either way.
fn sync_dir(path: &Path) {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let _ = File::open(dir).and_then(|dir| dir.sync_all());
}
