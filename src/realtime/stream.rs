//! The stream engine, the same for every transport. A stream subscribes to the hub first,
//! then backfills the events stored after its resume point, then delivers live events,
//! skipping ids it already sent: every stored event after the resume point arrives exactly
//! once, in id order. A transport is a `Sink`: it frames what the engine hands it and does
//! its own upkeep (pings, liveness, replies) between events.
//!
//! A stream lives no longer than its session: logout and revocation in this process end it
//! through the hub at once; expiry, and revocation by anything else that writes the database
//! (an operator's `sqlite3`, a future admin command), are found by looking the session up
//! again every `--stream-session-check` seconds and at the session's known expiry instant.
//! One query per stream per interval is cheap, and needs no channel from other processes.

use std::io;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use serde_json::value::to_raw_value;

use super::Realtime;
use super::audience::Delivery;
use super::event::{EventKind, WireEvent};
use super::hub::{EndReason, Frame, Full, Subscription, Transport, TransportCount};
use super::resume::{self, Epoch, ResumePoint};
use crate::domain::{EventId, Session, SessionId, Timestamp, UserId};
use crate::repo::{self, Pool, RepoError, conversations, events, sessions};
use crate::wire::Resync;

/// Stored events read per backfill query.
const BACKFILL_BATCH: u32 = 500;

/// What a transport does with a stream: SSE and WebSocket carry the same events.
pub trait Sink {
    /// Sends one event, framed as this transport frames it.
    fn send(&mut self, event: &WireEvent) -> io::Result<()>;
    /// Work between events (pings, liveness, replies); false once the stream should end.
    fn service(&mut self) -> io::Result<bool>;
    /// How long to wait for an event before `service` is due.
    fn tick(&self) -> Duration;
    /// The server ends the stream, for this reason. An SSE client is told nothing more: the
    /// stream simply ends, `EventSource` reconnects and meets the same `401` or the next
    /// server.
    fn closed_by_server(&mut self, _: Ending) {}
}

/// Why the server ends a stream: a transport that can say so tells its client, so that it
/// can tell "resume" from "log in again" from "come back later".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The session was logged out or revoked: the client should not retry.
    Revoked,
    /// The session expired.
    Expired,
    /// The client fell behind (events or replies): resume with `since`.
    TooSlow,
    /// The client sent frames past its rate.
    TooManyFrames,
    /// The server is stopping: reconnect to the next one.
    GoingAway,
    /// The client stopped answering pings.
    NoPong,
    /// No thread could be had for the connection.
    Busy,
    /// The stream ended normally.
    Bye,
}

/// One open stream: its subscription, where it resumes from, and the session it lives by.
pub struct EventStream {
    pool: Pool,
    user: UserId,
    resume: Option<ResumePoint>,
    epoch: Epoch,
    subscription: Subscription,
    session: SessionWatch,
    /// Counts the stream among the open ones of its transport until it ends.
    _counted: TransportCount,
}

impl EventStream {
    /// Subscribes first, so nothing committed from now on can be missed. The session is
    /// looked up again every `check_every`; `Full` when the hub takes no more streams.
    pub fn open(
        pool: &Pool,
        realtime: &Realtime,
        user: UserId,
        session: &Session,
        check_every: Duration,
        resume: Option<ResumePoint>,
        transport: Transport,
    ) -> Result<EventStream, Full> {
        let subscription = realtime.hub.subscribe(user, session.id)?;
        Ok(EventStream {
            _counted: realtime.hub.count_transport(transport),
            pool: pool.clone(),
            user,
            resume,
            epoch: realtime.epoch.clone(),
            subscription,
            session: SessionWatch::new(session.id, check_every),
        })
    }

    /// Delivers events to `sink` until the client goes, the transport ends the stream, or
    /// the server does (then `sink` is told why).
    pub fn run(mut self, sink: &mut impl Sink) -> Result<(), StreamError> {
        // The handler checked the session before the stream subscribed; a logout committed
        // in between reached no subscription. Now that one would, look once more before
        // sending anything.
        if let Some(ending) = self.session.ended(&self.pool)? {
            sink.closed_by_server(ending);
            return Ok(());
        }
        let mut last = self.catch_up(sink)?;
        loop {
            match self.subscription.frames.recv_timeout(sink.tick()) {
                Ok(Frame::Stored(event)) if event.id <= last => {}
                Ok(Frame::Stored(event)) => {
                    let token = resume::token(&self.epoch, event.id);
                    sink.send(&WireEvent::stored(&event, &token))?;
                    last = event.id;
                }
                Ok(Frame::Ephemeral { kind, data }) => {
                    sink.send(&WireEvent::ephemeral(kind, &data))?;
                }
                Err(RecvTimeoutError::Timeout) => {}
                // The hub let go of the stream; it recorded why.
                Err(RecvTimeoutError::Disconnected) => {
                    sink.closed_by_server(self.hub_ending());
                    return Ok(());
                }
            }
            if let Some(ending) = self.session.ended(&self.pool)? {
                sink.closed_by_server(ending);
                return Ok(());
            }
            if !sink.service()? {
                return Ok(());
            }
        }
    }

    fn hub_ending(&self) -> Ending {
        match self.subscription.end_reason() {
            Some(EndReason::Revoked) => Ending::Revoked,
            Some(EndReason::ShuttingDown) => Ending::GoingAway,
            Some(EndReason::TooSlow) | None => Ending::TooSlow,
        }
    }

    /// Sends what was stored after the resume point and returns the last id sent; without
    /// a resume point the stream starts at the newest event. A resume point this database
    /// cannot continue from gets one `resync` instead: one from another database, one ahead
    /// of the newest event (a restored backup), or one older than what is kept.
    fn catch_up(&self, sink: &mut impl Sink) -> Result<EventId, StreamError> {
        let newest = repo::read(&self.pool, events::newest_id)?;
        let Some(resume) = &self.resume else {
            return Ok(newest);
        };
        if let Some(reason) = self.cannot_resume(resume, newest)? {
            let data = to_raw_value(&Resync { reason }).map_err(io::Error::other)?;
            sink.send(&WireEvent::ephemeral(EventKind::Resync, &data))?;
            return Ok(newest);
        }
        let mut last = resume.id;
        loop {
            let (batch, audiences) = repo::read(&self.pool, |conn| {
                let batch = events::after_for_member(conn, self.user, last, BACKFILL_BATCH)?;
                let mut ids: Vec<_> = batch.iter().map(|e| e.conversation_id).collect();
                ids.sort_unstable();
                ids.dedup();
                let from = batch.first().map_or(last, |e| e.id);
                let audiences = conversations::audiences(conn, &ids, from)?;
                Ok::<_, RepoError>((batch, audiences))
            })?;
            let full = batch.len() == BACKFILL_BATCH as usize;
            for event in batch {
                last = event.id;
                // The finer rules: a member's span was already the query's.
                let delivery = match audiences.get(&event.conversation_id) {
                    Some(audience) => audience.delivery_to(&event, self.user),
                    None => Some(Delivery::Whole),
                };
                let event = match delivery {
                    Some(Delivery::Whole) => event,
                    Some(Delivery::WithoutQuote) => match event.without_quote() {
                        Some(hidden) => hidden,
                        None => continue,
                    },
                    None => continue,
                };
                let token = resume::token(&self.epoch, event.id);
                sink.send(&WireEvent::stored(&event, &token))?;
            }
            if !full {
                return Ok(last);
            }
        }
    }

    /// Why the stream cannot pick up after `resume`, if it cannot.
    fn cannot_resume(
        &self,
        resume: &ResumePoint,
        newest: EventId,
    ) -> Result<Option<&'static str>, StreamError> {
        if let Some(epoch) = &resume.epoch {
            match repo::read(&self.pool, |conn| events::epoch_end(conn, epoch))? {
                None => {
                    return Ok(Some(
                        "the resume point is from another database or a restored one; refetch",
                    ));
                }
                Some(Some(end)) if resume.id > end => {
                    return Ok(Some(
                        "the resume point is from events a restored database does not have; refetch",
                    ));
                }
                Some(_) => {}
            }
        }
        if resume.id > newest {
            return Ok(Some(
                "the resume point is ahead of the newest event (a restored database?); refetch",
            ));
        }
        if resume.id < repo::read(&self.pool, events::pruned_through)? {
            return Ok(Some(
                "the resume point is older than the events kept; refetch",
            ));
        }
        Ok(None)
    }
}

/// Keeps a stream within its session's life: looks the session up again every `every`, and
/// at its expiry instant, whichever comes first.
struct SessionWatch {
    id: SessionId,
    every: Duration,
    next_check: Instant,
}

impl SessionWatch {
    /// A watch whose first check is due at once; later ones follow `due`.
    fn new(id: SessionId, every: Duration) -> SessionWatch {
        SessionWatch {
            id,
            every,
            next_check: Instant::now(),
        }
    }

    /// The next check: after `every`, or at the expiry instant if that is sooner.
    fn due(expires_at: Timestamp, every: Duration) -> Instant {
        let left_ms = u64::try_from(expires_at.0 - Timestamp::now().0).unwrap_or(0);
        Instant::now() + every.min(Duration::from_millis(left_ms))
    }

    /// How the stream must end, once its session has; `None` while it lives.
    fn ended(&mut self, pool: &Pool) -> Result<Option<Ending>, StreamError> {
        if Instant::now() < self.next_check {
            return Ok(None);
        }
        let id = self.id;
        match repo::read(pool, |conn| sessions::expiry(conn, id))? {
            None => Ok(Some(Ending::Revoked)),
            Some(expires_at) if expires_at.0 <= Timestamp::now().0 => Ok(Some(Ending::Expired)),
            Some(expires_at) => {
                self.next_check = Self::due(expires_at, self.every);
                Ok(None)
            }
        }
    }
}

/// Why a stream stopped early.
#[derive(Debug)]
pub enum StreamError {
    Io(io::Error),
    Repo(RepoError),
}

impl std::fmt::Display for StreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StreamError::Io(err) => write!(f, "{err}"),
            StreamError::Repo(err) => write!(f, "{err}"),
        }
    }
}

impl From<io::Error> for StreamError {
    fn from(err: io::Error) -> StreamError {
        StreamError::Io(err)
    }
}

impl From<RepoError> for StreamError {
    fn from(err: RepoError) -> StreamError {
        StreamError::Repo(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Email, Name, Parse};
    use crate::repo::{sessions, users};

    #[test]
    fn a_session_gone_before_the_stream_runs_ends_it_at_the_first_check() {
        let dir = tempfile::tempdir().expect("temp dir");
        let pool = repo::open(&dir.path().join("watch.db"), 2).expect("open");
        let now = Timestamp::now();
        let (live, gone) = repo::write(&pool, |tx| {
            let name = Name::parse("ada").expect("name");
            let email = Email::parse("ada@example.org").expect("email");
            let ada = users::insert(tx, &name, &email, "unused-hash", now)?;
            let expires = now.plus_days(1);
            let live = sessions::insert(tx, ada.id, b"live", None, now, expires)?.id;
            let gone = sessions::insert(tx, ada.id, b"gone", None, now, expires)?.id;
            sessions::delete_own(tx, ada.id, gone)?;
            Ok::<_, RepoError>((live, gone))
        })
        .expect("seed");
        let hour = Duration::from_secs(3600);
        assert_eq!(
            SessionWatch::new(gone, hour).ended(&pool).expect("check"),
            Some(Ending::Revoked),
            "a logout between the handler's check and the subscription"
        );
        let mut watch = SessionWatch::new(live, hour);
        assert_eq!(watch.ended(&pool).expect("check"), None);
        assert!(watch.next_check > Instant::now(), "the next check waits");
    }
}
