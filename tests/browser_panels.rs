//! The header's panels in a real headless Chromium against the real binary: custom emotes
//! (upload, list, delete, shown inline and in the React picker) and the account (name,
//! password, sessions, signing out). Each test skips itself (loudly) when there is no Chromium
//! outside CI.

use crate::util::browser::{self, Name, Page};
use crate::util::client::{open, token_of, wait_for_log};
use crate::util::{ICON_PNG, PASSWORD, TestServer, TestUser, upload};

/// Ada and Bob, signed in on their pages, with their direct conversation open on both; it
/// starts with Ada's `greeting`, if any.
fn ada_and_bob(
    server: &TestServer,
    ada_page: &Page,
    bob_page: &Page,
    greeting: Option<&str>,
) -> (TestUser, TestUser) {
    let (ada, bob, id) = server.ada_and_bob();
    if let Some(text) = greeting {
        server.say(&ada.token, id, text);
    }
    ada_page.sign_in(server, &ada.email);
    bob_page.sign_in(server, &bob.email);
    for (page, other) in [(ada_page, "Bob"), (bob_page, "Ada")] {
        open(page, other);
        wait_for_log(page, greeting.unwrap_or_default(), true);
    }
    (ada, bob)
}

/// Waits until an alert on the page says something containing `text`.
fn wait_for_alert(page: &Page, text: &str) {
    let deadline = std::time::Instant::now() + browser::WAIT;
    loop {
        let alerts = page.eval(
            "[...document.querySelectorAll('[role=alert]')].map((a) => a.textContent).join(' | ')",
        );
        let alerts = alerts.as_str().unwrap_or_default();
        if alerts.to_lowercase().contains(&text.to_lowercase()) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no alert says {text:?}; they say {alerts:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
}

/// Chooses `path` as the emote image, names it `name` and presses "Upload emote".
fn submit_emote(page: &Page, name: &str, path: &std::path::Path) {
    page.role("textbox", "Emote name").fill(name);
    page.find(
        &["button", "textbox", "generic"],
        Name::StartsWith("Emote image"),
    )
    .set_files(&[path]);
    page.role("button", "Upload emote").click();
}

/// The emote list's text, one item a line, each with its buttons' names.
fn emote_list(page: &Page) -> Vec<String> {
    let items = page.eval(
        "[...document.querySelectorAll('dialog[open] li')].map((li) =>
           [[...li.childNodes].filter((n) => n.nodeName !== 'BUTTON').map((n) => n.textContent).join(''),
             ...[...li.querySelectorAll('button')].map((b) => `[${b.textContent}]`)]
             .join(' '))",
    );
    items
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i.as_str().expect("text").to_owned())
        .collect()
}

#[test]
fn a_custom_emote_uploaded_on_the_page_shows_inline_in_the_picker_and_goes_when_deleted() {
    let Some([ada_page, bob_page]) = browser::pages() else {
        return;
    };
    let server = TestServer::start();
    let (_, bob) = ada_and_bob(&server, &ada_page, &bob_page, None);
    assert_eq!(
        upload(&server, &bob.token, "bobs_cat", ICON_PNG).status,
        201
    );

    ada_page.role("button", "Emotes").click();
    wait_for_emote_list(&ada_page, &[":bobs_cat:"]);
    let image = server.file("parrot.png", ICON_PNG);
    submit_emote(&ada_page, "party_parrot", &image);
    wait_for_emote_list(&ada_page, &[":bobs_cat:", ":party_parrot: [Delete]"]);

    // The server's word for each bad upload, shown in the alert.
    submit_emote(&ada_page, "bobs_cat", &image);
    wait_for_alert(&ada_page, "taken");
    let text = server.file("notes.png", b"not an image at all");
    submit_emote(&ada_page, "not_image", &text);
    wait_for_alert(&ada_page, "must be a PNG, GIF or WebP");
    let mut big = ICON_PNG.to_vec();
    big.resize(256 * 1024 + 1, 0);
    let big = server.file("big.png", &big);
    submit_emote(&ada_page, "too_big", &big);
    wait_for_alert(&ada_page, "at most 262144 bytes");
    let mut huge = ICON_PNG.to_vec();
    huge.resize(450 * 1024, 0);
    let huge = server.file("huge.png", &huge);
    submit_emote(&ada_page, "far_too_big", &huge);
    wait_for_alert(&ada_page, "too large");
    wait_for_emote_list(&ada_page, &[":bobs_cat:", ":party_parrot: [Delete]"]);
    ada_page.role("button", "Close").click();

    let said = "Look :party_parrot: here, and :nope: there";
    ada_page.role("textbox", "Message").submit(said);
    for page in [&ada_page, &bob_page] {
        let log = page.role("log", "Messages");
        page.wait_until("the message with its emote", || {
            log.contains("image", Name::Exactly(":party_parrot:"))
        });
        let shown = log.text();
        assert!(
            shown.contains("Look ") && shown.contains(" here, and :nope: there"),
            "{shown}"
        );
        assert!(!log.contains("image", Name::Exactly(":nope:")));
    }

    bob_page.role("button", "React").click();
    bob_page.role("button", ":party_parrot:").click();
    for page in [&ada_page, &bob_page] {
        page.wait_until("a :party_parrot: reaction counting 1", || {
            page.has("button", Name::Exactly(":party_parrot: 1"))
        });
    }

    ada_page.role("button", "Emotes").click();
    wait_for_emote_list(&ada_page, &[":bobs_cat:", ":party_parrot: [Delete]"]);
    ada_page.role("button", "Delete").click();
    wait_for_emote_list(&ada_page, &[":bobs_cat:"]);
    ada_page.role("button", "Close").click();
    let log = ada_page.role("log", "Messages");
    ada_page.wait_until("the deleted emote to show as its words", || {
        !log.contains("image", Name::Exactly(":party_parrot:"))
            && log.text().contains("Look :party_parrot: here")
    });
    assert_eq!(
        server.get("/api/emotes/party_parrot", &bob.token).status,
        404
    );
    ada_page.assert_clean();
    bob_page.assert_clean();
}

/// Waits until the open Emotes panel lists exactly `items` (text and buttons).
fn wait_for_emote_list(page: &Page, items: &[&str]) {
    let deadline = std::time::Instant::now() + browser::WAIT;
    loop {
        let shown = emote_list(page);
        if shown.iter().map(|i| i.trim()).collect::<Vec<_>>() == items {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the emotes {items:?}: the list shows {shown:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
}

/// The status of a sign-in through the API with `password`.
fn login_status(server: &TestServer, email: &str, password: &str) -> u16 {
    server.login(email, password).status
}

#[test]
fn the_account_panel_renames_and_the_other_person_sees_the_new_name() {
    let Some([ada_page, bob_page]) = browser::pages() else {
        return;
    };
    let server = TestServer::start();
    ada_and_bob(&server, &ada_page, &bob_page, Some("Hello Bob"));

    ada_page.role("button", "Account").click();
    ada_page.role("textbox", "Name").fill(&"A".repeat(101));
    ada_page.role("button", "Save").click();
    wait_for_alert(&ada_page, "name");
    ada_page.role("textbox", "Name").fill("Ada King");
    ada_page.role("button", "Save").click();
    ada_page.wait_until("the name to be saved", || {
        ada_page
            .eval("document.querySelector('dialog[open]').textContent")
            .as_str()
            .is_some_and(|t| t.contains("Saved."))
    });
    ada_page.role("button", "Close").click();
    wait_for_log(&ada_page, "Ada King", true);
    // The server sends no event for a new name: the other page shows it once it reads the
    // conversation again (here after a reload).
    bob_page.goto(&format!("{}/", server.base));
    open(&bob_page, "Ada King");
    wait_for_log(&bob_page, "Ada King", true);
    ada_page.assert_clean();
    bob_page.assert_clean();
}

#[test]
fn the_account_panel_changes_the_password_and_refuses_a_wrong_current_one() {
    let Some(page) = browser::page() else { return };
    let server = TestServer::start();
    let ada = server.user("Ada");
    let new_password = "a brand new passphrase";
    page.sign_in(&server, &ada.email);
    page.role("button", "Account").click();

    page.field("Current password")
        .fill("not my password at all");
    page.field("New password").fill(new_password);
    page.role("button", "Change password").click();
    wait_for_alert(&page, "current password");
    assert_eq!(login_status(&server, &ada.email, new_password), 401);

    page.field("Current password").fill(PASSWORD);
    page.field("New password").fill(new_password);
    page.role("button", "Change password").click();
    page.wait_until("the password to be changed", || {
        page.eval("document.querySelector('dialog[open]').textContent")
            .as_str()
            .is_some_and(|t| t.contains("Password changed"))
    });
    assert_eq!(login_status(&server, &ada.email, PASSWORD), 401);
    assert_eq!(login_status(&server, &ada.email, new_password), 200);
    page.assert_clean();
}

/// Whether the API still takes `token`.
fn token_works(server: &TestServer, token: &str) -> bool {
    match server.get("/api/auth/validate", token).status {
        200 => true,
        401 => false,
        other => panic!("validate answered {other}"),
    }
}

/// Waits until the page shows the sign-in view by itself.
fn wait_for_sign_in_view(page: &Page) {
    page.wait_until("the sign-in view", || {
        page.has("button", Name::Exactly("Sign in"))
    });
}

#[test]
fn the_session_list_marks_this_device_and_signs_the_other_one_out() {
    let Some([laptop, phone]) = browser::pages() else {
        return;
    };
    let server = TestServer::start();
    let ada = server.register("Ada");
    let email = ada["email"].as_str().expect("email");
    phone.user_agent(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 \
         (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    );
    phone.sign_in(&server, email);
    laptop.sign_in(&server, email);
    let phone_token = token_of(&phone);
    let laptop_token = token_of(&laptop);

    laptop.role("button", "Account").click();
    let sessions = laptop.role("list", "Sessions");
    laptop.wait_until("both sessions", || session_count(&sessions) == 2);
    // Each session says what device it is (the laptop is this headless Chrome on Linux),
    // when it signed in and when it was last used, and only the current one is this device.
    let text = sessions.text();
    assert_eq!(text.matches("This device").count(), 1, "{text}");
    let items =
        sessions.call("function() { return [...this.children].map((li) => li.textContent); }");
    let items: Vec<&str> = items
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i.as_str().expect("text"))
        .collect();
    assert!(
        items
            .iter()
            .any(|i| i.starts_with("Safari on iPhone · signed in")
                && i.contains("last used just now")
                && !i.contains("This device")),
        "{items:?}"
    );
    assert!(
        items
            .iter()
            .any(|i| i.starts_with("Chrome on Linux · signed in") && i.contains("This device")),
        "{items:?}"
    );
    assert!(!text.contains("Mozilla"), "{text}");
    // Only the other session has a "Sign out" of its own.
    sessions
        .inside(&["button"], Name::Exactly("Sign out"))
        .click();
    laptop.wait_until("the phone's session to go", || {
        session_count(&sessions) == 1
    });
    assert!(sessions.text().contains("This device"));
    assert!(!sessions.contains("button", Name::Exactly("Sign out")));
    assert!(!token_works(&server, &phone_token));
    assert!(token_works(&server, &laptop_token));
    wait_for_sign_in_view(&phone);
    phone.assert_clean();
    laptop.assert_clean();
}

/// How many sessions the list shows.
fn session_count(sessions: &crate::util::browser::Element) -> u64 {
    sessions
        .call("function() { return this.querySelectorAll('li').length; }")
        .as_u64()
        .expect("a count")
}

#[test]
fn sign_out_everywhere_ends_every_session_and_sign_out_revokes_this_one() {
    let Some([first, second]) = browser::pages() else {
        return;
    };
    let server = TestServer::start();
    let ada = server.user("Ada");
    first.sign_in(&server, &ada.email);
    second.sign_in(&server, &ada.email);
    let first_token = token_of(&first);
    first.role("button", "Account").click();
    first.role("button", "Sign out everywhere").click();
    wait_for_sign_in_view(&first);
    wait_for_sign_in_view(&second);
    assert!(!token_works(&server, &ada.token));
    assert!(!token_works(&server, &first_token));

    first.sign_in(&server, &ada.email);
    let token = token_of(&first);
    first.role("button", "Account").click();
    first
        .find(&["dialog"], Name::Exactly("Account"))
        .inside(&["button"], Name::Exactly("Sign out"))
        .click();
    wait_for_sign_in_view(&first);
    assert!(!token_works(&server, &token));
    first.goto(&format!("{}/", server.base));
    wait_for_sign_in_view(&first);
    first.assert_clean();
    second.assert_clean();
}
