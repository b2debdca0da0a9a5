//! A real headless Chromium for the browser tests, driven over the DevTools protocol (CDP) on
//! the `tungstenite` WebSocket the server already depends on: no async runtime, no new crate,
//! nothing downloaded at build time.
//!
//! One browser serves every test: it starts on first use and lives as long as the test
//! process (a shell guard kills it and removes its profile when our end of its stdin closes,
//! which the OS does when the test process exits however it exits). Each `Page` is a tab in
//! its own incognito browser context, so two pages are two people with separate storage.
//!
//! Controls are found the way a screen reader meets them: by role and accessible name as
//! Chromium itself computes them (`Accessibility.getFullAXTree`), names matched
//! case-insensitively and in full, as the client's contract says. Actions are real input
//! events (mouse clicks at the control's centre, inserted text, key presses).
//!
//! Every page records console errors, uncaught exceptions, `securitypolicyviolation` events
//! and JavaScript dialogs (which are dismissed so the page never hangs); `assert_clean` fails
//! the test on any of them.
//!
//! Without Chromium the tests fail when `CI=true` and are otherwise skipped with a loud note
//! saying how to install it.

use std::cell::Cell;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once, OnceLock, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

use super::{PASSWORD, TestServer};

/// How long any wait for the page (a control, a condition, a reply) may take before the test
/// fails: generous, because a wait ends as soon as its condition holds.
pub const WAIT: Duration = Duration::from_secs(10);

/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(25);

/// Where Debian's `apt-get install chromium` puts the browser, then the usual names on PATH.
const CANDIDATES: &[&str] = &[
    "/usr/bin/chromium",
    "chromium",
    "chromium-browser",
    "google-chrome",
];

/// Flags for a quiet, isolated browser. As root Chromium needs `--no-sandbox`; without the
/// background-networking flags it keeps trying to reach Google's services.
const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
];

/// Starts the browser as a child of a shell that kills it and removes its fresh profile as
/// soon as its stdin (held open by this process until it exits) reaches end of file.
const GUARD: &str = r#"profile=$(mktemp -d)
"$0" "$@" --user-data-dir="$profile" </dev/null &
browser=$!
read -r _
kill "$browser"
wait "$browser"
rm -rf "$profile""#;

/// Installed in every document before its own scripts: reports CSP violations to the test.
const WATCH_CSP: &str = r#"document.addEventListener('securitypolicyviolation', (e) => {
  window.__emotechatReport(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI} at ${e.sourceFile}:${e.lineNumber}`);
}, true);"#;

/// Bits of `Input.dispatchKeyEvent`'s `modifiers`.
const SHIFT: u8 = 8;

/// Run on the focused element: its tag, whether a person can see it (it has a size, is not
/// hidden by style, and is the element on top at its centre or inside what is), and its focus
/// ring as computed (an outline or a box shadow), empty if there is none.
const FOCUS_SEEN: &str = r#"function() {
  const r = this.getBoundingClientRect();
  const style = getComputedStyle(this);
  const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
  const visible = r.width > 1 && r.height > 1 && style.visibility !== 'hidden'
    && this.checkVisibility({opacityProperty: true}) && !!hit
    && (hit === this || this.contains(hit) || hit.contains(this));
  const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0
    ? `outline ${style.outlineWidth} ${style.outlineStyle} ${style.outlineColor}` : '';
  const shadow = style.boxShadow !== 'none' ? `box-shadow ${style.boxShadow}` : '';
  return {tag: this.tagName.toLowerCase(), visible, ring: outline || shadow,
    html: this.outerHTML.slice(0, 200)};
}"#;

/// What has the keyboard focus (see `Page::focused`).
#[derive(Debug)]
pub struct Focused {
    pub role: String,
    pub name: String,
    pub tag: String,
    /// Whether it has a size, is shown, and is not covered.
    pub visible: bool,
    /// Its computed focus ring ("outline 3px solid …"), empty when it has none.
    pub ring: String,
    /// The start of its markup, to explain a failure.
    pub html: String,
}

struct Browser {
    cdp: Arc<Cdp>,
    // Holds the guard's stdin open. A static is never dropped: the OS closes the pipe when the
    // test process exits, and the guard then ends the browser.
    _guard: Child,
}

/// A new tab in a new incognito context, or `None` when there is no browser and this is not
/// CI (the skip has then been announced).
pub fn page() -> Option<Page> {
    browser().map(|browser| Page::open(&browser.cdp, true))
}

/// `N` new tabs, each in its own incognito context (`N` people), or `None` as for `page`.
pub fn pages<const N: usize>() -> Option<[Page; N]> {
    browser().map(|browser| std::array::from_fn(|_| Page::open(&browser.cdp, true)))
}

/// A new tab (as `page`) that runs `script` in every document before the page's own scripts,
/// to watch or hold back what the client does.
pub fn page_with(script: &str) -> Option<Page> {
    let page = page()?;
    page.before_each_document(script);
    Some(page)
}

/// A new tab in the browser's own profile rather than an incognito context: what Chromium
/// requires before it calls an app installable. Its storage outlives the tab, so use it only
/// for a server (origin) no other page uses.
pub fn profile_page() -> Option<Page> {
    browser().map(|browser| Page::open(&browser.cdp, false))
}

fn browser() -> Option<&'static Browser> {
    static BROWSER: OnceLock<Result<Browser, String>> = OnceLock::new();
    match BROWSER.get_or_init(launch) {
        Ok(browser) => Some(browser),
        Err(why) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("browser tests need Chromium in CI: {why}")
        }
        Err(why) => {
            announce_skip(why);
            None
        }
    }
}

fn announce_skip(why: &str) {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Straight to the stream, not through `eprintln!`, which the test runner captures.
        let _ = writeln!(
            std::io::stderr().lock(),
            "\n\n*** BROWSER TESTS SKIPPED: {why}\n*** Install Chromium to run them: \
             sudo apt-get install --no-install-recommends chromium\n\
             *** (CI=true makes this a failure.)\n"
        );
    });
}

/// The browser named by `CHROMIUM` if set (a path or a name on PATH), else the first of
/// `CANDIDATES` that runs.
fn find_chromium() -> Option<String> {
    let chosen = std::env::var("CHROMIUM").ok();
    let candidates: Vec<&str> = match &chosen {
        Some(name) => vec![name.as_str()],
        None => CANDIDATES.to_vec(),
    };
    candidates
        .into_iter()
        .find(|name| {
            Command::new(name)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .map(str::to_owned)
}

fn launch() -> Result<Browser, String> {
    let chromium =
        find_chromium().ok_or("no Chromium found ($CHROMIUM, /usr/bin/chromium or on PATH)")?;
    let mut guard = Command::new("sh")
        .arg("-c")
        .arg(GUARD)
        .arg(&chromium)
        .args(FLAGS)
        .arg("about:blank")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {chromium}: {e}"))?;
    let stderr = guard.stderr.take().expect("stderr");
    let (found, endpoint) = mpsc::channel();
    // Keeps draining the browser's chatter so that it never blocks on a full pipe.
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(url) = line.strip_prefix("DevTools listening on ") {
                let _ = found.send(url.trim().to_owned());
            }
        }
    });
    let url = endpoint
        .recv_timeout(Duration::from_secs(30))
        .map_err(|_| format!("{chromium} did not open its DevTools endpoint"))?;
    Ok(Browser {
        cdp: Cdp::connect(&url)?,
        _guard: guard,
    })
}

/// One WebSocket to the browser, shared by every page: commands go out through a channel to
/// the thread that owns the socket, replies come back by id and events are kept per session.
struct Cdp {
    outgoing: Mutex<mpsc::Sender<String>>,
    next_id: AtomicU64,
    replies: Mutex<HashMap<u64, mpsc::Sender<Value>>>,
    events: Mutex<HashMap<String, Vec<Value>>>,
}

impl Cdp {
    fn connect(url: &str) -> Result<Arc<Cdp>, String> {
        let addr = url
            .trim_start_matches("ws://")
            .split('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        let stream = TcpStream::connect(&addr).map_err(|e| format!("connect {addr}: {e}"))?;
        let (socket, _) =
            tungstenite::client(url, stream).map_err(|e| format!("DevTools handshake: {e}"))?;
        // A short read timeout lets the one socket thread interleave reading and writing.
        socket
            .get_ref()
            .set_read_timeout(Some(Duration::from_millis(5)))
            .map_err(|e| e.to_string())?;
        let (outgoing, commands) = mpsc::channel();
        let cdp = Arc::new(Cdp {
            outgoing: Mutex::new(outgoing),
            next_id: AtomicU64::new(1),
            replies: Mutex::new(HashMap::new()),
            events: Mutex::new(HashMap::new()),
        });
        let shared = Arc::clone(&cdp);
        thread::spawn(move || shared.pump(socket, &commands));
        Ok(cdp)
    }

    fn pump(&self, mut socket: WebSocket<TcpStream>, commands: &mpsc::Receiver<String>) {
        loop {
            for command in commands.try_iter() {
                if socket.send(Message::text(command)).is_err() {
                    return;
                }
            }
            match socket.read() {
                Ok(Message::Text(text)) => {
                    if let Ok(message) = serde_json::from_str::<Value>(&text) {
                        self.deliver(message);
                    }
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return,
            }
        }
    }

    fn deliver(&self, message: Value) {
        if let Some(id) = message["id"].as_u64() {
            if let Some(reply) = self.replies.lock().expect("replies").remove(&id) {
                let _ = reply.send(message);
            }
            return;
        }
        let Some(session) = message["sessionId"].as_str() else {
            return;
        };
        if message["method"] == "Page.javascriptDialogOpening" {
            // An open alert would block the page; dismiss it and keep it as an error.
            self.send(
                Some(session),
                "Page.handleJavaScriptDialog",
                json!({"accept": true}),
                None,
            );
        }
        self.events
            .lock()
            .expect("events")
            .entry(session.to_owned())
            .or_default()
            .push(message);
    }

    /// Sends a command; its answer goes to `reply`, if given.
    fn send(
        &self,
        session: Option<&str>,
        method: &str,
        params: Value,
        reply: Option<mpsc::Sender<Value>>,
    ) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        if let Some(reply) = reply {
            self.replies.lock().expect("replies").insert(id, reply);
        }
        let mut command = json!({"id": id, "method": method, "params": params});
        if let Some(session) = session {
            command["sessionId"] = json!(session);
        }
        let _ = self
            .outgoing
            .lock()
            .expect("outgoing")
            .send(command.to_string());
    }

    /// Sends a command and waits for its result.
    fn call(&self, session: Option<&str>, method: &str, params: Value) -> Result<Value, String> {
        let (reply, answer) = mpsc::channel();
        self.send(session, method, params, Some(reply));
        let message = answer
            .recv_timeout(Duration::from_secs(30))
            .map_err(|_| format!("{method}: no answer from the browser"))?;
        match message.get("error") {
            Some(error) => Err(format!("{method}: {error}")),
            None => Ok(message["result"].clone()),
        }
    }

    fn events_of(&self, session: &str) -> Vec<Value> {
        self.events
            .lock()
            .expect("events")
            .get(session)
            .cloned()
            .unwrap_or_default()
    }
}

/// How a control's accessible name is matched (always case-insensitively).
#[derive(Clone, Copy, Debug)]
pub enum Name<'a> {
    Exactly(&'a str),
    StartsWith(&'a str),
    Any,
}

impl Name<'_> {
    fn matches(&self, name: &str) -> bool {
        let name = name.trim().to_lowercase();
        match self {
            Name::Exactly(want) => name == want.to_lowercase(),
            Name::StartsWith(prefix) => name.starts_with(&prefix.to_lowercase()),
            Name::Any => true,
        }
    }
}

/// Roles of the controls a label names (a password field is a `textbox` to Chromium).
const FIELDS: &[&str] = &["textbox", "searchbox", "combobox", "spinbutton"];

/// A tab in its own incognito context (or the browser's profile); dropping it closes the tab
/// and throws its incognito context away.
pub struct Page {
    cdp: Arc<Cdp>,
    target: String,
    /// The incognito context; `None` for the browser's own profile.
    context: Option<String>,
    session: String,
    /// The emulated screen's width in CSS pixels.
    width: Cell<u32>,
}

impl Page {
    /// Opens the server's `/` and submits the sign-in form.
    pub fn submit_sign_in(&self, server: &TestServer, email: &str, password: &str) {
        self.submit_sign_in_at(&server.base, email, password);
    }

    /// Opens `base`'s `/` (the server, or a relay in front of it) and submits the sign-in form.
    fn submit_sign_in_at(&self, base: &str, email: &str, password: &str) {
        self.goto(&format!("{base}/"));
        self.submit_sign_in_form(email, password);
    }

    /// Fills in and submits the sign-in form the page shows now.
    pub fn submit_sign_in_form(&self, email: &str, password: &str) {
        self.role("textbox", "Email").fill(email);
        self.field("Password").fill(password);
        self.role("button", "Sign in").click();
    }

    /// Signs in through the form with the test password, and waits until signed in (where
    /// "New conversation" is offered).
    pub fn sign_in(&self, server: &TestServer, email: &str) {
        self.sign_in_at(&server.base, email);
    }

    /// Signs in as `sign_in` does, through the form of the page at `base` (the server, or a
    /// relay in front of it).
    pub fn sign_in_at(&self, base: &str, email: &str) {
        self.submit_sign_in_at(base, email, PASSWORD);
        self.role("button", "New conversation");
    }

    fn open(cdp: &Arc<Cdp>, incognito: bool) -> Page {
        let context = incognito.then(|| {
            cdp.call(None, "Target.createBrowserContext", json!({}))
                .expect("new context")["browserContextId"]
                .as_str()
                .expect("context id")
                .to_owned()
        });
        let target = cdp
            .call(
                None,
                "Target.createTarget",
                with_context(json!({"url": "about:blank"}), context.as_deref()),
            )
            .expect("new tab")["targetId"]
            .as_str()
            .expect("target id")
            .to_owned();
        let session = cdp
            .call(
                None,
                "Target.attachToTarget",
                json!({"targetId": target, "flatten": true}),
            )
            .expect("attach")["sessionId"]
            .as_str()
            .expect("session id")
            .to_owned();
        let page = Page {
            cdp: Arc::clone(cdp),
            target,
            context,
            session,
            width: Cell::new(0),
        };
        for domain in ["Page.enable", "Runtime.enable", "Log.enable"] {
            page.command(domain, json!({}));
        }
        page.command("Runtime.addBinding", json!({"name": "__emotechatReport"}));
        page.command(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({"source": WATCH_CSP}),
        );
        page.viewport(1280, 800, false);
        page
    }

    /// Opens another tab of the same person (browser context) in front of this one, so that
    /// this one is hidden as a background tab is (`document.visibilityState` is "hidden");
    /// closing the returned tab brings this one to the front again.
    pub fn cover(&self) -> Cover<'_> {
        let target = self
            .cdp
            .call(
                None,
                "Target.createTarget",
                with_context(json!({"url": "about:blank"}), self.context.as_deref()),
            )
            .expect("new tab")["targetId"]
            .as_str()
            .expect("target id")
            .to_owned();
        self.cdp
            .call(None, "Target.activateTarget", json!({"targetId": target}))
            .expect("activate");
        Cover { page: self, target }
    }

    /// A DevTools command on this tab; its result, or the test fails.
    pub fn command(&self, method: &str, params: Value) -> Value {
        self.cdp
            .call(Some(&self.session), method, params)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Opens `url` and waits for its load event.
    pub fn goto(&self, url: &str) {
        let seen = self.cdp.events_of(&self.session).len();
        let reply = self.command("Page.navigate", json!({"url": url}));
        assert!(
            reply.get("errorText").is_none(),
            "navigate {url}: {}",
            reply["errorText"]
        );
        self.wait_until(&format!("{url} to load"), || {
            self.cdp.events_of(&self.session)[seen..]
                .iter()
                .any(|e| e["method"] == "Page.loadEventFired")
        });
    }

    /// Reloads the page and waits for its load event.
    pub fn reload(&self) {
        let seen = self.cdp.events_of(&self.session).len();
        self.command("Page.reload", json!({}));
        self.wait_until("the page to load again", || {
            self.cdp.events_of(&self.session)[seen..]
                .iter()
                .any(|e| e["method"] == "Page.loadEventFired")
        });
    }

    /// Runs `source` in every document this tab opens from now on, before the page's own
    /// scripts.
    pub fn before_each_document(&self, source: &str) {
        self.command(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({"source": source}),
        );
    }

    /// Grants this person (browser context) `permissions` on `origin`, as they would by
    /// answering the browser's prompt.
    pub fn grant(&self, origin: &str, permissions: &[&str]) {
        self.cdp
            .call(
                None,
                "Browser.grantPermissions",
                with_context(
                    json!({"origin": origin, "permissions": permissions}),
                    self.context.as_deref(),
                ),
            )
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// Waits up to `WAIT` for `condition`, polling; fails the test naming `what` otherwise.
    pub fn wait_until(&self, what: &str, mut condition: impl FnMut() -> bool) {
        let deadline = Instant::now() + WAIT;
        while !condition() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            thread::sleep(POLL);
        }
    }

    /// Evaluates a JavaScript expression (awaiting a promise) and returns its value.
    pub fn eval(&self, expression: &str) -> Value {
        let reply = self.command(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        );
        assert!(
            reply.get("exceptionDetails").is_none(),
            "{expression}: {}",
            reply["exceptionDetails"]
        );
        reply["result"]["value"].clone()
    }

    /// Waits until a JavaScript expression is truthy.
    pub fn wait_for_js(&self, expression: &str) {
        let truthy = format!("!!({expression})");
        self.wait_until(expression, || self.eval(&truthy) == true);
    }

    /// Every control of the page's accessibility tree (see `controls_of`).
    fn controls(&self) -> Vec<Control> {
        let tree = self.command("Accessibility.getFullAXTree", json!({}));
        controls_of(&tree)
    }

    /// The controls with one of `roles` and a matching name.
    fn matching(&self, roles: &[&str], name: Name) -> Vec<Control> {
        self.controls()
            .into_iter()
            .filter(|c| {
                roles.iter().any(|r| r.eq_ignore_ascii_case(&c.role)) && name.matches(&c.name)
            })
            .collect()
    }

    /// Whether a control with this role and name is on the page now.
    pub fn has(&self, role: &str, name: Name) -> bool {
        !self.matching(&[role], name).is_empty()
    }

    /// Waits for the one control with one of `roles` and this name.
    pub fn find<'a>(&'a self, roles: &[&'a str], name: Name<'a>) -> Element<'a> {
        Element {
            page: self,
            roles: roles.to_vec(),
            name,
            dom: Cell::new(self.find_node(roles, name)),
        }
    }

    /// The DOM node of the one control with one of `roles` and this name, once there is one.
    fn find_node(&self, roles: &[&str], name: Name) -> i64 {
        let deadline = Instant::now() + WAIT;
        loop {
            let found = self.matching(roles, name);
            if let [control] = found.as_slice() {
                return control.dom;
            }
            assert!(
                Instant::now() < deadline,
                "expected one {roles:?} named {name:?}, found [{}]; the page has: {}",
                found
                    .iter()
                    .map(|c| format!("{} {:?}", c.role, c.name))
                    .collect::<Vec<_>>()
                    .join(", "),
                self.outline()
            );
            thread::sleep(POLL);
        }
    }

    /// The one control with this role and exactly this name (case-insensitive).
    pub fn role<'a>(&'a self, role: &'a str, name: &'a str) -> Element<'a> {
        self.find(&[role], Name::Exactly(name))
    }

    /// The one form field whose label (accessible name) is exactly `label`.
    pub fn field<'a>(&'a self, label: &'a str) -> Element<'a> {
        self.find(FIELDS, Name::Exactly(label))
    }

    /// Roles and names of every named control, to explain a failed lookup.
    pub fn outline(&self) -> String {
        self.controls()
            .iter()
            .filter(|c| c.role != "InlineTextBox" && !c.name.is_empty())
            .map(|c| format!("{} {:?}", c.role, c.name))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Presses and releases a key on whatever has focus: `Enter`, `Escape`, `Tab`, `Space`
    /// or an arrow (`ArrowUp`, `ArrowDown`, `ArrowLeft`, `ArrowRight`).
    pub fn press(&self, key: &str) {
        self.key_stroke(key, 0);
    }

    /// Types `text` where the focus is, as a keyboard (or an input method) does.
    pub fn type_text(&self, text: &str) {
        self.command("Input.insertText", json!({"text": text}));
    }

    /// Presses a key with Shift held down (`Shift+Tab` goes backwards, `Shift+Enter` makes a
    /// new line in a text area).
    pub fn press_shift(&self, key: &str) {
        self.key_stroke(key, SHIFT);
    }

    fn key_stroke(&self, key: &str, modifiers: u8) {
        let (name, code, keycode, text) = match key {
            "Enter" => ("Enter", "Enter", 13, "\r"),
            "Escape" => ("Escape", "Escape", 27, ""),
            "Tab" => ("Tab", "Tab", 9, ""),
            "Space" => (" ", "Space", 32, " "),
            "ArrowLeft" => ("ArrowLeft", "ArrowLeft", 37, ""),
            "ArrowUp" => ("ArrowUp", "ArrowUp", 38, ""),
            "ArrowRight" => ("ArrowRight", "ArrowRight", 39, ""),
            "ArrowDown" => ("ArrowDown", "ArrowDown", 40, ""),
            other => panic!("no key code for {other}"),
        };
        let mut down = json!({"type": "keyDown", "key": name, "code": code,
            "modifiers": modifiers, "windowsVirtualKeyCode": keycode,
            "nativeVirtualKeyCode": keycode});
        if !text.is_empty() {
            down["text"] = json!(text);
            down["unmodifiedText"] = json!(text);
        }
        self.command("Input.dispatchKeyEvent", down);
        self.command(
            "Input.dispatchKeyEvent",
            json!({"type": "keyUp", "key": name, "code": code, "modifiers": modifiers,
                "windowsVirtualKeyCode": keycode, "nativeVirtualKeyCode": keycode}),
        );
    }

    /// What has the keyboard focus, as a screen reader announces it (Chromium's own role and
    /// accessible name), with what a sighted person sees of it.
    pub fn focused(&self) -> Focused {
        let reply = self.command(
            "Runtime.evaluate",
            json!({"expression": "document.activeElement"}),
        );
        let object = reply["result"]["objectId"].clone();
        let tree = self.command(
            "Accessibility.getPartialAXTree",
            json!({"objectId": object, "fetchRelatives": false}),
        );
        let node = &tree["nodes"][0];
        let seen = self.command(
            "Runtime.callFunctionOn",
            json!({"objectId": object, "returnByValue": true,
                "functionDeclaration": FOCUS_SEEN}),
        )["result"]["value"]
            .clone();
        Focused {
            role: node["role"]["value"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            name: node["name"]["value"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            tag: seen["tag"].as_str().unwrap_or_default().to_owned(),
            visible: seen["visible"] == true,
            ring: seen["ring"].as_str().unwrap_or_default().to_owned(),
            html: seen["html"].as_str().unwrap_or_default().to_owned(),
        }
    }

    /// Emulates a screen of `width`×`height` CSS pixels, as a phone (touch, 2× pixels) or not.
    pub fn viewport(&self, width: u32, height: u32, phone: bool) {
        self.width.set(width);
        self.command(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "mobile": phone,
                "deviceScaleFactor": if phone { 2 } else { 1 }}),
        );
    }

    /// Makes the browser send (and report) `agent` as its `User-Agent` from now on.
    pub fn user_agent(&self, agent: &str) {
        self.command(
            "Emulation.setUserAgentOverride",
            json!({"userAgent": agent}),
        );
    }

    /// Makes `prefers-color-scheme` answer `light` or `dark`.
    pub fn color_scheme(&self, scheme: &str) {
        self.command(
            "Emulation.setEmulatedMedia",
            json!({"features": [{"name": "prefers-color-scheme", "value": scheme}]}),
        );
    }

    /// Fails unless the page fits the emulated screen's width: nothing scrolls sideways, and
    /// the browser did not zoom out to fit wider content (as a phone's browser does).
    pub fn assert_no_sideways_scroll(&self) {
        let sizes = self.eval(
            "({scroll: document.documentElement.scrollWidth,
               client: document.documentElement.clientWidth,
               inner: window.innerWidth})",
        );
        let width = i64::from(self.width.get());
        assert!(
            sizes["scroll"].as_i64() <= sizes["client"].as_i64()
                && sizes["inner"].as_i64() == Some(width),
            "the page is wider than the {width} px screen: {sizes}"
        );
    }

    /// Saves a PNG of the viewport as `target/screenshots/NAME.png`; its path.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        let shot = self.command("Page.captureScreenshot", json!({"format": "png"}));
        let png = STANDARD
            .decode(shot["data"].as_str().expect("screenshot data"))
            .expect("base64 png");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    /// The requests the browser logged as failed so far (`problems` leaves them out): refused
    /// connections, and answers with an error status.
    pub fn failed_requests(&self) -> Vec<String> {
        self.cdp
            .events_of(&self.session)
            .iter()
            .filter(|e| e["method"] == "Log.entryAdded")
            .map(|e| &e["params"]["entry"])
            .filter(|entry| entry["level"] == "error" && entry["source"] == "network")
            .map(|entry| format!("{} {}", entry["text"], entry["url"]))
            .collect()
    }

    /// Console errors, uncaught exceptions, CSP violations and dialogs seen so far.
    pub fn problems(&self) -> Vec<String> {
        self.cdp
            .events_of(&self.session)
            .iter()
            .filter_map(problem)
            .collect()
    }

    /// Fails the test if the page has logged any problem.
    pub fn assert_clean(&self) {
        let problems = self.problems();
        assert!(problems.is_empty(), "the page had problems: {problems:#?}");
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        let _ = match &self.context {
            Some(context) => self.cdp.call(
                None,
                "Target.disposeBrowserContext",
                json!({"browserContextId": context}),
            ),
            None => self
                .cdp
                .call(None, "Target.closeTarget", json!({"targetId": self.target})),
        };
        self.cdp
            .events
            .lock()
            .expect("events")
            .remove(&self.session);
    }
}

/// What a recorded event says went wrong, if anything. Failed requests (such as the 401 of a
/// wrong password) are the API working, not problems, so network log entries are left out.
fn problem(event: &Value) -> Option<String> {
    let params = &event["params"];
    match event["method"].as_str()? {
        "Runtime.consoleAPICalled" if params["type"] == "error" => {
            let args: Vec<String> = params["args"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| {
                    a["value"]
                        .as_str()
                        .map_or_else(|| a.to_string(), str::to_owned)
                })
                .collect();
            Some(format!("console.error: {}", args.join(" ")))
        }
        "Runtime.exceptionThrown" => Some(format!(
            "uncaught: {}",
            params["exceptionDetails"]["exception"]["description"]
                .as_str()
                .unwrap_or_else(|| params["exceptionDetails"]["text"].as_str().unwrap_or("?"))
        )),
        "Runtime.bindingCalled" if params["name"] == "__emotechatReport" => {
            Some(params["payload"].as_str()?.to_owned())
        }
        "Log.entryAdded"
            if params["entry"]["level"] == "error" && params["entry"]["source"] != "network" =>
        {
            Some(format!("log: {}", params["entry"]["text"]))
        }
        "Page.javascriptDialogOpening" => {
            Some(format!("{} dialog: {}", params["type"], params["message"]))
        }
        _ => None,
    }
}

/// `target/screenshots`, beside the tests' own `target/tmp`.
pub fn screenshot_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .join("screenshots")
}

/// `params` naming the incognito `context`, if any (none means the browser's own profile).
fn with_context(mut params: Value, context: Option<&str>) -> Value {
    if let Some(context) = context {
        params["browserContextId"] = json!(context);
    }
    params
}

/// Another tab in front of a page (see `Page::cover`); dropping it closes it.
pub struct Cover<'a> {
    page: &'a Page,
    target: String,
}

impl Drop for Cover<'_> {
    fn drop(&mut self) {
        let _ = self
            .page
            .cdp
            .call(None, "Target.closeTarget", json!({"targetId": self.target}));
    }
}

#[derive(Debug)]
struct Control {
    role: String,
    name: String,
    dom: i64,
}

/// A control found on a page, acted on with real input events. If the page re-renders and
/// replaces the control's node, the next action finds the control again by role and name.
pub struct Element<'a> {
    page: &'a Page,
    roles: Vec<&'a str>,
    name: Name<'a>,
    dom: Cell<i64>,
}

impl Element<'_> {
    /// A handle on the control's node in the page, finding the control again if the node
    /// found before has left the document.
    fn object(&self) -> Value {
        let resolve = |dom: i64| {
            let object = self
                .page
                .cdp
                .call(
                    Some(&self.page.session),
                    "DOM.resolveNode",
                    json!({"backendNodeId": dom}),
                )
                .ok()?["object"]["objectId"]
                .clone();
            let connected = self.page.command(
                "Runtime.callFunctionOn",
                json!({"objectId": object, "returnByValue": true,
                        "functionDeclaration": "function() { return this.isConnected; }"}),
            )["result"]["value"]
                == true;
            connected.then_some(object)
        };
        resolve(self.dom.get()).unwrap_or_else(|| {
            self.dom.set(self.page.find_node(&self.roles, self.name));
            resolve(self.dom.get()).expect("the control found again")
        })
    }

    /// Calls `function` (JavaScript source) with the element as `this`; its value.
    pub fn call(&self, function: &str) -> Value {
        let object = self.object();
        let reply = self.page.command(
            "Runtime.callFunctionOn",
            json!({"objectId": object, "functionDeclaration": function,
                "returnByValue": true, "awaitPromise": true}),
        );
        assert!(
            reply.get("exceptionDetails").is_none(),
            "{function}: {}",
            reply["exceptionDetails"]
        );
        reply["result"]["value"].clone()
    }

    /// The element's text as rendered.
    pub fn text(&self) -> String {
        self.call("function() { return this.innerText ?? this.textContent; }")
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Scrolls the element into view and clicks its centre with the mouse, once nothing
    /// covers it there (a dialog may still be opening, a toast still fading).
    pub fn click(&self) {
        let deadline = Instant::now() + WAIT;
        let point = loop {
            let point = self.call(
                "function() {
                   this.scrollIntoView({block: 'center', inline: 'center'});
                   const r = this.getBoundingClientRect();
                   const x = r.left + r.width / 2, y = r.top + r.height / 2;
                   const hit = document.elementFromPoint(x, y);
                   return {x, y, covered: !hit || this === hit || this.contains(hit)
                     ? null : hit.outerHTML.slice(0, 200)};
                 }",
            );
            if point["covered"].is_null() {
                break point;
            }
            assert!(
                Instant::now() < deadline,
                "the control stays covered by {}",
                point["covered"]
            );
            thread::sleep(POLL);
        };
        for kind in ["mouseMoved", "mousePressed", "mouseReleased"] {
            self.page.command(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": point["x"], "y": point["y"],
                    "button": "left", "clickCount": 1}),
            );
        }
    }

    /// Focuses the field, selects what it holds and types `text` over it.
    pub fn fill(&self, text: &str) {
        self.call(
            "function() {
               this.focus();
               if (this.select) this.select();
               else document.getSelection().selectAllChildren(this);
             }",
        );
        self.page.command("Input.insertText", json!({"text": text}));
    }

    /// Sets the files of a file input, as if the person had chosen them (`DOM.setFileInputFiles`
    /// takes paths the browser reads itself).
    pub fn set_files(&self, paths: &[&Path]) {
        let object = self.object();
        let files: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        self.page.command(
            "DOM.setFileInputFiles",
            json!({"objectId": object, "files": files}),
        );
    }

    /// The one control inside this element with one of `roles` and this name. (It is found
    /// again inside this element if the page replaces its node.)
    pub fn inside<'b>(&'b self, roles: &[&'b str], name: Name<'b>) -> Inside<'b> {
        let inside = Inside {
            scope: self,
            roles: roles.to_vec(),
            name,
        };
        inside.node();
        inside
    }

    /// Whether a control with this role and name is inside this element now.
    pub fn contains(&self, role: &str, name: Name) -> bool {
        !self.controls_inside(&[role], name).is_empty()
    }

    /// The controls inside this element with one of `roles` and a matching name.
    fn controls_inside(&self, roles: &[&str], name: Name) -> Vec<Control> {
        let object = self.object();
        let tree = self
            .page
            .command("Accessibility.queryAXTree", json!({"objectId": object}));
        controls_of(&tree)
            .into_iter()
            .filter(|c| {
                roles.iter().any(|r| r.eq_ignore_ascii_case(&c.role)) && name.matches(&c.name)
            })
            .collect()
    }

    /// Fills the field and presses Enter in it.
    pub fn submit(&self, text: &str) {
        self.fill(text);
        self.page.press("Enter");
    }
}

/// A control found inside another one (a button of one list item, where the page has several
/// buttons of that name); it is looked up afresh for each action.
pub struct Inside<'a> {
    scope: &'a Element<'a>,
    roles: Vec<&'a str>,
    name: Name<'a>,
}

impl Inside<'_> {
    /// The DOM node of the one matching control inside the scope, once there is one.
    fn node(&self) -> i64 {
        let deadline = Instant::now() + WAIT;
        loop {
            let found = self.scope.controls_inside(&self.roles, self.name);
            if let [control] = found.as_slice() {
                return control.dom;
            }
            assert!(
                Instant::now() < deadline,
                "expected one {:?} named {:?} inside, found {}",
                self.roles,
                self.name,
                found.len()
            );
            thread::sleep(POLL);
        }
    }

    /// Clicks the control.
    pub fn click(&self) {
        self.element().click();
    }

    /// The control as an element of the page, for acting on it.
    pub fn element(&self) -> Element<'_> {
        Element {
            page: self.scope.page,
            roles: self.roles.clone(),
            name: self.name,
            dom: Cell::new(self.node()),
        }
    }
}

/// The nodes of an accessibility tree answer that are not ignored and stand for a DOM node,
/// with Chromium's own role and accessible name.
fn controls_of(tree: &Value) -> Vec<Control> {
    tree["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|node| node["ignored"] != true)
        .filter_map(|node| {
            Some(Control {
                role: node["role"]["value"].as_str()?.to_owned(),
                name: node["name"]["value"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                dom: node["backendDOMNodeId"].as_i64()?,
            })
        })
        .collect()
}
