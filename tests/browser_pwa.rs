//! The web client from the keyboard alone, in real headless Chromium against the real binary:
//! every action by key presses, with a focus ring always shown. Each test skips itself
//! (loudly) when there is no Chromium outside CI.

use serde_json::Value;

use crate::util::browser::{self, Focused, Name, Page};
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

fn wait_for_log(page: &Page, text: &str, shown: bool) {
    page.wait_until(&format!("the log to show {text:?}: {shown}"), || {
        log_shows(page, text) == shown
    });
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
    let server = TestServer::start();
    let ada = server.user("Ada");
    let bob = server.user("Bob");

    page.goto(&format!("{}/", server.base));
    wait_for_focus(&page, "textbox", "Email");
    page.type_text(&ada.email);
    tab_to(&page, false, "textbox", "Password", None);
    page.type_text(PASSWORD);
    page.press("Enter");
    wait_for_focus(&page, "button", "New conversation");

    page.press("Enter");
    wait_for_focus(&page, "searchbox", "Search people");
    page.type_text("Bob");
    page.wait_until("Bob to be found", || {
        page.has("button", Name::Exactly("Bob"))
    });
    tab_to(&page, false, "button", "Bob", None);
    page.press("Enter");
    wait_for_focus(&page, "textbox", "Message");

    page.type_text("Hello Bob");
    page.press_shift("Enter");
    page.type_text("on two lines");
    page.press("Enter");
    page.wait_until("the message to be stored", || {
        stored_bodies(&server) == ["Hello Bob\non two lines"]
    });
    wait_for_focus(&page, "textbox", "Message");
    assert_eq!(page.eval("document.activeElement.value"), "");

    let id = only_conversation(&server, &ada);
    server.say(&bob.token, id, "Hi Ada, shall we talk?");
    wait_for_log(&page, "shall we talk", true);
    tab_to(&page, true, "button", "React", Some("shall we talk"));
    page.press("Enter");
    wait_for_focus(&page, "button", "👍");
    page.press("Escape");
    wait_for_focus(&page, "button", "React");
    assert!(
        !page.has("button", Name::Exactly("👍")),
        "the picker stays open"
    );
    page.press("Space");
    wait_for_focus(&page, "button", "👍");
    page.press("ArrowRight");
    page.press("ArrowRight");
    wait_for_focus(&page, "button", "😂");
    page.press("Enter");
    page.wait_until("a 😂 reaction", || {
        page.has("button", Name::StartsWith("😂 1"))
    });
    wait_for_focus(&page, "button", "React");
    let reactions: i64 = server
        .open_db()
        .query_row("SELECT count(*) FROM reactions", [], |row| row.get(0))
        .expect("count");
    assert_eq!(reactions, 1);

    tab_to(&page, true, "button", "Edit", Some("Hello Bob"));
    page.press("Enter");
    wait_for_focus(&page, "textbox", "Edit message");
    page.type_text(" today");
    page.press("Escape");
    wait_for_focus(&page, "button", "Edit");
    assert!(message_of_focus(&page).contains("Hello Bob"));
    assert!(!log_shows(&page, "today"), "Escape kept the edit");
    page.press("Enter");
    wait_for_focus(&page, "textbox", "Edit message");
    page.type_text(" today");
    page.press("Enter");
    wait_for_log(&page, "edited", true);
    wait_for_focus(&page, "button", "Edit");
    assert_eq!(stored_bodies(&server)[0], "Hello Bob\non two lines today");

    tab_to(&page, false, "button", "Delete", Some("Hello Bob"));
    page.press("Enter");
    wait_for_focus(&page, "button", "Cancel");
    page.press("Escape");
    wait_for_focus(&page, "button", "Delete");
    assert!(message_of_focus(&page).contains("Hello Bob"));
    page.press("Enter");
    wait_for_focus(&page, "button", "Cancel");
    tab_to(&page, false, "button", "Delete", None);
    assert_eq!(
        page.eval("!!document.activeElement.closest('dialog')"),
        true
    );
    page.press("Enter");
    wait_for_log(&page, "Message deleted", true);
    wait_for_focus(&page, "log", "Messages");

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
        tab_to(&page, backwards, "button", opener, None);
        page.press(key);
        wait_for_focus(&page, first.0, first.1);
        assert_eq!(
            page.eval("!!document.activeElement.closest('dialog[open]')"),
            true
        );
        page.press("Escape");
        wait_for_focus(&page, "button", opener);
        assert_eq!(
            page.eval("document.querySelector('dialog[open]')"),
            Value::Null
        );
    }
    page.assert_clean();
}
