//! Group commit. Every write goes through one connection, and writes that arrive while
//! another is running share its transaction: each runs in a savepoint of its own (so a failing
//! write undoes only itself), and the last writer of the group commits them all with one
//! sync of the log. Nobody's write is acknowledged before the commit that holds it is
//! durable, so `synchronous = FULL` costs one sync per group instead of one per write, and
//! writers queue on a mutex instead of sleeping in SQLite's busy handler.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use rusqlite::Connection;

use super::{RepoError, Tx};

/// A group is committed once it holds this many writes, even if more are waiting, so that
/// the first writer of a busy stream still gets its answer promptly.
const MAX_GROUP: usize = 64;

pub struct Writer {
    state: Mutex<State>,
    /// Writers that have asked for the connection and not yet finished their work. The one
    /// that brings it to zero commits the group.
    arrivals: AtomicUsize,
}

struct State {
    conn: Connection,
    group: Arc<Group>,
    writes_in_group: usize,
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
                writes_in_group: 0,
            }),
            arrivals: AtomicUsize::new(0),
        }
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
        state.fail_group_if_rolled_back();
        let group = Arc::clone(&state.group);
        let last = self.arrivals.fetch_sub(1, Ordering::SeqCst) == 1;
        if last || state.writes_in_group >= MAX_GROUP {
            state.commit_group();
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
        if self.conn.is_autocommit() {
            // IMMEDIATE takes the write lock up front, so the group never fails half-way
            // with SQLITE_BUSY against a writer outside this process.
            self.conn
                .execute_batch("BEGIN IMMEDIATE")
                .map_err(RepoError::from)?;
        }
        // Dropping a savepoint that was not released rolls it back: an error or a panic in
        // `work` leaves the group's other writes as they were.
        let savepoint = self.conn.savepoint().map_err(RepoError::from)?;
        let value = work(&savepoint)?;
        savepoint.commit().map_err(RepoError::from)?;
        self.writes_in_group += 1;
        Ok(value)
    }

    /// Some errors (a full disk, an I/O error) make SQLite roll back the whole transaction.
    /// The writes already in the group are then lost and must not be acknowledged; the next
    /// write starts a new group.
    fn fail_group_if_rolled_back(&mut self) {
        if self.writes_in_group > 0 && self.conn.is_autocommit() {
            self.finish_group(Err("the transaction was rolled back by the database".into()));
        }
    }

    fn commit_group(&mut self) {
        if self.conn.is_autocommit() {
            return;
        }
        let outcome = self.conn.execute_batch("COMMIT").map_err(|e| e.to_string());
        if outcome.is_err() && !self.conn.is_autocommit() {
            // Best effort: the outcome already says the group failed.
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        self.finish_group(outcome);
    }

    fn finish_group(&mut self, outcome: Result<(), String>) {
        let finished = std::mem::take(&mut self.group);
        self.writes_in_group = 0;
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
