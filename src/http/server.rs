//! The connection layer under rouille: accepts connections, reads and bounds each request,
//! hands it to the application as a `rouille::Request`, and writes the `rouille::Response`
//! back. Synchronous, one thread per connection, written from RFC 9112.
//!
//! It replaces rouille's engine (tiny_http 0.12), which one hostile client could crash or
//! starve. What it guarantees instead:
//! - a cap on open connections, and one on the connections of each client address (past
//!   either, a connection is closed at once, no thread spawned); requests that a trusted proxy
//!   forwards count against the cap of the client it names while they are served;
//! - a deadline for the whole request head, a deadline for the body, a write timeout, and a
//!   keep-alive idle timeout, so no client holds a thread for long by being slow;
//! - limits on header lines and count (431), the request target (414), and the body per route
//!   (413, judged from `Content-Length` or chunk sizes before the body is read), except on
//!   upload routes, whose handlers read the body from the connection as it arrives;
//! - accept errors (such as running out of file descriptors) and failed thread spawns are
//!   logged and survived; a panicking handler costs only its own connection;
//! - responses go out with `TCP_NODELAY`, head and body in one write where they fit, streamed
//!   bodies chunk by chunk as they are produced;
//! - a handler can take the raw connection over for Server-Sent Events and WebSocket, with
//!   the `TcpStream` and any bytes already read past the head (see `rouille_bridge`, which
//!   also turns each parsed request into the handlers' `rouille::Request`).

use std::cell::Cell;
use std::collections::HashMap;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use rouille::{Request, Response};

use super::extract::forwarded_for;
use super::forwarded::TrustedProxies;
use super::parse::{self, Framing, Head, HeadLimits, Reject};
use super::rouille_bridge::{self, HandOff};
use super::with_security_headers;
use crate::domain::Timestamp;
use crate::error::{ApiError, Kind};

/// The limits of the connection layer; every one is a server setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub max_connections: usize,
    /// Connections from one client address; trusted proxies are exempt.
    pub max_connections_per_ip: usize,
    /// Proxies whose `X-Forwarded-For` names the client a request is counted against.
    pub trusted_proxies: TrustedProxies,
    pub head: HeadLimits,
    /// From the first byte of a request to the end of its head.
    pub head_timeout: Duration,
    /// For the whole body, once the head is in.
    pub body_timeout: Duration,
    /// For each write of a response.
    pub write_timeout: Duration,
    /// How long a kept-alive connection may wait for its next request.
    pub idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 1024,
            max_connections_per_ip: 64,
            trusted_proxies: TrustedProxies::default(),
            head: HeadLimits {
                max_line: 8 * 1024,
                max_headers: 100,
            },
            head_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(30),
        }
    }
}

/// The application: a rouille handler.
pub type Handler = Arc<dyn Fn(&Request) -> Response + Send + Sync>;
/// How a route takes its body, from its method and path.
pub type BodyLimit = fn(&str, &str) -> BodyPolicy;

/// How the connection layer takes a request's body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyPolicy {
    /// Read whole before the handler runs; refused (413) past this many bytes.
    Read(usize),
    /// Left on the connection for the handler to read as it goes (`rouille_bridge::take_body`),
    /// so that a large upload never sits in memory whole. Needs a `Content-Length` (411
    /// otherwise); the handler judges the length itself.
    Stream,
}

/// Stack size of a connection thread: handlers keep little on the stack, and a small stack
/// keeps a thousand threads cheap.
const THREAD_STACK: usize = 512 * 1024;
/// How long a stopping server lets its ended streams say goodbye (a WebSocket close frame)
/// before it closes their sockets under them.
const STREAM_GRACE: Duration = Duration::from_millis(250);
/// Pause after a failed accept (e.g. out of file descriptors), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// Bytes read from a socket at a time.
const READ_CHUNK: usize = 16 * 1024;
/// How long a refused connection is drained before it is closed (see `linger`).
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1024 * 1024;
/// A response body up to this size is sent in the same write as the head.
const COALESCE: usize = 64 * 1024;

pub struct Server {
    listener: TcpListener,
    shared: Arc<Shared>,
}

struct Shared {
    addr: SocketAddr,
    limits: Limits,
    handler: Handler,
    body_limit: BodyLimit,
    open: AtomicUsize,
    /// Open connections (and forwarded requests in flight) per client address; an address
    /// with none is not in the map.
    per_address: Mutex<HashMap<IpAddr, usize>>,
    stopping: AtomicBool,
    next_id: AtomicU64,
    /// Connections waiting for their next request or still reading its head: no request is
    /// in hand, so shutdown can close them at once.
    idle: Mutex<HashMap<u64, Arc<TcpStream>>>,
    /// Connections a handler has taken over (realtime streams). Shutdown ends streams first,
    /// then closes these sockets after `STREAM_GRACE`, so that a client that stopped reading
    /// cannot keep its stream's writer blocked and the server waiting.
    taken_over: Mutex<HashMap<u64, Arc<TcpStream>>>,
}

/// Stops a running server from another thread.
#[derive(Clone)]
pub struct Stopper(Arc<Shared>);

impl Server {
    /// Listens on `addr`; of several addresses (a host name's), on the first that can be bound.
    pub fn bind(
        addr: impl ToSocketAddrs,
        limits: Limits,
        body_limit: BodyLimit,
        handler: Handler,
    ) -> io::Result<Server> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        Ok(Server {
            listener,
            shared: Arc::new(Shared {
                addr,
                limits,
                handler,
                body_limit,
                open: AtomicUsize::new(0),
                per_address: Mutex::new(HashMap::new()),
                stopping: AtomicBool::new(false),
                next_id: AtomicU64::new(0),
                idle: Mutex::new(HashMap::new()),
                taken_over: Mutex::new(HashMap::new()),
            }),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    pub fn stopper(&self) -> Stopper {
        Stopper(Arc::clone(&self.shared))
    }

    /// Accepts connections until stopped.
    pub fn run(self) {
        let mut logs = AcceptLogs::default();
        for accepted in self.listener.incoming() {
            if self.shared.stopping.load(Ordering::SeqCst) {
                break;
            }
            match accepted {
                Ok(stream) => admit(&self.shared, stream, &mut logs),
                Err(err) => {
                    if let Some(times) = logs.failed.due() {
                        log::warn!(
                            "accept failed ({times} times since the last report): {err}; retrying"
                        );
                    }
                    thread::sleep(ACCEPT_BACKOFF);
                }
            }
        }
    }
}

/// Counts an event that may come in floods, and says when to log it: at most once per
/// interval, with the number of times it happened since the last report, so a flood of
/// connections does not also flood the log.
#[derive(Default)]
struct Throttled {
    last: Option<Instant>,
    since: u64,
}

impl Throttled {
    const INTERVAL: Duration = Duration::from_secs(10);

    /// Counts one more; `Some(count)` when it is time to report.
    fn due(&mut self) -> Option<u64> {
        self.since += 1;
        if self
            .last
            .is_some_and(|last| last.elapsed() < Self::INTERVAL)
        {
            return None;
        }
        self.last = Some(Instant::now());
        Some(std::mem::take(&mut self.since))
    }
}

/// What the accept loop logs, each throttled on its own.
#[derive(Default)]
struct AcceptLogs {
    failed: Throttled,
    server_full: Throttled,
    address_full: Throttled,
}

/// Gives the connection a thread of its own, or closes it at once when the server or the
/// client's address is full, or no thread can be had.
fn admit(shared: &Arc<Shared>, stream: TcpStream, logs: &mut AcceptLogs) {
    let peer = stream
        .peer_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    let admitted = match Admitted::new(shared, peer.ip()) {
        Ok(admitted) => admitted,
        Err(Full::Server) => {
            if let Some(times) = logs.server_full.due() {
                log::warn!(
                    "connection limit reached; closed new connections ({times} since the last report)"
                );
            }
            return;
        }
        Err(Full::Address(address)) => {
            if let Some(times) = logs.address_full.due() {
                log::warn!(
                    "connection limit of an address reached; closed new connections from \
                     {address} and others ({times} since the last report)"
                );
            }
            return;
        }
    };
    let spawned = thread::Builder::new()
        .name("connection".into())
        .stack_size(THREAD_STACK)
        .spawn(move || {
            let shared = &admitted.shared;
            let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
            if let Err(err) = Connection::new(shared, id, stream, peer).serve() {
                log::debug!("connection from {peer} ended: {err}");
            }
            shared.idle_done(id);
        });
    // On failure the closure is dropped, and with it the admission and the stream.
    if let Err(err) = spawned {
        log::error!("cannot start a connection thread: {err}; connection dropped");
    }
}

/// A connection counted against the caps; dropping it takes it off the counts.
struct Admitted {
    shared: Arc<Shared>,
    /// The address whose cap it counts against; none for a trusted proxy, which carries
    /// many clients (their requests are counted one by one, see `ForwardedSlot`).
    address: Option<IpAddr>,
}

/// Which cap refused a connection.
enum Full {
    Server,
    Address(IpAddr),
}

impl Admitted {
    /// Counts a new connection from `address`, unless the server or that address is at its
    /// cap.
    fn new(shared: &Arc<Shared>, address: IpAddr) -> Result<Admitted, Full> {
        if shared.open.fetch_add(1, Ordering::SeqCst) >= shared.limits.max_connections {
            shared.open.fetch_sub(1, Ordering::SeqCst);
            return Err(Full::Server);
        }
        let address = address.to_canonical();
        let capped = !shared.limits.trusted_proxies.contains(address);
        if capped && !shared.take_address_slot(address) {
            shared.open.fetch_sub(1, Ordering::SeqCst);
            return Err(Full::Address(address));
        }
        Ok(Admitted {
            shared: Arc::clone(shared),
            address: capped.then_some(address),
        })
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        if let Some(address) = self.address {
            self.shared.give_address_slot(address);
        }
        self.shared.open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A request from a trusted proxy, counted against the cap of the client it was forwarded
/// for while it is read and served; given back when dropped.
struct ForwardedSlot<'a> {
    shared: &'a Shared,
    client: IpAddr,
}

impl Drop for ForwardedSlot<'_> {
    fn drop(&mut self) {
        self.shared.give_address_slot(self.client);
    }
}

impl Shared {
    /// Counts one more connection for `address`; false if it has all it may have.
    fn take_address_slot(&self, address: IpAddr) -> bool {
        let mut counts = self
            .per_address
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let count = counts.entry(address).or_insert(0);
        if *count >= self.limits.max_connections_per_ip {
            return false;
        }
        *count += 1;
        true
    }

    fn give_address_slot(&self, address: IpAddr) {
        let mut counts = self
            .per_address
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = counts.get_mut(&address) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&address);
            }
        }
    }

    fn idle_start(&self, id: u64, handle: &Arc<TcpStream>) {
        enlist(&self.idle, id, handle);
    }

    fn idle_done(&self, id: u64) {
        strike(&self.idle, id);
    }
}

fn enlist(registry: &Mutex<HashMap<u64, Arc<TcpStream>>>, id: u64, handle: &Arc<TcpStream>) {
    registry
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(id, Arc::clone(handle));
}

fn strike(registry: &Mutex<HashMap<u64, Arc<TcpStream>>>, id: u64) {
    registry
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(&id);
}

/// Shuts every socket of a registry down, which ends any read or write blocked on it.
fn shut_all(registry: &Mutex<HashMap<u64, Arc<TcpStream>>>) {
    for stream in registry
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .values()
    {
        let _ = stream.shutdown(Shutdown::Both);
    }
}

impl Stopper {
    /// Stops accepting, closes connections that have no request in hand (idle keep-alive,
    /// or a head still arriving), closes taken-over connections after `STREAM_GRACE`, and
    /// waits up to `deadline` for requests in flight to finish. True if every connection
    /// closed in time.
    pub fn stop(&self, deadline: Duration) -> bool {
        let shared = &self.0;
        shared.stopping.store(true, Ordering::SeqCst);
        // Wake the accept loop, which is blocked in accept().
        let _ = TcpStream::connect_timeout(&shared.addr, Duration::from_secs(1));
        let started = Instant::now();
        let until = started + deadline;
        loop {
            // A request in flight is in neither registry and is not touched.
            shut_all(&shared.idle);
            if started.elapsed() >= STREAM_GRACE {
                shut_all(&shared.taken_over);
            }
            if shared.open.load(Ordering::SeqCst) == 0 {
                return true;
            }
            if Instant::now() >= until {
                return false;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Connections open right now.
    pub fn open_connections(&self) -> usize {
        self.0.open.load(Ordering::SeqCst)
    }
}

/// One client connection and the bytes read from it but not yet used.
struct Connection<'a> {
    shared: &'a Shared,
    id: u64,
    stream: TcpStream,
    /// A second handle on the socket, lent to the idle registry while waiting for a request.
    idle_handle: Option<Arc<TcpStream>>,
    peer: SocketAddr,
    buf: Vec<u8>,
}

/// How a request ended for the connection.
enum Next {
    KeepAlive,
    Close,
    HandedOff,
}

impl<'a> Connection<'a> {
    fn new(shared: &'a Shared, id: u64, stream: TcpStream, peer: SocketAddr) -> Connection<'a> {
        Connection {
            shared,
            id,
            idle_handle: stream.try_clone().ok().map(Arc::new),
            stream,
            peer,
            buf: Vec::new(),
        }
    }

    fn serve(mut self) -> io::Result<()> {
        self.stream.set_nodelay(true)?;
        self.stream
            .set_write_timeout(Some(self.shared.limits.write_timeout))?;
        let mut first = true;
        loop {
            if !self.await_request(first)? {
                return Ok(());
            }
            first = false;
            match self.one_request()? {
                Next::KeepAlive if !self.shared.stopping.load(Ordering::SeqCst) => {}
                Next::HandedOff => return Ok(()),
                _ => {
                    let _ = self.stream.shutdown(Shutdown::Write);
                    return Ok(());
                }
            }
        }
    }

    /// Waits for the first byte of the next request: up to the idle timeout between requests,
    /// and no longer than the head deadline on a new connection, so connecting and saying
    /// nothing holds a thread no longer than sending a slow head does. False when the client
    /// closed, went quiet, or the server is stopping.
    fn await_request(&mut self, first: bool) -> io::Result<bool> {
        if !self.buf.is_empty() {
            return Ok(true);
        }
        if let Some(handle) = &self.idle_handle {
            self.shared.idle_start(self.id, handle);
        }
        let limits = &self.shared.limits;
        let idle_timeout = if first {
            limits.head_timeout.min(limits.idle_timeout)
        } else {
            limits.idle_timeout
        };
        let got = if self.shared.stopping.load(Ordering::SeqCst) {
            Ok(0)
        } else {
            self.read_more(Instant::now() + idle_timeout)
        };
        // Still enlisted as idle until the whole head is in (see `one_request`): until then
        // there is no request a shutdown could cut short.
        match got {
            Ok(n) => Ok(n > 0),
            Err(Failure::Io(err)) => Err(err),
            Err(Failure::Timeout | Failure::Reject(_)) => Ok(false),
        }
    }

    fn one_request(&mut self) -> io::Result<Next> {
        let head = match self.read_head() {
            Ok(Some(head)) => {
                self.shared.idle_done(self.id);
                head
            }
            Ok(None) => return Ok(Next::Close),
            Err(Failure::Reject(reject)) => return self.refuse(reject),
            Err(Failure::Timeout) => return self.refuse_timeout(),
            Err(Failure::Io(err)) => return Err(err),
        };
        let Ok(_forwarded) = self.forwarded_slot(&head) else {
            return self.refuse_with(ApiError::too_many_connections());
        };
        let path = head.target.split('?').next().unwrap_or("/").to_owned();
        let (body, streamed) = match (self.shared.body_limit)(&head.method, &path) {
            BodyPolicy::Read(limit) => (self.read_body(&head, limit), None),
            BodyPolicy::Stream => match self.stream_body(&head) {
                Ok(streamed) => (Ok(Vec::new()), Some(streamed)),
                Err(failure) => (Err(failure), None),
            },
        };
        let body = match body {
            Ok(body) => body,
            Err(Failure::Reject(reject)) => return self.refuse(reject),
            Err(Failure::Timeout) => return self.refuse_timeout(),
            Err(Failure::Io(err)) => return Err(err),
        };
        let head_only = head.method == "HEAD";
        let request = rouille_bridge::request(self.peer, &head, body);
        let unread = streamed.as_ref().map(StreamedBody::unread);
        if let Some(streamed) = streamed {
            rouille_bridge::lend_body(streamed);
        }
        let handler = &self.shared.handler;
        let response = catch_unwind(AssertUnwindSafe(|| handler(&request))).unwrap_or_else(|_| {
            with_security_headers(ApiError::internal("handler panicked").into_response())
        });
        // Whatever the handler did not take is dropped with the request, never lent to the next.
        drop(rouille_bridge::take_body());
        // A body the handler left unread cannot be skipped reliably: answer, then close.
        let body_left = unread.is_some_and(|unread| unread.get() > 0);
        let keep_alive =
            head.keep_alive && !body_left && !self.shared.stopping.load(Ordering::SeqCst);
        let next = self.respond(response, head.minor_version, head_only, keep_alive)?;
        if body_left {
            self.linger();
        }
        Ok(next)
    }

    /// The body of a streamed route, for its handler to read: the bytes already read past the
    /// head, then the socket, up to the declared length and within the body deadline.
    fn stream_body(&mut self, head: &Head) -> Result<StreamedBody, Failure> {
        let length = match head.framing {
            Framing::None => 0,
            Framing::Length(length) => length,
            Framing::Chunked => return Err(Failure::Reject(Reject::LengthRequired)),
        };
        self.continue_if_expected(head)?;
        let buffered = self
            .buf
            .len()
            .min(usize::try_from(length).unwrap_or(usize::MAX));
        Ok(StreamedBody {
            stream: self.stream.try_clone().map_err(Failure::Io)?,
            buffered: self.buf.drain(..buffered).collect(),
            at: 0,
            length,
            unread: Rc::new(Cell::new(length)),
            deadline: Instant::now() + self.shared.limits.body_timeout,
        })
    }

    /// Behind a trusted proxy, the socket's address says nothing about the client: the
    /// request is counted against the client its `X-Forwarded-For` names instead, until it
    /// has been answered. `Err` when that client is at its cap.
    fn forwarded_slot(&self, head: &Head) -> Result<Option<ForwardedSlot<'a>>, ()> {
        let trusted = &self.shared.limits.trusted_proxies;
        let peer = self.peer.ip();
        if !trusted.contains(peer) {
            return Ok(None);
        }
        let headers = head.headers.iter().map(|(n, v)| (n.as_str(), v.as_str()));
        let client = trusted.client(peer, forwarded_for(headers));
        if trusted.contains(client) {
            return Ok(None);
        }
        if !self.shared.take_address_slot(client) {
            log::warn!("connection limit of {client} reached; refusing a request forwarded for it");
            return Err(());
        }
        Ok(Some(ForwardedSlot {
            shared: self.shared,
            client,
        }))
    }

    fn read_head(&mut self) -> Result<Option<Head>, Failure> {
        let deadline = Instant::now() + self.shared.limits.head_timeout;
        loop {
            if let Some((head, used)) = parse::parse_head(&self.buf, self.shared.limits.head)? {
                self.buf.drain(..used);
                return Ok(Some(head));
            }
            if self.read_more(deadline)? == 0 {
                return Ok(None);
            }
        }
    }

    fn read_body(&mut self, head: &Head, limit: usize) -> Result<Vec<u8>, Failure> {
        let deadline = Instant::now() + self.shared.limits.body_timeout;
        match head.framing {
            Framing::None => Ok(Vec::new()),
            Framing::Length(length) => {
                let length = usize::try_from(length).unwrap_or(usize::MAX);
                if length > limit {
                    return Err(Failure::Reject(Reject::TooLarge));
                }
                self.continue_if_expected(head)?;
                while self.buf.len() < length {
                    if self.read_more(deadline)? == 0 {
                        return Err(Failure::Io(ErrorKind::UnexpectedEof.into()));
                    }
                }
                Ok(self.buf.drain(..length).collect())
            }
            Framing::Chunked => {
                self.continue_if_expected(head)?;
                loop {
                    if let Some((body, used)) = parse::decode_chunked(&self.buf, limit)? {
                        self.buf.drain(..used);
                        return Ok(body);
                    }
                    if self.read_more(deadline)? == 0 {
                        return Err(Failure::Io(ErrorKind::UnexpectedEof.into()));
                    }
                }
            }
        }
    }

    /// A client that sent `Expect: 100-continue` waits for this before sending its body.
    fn continue_if_expected(&mut self, head: &Head) -> Result<(), Failure> {
        if head.expect_continue && head.minor_version == 1 && self.buf.is_empty() {
            self.stream
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .map_err(Failure::Io)?;
        }
        Ok(())
    }

    /// Reads what is available, waiting no later than `deadline`; 0 at end of stream.
    fn read_more(&mut self, deadline: Instant) -> Result<usize, Failure> {
        let left = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or(Failure::Timeout)?;
        self.stream
            .set_read_timeout(Some(left))
            .map_err(Failure::Io)?;
        let mut chunk = [0u8; READ_CHUNK];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(n);
                }
                Err(err) if err.kind() == ErrorKind::Interrupted => {}
                Err(err) if is_timeout(&err) => return Err(Failure::Timeout),
                Err(err) => return Err(Failure::Io(err)),
            }
        }
    }

    /// Answers a request that cannot be served, then closes: after a framing error the rest
    /// of the stream cannot be trusted, and a refused body is not drained.
    fn refuse(&mut self, reject: Reject) -> io::Result<Next> {
        let error = match reject {
            Reject::BadRequest(why) => ApiError::new(Kind::BadRequest, why),
            Reject::UriTooLong => ApiError::new(Kind::UriTooLong, "The request target is too long"),
            Reject::HeadersTooLarge => {
                ApiError::new(Kind::HeadersTooLarge, "The request headers are too large")
            }
            Reject::TooLarge => {
                ApiError::new(Kind::PayloadTooLarge, "The request body is too large")
            }
            Reject::LengthRequired => {
                ApiError::new(Kind::LengthRequired, "This request needs a Content-Length")
            }
            Reject::NotImplemented => ApiError::new(
                Kind::NotImplemented,
                "Only the chunked transfer coding is supported",
            ),
        };
        self.refuse_with(error)
    }

    fn refuse_timeout(&mut self) -> io::Result<Next> {
        self.refuse_with(ApiError::new(
            Kind::RequestTimeout,
            "The request took too long to arrive",
        ))
    }

    fn refuse_with(&mut self, error: ApiError) -> io::Result<Next> {
        self.respond(
            with_security_headers(error.into_response()),
            1,
            false,
            false,
        )?;
        self.linger();
        Ok(Next::Close)
    }

    /// Closing a socket with unread input makes the kernel send a reset, which can destroy the
    /// refusal before the client reads it. So after a refusal: stop writing, then read and
    /// discard what the client still sends, for a short time and a few bytes at most, and
    /// close.
    fn linger(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
        let until = Instant::now() + LINGER;
        let mut sink = [0u8; READ_CHUNK];
        let mut discarded = 0;
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            if left.is_zero()
                || discarded > LINGER_BYTES
                || self.stream.set_read_timeout(Some(left)).is_err()
            {
                break;
            }
            match self.stream.read(&mut sink) {
                Ok(0) | Err(_) => break,
                Ok(n) => discarded += n,
            }
        }
    }

    fn respond(
        &mut self,
        mut response: Response,
        minor_version: u8,
        head_only: bool,
        keep_alive: bool,
    ) -> io::Result<Next> {
        if let Some(mut upgrade) = response.upgrade.take() {
            // The handler's own `Connection: Upgrade` stands; no framing, the taker owns the rest.
            let head = response_head(&response, None, minor_version, Framing::None, None);
            self.stream.write_all(&head)?;
            let connection = HandOff {
                stream: self.stream.try_clone()?,
                leftover: std::mem::take(&mut self.buf),
            };
            if let Some(handle) = &self.idle_handle {
                enlist(&self.shared.taken_over, self.id, handle);
            }
            let handed = rouille_bridge::hand_over(upgrade.as_mut(), connection);
            strike(&self.shared.taken_over, self.id);
            handed?;
            return Ok(Next::HandedOff);
        }
        let status = response.status_code;
        let has_body = !(status < 200 || status == 204 || status == 304);
        let (mut reader, size) =
            std::mem::replace(&mut response.data, rouille::ResponseBody::empty())
                .into_reader_and_size();
        let framing = match size {
            _ if !has_body => Framing::None,
            Some(size) => Framing::Length(size as u64),
            None if minor_version == 1 => Framing::Chunked,
            // HTTP/1.0 has no chunking: the end of the body is the end of the connection.
            None => Framing::None,
        };
        let keep_alive = keep_alive && (size.is_some() || minor_version == 1 || !has_body);
        let mut out = response_head(&response, size, minor_version, framing, Some(!keep_alive));
        if head_only || !has_body {
            self.stream.write_all(&out)?;
        } else if framing == Framing::Chunked {
            self.stream.write_all(&out)?;
            write_chunked(&mut self.stream, &mut reader)?;
        } else if size.is_some_and(|size| size <= COALESCE) {
            reader.read_to_end(&mut out)?;
            self.stream.write_all(&out)?;
        } else {
            self.stream.write_all(&out)?;
            io::copy(&mut reader, &mut self.stream)?;
        }
        Ok(if keep_alive {
            Next::KeepAlive
        } else {
            Next::Close
        })
    }
}

/// A request body its handler reads from the connection as it goes (`BodyPolicy::Stream`).
/// Reads end at the declared length, so a pipelined next request is never consumed; a client
/// that stops sending before it gets `UnexpectedEof`, one too slow `TimedOut`.
pub struct StreamedBody {
    stream: TcpStream,
    /// What the connection had read past the head; handed out first.
    buffered: Vec<u8>,
    at: usize,
    length: u64,
    /// Bytes not yet handed to the handler, shared with the connection, which closes rather
    /// than keeps alive a connection whose body was left unread.
    unread: Rc<Cell<u64>>,
    deadline: Instant,
}

impl StreamedBody {
    /// The length the client declared.
    pub fn len(&self) -> u64 {
        self.length
    }

    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    fn unread(&self) -> Rc<Cell<u64>> {
        Rc::clone(&self.unread)
    }

    fn read_socket(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self
            .deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| io::Error::from(ErrorKind::TimedOut))?;
        self.stream.set_read_timeout(Some(left))?;
        match self.stream.read(buf) {
            Ok(0) => Err(ErrorKind::UnexpectedEof.into()),
            Err(err) if is_timeout(&err) => Err(ErrorKind::TimedOut.into()),
            other => other,
        }
    }
}

impl Read for StreamedBody {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let unread = self.unread.get();
        let wanted = buf.len().min(usize::try_from(unread).unwrap_or(usize::MAX));
        if wanted == 0 {
            return Ok(0);
        }
        let n = if self.at < self.buffered.len() {
            let n = wanted.min(self.buffered.len() - self.at);
            buf[..n].copy_from_slice(&self.buffered[self.at..self.at + n]);
            self.at += n;
            n
        } else {
            self.read_socket(&mut buf[..wanted])?
        };
        self.unread.set(unread - n as u64);
        Ok(n)
    }
}

/// Why reading a request stopped.
enum Failure {
    Reject(Reject),
    Timeout,
    Io(io::Error),
}

impl From<Reject> for Failure {
    fn from(reject: Reject) -> Failure {
        Failure::Reject(reject)
    }
}

fn is_timeout(err: &io::Error) -> bool {
    matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// The status line and headers. Framing, `Date` and `Server` are the layer's, and so is
/// `Connection` unless `close` is `None` (a connection being handed off): a handler's own
/// versions of them are dropped.
fn response_head(
    response: &Response,
    size: Option<usize>,
    minor_version: u8,
    framing: Framing,
    close: Option<bool>,
) -> Vec<u8> {
    let status = response.status_code;
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nDate: {}\r\nServer: emotechat\r\n",
        reason(status),
        Timestamp::now().to_http_date()
    );
    for (name, value) in &response.headers {
        let reserved = ["Content-Length", "Transfer-Encoding", "Date", "Server"]
            .iter()
            .any(|r| name.eq_ignore_ascii_case(r))
            || (close.is_some() && name.eq_ignore_ascii_case("Connection"));
        if !reserved {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    match framing {
        Framing::Length(_) => head.push_str(&format!("Content-Length: {}\r\n", size.unwrap_or(0))),
        Framing::Chunked => head.push_str("Transfer-Encoding: chunked\r\n"),
        Framing::None => {}
    }
    match close {
        Some(true) => head.push_str("Connection: close\r\n"),
        Some(false) if minor_version == 0 => head.push_str("Connection: keep-alive\r\n"),
        _ => {}
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// Sends a body of unknown length chunk by chunk, each as soon as the handler produced it.
fn write_chunked(stream: &mut TcpStream, reader: &mut dyn Read) -> io::Result<()> {
    let mut data = vec![0u8; READ_CHUNK];
    loop {
        let n = match reader.read(&mut data) {
            Ok(n) => n,
            Err(err) if err.kind() == ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        if n == 0 {
            return stream.write_all(b"0\r\n\r\n");
        }
        let mut chunk = format!("{n:x}\r\n").into_bytes();
        chunk.extend_from_slice(&data[..n]);
        chunk.extend_from_slice(b"\r\n");
        stream.write_all(&chunk)?;
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::sync::mpsc;

    /// A server with `handler` on a free loopback port; the stopper ends it.
    fn serve(handler: Handler) -> (SocketAddr, Stopper) {
        let server = Server::bind(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            Limits::default(),
            |_, _| BodyPolicy::Read(1024),
            handler,
        )
        .expect("bind");
        let (addr, stopper) = (server.addr(), server.stopper());
        thread::spawn(move || server.run());
        (addr, stopper)
    }

    /// Reads one response head: the status and the header lines.
    fn read_head(reader: &mut impl BufRead) -> (u16, Vec<String>) {
        let mut status = String::new();
        reader.read_line(&mut status).expect("status line");
        let code = status
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .expect("status");
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("header line");
            if line.trim().is_empty() {
                return (code, headers);
            }
            headers.push(line.trim().to_owned());
        }
    }

    /// Connects, sends `request`, and returns the stream with a reader on it.
    fn send(addr: SocketAddr, request: &[u8]) -> (TcpStream, BufReader<TcpStream>) {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let reader = BufReader::new(stream.try_clone().expect("clone"));
        (&stream).write_all(request).expect("request");
        (stream, reader)
    }

    /// A body that hands out pieces as a test sends them, and ends when the sender is dropped.
    struct Pieces(mpsc::Receiver<Vec<u8>>);

    impl Read for Pieces {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.0.recv() {
                Ok(piece) => {
                    buf[..piece.len()].copy_from_slice(&piece);
                    Ok(piece.len())
                }
                Err(_) => Ok(0),
            }
        }
    }

    #[test]
    fn floods_are_logged_once_per_interval_with_their_count() {
        let mut log = Throttled::default();
        assert_eq!(log.due(), Some(1), "the first is reported at once");
        assert_eq!((log.due(), log.due(), log.due()), (None, None, None));
        log.last = log.last.map(|last| last - Throttled::INTERVAL);
        assert_eq!(log.due(), Some(4), "then the count since the last report");
        assert_eq!(log.due(), None);
    }

    #[test]
    fn a_streamed_body_reaches_the_client_piece_by_piece() {
        let (feed, pieces) = mpsc::channel();
        let pieces = Mutex::new(Some(Pieces(pieces)));
        let (addr, stopper) = serve(Arc::new(move |_: &Request| {
            let body = pieces.lock().expect("lock").take().expect("one request");
            Response {
                status_code: 200,
                headers: vec![("Content-Type".into(), "text/event-stream".into())],
                data: rouille::ResponseBody::from_reader(body),
                upgrade: None,
            }
        }));
        let (_stream, mut reader) = send(addr, b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n");
        feed.send(b"data: one\n\n".to_vec()).expect("feed");
        let (status, headers) = read_head(&mut reader);
        assert_eq!(status, 200);
        assert!(headers.iter().any(|h| h == "Transfer-Encoding: chunked"));
        // Each piece arrives as its own chunk before the next one even exists.
        for piece in ["data: one\n\n", "data: two\n\n"] {
            if piece != "data: one\n\n" {
                feed.send(piece.as_bytes().to_vec()).expect("feed");
            }
            let mut size = String::new();
            reader.read_line(&mut size).expect("chunk size");
            assert_eq!(
                usize::from_str_radix(size.trim(), 16).ok(),
                Some(piece.len())
            );
            let mut data = vec![0u8; piece.len() + 2];
            reader.read_exact(&mut data).expect("chunk");
            assert_eq!(&data[..piece.len()], piece.as_bytes());
        }
        drop(feed);
        let mut end = String::new();
        reader.read_line(&mut end).expect("last chunk");
        assert_eq!(end, "0\r\n");
        stopper.stop(Duration::from_secs(5));
    }

    #[test]
    fn a_panicking_handler_answers_500_and_the_connection_lives_on() {
        let (addr, stopper) = serve(Arc::new(|request: &Request| {
            if request.url() == "/panic" {
                panic!("boom");
            }
            Response::text("fine")
        }));
        let (_stream, mut reader) =
            send(addr, b"GET /panic HTTP/1.1\r\n\r\nGET /ok HTTP/1.1\r\n\r\n");
        let (status, headers) = read_head(&mut reader);
        assert_eq!(status, 500);
        assert!(
            headers
                .iter()
                .any(|h| h == "X-Content-Type-Options: nosniff"),
            "{headers:?}"
        );
        let length: usize = headers
            .iter()
            .find_map(|h| h.strip_prefix("Content-Length: "))
            .and_then(|n| n.parse().ok())
            .expect("length");
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body).expect("body");
        assert!(String::from_utf8_lossy(&body).contains("\"internal\""));
        let (status, _) = read_head(&mut reader);
        assert_eq!(
            status, 200,
            "the pipelined request after the panic is answered"
        );
        stopper.stop(Duration::from_secs(5));
    }

    /// Takes the connection over, greets, then echoes what the client sent after the head.
    struct Echo;

    impl rouille_bridge::TakeOver for Echo {
        fn take_over(self, HandOff { stream, leftover }: HandOff) {
            let mut writer = stream.try_clone().expect("clone");
            thread::spawn(move || {
                writer.write_all(b"hello ").expect("greet");
                writer.write_all(&leftover).expect("leftover");
                let mut rest = [0u8; 16];
                let n = (&stream).read(&mut rest).expect("read");
                writer.write_all(&rest[..n]).expect("echo");
            });
        }
    }

    #[test]
    fn a_handler_can_take_the_connection_over_with_its_leftover_bytes() {
        let (addr, stopper) = serve(Arc::new(|_: &Request| Response {
            status_code: 101,
            headers: vec![
                ("Upgrade".into(), "echo".into()),
                ("Connection".into(), "Upgrade".into()),
            ],
            data: rouille::ResponseBody::empty(),
            upgrade: Some(rouille_bridge::upgrade(Echo)),
        }));
        let (stream, mut reader) = send(addr, b"GET /echo HTTP/1.1\r\n\r\nearly");
        let (status, headers) = read_head(&mut reader);
        assert_eq!(status, 101);
        assert!(
            headers.iter().any(|h| h == "Connection: Upgrade"),
            "{headers:?}"
        );
        let mut greeting = [0u8; 11];
        reader.read_exact(&mut greeting).expect("greeting");
        assert_eq!(&greeting, b"hello early");
        (&stream).write_all(b"later").expect("write");
        let mut echo = [0u8; 5];
        reader.read_exact(&mut echo).expect("echo");
        assert_eq!(&echo, b"later");
        assert!(
            stopper.stop(Duration::from_secs(5)),
            "a handed-off stream is not waited for"
        );
    }
}
