//! The web client against an unreliable world, in real headless Chromium against the real
//! binary: a live stream that dies without closing (a phone that changed networks), more
//! conversations and emotes than one page of the API, a server upgraded under an open page,
//! and sends refused for a while. Where a test needs a timer of the page to wait, the page
//! holds it (see `HOLDS`) until the test lets it go, so no test races the clock.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use serde_json::Value;

use crate::heartbeats::served_version;
use crate::util::browser::{self, Name, Page};
use crate::util::client::{
    ada_with_bob_open, conversation_names, open, shown_texts, wait_for_text,
};
use crate::util::{BIN, PASSWORD, PNG, TestServer, upload};

/// Run in each document before the page's own scripts: (1) `__seen` counts stream events by
/// type; (2) with `__holdRetries` set, the stream's retry waits are held until
/// `__releaseRetries()` (`__heldRetries` counts them); (3) with `__holdFlush` set, the outbox's
/// retry wait is held (its length pushed to `__flushWaits`) until `__fireFlush()`; (4)
/// `__retryAfter` collects the `Retry-After` of every answer.
const HOLDS: &str = r#"
(() => {
  window.__seen = {};
  const listen = EventSource.prototype.addEventListener;
  EventSource.prototype.addEventListener = function (type, listener, options) {
    const counted = function (event) {
      window.__seen[type] = (window.__seen[type] ?? 0) + 1;
      return listener.call(this, event);
    };
    return listen.call(this, type, counted, options);
  };

  const realSetTimeout = window.setTimeout;
  const never = () => realSetTimeout.call(window, () => {}, 2147483647);
  const heldRetries = [];
  window.__heldRetries = 0;
  window.__flushWaits = [];
  window.__heldFlush = null;
  window.setTimeout = function (callback, delay, ...rest) {
    if (typeof callback === 'function' && window.__holdRetries && callback.name === 'open') {
      heldRetries.push(callback);
      window.__heldRetries += 1;
      return never();
    }
    if (typeof callback === 'function' && window.__holdFlush && callback.name === 'flush') {
      window.__flushWaits.push(delay);
      window.__heldFlush = callback;
      return never();
    }
    return realSetTimeout.call(this, callback, delay, ...rest);
  };
  window.__releaseRetries = () => { window.__holdRetries = false; heldRetries.splice(0).forEach((go) => go()); };
  window.__fireFlush = () => { const go = window.__heldFlush; window.__heldFlush = null; go(); };

  const realFetch = window.fetch;
  window.__retryAfter = [];
  window.fetch = function (input, init) {
    return realFetch.call(this, input, init).then((response) => {
      const after = response.headers.get('Retry-After');
      if (after !== null) window.__retryAfter.push(Number(after));
      return response;
    });
  };
})();
"#;

/// The connection line (the bar's `role="status"`).
fn connection(page: &Page) -> String {
    let text = page.eval("document.querySelector('.bar [role=status]').textContent");
    text.as_str().expect("text").to_owned()
}

/// A loopback relay in front of the server that can make the event streams passing through it
/// silently dead: their connections stay open, but nothing more gets through either way, as
/// when a phone changes networks under a half-open connection. Other requests pass.
struct Relay {
    base: String,
    streams: Arc<Mutex<Vec<Arc<AtomicBool>>>>,
}

impl Relay {
    fn start(server: &TestServer) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the relay");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let upstream = server.addr().to_owned();
        let streams = Arc::new(Mutex::new(Vec::new()));
        let registry = Arc::clone(&streams);
        // Lives as long as the test process: one blocked accept, nothing else when idle.
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let dead = Arc::new(AtomicBool::new(false));
                let (registry, up_dead) = (Arc::clone(&registry), Arc::clone(&dead));
                let (from_client, to_client) = (client.try_clone().expect("clone"), client);
                let (to_server, from_server) = (server.try_clone().expect("clone"), server);
                thread::spawn(move || pass(from_client, to_server, &up_dead, Some(&registry)));
                thread::spawn(move || pass(from_server, to_client, &dead, None));
            }
        });
        Relay { base, streams }
    }

    /// From now on the streams open now pass nothing, without closing.
    fn kill_streams_silently(&self) {
        for dead in self.streams.lock().expect("streams").iter() {
            dead.store(true, Ordering::SeqCst);
        }
    }
}

/// Copies `from` to `to` until either end closes, dropping what comes once `dead` is set. A
/// request for the event stream registers its connection's flag with `streams`.
fn pass(
    mut from: TcpStream,
    mut to: TcpStream,
    dead: &Arc<AtomicBool>,
    streams: Option<&Mutex<Vec<Arc<AtomicBool>>>>,
) {
    let mut buffer = [0_u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(streams) = streams
            && buffer[..n].starts_with(b"GET /api/events?")
        {
            streams.lock().expect("streams").push(Arc::clone(dead));
        }
        if dead.load(Ordering::SeqCst) {
            continue;
        }
        if to.write_all(&buffer[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

#[test]
fn a_stream_that_dies_without_closing_is_noticed_and_resumed_without_loss() {
    let Some(page) = browser::page_with(HOLDS) else {
        return;
    };
    let server = TestServer::start_with(&["--sse-ping-secs", "1"]);
    let (ada, bob, id) = server.ada_and_bob();
    server.say(&bob.token, id, "Before");
    let relay = Relay::start(&server);
    page.sign_in_at(&relay.base, &ada.email);
    open(&page, "Bob");
    wait_for_text(&page, "Before");
    page.wait_for_js("window.__seen.heartbeat >= 1");
    page.eval("window.__holdRetries = true");

    relay.kill_streams_silently();
    server.say(&bob.token, id, "During");
    page.wait_until("\"Reconnecting…\"", || {
        connection(&page) == "Reconnecting…"
    });
    page.wait_for_js("window.__heldRetries > 0");
    assert_eq!(
        shown_texts(&page),
        ["Before"],
        "nothing came through the dead stream"
    );

    page.eval("window.__releaseRetries()");
    wait_for_text(&page, "During");
    page.wait_until("the stream to open again", || connection(&page).is_empty());
    server.say(&bob.token, id, "After");
    wait_for_text(&page, "After");
    assert_eq!(shown_texts(&page), ["Before", "During", "After"]);
    page.assert_clean();
}

fn wait_for_listed(page: &Page, count: usize) {
    page.wait_until(&format!("{count} conversations listed"), || {
        conversation_names(page).len() == count
    });
}

#[test]
fn every_conversation_is_listed_past_one_page_of_100() {
    let Some(first) = browser::page() else {
        return;
    };
    let server = TestServer::start_with(&["--groups-per-user-per-day", "1000"]);
    let ada = server.user("Ada");
    let bob = server.user("Bob");
    let group = |n: usize| {
        server.group_titled(&ada.token, &[bob.id], &format!("Group {n:03}"));
    };
    (1..=100).for_each(group);
    first.sign_in(&server, &ada.email);
    wait_for_listed(&first, 100);
    first.assert_clean();

    group(101);
    let second = browser::page().expect("the browser is there");
    second.sign_in(&server, &ada.email);
    wait_for_listed(&second, 101);
    let mut names = conversation_names(&second);
    names.sort();
    let expected: Vec<String> = (1..=101).map(|n| format!("Group {n:03}")).collect();
    assert_eq!(names, expected);
    second.assert_clean();
}

/// The custom emotes the open conversation shows inline, by their `:name:`.
fn inline_emotes(page: &Page) -> Vec<String> {
    let alts = page.role("log", "Messages").call(
        "function() { return [...this.querySelectorAll('article .body img')].map((i) => i.alt); }",
    );
    serde_json::from_value(alts).expect("alts")
}

#[test]
fn every_emote_is_known_past_one_page_of_100() {
    let Some(page) = browser::page() else {
        return;
    };
    let server = TestServer::start();
    let (ada, bob, id) = server.ada_and_bob();
    // Ada's quota is 100: the list is one page, and the 100th emote is its last item.
    for n in 0..100 {
        let reply = upload(&server, &ada.token, &format!("e{n:03}"), PNG);
        assert_eq!(reply.status, 201, "{}", reply.body);
    }
    server.say(&bob.token, id, "The 100th :e099:");
    page.sign_in(&server, &ada.email);
    open(&page, "Bob");
    page.wait_until("the 100th emote inline", || {
        inline_emotes(&page) == [":e099:"]
    });

    let reply = upload(&server, &bob.token, "zz_last", PNG);
    assert_eq!(reply.status, 201, "{}", reply.body);
    server.say(&bob.token, id, "The 101st :zz_last:");
    page.wait_until("the 101st emote inline", || {
        inline_emotes(&page) == [":e099:", ":zz_last:"]
    });

    page.role("button", "Emotes").click();
    let dialog = page.role("dialog", "Emotes");
    page.wait_until("101 emotes in the panel", || {
        dialog.call("function() { return this.querySelectorAll('li').length; }") == 101
    });
    page.assert_clean();
}

/// A copy of the server's binary whose web client differs (one character of its page), as
/// an upgraded build's would: the server serves it under another version.
fn upgraded_binary(dir: &std::path::Path) -> PathBuf {
    let mut bytes = std::fs::read(BIN).expect("read the binary");
    let (old, new) = ("Loading EmoteChat…".as_bytes(), b"Loading EmoteChat...");
    assert_eq!(old.len(), new.len());
    let mut found = 0;
    let mut at = 0;
    while let Some(offset) = bytes[at..].windows(old.len()).position(|w| w == old) {
        let start = at + offset;
        bytes[start..start + old.len()].copy_from_slice(new);
        found += 1;
        at = start + old.len();
    }
    assert!(found > 0, "the page's text is in the binary");
    let path = dir.join("emotechat-upgraded");
    std::fs::copy(BIN, &path).expect("copy the binary");
    std::fs::write(&path, bytes).expect("write the upgrade");
    path
}

/// The version of the assets the page runs (none while a new page is loading).
fn page_version(page: &Page) -> String {
    let src = page.eval("document.querySelector('script[type=module]')?.src ?? '/assets//'");
    let src = src.as_str().expect("src");
    let start = src.find("/assets/").expect("asset path") + "/assets/".len();
    src[start..].split('/').next().expect("version").to_owned()
}

#[test]
fn a_page_open_across_an_upgrade_offers_a_reload_and_keeps_what_is_typed() {
    let Some(page) = browser::page_with(HOLDS) else {
        return;
    };
    let mut server = TestServer::start();
    let (ada, bob, id) = server.ada_and_bob();
    server.say(&bob.token, id, "Hello");
    page.sign_in(&server, &ada.email);
    open(&page, "Bob");
    wait_for_text(&page, "Hello");
    let before = served_version(&server);
    assert_eq!(page_version(&page), before);
    page.wait_for_js("window.__seen.heartbeat >= 1");
    page.role("textbox", "Message").fill("Half a thought");

    let build = tempfile::tempdir().expect("temp dir");
    server.start_again_as(&upgraded_binary(build.path()));
    let after = served_version(&server);
    assert_ne!(after, before, "the upgrade serves another version");
    let reload = page.role("button", "Reload to update");
    let draft = page
        .role("textbox", "Message")
        .call("function() { return this.value; }");
    assert_eq!(draft, "Half a thought", "the page did not reload by itself");

    reload.click();
    page.wait_until("the page to run the new version", || {
        page_version(&page) == after
    });
    page.role("button", "New conversation");
    page.wait_for_js("window.__seen.heartbeat >= 1");
    assert!(!page.has("button", Name::Exactly("Reload to update")));
    page.assert_clean();
}

#[test]
fn signing_in_on_a_page_whose_build_is_gone_offers_a_reload() {
    let Some(page) = browser::page_with(HOLDS) else {
        return;
    };
    let mut server = TestServer::start();
    let ada = server.user("Ada");
    page.goto(&format!("{}/", server.base));
    page.role("textbox", "Email");
    // The service worker has kept this build's files.
    page.eval("navigator.serviceWorker.ready.then(() => true)");
    let build = tempfile::tempdir().expect("temp dir");
    server.start_again_as(&upgraded_binary(build.path()));
    // Nor does the browser keep the old build any more (it evicted its caches, the worker's
    // and the HTTP cache): the signed-in app's module is nowhere to be had.
    page.eval(
        "caches.keys().then((names) => Promise.all(names.map((name) => caches.delete(name))))",
    );
    page.command("Network.enable", serde_json::json!({}));
    page.command("Network.clearBrowserCache", serde_json::json!({}));
    page.submit_sign_in_form(&ada.email, PASSWORD);
    let reload = page.role("button", "Reload to update");
    assert!(
        !page.has("button", Name::Exactly("New conversation")),
        "the signed-in app could not load"
    );
    reload.click();
    page.role("button", "New conversation");
    assert_eq!(page_version(&page), served_version(&server));
    page.assert_clean();
}

#[test]
fn a_rate_limited_send_waits_as_long_as_the_server_asks() {
    let Some(page) = browser::page_with(HOLDS) else {
        return;
    };
    let server = TestServer::start_with(&["--rate-limits", "on", "--sends-per-user", "1/60s"]);
    ada_with_bob_open(&server, &page);
    page.eval("window.__holdFlush = true");
    page.role("textbox", "Message").submit("One");
    wait_for_text(&page, "One");
    page.role("textbox", "Message").submit("Two");
    page.wait_for_js("window.__flushWaits.length === 1");
    let retry_after = page.eval("window.__retryAfter.at(-1)");
    let retry_after = retry_after.as_u64().expect("a Retry-After");
    assert!(retry_after > 5, "a wait the old fixed 5 s would cut short");
    assert_eq!(
        page.eval("window.__flushWaits[0]"),
        Value::from(retry_after * 1000)
    );
    page.assert_clean();
}

#[test]
fn sends_that_cannot_reach_the_server_back_off_with_jitter_up_to_a_minute() {
    let Some(page) = browser::page_with(HOLDS) else {
        return;
    };
    let mut server = TestServer::start();
    ada_with_bob_open(&server, &page);
    page.eval("window.__holdFlush = true");
    server.stop();
    page.role("textbox", "Message").submit("Kept for later");
    const TRIES: usize = 10;
    for tries in 1..TRIES {
        page.wait_for_js(&format!("window.__flushWaits.length === {tries}"));
        page.eval("window.__fireFlush()");
    }
    page.wait_for_js(&format!("window.__flushWaits.length === {TRIES}"));
    let waits: Vec<f64> = serde_json::from_value(page.eval("window.__flushWaits")).expect("waits");
    for (n, wait) in waits.iter().enumerate() {
        let delay = (1000.0 * 2_f64.powi(n as i32)).min(60_000.0);
        assert!(
            (250.0..=250.0 + delay).contains(wait),
            "wait {n} of {waits:?} within 250 ms + a random part of {delay} ms"
        );
    }
    assert!(
        waits[TRIES - 3..].iter().any(|w| *w > 2250.0),
        "the waits grow: {waits:?}"
    );

    server.start_again();
    page.eval("window.__fireFlush()");
    wait_for_text(&page, "Kept for later");
    page.wait_until("the message to be sent", || {
        !page
            .role("log", "Messages")
            .call("function() { return this.textContent; }")
            .as_str()
            .expect("text")
            .contains("Sending…")
    });
    assert_eq!(shown_texts(&page), ["Kept for later"]);
    page.assert_clean();
}
