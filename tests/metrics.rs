//! `--metrics-addr`: Prometheus metrics on a listener of their own. A known workload gives
//! exactly the numbers it implies; the page parses as the exposition format (every sample of
//! a declared metric, histograms cumulative up to `+Inf`, `_count` equal to it); the two ports
//! answer only their own paths; and without the setting there is no second listener.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::util::{TestServer, sse, ws};

/// A metrics page, parsed and checked against the format's rules.
struct Page {
    text: String,
    /// Every sample: its name with its labels as written (`name{a="b"}`), and its value.
    samples: BTreeMap<String, f64>,
}

impl Page {
    fn value(&self, series: &str) -> f64 {
        *self
            .samples
            .get(series)
            .unwrap_or_else(|| panic!("no {series} in\n{}", self.text))
    }

    fn has(&self, series: &str) -> bool {
        self.samples.contains_key(series)
    }
}

/// Parses the text exposition format 0.0.4 strictly enough to catch a broken page: HELP then
/// TYPE once per metric, each sample after its metric's TYPE and named by it (a histogram's
/// by `_bucket`, `_sum` and `_count`), label values quoted, numbers that parse, and each
/// histogram series' buckets cumulative with `le="+Inf"` last and equal to `_count`.
fn parse(text: &str) -> Page {
    let mut declared: BTreeMap<String, String> = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    let mut helped: BTreeSet<String> = BTreeSet::new();
    let mut samples = BTreeMap::new();
    // Per histogram series (name and labels without `le`): its buckets in order.
    let mut buckets: BTreeMap<String, Vec<(String, f64)>> = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().expect("name");
            assert!(helped.insert(name.to_owned()), "HELP twice: {line}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(helped.contains(name), "TYPE before HELP: {line}");
            assert!(
                ["counter", "gauge", "histogram"].contains(&kind),
                "kind: {line}"
            );
            assert!(
                declared.insert(name.to_owned(), kind.to_owned()).is_none(),
                "TYPE twice: {line}"
            );
            current = Some((name.to_owned(), kind.to_owned()));
            continue;
        }
        assert!(
            !line.starts_with('#') && !line.is_empty(),
            "stray: {line:?}"
        );
        let (series, value) = line.rsplit_once(' ').expect("sample: series value");
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            number => number.parse().unwrap_or_else(|_| panic!("value: {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            Some((name, labels)) => (name, labels.strip_suffix('}').expect("closing brace")),
            None => (series, ""),
        };
        let pairs = label_pairs(labels, line);
        let (family, kind) = current.clone().expect("a sample before any TYPE");
        let suffix = name
            .strip_prefix(family.as_str())
            .expect("sample of its family");
        if kind == "histogram" {
            assert!(
                ["_bucket", "_sum", "_count"].contains(&suffix),
                "histogram sample: {line}"
            );
            let without_le: Vec<String> = pairs
                .iter()
                .filter(|(k, _)| k != "le")
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let key = format!("{family}{{{}}}", without_le.join(","));
            match suffix {
                "_bucket" => {
                    let le = pairs
                        .iter()
                        .find(|(k, _)| k == "le")
                        .map(|(_, v)| v.clone())
                        .expect("a bucket has le");
                    buckets.entry(key).or_default().push((le, value));
                }
                "_count" => {
                    let series_buckets = buckets.get(&key).expect("buckets before _count");
                    let (last_le, last) = series_buckets.last().expect("a bucket");
                    assert_eq!(last_le, "+Inf", "the last bucket is +Inf: {key}");
                    assert_eq!(*last, value, "_count equals the +Inf bucket: {key}");
                    assert!(
                        series_buckets.windows(2).all(|w| w[0].1 <= w[1].1),
                        "cumulative buckets: {key} {series_buckets:?}"
                    );
                    let bounds: Vec<f64> = series_buckets
                        .iter()
                        .map(|(le, _)| le.replace("+Inf", "inf").parse().expect("le"))
                        .collect();
                    assert!(bounds.windows(2).all(|w| w[0] < w[1]), "{key}");
                }
                _ => {}
            }
        } else {
            assert_eq!(suffix, "", "sample named as its metric: {line}");
        }
        assert!(
            samples.insert(series.to_owned(), value).is_none(),
            "series twice: {line}"
        );
    }
    assert_eq!(
        helped,
        declared.keys().cloned().collect(),
        "every HELP has a TYPE"
    );
    Page {
        text: text.to_owned(),
        samples,
    }
}

/// `a="x",b="y"` as pairs, checking quotes and escapes.
fn label_pairs(labels: &str, line: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut rest = labels;
    while !rest.is_empty() {
        let (name, after) = rest.split_once("=\"").unwrap_or_else(|| panic!("{line}"));
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "label name: {line}"
        );
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, c @ ('\\' | '"'))) => value.push(c),
                    Some((_, 'n')) => value.push('\n'),
                    other => panic!("bad escape {other:?}: {line}"),
                },
                Some((at, '"')) => break at,
                Some((_, c)) => value.push(c),
                None => panic!("unterminated label value: {line}"),
            }
        };
        pairs.push((name.to_owned(), value));
        rest = after[end + 1..]
            .strip_prefix(',')
            .unwrap_or(&after[end + 1..]);
    }
    pairs
}

/// The `HOST:PORT` of the metrics listener, from the line the server prints.
fn metrics_addr(server: &TestServer) -> String {
    let line = server
        .wait_for_log("metrics on ")
        .expect("the server says where metrics are");
    line.trim_start_matches("metrics on http://")
        .trim_end_matches("/metrics")
        .to_owned()
}

/// Sends a raw request to `addr` and reads the whole answer (every answer closes).
fn ask(addr: &str, request: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream.write_all(request.as_bytes()).expect("request");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("answer");
    let (head, body) = answer.split_once("\r\n\r\n").expect("head and body");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    (status, head.to_owned(), body.to_owned())
}

fn scrape(addr: &str) -> Page {
    let (status, head, body) = ask(addr, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status, 200, "{head}");
    assert!(
        head.contains("Content-Type: text/plain; version=0.0.4"),
        "{head}"
    );
    parse(&body)
}

/// Scrapes until `done` holds, for at most 10 s.
fn scrape_until(addr: &str, done: impl Fn(&Page) -> bool) -> Page {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let page = scrape(addr);
        if done(&page) || Instant::now() > deadline {
            return page;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn requests(method: &str, route: &str, status: u16) -> String {
    format!(
        "emotechat_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}}"
    )
}

const SSE_STREAMS: &str = "emotechat_open_streams{transport=\"sse\"}";
const WS_STREAMS: &str = "emotechat_open_streams{transport=\"websocket\"}";

#[test]
fn a_known_workload_gives_exactly_its_numbers() {
    let server = TestServer::start_with(&[
        "--metrics-addr",
        "127.0.0.1:0",
        "--rate-limits",
        "on",
        "--sends-per-user",
        "3/1h",
    ]);
    let addr = metrics_addr(&server);
    let idle = scrape(&addr);
    assert_eq!(idle.value("emotechat_messages_sent_total"), 0.0);
    assert_eq!(idle.value(SSE_STREAMS) + idle.value(WS_STREAMS), 0.0);
    assert!(!idle.text.contains("emotechat_http_requests_total{"));

    let ada = server.user("Ada");
    let bob = server.user("Bob");
    server
        .login(&ada.email, "wrong password")
        .assert_error(401, "invalid_credentials");
    let group = server.group(&ada.token, &[bob.id]);
    for text in ["one", "two", "three"] {
        server.say(&ada.token, group, text);
    }
    let refused = server.send(&ada.token, group, json!({"body": "four"}));
    refused.assert_error(429, "rate_limited");
    assert_eq!(server.request("GET", "/no/such/path").send().status, 404);
    let sse_stream = sse::subscribe(&server, &bob, None);
    let ws_streams = [
        ws::connect(&server, &ada, ""),
        ws::connect(&server, &bob, ""),
    ];

    let page = scrape_until(&addr, |page| {
        page.value(SSE_STREAMS) == 1.0 && page.value(WS_STREAMS) == 2.0
    });
    let messages = "/api/conversations/{id}/messages";
    for (series, expected) in [
        (requests("POST", "/api/auth/register", 200), 2.0),
        (requests("POST", "/api/auth/login", 200), 2.0),
        (requests("POST", "/api/auth/login", 401), 1.0),
        (requests("POST", "/api/conversations", 201), 1.0),
        (requests("POST", messages, 201), 3.0),
        (requests("POST", messages, 429), 1.0),
        (requests("GET", "unmatched", 404), 1.0),
        (requests("GET", "/api/events", 200), 1.0),
        (
            format!(
                "emotechat_http_request_duration_seconds_count{{method=\"POST\",route=\"{messages}\"}}"
            ),
            4.0,
        ),
        ("emotechat_messages_sent_total".into(), 3.0),
        ("emotechat_logins_failed_total".into(), 1.0),
        (
            "emotechat_rate_limited_total{rule=\"sends_per_user\"}".into(),
            1.0,
        ),
        (
            "emotechat_rate_limited_total{rule=\"login_failures_per_account\"}".into(),
            0.0,
        ),
        (SSE_STREAMS.into(), 1.0),
        (WS_STREAMS.into(), 2.0),
        (requests("GET", "/api/ws", 101), 2.0),
        (
            format!(
                "emotechat_build_info{{version=\"{}\"}}",
                env!("CARGO_PKG_VERSION")
            ),
            1.0,
        ),
    ] {
        assert_eq!(page.value(&series), expected, "{series} in\n{}", page.text);
    }
    let request_series = page
        .samples
        .keys()
        .filter(|k| k.starts_with("emotechat_http_requests_total{"))
        .count();
    assert_eq!(request_series, 9, "nothing else was asked:\n{}", page.text);
    assert!(
        page.value("emotechat_open_connections") >= 3.0,
        "the streams' connections at least"
    );
    // Each of the 2 registrations, 2 logins, the group and the 3 sends wrote once; the server
    // wrote its own rows at start (stream epoch, housekeeping).
    assert!(page.value("emotechat_commit_group_size_sum") >= 8.0);
    assert!(page.value("emotechat_commit_seconds_count") >= 1.0);
    assert!(page.value("emotechat_database_bytes") > 0.0);
    assert!(page.has("emotechat_wal_bytes"));
    assert!(page.value("process_resident_memory_bytes") > 1e6);
    assert!(page.value("process_open_fds") >= 5.0);
    assert!(
        !page.text.contains("/no/such/path"),
        "paths never become labels"
    );
    // Streams leave the count when their clients go.
    drop(sse_stream);
    drop(ws_streams);
    let after = scrape_until(&addr, |page| {
        page.value(SSE_STREAMS) == 0.0 && page.value(WS_STREAMS) == 0.0
    });
    assert_eq!(
        (after.value(SSE_STREAMS), after.value(WS_STREAMS)),
        (0.0, 0.0)
    );
}

/// The metric names in the first column of README.md's table under *Metrics*.
fn readme_metrics() -> BTreeSet<String> {
    let readme = include_str!("../README.md");
    let section = readme
        .split("\n## ")
        .find(|section| section.starts_with("Metrics\n"))
        .expect("README has a Metrics section");
    section
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split_once('`').map(|(name, _)| name.to_owned()))
        .collect()
}

#[test]
fn the_readme_documents_every_metric_and_no_other() {
    let server = TestServer::start_with(&["--metrics-addr", "127.0.0.1:0"]);
    let page = scrape(&metrics_addr(&server));
    let declared: BTreeSet<String> = page
        .text
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split(' ').next().map(str::to_owned))
        .collect();
    assert_eq!(declared, readme_metrics());
}

#[test]
fn each_port_answers_only_its_own_paths() {
    let server = TestServer::start_with(&["--metrics-addr", "127.0.0.1:0"]);
    let addr = metrics_addr(&server);
    assert_ne!(addr, server.addr());
    let user = server.user("Ada");
    // The API port has no /metrics.
    let reply = server.get("/metrics", &user.token);
    reply.assert_error(404, "not_found");
    // The metrics port has nothing but /metrics.
    for path in [
        "/",
        "/healthz",
        "/api/auth/validate",
        "/metrics/",
        "/metricsx",
    ] {
        let (status, head, _) = ask(
            &addr,
            &format!(
                "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\r\n",
                user.token
            ),
        );
        assert_eq!(status, 404, "{path}: {head}");
    }
    let (status, head, _) = ask(
        &addr,
        "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(status, 405, "{head}");
    assert!(head.contains("Allow: GET, HEAD"), "{head}");
    let (status, head, body) = ask(&addr, "HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((status, body.as_str()), (200, ""), "{head}");
    let (status, _, _) = ask(&addr, "NONSENSE\r\n\r\n");
    assert_eq!(status, 400);
    // A head at the limit (8 KiB) is read; one past it is refused.
    let padded = |size: usize| {
        let start = "GET /metrics HTTP/1.1\r\nX-Pad: ";
        let pad = "a".repeat(size - start.len() - 4);
        format!("{start}{pad}\r\n\r\n")
    };
    assert_eq!(ask(&addr, &padded(8 * 1024)).0, 200);
    assert_eq!(ask(&addr, &padded(8 * 1024 + 1)).0, 431);
    // Query strings do not change the page's path.
    assert_eq!(
        ask(&addr, "GET /metrics?x=1 HTTP/1.1\r\nHost: x\r\n\r\n").0,
        200
    );
    // What the metrics port answered is not counted as API traffic.
    let page = scrape(&addr);
    assert!(!page.text.contains("route=\"/metrics\""), "{}", page.text);
}

/// The TCP ports a process listens on, from its socket descriptors and the kernel's tables.
fn listening_ports(pid: u32) -> BTreeSet<u16> {
    let inodes: BTreeSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("fd dir")
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter_map(|target| {
            let target = target.to_string_lossy().into_owned();
            Some(
                target
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .to_owned(),
            )
        })
        .collect();
    let mut ports = BTreeSet::new();
    for table in ["tcp", "tcp6"] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // local_address is field 1 (ADDR:PORT in hex), st field 3 (0A is LISTEN), inode 9.
            if fields.len() > 9 && fields[3] == "0A" && inodes.contains(fields[9]) {
                let port = fields[1].rsplit(':').next().expect("port");
                ports.insert(u16::from_str_radix(port, 16).expect("hex port"));
            }
        }
    }
    ports
}

#[test]
fn without_the_setting_there_is_no_metrics_listener() {
    let api_port = |server: &TestServer| {
        server
            .addr()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse::<u16>().ok())
            .expect("port")
    };
    let plain = TestServer::start();
    assert_eq!(
        listening_ports(plain.pid()),
        BTreeSet::from([api_port(&plain)]),
        "one listener"
    );
    assert!(plain.log().iter().all(|l| !l.contains("metrics on")));
    let with = TestServer::start_with(&["--metrics-addr", "127.0.0.1:0"]);
    let metrics_port: u16 = metrics_addr(&with)
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    assert_eq!(
        listening_ports(with.pid()),
        BTreeSet::from([api_port(&with), metrics_port])
    );
}

#[test]
fn a_metrics_address_that_cannot_be_bound_stops_the_start() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let dir = tempfile::tempdir().expect("dir");
    let output = std::process::Command::new(crate::util::BIN)
        .args(["--addr", "127.0.0.1:0", "--metrics-addr"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--db")
        .arg(dir.path().join("x.db"))
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "emotechat: cannot serve metrics on 127.0.0.1:{port}"
        )),
        "{stderr}"
    );
}
