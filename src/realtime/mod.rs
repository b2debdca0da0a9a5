//! Realtime delivery: the one event type, the hub of open streams, the dispatcher that feeds
//! it from the `events` outbox after each commit, the stream engine every transport runs
//! (through its `Sink`), the resume points streams hand out, what clients send back, and the
//! watch that closes the streams of accounts disabled from the command line.
//! Knows no HTTP.

pub mod audience;
pub mod client;
pub mod dispatcher;
pub mod event;
pub mod hub;
pub mod lockouts;
pub mod resume;
pub mod stream;

use std::sync::Arc;

use dispatcher::Poke;
use hub::Hub;

/// What handlers need of realtime: the hub (open streams, typing) and the dispatcher's poke.
pub struct Realtime {
    pub hub: Arc<Hub>,
    pub poke: Poke,
    /// This database's epoch, carried in the stream's event ids.
    pub epoch: resume::Epoch,
}
