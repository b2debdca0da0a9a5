//! The database's lock file, `<db>.lock`: a running server holds a shared advisory lock on it
//! for its whole life, and `emotechat restore` an exclusive one while it replaces the file. So
//! a restore refuses while any server uses the database, and a server refuses to start while a
//! restore is under way. The kernel drops the lock when its holder exits, however it exits,
//! so a crashed server leaves nothing stale behind. The file itself stays (removing it would
//! let two processes lock two different files of one name).

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

/// A held lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct DbLock {
    _file: File,
}

/// Why a lock could not be taken.
#[derive(Debug)]
pub enum LockError {
    /// Another process holds it in a way that excludes us.
    Held,
    Io(String),
}

impl DbLock {
    /// What a running server holds: many may share it, a restore excludes it.
    pub fn shared(db: &Path) -> Result<DbLock, LockError> {
        let file = open(db)?;
        match file.try_lock_shared() {
            Ok(()) => Ok(DbLock { _file: file }),
            Err(err) => Err(refusal(err)),
        }
    }

    /// What a restore holds: no server runs on the database meanwhile.
    pub fn exclusive(db: &Path) -> Result<DbLock, LockError> {
        let file = open(db)?;
        match file.try_lock() {
            Ok(()) => Ok(DbLock { _file: file }),
            Err(err) => Err(refusal(err)),
        }
    }
}

/// `<db>.lock`, beside the database (SQLite's `-wal` and `-shm` need that directory
/// writable anyway).
pub fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

fn open(db: &Path) -> Result<File, LockError> {
    let path = lock_path(db);
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| LockError::Io(format!("cannot open {}: {e}", path.display())))
}

fn refusal(err: TryLockError) -> LockError {
    match err {
        TryLockError::WouldBlock => LockError::Held,
        TryLockError::Error(e) => LockError::Io(format!("cannot lock: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_holders_exclude_an_exclusive_one_and_the_other_way_round() {
        let dir = tempfile::tempdir().expect("dir");
        let db = dir.path().join("chat.db");
        let first = DbLock::shared(&db).expect("shared");
        let second = DbLock::shared(&db).expect("shared twice");
        assert!(matches!(DbLock::exclusive(&db), Err(LockError::Held)));
        drop((first, second));
        let restoring = DbLock::exclusive(&db).expect("exclusive once nobody holds it");
        assert!(matches!(DbLock::shared(&db), Err(LockError::Held)));
        drop(restoring);
        assert!(DbLock::shared(&db).is_ok());
    }
}
