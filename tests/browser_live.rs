//! Live updates in real headless Chromium pages against the real binary: reactions, edits and
//! deletes reach the other person's page, a group of three, and a server that goes away and
//! comes back while the pages stay open. Each test skips itself (loudly) when there is no
//! Chromium outside CI.

use crate::util::browser::{self, Name, Page};
use crate::util::client::{articles_with, open, status, wait_for_log, wait_for_reconnecting};
use crate::util::{TestServer, TestUser};

/// Waits until the open conversation shows `text` in exactly one message.
fn wait_for_one(page: &Page, text: &str) {
    page.wait_until(&format!("one message saying {text:?}"), || {
        articles_with(page, text) == 1
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

/// Fails the test if any request of the page failed: a live page whose server is up has no
/// reason to see one.
fn assert_no_failed_request(page: &Page) {
    let failed = page.failed_requests();
    assert!(failed.is_empty(), "requests failed: {failed:#?}");
}

/// Fails the test if a request failed for any reason but the server being away: while it is
/// down the page's tries (a stream ticket, an unsent message) are refused, and that is
/// expected; an error status (a reused ticket, a server error) is not.
fn assert_failed_only_while_down(page: &Page) {
    let failed = page.failed_requests();
    assert!(
        failed
            .iter()
            .all(|f| f.contains("net::ERR_CONNECTION_REFUSED")),
        "requests failed other than by a refused connection: {failed:#?}"
    );
}

#[test]
fn reactions_edits_and_deletes_appear_live_on_the_other_page() {
    let Some([ada_page, bob_page]) = browser::pages() else {
        return;
    };
    let server = TestServer::start();
    let ada = server.user("Ada");
    let bob = server.register("Bob");
    let bob_id = bob["id"].as_i64().expect("id");
    let id = server.direct(&ada.token, bob_id);
    server.say(&ada.token, id, "Shall we meet at noon?");
    ada_page.sign_in(&server, &ada.email);
    bob_page.sign_in(&server, bob["email"].as_str().expect("email"));
    open(&ada_page, "Bob");
    open(&bob_page, "Ada");
    wait_for_one(&bob_page, "Shall we meet at noon?");

    bob_page.role("button", "React").click();
    bob_page.role("button", "👍").click();
    wait_for_thumbs(&ada_page, "1");
    ada_page.find(&["button"], Name::StartsWith("👍")).click();
    wait_for_thumbs(&bob_page, "2");

    ada_page.role("button", "Edit").click();
    ada_page
        .field("Edit message")
        .submit("Shall we meet at one?");
    wait_for_log(&bob_page, "Shall we meet at one?", true);
    wait_for_log(&bob_page, "edited", true);
    wait_for_log(&bob_page, "noon", false);

    ada_page.role("button", "Delete").click();
    ada_page.role("button", "Delete").click();
    for page in [&bob_page, &ada_page] {
        wait_for_one(page, "Message deleted");
        wait_for_log(page, "meet at one", false);
        page.assert_clean();
        assert_no_failed_request(page);
    }
}

#[test]
fn a_group_of_three_made_on_the_page_sees_a_message_live() {
    let Some([ada_page, bob_page, cy_page]) = browser::pages() else {
        return;
    };
    let server = TestServer::start();
    let people = [("Ada", &ada_page), ("Bob", &bob_page), ("Cy", &cy_page)];
    for (name, page) in people {
        let user = server.register(name);
        page.sign_in(&server, user["email"].as_str().expect("email"));
    }
    ada_page.role("button", "New conversation").click();
    ada_page.field("Group name").fill("Book club");
    for name in ["Bob", "Cy"] {
        ada_page
            .find(&["searchbox", "textbox"], Name::Exactly("Search people"))
            .fill(name);
        ada_page
            .find(&["button", "togglebutton", "option"], Name::Exactly(name))
            .click();
    }
    ada_page.role("button", "Create group").click();
    ada_page.role("log", "Messages");
    open(&bob_page, "Book club");
    open(&cy_page, "Book club");

    ada_page
        .role("textbox", "Message")
        .submit("Welcome to the book club");
    for (_, page) in people {
        wait_for_one(page, "Welcome to the book club");
    }
    cy_page.role("textbox", "Message").submit("Glad to be here");
    for (_, page) in people {
        wait_for_one(page, "Glad to be here");
        page.assert_clean();
        assert_no_failed_request(page);
    }
}

/// Ada and Bob, signed in on their pages, with their direct conversation open and showing
/// a first message; Ada's and Bob's tokens and the conversation's id.
fn ada_and_bob_chatting(
    server: &TestServer,
    ada_page: &Page,
    bob_page: &Page,
) -> (TestUser, TestUser, i64) {
    let (ada, bob, id) = server.ada_and_bob();
    server.say(&ada.token, id, "Before the server went away");
    ada_page.sign_in(server, &ada.email);
    bob_page.sign_in(server, &bob.email);
    open(ada_page, "Bob");
    open(bob_page, "Ada");
    for page in [ada_page, bob_page] {
        wait_for_one(page, "Before the server went away");
    }
    (ada, bob, id)
}

/// Sends a last message through the API and waits for both pages to show it: the live
/// stream delivers in order, so whatever the pages were still to receive has come by then.
fn settle(server: &TestServer, user: &TestUser, id: i64, pages: [&Page; 2]) {
    server.say(&user.token, id, "Last one, to settle");
    for page in pages {
        wait_for_one(page, "Last one, to settle");
        page.wait_until("the status to clear", || status(page).is_empty());
    }
}

#[test]
fn after_a_server_restart_both_pages_reconnect_and_show_what_was_sent_once() {
    let Some([ada_page, bob_page]) = browser::pages() else {
        return;
    };
    let mut server = TestServer::start();
    let (ada, bob, id) = ada_and_bob_chatting(&server, &ada_page, &bob_page);

    server.stop();
    for page in [&ada_page, &bob_page] {
        wait_for_reconnecting(page);
    }
    server.start_again();
    server.say(&bob.token, id, "Sent by Bob while the pages were away");
    server.say(&ada.token, id, "Sent by Ada from her phone meanwhile");

    settle(&server, &bob, id, [&ada_page, &bob_page]);
    for page in [&ada_page, &bob_page] {
        for text in [
            "Before the server went away",
            "Sent by Bob while the pages were away",
            "Sent by Ada from her phone meanwhile",
        ] {
            assert_eq!(articles_with(page, text), 1, "{text}");
        }
        page.assert_clean();
        assert_failed_only_while_down(page);
    }
}

#[test]
fn a_message_typed_while_the_server_is_down_is_delivered_once_when_it_returns() {
    let Some([ada_page, bob_page]) = browser::pages() else {
        return;
    };
    let mut server = TestServer::start();
    let (ada, _, id) = ada_and_bob_chatting(&server, &ada_page, &bob_page);
    let text = "Typed while the server was down";

    server.stop();
    wait_for_reconnecting(&ada_page);
    ada_page.role("textbox", "Message").submit(text);
    wait_for_one(&ada_page, text);
    wait_for_log(&ada_page, "Sending…", true);
    server.start_again();

    wait_for_one(&bob_page, text);
    wait_for_log(&ada_page, "Sending…", false);
    settle(&server, &ada, id, [&ada_page, &bob_page]);
    for page in [&ada_page, &bob_page] {
        assert_eq!(articles_with(page, text), 1);
        page.assert_clean();
        assert_failed_only_while_down(page);
    }
    let stored: i64 = server
        .open_db()
        .query_row(
            "SELECT count(*) FROM messages WHERE body = ?1",
            [text],
            |row| row.get(0),
        )
        .expect("count");
    assert_eq!(stored, 1);
}
