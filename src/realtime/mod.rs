//! Realtime delivery: the hub of open streams and the dispatcher that feeds it from the
//! `events` outbox after each commit, and the resume points streams hand out. Knows no HTTP.

pub mod dispatcher;
pub mod hub;
pub mod resume;

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
