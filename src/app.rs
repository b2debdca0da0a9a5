//! `App`: the state every handler needs, built once at start-up and passed down as `&App`.

use crate::auth::Hasher;
use crate::auth::tickets::Tickets;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::ratelimit::Limiter;
use crate::realtime::Realtime;
use crate::repo::Pool;
use crate::resets::ResetDesk;
use crate::web::WebClient;

pub struct App {
    pub config: Config,
    pub pool: Pool,
    pub hasher: Hasher,
    pub resets: ResetDesk,
    pub realtime: Realtime,
    pub limits: Limiter,
    pub tickets: Tickets,
    pub web: WebClient,
    pub metrics: Metrics,
}
