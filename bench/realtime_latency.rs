//! Delay from a message send returning to its event arriving at every subscriber, with N
//! Server-Sent Events streams open on one conversation; and the server's RSS and thread
//! count with those streams open. Figures, not assertions.
//!
//!   cargo run --release --example realtime_latency -- target/release/emotechat 1000 200
//!
//! Starts the given binary on a fresh database, opens N streams (one user, so the per-user
//! cap is raised), sends M messages 20 ms apart from another member, and reports the median
//! and p99 of (arrival at a subscriber - send returned), over all subscribers and messages.
//! A negative delay (the event beat the send's own response) counts as zero.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

struct Http {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Http {
    fn connect(addr: &str) -> Http {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        let reader = BufReader::new(stream.try_clone().expect("clone"));
        Http { stream, reader }
    }

    /// One request on the kept-alive connection; the status and the JSON body.
    fn call(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let auth = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: bench\r\n{auth}Content-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.stream.write_all(request.as_bytes()).expect("write");
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("status");
        let status = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status code");
        let mut length = 0;
        loop {
            line.clear();
            self.reader.read_line(&mut line).expect("header");
            if line.trim().is_empty() {
                break;
            }
            if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = value.trim().parse().expect("length");
            }
        }
        let mut data = vec![0u8; length];
        self.reader.read_exact(&mut data).expect("body");
        (status, serde_json::from_slice(&data).unwrap_or(Value::Null))
    }
}

fn account(http: &mut Http, name: &str) -> (i64, String) {
    let email = format!("{name}@example.org");
    let password = "benchmark password";
    let (status, _) = http.call(
        "POST",
        "/api/auth/register",
        None,
        Some(json!({"name": name, "email": email, "password": password})),
    );
    assert_eq!(status, 200);
    let (status, login) = http.call(
        "POST",
        "/api/auth/login",
        None,
        Some(json!({"email": email, "password": password})),
    );
    assert_eq!(status, 200);
    (
        login["user"]["id"].as_i64().expect("id"),
        login["token"].as_str().expect("token").to_owned(),
    )
}

/// Reads a stream until `count` message.created events arrived; (message index, arrival).
fn subscriber(
    addr: String,
    token: String,
    count: usize,
    ready: Arc<Barrier>,
) -> Vec<(usize, Instant)> {
    let stream = TcpStream::connect(&addr).expect("connect stream");
    (&stream)
        .write_all(
            format!(
                "GET /api/events HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n\r\n"
            )
            .as_bytes(),
        )
        .expect("subscribe");
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    loop {
        line.clear();
        reader.read_line(&mut line).expect("head");
        if line.trim().is_empty() {
            break;
        }
    }
    ready.wait();
    let mut arrivals = Vec::with_capacity(count);
    let mut is_message = false;
    while arrivals.len() < count {
        line.clear();
        if reader.read_line(&mut line).expect("event") == 0 {
            break;
        }
        if line.starts_with("event: ") {
            is_message = line.trim_end() == "event: message.created";
        } else if is_message && let Some(data) = line.strip_prefix("data: ") {
            let at = Instant::now();
            let event: Value = serde_json::from_str(data).expect("data");
            let index = event["message"]["body"]
                .as_str()
                .and_then(|b| b.parse().ok())
                .expect("index");
            arrivals.push((index, at));
        }
    }
    arrivals
}

fn status_field(pid: u32, field: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .map(|l| l[field.len()..].trim().to_owned())
        .unwrap_or_default()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((sorted.len() as f64) * p).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let binary = args
        .get(1)
        .map_or("target/release/emotechat", String::as_str);
    let streams: usize = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(100);
    let messages: usize = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(200);
    let dir = std::env::temp_dir().join(format!("emotechat-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let cap = (streams + 10).to_string();
    let mut server = Command::new(binary)
        .args(["--addr", "127.0.0.1:0", "--db"])
        .arg(dir.join("bench.db"))
        .args([
            "--max-streams",
            &cap,
            "--max-streams-per-user",
            &cap,
            "--max-connections",
            "4096",
        ])
        .env("RUST_LOG", "warn")
        // Every subscriber connects from one address; older builds ignore the cap.
        .env("EMOTECHAT_MAX_CONNECTIONS_PER_IP", "100000")
        .stderr(Stdio::piped())
        .spawn()
        .expect("start server");
    let mut stderr = BufReader::new(server.stderr.take().expect("stderr"));
    let mut line = String::new();
    while !line.starts_with("listening on ") {
        line.clear();
        assert!(
            stderr.read_line(&mut line).expect("stderr") > 0,
            "server exited"
        );
        eprint!(
            "{}",
            if line.starts_with("listening") {
                ""
            } else {
                &line
            }
        );
    }
    let addr = line
        .trim()
        .trim_start_matches("listening on http://")
        .to_owned();
    thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));

    let mut http = Http::connect(&addr);
    let (ada, ada_token) = account(&mut http, "ada");
    let (_, bob_token) = account(&mut http, "bob");
    let (_, created) = http.call(
        "POST",
        "/api/conversations",
        Some(&bob_token),
        Some(json!({"member_ids": [ada], "title": "bench"})),
    );
    let conversation = created["conversation"]["id"]
        .as_i64()
        .expect("conversation");

    let ready = Arc::new(Barrier::new(streams + 1));
    let readers: Vec<_> = (0..streams)
        .map(|_| {
            let (addr, token, ready) = (addr.clone(), ada_token.clone(), Arc::clone(&ready));
            thread::Builder::new()
                .stack_size(128 * 1024)
                .spawn(move || subscriber(addr, token, messages, ready))
                .expect("reader thread")
        })
        .collect();
    ready.wait();
    thread::sleep(Duration::from_millis(500));
    let rss_open = status_field(server.id(), "VmRSS:");
    let threads_open = status_field(server.id(), "Threads:");

    let path = format!("/api/conversations/{conversation}/messages");
    let mut returned = Vec::with_capacity(messages);
    for index in 0..messages {
        let (status, _) = http.call(
            "POST",
            &path,
            Some(&bob_token),
            Some(json!({"body": index.to_string()})),
        );
        assert_eq!(status, 201);
        returned.push(Instant::now());
        thread::sleep(Duration::from_millis(20));
    }
    let mut delays: Vec<f64> = Vec::with_capacity(streams * messages);
    for reader in readers {
        for (index, at) in reader.join().expect("reader") {
            let delay = at.saturating_duration_since(returned[index]);
            delays.push(delay.as_secs_f64() * 1000.0);
        }
    }
    delays.sort_by(f64::total_cmp);
    println!(
        "streams {streams}  events {}  delay median {:.3} ms  p99 {:.3} ms  max {:.3} ms  server RSS {rss_open}  threads {threads_open}",
        delays.len(),
        percentile(&delays, 0.5),
        percentile(&delays, 0.99),
        delays.last().copied().unwrap_or_default()
    );
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
