//! Background pruning, so the database does not grow without bound from data nobody can use:
//! events older than the retention period (clients that far behind get a `resync`). Works in
//! small batches so requests never wait long for the write lock.

use std::thread;
use std::time::Duration;

use crate::domain::Timestamp;
use crate::repo::{self, Pool, events};

/// How often the pruning runs.
const INTERVAL: Duration = Duration::from_secs(600);
/// Rows deleted per transaction.
const BATCH: u32 = 5000;

pub fn start(pool: Pool, event_retention_days: u32) -> std::io::Result<()> {
    thread::Builder::new()
        .name("housekeeping".into())
        .spawn(move || {
            loop {
                let cutoff =
                    Timestamp(Timestamp::now().0 - i64::from(event_retention_days) * 86_400_000);
                match prune_events(&pool, cutoff) {
                    Ok(0) => {}
                    Ok(n) => log::info!("pruned {n} events older than {event_retention_days} days"),
                    Err(err) => log::error!("pruning events failed: {err}"),
                }
                thread::sleep(INTERVAL);
            }
        })
        .map(|_| ())
}

fn prune_events(pool: &Pool, before: Timestamp) -> repo::RepoResult<usize> {
    let mut total = 0;
    loop {
        let pruned = repo::write(pool, |tx| events::prune(tx, before, BATCH))?;
        total += pruned;
        if pruned < BATCH as usize {
            return Ok(total);
        }
        // Let waiting writers in between batches.
        thread::sleep(Duration::from_millis(10));
    }
}
