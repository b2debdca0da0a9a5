//! The open conversation in real headless Chromium pages against the real binary: who is
//! typing, history paging upwards without a jump, and unread counts with the "New messages"
//! divider. Each test skips itself (loudly) when there is no Chromium outside CI.

use serde_json::{Value, json};

use crate::util::TestServer;
use crate::util::browser::{self, Name, Page};
use crate::util::client::{open, shown_texts, wait_for_text};

/// What the open conversation says about who is typing (in one look at the page, together
/// with whether a message saying `text` is shown yet).
fn typing_and_shown(page: &Page, text: &str) -> (String, bool) {
    let seen = page.role("region", "Conversation").call(&format!(
        "function() {{
           return {{
             typing: this.querySelector('[aria-live]')?.textContent ?? '',
             shown: [...this.querySelectorAll('article .body')].some((b) => b.textContent === {text}),
           }};
         }}",
        text = json!(text)
    ));
    (
        seen["typing"].as_str().expect("typing").to_owned(),
        seen["shown"] == true,
    )
}

fn typing_line(page: &Page) -> String {
    typing_and_shown(page, "").0
}

#[test]
fn bob_sees_ada_typing_until_she_stops_or_her_message_arrives() {
    let Some([ada_page, bob_page]) = browser::pages() else {
        return;
    };
    let server = TestServer::start();
    let (ada, bob, id) = server.ada_and_bob();
    server.say(&bob.token, id, "Are you coming?");
    ada_page.sign_in(&server, &ada.email);
    bob_page.sign_in(&server, &bob.email);
    open(&ada_page, "Bob");
    open(&bob_page, "Ada");
    assert_eq!(typing_line(&bob_page), "");

    // Typing and then clearing the composer: the notice goes once no more typing comes (the
    // client's own few seconds, well within the test's wait).
    let composer = ada_page.role("textbox", "Message");
    composer.fill("Hm");
    bob_page.wait_until("\"Ada is typing…\"", || {
        typing_line(&bob_page) == "Ada is typing…"
    });
    composer.call("function() { this.value = ''; }");
    bob_page.wait_until("the typing notice to go", || {
        typing_line(&bob_page).is_empty()
    });

    // Typing and sending: the notice goes when the message arrives, in the same update.
    let text = "On my way";
    composer.fill(text);
    bob_page.wait_until("\"Ada is typing…\" again", || {
        typing_line(&bob_page) == "Ada is typing…"
    });
    ada_page.press("Enter");
    let typing_when_shown = loop {
        let (typing, shown) = typing_and_shown(&bob_page, text);
        if shown {
            break typing;
        }
        assert_eq!(
            typing, "Ada is typing…",
            "the notice went before the message came"
        );
    };
    assert_eq!(
        typing_when_shown, "",
        "the message came and Ada still types"
    );
    // Ada's own page never says she is typing.
    assert_eq!(typing_line(&ada_page), "");
    for page in [&ada_page, &bob_page] {
        page.assert_clean();
    }
}

/// How many messages the open conversation's log holds, and how far it is scrolled from
/// its bottom.
fn log_view(page: &Page) -> Value {
    page.role("log", "Messages").call(
        "function() {
           return {
             count: this.querySelectorAll('article').length,
             from_bottom: this.scrollHeight - this.scrollTop - this.clientHeight,
           };
         }",
    )
}

/// Where the message saying `text` is, from the log's top edge, in CSS pixels.
fn offset_of(page: &Page, text: &str) -> f64 {
    page.role("log", "Messages")
        .call(&format!(
            "function() {{
               const article = [...this.querySelectorAll('article')]
                 .find((a) => a.querySelector('.body').textContent === {text});
               return article.getBoundingClientRect().top - this.getBoundingClientRect().top;
             }}",
            text = json!(text)
        ))
        .as_f64()
        .expect("an offset")
}

/// Scrolls the log to its top; the first message in view then and its offset, measured in
/// the same turn of the page, before the scroll event can load anything.
fn scroll_to_top(page: &Page) -> (String, f64) {
    let top = page.role("log", "Messages").call(
        "function() {
           this.scrollTop = 0;
           const top = this.getBoundingClientRect().top;
           const first = this.querySelector('article');
           return {text: first.querySelector('.body').textContent,
                   offset: first.getBoundingClientRect().top - top};
         }",
    );
    (
        top["text"].as_str().expect("text").to_owned(),
        top["offset"].as_f64().expect("offset"),
    )
}

/// How many "New messages" dividers the log shows, and the text of the message right after
/// the first one.
fn divider(page: &Page) -> Value {
    page.role("log", "Messages").call(
        "function() {
           const dividers = [...this.children].filter((c) => c.textContent === 'New messages');
           const next = dividers[0]?.nextElementSibling;
           return {count: dividers.length, before: next?.querySelector('.body').textContent ?? null};
         }",
    )
}

/// Messages stored, more than three pages of the client's 50.
const HISTORY: usize = 170;

#[test]
fn scrolling_up_loads_older_pages_without_a_jump_down_to_the_first_message() {
    let Some(page) = browser::page() else { return };
    let server = TestServer::start_with(&["--sends-per-user", "1000/1s"]);
    let (ada, bob, id) = server.ada_and_bob();
    let texts: Vec<String> = (1..=HISTORY).map(|n| format!("Message {n}")).collect();
    // Bob wrote the first ten, so Ada's 160 after them are unread for him.
    for (n, text) in texts.iter().enumerate() {
        let author = if n < 10 { &bob } else { &ada };
        server.say(&author.token, id, text);
    }
    page.sign_in(&server, &bob.email);
    open(&page, "Ada");

    page.wait_until("the newest page at the bottom", || {
        let view = log_view(&page);
        view["count"] == 50 && view["from_bottom"].as_f64().is_some_and(|d| d < 1.0)
    });
    assert_eq!(shown_texts(&page), texts[HISTORY - 50..]);
    assert_eq!(divider(&page), json!({"before": null, "count": 0}));

    let mut count = 50;
    while count < HISTORY {
        let (top, before) = scroll_to_top(&page);
        page.wait_until("an older page", || {
            log_view(&page)["count"].as_u64() > Some(count as u64)
        });
        let after = offset_of(&page, &top);
        assert!(
            (after - before).abs() <= 2.0,
            "{top:?} moved from {before} to {after} px"
        );
        count = usize::try_from(log_view(&page)["count"].as_u64().expect("count")).expect("small");
    }
    assert_eq!(shown_texts(&page), texts, "each message once, in order");
    assert_eq!(
        divider(&page),
        json!({"before": "Message 11", "count": 1}),
        "the divider above the first unread, placed when its page came"
    );
    page.assert_clean();
}

/// Whether the conversation list's entry for `name` is named (as a screen reader says it)
/// with its unread count, `NAME N unread`, or, with `None`, by the name alone.
fn list_entry_says(page: &Page, name: &str, unread: Option<u64>) -> bool {
    let full = match unread {
        Some(n) => format!("{name} {n} unread"),
        None => name.to_owned(),
    };
    page.has("button", Name::Exactly(&full))
}

fn wait_for_title(page: &Page, title: &str) {
    page.wait_until(&format!("the title {title:?}"), || {
        page.eval("document.title") == title
    });
}

#[test]
fn unread_messages_count_in_the_title_and_list_and_are_read_from_the_divider() {
    let Some(page) = browser::page() else { return };
    let server = TestServer::start();
    let ada = server.user("Ada");
    let bob = server.user("Bob");
    let cy = server.user("Cy");
    let with_ada = server.direct(&ada.token, bob.id);
    let with_cy = server.direct(&cy.token, bob.id);
    let earlier = server.say(&ada.token, with_ada, "Earlier, already read");
    server.say(&bob.token, with_ada, "Read it");
    server.say(&bob.token, with_cy, "Hello Cy");
    page.sign_in(&server, &bob.email);
    open(&page, "Cy");
    wait_for_title(&page, "EmoteChat");

    let mut unread: Vec<i64> = (1..=3)
        .map(|n| server.say(&ada.token, with_ada, &format!("New one {n}")))
        .collect();
    wait_for_title(&page, "(3) EmoteChat");
    page.wait_until("Ada's entry to count 3", || {
        list_entry_says(&page, "Ada", Some(3))
    });
    // A message deleted before it was read no longer counts.
    let taken_back = server.say(&ada.token, with_ada, "Taken back");
    wait_for_title(&page, "(4) EmoteChat");
    let deleted = server
        .request(
            "DELETE",
            &format!("/api/conversations/{with_ada}/messages/{taken_back}"),
        )
        .token(&ada.token)
        .send();
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    wait_for_title(&page, "(3) EmoteChat");

    // The counts come from the server: a reload shows them again.
    page.goto(&format!("{}/", server.base));
    page.role("button", "New conversation");
    wait_for_title(&page, "(3) EmoteChat");
    page.wait_until("Ada's entry to count 3 after the reload", || {
        list_entry_says(&page, "Ada", Some(3))
    });
    // With no conversation open, the list and the title count live too.
    unread.push(server.say(&ada.token, with_ada, "New one 4"));
    wait_for_title(&page, "(4) EmoteChat");
    page.wait_until("Ada's entry to count 4", || {
        list_entry_says(&page, "Ada", Some(4))
    });

    open(&page, "Ada");
    wait_for_text(&page, "New one 4");
    assert_eq!(divider(&page), json!({"before": "New one 1", "count": 1}));
    wait_for_title(&page, "EmoteChat");
    page.wait_until("Ada's entry without a count", || {
        list_entry_says(&page, "Ada", None)
    });

    let conversation = server.get(&format!("/api/conversations/{with_ada}"), &bob.token);
    assert_eq!(conversation.body["conversation"]["unread_count"], 0);
    // An older id leaves the marker and answers where it is.
    let marker = server
        .request("POST", &format!("/api/conversations/{with_ada}/read"))
        .token(&bob.token)
        .json(&json!({"message_id": earlier}))
        .send();
    assert_eq!(marker.status, 200, "{}", marker.body);
    assert_eq!(marker.body["last_read_message_id"], json!(unread[3]));

    page.goto(&format!("{}/", server.base));
    page.role("button", "New conversation");
    page.wait_until("Ada's entry without a count after the reload", || {
        list_entry_says(&page, "Ada", None)
    });
    wait_for_title(&page, "EmoteChat");
    page.assert_clean();
}
