//! Metrics for Prometheus, served apart from the API when `--metrics-addr` is set. The
//! request path only increments atomics (`Metrics`, the limiter's refusals, the writer's
//! commit histograms); everything else (open connections and streams, file sizes, memory,
//! descriptors) is read when the page is asked for. Counters are hand-written rather than a
//! client crate's: a dozen metrics need no registry, and the exposition format is a page of
//! code (`text`).
//!
//! Request series are labelled with the route's pattern from the router's table, never the
//! raw path, so their number is bounded by the table: a path no route answers is counted
//! once per method as the route `unmatched`.

pub(crate) mod histogram;
mod listener;
mod process;
mod text;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use histogram::Histogram;
pub use listener::Listener;

use crate::address::ListenAddr;
use crate::app::App;
use crate::http::server::Stopper;
use crate::realtime::hub::Transport;
use histogram::REQUEST_SECONDS;
use text::{Exposition, Kind};

/// Methods that get their own series among requests no route answers; any other is `other`.
const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
/// The route label of a request no route answers.
const UNMATCHED: &str = "unmatched";
/// The statuses the server answers with, each its own series; any other is `other`.
const STATUSES: &[u16] = &[
    101, 200, 201, 204, 304, 400, 401, 403, 404, 405, 408, 409, 413, 414, 415, 422, 429, 431, 500,
    501, 503,
];

/// What the request path counts.
pub struct Metrics {
    /// `(method, pattern)` of each route, in the router's order.
    routes: Vec<(&'static str, &'static str)>,
    /// One counter per route slot (routes, then unmatched per method and `other`) and status
    /// (`STATUSES`, then `other`).
    requests: Box<[AtomicU64]>,
    /// One histogram per route slot.
    durations: Box<[Histogram]>,
    messages_sent: AtomicU64,
    logins_failed: AtomicU64,
}

impl Metrics {
    pub fn new(routes: Vec<(&'static str, &'static str)>) -> Metrics {
        let slots = routes.len() + METHODS.len() + 1;
        Metrics {
            requests: (0..slots * (STATUSES.len() + 1))
                .map(|_| AtomicU64::new(0))
                .collect(),
            durations: (0..slots)
                .map(|_| Histogram::new(REQUEST_SECONDS))
                .collect(),
            routes,
            messages_sent: AtomicU64::new(0),
            logins_failed: AtomicU64::new(0),
        }
    }

    /// Counts an answered request: `route` is its index in the router's table, `None` when
    /// no route answered it.
    pub fn request(&self, route: Option<usize>, method: &str, status: u16, took: Duration) {
        let slot = match route {
            Some(index) if index < self.routes.len() => index,
            _ => {
                let method = METHODS.iter().position(|m| *m == method);
                self.routes.len() + method.unwrap_or(METHODS.len())
            }
        };
        let status = STATUSES
            .iter()
            .position(|s| *s == status)
            .unwrap_or(STATUSES.len());
        self.requests[slot * (STATUSES.len() + 1) + status].fetch_add(1, Ordering::Relaxed);
        self.durations[slot].observe_duration(took);
    }

    pub fn message_sent(&self) {
        self.messages_sent.fetch_add(1, Ordering::Relaxed);
    }

    pub fn login_failed(&self) {
        self.logins_failed.fetch_add(1, Ordering::Relaxed);
    }

    /// The `(method, route)` labels of a route slot.
    fn slot_labels(&self, slot: usize) -> (&'static str, &'static str) {
        match self.routes.get(slot) {
            Some(route) => *route,
            None => (
                METHODS
                    .get(slot - self.routes.len())
                    .copied()
                    .unwrap_or("other"),
                UNMATCHED,
            ),
        }
    }

    fn write_requests(&self, page: &mut Exposition) {
        page.declare(
            "emotechat_http_requests_total",
            Kind::Counter,
            "HTTP requests answered, by method, route pattern and status.",
        );
        let per_slot = STATUSES.len() + 1;
        for (at, counter) in self.requests.iter().enumerate() {
            let count = counter.load(Ordering::Relaxed);
            if count == 0 {
                continue;
            }
            let (method, route) = self.slot_labels(at / per_slot);
            let status = STATUSES
                .get(at % per_slot)
                .map_or_else(|| "other".to_owned(), u16::to_string);
            page.sample(
                "emotechat_http_requests_total",
                &[("method", method), ("route", route), ("status", &status)],
                count as f64,
            );
        }
        page.declare(
            "emotechat_http_request_duration_seconds",
            Kind::Histogram,
            "Time from a parsed request to its response, by method and route pattern.",
        );
        for (slot, histogram) in self.durations.iter().enumerate() {
            let snapshot = histogram.snapshot();
            if snapshot.count() > 0 {
                let (method, route) = self.slot_labels(slot);
                page.histogram(
                    "emotechat_http_request_duration_seconds",
                    &[("method", method), ("route", route)],
                    &snapshot,
                );
            }
        }
    }
}

/// Where the page's figures come from.
pub struct Sources {
    pub app: Arc<App>,
    /// The API listener's connection count.
    pub connections: Stopper,
}

/// Serves the page at `/metrics` on `addr`, apart from the API.
pub fn serve(addr: &ListenAddr, sources: Sources) -> std::io::Result<Listener> {
    listener::start(addr, move || render(&sources))
}

/// The metrics page, in the text exposition format.
pub fn render(sources: &Sources) -> String {
    let app = &sources.app;
    let mut page = Exposition::default();
    page.declare(
        "emotechat_build_info",
        Kind::Gauge,
        "Always 1; the version of the running server is its label.",
    );
    page.sample(
        "emotechat_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1.0,
    );
    app.metrics.write_requests(&mut page);
    gauge(
        &mut page,
        "emotechat_open_connections",
        "Open connections to the API listener, realtime streams included.",
        sources.connections.open_connections() as f64,
    );
    page.declare(
        "emotechat_open_streams",
        Kind::Gauge,
        "Open realtime streams, by transport (Server-Sent Events or WebSocket).",
    );
    for transport in Transport::ALL {
        page.sample(
            "emotechat_open_streams",
            &[("transport", transport.name())],
            app.realtime.hub.open_streams_over(transport) as f64,
        );
    }
    counter(
        &mut page,
        "emotechat_messages_sent_total",
        "Messages stored by a send (a retried client_id is not counted again).",
        app.metrics.messages_sent.load(Ordering::Relaxed),
    );
    counter(
        &mut page,
        "emotechat_logins_failed_total",
        "Logins refused as invalid credentials (wrong password, unknown email, disabled account).",
        app.metrics.logins_failed.load(Ordering::Relaxed),
    );
    page.declare(
        "emotechat_rate_limited_total",
        Kind::Counter,
        "Attempts refused by a rate limit, by the rule that refused them.",
    );
    for (rule, refused) in app.limits.refusals() {
        page.sample(
            "emotechat_rate_limited_total",
            &[("rule", rule)],
            refused as f64,
        );
    }
    let commits = app.pool.commit_stats();
    page.declare(
        "emotechat_commit_group_size",
        Kind::Histogram,
        "Writes in each group commit that succeeded.",
    );
    page.histogram(
        "emotechat_commit_group_size",
        &[],
        &commits.group_sizes.snapshot(),
    );
    page.declare(
        "emotechat_commit_seconds",
        Kind::Histogram,
        "Time of each group commit that succeeded (mostly one sync of the log).",
    );
    page.histogram("emotechat_commit_seconds", &[], &commits.seconds.snapshot());
    gauge(
        &mut page,
        "emotechat_database_bytes",
        "Size of the database file.",
        process::file_bytes(&app.config.db) as f64,
    );
    gauge(
        &mut page,
        "emotechat_wal_bytes",
        "Size of the write-ahead log beside the database file.",
        process::file_bytes(&process::wal_path(&app.config.db)) as f64,
    );
    if let Some(bytes) = process::resident_bytes() {
        gauge(
            &mut page,
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            bytes as f64,
        );
    }
    if let Some(fds) = process::open_fds() {
        gauge(
            &mut page,
            "process_open_fds",
            "Number of open file descriptors.",
            fds as f64,
        );
    }
    page.finish()
}

fn gauge(page: &mut Exposition, name: &str, help: &str, value: f64) {
    page.declare(name, Kind::Gauge, help);
    page.sample(name, &[], value);
}

fn counter(page: &mut Exposition, name: &str, help: &str, value: u64) {
    page.declare(name, Kind::Counter, help);
    page.sample(name, &[], value as f64);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics() -> Metrics {
        Metrics::new(vec![("GET", "/a/{id}"), ("POST", "/a/{id}")])
    }

    fn page_of(metrics: &Metrics) -> String {
        let mut page = Exposition::default();
        metrics.write_requests(&mut page);
        page.finish()
    }

    #[test]
    fn requests_are_counted_by_route_pattern_and_status() {
        let metrics = metrics();
        let ms = Duration::from_millis(1);
        metrics.request(Some(1), "POST", 201, ms);
        metrics.request(Some(1), "POST", 201, ms);
        metrics.request(Some(0), "GET", 404, ms);
        metrics.request(None, "GET", 404, ms);
        metrics.request(None, "BREW", 405, ms);
        metrics.request(Some(0), "GET", 299, ms);
        let page = page_of(&metrics);
        for line in [
            r#"emotechat_http_requests_total{method="POST",route="/a/{id}",status="201"} 2"#,
            r#"emotechat_http_requests_total{method="GET",route="/a/{id}",status="404"} 1"#,
            r#"emotechat_http_requests_total{method="GET",route="unmatched",status="404"} 1"#,
            r#"emotechat_http_requests_total{method="other",route="unmatched",status="405"} 1"#,
            r#"emotechat_http_requests_total{method="GET",route="/a/{id}",status="other"} 1"#,
            r#"emotechat_http_request_duration_seconds_count{method="POST",route="/a/{id}"} 2"#,
            r#"emotechat_http_request_duration_seconds_bucket{method="GET",route="unmatched",le="0.001"} 1"#,
        ] {
            assert!(page.lines().any(|l| l == line), "{line} in\n{page}");
        }
        let series = page
            .lines()
            .filter(|l| l.starts_with("emotechat_http_requests_total{"))
            .count();
        assert_eq!(series, 5, "only counted series are written:\n{page}");
    }
}
