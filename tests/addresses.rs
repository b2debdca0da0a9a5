//! `--addr` beyond IPv4: a server on the IPv6 loopback and on a host name serves, says a URL
//! that works, and links to itself with it; the per-address connection cap and a trusted
//! proxy's `X-Forwarded-For` work for IPv6 clients as they do for IPv4 (tests/transport.rs).
//! On a machine without an IPv6 loopback the IPv6 tests say so and skip.

use std::io::{Read, Write};
use std::net::{IpAddr, TcpListener, TcpStream, ToSocketAddrs};

use serde_json::json;

use crate::util::raw::{
    CAP_OF_THREE, awaiting_bodies, connect, exchange, healthz_for, held_connections,
    refused_for_the_cap, refused_unanswered, wait_for_a_freed_slot,
};
use crate::util::{PASSWORD, TestServer};

/// True if this machine can listen on `::1`; if not, says so on stderr for the test log.
fn has_ipv6_loopback(test: &str) -> bool {
    let present = TcpListener::bind("[::1]:0").is_ok();
    if !present {
        eprintln!("SKIPPED {test}: this machine has no IPv6 loopback (::1)");
    }
    present
}

fn start_on(addr: &str, args: &[&str]) -> TestServer {
    TestServer::start_on(addr, tempfile::tempdir().expect("temp dir"), args)
}

#[test]
fn a_server_on_the_ipv6_loopback_serves_and_names_itself_with_brackets() {
    if !has_ipv6_loopback("a_server_on_the_ipv6_loopback_serves") {
        return;
    }
    let server = start_on("[::1]:0", &["--metrics-addr", "[::1]:0"]);
    assert!(server.base.starts_with("http://[::1]:"), "{}", server.base);
    let metrics = server
        .wait_for_log("metrics on ")
        .expect("the metrics line");
    let metrics = metrics
        .strip_prefix("metrics on http://")
        .and_then(|rest| rest.strip_suffix("/metrics"))
        .expect("a bracketed URL");
    let mut scrape = TcpStream::connect(metrics).expect("the metrics address works");
    scrape
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("request");
    let mut page = String::new();
    scrape.read_to_string(&mut page).expect("page");
    assert!(page.starts_with("HTTP/1.1 200 "), "{page}");
    let user = server.user("Ada");
    let reply = server.post("/api/password/reset-request", json!({"email": user.email}));
    assert_eq!(reply.status, 200, "{}", reply.body);
    let line = server
        .wait_for_log("/reset-password?token=")
        .expect("the link is logged");
    assert!(
        line.contains(&format!("{}/reset-password?token=", server.base)),
        "the default public URL is the bracketed address: {line}"
    );
}

#[test]
fn a_server_on_localhost_listens_on_the_first_address_that_binds() {
    let server = start_on("localhost:0", &[]);
    let first_bindable: IpAddr = ("localhost", 0)
        .to_socket_addrs()
        .expect("localhost resolves")
        .find(|addr| TcpListener::bind(addr).is_ok())
        .expect("some localhost address binds")
        .ip();
    let bound: std::net::SocketAddr = server.addr().parse().expect("the URL names an address");
    assert_eq!(bound.ip(), first_bindable, "{}", server.base);
    assert!(
        server
            .wait_for_log("localhost resolves to")
            .is_some_and(|line| line.contains(&format!("listening on {bound}"))),
        "{:?}",
        server.log()
    );
    let user = server.user("Ada");
    assert_eq!(server.get("/api/auth/validate", &user.token).status, 200);
}

#[test]
fn an_address_that_cannot_be_bound_or_resolved_stops_the_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (addr, reason) in [
        // .invalid never resolves (RFC 6761).
        ("nowhere.invalid:0", "cannot listen on nowhere.invalid:0"),
        ("[::1]:8080x", "--addr '[::1]:8080x' is not"),
    ] {
        let output = std::process::Command::new(crate::util::BIN)
            .args(["--addr", addr, "--db"])
            .arg(dir.path().join("x.db"))
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{addr}");
        assert!(stderr.contains(reason), "{addr}: {stderr}");
    }
}

#[test]
fn the_connection_cap_counts_an_ipv6_client_by_its_address() {
    if !has_ipv6_loopback("the_connection_cap_counts_an_ipv6_client") {
        return;
    }
    let server = start_on("[::1]:0", CAP_OF_THREE);
    // At the cap: three kept-alive connections from ::1 are all served.
    let held = held_connections(&server, 3);
    // One past it: closed at once, unanswered.
    assert!(refused_unanswered(connect(&server)));
    // A slot given back can be taken again.
    drop(held.into_iter().next());
    wait_for_a_freed_slot(&server);
}

#[test]
fn an_ipv6_proxy_forwards_for_ipv6_clients_counted_and_named_each() {
    if !has_ipv6_loopback("an_ipv6_proxy_forwards_for_ipv6_clients") {
        return;
    }
    let server = start_on(
        "[::1]:0",
        &[
            "--trust-proxy",
            "::1",
            "--max-connections-per-ip",
            "2",
            "--body-timeout",
            "120",
        ],
    );
    // Two requests for one client in flight: their bodies have not arrived.
    let mut in_flight = awaiting_bodies(&server, 2, "2001:db8::9");
    refused_for_the_cap(&server, "2001:db8::9", &mut in_flight);
    // Another IPv6 client, written as a proxy may (bracketed, with a port), is served.
    let (other, _) = exchange(&server, healthz_for("[2001:db8::10]:5555").as_bytes());
    assert_eq!(other.status, 200);
    drop(in_flight);
    // The forwarded IPv6 address is the client the auth log names.
    let user = server.user("Ada");
    let reply = server
        .request("POST", "/api/auth/login")
        .header("X-Forwarded-For", "2001:db8::77")
        .json(&json!({"email": user.email, "password": format!("{PASSWORD}!")}))
        .send();
    reply.assert_error(401, "invalid_credentials");
    assert!(
        server
            .wait_for_log("event=login_failure client=2001:db8::77 ")
            .is_some(),
        "{:?}",
        server.log()
    );
}
