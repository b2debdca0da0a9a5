//! Live updates in real headless Chromium pages against the real binary: reactions, edits and
//! deletes reach the other person's page, a group of three, and a server that goes away and
//! comes back while the pages stay open. Each test skips itself (loudly) when there is no
//! Chromium outside CI.

use crate::util::browser::{self, Name, Page};
use crate::util::{PASSWORD, TestServer};

/// Opens `/` and signs in through the form as `email`.
fn sign_in(page: &Page, server: &TestServer, email: &str) {
    page.goto(&format!("{}/", server.base));
    page.role("textbox", "Email").fill(email);
    page.field("Password").fill(PASSWORD);
    page.role("button", "Sign in").click();
    page.role("button", "New conversation");
}

/// Opens the conversation whose list entry starts with `name`.
fn open(page: &Page, name: &str) {
    page.find(&["button", "link"], Name::StartsWith(name))
        .click();
    page.role("log", "Messages");
}

/// How many messages of the open conversation contain `text`.
fn articles_with(page: &Page, text: &str) -> usize {
    let count = page.role("log", "Messages").call(&format!(
        "function() {{
           return [...this.querySelectorAll('article')]
             .filter((a) => a.textContent.includes({text})).length;
         }}",
        text = serde_json::json!(text)
    ));
    usize::try_from(count.as_u64().expect("a count")).expect("small")
}

/// Waits until the open conversation shows `text` in exactly one message.
fn wait_for_one(page: &Page, text: &str) {
    page.wait_until(&format!("one message saying {text:?}"), || {
        articles_with(page, text) == 1
    });
}

/// Waits until the message log says `text` somewhere, or, with `shown` false, nowhere.
fn wait_for_log(page: &Page, text: &str, shown: bool) {
    let log = page.role("log", "Messages");
    page.wait_until(&format!("the log to show {text:?}: {shown}"), || {
        log.text().contains(text) == shown
    });
}

/// Waits for a reaction button whose name starts with 👍 and contains `count`.
fn wait_for_thumbs(page: &Page, count: &str) {
    page.wait_until(&format!("a 👍 reaction counting {count}"), || {
        page.has("button", Name::StartsWith("👍"))
            && page
                .find(&["button"], Name::StartsWith("👍"))
                .text()
                .contains(count)
    });
}

/// What the connection status says.
fn status(page: &Page) -> String {
    page.find(&["status"], Name::Any).text()
}

#[test]
fn reactions_edits_and_deletes_appear_live_on_the_other_page() {
    let Some(ada_page) = browser::page() else { return };
    let bob_page = browser::page().expect("browser");
    let server = TestServer::start();
    let ada = server.user("Ada");
    let bob = server.register("Bob");
    let bob_id = bob["id"].as_i64().expect("id");
    let reply = server.conversation(&ada.token, &[bob_id], None);
    assert_eq!(reply.status, 201, "{}", reply.body);
    let id = reply.body["conversation"]["id"].as_i64().expect("id");
    server.say(&ada.token, id, "Shall we meet at noon?");
    sign_in(&ada_page, &server, &ada.email);
    sign_in(&bob_page, &server, bob["email"].as_str().expect("email"));
    open(&ada_page, "Bob");
    open(&bob_page, "Ada");
    wait_for_one(&bob_page, "Shall we meet at noon?");

    bob_page.role("button", "React").click();
    bob_page.role("button", "👍").click();
    wait_for_thumbs(&ada_page, "1");
    ada_page.find(&["button"], Name::StartsWith("👍")).click();
    wait_for_thumbs(&bob_page, "2");

    ada_page.role("button", "Edit").click();
    ada_page.field("Edit message").submit("Shall we meet at one?");
    wait_for_log(&bob_page, "Shall we meet at one?", true);
    wait_for_log(&bob_page, "edited", true);
    wait_for_log(&bob_page, "noon", false);

    ada_page.role("button", "Delete").click();
    ada_page.role("button", "Delete").click();
    for page in [&bob_page, &ada_page] {
        wait_for_one(page, "Message deleted");
        wait_for_log(page, "meet at one", false);
        page.assert_clean();
    }
}
