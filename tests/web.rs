//! The web client as the server serves it: the page's security headers and caching at every
//! client route, immutable assets that revalidate by ETag, gzip where the client accepts it,
//! `HEAD`, and the first load's size budget.

use std::collections::BTreeSet;
use std::io::{BufReader, Read, Write};

use flate2::read::GzDecoder;

use crate::util::{Reply, TestServer, raw};

const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data: blob:; connect-src 'self'; manifest-src 'self'; worker-src 'self'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The first load's budget from the issue: bytes as served, and requests.
const BUDGET_BYTES: usize = 200 * 1024;
const BUDGET_REQUESTS: usize = 20;

fn page(server: &TestServer, path: &str) -> Reply {
    let reply = server.request("GET", path).send();
    assert_eq!(reply.status, 200, "{path}");
    reply
}

#[test]
fn the_page_has_a_strict_content_policy_and_is_revalidated_on_every_load() {
    let server = TestServer::start();
    let reply = page(&server, "/");
    assert_eq!(
        reply.header("Content-Type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(reply.header("Cache-Control"), Some("no-cache"));
    assert_eq!(reply.header("Content-Security-Policy"), Some(PAGE_POLICY));
    assert_eq!(reply.header("Referrer-Policy"), Some("no-referrer"));
    assert_eq!(reply.header("X-Content-Type-Options"), Some("nosniff"));
    let html = String::from_utf8(reply.bytes).expect("utf-8");
    assert!(html.contains("<script type=\"module\""), "{html}");
    assert!(
        !html.contains("<script>") && !html.contains(" style="),
        "nothing inline"
    );
}

#[test]
fn every_client_route_serves_the_same_page_and_the_api_keeps_json() {
    let server = TestServer::start();
    let home = page(&server, "/").bytes;
    for path in ["/reset-password?token=x", "/register", "/forgot-password"] {
        let reply = page(&server, path);
        assert_eq!(reply.bytes, home, "{path}");
        assert_eq!(reply.header("Content-Security-Policy"), Some(PAGE_POLICY));
    }
    let api = server.request("GET", "/api/nothing").send();
    api.assert_error(404, "not_found");
    assert_eq!(
        api.header("Content-Security-Policy"),
        Some("default-src 'none'; frame-ancestors 'none'")
    );
    assert_eq!(api.header("Cache-Control"), Some("no-store"));
}

#[test]
fn assets_are_immutable_and_a_warm_reload_gets_no_bodies() {
    let server = TestServer::start();
    let load = first_load(&server, None);
    assert!(load.len() >= 3, "{load:?}");
    for (path, _) in &load {
        let reply = page(&server, path);
        let expected = if path.starts_with("/assets/") {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        };
        assert_eq!(reply.header("Cache-Control"), Some(expected), "{path}");
        let etag = reply.header("ETag").expect("ETag");
        let warm = server
            .request("GET", path)
            .header("If-None-Match", etag)
            .send();
        assert_eq!(warm.status, 304, "{path}");
        assert!(warm.bytes.is_empty(), "{path}");
    }
}

#[test]
fn text_is_gzipped_only_for_clients_that_accept_it() {
    let server = TestServer::start();
    for (path, plain) in first_load(&server, None) {
        let packed = server
            .request("GET", &path)
            .header("Accept-Encoding", "gzip, deflate, br")
            .send();
        assert_eq!(packed.header("Vary"), Some("Accept-Encoding"), "{path}");
        let plain_reply = page(&server, &path);
        assert_eq!(plain_reply.header("Content-Encoding"), None, "{path}");
        assert_eq!(plain_reply.bytes, plain);
        if packed.header("Content-Encoding") == Some("gzip") {
            let mut unpacked = Vec::new();
            GzDecoder::new(&packed.bytes[..])
                .read_to_end(&mut unpacked)
                .expect("gunzip");
            assert_eq!(unpacked, plain, "{path}");
            assert!(packed.bytes.len() < plain.len(), "{path}");
        } else {
            assert!(path.ends_with(".svg"), "text is compressed: {path}");
        }
    }
    let refused = server
        .request("GET", "/")
        .header("Accept-Encoding", "gzip;q=0")
        .send();
    assert_eq!(refused.header("Content-Encoding"), None);
}

#[test]
fn head_answers_the_headers_without_a_body() {
    let server = TestServer::start();
    let stream = raw::connect(&server);
    (&stream)
        .write_all(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let mut reader = BufReader::new(stream);
    let head = raw::read_response(&mut reader, true);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("Content-Security-Policy"), Some(PAGE_POLICY));
    let length: usize = head
        .header("Content-Length")
        .expect("length")
        .parse()
        .expect("number");
    assert_eq!(length, page(&server, "/").bytes.len());
    // Had a body followed, this would read its bytes instead of the next answer.
    (reader.get_ref()).write_all(raw::HEALTHZ).expect("write");
    assert_eq!(raw::read_response(&mut reader, false).status, 200);
}

#[test]
fn the_service_worker_is_served_from_the_root_and_revalidated() {
    let server = TestServer::start();
    let reply = page(&server, "/sw.js");
    assert_eq!(
        reply.header("Content-Type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(reply.header("Cache-Control"), Some("no-cache"));
    assert_eq!(reply.header("Content-Security-Policy"), Some(PAGE_POLICY));
    let worker = String::from_utf8(reply.bytes.clone()).expect("utf-8");
    for (path, _) in first_load(&server, None) {
        if path.starts_with("/assets/") {
            assert!(worker.contains(&format!("\"{path}\"")), "keeps {path}");
        }
    }
    let etag = reply.header("ETag").expect("ETag");
    let warm = server
        .request("GET", "/sw.js")
        .header("If-None-Match", etag)
        .send();
    assert_eq!(warm.status, 304);
}

#[test]
fn another_builds_assets_and_unknown_files_are_json_404s() {
    let server = TestServer::start();
    let assets = first_load(&server, None);
    let app = &assets[1].0;
    let version = app.split('/').nth(2).expect("version");
    for path in [
        format!("/assets/{version}/nothing.js"),
        format!("/assets/{version}/../index.html"),
        "/assets/0123456789abcdef/app.js".to_owned(),
        format!("/assets/{version}"),
    ] {
        server
            .request("GET", &path)
            .send()
            .assert_error(404, "not_found");
    }
}

#[test]
fn the_first_load_fits_in_200_kb_and_20_requests() {
    let server = TestServer::start();
    for encoding in [None, Some("gzip")] {
        let load = first_load(&server, encoding);
        let bytes: usize = load.iter().map(|(_, body)| body.len()).sum();
        eprintln!(
            "first load ({}): {} requests, {bytes} bytes",
            encoding.unwrap_or("identity"),
            load.len()
        );
        assert!(bytes <= BUDGET_BYTES, "{bytes} bytes");
        assert!(load.len() <= BUDGET_REQUESTS, "{} requests", load.len());
    }
}

/// Every file of a first load, in the order found, as served with `encoding` accepted: the
/// page, every asset it names, and every file a script or stylesheet names in turn
/// (`./name.ext`, static and dynamic imports alike, and the service worker it registers).
fn first_load(server: &TestServer, encoding: Option<&str>) -> Vec<(String, Vec<u8>)> {
    let fetch = |path: &str| {
        let mut call = server.request("GET", path);
        if let Some(encoding) = encoding {
            call = call.header("Accept-Encoding", encoding);
        }
        let reply = call.send();
        assert_eq!(reply.status, 200, "{path}");
        reply.bytes
    };
    let html = fetch("/");
    let mut pending: Vec<String> = quoted_after(&plain(server, "/"), &["src=\"", "href=\""])
        .into_iter()
        .filter(|path| path.starts_with("/assets/"))
        .collect();
    let mut load = vec![("/".to_owned(), html)];
    let mut seen = BTreeSet::new();
    while let Some(path) = pending.pop() {
        if !seen.insert(path.clone()) {
            continue;
        }
        let dir = &path[..=path.rfind('/').expect("a slash")];
        let text = plain(server, &path);
        for relative in quoted_after(&text, &["'./", "\"./"]) {
            pending.push(format!("{dir}{relative}"));
        }
        pending.extend(quoted_after(&text, &["register('"]));
        load.push((path.clone(), fetch(&path)));
    }
    load
}

/// A file's bytes as text, asked for without compression.
fn plain(server: &TestServer, path: &str) -> String {
    String::from_utf8_lossy(&server.request("GET", path).send().bytes).into_owned()
}

/// What follows each `prefix` in `text` up to the closing quote.
fn quoted_after(text: &str, prefixes: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for prefix in prefixes {
        let quote = if prefix.contains('\'') { '\'' } else { '"' };
        for piece in text.split(prefix).skip(1) {
            if let Some(end) = piece.find(quote) {
                found.push(piece[..end].to_owned());
            }
        }
    }
    found
}

#[test]
fn the_client_never_turns_text_into_html_or_code() {
    let server = TestServer::start();
    let scripts: Vec<(String, Vec<u8>)> = first_load(&server, None)
        .into_iter()
        .filter(|(path, _)| path.ends_with(".js"))
        .collect();
    assert!(scripts.len() >= 4, "{scripts:?}");
    for (path, bytes) in scripts {
        let source = String::from_utf8(bytes).expect("utf-8");
        for sink in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "new Function",
            "DOMParser",
        ] {
            assert!(!source.contains(sink), "{path} uses {sink}");
        }
    }
}

/// A PNG's width and height, from its header.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let number = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    (number(16), number(20))
}

#[test]
fn the_manifest_names_png_icons_of_192_and_512_pixels_and_a_maskable_one() {
    let server = TestServer::start();
    let manifest = quoted_after(&plain(&server, "/"), &["href=\""])
        .into_iter()
        .find(|path| path.ends_with("manifest.webmanifest"))
        .expect("the page links its manifest");
    let dir = &manifest[..=manifest.rfind('/').expect("a slash")];
    let manifest: serde_json::Value =
        serde_json::from_str(&plain(&server, &manifest)).expect("manifest json");
    let mut pngs = BTreeSet::new();
    for icon in manifest["icons"].as_array().expect("icons") {
        let src = icon["src"].as_str().expect("src");
        let reply = page(&server, &format!("{dir}{src}"));
        assert_eq!(reply.header("Content-Type"), icon["type"].as_str(), "{src}");
        if icon["type"] == "image/png" {
            let (width, height) = png_size(&reply.bytes);
            assert_eq!(icon["sizes"], format!("{width}x{height}"), "{src}");
            pngs.insert((width, icon["purpose"].as_str().expect("purpose").to_owned()));
        }
    }
    for wanted in [(192, "any"), (512, "any"), (512, "maskable")] {
        assert!(
            pngs.contains(&(wanted.0, wanted.1.to_owned())),
            "no {wanted:?} PNG in {pngs:?}"
        );
    }
}
