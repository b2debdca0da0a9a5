//! Group commit. Every write goes through one connection, and writes that arrive while
//! another is running share its transaction: each runs in a savepoint of its own (so a failing
//! write undoes only itself), and the last writer of the group commits them all with one
//! sync of the log. Nobody's write is acknowledged before the commit that holds it is
//! durable, so `synchronous = FULL` costs one sync per group instead of one per write, and
//! writers queue on a mutex instead of sleeping in SQLite's busy handler.

use std::ops::Deref;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use rusqlite::Connection;

use super::RepoError;
use crate::metrics::histogram::{COMMIT_SECONDS, GROUP_SIZES, Histogram};

/// A group is committed once this many writes have run in it (failed ones included), even
/// if more are waiting, so that the first writer of a busy stream still gets its answer
/// promptly.
const MAX_GROUP: usize = 64;

/// The write transaction handed to callers of `repo::write`, who pass it on to the
/// repository: a savepoint inside the transaction of a commit group. Only the writer makes
/// one, so every repository function that changes the database takes a `&Tx`, and none can
/// be handed a pooled read connection by mistake; functions that only read take a
/// `&Connection`, which a `Tx` derefs to (a read inside a write sees the write's changes).
pub struct Tx<'conn>(&'conn Connection);

impl Deref for Tx<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.0
    }
}

pub struct Writer {
    state: Mutex<State>,
    /// Writers that have asked for the connection and not yet finished their work. The one
    /// that brings it to zero commits the group.
    arrivals: AtomicUsize,
    /// Kept outside the mutex, so reading them never waits for a write.
    stats: CommitStats,
}

/// How group commit is doing, for the metrics: atomics, updated once per commit.
pub struct CommitStats {
    /// Writes (failed ones included) in each group that committed.
    pub group_sizes: Histogram,
    /// Time each successful `COMMIT` took.
    pub seconds: Histogram,
}

struct State {
    conn: Connection,
    group: Arc<Group>,
    /// Whether this writer began the group's transaction and has not ended it. Tracked
    /// rather than read from SQLite, so that a transaction left open by a failed rollback is
    /// never joined by a new group.
    open: bool,
    /// Writes run in the current group, failed ones included.
    tried: usize,
}

/// The outcome of one commit, awaited by every writer whose work it holds.
#[derive(Default)]
struct Group {
    outcome: Mutex<Option<Result<(), String>>>,
    decided: Condvar,
}

impl Group {
    fn decide(&self, outcome: Result<(), String>) {
        *lock(&self.outcome) = Some(outcome);
        self.decided.notify_all();
    }

    fn wait(&self) -> Result<(), RepoError> {
        let mut outcome = lock(&self.outcome);
        loop {
            match &*outcome {
                Some(Ok(())) => return Ok(()),
                Some(Err(cause)) => return Err(RepoError::Other(cause.clone())),
                None => {
                    outcome = self
                        .decided
                        .wait(outcome)
                        .unwrap_or_else(PoisonError::into_inner);
                }
            }
        }
    }
}

/// Locks a mutex whose data stays consistent even if a holder panicked: work runs under
/// `catch_unwind`, so a poisoned lock only means a panic was already handled.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Writer {
    pub fn new(conn: Connection) -> Writer {
        Writer {
            state: Mutex::new(State {
                conn,
                group: Arc::default(),
                open: false,
                tried: 0,
            }),
            arrivals: AtomicUsize::new(0),
            stats: CommitStats {
                group_sizes: Histogram::new(GROUP_SIZES),
                seconds: Histogram::new(COMMIT_SECONDS),
            },
        }
    }

    pub fn stats(&self) -> &CommitStats {
        &self.stats
    }

    /// Runs `work` in the current group's transaction and returns its value once that
    /// transaction is durable. An error from `work` undoes its changes only, and is returned
    /// at once; a failed commit fails every write of the group.
    pub fn run<T, E: From<RepoError>>(
        &self,
        work: impl FnOnce(&Tx) -> Result<T, E>,
    ) -> Result<T, E> {
        self.arrivals.fetch_add(1, Ordering::SeqCst);
        let mut state = lock(&self.state);
        let result = panic::catch_unwind(AssertUnwindSafe(|| state.run_in_savepoint(work)));
        state.tried += 1;
        state.fail_group_if_rolled_back();
        let group = Arc::clone(&state.group);
        let last = self.arrivals.fetch_sub(1, Ordering::SeqCst) == 1;
        if last || state.tried >= MAX_GROUP {
            state.commit_group(&self.stats);
        }
        drop(state);
        match result {
            Ok(Ok(value)) => {
                group.wait()?;
                Ok(value)
            }
            Ok(Err(err)) => Err(err),
            Err(panicked) => panic::resume_unwind(panicked),
        }
    }

    /// The connection every write goes through, for tests that trace its statements.
    #[cfg(test)]
    pub fn connection(&self) -> impl std::ops::Deref<Target = Connection> + '_ {
        struct Guard<'a>(MutexGuard<'a, State>);
        impl std::ops::Deref for Guard<'_> {
            type Target = Connection;
            fn deref(&self) -> &Connection {
                &self.0.conn
            }
        }
        Guard(lock(&self.state))
    }
}

impl State {
    fn run_in_savepoint<T, E: From<RepoError>>(
        &mut self,
        work: impl FnOnce(&Tx) -> Result<T, E>,
    ) -> Result<T, E> {
        if !self.open {
            if !self.conn.is_autocommit() {
                // Left open by a rollback that failed: its writes were already reported
                // failed, so they must not ride along with the next commit.
                self.conn
                    .execute_batch("ROLLBACK")
                    .map_err(RepoError::from)?;
            }
            // IMMEDIATE takes the write lock up front, so the group never fails half-way
            // with SQLITE_BUSY against a writer outside this process.
            self.conn
                .execute_batch("BEGIN IMMEDIATE")
                .map_err(RepoError::from)?;
            self.open = true;
        }
        let mut savepoint = self.conn.savepoint().map_err(RepoError::from)?;
        let outcome = work(&Tx(&savepoint));
        // Released on success; rolled back and released on an error, which leaves the
        // group's other writes as they were. (A panic in `work` drops the savepoint, which
        // rolls it back the same way.)
        let ended = match outcome {
            Ok(_) => savepoint.commit(),
            Err(_) => savepoint.rollback().and_then(|()| savepoint.commit()),
        };
        if let Err(err) = ended {
            // The group can no longer tell what it holds: none of it may be acknowledged.
            self.abandon_group(&format!("a savepoint could not be ended: {err}"));
            // A failed write keeps its own error, which says more (a full disk, say, after
            // which SQLite had already dropped the savepoint with the whole transaction).
            return outcome.and(Err(RepoError::from(err).into()));
        }
        outcome
    }

    /// Some errors (a full disk, an I/O error) make SQLite roll back the whole transaction.
    /// The writes already in the group are then lost and must not be acknowledged; the next
    /// write starts a new group.
    fn fail_group_if_rolled_back(&mut self) {
        if self.open && self.conn.is_autocommit() {
            self.finish_group(Err("the transaction was rolled back by the database".into()));
        }
    }

    fn abandon_group(&mut self, why: &str) {
        if !self.conn.is_autocommit() {
            // Best effort: if this fails too, the next group rolls back before it begins.
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        self.finish_group(Err(why.to_owned()));
    }

    fn commit_group(&mut self, stats: &CommitStats) {
        if !self.open {
            return;
        }
        let started = Instant::now();
        match self.conn.execute_batch("COMMIT") {
            Ok(()) => {
                stats.seconds.observe_duration(started.elapsed());
                stats.group_sizes.observe(self.tried as f64);
                self.finish_group(Ok(()));
            }
            Err(err) => self.abandon_group(&format!("commit failed: {err}")),
        }
    }

    fn finish_group(&mut self, outcome: Result<(), String>) {
        let finished = std::mem::take(&mut self.group);
        self.open = false;
        self.tried = 0;
        finished.decide(outcome);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Barrier;
    use std::thread;

    use super::*;

    fn writer() -> (tempfile::TempDir, Arc<Writer>) {
        let dir = tempfile::tempdir().expect("temp dir");
        let conn = Connection::open(dir.path().join("w.db")).expect("open");
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE t (n INTEGER PRIMARY KEY);",
        )
        .expect("schema");
        (dir, Arc::new(Writer::new(conn)))
    }

    fn insert(writer: &Writer, n: i64) -> Result<(), RepoError> {
        writer.run(|tx| {
            tx.execute("INSERT INTO t (n) VALUES (?1)", [n])?;
            Ok(())
        })
    }

    fn stored(writer: &Writer) -> Vec<i64> {
        let conn = writer.connection();
        let mut stmt = conn.prepare("SELECT n FROM t ORDER BY n").expect("prepare");
        stmt.query_map([], |row| row.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
    }

    /// Runs `write(writer, i)` on `threads` threads released at the same moment.
    fn concurrently<T: Send + 'static>(
        writer: &Arc<Writer>,
        threads: i64,
        write: fn(&Writer, i64) -> T,
    ) -> Vec<T> {
        let start = Arc::new(Barrier::new(threads as usize));
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let (writer, start) = (Arc::clone(writer), Arc::clone(&start));
                thread::spawn(move || {
                    start.wait();
                    write(&writer, i)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    }

    #[test]
    fn every_acknowledged_write_is_committed() {
        let (_dir, writer) = writer();
        let results = concurrently(&writer, 200, insert);
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        assert_eq!(stored(&writer), (0..200).collect::<Vec<_>>());
        assert!(
            writer.connection().is_autocommit(),
            "no transaction left open"
        );
    }

    #[test]
    fn each_commit_records_its_group_size_and_time() {
        let (_dir, writer) = writer();
        insert(&writer, 1).expect("insert");
        insert(&writer, 2).expect("insert");
        let sizes = writer.stats().group_sizes.snapshot();
        assert_eq!(sizes.count(), 2, "one commit each");
        assert_eq!(sizes.counts[0], 2, "groups of one");
        assert_eq!(writer.stats().seconds.snapshot().count(), 2);
        concurrently(&writer, 50, |w, i| insert(w, 100 + i).expect("insert"));
        let sizes = writer.stats().group_sizes.snapshot();
        assert_eq!(sizes.sum, 52.0, "every write is in one committed group");
    }

    #[test]
    fn a_failing_write_undoes_only_itself() {
        let (_dir, writer) = writer();
        let results = concurrently(&writer, 50, |w, i| {
            w.run(|tx| {
                tx.execute("INSERT INTO t (n) VALUES (?1)", [i])?;
                if i % 5 == 0 {
                    return Err(RepoError::Conflict(format!("{i} refused")));
                }
                Ok(())
            })
        });
        let refused = results.iter().filter(|r| r.is_err()).count();
        assert_eq!(refused, 10);
        let expected: Vec<i64> = (0..50).filter(|i| i % 5 != 0).collect();
        assert_eq!(stored(&writer), expected);
    }

    #[test]
    fn failing_writes_in_a_steady_stream_do_not_hold_up_a_successful_one() {
        let (_dir, writer) = writer();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let failing: Vec<_> = (0..4)
            .map(|_| {
                let (writer, stop) = (Arc::clone(&writer), Arc::clone(&stop));
                thread::spawn(move || {
                    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
                    while !stop.load(Ordering::SeqCst) && std::time::Instant::now() < deadline {
                        // Slow enough that the next failing writer always queues meanwhile.
                        let refused: Result<(), RepoError> = writer.run(|_| {
                            thread::sleep(std::time::Duration::from_millis(2));
                            Err(RepoError::Conflict("refused".into()))
                        });
                        assert!(refused.is_err());
                    }
                })
            })
            .collect();
        thread::sleep(std::time::Duration::from_millis(50));
        let started = std::time::Instant::now();
        insert(&writer, 1).expect("insert");
        let waited = started.elapsed();
        stop.store(true, Ordering::SeqCst);
        for thread in failing {
            thread.join().expect("failing writer");
        }
        // Before failed writes counted toward a group's size, this waited until the stream of
        // failures stopped (20 s here).
        assert!(
            waited < std::time::Duration::from_secs(5),
            "waited {waited:?}"
        );
        assert_eq!(stored(&writer), vec![1]);
    }

    #[test]
    fn a_panicking_write_undoes_only_itself_and_the_panic_reaches_its_caller() {
        let (_dir, writer) = writer();
        let results = concurrently(&writer, 20, |w, i| {
            panic::catch_unwind(AssertUnwindSafe(|| {
                w.run(|tx| {
                    tx.execute("INSERT INTO t (n) VALUES (?1)", [i])?;
                    assert!(i != 7, "write 7 panics");
                    Ok::<_, RepoError>(())
                })
            }))
        });
        assert_eq!(results.iter().filter(|r| r.is_err()).count(), 1);
        let expected: Vec<i64> = (0..20).filter(|&i| i != 7).collect();
        assert_eq!(stored(&writer), expected);
    }

    #[test]
    fn a_failed_commit_is_reported_and_the_next_group_starts_clean() {
        let (_dir, writer) = writer();
        // A deferred foreign key is only checked at COMMIT, so the commit itself fails.
        writer
            .connection()
            .execute_batch(
                "PRAGMA foreign_keys = ON;
                 CREATE TABLE parent (id INTEGER PRIMARY KEY);
                 CREATE TABLE child (parent_id INTEGER
                     REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);",
            )
            .expect("schema");
        let orphan = writer.run(|tx| {
            tx.execute("INSERT INTO child (parent_id) VALUES (42)", [])?;
            Ok::<_, RepoError>(())
        });
        assert!(matches!(orphan, Err(RepoError::Other(_))), "{orphan:?}");
        assert!(writer.connection().is_autocommit());
        insert(&writer, 1).expect("the next group commits");
        assert_eq!(stored(&writer), vec![1]);
    }
}
