//! The test harness: a real `emotechat` binary on a free loopback port with a fresh SQLite file
//! in a temp dir, and the clients the tests speak to it with: `Call` for ordinary requests,
//! `raw` for HTTP/1.1 on a bare socket, `sse` for event streams, `ws` for WebSocket,
//! `browser` for a real headless Chromium and `client` for what the browser tests do on the
//! web client.
//! `TestServer::start` returns once the server has printed its `listening on` line, so no
//! test sleeps to wait for readiness.

pub mod browser;
pub mod client;
pub mod raw;
pub mod sse;
pub mod ws;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use tempfile::TempDir;

pub const BIN: &str = env!("CARGO_BIN_EXE_emotechat");
pub const PASSWORD: &str = "correct horse battery";

/// `PASSWORD` as the server hashes it (scrypt, PHC string), for files written by hand.
pub fn password_hash() -> String {
    use scrypt::password_hash::PasswordHasher;
    scrypt::Scrypt::new_with_params(scrypt::Params::new(15, 8, 3).expect("params"))
        .hash_password(PASSWORD.as_bytes())
        .expect("hash")
        .to_string()
}

/// The schema version today's binary writes, as `schema.sql` sets it.
pub fn schema_version() -> i64 {
    include_str!("../../schema.sql")
        .lines()
        .find_map(|line| line.strip_prefix("PRAGMA user_version = "))
        .and_then(|rest| rest.trim_end_matches(';').parse().ok())
        .expect("schema.sql sets PRAGMA user_version")
}

pub struct TestServer {
    child: Child,
    /// The program it runs: `BIN`, or another build given to `start_again_as`.
    bin: PathBuf,
    pub base: String,
    dir: TempDir,
    args: Vec<String>,
    log: Arc<Mutex<Vec<String>>>,
    agent: ureq::Agent,
}

impl TestServer {
    pub fn start() -> TestServer {
        TestServer::start_with(&[])
    }

    /// Starts with extra settings; `{dir}` in an argument becomes the server's temp dir.
    pub fn start_with(args: &[&str]) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        TestServer::start_in(dir, args)
    }

    pub fn start_in(dir: TempDir, args: &[&str]) -> TestServer {
        TestServer::start_on("127.0.0.1:0", dir, args)
    }

    /// Starts listening on `addr` (an IPv6 address or a host name, say) instead of
    /// `127.0.0.1:0`.
    pub fn start_on(addr: &str, dir: TempDir, args: &[&str]) -> TestServer {
        let args: Vec<String> = args
            .iter()
            .map(|a| a.replace("{dir}", &dir.path().display().to_string()))
            .collect();
        let log = Arc::new(Mutex::new(Vec::new()));
        let bin = PathBuf::from(BIN);
        let (child, base) = spawn(&bin, &dir, addr, &args, &log);
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        TestServer {
            child,
            bin,
            base,
            dir,
            args,
            log,
            agent,
        }
    }

    /// The server's `HOST:PORT`.
    pub fn addr(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// Writes `bytes` as `name` in the server's temporary directory; its path.
    pub fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, bytes).expect("write the file");
        path
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("emotechat.db")
    }

    /// Kills the process (like a crash or a reboot) and starts it again on the same file.
    pub fn restart(&mut self) {
        self.stop();
        let (child, base) = spawn(&self.bin, &self.dir, "127.0.0.1:0", &self.args, &self.log);
        self.child = child;
        self.base = base;
    }

    /// Starts the stopped server again on the same address and file, as a service manager
    /// does: pages open on the old address can reach it again.
    pub fn start_again(&mut self) {
        let addr = self.addr().to_owned();
        let (child, base) = spawn(&self.bin, &self.dir, &addr, &self.args, &self.log);
        assert_eq!(base, self.base, "the server came back on another address");
        self.child = child;
    }

    /// Stops the server and starts `bin` (another build, as an upgrade would) in its place.
    pub fn start_again_as(&mut self, bin: &Path) {
        self.stop();
        self.bin = bin.to_path_buf();
        self.start_again();
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for a stop after `terminate` to end cleanly well before the 10 s the server gives
    /// requests in flight (5 s: a stop held up by a connection takes the whole 10).
    pub fn assert_stops_before_the_drain(&mut self) {
        let status = self
            .wait_exit(Duration::from_secs(5))
            .expect("exited well before the 10 s drain");
        assert!(status.success(), "{status:?}");
    }

    /// Sends `SIGTERM`, as systemd does to stop a service.
    pub fn terminate(&self) {
        terminate(self.pid());
    }

    /// Waits for the process to exit by itself; its exit status, or `None` on timeout.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Kills the process, keeping its directory and database file.
    pub fn stop(&mut self) {
        // It may have exited already; either way it is gone afterwards.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Every line the server has written to stderr so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().expect("log lock").clone()
    }

    /// Waits up to 10 s for a log line containing `needle`.
    pub fn wait_for_log(&self, needle: &str) -> Option<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(line) = self.log().into_iter().find(|l| l.contains(needle)) {
                return Some(line);
            }
            thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn request(&self, method: &str, path: &str) -> Call<'_> {
        Call {
            server: self,
            method: method.to_owned(),
            path: path.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn get(&self, path: &str, token: &str) -> Reply {
        self.request("GET", path).token(token).send()
    }

    pub fn post(&self, path: &str, body: Value) -> Reply {
        self.request("POST", path).json(&body).send()
    }

    /// Sends raw bytes on a new connection and returns everything the server writes back
    /// before it closes the connection.
    pub fn raw(&self, bytes: &[u8]) -> String {
        let mut stream = raw::connect(self);
        stream.write_all(bytes).expect("write");
        let mut answer = Vec::new();
        // A reset after the answer still leaves the answer read.
        let _ = stream.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    }

    /// Registers a user with a unique email and returns the user object.
    pub fn register(&self, name: &str) -> Value {
        let email = unique_email(name);
        let reply = self.post(
            "/api/auth/register",
            json!({"name": name, "email": email, "password": PASSWORD}),
        );
        assert_eq!(reply.status, 200, "register: {}", reply.body);
        reply.body["user"].clone()
    }

    pub fn login(&self, email: &str, password: &str) -> Reply {
        self.post(
            "/api/auth/login",
            json!({"email": email, "password": password}),
        )
    }

    /// Registers and logs in a user: their id, email and bearer token.
    pub fn user(&self, name: &str) -> TestUser {
        let user = self.register(name);
        let email = user["email"].as_str().expect("email").to_owned();
        let reply = self.login(&email, PASSWORD);
        assert_eq!(reply.status, 200, "login: {}", reply.body);
        TestUser {
            id: user["id"].as_i64().expect("id"),
            email,
            token: reply.body["token"].as_str().expect("token").to_owned(),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What a command printed, and how it exited.
#[derive(Debug)]
pub struct CommandOutput {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl CommandOutput {
    /// Asserts exit status 0 and returns what it printed.
    pub fn success(&self) -> &str {
        assert_eq!(self.code, Some(0), "{self:?}");
        &self.stdout
    }

    /// The value after `label` on the line that starts with it.
    pub fn line_value(&self, label: &str) -> String {
        self.stdout
            .lines()
            .find_map(|line| line.strip_prefix(label))
            .unwrap_or_else(|| panic!("no {label} line in {self:?}"))
            .trim()
            .to_owned()
    }
}

/// Runs a prepared `emotechat` command to its end.
pub fn run_command(command: &mut Command) -> CommandOutput {
    let output = command
        .stdin(Stdio::null())
        .output()
        .expect("run emotechat");
    CommandOutput {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

pub struct TestUser {
    pub id: i64,
    pub email: String,
    pub token: String,
}

pub fn unique_email(name: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let local: String = name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_lowercase();
    format!("{local}.{n}@example.org")
}

fn spawn(
    bin: &Path,
    dir: &TempDir,
    addr: &str,
    args: &[String],
    log: &Arc<Mutex<Vec<String>>>,
) -> (Child, String) {
    let db = dir.path().join("emotechat.db");
    let mut child = Command::new(bin)
        .arg("serve")
        .arg("--addr")
        .arg(addr)
        .arg("--db")
        .arg(&db)
        // Tests make far more accounts and attempts from one address than any person would;
        // the rate-limit tests turn limits back on with `--rate-limits on` (the last flag wins).
        .args(["--rate-limits", "off"])
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn emotechat");
    let stderr = child.stderr.take().expect("stderr");
    let (ready, listening) = mpsc::channel();
    let log = Arc::clone(log);
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(url) = line.strip_prefix("listening on ") {
                let _ = ready.send(url.to_owned());
            }
            log.lock().expect("log lock").push(line);
        }
    });
    let base = listening
        .recv_timeout(Duration::from_secs(30))
        .expect("server did not report listening");
    (child, base)
}

/// A request being put together.
pub struct Call<'a> {
    server: &'a TestServer,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Call<'_> {
    pub fn token(self, token: &str) -> Self {
        self.header("Authorization", &format!("Bearer {token}"))
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn json(self, body: &Value) -> Self {
        self.body_bytes("application/json", body.to_string().into_bytes())
    }

    pub fn body_bytes(mut self, content_type: &str, body: Vec<u8>) -> Self {
        self.body = body;
        self.header("Content-Type", content_type)
    }

    pub fn send(self) -> Reply {
        let url = format!("{}{}", self.server.base, self.path);
        let mut builder = ureq::http::Request::builder()
            .method(self.method.as_str())
            .uri(url);
        for (name, value) in &self.headers {
            builder = builder.header(name, value);
        }
        let request = builder.body(self.body).expect("request");
        let mut response = self.server.agent.run(request).expect("response");
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    v.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let bytes = response
            .body_mut()
            .with_config()
            .limit(10 << 20)
            .read_to_vec()
            .expect("body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            bytes,
        }
    }
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// The body parsed as JSON, or `Null` if it is not JSON.
    pub body: Value,
    pub bytes: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        header_in(&self.headers, name)
    }

    /// The `Retry-After` header, in seconds.
    pub fn retry_after(&self) -> u64 {
        self.header("Retry-After")
            .expect("Retry-After")
            .parse()
            .expect("seconds")
    }

    /// Asserts the contract's error body: this status, this code, and nothing unexpected.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.body["error"], code, "{}", self.body);
        assert!(self.body["message"].is_string(), "{}", self.body);
        let keys: Vec<&String> = self.body.as_object().expect("object").keys().collect();
        assert!(
            keys.iter()
                .all(|k| ["error", "message", "field"].contains(&k.as_str())),
            "unexpected keys in {}",
            self.body
        );
    }

    pub fn assert_field_error(&self, status: u16, code: &str, field: &str) {
        self.assert_error(status, code);
        assert_eq!(self.body["field"], field, "{}", self.body);
    }
}

/// The value of the header `name` (in any case) among `headers`.
pub fn header_in<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Milliseconds since the epoch of an RFC 3339 UTC timestamp such as
/// `2026-11-26T11:41:34.512Z` (the only form the server writes).
pub fn millis_of(stamp: &str) -> i64 {
    let field =
        |range: std::ops::Range<usize>| -> i64 { stamp[range].parse().expect("timestamp field") };
    let (year, month, day) = (field(0..4), field(5..7), field(8..10));
    // Days from civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let seconds = days * 86_400 + field(11..13) * 3600 + field(14..16) * 60 + field(17..19);
    seconds * 1000 + field(20..23)
}

impl TestServer {
    /// Runs an operator's command (`emotechat invite ...`, `emotechat user ...`) as its own
    /// process against this server's database file, while the server runs; the links it
    /// prints point at this server.
    pub fn command(&self, args: &[&str]) -> CommandOutput {
        run_command(
            Command::new(BIN)
                .args(args)
                .arg("--db")
                .arg(self.db_path())
                .args(["--addr", self.addr()])
                .env_remove("EMOTECHAT_PUBLIC_URL"),
        )
    }

    pub fn open_db(&self) -> rusqlite::Connection {
        let db = rusqlite::Connection::open(self.db_path()).expect("open db");
        db.busy_timeout(Duration::from_secs(10))
            .expect("busy timeout");
        db
    }

    /// Hides the history of `conversation` before `message` from `user`, as joining a group
    /// that hides its history from newcomers does (`history_from`).
    pub fn hide_history_before(&self, conversation: i64, user: i64, message: i64) {
        self.open_db()
            .execute(
                "UPDATE members SET history_from = ?1 WHERE conversation_id = ?2 AND user_id = ?3",
                [message, conversation, user],
            )
            .expect("hide the history");
    }

    /// Waits, polling for up to 10 s, until what the server has mailed to `{dir}/outbox`
    /// (with `--mail-command "cat >> {dir}/outbox"`) satisfies `done`; all of it. Fails
    /// naming `what` otherwise.
    pub fn wait_for_mail(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let outbox = self.dir.path().join("outbox");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mail = std::fs::read_to_string(&outbox).unwrap_or_default();
            if done(&mail) {
                return mail;
            }
            assert!(
                Instant::now() < deadline,
                "no {what} in the outbox: {mail:?}"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Adds `count` users straight to the database, for tests that need many members but not
    /// their logins (registering each over HTTP would cost a scrypt hash apiece).
    pub fn insert_users(&self, count: usize) -> Vec<i64> {
        let db = self.open_db();
        (0..count)
            .map(|i| {
                let email = unique_email(&format!("bulk{i}"));
                db.query_row(
                    "INSERT INTO users (name, name_fold, email, email_lower, password_hash, created_at)
                     VALUES (?1, lower(?1), ?2, ?2, 'not-a-hash', 0) RETURNING id",
                    rusqlite::params![format!("Bulk {i}"), email],
                    |row| row.get(0),
                )
                .expect("insert user")
            })
            .collect()
    }

    /// The stored events as (conversation_id, type, data).
    pub fn events(&self) -> Vec<(i64, String, Value)> {
        let db = self.open_db();
        let mut stmt = db
            .prepare("SELECT conversation_id, type, data FROM events ORDER BY id")
            .expect("prepare");
        stmt.query_map([], |row| {
            let data: String = row.get(2)?;
            Ok((
                row.get(0)?,
                row.get(1)?,
                serde_json::from_str(&data).expect("event json"),
            ))
        })
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
    }

    pub fn conversation(&self, token: &str, members: &[i64], title: Option<&str>) -> Reply {
        let mut body = json!({"member_ids": members});
        if let Some(title) = title {
            body["title"] = json!(title);
        }
        self.request("POST", "/api/conversations")
            .token(token)
            .json(&body)
            .send()
    }

    /// Creates a group of the caller and `members`; its id.
    pub fn group(&self, token: &str, members: &[i64]) -> i64 {
        self.group_titled(token, members, "Group")
    }

    /// Creates a group of the caller and `members` named `title`; its id.
    pub fn group_titled(&self, token: &str, members: &[i64], title: &str) -> i64 {
        let reply = self.conversation(token, members, Some(title));
        assert_eq!(reply.status, 201, "{}", reply.body);
        reply.body["conversation"]["id"].as_i64().expect("id")
    }

    /// Ada and Bob (as `user` makes them) and the direct conversation Ada starts with Bob;
    /// its id.
    pub fn ada_and_bob(&self) -> (TestUser, TestUser, i64) {
        let ada = self.user("Ada");
        let bob = self.user("Bob");
        let id = self.direct(&ada.token, bob.id);
        (ada, bob, id)
    }

    /// Ada and Bob (as `user` makes them) and a group of the two that Ada starts; its id.
    pub fn ada_and_bob_group(&self) -> (TestUser, TestUser, i64) {
        let ada = self.user("Ada");
        let bob = self.user("Bob");
        let id = self.group(&ada.token, &[bob.id]);
        (ada, bob, id)
    }

    /// Creates the direct conversation of the caller and `other`; its id.
    pub fn direct(&self, token: &str, other: i64) -> i64 {
        let reply = self.conversation(token, &[other], None);
        assert_eq!(reply.status, 201, "{}", reply.body);
        reply.body["conversation"]["id"].as_i64().expect("id")
    }

    pub fn send(&self, token: &str, conversation: i64, body: Value) -> Reply {
        self.request(
            "POST",
            &format!("/api/conversations/{conversation}/messages"),
        )
        .token(token)
        .json(&body)
        .send()
    }

    /// Sends a text message; its id.
    pub fn say(&self, token: &str, conversation: i64, text: &str) -> i64 {
        let reply = self.send(token, conversation, json!({"body": text}));
        assert_eq!(reply.status, 201, "{}", reply.body);
        reply.body["message"]["id"].as_i64().expect("id")
    }
}

/// A 1×1 PNG.
pub const PNG: &[u8] =
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

/// A real PNG of 192×192 (the web client's own icon), for a browser to draw.
pub const ICON_PNG: &[u8] = include_bytes!("../../web/icon-192.png");

/// Uploads `image` as the custom emote `name`.
pub fn upload(server: &TestServer, token: &str, name: &str, image: &[u8]) -> Reply {
    server
        .request("POST", "/api/emotes")
        .token(token)
        .json(&json!({"name": name, "image_base64": STANDARD.encode(image)}))
        .send()
}

/// The stored event types, in the order `every_kind_of_change` causes them.
pub const EVERY_KIND: [&str; 7] = [
    "conversation.created",
    "message.created",
    "message.updated",
    "reaction.added",
    "reaction.removed",
    "read.updated",
    "message.deleted",
];

/// `author` starts a group with `other` and makes one change of every stored kind.
pub fn every_kind_of_change(server: &TestServer, author: &TestUser, other: &TestUser) {
    let id = server.group(&author.token, &[other.id]);
    let mid = server.say(&author.token, id, "hello");
    let base = format!("/api/conversations/{id}/messages/{mid}");
    server
        .request("PATCH", &base)
        .token(&author.token)
        .json(&json!({"body": "edited"}))
        .send();
    server
        .request("PUT", &format!("{base}/reactions/%F0%9F%91%8D"))
        .token(&other.token)
        .send();
    server
        .request("DELETE", &format!("{base}/reactions/%F0%9F%91%8D"))
        .token(&other.token)
        .send();
    server
        .request("POST", &format!("/api/conversations/{id}/read"))
        .token(&other.token)
        .json(&json!({"message_id": mid}))
        .send();
    server.request("DELETE", &base).token(&author.token).send();
}

/// Sends a request again while the server answers `503 busy` (it hashes two passwords at a
/// time and turns away what would wait longer, as on a loaded machine), a bounded number of
/// times, as a client following `Retry-After` would: for tests where the other answer counts.
pub fn through_busy(send: impl Fn() -> Reply) -> Reply {
    for _ in 0..50 {
        let reply = send();
        if reply.status != 503 {
            return reply;
        }
        thread::sleep(Duration::from_millis(100));
    }
    panic!("the server stayed busy");
}

/// Runs `n` calls of `work` on as many threads, released together, and returns their results
/// in order: for races such as simultaneous creations and retries.
pub fn at_once<T: Send>(n: usize, work: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let barrier = std::sync::Barrier::new(n);
    thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let (barrier, work) = (&barrier, &work);
                scope.spawn(move || {
                    barrier.wait();
                    work(i)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    })
}

/// Sends `SIGTERM` to a process (for a server borrowed by another thread, by its pid).
pub fn terminate(pid: u32) {
    let killed = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
    assert!(killed.expect("kill").success());
}
