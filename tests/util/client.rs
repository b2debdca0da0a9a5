//! What the browser tests do and read on EmoteChat's own web client, shared by the
//! `browser*.rs` files so that the client's roles, names and markup that they rely on are
//! written down once: opening a conversation, the messages and names it shows, and the
//! connection status.

use serde_json::{Value, json};

use super::browser::{Name, Page};
use super::{PASSWORD, TestServer, TestUser, unique_email};

/// Ada and Bob with their direct conversation (see `TestServer::ada_and_bob`), and Ada
/// signed in on `page` with it open; Ada, Bob and its id.
pub fn ada_with_bob_open(server: &TestServer, page: &Page) -> (TestUser, TestUser, i64) {
    let (ada, bob, id) = server.ada_and_bob();
    page.sign_in(server, &ada.email);
    open(page, "Bob");
    (ada, bob, id)
}

/// Fills in the registration form for a new person, Ada Lovelace, with a fresh email and the
/// test password (without submitting it).
pub fn fill_registration(page: &Page) {
    page.role("textbox", "Name").fill("Ada Lovelace");
    page.role("textbox", "Email").fill(&unique_email("ada"));
    page.field("Password").fill(PASSWORD);
}

/// Opens the conversation whose list entry starts with `name`.
pub fn open(page: &Page, name: &str) {
    page.find(&["button", "link"], Name::StartsWith(name))
        .click();
    page.role("log", "Messages");
}

/// The texts of the open conversation's messages, top to bottom.
pub fn shown_texts(page: &Page) -> Vec<String> {
    let texts = page.role("log", "Messages").call(
        "function() { return [...this.querySelectorAll('article .body')].map((b) => b.textContent); }",
    );
    serde_json::from_value(texts).expect("texts")
}

/// Waits until the open conversation shows a message saying exactly `text`.
pub fn wait_for_text(page: &Page, text: &str) {
    page.wait_until(&format!("a message saying {text:?}"), || {
        shown_texts(page).iter().any(|t| t == text)
    });
}

/// Waits until the message log says `text` somewhere, or, with `shown` false, nowhere.
pub fn wait_for_log(page: &Page, text: &str, shown: bool) {
    let log = page.role("log", "Messages");
    page.wait_until(&format!("the log to show {text:?}: {shown}"), || {
        log.text().contains(text) == shown
    });
}

/// How many messages of the open conversation contain `text`.
pub fn articles_with(page: &Page, text: &str) -> usize {
    let count = page.role("log", "Messages").call(&format!(
        "function() {{
           return [...this.querySelectorAll('article')]
             .filter((a) => a.textContent.includes({text})).length;
         }}",
        text = json!(text)
    ));
    usize::try_from(count.as_u64().expect("a count")).expect("small")
}

/// The names the conversation list shows, top to bottom.
pub fn conversation_names(page: &Page) -> Vec<String> {
    let names = page.role("navigation", "Conversations").call(
        "function() { return [...this.querySelectorAll('button .name')].map((n) => n.textContent); }",
    );
    serde_json::from_value(names).expect("names")
}

/// What the connection status says (empty while connected).
pub fn status(page: &Page) -> String {
    page.find(&["status"], Name::Any).text()
}

/// Waits until the page says it is reconnecting.
pub fn wait_for_reconnecting(page: &Page) {
    page.wait_until("\"Reconnecting…\"", || status(page) == "Reconnecting…");
}

/// The token the page keeps for its session.
pub fn token_of(page: &Page) -> String {
    page.eval("localStorage.getItem('emotechat.token')")
        .as_str()
        .expect("a token")
        .to_owned()
}

/// The names of what the client keeps in the page's localStorage, sorted.
pub fn kept(page: &Page) -> Value {
    page.eval("Object.keys(localStorage).filter((k) => k.startsWith('emotechat.')).sort()")
}
