//! The dispatcher: one thread that reads new rows of the `events` outbox in id order and hands
//! each to the hub for the conversation's members. Handlers poke it after their commit; it
//! also looks on its own every second, so an event is never stranded by a missed poke.
//! Because writers are serialised, event ids grow in commit order, and reading "after the
//! last id seen" never skips one.
//!
//! Who gets an event is read with it: each batch looks up the audience of the conversations
//! it touches right after reading the events (`realtime::audience`: members with the event
//! they joined at, memberships that ended with the event that ended them), and nothing about
//! members is kept from one batch to the next. Membership is judged at each event's id, so an
//! event is sent to exactly those who were members when it was written, however the batches
//! fall and whatever committed between reading the events and reading the members. It costs
//! three indexed lookups per batch, and a batch holds everything committed since the last
//! poke.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::thread;
use std::time::Duration;

use rusqlite::Connection;

use super::audience::Recipients;
use super::event::Event;
use super::hub::{Frame, Hub};
use crate::domain::{Audience, ConversationId, EventId};
use crate::repo::{self, Pool, RepoError, RepoResult, conversations, events};

/// Events read per query.
const BATCH: u32 = 1000;
/// How often the dispatcher looks without being poked.
const SAFETY_INTERVAL: Duration = Duration::from_secs(1);

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
}

/// Who may be sent the events of each conversation in a batch.
type Audiences = HashMap<ConversationId, Audience>;

impl Dispatcher {
    fn new(pool: Pool, hub: Arc<Hub>, last: EventId) -> Dispatcher {
        Dispatcher { pool, hub, last }
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
            let (batch, audiences) = repo::read(&self.pool, |conn| {
                let batch = events::after(conn, self.last, BATCH)?;
                let audiences = audiences_of(conn, &batch)?;
                Ok::<_, RepoError>((batch, audiences))
            })?;
            let full = batch.len() == BATCH as usize;
            for event in batch {
                self.last = event.id;
                let to = audiences
                    .get(&event.conversation_id)
                    .map(|audience| audience.recipients(&event))
                    .unwrap_or_default();
                self.publish(event, to);
            }
            if !full {
                return Ok(());
            }
        }
    }

    /// Sends the event to its recipients: as stored, or without the quote of an original
    /// hidden from them (withheld entirely if it cannot be taken out).
    fn publish(&self, event: Event, to: Recipients) {
        if !to.without_quote.is_empty() {
            match event.without_quote() {
                Some(hidden) => {
                    let frame = Frame::Stored(Arc::new(hidden));
                    self.hub.publish(&frame, &to.without_quote, None);
                }
                None => log::error!("event {} has no quote to hide; withheld", event.id),
            }
        }
        self.hub
            .publish(&Frame::Stored(Arc::new(event)), &to.whole, None);
    }
}

/// The audience of each conversation the events belong to, from the batch's first event on.
fn audiences_of(conn: &Connection, batch: &[Event]) -> RepoResult<Audiences> {
    let Some(first) = batch.first() else {
        return Ok(Audiences::new());
    };
    let mut ids: Vec<ConversationId> = batch.iter().map(|e| e.conversation_id).collect();
    ids.sort_unstable();
    ids.dedup();
    conversations::audiences(conn, &ids, first.id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Email, MessageId, Name, Parse, SessionId, Timestamp, UserId};
    use crate::realtime::hub::{HubLimits, Subscription};
    use crate::repo::users;
    use crate::wire;

    fn user(tx: &repo::Tx, name: &str) -> RepoResult<UserId> {
        let name = Name::parse(name).expect("name");
        let email = Email::parse(&format!("{}@example.org", name.folded())).expect("email");
        users::insert(tx, &name, &email, "unused-hash", Timestamp::now()).map(|u| u.id)
    }

    /// Records a `read.updated` event in the conversation; its id.
    fn append(pool: &Pool, conversation: ConversationId, reader: UserId) -> EventId {
        repo::write(pool, |tx| {
            let read = wire::Event::read_updated(conversation, reader, MessageId(1));
            events::record(tx, conversation, &read)?;
            events::newest_id(tx)
        })
        .expect("event")
    }

    fn received(subscription: &Subscription) -> Vec<EventId> {
        subscription
            .frames
            .try_iter()
            .filter_map(|frame| match frame {
                Frame::Stored(event) => Some(event.id),
                Frame::Ephemeral { .. } => None,
            })
            .collect()
    }

    /// A database in a temp dir where Ada made a group with Bob, Cy is no member, and a hub
    /// with room for a stream each, `queue` frames deep.
    fn ada_and_bob_in_a_group_cy_not(
        queue: usize,
    ) -> (
        tempfile::TempDir,
        Pool,
        Arc<Hub>,
        [UserId; 3],
        ConversationId,
    ) {
        let dir = tempfile::tempdir().expect("temp dir");
        let pool = repo::open(&dir.path().join("dispatch.db"), 2).expect("open");
        let (users, group) = repo::write(&pool, |tx| {
            let (ada, bob, cy) = (user(tx, "ada")?, user(tx, "bob")?, user(tx, "cy")?);
            let group = conversations::create_group(tx, ada, None, &[bob], Timestamp::now())?;
            Ok::<_, RepoError>(([ada, bob, cy], group))
        })
        .expect("seed");
        let hub = Arc::new(Hub::new(HubLimits {
            streams_per_user: 1,
            streams_total: 3,
            queue,
        }));
        (dir, pool, hub, users, group)
    }

    #[test]
    fn a_member_added_after_an_event_gets_the_events_after_it() {
        let (_dir, pool, hub, [ada, bob, cy], group) = ada_and_bob_in_a_group_cy_not(8);
        let ada_stream = hub.subscribe(ada, SessionId(1)).expect("ada");
        let bob_stream = hub.subscribe(bob, SessionId(2)).expect("bob");
        let cy_stream = hub.subscribe(cy, SessionId(3)).expect("cy");
        let mut dispatcher = Dispatcher::new(pool.clone(), Arc::clone(&hub), EventId(0));

        let before = append(&pool, group, ada);
        dispatcher.dispatch_new().expect("dispatch");
        assert_eq!(received(&bob_stream), vec![before]);
        assert_eq!(received(&cy_stream), Vec::<EventId>::new());

        repo::write(&pool, |tx| {
            conversations::add_members(tx, group, &[cy], Timestamp::now())
        })
        .expect("cy joins");
        let after = append(&pool, group, ada);
        dispatcher.dispatch_new().expect("dispatch");
        assert_eq!(received(&cy_stream), vec![after], "the new member gets it");
        assert_eq!(received(&bob_stream), vec![after]);
        assert_eq!(received(&ada_stream), vec![before, after]);
    }

    /// Everything happens before the dispatcher looks, so one batch holds the events from
    /// before and after both changes, and the members it reads are those after them.
    #[test]
    fn one_batch_across_a_removal_and_a_join_splits_exactly_at_them() {
        let (_dir, pool, hub, [ada, bob, cy], group) = ada_and_bob_in_a_group_cy_not(16);
        let bob_stream = hub.subscribe(bob, SessionId(2)).expect("bob");
        let cy_stream = hub.subscribe(cy, SessionId(3)).expect("cy");
        let mut dispatcher = Dispatcher::new(pool.clone(), Arc::clone(&hub), EventId(0));

        let before = append(&pool, group, ada);
        let left = repo::write(&pool, |tx| {
            let ended = conversations::remove(tx, group, bob)?;
            let read = wire::Event::read_updated(group, ada, MessageId(1));
            let left = events::record(tx, group, &read)?;
            conversations::left_at_event(tx, group, ended, left)?;
            Ok::<_, RepoError>(left)
        })
        .expect("bob leaves");
        let between = append(&pool, group, ada);
        let joined = repo::write(&pool, |tx| {
            conversations::join(tx, group, cy)?;
            let read = wire::Event::read_updated(group, ada, MessageId(1));
            let joined = events::record(tx, group, &read)?;
            conversations::joined_at_event(tx, group, cy, joined)?;
            Ok::<_, RepoError>(joined)
        })
        .expect("cy joins");
        let after = append(&pool, group, ada);
        dispatcher.dispatch_new().expect("dispatch");

        assert_eq!(received(&bob_stream), vec![before, left]);
        assert_eq!(received(&cy_stream), vec![joined, after]);
        assert!(between < joined);
    }
}
