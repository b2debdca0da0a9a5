//! The hub: who is listening, and a bounded queue per open stream. It knows no HTTP and no
//! SQL. Publishing never blocks: a stream whose queue is full is dropped from the hub (its
//! queue then runs dry and the stream ends), so a slow client is disconnected, never silently
//! skipped, and resumes from the last event it got. Every stream the hub ends learns why, so
//! its transport can tell the client whether to resume, log in again, or come back later.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use serde_json::value::RawValue;

use super::event::{Event, EventKind};
use crate::domain::{ConversationId, SessionId, UserId};

/// What a stream is sent: a stored event (with an id) or an ephemeral one (typing, resync).
#[derive(Debug, Clone)]
pub enum Frame {
    Stored(Arc<Event>),
    Ephemeral {
        kind: EventKind,
        data: Arc<RawValue>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HubLimits {
    pub streams_per_user: usize,
    pub streams_total: usize,
    /// Frames a stream may have waiting before it is disconnected.
    pub queue: usize,
}

/// Why the hub ended a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// Its session was logged out or revoked (password change or reset included).
    Revoked,
    /// Its queue filled up: the client fell behind.
    TooSlow,
    /// The server is stopping.
    ShuttingDown,
}

/// Why a stream could not be opened.
#[derive(Debug, PartialEq, Eq)]
pub struct Full;

/// What a stream is delivered over, for the count of open streams of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Sse,
    WebSocket,
}

impl Transport {
    pub const ALL: [Transport; 2] = [Transport::Sse, Transport::WebSocket];

    pub fn name(self) -> &'static str {
        match self {
            Transport::Sse => "sse",
            Transport::WebSocket => "websocket",
        }
    }

    fn index(self) -> usize {
        match self {
            Transport::Sse => 0,
            Transport::WebSocket => 1,
        }
    }
}

/// A stream counted as open over its transport until this is dropped.
pub struct TransportCount {
    hub: Arc<Hub>,
    transport: Transport,
}

impl Drop for TransportCount {
    fn drop(&mut self) {
        self.hub.by_transport[self.transport.index()].fetch_sub(1, Ordering::Relaxed);
    }
}

/// One typing notice per user and conversation per this interval.
const TYPING_INTERVAL: Duration = Duration::from_secs(2);
/// Typing timestamps older than this are forgotten, so the map stays small.
const TYPING_MEMORY: usize = 10_000;

pub struct Hub {
    limits: HubLimits,
    state: Mutex<State>,
    /// Open streams per transport (`Transport::index`), outside the lock: only counted.
    by_transport: [AtomicUsize; 2],
}

#[derive(Default)]
struct State {
    next_id: u64,
    streams: HashMap<u64, Listener>,
    by_user: HashMap<UserId, Vec<u64>>,
    /// Set once the server stops: no new streams.
    closed: bool,
    last_typing: HashMap<(UserId, ConversationId), Instant>,
}

struct Listener {
    user: UserId,
    session: SessionId,
    queue: SyncSender<Frame>,
    ended: Arc<OnceLock<EndReason>>,
}

/// An open stream's place in the hub: frames arrive on `frames`; dropping it leaves the hub.
pub struct Subscription {
    id: u64,
    hub: Arc<Hub>,
    pub frames: Receiver<Frame>,
    ended: Arc<OnceLock<EndReason>>,
}

impl Subscription {
    /// Why the hub ended this stream, once it has (its frames then run dry).
    pub fn end_reason(&self) -> Option<EndReason> {
        self.ended.get().copied()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.state().remove(self.id, None);
    }
}

impl Hub {
    pub fn new(limits: HubLimits) -> Hub {
        Hub {
            limits,
            state: Mutex::new(State::default()),
            by_transport: Default::default(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Opens a stream for a user's session, unless the user or the server has too many, or the
    /// server is stopping.
    pub fn subscribe(
        self: &Arc<Self>,
        user: UserId,
        session: SessionId,
    ) -> Result<Subscription, Full> {
        let mut state = self.state();
        let of_user = state.by_user.get(&user).map_or(0, Vec::len);
        if state.closed
            || of_user >= self.limits.streams_per_user
            || state.streams.len() >= self.limits.streams_total
        {
            return Err(Full);
        }
        let (queue, frames) = sync_channel(self.limits.queue);
        let ended = Arc::new(OnceLock::new());
        state.next_id += 1;
        let id = state.next_id;
        state.streams.insert(
            id,
            Listener {
                user,
                session,
                queue,
                ended: Arc::clone(&ended),
            },
        );
        state.by_user.entry(user).or_default().push(id);
        Ok(Subscription {
            id,
            hub: Arc::clone(self),
            frames,
            ended,
        })
    }

    /// Queues a frame for every stream of the given users, `except` one user if given.
    pub fn publish(&self, frame: &Frame, users: &[UserId], except: Option<UserId>) {
        let mut state = self.state();
        let mut overflowed = Vec::new();
        for user in users.iter().filter(|u| Some(**u) != except) {
            for id in state.by_user.get(user).into_iter().flatten() {
                let Some(listener) = state.streams.get(id) else {
                    continue;
                };
                match listener.queue.try_send(frame.clone()) {
                    Ok(()) | Err(TrySendError::Disconnected(_)) => {}
                    Err(TrySendError::Full(_)) => overflowed.push(*id),
                }
            }
        }
        for id in overflowed {
            log::info!("stream {id} fell behind and is disconnected");
            state.remove(id, Some(EndReason::TooSlow));
        }
    }

    /// Ends the streams opened with a session (logout, revocation).
    pub fn close_session(&self, session: SessionId) {
        let mut state = self.state();
        let ids: Vec<u64> = state
            .streams
            .iter()
            .filter(|(_, l)| l.session == session)
            .map(|(id, _)| *id)
            .collect();
        ids.into_iter()
            .for_each(|id| state.remove(id, Some(EndReason::Revoked)));
    }

    /// Ends a user's streams, but those of `keep` (password change keeps the calling session).
    pub fn close_user(&self, user: UserId, keep: Option<SessionId>) {
        let mut state = self.state();
        let ids: Vec<u64> = state
            .by_user
            .get(&user)
            .into_iter()
            .flatten()
            .filter(|id| {
                state
                    .streams
                    .get(id)
                    .is_some_and(|l| Some(l.session) != keep)
            })
            .copied()
            .collect();
        ids.into_iter()
            .for_each(|id| state.remove(id, Some(EndReason::Revoked)));
    }

    /// Ends every stream and refuses new ones: the server is stopping, and a stream must not
    /// hold the shutdown up (its client reconnects to the next server).
    pub fn close_all(&self) {
        let mut state = self.state();
        state.closed = true;
        let ids: Vec<u64> = state.streams.keys().copied().collect();
        ids.into_iter()
            .for_each(|id| state.remove(id, Some(EndReason::ShuttingDown)));
    }

    /// Whether a typing notice from this user in this conversation may go out now.
    pub fn allow_typing(&self, user: UserId, conversation: ConversationId) -> bool {
        let mut state = self.state();
        let now = Instant::now();
        if state.last_typing.len() > TYPING_MEMORY {
            state
                .last_typing
                .retain(|_, at| now.duration_since(*at) < TYPING_INTERVAL);
        }
        match state.last_typing.get(&(user, conversation)) {
            Some(at) if now.duration_since(*at) < TYPING_INTERVAL => false,
            _ => {
                state.last_typing.insert((user, conversation), now);
                true
            }
        }
    }

    /// Open streams right now.
    pub fn open_streams(&self) -> usize {
        self.state().streams.len()
    }

    /// Counts a stream as open over `transport` for as long as the count lives.
    pub fn count_transport(self: &Arc<Self>, transport: Transport) -> TransportCount {
        self.by_transport[transport.index()].fetch_add(1, Ordering::Relaxed);
        TransportCount {
            hub: Arc::clone(self),
            transport,
        }
    }

    /// Open streams over `transport` right now.
    pub fn open_streams_over(&self, transport: Transport) -> usize {
        self.by_transport[transport.index()].load(Ordering::Relaxed)
    }
}

impl State {
    /// Forgets a stream; dropping its sender ends it once its queue is drained. The reason,
    /// if the hub ended it, is recorded first, so the stream knows it when its frames run dry.
    fn remove(&mut self, id: u64, reason: Option<EndReason>) {
        let Some(listener) = self.streams.remove(&id) else {
            return;
        };
        if let Some(reason) = reason {
            // A stream ends once; the first reason is the one its client hears.
            let _ = listener.ended.set(reason);
        }
        if let Some(ids) = self.by_user.get_mut(&listener.user) {
            ids.retain(|other| *other != id);
            if ids.is_empty() {
                self.by_user.remove(&listener.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::EventId;

    fn hub(per_user: usize, total: usize, queue: usize) -> Arc<Hub> {
        Arc::new(Hub::new(HubLimits {
            streams_per_user: per_user,
            streams_total: total,
            queue,
        }))
    }

    fn event(id: EventId) -> Frame {
        Frame::Stored(Arc::new(Event {
            id,
            conversation_id: ConversationId(1),
            kind: EventKind::MessageCreated,
            data: RawValue::from_string("{}".into()).expect("json"),
        }))
    }

    fn ids(subscription: &Subscription) -> Vec<i64> {
        subscription
            .frames
            .try_iter()
            .filter_map(|f| match f {
                Frame::Stored(e) => Some(e.id.0),
                Frame::Ephemeral { .. } => None,
            })
            .collect()
    }

    #[test]
    fn open_streams_are_counted_per_transport_while_their_count_lives() {
        let hub = Arc::new(Hub::new(HubLimits {
            streams_per_user: 4,
            streams_total: 4,
            queue: 1,
        }));
        let sse = hub.count_transport(Transport::Sse);
        let ws = [
            hub.count_transport(Transport::WebSocket),
            hub.count_transport(Transport::WebSocket),
        ];
        assert_eq!(hub.open_streams_over(Transport::Sse), 1);
        assert_eq!(hub.open_streams_over(Transport::WebSocket), 2);
        drop(sse);
        drop(ws);
        for transport in Transport::ALL {
            assert_eq!(hub.open_streams_over(transport), 0, "{}", transport.name());
        }
    }

    #[test]
    fn members_get_events_and_others_do_not() {
        let hub = hub(8, 100, 16);
        let ada = hub.subscribe(UserId(1), SessionId(10)).expect("ada");
        let bob = hub.subscribe(UserId(2), SessionId(20)).expect("bob");
        hub.publish(&event(EventId(5)), &[UserId(1), UserId(3)], None);
        hub.publish(&event(EventId(6)), &[UserId(1), UserId(2)], Some(UserId(1)));
        assert_eq!(ids(&ada), vec![5]);
        assert_eq!(ids(&bob), vec![6]);
    }

    #[test]
    fn streams_are_capped_per_user_and_in_total() {
        let hub = hub(2, 3, 4);
        let _a = hub.subscribe(UserId(1), SessionId(1)).expect("first");
        let b = hub.subscribe(UserId(1), SessionId(1)).expect("second");
        assert_eq!(hub.subscribe(UserId(1), SessionId(1)).err(), Some(Full));
        let _c = hub.subscribe(UserId(2), SessionId(2)).expect("other user");
        assert_eq!(hub.subscribe(UserId(3), SessionId(3)).err(), Some(Full));
        drop(b);
        assert!(hub.subscribe(UserId(3), SessionId(3)).is_ok());
    }

    #[test]
    fn a_full_queue_disconnects_the_stream_after_what_it_holds() {
        let hub = hub(8, 100, 2);
        let slow = hub.subscribe(UserId(1), SessionId(1)).expect("slow");
        for id in 1..=3 {
            hub.publish(&event(EventId(id)), &[UserId(1)], None);
        }
        assert_eq!(hub.open_streams(), 0);
        assert_eq!(ids(&slow), vec![1, 2]);
        assert!(slow.frames.recv().is_err(), "then the stream ends");
        assert_eq!(slow.end_reason(), Some(EndReason::TooSlow));
    }

    #[test]
    fn closing_a_session_or_a_user_ends_their_streams() {
        let hub = hub(8, 100, 4);
        let first = hub
            .subscribe(UserId(1), SessionId(10))
            .expect("first session");
        let second = hub
            .subscribe(UserId(1), SessionId(11))
            .expect("second session");
        hub.close_session(SessionId(10));
        assert!(first.frames.recv().is_err());
        assert_eq!(first.end_reason(), Some(EndReason::Revoked));
        assert_eq!(second.end_reason(), None);
        hub.close_user(UserId(1), Some(SessionId(11)));
        hub.publish(&event(EventId(1)), &[UserId(1)], None);
        assert_eq!(ids(&second), vec![1]);
        hub.close_user(UserId(1), None);
        assert!(second.frames.recv().is_err());
        assert_eq!(second.end_reason(), Some(EndReason::Revoked));
    }

    #[test]
    fn closing_all_ends_every_stream_and_refuses_new_ones() {
        let hub = hub(8, 100, 4);
        let ada = hub.subscribe(UserId(1), SessionId(10)).expect("ada");
        let bob = hub.subscribe(UserId(2), SessionId(20)).expect("bob");
        hub.close_all();
        for stream in [&ada, &bob] {
            assert!(stream.frames.recv().is_err());
            assert_eq!(stream.end_reason(), Some(EndReason::ShuttingDown));
        }
        assert_eq!(hub.subscribe(UserId(3), SessionId(30)).err(), Some(Full));
    }

    #[test]
    fn typing_is_allowed_once_per_two_seconds() {
        let hub = hub(8, 100, 4);
        assert!(hub.allow_typing(UserId(1), ConversationId(7)));
        assert!(!hub.allow_typing(UserId(1), ConversationId(7)));
        assert!(hub.allow_typing(UserId(1), ConversationId(8)));
        assert!(hub.allow_typing(UserId(2), ConversationId(7)));
    }
}
