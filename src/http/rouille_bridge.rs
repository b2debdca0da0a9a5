//! The seam between our connection layer (`server`, on `httparse`) and rouille, whose
//! `Request` and `Response` are the handlers' whole view of HTTP. Three things cross it:
//!
//! - a parsed request head and its body become a `rouille::Request` (`request`);
//! - the body of an upload route, which the layer does not read, is lent to its handler
//!   (`take_body`);
//! - a response that takes the connection over (`Response::upgrade`) gets the connection
//!   (`hand_over`), as a typed `HandOff` delivered to the handler's `TakeOver`.
//!
//! rouille's own upgrade API hands an `Upgrade` nothing but a `Box<dyn ReadWrite>`: no
//! `TcpStream` to clone into a reader and a writer, set timeouts on or shut down, and no way
//! to pass the bytes the client sent after the head. So the connection travels beside that
//! call, in a slot private to this module that is filled only while `hand_over` runs
//! `Upgrade::build` on the connection's own thread. Handlers never see the slot: they
//! implement `TakeOver` and wrap it with `upgrade`, which takes the connection out of the
//! slot and passes it on by value.

use std::cell::RefCell;
use std::io;
use std::net::{SocketAddr, TcpStream};

use rouille::{Request, Upgrade};

use super::parse::Head;
use super::server::StreamedBody;

/// A connection taken over by a handler, for a stream that outlives the request.
pub struct HandOff {
    pub stream: TcpStream,
    /// Bytes the client sent after the request head, already read from the socket.
    pub leftover: Vec<u8>,
}

/// What runs on a connection once the response head is out: an event stream, a WebSocket
/// session. It runs on the connection's thread, which it keeps until it returns.
pub trait TakeOver: Send + 'static {
    fn take_over(self, connection: HandOff);
}

/// The `Response::upgrade` that hands the connection to `taker`.
pub fn upgrade(taker: impl TakeOver) -> Box<dyn Upgrade + Send> {
    Box::new(Upgrading(Some(taker)))
}

/// rouille's side of a `TakeOver`: `build` runs once, inside `hand_over`.
struct Upgrading<T>(Option<T>);

impl<T: TakeOver> Upgrade for Upgrading<T> {
    fn build(&mut self, _: Box<dyn rouille::ReadWrite + Send>) {
        if let (Some(taker), Some(connection)) = (self.0.take(), HANDED_OFF.with(RefCell::take)) {
            taker.take_over(connection);
        }
    }
}

thread_local! {
    /// The connection being handed over; filled only while `hand_over` runs.
    static HANDED_OFF: RefCell<Option<HandOff>> = const { RefCell::new(None) };
    /// The body of a streamed route's request; lent only while its handler runs.
    static STREAMED_BODY: RefCell<Option<StreamedBody>> = const { RefCell::new(None) };
}

/// Lends the handler about to run on this thread the body it reads as it goes.
pub(crate) fn lend_body(body: StreamedBody) {
    STREAMED_BODY.with(|slot| slot.replace(Some(body)));
}

/// The streamed body of the request being handled (`BodyPolicy::Stream`); `None` for a route
/// whose body the layer read, or when taken already. rouille's `Request` can only carry a
/// body that was read whole, so a streamed one travels beside it, like a handed-off connection.
pub fn take_body() -> Option<StreamedBody> {
    STREAMED_BODY.with(RefCell::take)
}

/// Gives `connection` to the response's `upgrade`, after the layer has written the response
/// head. The connection then belongs to the upgrade: the layer forgets it. An `Upgrade` that
/// is not ours gets only rouille's plain socket.
pub(crate) fn hand_over(upgrade: &mut (dyn Upgrade + Send), connection: HandOff) -> io::Result<()> {
    let socket = connection.stream.try_clone()?;
    HANDED_OFF.with(|slot| slot.replace(Some(connection)));
    upgrade.build(Box::new(socket));
    HANDED_OFF.with(RefCell::take);
    Ok(())
}

/// The handlers' view of a request the layer has read. `HEAD` is served as `GET` (the layer
/// drops the body), so no handler needs to know about it.
pub(crate) fn request(peer: SocketAddr, head: &Head, body: Vec<u8>) -> Request {
    let method = if head.method == "HEAD" {
        "GET"
    } else {
        head.method.as_str()
    };
    Request::fake_http_from(
        peer,
        method,
        head.target.clone(),
        head.headers.clone(),
        body,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::parse::Framing;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::mpsc;

    fn head(method: &str) -> Head {
        Head {
            method: method.into(),
            target: "/api/x?y=1".into(),
            minor_version: 1,
            headers: vec![("Host".into(), "example".into())],
            framing: Framing::None,
            keep_alive: true,
            expect_continue: false,
        }
    }

    #[test]
    fn a_head_request_reaches_the_handlers_as_get_with_its_peer_target_and_headers() {
        let peer: SocketAddr = "192.0.2.7:4321".parse().expect("addr");
        let head_request = request(peer, &head("HEAD"), Vec::new());
        assert_eq!(head_request.method(), "GET");
        assert_eq!(head_request.raw_url(), "/api/x?y=1");
        assert_eq!(head_request.header("Host"), Some("example"));
        assert_eq!(head_request.remote_addr(), &peer);
        assert_eq!(request(peer, &head("PATCH"), Vec::new()).method(), "PATCH");
    }

    /// Both ends of a loopback connection: the server's and the client's.
    fn connected() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (server, _) = listener.accept().expect("accept");
        (server, client)
    }

    /// Reports the leftover bytes it was handed and writes to the connection.
    struct Report(mpsc::Sender<Vec<u8>>);

    impl TakeOver for Report {
        fn take_over(self, mut connection: HandOff) {
            connection.stream.write_all(b"taken").expect("write");
            self.0.send(connection.leftover).expect("report");
        }
    }

    #[test]
    fn the_taker_gets_the_connection_with_its_leftover_bytes() {
        let (server, mut client) = connected();
        let (report, reports) = mpsc::channel();
        let mut upgrade = upgrade(Report(report));
        let connection = HandOff {
            stream: server,
            leftover: b"early".to_vec(),
        };
        hand_over(upgrade.as_mut(), connection).expect("hand over");
        assert_eq!(reports.try_recv().expect("taken over"), b"early");
        let mut written = [0u8; 5];
        client.read_exact(&mut written).expect("read");
        assert_eq!(&written, b"taken");
    }

    /// An upgrade that is not a `TakeOver` and leaves the connection where it is.
    struct Foreign;

    impl Upgrade for Foreign {
        fn build(&mut self, _: Box<dyn rouille::ReadWrite + Send>) {}
    }

    #[test]
    fn a_connection_nobody_took_does_not_reach_the_next_taker() {
        let (server, _client) = connected();
        let connection = HandOff {
            stream: server,
            leftover: Vec::new(),
        };
        hand_over(&mut Foreign, connection).expect("hand over");
        let (report, reports) = mpsc::channel();
        upgrade(Report(report)).build(Box::new(io::empty()));
        assert!(
            reports.try_recv().is_err(),
            "outside hand_over nothing is handed"
        );
    }
}
