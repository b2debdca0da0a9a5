//! The SQL behind `emotechat backup`, scheduled backups and `emotechat restore`: a consistent
//! copy of a live database, and the checks a copy must pass before it is trusted. The files
//! around them (temporary names, syncs, renames, locks) are `admin::backup`'s.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::{Found, RepoError, RepoResult, inspect};
use crate::domain::MessageId;

/// What a database file holds, as far as a backup or restore is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contents {
    pub schema_version: i64,
    pub newest_message: Option<MessageId>,
}

/// Opens an existing file without creating one, and checks that it is an EmoteChat database
/// this binary understands (the same checks the server makes before it opens one).
pub fn open_existing(path: &Path) -> Result<Connection, String> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    match inspect(&conn) {
        Ok(Found::Version(_)) => Ok(conn),
        Ok(Found::Empty) => Err(format!(
            "{} is not an EmoteChat database (it holds no tables)",
            path.display()
        )),
        Err(reason) => Err(format!(
            "{} is not an EmoteChat database this version can read: {reason}",
            path.display()
        )),
    }
}

/// Writes a consistent copy of the database to `target`, which must not exist. `VACUUM INTO`
/// reads the whole database in one read transaction: in WAL mode that sees one snapshot and
/// blocks no writer, however long it takes, and the copy is compact (no free pages, so no
/// text taken back lingers in it).
pub fn copy_into(conn: &Connection, target: &Path) -> RepoResult<()> {
    let target = target
        .to_str()
        .ok_or_else(|| RepoError::Other(format!("{} is not UTF-8", target.display())))?;
    conn.execute("VACUUM INTO ?1", [target])?;
    Ok(())
}

/// Takes the database out of WAL mode, folding its log into the file. SQLite refuses while
/// any other connection has the file open, which is what a restore needs to know.
pub fn leave_wal(conn: &Connection) -> RepoResult<()> {
    conn.query_row("PRAGMA journal_mode = DELETE", [], |_| Ok(()))?;
    Ok(())
}

/// `PRAGMA integrity_check`: `Ok` if the file is sound, else the first problems it names.
pub fn integrity(conn: &Connection) -> RepoResult<Result<(), String>> {
    let mut stmt = conn.prepare("PRAGMA integrity_check(10)")?;
    let lines = stmt
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    if lines == ["ok"] {
        Ok(Ok(()))
    } else {
        Ok(Err(lines.join("; ")))
    }
}

/// The schema version and the newest message of an EmoteChat database.
pub fn contents(conn: &Connection) -> Result<Contents, String> {
    let schema_version = match inspect(conn)? {
        Found::Version(v) => v,
        Found::Empty => return Err("the copy holds no tables".into()),
    };
    let newest_message = conn
        .query_row("SELECT max(id) FROM messages", [], |row| row.get(0))
        .map_err(|e| e.to_string())?;
    Ok(Contents {
        schema_version,
        newest_message,
    })
}
