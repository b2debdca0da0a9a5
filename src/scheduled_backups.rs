//! Backups the server takes by itself (`--backup-dir`, `--backup-every`, `--backup-keep`), for
//! machines without cron: a thread that makes the same checked copy as `emotechat backup`,
//! names it by its UTC time, and keeps the newest few. A failed backup (a full disk, a backup
//! disk not mounted) is logged and tried again at the next tick; it never stops the server.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime};

use crate::admin::backup::{self, Existing};
use crate::config::BackupSchedule;
use crate::domain::Timestamp;

const PREFIX: &str = "emotechat-";
const SUFFIX: &str = ".db";

/// The running schedule; `stop` ends it after the backup in progress, if any.
pub struct Scheduled {
    stop: Sender<()>,
    thread: JoinHandle<()>,
}

impl Scheduled {
    pub fn stop(self) {
        drop(self.stop);
        // A panic in the thread was already reported.
        let _ = self.thread.join();
    }
}

pub fn start(db: PathBuf, schedule: BackupSchedule) -> std::io::Result<Scheduled> {
    let (stop, stopped) = mpsc::channel::<()>();
    let thread = thread::Builder::new()
        .name("backups".into())
        .spawn(move || {
            // A restart does not reset the clock: the next backup is due one interval after
            // the newest one already there (at once if there is none or it is older).
            let mut wait = until_due(&schedule);
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(wait) {
                take_one(&db, &schedule);
                wait = schedule.every;
            }
        })?;
    Ok(Scheduled { stop, thread })
}

fn until_due(schedule: &BackupSchedule) -> Duration {
    let newest = backups_in(&schedule.dir)
        .last()
        .and_then(|name| std::fs::metadata(schedule.dir.join(name)).ok())
        .and_then(|meta| meta.modified().ok());
    newest
        .and_then(|at| (at + schedule.every).duration_since(SystemTime::now()).ok())
        .unwrap_or(Duration::ZERO)
}

fn take_one(db: &Path, schedule: &BackupSchedule) {
    let target = schedule.dir.join(name_at(Timestamp::now()));
    let made = std::fs::create_dir_all(&schedule.dir)
        .map_err(|e| format!("cannot create {}: {e}", schedule.dir.display()))
        .and_then(|()| backup::backup(db, &target, Existing::Refuse));
    match made {
        Ok(summary) => {
            log::info!("scheduled backup {}: {summary}", target.display());
            prune(schedule);
        }
        Err(reason) => log::error!(
            "scheduled backup failed (trying again in {:?}): {reason}",
            schedule.every
        ),
    }
}

/// Deletes the backups past the newest `keep`; only files named as this schedule names them.
fn prune(schedule: &BackupSchedule) {
    for name in beyond_keep(backups_in(&schedule.dir), schedule.keep) {
        let path = schedule.dir.join(&name);
        match std::fs::remove_file(&path) {
            Ok(()) => log::info!("deleted old backup {}", path.display()),
            Err(e) => log::error!("cannot delete old backup {}: {e}", path.display()),
        }
    }
}

/// The scheduled backups in `dir`, oldest first (their names sort by time).
fn backups_in(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| is_backup_name(name))
        .collect();
    names.sort();
    names
}

/// What is past the newest `keep` of `names` (sorted oldest first).
fn beyond_keep(mut names: Vec<String>, keep: usize) -> Vec<String> {
    names.truncate(names.len().saturating_sub(keep));
    names
}

/// `emotechat-20261203T110453.123Z.db`: the UTC time, with no characters a file system or a
/// shell could mind, in an order that sorts by time.
fn name_at(at: Timestamp) -> String {
    let stamp: String = at
        .to_string()
        .chars()
        .filter(|c| !matches!(c, '-' | ':'))
        .collect();
    format!("{PREFIX}{stamp}{SUFFIX}")
}

fn is_backup_name(name: &str) -> bool {
    let Some(stamp) = name
        .strip_prefix(PREFIX)
        .and_then(|n| n.strip_suffix(SUFFIX))
    else {
        return false;
    };
    let b = stamp.as_bytes();
    let digits = |range: std::ops::Range<usize>| b[range].iter().all(u8::is_ascii_digit);
    b.len() == 20
        && (b[8], b[15], b[19]) == (b'T', b'.', b'Z')
        && digits(0..8)
        && digits(9..15)
        && digits(16..19)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn backups_are_named_by_their_utc_time_and_recognised_by_that_name() {
        let name = name_at(Timestamp(1_795_693_294_512));
        assert_eq!(name, "emotechat-20261126T114134.512Z.db");
        assert!(is_backup_name(&name));
        for other in [
            "emotechat.db",
            "emotechat-20261126T114134.512Z.db.tmp-42",
            "emotechat-20261126T114134Z.db",
            "emotechat-2026112xT114134.512Z.db",
            "family-photos.db",
            "emotechat-20261126T114134.512Z.db-wal",
        ] {
            assert!(!is_backup_name(other), "{other}");
        }
    }

    #[test]
    fn the_newest_keep_stay_at_the_limit_and_the_oldest_goes_one_past_it() {
        let three = names(&["emotechat-a", "emotechat-b", "emotechat-c"]);
        assert_eq!(beyond_keep(three.clone(), 3), Vec::<String>::new());
        assert_eq!(beyond_keep(three.clone(), 4), Vec::<String>::new());
        assert_eq!(beyond_keep(three.clone(), 2), names(&["emotechat-a"]));
        assert_eq!(
            beyond_keep(three, 1),
            names(&["emotechat-a", "emotechat-b"])
        );
    }

    #[test]
    fn the_newest_backup_only_sets_when_the_next_is_due() {
        let dir = tempfile::tempdir().expect("dir");
        let schedule = BackupSchedule {
            dir: dir.path().to_path_buf(),
            every: Duration::from_secs(3600),
            keep: 2,
        };
        assert_eq!(until_due(&schedule), Duration::ZERO, "none yet: at once");
        std::fs::write(dir.path().join("unrelated.db"), "x").expect("write");
        assert_eq!(until_due(&schedule), Duration::ZERO);
        std::fs::write(dir.path().join(name_at(Timestamp::now())), "x").expect("write");
        let wait = until_due(&schedule);
        assert!(
            wait > Duration::from_secs(3500) && wait <= Duration::from_secs(3600),
            "{wait:?}"
        );
    }
}
