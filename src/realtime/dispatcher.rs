//! The dispatcher: one thread that reads new rows of the `events` outbox in id order and hands
//! each to the hub for the conversation's members. Handlers poke it after their commit; it
//! also looks on its own every second, so an event is never stranded by a missed poke.
//! Because writers are serialised, event ids grow in commit order, and reading "after the
//! last id seen" never skips one.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::thread;
use std::time::Duration;

use super::hub::{Frame, Hub};
use crate::domain::{ConversationId, EventId, UserId};
use crate::repo::{self, Pool, RepoError, conversations, events};

/// Events read per query.
const BATCH: u32 = 1000;
/// How often the dispatcher looks without being poked.
const SAFETY_INTERVAL: Duration = Duration::from_secs(1);
/// Conversations whose members are remembered; past this the cache starts over.
const MEMBER_CACHE: usize = 100_000;

/// Wakes the dispatcher after a commit.
#[derive(Clone)]
pub struct Poke(SyncSender<()>);

impl Poke {
    /// A poke that reaches no dispatcher, for tests that must not share their connection.
    #[cfg(test)]
    pub fn nowhere() -> Poke {
        Poke(sync_channel(1).0)
    }

    pub fn poke(&self) {
        // A poke already pending covers this one too; a gone dispatcher is logged by itself.
        match self.0.try_send(()) {
            Ok(()) | Err(TrySendError::Full(())) | Err(TrySendError::Disconnected(())) => {}
        }
    }
}

/// Starts the dispatcher thread, beginning after the newest event already stored.
pub fn start(pool: Pool, hub: Arc<Hub>) -> Result<Poke, String> {
    let start = repo::read(&pool, events::newest_id).map_err(|e| e.to_string())?;
    let (poke, pokes) = sync_channel(1);
    thread::Builder::new()
        .name("dispatcher".into())
        .spawn(move || Dispatcher::new(pool, hub, start).run(&pokes))
        .map_err(|e| format!("cannot start the dispatcher: {e}"))?;
    Ok(Poke(poke))
}

struct Dispatcher {
    pool: Pool,
    hub: Arc<Hub>,
    last: EventId,
    /// Members never change once a conversation exists, so they can be cached for good.
    members: HashMap<ConversationId, Arc<[UserId]>>,
}

impl Dispatcher {
    fn new(pool: Pool, hub: Arc<Hub>, last: EventId) -> Dispatcher {
        Dispatcher {
            pool,
            hub,
            last,
            members: HashMap::new(),
        }
    }

    fn run(mut self, pokes: &Receiver<()>) {
        loop {
            match pokes.recv_timeout(SAFETY_INTERVAL) {
                Ok(()) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            if let Err(err) = self.dispatch_new() {
                log::error!("dispatching events failed: {err}");
            }
        }
    }

    fn dispatch_new(&mut self) -> Result<(), RepoError> {
        loop {
            let batch = repo::read(&self.pool, |conn| events::after(conn, self.last, BATCH))?;
            let full = batch.len() == BATCH as usize;
            for stored in batch {
                let members = self.members_of(stored.conversation_id)?;
                self.last = stored.id;
                self.hub
                    .publish(&Frame::Stored(Arc::new(stored)), &members, None);
            }
            if !full {
                return Ok(());
            }
        }
    }

    fn members_of(&mut self, conversation: ConversationId) -> Result<Arc<[UserId]>, RepoError> {
        if let Some(members) = self.members.get(&conversation) {
            return Ok(Arc::clone(members));
        }
        if self.members.len() >= MEMBER_CACHE {
            self.members.clear();
        }
        let members: Arc<[UserId]> = repo::read(&self.pool, |conn| {
            conversations::member_ids(conn, conversation)
        })?
        .into();
        self.members.insert(conversation, Arc::clone(&members));
        Ok(members)
    }
}
