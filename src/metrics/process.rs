//! What the operating system knows about the process and its files, read at each scrape:
//! resident memory and open descriptors from Linux's `/proc`, and the sizes of the database
//! and its write-ahead log. Elsewhere than Linux the process figures are simply left out.

use std::path::{Path, PathBuf};

/// Resident memory in bytes, from the `VmRSS` line of `/proc/self/status` (in kB there).
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    resident_bytes_in(&status)
}

fn resident_bytes_in(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut fields = line["VmRSS:".len()..].split_whitespace();
    let kilobytes: u64 = fields.next()?.parse().ok()?;
    (fields.next() == Some("kB")).then_some(kilobytes * 1024)
}

/// Open file descriptors: the entries of `/proc/self/fd` (the listing's own included, as
/// other exporters count it).
pub fn open_fds() -> Option<u64> {
    Some(std::fs::read_dir("/proc/self/fd").ok()?.count() as u64)
}

/// Bytes of a file, 0 when it does not exist (a write-ahead log right after a checkpoint).
pub fn file_bytes(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// SQLite's write-ahead log beside the database file.
pub fn wal_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resident_memory_is_read_from_the_status_line_in_kilobytes() {
        let status = "Name:\temotechat\nVmPeak:\t  9000 kB\nVmRSS:\t    2048 kB\nThreads:\t3\n";
        assert_eq!(resident_bytes_in(status), Some(2048 * 1024));
        assert_eq!(resident_bytes_in("Name:\tx\n"), None);
        assert_eq!(resident_bytes_in("VmRSS:\tlots kB\n"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_has_memory_and_descriptors() {
        assert!(resident_bytes().is_some_and(|b| b > 0));
        assert!(open_fds().is_some_and(|n| n >= 3));
    }

    #[test]
    fn the_log_sits_beside_the_database() {
        assert_eq!(
            wal_path(Path::new("/srv/chat.db")),
            PathBuf::from("/srv/chat.db-wal")
        );
        assert_eq!(file_bytes(Path::new("/nonexistent/file")), 0);
    }
}
