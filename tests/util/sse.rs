//! A Server-Sent Events client for `GET /api/events`: opens the stream on a raw connection,
//! reads its head, then parses events as a browser's `EventSource` would.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::raw;
use super::{TestServer, TestUser, header_in};

#[derive(Debug, Clone)]
pub struct SseEvent {
    /// The event id, the number in `<epoch>-<id>`.
    pub id: Option<i64>,
    /// The `id:` line as sent, what a client hands back as `Last-Event-ID`.
    pub token: Option<String>,
    pub kind: String,
    pub data: Value,
}

pub struct Stream {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    reader: BufReader<TcpStream>,
}

/// The request line that authenticates a stream with `token`.
pub fn bearer(token: &str) -> String {
    format!("Authorization: Bearer {token}\r\n")
}

/// Opens `GET target` with extra request lines (auth, Last-Event-ID) and reads its head.
pub fn open(server: &TestServer, target: &str, extra: &str) -> Stream {
    open_on(raw::connect(server), target, extra)
}

/// Opens `GET target` on a connection made by the caller (to a proxy in front, say).
pub fn open_on(stream: TcpStream, target: &str, extra: &str) -> Stream {
    std::io::Write::write_all(
        &mut &stream,
        format!("GET {target} HTTP/1.1\r\nHost: x\r\n{extra}\r\n").as_bytes(),
    )
    .expect("request");
    let mut reader = BufReader::new(stream);
    let (status, headers) = raw::read_head(&mut reader);
    Stream {
        status,
        headers,
        reader,
    }
}

pub fn subscribe(server: &TestServer, user: &TestUser, last_event_id: Option<i64>) -> Stream {
    subscribe_after(
        server,
        user,
        last_event_id.map(|id| id.to_string()).as_deref(),
    )
}

/// Subscribes with a `Last-Event-ID` as given (a token `<epoch>-<id>` or a plain id).
pub fn subscribe_after(
    server: &TestServer,
    user: &TestUser,
    last_event_id: Option<&str>,
) -> Stream {
    let mut extra = bearer(&user.token);
    if let Some(id) = last_event_id {
        extra.push_str(&format!("Last-Event-ID: {id}\r\n"));
    }
    let stream = open(server, "/api/events", &extra);
    assert_eq!(stream.status, 200);
    stream
}

impl Stream {
    /// A header's value, its name in any case.
    pub fn header(&self, name: &str) -> Option<&str> {
        header_in(&self.headers, name)
    }

    /// The next event (pings skipped), or `None` if none comes within `wait` or the stream
    /// ended.
    pub fn next(&mut self, wait: Duration) -> Option<SseEvent> {
        self.wait_at_most(wait);
        let (mut token, mut kind, mut data) = (None::<String>, None, None);
        loop {
            let mut line = String::new();
            match self.reader.read_line(&mut line) {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
            let line = line.trim_end_matches('\n');
            if line.is_empty() {
                if let (Some(kind), Some(data)) = (kind.take(), data.take()) {
                    let id = token
                        .as_deref()
                        .and_then(|t| t.rsplit('-').next())
                        .map(|n| n.parse().expect("numeric event id"));
                    return Some(SseEvent {
                        id,
                        token,
                        kind,
                        data,
                    });
                }
                continue;
            }
            if let Some(value) = line.strip_prefix("id: ") {
                token = Some(value.to_owned());
            } else if let Some(value) = line.strip_prefix("event: ") {
                kind = Some(value.to_owned());
            } else if let Some(value) = line.strip_prefix("data: ") {
                data = Some(serde_json::from_str(value).expect("data json"));
            }
        }
    }

    /// Collects events until `count` stored ones arrived (or 20 s passed).
    pub fn stored(&mut self, count: usize) -> Vec<SseEvent> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut got = Vec::new();
        while got.len() < count && Instant::now() < deadline {
            if let Some(event) = self.next(Duration::from_secs(5))
                && event.id.is_some()
            {
                got.push(event);
            }
        }
        got
    }

    /// The stream's text as sent, read until `done` says it is complete (each read waits
    /// 10 s at most); the stream must not end before.
    pub fn text_until(&mut self, done: impl Fn(&str) -> bool) -> String {
        self.wait_at_most(Duration::from_secs(10));
        let (mut text, mut buffer) = (String::new(), [0_u8; 4096]);
        while !done(&text) {
            let n = self.reader.read(&mut buffer).expect("read the stream");
            assert!(n > 0, "the stream ended early: {text}");
            text.push_str(&String::from_utf8_lossy(&buffer[..n]));
        }
        text
    }

    /// True if the server ends the stream within `wait`.
    pub fn ends_within(&mut self, wait: Duration) -> bool {
        self.wait_at_most(wait);
        raw::closed(&mut self.reader)
    }

    fn wait_at_most(&self, wait: Duration) {
        self.reader
            .get_ref()
            .set_read_timeout(Some(wait))
            .expect("timeout");
    }
}
