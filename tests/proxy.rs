//! The TLS proxy recipes of contrib/ (the nginx site and the Caddyfile), run by Debian's real
//! nginx and Caddy in front of the real binary on loopback: Server-Sent Events and WebSocket
//! pass through both ways as they happen, X-Forwarded-For names the client the proxy saw and
//! nothing the client wrote, and the proxy's access log holds no ticket, token or reset link.
//! Each test serves the shipped file with only what a loopback test must change: the listen
//! address (plain HTTP, as TLS is `nginx -t`'s and `caddy validate`'s part in
//! .ci/check-contrib.sh), the upstream port and the log directory. The client connects from
//! 127.0.0.2, so the address the proxy passes on differs from the proxy's own.
//! `.ci/check-contrib.sh` installs nginx and Caddy; without them these tests fail when
//! `CI=true` and are otherwise skipped with a loud note.

use std::fs;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tempfile::TempDir;
use tungstenite::client::IntoClientRequest;
use tungstenite::stream::MaybeTlsStream;

use crate::util::{TestServer, TestUser, raw, sse, terminate, ws};

const NGINX_SITE: &str = include_str!("../contrib/nginx/emotechat.conf");
const CADDYFILE: &str = include_str!("../contrib/caddy/Caddyfile");
/// The client's address as the proxy sees it; the proxy itself connects from 127.0.0.1.
const CLIENT: &str = "127.0.0.2";
const RESET_TOKEN: &str = "reset-token-that-must-not-be-logged";
/// Asks the proxy to close a stream's connection when the stream ends (else it keeps it open
/// for the client's next request).
const CLOSE: &str = "Connection: close\r\n";

/// A proxy process serving a contrib recipe on a loopback port, stopped on drop.
struct Proxy {
    child: Child,
    addr: String,
    access_log: PathBuf,
    dir: TempDir,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        terminate(self.child.id());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn nginx_site_carries_streams_and_keeps_secrets_out_of_its_log() {
    let Some(nginx) = tool("nginx", "nginx") else {
        return;
    };
    let server = TestServer::start_with(&["--trust-proxy", "127.0.0.1,::1"]);
    let proxy = start_nginx(&nginx, &server);
    carries_chat_and_logs_no_secrets(&server, &proxy);
}

#[test]
fn caddyfile_carries_streams_and_keeps_secrets_out_of_its_log() {
    let Some(caddy) = tool("caddy", "caddy") else {
        return;
    };
    let server = TestServer::start_with(&["--trust-proxy", "127.0.0.1,::1"]);
    let proxy = start_caddy(&caddy, &server);
    carries_chat_and_logs_no_secrets(&server, &proxy);
}

fn carries_chat_and_logs_no_secrets(server: &TestServer, proxy: &Proxy) {
    let alice = server.user("Alice");
    let bob = server.user("Bob");
    let conversation =
        server.conversation(&alice.token, &[bob.id], None).body["conversation"]["id"]
            .as_i64()
            .expect("conversation id");

    // A wrong password through the proxy, with a forged X-Forwarded-For: the server logs the
    // address the proxy saw, not the forged one and not the proxy's own.
    let wrong = json!({"email": alice.email, "password": "not the password"});
    let login = via(
        proxy,
        "POST /api/auth/login",
        None,
        Some(&wrong),
        "X-Forwarded-For: 203.0.113.7\r\n",
    );
    assert_eq!(login.status, 401);
    let line = server
        .wait_for_log("event=login_failure")
        .expect("auth log line");
    assert!(line.contains(&format!("client={CLIENT} ")), "{line}");

    let sse_ticket = ticket(proxy, &bob);
    let mut events = sse::open_on(
        connect(proxy),
        &format!("/api/events?ticket={sse_ticket}"),
        CLOSE,
    );
    assert_eq!(events.status, 200);
    let mut token_stream = sse::open_on(
        connect(proxy),
        &format!("/api/events?access_token={}", alice.token),
        CLOSE,
    );
    assert_eq!(token_stream.status, 200);
    let ws_ticket = ticket(proxy, &bob);
    let mut socket = websocket(proxy, &format!("/api/ws?ticket={ws_ticket}"));
    assert!(ws::answers_ping(&mut socket), "no pong through the proxy");

    let sent = via(
        proxy,
        &format!("POST /api/conversations/{conversation}/messages"),
        Some(&alice.token),
        Some(&json!({"body": "through the proxy"})),
        "",
    );
    assert_eq!(sent.status, 201);
    let event = events
        .next(Duration::from_secs(10))
        .expect("the event through the proxy's SSE");
    assert_eq!(event.kind, "message.created");
    assert_eq!(event.data["message"]["body"], "through the proxy");
    let frame = ws::next(&mut socket).expect("the event through the proxy's WebSocket");
    assert_eq!(frame["type"], "message.created");
    assert_eq!(frame["data"]["message"]["body"], "through the proxy");

    let page = via(
        proxy,
        &format!("GET /reset-password?token={RESET_TOKEN}"),
        None,
        None,
        &format!("Referer: https://chat.example.org/reset-password?token={RESET_TOKEN}\r\n"),
    );
    assert_eq!(page.status, 200);

    // Logging out ends every stream from the server's side, so each proxy finishes (and
    // logs) its stream requests now.
    for user in [&alice, &bob] {
        let out = via(proxy, "POST /api/auth/logout", Some(&user.token), None, "");
        assert_eq!(out.status, 200);
    }
    assert!(events.ends_within(Duration::from_secs(10)));
    assert!(token_stream.ends_within(Duration::from_secs(10)));
    assert_eq!(
        ws::close_frame(&mut socket),
        ws::close_of(4001, "session revoked")
    );

    let log = proxy.access_log_with(&["/api/events", "/api/ws", "/reset-password"]);
    for secret in [
        sse_ticket.as_str(),
        ws_ticket.as_str(),
        &alice.token,
        &bob.token,
        RESET_TOKEN,
    ] {
        assert!(!log.contains(secret), "a secret in the access log:\n{log}");
    }
}

impl Proxy {
    /// The access log once it has a line naming each path (bounded wait: a proxy writes a
    /// request's line when the request ends).
    fn access_log_with(&self, paths: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = fs::read_to_string(&self.access_log).unwrap_or_default();
            if paths.iter().all(|path| log.contains(path)) || Instant::now() > deadline {
                for path in paths {
                    assert!(log.contains(path), "no {path} in the access log:\n{log}");
                }
                return log;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

fn start_nginx(nginx: &Path, server: &TestServer) -> Proxy {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path().display().to_string();
    let (port, redirect_port) = (free_port(), free_port());
    let site = replace_once(
        NGINX_SITE,
        "server 127.0.0.1:8080;",
        &format!("server {};", server.addr()),
    );
    let site = replace_once(
        &site,
        "listen 443 ssl http2;",
        &format!("listen 127.0.0.1:{port};"),
    );
    let site = replace_once(
        &site,
        "listen 80;",
        &format!("listen 127.0.0.1:{redirect_port};"),
    );
    let site: String = site
        .replace("/var/log/nginx/", &format!("{d}/"))
        .lines()
        .filter(|line| {
            let line = line.trim_start();
            !line.starts_with("listen [::]") && !line.starts_with("ssl_")
        })
        .map(|line| format!("{line}\n"))
        .collect();
    fs::write(dir.path().join("site.conf"), site).expect("site");
    let wrapper = format!(
        "daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
         events {{}}\nhttp {{\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
         include {d}/site.conf;\n}}\n"
    );
    fs::write(dir.path().join("nginx.conf"), wrapper).expect("wrapper");
    let mut command = Command::new(nginx);
    command.args([
        "-e",
        &format!("{d}/error.log"),
        "-p",
        &d,
        "-c",
        &format!("{d}/nginx.conf"),
    ]);
    let access_log = dir.path().join("emotechat.access.log");
    launch(command, dir, port, access_log)
}

fn start_caddy(caddy: &Path, server: &TestServer) -> Proxy {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path().display().to_string();
    let port = free_port();
    let site = replace_once(
        CADDYFILE,
        "chat.example.org {",
        &format!("http://:{port} {{"),
    );
    let site = replace_once(
        &site,
        "reverse_proxy 127.0.0.1:8080 {",
        &format!("reverse_proxy {} {{", server.addr()),
    );
    let site = replace_once(&site, "/var/log/caddy/", &format!("{d}/"));
    let config = format!("{{\n\tadmin off\n\tdefault_bind 127.0.0.1\n}}\n\n{site}");
    fs::write(dir.path().join("Caddyfile"), config).expect("Caddyfile");
    let mut command = Command::new(caddy);
    command
        .args([
            "run",
            "--adapter",
            "caddyfile",
            "--config",
            &format!("{d}/Caddyfile"),
        ])
        .env("HOME", &d)
        .env("XDG_DATA_HOME", format!("{d}/data"))
        .env("XDG_CONFIG_HOME", format!("{d}/config"));
    let access_log = dir.path().join("emotechat.access.log");
    launch(command, dir, port, access_log)
}

/// Starts the proxy with its output in its directory; returns once its port accepts.
fn launch(mut command: Command, dir: TempDir, port: u16, access_log: PathBuf) -> Proxy {
    let output = fs::File::create(dir.path().join("output.log")).expect("output file");
    let child = command
        .stdin(Stdio::null())
        .stdout(output.try_clone().expect("output file"))
        .stderr(output)
        .spawn()
        .expect("start the proxy");
    let mut proxy = Proxy {
        child,
        addr: format!("127.0.0.1:{port}"),
        access_log,
        dir,
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(&proxy.addr).is_err() {
        let exited = proxy.child.try_wait().expect("proxy status").is_some();
        if exited || Instant::now() > deadline {
            let output =
                fs::read_to_string(proxy.dir.path().join("output.log")).unwrap_or_default();
            let errors = fs::read_to_string(proxy.dir.path().join("error.log")).unwrap_or_default();
            panic!(
                "the proxy did not start on {}:\n{output}{errors}",
                proxy.addr
            );
        }
        thread::sleep(Duration::from_millis(20));
    }
    proxy
}

/// `text` with `from` replaced; fails if the recipe no longer has `from`, so a changed file
/// cannot silently escape the test.
fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "expected one {from:?} in the recipe"
    );
    text.replacen(from, to, 1)
}

/// A free loopback port for a proxy to listen on.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

/// The tool's path, from PATH or the sbin directories; `None` (after a loud note) when it is
/// missing outside CI.
fn tool(name: &str, package: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|dir: PathBuf| dir.join(name))
        .find(|candidate| candidate.is_file());
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{name} is missing: .ci/check-contrib.sh installs Debian's {package}"
        );
        eprintln!(
            "\n*** skipping a proxy test: no {name} (apt-get install {package}; \
             CI=true makes this a failure)\n"
        );
    }
    found
}

fn connect(proxy: &Proxy) -> TcpStream {
    raw::connect_between(CLIENT, &proxy.addr)
}

/// One request through the proxy on a connection of its own: `"METHOD /path"`, an optional
/// bearer token and JSON body, and extra header lines.
fn via(
    proxy: &Proxy,
    request_line: &str,
    token: Option<&str>,
    body: Option<&Value>,
    extra: &str,
) -> raw::Response {
    let body = body.map(Value::to_string).unwrap_or_default();
    let auth = token
        .map(|token| format!("Authorization: Bearer {token}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "{request_line} HTTP/1.1\r\nHost: chat.example.org\r\nConnection: close\r\n{auth}{extra}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let stream = connect(proxy);
    (&stream).write_all(request.as_bytes()).expect("request");
    raw::read_response(&mut std::io::BufReader::new(stream), false)
}

fn ticket(proxy: &Proxy, user: &TestUser) -> String {
    let reply = via(
        proxy,
        "POST /api/events/ticket",
        Some(&user.token),
        None,
        "",
    );
    assert_eq!(reply.status, 200);
    let body: Value = serde_json::from_slice(&reply.body).expect("json");
    body["ticket"].as_str().expect("ticket").to_owned()
}

fn websocket(proxy: &Proxy, target: &str) -> ws::Socket {
    let request = format!("ws://chat.example.org{target}")
        .into_client_request()
        .expect("request");
    let stream = connect(proxy);
    let (socket, response) =
        tungstenite::client(request, MaybeTlsStream::Plain(stream)).expect("handshake");
    assert_eq!(response.status().as_u16(), 101);
    socket
}
