//! The metrics listener: a socket of its own, apart from the API's, so the metrics can be
//! kept to a private interface while the API faces the internet, and no API client can
//! read them. One thread answers one connection at a time (a scraper asks every few
//! seconds): `GET` or `HEAD /metrics` gets the page, any other path `404`, another method
//! `405`. A request head has `HEAD_TIMEOUT` and `HEAD_BYTES` to arrive, and every answer
//! closes its connection, so no client holds the thread for long.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::text::CONTENT_TYPE;
use crate::address::ListenAddr;
use crate::http::parse::{self, HeadLimits};

/// The longest request head read; a scraper's is a few hundred bytes.
const HEAD_BYTES: usize = 8 * 1024;
/// How long a request head may take to arrive, from the connection.
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one write of the answer may block.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long, and how many bytes, a refused request is drained before its socket closes.
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 64 * 1024;
/// Pause after a failed accept (e.g. out of file descriptors), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

pub struct Listener {
    addr: SocketAddr,
    stopping: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

/// Binds `addr` (a host name: the first of its addresses that can be bound) and serves the
/// page `render` makes at each request, on a thread of its own.
pub fn start(
    addr: &ListenAddr,
    render: impl Fn() -> String + Send + 'static,
) -> io::Result<Listener> {
    let listener = TcpListener::bind(addr)?;
    let addr = listener.local_addr()?;
    let stopping = Arc::new(AtomicBool::new(false));
    let stop = Arc::clone(&stopping);
    let thread = thread::Builder::new()
        .name("metrics".into())
        .spawn(move || accept(&listener, &stop, &render))?;
    Ok(Listener {
        addr,
        stopping,
        thread,
    })
}

impl Listener {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting and waits for the answer in hand, if any.
    pub fn stop(self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wake the loop, which is blocked in accept().
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        // A panic there was already reported by the panic hook.
        let _ = self.thread.join();
    }
}

fn accept(listener: &TcpListener, stopping: &AtomicBool, render: &dyn Fn() -> String) {
    for accepted in listener.incoming() {
        if stopping.load(Ordering::SeqCst) {
            break;
        }
        match accepted {
            Ok(stream) => {
                if let Err(err) = answer(stream, render) {
                    log::debug!("metrics connection ended: {err}");
                }
            }
            Err(err) => {
                log::warn!("metrics accept failed: {err}; retrying");
                thread::sleep(ACCEPT_BACKOFF);
            }
        }
    }
}

/// What a request gets.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    Page { head_only: bool },
    NotFound,
    MethodNotAllowed,
    BadRequest,
    HeadTooLarge,
    Timeout,
}

fn answer(mut stream: TcpStream, render: &dyn Fn() -> String) -> io::Result<()> {
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    let answer = read_request(&mut stream)?;
    let (status, reason, content_type, body) = match answer {
        Answer::Page { .. } => (200, "OK", CONTENT_TYPE, render()),
        Answer::NotFound => (404, "Not Found", "text/plain", "not found\n".to_owned()),
        Answer::MethodNotAllowed => (
            405,
            "Method Not Allowed",
            "text/plain",
            "method not allowed\n".to_owned(),
        ),
        Answer::BadRequest => (400, "Bad Request", "text/plain", "bad request\n".to_owned()),
        Answer::HeadTooLarge => (
            431,
            "Request Header Fields Too Large",
            "text/plain",
            "request head too large\n".to_owned(),
        ),
        Answer::Timeout => (
            408,
            "Request Timeout",
            "text/plain",
            "too slow\n".to_owned(),
        ),
    };
    let allow = if answer == Answer::MethodNotAllowed {
        "Allow: GET, HEAD\r\n"
    } else {
        ""
    };
    let mut response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\n{allow}Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if answer != (Answer::Page { head_only: true }) {
        response.extend_from_slice(body.as_bytes());
    }
    stream.write_all(&response)?;
    stream.flush()?;
    if matches!(answer, Answer::BadRequest | Answer::HeadTooLarge) {
        linger(&mut stream);
    }
    Ok(())
}

/// Closing a socket with unread input makes the kernel send a reset, which can destroy a
/// refusal before the client reads it: after one, stop writing and discard what the client
/// still sends, for a second and 64 KiB at most.
fn linger(stream: &mut TcpStream) {
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let until = Instant::now() + LINGER;
    let mut sink = [0u8; 4096];
    let mut discarded = 0;
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        if discarded > LINGER_BYTES || stream.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => discarded += n,
        }
    }
}

/// Reads one request head, within `HEAD_BYTES` and `HEAD_TIMEOUT`, and decides its answer.
fn read_request(stream: &mut TcpStream) -> io::Result<Answer> {
    let limits = HeadLimits {
        max_line: HEAD_BYTES,
        max_headers: 64,
    };
    let deadline = Instant::now() + HEAD_TIMEOUT;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        match parse::parse_head(&buf, limits) {
            Ok(Some((_, length))) if length > HEAD_BYTES => return Ok(Answer::HeadTooLarge),
            Ok(Some((head, _))) => {
                let path = head.target.split('?').next().unwrap_or_default();
                return Ok(route(&head.method, path));
            }
            Ok(None) if buf.len() >= HEAD_BYTES => return Ok(Answer::HeadTooLarge),
            Ok(None) => {}
            Err(_) => return Ok(Answer::BadRequest),
        }
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            return Ok(Answer::Timeout);
        };
        stream.set_read_timeout(Some(left.max(Duration::from_millis(1))))?;
        match stream.read(&mut chunk) {
            Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Ok(Answer::Timeout);
            }
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
}

fn route(method: &str, path: &str) -> Answer {
    match (path, method) {
        ("/metrics", "GET") => Answer::Page { head_only: false },
        ("/metrics", "HEAD") => Answer::Page { head_only: true },
        ("/metrics", _) => Answer::MethodNotAllowed,
        _ => Answer::NotFound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_get_and_head_of_the_metrics_path_are_answered() {
        assert_eq!(route("GET", "/metrics"), Answer::Page { head_only: false });
        assert_eq!(route("HEAD", "/metrics"), Answer::Page { head_only: true });
        for method in ["POST", "PUT", "DELETE", "OPTIONS"] {
            assert_eq!(route(method, "/metrics"), Answer::MethodNotAllowed);
        }
        for path in ["/", "/metrics/", "/api/auth/login", "/healthz", "/METRICS"] {
            assert_eq!(route("GET", path), Answer::NotFound, "{path}");
        }
    }
}
