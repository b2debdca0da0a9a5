//! Raw HTTP/1.1 on a socket of the test's own, for what a ready-made client hides: framing,
//! pipelining, refusals, deadlines, and the head of a stream that does not end.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::{TestServer, header_in};

/// How long a read on a raw connection waits before the test gives up on it.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A health check: the cheapest request the server answers.
pub const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

/// Settings for a cap of three connections per address, none of them cut short by a
/// timeout while the test holds it open.
pub const CAP_OF_THREE: &[&str] = &[
    "--max-connections-per-ip",
    "3",
    "--request-timeout",
    "120",
    "--idle-timeout",
    "120",
];

/// One parsed response: status, headers as sent, and body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// A header's value, its name in any case.
    pub fn header(&self, name: &str) -> Option<&str> {
        header_in(&self.headers, name)
    }
}

/// A new connection to the server, reads bounded by `READ_TIMEOUT`.
pub fn connect(server: &TestServer) -> TcpStream {
    let stream = TcpStream::connect(server.addr()).expect("connect");
    stream
        .set_read_timeout(Some(READ_TIMEOUT))
        .expect("timeout");
    stream
}

/// Connects from another loopback address (all of 127.0.0.0/8 is the loopback interface).
pub fn connect_from(server: &TestServer, local: &str) -> TcpStream {
    connect_between(local, server.addr())
}

/// Connects from the loopback address `local` to `HOST:PORT` (a proxy in front, say).
pub fn connect_between(local: &str, target: &str) -> TcpStream {
    let target: SocketAddr = target.parse().expect("target address");
    let local: SocketAddr = format!("{local}:0").parse().expect("local address");
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    socket.bind(&local.into()).expect("bind");
    socket.connect(&target.into()).expect("connect");
    let stream: TcpStream = socket.into();
    stream
        .set_read_timeout(Some(READ_TIMEOUT))
        .expect("timeout");
    stream
}

/// Sends `request` on a new connection and reads one response; the connection stays open.
pub fn exchange(server: &TestServer, request: &[u8]) -> (Response, BufReader<TcpStream>) {
    let stream = connect(server);
    (&stream).write_all(request).expect("write");
    let mut reader = BufReader::new(stream);
    (read_response(&mut reader, false), reader)
}

/// True if a health check on `stream` is answered 200.
pub fn served(stream: &TcpStream) -> bool {
    // A failed write shows as a failed read.
    let _ = (&*stream).write_all(HEALTHZ);
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).is_ok() && line.starts_with("HTTP/1.1 200")
}

/// Sends a health check on a kept-open connection and reads the answer.
pub fn healthz_on(stream: &TcpStream) -> Response {
    (&*stream).write_all(HEALTHZ).expect("write");
    read_response(&mut BufReader::new(stream), false)
}

/// True if the server closed a new connection without a word, as it does past a cap.
pub fn refused_unanswered(stream: TcpStream) -> bool {
    // The write may already fail; what counts is that nothing comes back.
    let _ = (&stream).write_all(HEALTHZ);
    let mut answer = Vec::new();
    match (&stream).read_to_end(&mut answer) {
        Ok(_) => answer.is_empty(),
        Err(err) => !is_timeout(&err),
    }
}

/// `n` kept-alive connections, each served a health check: a client holding `n` slots.
pub fn held_connections(server: &TestServer, n: usize) -> Vec<TcpStream> {
    let held: Vec<TcpStream> = (0..n).map(|_| connect(server)).collect();
    for stream in &held {
        assert_eq!(healthz_on(stream).status, 200);
    }
    held
}

/// Waits, polling for up to 10 s, until a new connection is served again once a slot was
/// given back.
pub fn wait_for_a_freed_slot(server: &TestServer) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !served(&connect(server)) {
        assert!(Instant::now() < deadline, "the freed slot never came back");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A health check as a proxy forwards it for `client`.
pub fn healthz_for(client: &str) -> String {
    format!("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: {client}\r\n\r\n")
}

/// `n` requests forwarded for `client` whose bodies never come, each on its own connection:
/// each holds one of the client's slots while the server waits for its body.
pub fn awaiting_bodies(server: &TestServer, n: usize, client: &str) -> Vec<TcpStream> {
    (0..n)
        .map(|_| {
            let stream = connect(server);
            (&stream)
                .write_all(
                    format!(
                        "POST /api/auth/login HTTP/1.1\r\nHost: x\r\n\
                         Content-Type: application/json\r\nContent-Length: 2\r\n\
                         X-Forwarded-For: {client}\r\n\r\n"
                    )
                    .as_bytes(),
                )
                .expect("head");
            stream
        })
        .collect()
}

/// Waits, polling for up to 10 s, until a health check forwarded for `client` is refused for
/// the client's cap, `in_flight` being that client's requests from `awaiting_bodies` (the
/// server reads their heads in its own time); the refusal. A probe holds one of the client's
/// slots while it is served: a head read meanwhile is refused in its place, so an in-flight
/// request that got an answer is sent again.
pub fn refused_for_the_cap(
    server: &TestServer,
    client: &str,
    in_flight: &mut [TcpStream],
) -> Response {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (past, _) = exchange(server, healthz_for(client).as_bytes());
        if past.status == 429 {
            return past;
        }
        assert!(
            Instant::now() < deadline,
            "the cap never applied: still {} for {client}",
            past.status
        );
        for stream in in_flight.iter_mut() {
            if answered(stream) {
                *stream = awaiting_bodies(server, 1, client).remove(0);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether the server has answered (or closed) a connection, without waiting.
fn answered(stream: &TcpStream) -> bool {
    stream.set_nonblocking(true).expect("nonblocking");
    let peeked = stream.peek(&mut [0_u8; 1]);
    stream.set_nonblocking(false).expect("blocking");
    peeked.is_ok()
}

/// Reads a response head: the status and the header fields.
pub fn read_head(reader: &mut impl BufRead) -> (u16, Vec<(String, String)>) {
    let mut line = String::new();
    reader.read_line(&mut line).expect("status line");
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("status in {line:?}"));
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("header");
        let line = line.trim_end();
        if line.is_empty() {
            return (status, headers);
        }
        let (name, value) = line.split_once(':').expect("header colon");
        headers.push((name.to_owned(), value.trim().to_owned()));
    }
}

/// Reads one response from a kept-open connection (Content-Length, chunked, or to the end).
pub fn read_response(reader: &mut impl BufRead, head_request: bool) -> Response {
    let (status, headers) = read_head(reader);
    let mut response = Response {
        status,
        headers,
        body: Vec::new(),
    };
    if head_request || status == 100 || status == 304 {
        return response;
    }
    if let Some(length) = response
        .header("content-length")
        .and_then(|n| n.parse::<usize>().ok())
    {
        response.body = vec![0u8; length];
        reader.read_exact(&mut response.body).expect("body");
    } else if response.header("transfer-encoding") == Some("chunked") {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).expect("chunk size");
            let size = usize::from_str_radix(size.trim(), 16).expect("hex");
            let mut chunk = vec![0u8; size + 2];
            reader.read_exact(&mut chunk).expect("chunk");
            if size == 0 {
                break;
            }
            response.body.extend_from_slice(&chunk[..size]);
        }
    } else {
        reader.read_to_end(&mut response.body).expect("body to end");
    }
    response
}

/// True if the server closed the connection (end of stream or reset) before the read
/// timeout set on it ran out; what was still unread is discarded.
pub fn closed(reader: &mut impl Read) -> bool {
    let mut rest = Vec::new();
    match reader.read_to_end(&mut rest) {
        Ok(_) => true,
        Err(err) => !is_timeout(&err),
    }
}

/// A read that ended because its timeout ran out.
pub fn is_timeout(err: &std::io::Error) -> bool {
    matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}
