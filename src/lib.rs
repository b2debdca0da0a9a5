//! EmoteChat: a self-hosted chat server in one binary over one SQLite file.
//!
//! `start` is what both `main` and anything embedding the server call: it opens the
//! database, binds the address, and returns a handle to the running server.

// Public: what the `emotechat` command (`config` with its `address`, `admin`), the fuzz
// targets (`http::parse`) and the API document's test (`http::api_routes`) use. Everything
// else is the server's own.
pub mod address;
pub mod admin;
pub(crate) mod app;
pub(crate) mod auth;
pub mod config;
pub(crate) mod domain;
pub(crate) mod error;
pub(crate) mod handlers;
pub(crate) mod housekeeping;
pub mod http;
pub(crate) mod mail;
pub(crate) mod metrics;
pub(crate) mod ratelimit;
pub(crate) mod realtime;
pub(crate) mod repo;
pub(crate) mod resets;
pub(crate) mod scheduled_backups;
pub(crate) mod uploads;
pub(crate) mod web;
pub(crate) mod wire;

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use app::App;
use auth::Hasher;
use auth::tickets::Tickets;
use config::Config;
use http::parse::HeadLimits;
use http::server::{Handler, Limits, Server, Stopper};
use mail::Mailer;
use ratelimit::Limiter;
use realtime::Realtime;
use realtime::hub::{Hub, HubLimits};
use resets::ResetDesk;

/// Events a stream may have waiting before it is disconnected as too slow.
const STREAM_QUEUE: usize = 256;

/// Why the server could not start; one line for the operator.
#[derive(Debug)]
pub struct StartError(String);

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

/// A server that is accepting requests.
pub struct Running {
    addr: SocketAddr,
    thread: JoinHandle<()>,
    stopper: Stopper,
    pool: repo::Pool,
    hub: Arc<Hub>,
    backups: Option<scheduled_backups::Scheduled>,
    /// Held for the server's life, so `emotechat restore` refuses meanwhile.
    _lock: repo::lock::DbLock,
    metrics: Option<metrics::Listener>,
}

impl Running {
    /// The address actually bound (with the real port when port 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where metrics are served, when `--metrics-addr` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(metrics::Listener::addr)
    }

    /// Stops gracefully: no new connections, realtime streams ended at once (their clients
    /// reconnect to the next server, and would otherwise hold the stop up for the whole
    /// deadline), idle ones closed, requests in flight given up to `deadline` to finish; then
    /// the write-ahead log is folded into the database file.
    pub fn shutdown(self, deadline: Duration) {
        if let Some(metrics) = self.metrics {
            metrics.stop();
        }
        self.hub.close_all();
        if !self.stopper.stop(deadline) {
            log::warn!(
                "{} connections still open after {deadline:?}; stopping anyway",
                self.stopper.open_connections()
            );
        }
        // The accept loop ends once woken; a panic there was already reported.
        let _ = self.thread.join();
        // A backup in progress holds a read transaction, which the checkpoint would wait for.
        if let Some(backups) = self.backups {
            backups.stop();
        }
        if let Err(err) = repo::checkpoint(&self.pool) {
            log::error!("checkpoint at shutdown failed: {err}");
        }
    }
}

pub fn start(config: Config) -> Result<Running, StartError> {
    // Before the file is opened: a restore under way must not be overtaken.
    let lock = repo::lock::DbLock::shared(&config.db).map_err(|err| match err {
        repo::lock::LockError::Held => StartError(format!(
            "a restore of {} is under way; start the server once it has finished",
            config.db.display()
        )),
        repo::lock::LockError::Io(reason) => StartError(format!(
            "cannot lock the database {}: {reason}",
            config.db.display()
        )),
    })?;
    let pool = repo::open(&config.db, repo::POOL_SIZE).map_err(|e| StartError(e.to_string()))?;
    raise_open_file_limit(config.connections.max_connections);
    let (resets, inbox) = ResetDesk::new();
    let hub = Arc::new(Hub::new(HubLimits {
        streams_per_user: config.max_streams_per_user,
        streams_total: config.max_streams,
        queue: STREAM_QUEUE,
    }));
    let poke = realtime::dispatcher::start(pool.clone(), Arc::clone(&hub)).map_err(StartError)?;
    realtime::lockouts::start(pool.clone(), Arc::clone(&hub))
        .map_err(|e| StartError(format!("cannot start the lockout watch: {e}")))?;
    let epoch = repo::write(&pool, repo::events::begin_epoch)
        .map_err(|e| StartError(format!("cannot begin a stream epoch: {e}")))?;
    housekeeping::start(
        pool.clone(),
        config.event_retention_days,
        uploads::Keeping::of(&config),
    )
    .map_err(|e| StartError(format!("cannot start housekeeping: {e}")))?;
    let app = Arc::new(App {
        config: config.clone(),
        pool: pool.clone(),
        hasher: Hasher::new(),
        resets,
        realtime: Realtime {
            hub: Arc::clone(&hub),
            poke,
            epoch,
        },
        limits: Limiter::new(config.rate_limits, config.rate_budgets),
        tickets: Tickets::new(
            Duration::from_secs(u64::from(config.stream_ticket_secs)),
            auth::tickets::CAPACITY,
        ),
        web: web::WebClient::build(),
        metrics: metrics::Metrics::new(http::route_labels()),
    });
    let handling = Arc::clone(&app);
    let handler: Handler = Arc::new(move |request| http::handle(&handling, request));
    let server = Server::bind(&config.addr, limits(&config), http::body_limit, handler)
        .map_err(|e| StartError(format!("cannot listen on {}: {e}", config.addr)))?;
    let addr = server.addr();
    say_which_address(&config.addr, addr);
    let metrics =
        match &config.metrics_addr {
            Some(metrics_addr) => {
                let sources = metrics::Sources {
                    app,
                    connections: server.stopper(),
                };
                Some(metrics::serve(metrics_addr, sources).map_err(|e| {
                    StartError(format!("cannot serve metrics on {metrics_addr}: {e}"))
                })?)
            }
            None => None,
        };
    let mailer = Mailer::new(config.mail_command.clone(), config.public_url_for(addr));
    inbox
        .start_worker(pool.clone(), mailer, config.reset_minutes)
        .map_err(|e| StartError(format!("cannot start the reset worker: {e}")))?;
    let backups = config
        .backups
        .clone()
        .map(|schedule| scheduled_backups::start(config.db.clone(), schedule))
        .transpose()
        .map_err(|e| StartError(format!("cannot start scheduled backups: {e}")))?;
    let stopper = server.stopper();
    let thread = std::thread::Builder::new()
        .name("accept".into())
        .spawn(move || server.run())
        .map_err(|e| StartError(format!("cannot start the accept thread: {e}")))?;
    Ok(Running {
        addr,
        thread,
        stopper,
        pool,
        hub,
        backups,
        _lock: lock,
        metrics,
    })
}

/// A host name may stand for several addresses, of which the server listens on the first it
/// could bind: the log says which.
fn say_which_address(asked: &address::ListenAddr, bound: SocketAddr) {
    if let Some(name) = asked.host_name() {
        let all: Vec<String> = std::net::ToSocketAddrs::to_socket_addrs(asked)
            .map(|found| found.map(|a| a.ip().to_string()).collect())
            .unwrap_or_default();
        log::info!(
            "{name} resolves to {}; listening on {bound}, the first that could be bound",
            all.join(", ")
        );
    }
}

fn limits(config: &Config) -> Limits {
    let c = &config.connections;
    let secs = |s: u32| Duration::from_secs(u64::from(s));
    Limits {
        max_connections: c.max_connections,
        max_connections_per_ip: c.max_connections_per_ip,
        trusted_proxies: config.trusted_proxies.clone(),
        head: HeadLimits {
            max_line: c.max_header_bytes,
            max_headers: c.max_headers,
        },
        head_timeout: secs(c.request_timeout_secs),
        body_timeout: secs(c.body_timeout_secs),
        write_timeout: secs(c.write_timeout_secs),
        idle_timeout: secs(c.idle_timeout_secs),
    }
}

/// Each connection holds a file descriptor, and the default soft limit (often 1024) is below
/// what the connection cap allows: raise it to the hard limit, and say what that affords.
fn raise_open_file_limit(max_connections: usize) {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => {
            log::info!("open-file limit {limit}: room for {max_connections} connections");
            if limit < max_connections as u64 + 64 {
                log::warn!(
                    "open-file limit {limit} is below --max-connections {max_connections}; \
                     accept errors will pause new connections when it runs out"
                );
            }
        }
        Err(err) => log::warn!("cannot raise the open-file limit: {err}"),
    }
}
