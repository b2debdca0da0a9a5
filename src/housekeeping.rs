//! Background pruning, so the database does not grow without bound from data nobody can use:
//! events older than the retention period (clients that far behind get a `resync`), the
//! ended memberships whose events are all gone, expired sessions, used or expired reset
//! tokens, and attachments uploaded but never sent. Works in small batches so requests never wait
//! long for the write lock.

use std::thread;
use std::time::Duration;

use crate::domain::Timestamp;
use crate::repo::{self, Pool, attachments, conversations, events, resets, sessions};
use crate::uploads::Keeping;

/// How often the pruning runs.
const INTERVAL: Duration = Duration::from_secs(600);
/// Rows deleted per transaction.
const BATCH: u32 = 5000;
/// Attachments deleted per transaction: each takes its pieces (up to 40 per 10 MiB) with it.
const ATTACHMENT_BATCH: u32 = 50;

pub fn start(pool: Pool, event_retention_days: u32, uploads: Keeping) -> std::io::Result<()> {
    thread::Builder::new()
        .name("housekeeping".into())
        .spawn(move || {
            loop {
                let now = Timestamp::now();
                let cutoff = Timestamp(now.0 - i64::from(event_retention_days) * 86_400_000);
                let events = in_batches(&pool, BATCH, |tx| events::prune(tx, cutoff, BATCH));
                report("events", events);
                let past = in_batches(&pool, BATCH, |tx| {
                    conversations::prune_past_members(tx, BATCH)
                });
                report("ended memberships", past);
                let expired =
                    in_batches(&pool, BATCH, |tx| sessions::delete_expired(tx, now, BATCH));
                report("expired sessions", expired);
                let spent = in_batches(&pool, BATCH, |tx| resets::delete_spent(tx, now, BATCH));
                report("spent reset tokens", spent);
                let stale = uploads.stale(now);
                let unsent = in_batches(&pool, ATTACHMENT_BATCH, |tx| {
                    attachments::delete_unattached(tx, stale, ATTACHMENT_BATCH)
                });
                report("unsent attachments", unsent);
                thread::sleep(INTERVAL);
            }
        })
        .map(|_| ())
}

fn report(what: &str, pruned: repo::RepoResult<usize>) {
    match pruned {
        Ok(0) => {}
        Ok(n) => log::info!("pruned {n} {what}"),
        Err(err) => log::error!("pruning {what} failed: {err}"),
    }
}

/// Runs one batched delete of `size` rows until a batch comes back short; the total deleted.
fn in_batches(
    pool: &Pool,
    size: u32,
    batch: impl Fn(&repo::Tx) -> repo::RepoResult<usize>,
) -> repo::RepoResult<usize> {
    let mut total = 0;
    loop {
        let pruned = repo::write(pool, &batch)?;
        total += pruned;
        if pruned < size as usize {
            return Ok(total);
        }
        // Let waiting writers in between batches.
        thread::sleep(Duration::from_millis(10));
    }
}
