//! The web client from the keyboard alone and as a progressive web app, in real headless
//! Chromium against the real binary: keyboard use with a focus ring always shown, desktop
//! notifications and the app badge while the tab is hidden, the service worker's offline app
//! shell, and installability. Each test skips itself (loudly) when there is no Chromium
//! outside CI.

use serde_json::{Value, json};

use crate::util::browser::{self, Focused, Name, Page};
use crate::util::client::{
    articles_with, kept, open, token_of, wait_for_log, wait_for_reconnecting,
};
use crate::util::{PASSWORD, TestServer, TestUser};

/// Fails unless what has the focus is a control a person can see, showing a focus ring.
fn assert_focus_shown(page: &Page) -> Focused {
    let focused = page.focused();
    let Focused {
        role, name, html, ..
    } = &focused;
    assert!(focused.tag != "body", "the focus was lost: {html}");
    assert!(
        focused.visible,
        "the focus is on something unseen, {role} {name:?}: {html}"
    );
    assert!(
        !focused.ring.is_empty(),
        "{role} {name:?} shows no focus ring: {html}"
    );
    focused
}

fn is(focused: &Focused, role: &str, name: &str) -> bool {
    focused.role == role && focused.name.trim().eq_ignore_ascii_case(name)
}

/// The text of the message the focus is in, empty outside messages.
fn message_of_focus(page: &Page) -> String {
    page.eval("document.activeElement.closest('article')?.textContent ?? ''")
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Presses Tab (Shift+Tab when `backwards`) until the focus is on the control with `role`
/// and `name`, in the message containing `within` if given; every step must show the focus.
fn tab_to(page: &Page, backwards: bool, role: &str, name: &str, within: Option<&str>) {
    for _ in 0..40 {
        if backwards {
            page.press_shift("Tab");
        } else {
            page.press("Tab");
        }
        let focused = assert_focus_shown(page);
        if is(&focused, role, name) && within.is_none_or(|t| message_of_focus(page).contains(t)) {
            return;
        }
    }
    panic!("Tab never reached {role} {name:?} (in {within:?})");
}

/// Waits until the focus is on the control with `role` and `name`, and shown.
fn wait_for_focus(page: &Page, role: &str, name: &str) {
    page.wait_until(&format!("the focus on {role} {name:?}"), || {
        is(&page.focused(), role, name)
    });
    assert_focus_shown(page);
}

/// Whether the open conversation's log shows `text`.
fn log_shows(page: &Page, text: &str) -> bool {
    page.role("log", "Messages").text().contains(text)
}

/// The bodies of the stored messages, oldest first.
fn stored_bodies(server: &TestServer) -> Vec<String> {
    let db = server.open_db();
    let mut query = db
        .prepare("SELECT body FROM messages ORDER BY id")
        .expect("query");
    query
        .query_map([], |row| row.get::<_, String>(0))
        .expect("rows")
        .map(|body| body.expect("body"))
        .collect()
}

/// Ada's only conversation, as the API lists it.
fn only_conversation(server: &TestServer, ada: &TestUser) -> i64 {
    let reply = server.get("/api/conversations", &ada.token);
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["conversations"][0]["id"]
        .as_i64()
        .expect("a conversation")
}

#[test]
fn everything_works_from_the_keyboard_with_the_focus_always_shown() {
    let Some(page) = browser::page() else { return };
    everything_from_the_keyboard(&page);
}

#[test]
fn everything_works_from_the_keyboard_on_a_phone_too() {
    let Some(page) = browser::page() else { return };
    page.viewport(360, 740, true);
    everything_from_the_keyboard(&page);
}

/// Signs in, starts a conversation, sends, reacts, edits, deletes, and opens and closes
/// every dialog, by key presses only.
fn everything_from_the_keyboard(page: &Page) {
    let server = TestServer::start();
    let ada = server.user("Ada");
    let bob = server.user("Bob");

    page.goto(&format!("{}/", server.base));
    wait_for_focus(page, "textbox", "Email");
    page.type_text(&ada.email);
    tab_to(page, false, "textbox", "Password", None);
    page.type_text(PASSWORD);
    page.press("Enter");
    wait_for_focus(page, "button", "New conversation");

    page.press("Enter");
    wait_for_focus(page, "searchbox", "Search people");
    page.type_text("Bob");
    page.wait_until("Bob to be found", || {
        page.has("button", Name::Exactly("Bob"))
    });
    tab_to(page, false, "button", "Bob", None);
    page.press("Enter");
    wait_for_focus(page, "textbox", "Message");

    page.type_text("Hello Bob");
    page.press_shift("Enter");
    page.type_text("on two lines");
    page.press("Enter");
    page.wait_until("the message to be stored", || {
        stored_bodies(&server) == ["Hello Bob\non two lines"]
    });
    wait_for_focus(page, "textbox", "Message");
    assert_eq!(page.eval("document.activeElement.value"), "");

    let id = only_conversation(&server, &ada);
    server.say(&bob.token, id, "Hi Ada, shall we talk?");
    wait_for_log(page, "shall we talk", true);
    tab_to(page, true, "button", "React", Some("shall we talk"));
    page.press("Enter");
    wait_for_focus(page, "button", "👍");
    page.press("Escape");
    wait_for_focus(page, "button", "React");
    assert!(
        !page.has("button", Name::Exactly("👍")),
        "the picker stays open"
    );
    page.press("Space");
    wait_for_focus(page, "button", "👍");
    page.press("ArrowRight");
    page.press("ArrowRight");
    wait_for_focus(page, "button", "😂");
    page.press("Enter");
    page.wait_until("a 😂 reaction", || {
        page.has("button", Name::StartsWith("😂 1"))
    });
    wait_for_focus(page, "button", "React");
    let reactions: i64 = server
        .open_db()
        .query_row("SELECT count(*) FROM reactions", [], |row| row.get(0))
        .expect("count");
    assert_eq!(reactions, 1);

    tab_to(page, true, "button", "Edit", Some("Hello Bob"));
    page.press("Enter");
    wait_for_focus(page, "textbox", "Edit message");
    page.type_text(" today");
    page.press("Escape");
    wait_for_focus(page, "button", "Edit");
    assert!(message_of_focus(page).contains("Hello Bob"));
    assert!(!log_shows(page, "today"), "Escape kept the edit");
    page.press("Enter");
    wait_for_focus(page, "textbox", "Edit message");
    page.type_text(" today");
    page.press("Enter");
    wait_for_log(page, "edited", true);
    wait_for_focus(page, "button", "Edit");
    assert_eq!(stored_bodies(&server)[0], "Hello Bob\non two lines today");

    tab_to(page, false, "button", "Delete", Some("Hello Bob"));
    page.press("Enter");
    wait_for_focus(page, "button", "Cancel");
    page.press("Escape");
    wait_for_focus(page, "button", "Delete");
    assert!(message_of_focus(page).contains("Hello Bob"));
    page.press("Enter");
    wait_for_focus(page, "button", "Cancel");
    tab_to(page, false, "button", "Delete", None);
    assert_eq!(
        page.eval("!!document.activeElement.closest('dialog')"),
        true
    );
    page.press("Enter");
    wait_for_log(page, "Message deleted", true);
    wait_for_focus(page, "log", "Messages");

    // The header's order: New conversation, Turn on notifications, Emotes, Account.
    for (backwards, opener, key, first) in [
        (true, "Emotes", "Enter", ("button", "Close")),
        (false, "Account", "Space", ("button", "Close")),
        (
            true,
            "New conversation",
            "Enter",
            ("searchbox", "Search people"),
        ),
    ] {
        tab_to(page, backwards, "button", opener, None);
        page.press(key);
        wait_for_focus(page, first.0, first.1);
        assert_eq!(
            page.eval("!!document.activeElement.closest('dialog[open]')"),
            true
        );
        page.press("Escape");
        wait_for_focus(page, "button", opener);
        assert_eq!(
            page.eval("document.querySelector('dialog[open]')"),
            Value::Null
        );
    }
    page.assert_clean();
}

/// Recorded in every document before the app's own scripts: the notifications the page
/// really shows (through the browser's own `Notification` or its service worker), the times
/// it asks for permission, and the numbers it puts on the app badge (0 for cleared). The
/// browser's own functions still run.
const RECORD: &str = r#"(() => {
  const seen = { shown: [], asked: 0, badges: [] };
  Object.defineProperty(window, '__seen', { value: seen });
  const Real = window.Notification;
  if (Real) {
    const ask = Real.requestPermission.bind(Real);
    class Recorded extends Real {
      constructor(title, options) {
        super(title, options);
        seen.shown.push({ title, body: options?.body ?? '' });
      }
    }
    Recorded.requestPermission = (...args) => { seen.asked += 1; return ask(...args); };
    window.Notification = Recorded;
  }
  if (window.ServiceWorkerRegistration) {
    const show = ServiceWorkerRegistration.prototype.showNotification;
    ServiceWorkerRegistration.prototype.showNotification = function (title, options) {
      return show.call(this, title, options)
        .then(() => { seen.shown.push({ title, body: options?.body ?? '' }); });
    };
  }
  if (navigator.setAppBadge) {
    const set = navigator.setAppBadge.bind(navigator);
    const clear = navigator.clearAppBadge.bind(navigator);
    navigator.setAppBadge = (count) => { seen.badges.push(count ?? null); return set(count); };
    navigator.clearAppBadge = () => { seen.badges.push(0); return clear(); };
  }
})();"#;

fn seen(page: &Page) -> Value {
    page.eval("JSON.parse(JSON.stringify(window.__seen))")
}

/// Ada (signed in on `page`) and Bob with a direct conversation that Ada has open, showing
/// Bob's first message; Bob and the conversation's id.
fn ada_reading_bob(server: &TestServer, page: &Page) -> (TestUser, i64) {
    let (ada, bob, id) = server.ada_and_bob();
    server.say(&bob.token, id, "Before anything else");
    page.sign_in(server, &ada.email);
    open(page, "Bob");
    wait_for_log(page, "Before anything else", true);
    (bob, id)
}

#[test]
fn a_hidden_tab_shows_a_notification_after_permission_was_given_from_the_button() {
    let Some(page) = browser::page() else { return };
    let server = TestServer::start();
    page.before_each_document(RECORD);
    let (bob, id) = ada_reading_bob(&server, &page);

    assert_eq!(page.eval("Notification.permission"), "default");
    assert_eq!(
        seen(&page)["asked"],
        0,
        "permission was asked without a press"
    );
    page.grant(&server.base, &["notifications"]);
    page.role("button", "Turn on notifications").click();
    page.wait_for_js("window.__seen.asked === 1 && Notification.permission === 'granted'");
    page.wait_until("the button to go", || {
        !page.has("button", Name::Exactly("Turn on notifications"))
    });

    server.say(&bob.token, id, "Seen while you look");
    wait_for_log(&page, "Seen while you look", true);
    assert_eq!(
        seen(&page)["shown"],
        json!([]),
        "a notification for a shown message"
    );

    let cover = page.cover();
    page.wait_for_js("document.visibilityState === 'hidden'");
    server.say(&bob.token, id, "Are you there?");
    page.wait_for_js("window.__seen.shown.length > 0");
    assert_eq!(
        seen(&page)["shown"],
        json!([{"title": "Bob", "body": "Are you there?"}])
    );
    page.wait_for_js("document.title === '(1) EmoteChat'");
    // Chromium has the Badging API (installed or not), so the badge is held to it here.
    assert_eq!(page.eval("'setAppBadge' in navigator"), true);
    page.wait_for_js("window.__seen.badges.at(-1) === 1");

    drop(cover);
    page.wait_for_js("document.visibilityState === 'visible'");
    page.wait_for_js("document.title === 'EmoteChat'");
    page.wait_for_js("window.__seen.badges.at(-1) === 0");
    assert_eq!(seen(&page)["shown"].as_array().map(Vec::len), Some(1));
    page.assert_clean();
}

/// This build's version, from the page's own asset paths (`/assets/VERSION/style.css`).
fn version(page: &Page) -> String {
    page.eval("new URL(document.querySelector('link[rel=stylesheet]').href).pathname.split('/')[2]")
        .as_str()
        .expect("a version")
        .to_owned()
}

#[test]
fn the_service_worker_keeps_only_this_builds_files_and_drops_old_ones() {
    let Some(page) = browser::page() else { return };
    let server = TestServer::start();
    // A cache left by an older build, made before this build's worker is installed.
    page.goto(&format!("{}/sw.js", server.base));
    page.eval("caches.open('0000000000000000').then((c) => c.put('/old', new Response('old')))");
    let (_, _) = ada_reading_bob(&server, &page);
    page.wait_for_js("navigator.serviceWorker.controller");

    let version = version(&page);
    page.wait_until("the old cache to go", || {
        page.eval("caches.keys()") == json!([version])
    });
    let kept = page.eval(&format!(
        "caches.open('{version}').then((c) => c.keys())
           .then((all) => all.map((r) => new URL(r.url).pathname))"
    ));
    let kept: Vec<&str> = kept
        .as_array()
        .expect("paths")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(kept.contains(&"/"), "{kept:?}");
    assert!(
        kept.contains(&format!("/assets/{version}/app.js").as_str()),
        "{kept:?}"
    );
    assert!(
        kept.iter()
            .all(|path| *path == "/" || path.starts_with(&format!("/assets/{version}/"))),
        "the worker kept more than this build's files: {kept:?}"
    );
    page.assert_clean();
}

#[test]
fn reloaded_while_the_server_is_down_the_app_opens_and_keeps_messages_until_it_returns() {
    let Some(page) = browser::page() else { return };
    let mut server = TestServer::start();
    let (_, _) = ada_reading_bob(&server, &page);
    page.wait_for_js("navigator.serviceWorker.controller");
    let before = "Typed before the reload";
    let after = "Typed after the reload";

    server.stop();
    wait_for_reconnecting(&page);
    page.role("textbox", "Message").submit(before);
    wait_for_log(&page, "Sending…", true);
    page.reload();
    wait_for_reconnecting(&page);
    open(&page, "Bob");
    wait_for_log(&page, before, true);
    page.role("textbox", "Message").submit(after);
    page.wait_until("both to wait", || pending(&page) == 2);
    server.start_again();

    page.wait_until("both to be sent", || pending(&page) == 0);
    wait_for_log(&page, "Before anything else", true);
    for text in [before, after] {
        assert_eq!(articles_with(&page, text), 1, "{text}");
    }
    let bodies = stored_bodies(&server);
    assert_eq!(
        bodies,
        ["Before anything else", before, after],
        "stored once each, in order"
    );
    page.assert_clean();
}

#[test]
fn what_the_browser_kept_for_a_session_ended_elsewhere_is_forgotten() {
    let Some(page) = browser::page() else { return };
    let server = TestServer::start();
    let _ = ada_reading_bob(&server, &page);
    let ada_id = page.eval("JSON.parse(localStorage.getItem('emotechat.user')).id");
    let list = format!("emotechat.conversations.{ada_id}");
    page.wait_until("the conversation list to be kept", || {
        kept(&page)
            .as_array()
            .is_some_and(|k| k.contains(&json!(list)))
    });

    let reply = server
        .request("POST", "/api/auth/logout")
        .token(&token_of(&page))
        .send();
    assert!(reply.status < 300, "{} {}", reply.status, reply.body);
    page.reload();
    page.role("button", "Sign in");
    assert_eq!(kept(&page), json!([]));
    page.assert_clean();
}

/// How many messages the open conversation shows as still being sent.
fn pending(page: &Page) -> u64 {
    page.role("log", "Messages")
        .call("function() { return this.querySelectorAll('article.pending').length; }")
        .as_u64()
        .expect("a count")
}

#[test]
fn the_app_is_installable() {
    // Chromium installs nothing from an incognito context, so this page uses the profile.
    let Some(page) = browser::profile_page() else {
        return;
    };
    let server = TestServer::start();
    page.goto(&format!("{}/", server.base));
    page.wait_for_js("navigator.serviceWorker.controller");
    let manifest = page.command("Page.getAppManifest", json!({}));
    assert_eq!(manifest["errors"], json!([]), "{manifest}");
    assert!(
        manifest["url"]
            .as_str()
            .is_some_and(|u| u.ends_with("/manifest.webmanifest")),
        "{manifest}"
    );
    let installability = page.command("Page.getInstallabilityErrors", json!({}));
    assert_eq!(
        installability["installabilityErrors"],
        json!([]),
        "{installability}"
    );
    page.assert_clean();
}
