//! Search and replies in real headless Chromium against the real binary: the "Search" dialog
//! and its results (matches in <mark>, user text as text), opening a conversation at a found
//! message far back in its history, and replying: the "Replying to" line, the quoted preview
//! that follows an edit of the original, and jumping from the quote to the original. Each
//! test skips itself (loudly) when there is no Chromium outside CI.

use serde_json::{Value, json};

use crate::util::browser::{self, Name, Page};
use crate::util::{TestServer, TestUser};

/// A server without rate limits: the tests send more messages than a person would.
fn server() -> TestServer {
    TestServer::start_with(&["--rate-limits", "off"])
}

/// Sends `count` filler messages.
fn fill(server: &TestServer, user: &TestUser, id: i64, count: usize) {
    for i in 0..count {
        server.say(&user.token, id, &format!("filler {i}"));
    }
}

/// The text of the message that has the focus (empty when the focus is not on a message).
fn focused_message(page: &Page) -> String {
    page.eval(
        "document.activeElement.closest('article')?.querySelector('.body')?.textContent ?? ''",
    )
    .as_str()
    .unwrap_or_default()
    .to_owned()
}

#[test]
fn a_search_result_opens_its_conversation_at_the_message() {
    let Some(page) = browser::page() else {
        return;
    };
    let server = server();
    let ada = server.user("Ada");
    let bob = server.user("Bob");
    let trip = server.group_titled(&ada.token, &[bob.id], "Trip");
    server.say(
        &bob.token,
        trip,
        "The Zanzibar itinerary <img src=x onerror=alert(1)>",
    );
    // far enough back that the newest page does not hold it
    fill(&server, &bob, trip, 70);
    let other = server.group_titled(&ada.token, &[bob.id], "Other");
    server.say(&ada.token, other, "nothing here");

    page.sign_in(&server, &ada.email);
    page.role("button", "Search").click();
    page.role("searchbox", "Search messages").fill("zanzib");
    let result = page.find(&["button"], Name::StartsWith("Trip"));
    let shown: Value = result.call(
        "function() {
           return {
             marks: [...this.querySelectorAll('mark')].map((m) => m.textContent),
             snippet: this.querySelector('.snippet').textContent,
             images: this.querySelectorAll('img').length,
           };
         }",
    );
    assert_eq!(
        shown,
        json!({
            "marks": ["Zanzibar"],
            "snippet": "The Zanzibar itinerary <img src=x onerror=alert(1)>",
            "images": 0
        })
    );
    result.click();
    page.wait_until("the found message has the focus", || {
        focused_message(&page).starts_with("The Zanzibar itinerary")
    });
    let heading = page.eval("document.querySelector('.pane-head h2').textContent");
    assert_eq!(heading, "Trip");
    page.assert_clean();
}

#[test]
fn a_search_with_nothing_found_says_so() {
    let Some(page) = browser::page() else {
        return;
    };
    let server = server();
    let ada = server.user("Ada");
    page.sign_in(&server, &ada.email);
    page.role("button", "Search").click();
    page.role("searchbox", "Search messages").fill("nowhere");
    page.wait_until("the notice", || {
        page.eval("document.querySelector('dialog.search .notice').textContent")
            == "No messages found."
    });
}

#[test]
fn replying_shows_the_quote_which_follows_edits_and_jumps_to_the_original() {
    let Some(page) = browser::page() else {
        return;
    };
    let server = server();
    let ada = server.user("Ada");
    let bob = server.user("Bob");
    let id = server.group_titled(&ada.token, &[bob.id], "Lunch");
    let original = server.say(&bob.token, id, "Lunch at noon?\nor later");

    page.sign_in(&server, &ada.email);
    page.find(&["button"], Name::StartsWith("Lunch")).click();
    page.role("button", "Reply").click();
    page.wait_until("the replying line", || {
        page.eval("document.querySelector('.replying')?.textContent ?? ''")
            .as_str()
            .is_some_and(|t| t.starts_with("Replying to Bob"))
    });
    page.role("button", "Cancel reply").click();
    page.wait_until("no replying line", || {
        page.eval("document.querySelector('.replying') === null") == true
    });
    page.role("button", "Reply").click();
    page.type_text("Yes!");
    page.press("Enter");
    page.role("button", "Reply to Bob: Lunch at noon?");
    let stored = server.get(&format!("/api/conversations/{id}/messages"), &ada.token);
    assert_eq!(stored.body["messages"][1]["reply_to"]["id"], original);
    assert!(!page.has("button", Name::StartsWith("Cancel reply")));

    // Bob edits the original: the quote follows, from the event alone.
    let edited = server
        .request(
            "PATCH",
            &format!("/api/conversations/{id}/messages/{original}"),
        )
        .token(&bob.token)
        .json(&json!({"body": "Lunch at one?"}))
        .send();
    assert_eq!(edited.status, 200);
    page.role("button", "Reply to Bob: Lunch at one?");

    // Far newer messages, then a reply to the original from Bob: its quote loads the
    // history around the original and shows it.
    fill(&server, &bob, id, 70);
    let reply = server.send(
        &bob.token,
        id,
        json!({"body": "about that lunch", "reply_to": original}),
    );
    assert_eq!(reply.status, 201);
    page.reload();
    page.find(&["button"], Name::StartsWith("Lunch")).click();
    page.wait_until("the reply is shown", || {
        page.eval("[...document.querySelectorAll('article .body')].some((b) => b.textContent === 'about that lunch')") == true
    });
    let quotes = page.eval("document.querySelectorAll('.quote').length");
    assert_eq!(quotes, 1, "only the newest reply is on the newest page");
    page.role("button", "Reply to Bob: Lunch at one?").click();
    page.wait_until("the original has the focus", || {
        focused_message(&page) == "Lunch at one?"
    });
    page.assert_clean();
}

/// Cy joined a group that hides its earlier history: a reply to an earlier message shows Cy a
/// quote that says nothing of it, live and after a reload, and the page holds none of its text.
#[test]
fn a_reply_to_a_message_hidden_from_the_reader_quotes_nothing() {
    let Some(page) = browser::page() else {
        return;
    };
    let server = server();
    let (ada, bob, cy) = (server.user("Ada"), server.user("Bob"), server.user("Cy"));
    let id = server.group_titled(&ada.token, &[bob.id], "Party");
    let secret = server.say(&ada.token, id, "the surprise is on Friday");
    for (method, path, body) in [
        (
            "PATCH",
            format!("/api/conversations/{id}"),
            json!({"history_visible": false}),
        ),
        (
            "POST",
            format!("/api/conversations/{id}/members"),
            json!({"user_ids": [cy.id]}),
        ),
    ] {
        let changed = server
            .request(method, &path)
            .token(&ada.token)
            .json(&body)
            .send();
        assert_eq!(changed.status, 200, "{}", changed.body);
    }

    page.sign_in(&server, &cy.email);
    page.find(&["button"], Name::StartsWith("Party")).click();
    let sent = server.send(
        &bob.token,
        id,
        json!({"body": "count me in", "reply_to": secret}),
    );
    assert_eq!(sent.status, 201, "{}", sent.body);
    let quote = || {
        page.wait_until("the reply is shown", || {
            page.eval("[...document.querySelectorAll('article .body')].some((b) => b.textContent === 'count me in')") == true
        });
        page.eval("document.querySelector('.quote')?.textContent ?? ''")
    };
    let shown = |page: &Page| page.eval("document.body.textContent.includes('surprise')");
    assert_eq!(quote(), "A message you cannot see", "live");
    assert_eq!(shown(&page), false);
    page.reload();
    page.find(&["button"], Name::StartsWith("Party")).click();
    assert_eq!(quote(), "A message you cannot see", "from history");
    assert_eq!(shown(&page), false);
    assert!(!page.has("button", Name::StartsWith("Reply to")));
    page.assert_clean();
}
