//! The web client in a real headless Chromium against the real binary, through the roles and
//! accessible names the client promises: what a person and a screen reader meet. Each test skips itself (loudly) when there is no Chromium outside CI.

use serde_json::json;

use crate::util::browser::{self, Name, Page};
use crate::util::client::{fill_registration, open};
use crate::util::{PASSWORD, TestServer};

const NEW_PASSWORD: &str = "a brand new passphrase";

/// Signed in is where "New conversation" is offered.
fn assert_signed_in(page: &Page) {
    page.role("button", "New conversation");
}

/// Shows the page on a 360×740 phone and a desktop, light and dark: nothing may scroll
/// sideways. (The screenshots of every view are taken by the accessibility scan, in
/// `browser_a11y.rs`.)
fn on_phone_and_desktop(page: &Page) {
    for (width, height, phone) in [(360, 740, true), (1280, 800, false)] {
        page.viewport(width, height, phone);
        for scheme in ["light", "dark"] {
            page.color_scheme(scheme);
            page.assert_no_sideways_scroll();
        }
    }
}

#[test]
fn the_sign_in_view_offers_its_controls_and_fits_phones_and_desktops() {
    let Some(page) = browser::page() else { return };
    let server = TestServer::start();
    page.goto(&format!("{}/", server.base));
    page.role("textbox", "Email");
    page.field("Password");
    page.role("button", "Sign in");
    page.role("link", "Create an account");
    page.role("link", "Forgot password?");
    on_phone_and_desktop(&page);
    page.assert_clean();
}

#[test]
fn registering_through_the_form_signs_one_in() {
    let Some(page) = browser::page() else { return };
    let server = TestServer::start();
    page.goto(&format!("{}/", server.base));
    page.role("link", "Create an account").click();
    fill_registration(&page);
    page.viewport(360, 740, true);
    page.assert_no_sideways_scroll();
    page.role("button", "Create account").click();
    assert_signed_in(&page);
    page.assert_clean();
}

#[test]
fn a_wrong_password_shows_an_alert_and_does_not_sign_in() {
    let Some(page) = browser::page() else { return };
    let server = TestServer::start();
    let ada = server.register("Ada");
    let email = ada["email"].as_str().expect("email");
    page.submit_sign_in(&server, email, "not the password at all");
    let alert = page.find(&["alert"], Name::Any);
    page.wait_until("the alert to say something", || {
        !alert.text().trim().is_empty()
    });
    assert!(!page.has("button", Name::Exactly("New conversation")));
    page.role("button", "Sign in");
    page.assert_clean();
}

/// Waits for the first mail in the server's outbox and returns the reset link in it.
fn reset_link(server: &TestServer) -> String {
    let link = |mail: &str| -> Option<String> {
        let start = mail.find("http")?;
        let link: String = mail[start..]
            .chars()
            .take_while(|c| !c.is_whitespace())
            .collect();
        link.contains("token=").then_some(link)
    };
    let mail = server.wait_for_mail("reset mail", |mail| link(mail).is_some());
    link(&mail).expect("the reset link")
}

#[test]
fn the_reset_mail_link_sets_a_new_password_through_the_pages() {
    let Some(page) = browser::page() else { return };
    let server = TestServer::start_with(&["--mail-command", "cat >> {dir}/outbox"]);
    let ada = server.register("Ada");
    let email = ada["email"].as_str().expect("email");
    page.goto(&format!("{}/", server.base));
    page.role("link", "Forgot password?").click();
    page.role("textbox", "Email").fill(email);
    page.role("button", "Send reset link").click();
    let link = reset_link(&server);
    assert!(link.starts_with(&server.base), "{link}");
    page.goto(&link);
    page.field("New password").fill(NEW_PASSWORD);
    page.role("button", "Set password").click();
    // Success shows the sign-in view or signs one in; either way the new password works.
    page.wait_until("the reset to finish", || {
        page.has("button", Name::Exactly("Sign in"))
            || page.has("button", Name::Exactly("New conversation"))
    });
    assert_eq!(server.login(email, PASSWORD).status, 401);
    let reset_page_problems = page.problems();
    let fresh = browser::page().expect("browser");
    fresh.submit_sign_in(&server, email, NEW_PASSWORD);
    assert_signed_in(&fresh);
    assert!(
        reset_page_problems.is_empty(),
        "the reset pages had problems: {reset_page_problems:#?}"
    );
    fresh.assert_clean();
}

/// Ada (signed in through the form) starts a direct conversation with Bob from
/// "New conversation"; Bob, signed in on his own page, opens it from his list.
fn ada_writes_to_bob(server: &TestServer, ada_page: &Page, bob_page: &Page) {
    let ada = server.register("Ada");
    let bob = server.register("Bob");
    bob_page.sign_in(server, bob["email"].as_str().expect("email"));
    ada_page.sign_in(server, ada["email"].as_str().expect("email"));
    ada_page.role("button", "New conversation").click();
    ada_page
        .find(&["searchbox", "textbox"], Name::Exactly("Search people"))
        .fill("Bob");
    ada_page
        .find(&["button", "option"], Name::Exactly("Bob"))
        .click();
    ada_page.role("log", "Messages");
    open(bob_page, "Ada");
}

/// Starts watching `page`'s message log for `text`: the time it shows up is kept in
/// `window.__seenAt` (epoch milliseconds, the clock every page of the browser shares).
fn watch_log_for(page: &Page, text: &str) {
    page.role("log", "Messages").call(&format!(
        "function() {{
           const log = this, text = {text};
           const check = () => {{
             if (window.__seenAt === undefined && log.textContent.includes(text))
               window.__seenAt = performance.timeOrigin + performance.now();
           }};
           window.__seenAt = undefined;
           new MutationObserver(check).observe(log, {{subtree: true, childList: true, characterData: true}});
           check();
         }}",
        text = json!(text)
    ));
}

/// Types `text` into the composer and presses Enter; the epoch milliseconds of the keydown.
fn send_with_enter(page: &Page, text: &str) -> f64 {
    page.eval(
        "window.addEventListener('keydown', (e) => {
           if (e.key === 'Enter') window.__enterAt = performance.timeOrigin + performance.now();
         }, {capture: true, once: true})",
    );
    page.role("textbox", "Message").submit(text);
    page.wait_for_js("window.__enterAt");
    page.eval("window.__enterAt").as_f64().expect("enter time")
}

#[test]
fn a_message_typed_by_ada_appears_live_on_bobs_page() {
    let Some([ada, bob]) = browser::pages() else {
        return;
    };
    let server = TestServer::start();
    ada_writes_to_bob(&server, &ada, &bob);
    let text = "Hello Bob, this arrives live";
    watch_log_for(&bob, text);
    let sent = send_with_enter(&ada, text);
    bob.wait_for_js("window.__seenAt");
    let seen = bob.eval("window.__seenAt").as_f64().expect("seen time");
    let delay = seen - sent;
    println!("live delivery: Enter on Ada's page to Bob's DOM in {delay:.1} ms");
    // The figure is reported; the bound only catches a message that never comes live.
    assert!(delay < 5000.0, "took {delay} ms");
    let log = ada.role("log", "Messages");
    ada.wait_until("Ada to see her own message", || log.text().contains(text));
    on_phone_and_desktop(&bob);
    ada.assert_clean();
    bob.assert_clean();
}

#[test]
fn a_message_that_looks_like_html_shows_as_text() {
    let Some([ada, bob]) = browser::pages() else {
        return;
    };
    let server = TestServer::start();
    ada_writes_to_bob(&server, &ada, &bob);
    let text = "<img src=x onerror=alert(1)>";
    send_with_enter(&ada, text);
    for page in [&ada, &bob] {
        let log = page.role("log", "Messages");
        page.wait_until("the message to show as literal text", || {
            log.text().contains(text)
        });
        assert_eq!(
            page.eval("document.querySelectorAll('img[src=\"x\"]').length"),
            0,
            "the message became an image"
        );
        page.assert_clean();
    }
}

/// The visible header buttons' distinct tops and the header's height over a button's: one
/// row means one top and a header less than twice a button's height.
fn header_rows(page: &Page) -> (usize, f64) {
    let found = page.eval(
        "(() => {
           const buttons = [...document.querySelectorAll('header button')].filter((b) => b.offsetParent);
           const tops = new Set(buttons.map((b) => Math.round(b.getBoundingClientRect().top)));
           const header = document.querySelector('header').getBoundingClientRect().height;
           return {tops: tops.size, ratio: header / buttons[0].getBoundingClientRect().height};
         })()",
    );
    (
        usize::try_from(found["tops"].as_u64().expect("tops")).expect("count"),
        found["ratio"].as_f64().expect("ratio"),
    )
}

#[test]
fn a_phone_shows_the_list_or_the_conversation_and_a_desktop_both() {
    let Some(page) = browser::page() else { return };
    let server = TestServer::start();
    let ada = server.user("Ada");
    let bob = server.user("Bob");
    let direct = server.direct(&bob.token, ada.id);
    server.say(&bob.token, direct, "Hello Ada");
    page.viewport(360, 740, true);
    page.sign_in(&server, &ada.email);
    page.role("navigation", "Conversations");
    assert!(!page.has("log", Name::Exactly("Messages")));
    let (tops, ratio) = header_rows(&page);
    assert!(
        tops == 1 && ratio < 2.0,
        "the header wraps: {tops} rows, {ratio}"
    );
    page.assert_no_sideways_scroll();
    page.screenshot("conversation-list-phone-light");

    open(&page, "Bob");
    let log = page.role("log", "Messages");
    page.wait_until("the message to show", || log.text().contains("Hello Ada"));
    assert!(!page.has("navigation", Name::Exactly("Conversations")));
    assert_eq!(page.eval("document.activeElement.tagName"), "TEXTAREA");
    page.assert_no_sideways_scroll();

    page.role("button", "Back to conversations").click();
    page.role("navigation", "Conversations");
    assert!(!page.has("log", Name::Exactly("Messages")));
    assert!(
        page.eval("document.activeElement.textContent")
            .as_str()
            .is_some_and(|name| name.starts_with("Bob")),
        "going back focuses the conversation in the list"
    );
    page.assert_no_sideways_scroll();

    // The browser's (the phone's) own back returns to the list as well.
    open(&page, "Bob");
    page.eval("history.back()");
    page.role("navigation", "Conversations");
    page.wait_until("the conversation to close", || {
        !page.has("log", Name::Exactly("Messages"))
    });

    page.viewport(1280, 800, false);
    open(&page, "Bob");
    page.role("navigation", "Conversations");
    assert!(!page.has("button", Name::Exactly("Back to conversations")));
    page.assert_no_sideways_scroll();
    page.assert_clean();
}
