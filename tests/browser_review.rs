//! Findings of a review of the web client, each shown in real headless Chromium against the
//! real binary: races between a history load and live events, the conversation list's
//! order, dates on older messages, reconnecting when the tab comes back, the composer, drafts,
//! signing out offline, and links. Where a test needs an answer or an event to arrive at a
//! chosen moment, the page holds it (see `HOLDS`) until the test lets it go, so no test races
//! the clock. Each test skips itself (loudly) when there is no Chromium outside CI.

use serde_json::{Value, json};

use crate::util::TestServer;
use crate::util::browser::{self, Name, Page};
use crate::util::client::{
    ada_with_bob_open, conversation_names, kept, open, shown_texts, status, wait_for_reconnecting,
    wait_for_text,
};

/// Run in each document before the page's own scripts: switches a test turns on to hold back
/// (1) the answer to the newest-page request of a conversation, already received, until
/// `__releaseHistory()`; (2) `message.created` stream events until `__releaseEvents()`;
/// (3) the stream's retry wait, which then never ends by itself (`__heldRetries` counts them);
/// (4) every timer of `__holdDelay` milliseconds, likewise. `__seen` counts stream events by
/// type.
const HOLDS: &str = r#"
(() => {
  const realFetch = window.fetch;
  const heldAnswers = [];
  window.__historyAnswered = false;
  window.fetch = function (input, init) {
    const answer = realFetch.call(this, input, init);
    if (!window.__holdHistory || !/\/messages\?limit=/.test(String(input))) return answer;
    answer.then(() => { window.__historyAnswered = true; });
    return new Promise((resolve) => heldAnswers.push(() => resolve(answer)));
  };
  window.__releaseHistory = () => { window.__holdHistory = false; heldAnswers.splice(0).forEach((go) => go()); };

  const heldEvents = [];
  window.__seen = {};
  const listen = EventSource.prototype.addEventListener;
  EventSource.prototype.addEventListener = function (type, listener, options) {
    const maybeHeld = function (event) {
      window.__seen[type] = (window.__seen[type] ?? 0) + 1;
      if (window.__holdCreated && type === 'message.created') heldEvents.push(() => listener.call(this, event));
      else listener.call(this, event);
    };
    return listen.call(this, type, maybeHeld, options);
  };
  window.__releaseEvents = () => { window.__holdCreated = false; heldEvents.splice(0).forEach((go) => go()); };

  const realSetTimeout = window.setTimeout;
  window.__heldRetries = 0;
  window.setTimeout = function (callback, ...rest) {
    if (window.__holdRetries && typeof callback === 'function' && callback.name === 'open') {
      window.__heldRetries += 1;
      return realSetTimeout.call(this, () => {}, 2147483647);
    }
    if (rest[0] === window.__holdDelay) return realSetTimeout.call(this, () => {}, 2147483647);
    return realSetTimeout.call(this, callback, ...rest);
  };
})();
"#;

/// Evaluates `function() {…}` on the message log.
fn on_log(page: &Page, function: &str) -> Value {
    page.role("log", "Messages").call(function)
}

#[test]
fn an_edit_or_delete_shown_while_the_history_loads_is_not_undone_by_it() {
    let Some(bob_page) = browser::page_with(HOLDS) else {
        return;
    };
    let server = TestServer::start();
    let (ada, bob, id) = server.ada_and_bob();
    server.say(&ada.token, id, "First of all");
    let edited = server.say(&ada.token, id, "Meet at noon");
    let deleted = server.say(&ada.token, id, "A second thought");
    bob_page.sign_in(&server, &bob.email);
    bob_page.eval("window.__holdHistory = true");
    open(&bob_page, "Ada");
    // The page has its answer, read before the edit and the delete, but has not used it yet.
    bob_page.wait_for_js("window.__historyAnswered");

    let path = |message: i64| format!("/api/conversations/{id}/messages/{message}");
    let reply = server
        .request("PATCH", &path(edited))
        .token(&ada.token)
        .json(&json!({"body": "Meet at one"}))
        .send();
    assert_eq!(reply.status, 200, "{}", reply.body);
    let reply = server
        .request("DELETE", &path(deleted))
        .token(&ada.token)
        .send();
    assert_eq!(reply.status, 200, "{}", reply.body);
    wait_for_text(&bob_page, "Meet at one");
    wait_for_text(&bob_page, "Message deleted");

    bob_page.eval("window.__releaseHistory()");
    wait_for_text(&bob_page, "First of all");
    assert_eq!(
        shown_texts(&bob_page),
        ["First of all", "Meet at one", "Message deleted"]
    );
    bob_page.assert_clean();
}

#[test]
fn a_message_one_sends_moves_its_conversation_to_the_top() {
    let Some(ada_page) = browser::page_with(HOLDS) else {
        return;
    };
    let server = TestServer::start();
    let (ada, bob, with_bob) = server.ada_and_bob();
    let cy = server.user("Cy");
    let with_cy = server.direct(&ada.token, cy.id);
    server.say(&bob.token, with_bob, "Hello from Bob");
    server.say(&cy.token, with_cy, "Hello from Cy");
    ada_page.sign_in(&server, &ada.email);
    ada_page.wait_until("Cy above Bob", || {
        conversation_names(&ada_page) == ["Cy", "Bob"]
    });
    open(&ada_page, "Bob");

    // The reply to sending comes before the stream's event, as it may on any network.
    ada_page.eval("window.__holdCreated = true");
    ada_page
        .role("textbox", "Message")
        .submit("Back to you, Bob");
    wait_for_text(&ada_page, "Back to you, Bob");
    ada_page.wait_until("the message to be sent", || {
        !on_log(&ada_page, "function() { return this.textContent; }")
            .as_str()
            .expect("text")
            .contains("Sending…")
    });
    ada_page.eval("window.__releaseEvents()");
    ada_page.wait_until("Bob above Cy", || {
        conversation_names(&ada_page) == ["Bob", "Cy"]
    });
    ada_page.assert_clean();
}

#[test]
fn a_message_from_another_day_shows_its_date_and_one_from_today_only_its_time() {
    let Some(page) = browser::page() else {
        return;
    };
    let server = TestServer::start();
    let (ada, bob, id) = server.ada_and_bob();
    let old = server.say(&bob.token, id, "From long ago");
    server.say(&bob.token, id, "From just now");
    const DAYS_400: i64 = 400 * 86_400_000;
    server
        .open_db()
        .execute(
            "UPDATE messages SET created_at = created_at - ?1 WHERE id = ?2",
            rusqlite::params![DAYS_400, old],
        )
        .expect("backdate");
    page.sign_in(&server, &ada.email);
    open(&page, "Bob");
    wait_for_text(&page, "From just now");

    let times = on_log(
        &page,
        "function() { return [...this.querySelectorAll('article time')].map((t) => t.textContent); }",
    );
    let [long_ago, today] = [&times[0], &times[1]].map(|t| t.as_str().expect("text").to_owned());
    let year = page.eval(&format!(
        "String(new Date(Date.now() - {DAYS_400}).getFullYear())"
    ));
    assert!(
        long_ago.contains(year.as_str().expect("year")) && long_ago.len() > today.len(),
        "{long_ago:?} should name the day and year, beside {today:?}"
    );
    assert!(
        today
            .chars()
            .all(|c| c.is_ascii_digit() || ": APM".contains(c)),
        "{today:?} should be a time only"
    );
    page.assert_clean();
}

#[test]
fn coming_back_to_the_tab_reconnects_at_once_without_waiting_out_the_backoff() {
    let Some(page) = browser::page_with(HOLDS) else {
        return;
    };
    let mut server = TestServer::start();
    let ada = server.user("Ada");
    page.sign_in(&server, &ada.email);
    page.wait_until("the stream to open", || status(&page).is_empty());
    page.eval("window.__holdRetries = true");

    server.stop();
    wait_for_reconnecting(&page);
    page.wait_for_js("window.__heldRetries > 0");
    server.start_again();
    // Away to another tab and back.
    drop(page.cover());
    page.wait_until("the stream to open again", || status(&page).is_empty());
    page.assert_clean();
}

/// The composer's height in CSS pixels.
fn composer_height(page: &Page) -> f64 {
    page.role("textbox", "Message")
        .call("function() { return this.getBoundingClientRect().height; }")
        .as_f64()
        .expect("height")
}

#[test]
fn the_composer_grows_with_its_text_up_to_a_limit_and_shrinks_once_sent() {
    let Some(page) = browser::page() else {
        return;
    };
    let server = TestServer::start();
    ada_with_bob_open(&server, &page);
    let one_line = composer_height(&page);

    page.role("textbox", "Message").fill("First line");
    for line in ["Second line", "Third line"] {
        page.press_shift("Enter");
        page.type_text(line);
    }
    let three_lines = composer_height(&page);
    assert!(
        three_lines > one_line * 1.8,
        "{one_line} px for one line, {three_lines} px for three"
    );
    for _ in 0..20 {
        page.press_shift("Enter");
        page.type_text("More");
    }
    let many_lines = composer_height(&page);
    let limit = page.eval("parseFloat(getComputedStyle(document.documentElement).fontSize) * 10");
    assert!(
        many_lines <= limit.as_f64().expect("px") + 0.5 && many_lines > three_lines,
        "{many_lines} px for 23 lines, limit {limit}"
    );

    page.press("Enter");
    let sent = format!("First line\nSecond line\nThird line{}", "\nMore".repeat(20));
    wait_for_text(&page, &sent);
    page.wait_until("the composer to shrink", || {
        (composer_height(&page) - one_line).abs() < 0.5
    });
    page.assert_clean();
}

#[test]
fn choosing_the_open_conversation_again_keeps_the_half_typed_message() {
    let Some(page) = browser::page() else {
        return;
    };
    let server = TestServer::start();
    let (ada, bob, id) = server.ada_and_bob();
    server.say(&bob.token, id, "How was the trip?");
    page.sign_in(&server, &ada.email);
    open(&page, "Bob");
    wait_for_text(&page, "How was the trip?");
    page.role("textbox", "Message").fill("It was lo");

    page.find(&["button"], Name::StartsWith("Bob")).click();
    let composer = page.role("textbox", "Message");
    assert_eq!(
        composer.call("function() { return this.value; }"),
        "It was lo"
    );
    assert_eq!(
        composer.call("function() { return document.activeElement === this; }"),
        true
    );
    assert_eq!(shown_texts(&page), ["How was the trip?"]);
    page.assert_clean();
}

#[test]
fn signing_out_while_the_server_is_away_signs_out_cleanly() {
    let Some(page) = browser::page() else {
        return;
    };
    let mut server = TestServer::start();
    let ada = server.user("Ada");
    page.sign_in(&server, &ada.email);
    server.stop();
    wait_for_reconnecting(&page);

    page.role("button", "Sign out").click();
    page.role("button", "Sign in");
    assert_eq!(kept(&page), json!([]), "the browser forgot the session");
    page.assert_clean();
}

#[test]
fn a_link_ends_before_the_punctuation_that_ends_its_sentence() {
    let Some(page) = browser::page() else {
        return;
    };
    let server = TestServer::start();
    let (ada, bob, id) = server.ada_and_bob();
    let text = "Read https://example.com/a. Or (see https://example.com/b), \
                and https://en.wikipedia.org/wiki/Tea_(drink)!";
    server.say(&bob.token, id, text);
    page.sign_in(&server, &ada.email);
    open(&page, "Bob");
    wait_for_text(&page, text);

    let links = on_log(
        &page,
        "function() {
           return [...this.querySelectorAll('a')].map((a) => [a.getAttribute('href'), a.rel]);
         }",
    );
    let rel = "noopener noreferrer";
    assert_eq!(
        links,
        json!([
            ["https://example.com/a", rel],
            ["https://example.com/b", rel],
            ["https://en.wikipedia.org/wiki/Tea_(drink)", rel]
        ])
    );
    page.assert_clean();
}

#[test]
fn an_edit_in_progress_outlives_a_reaction_to_its_message() {
    let Some(page) = browser::page() else {
        return;
    };
    let server = TestServer::start();
    let (ada, bob, id) = server.ada_and_bob();
    let said = server.say(&ada.token, id, "Let us meet at noon");
    page.sign_in(&server, &ada.email);
    open(&page, "Bob");
    wait_for_text(&page, "Let us meet at noon");
    page.role("button", "Edit").click();
    page.field("Edit message").fill("Let us meet at one");

    let thumbs = "%F0%9F%91%8D";
    let reply = server
        .request(
            "PUT",
            &format!("/api/conversations/{id}/messages/{said}/reactions/{thumbs}"),
        )
        .token(&bob.token)
        .send();
    assert_eq!(reply.status, 200, "{}", reply.body);
    page.find(&["button"], Name::StartsWith("👍"));
    let editor = page.field("Edit message");
    assert_eq!(
        editor.call("function() { return [this.value, document.activeElement === this]; }"),
        json!(["Let us meet at one", true])
    );

    page.press("Enter");
    wait_for_text(&page, "Let us meet at one");
    page.wait_until("the editor to close", || {
        !page.has("textbox", Name::Exactly("Edit message"))
    });
    page.assert_clean();
}

#[test]
fn a_message_the_server_refuses_goes_back_into_the_composer() {
    let Some(page) = browser::page() else {
        return;
    };
    let server = TestServer::start();
    ada_with_bob_open(&server, &page);
    // One character past the longest message the server stores.
    let too_long = "a".repeat(4001);

    page.role("textbox", "Message").submit(&too_long);
    page.wait_until("the refusal", || status(&page).starts_with("Not sent"));
    let kept = page
        .role("textbox", "Message")
        .call("function() { return this.value; }");
    assert!(
        kept == json!(too_long),
        "the composer holds {kept:.40}…, not the refused text"
    );
    assert!(shown_texts(&page).is_empty(), "{:?}", shown_texts(&page));
    page.assert_clean();
}

#[test]
fn a_request_that_finds_the_session_gone_leads_to_the_sign_in_form() {
    let Some(page) = browser::page() else {
        return;
    };
    // The stream would notice only within the hour: what notices here is sending a message.
    let server = TestServer::start_with(&["--stream-session-check", "3600"]);
    let (ada, _, _) = ada_with_bob_open(&server, &page);
    page.wait_until("the stream to open", || status(&page).is_empty());
    server
        .open_db()
        .execute(
            "UPDATE sessions SET expires_at = 0 WHERE user_id = ?1",
            [ada.id],
        )
        .expect("expire the sessions");

    page.role("textbox", "Message").submit("Are you there?");
    page.role("button", "Sign in");
    assert_eq!(kept(&page), json!([]), "the browser forgot the session");
    page.assert_clean();
}

/// Elements of the page wider than the room they have: any that scrolls sideways, or that
/// reaches past the screen's right edge (as `tag.class`, with their sizes). Text for screen
/// readers only is clipped to a pixel on purpose.
fn too_wide(page: &Page) -> Value {
    page.eval(
        "[...document.querySelectorAll('body *')]
           .filter((e) => e.getClientRects().length > 0 && !e.closest('.sr-only, .phone-sr'))
           .filter((e) => e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX !== 'visible'
             || e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
           .map((e) => `${e.tagName.toLowerCase()}.${e.className} ${e.scrollWidth}/${e.clientWidth}`)",
    )
}

#[test]
fn long_unbroken_words_links_and_names_fit_a_phone_and_a_desktop() {
    let Some(page) = browser::page() else {
        return;
    };
    let server = TestServer::start();
    let long_name = "W".repeat(100);
    let ada = server.user("Ada");
    let bob = server.user(&long_name);
    let id = server.direct(&ada.token, bob.id);
    let word = "x".repeat(300);
    let link = format!("https://example.com/{}", "y".repeat(280));
    server.say(&bob.token, id, &word);
    server.say(&bob.token, id, &format!("See {link} now"));
    server.say(&bob.token, id, "🎉🎉🎉");
    page.viewport(360, 740, true);
    page.sign_in(&server, &ada.email);
    page.assert_no_sideways_scroll();
    assert_eq!(too_wide(&page), json!([]), "the list");
    open(&page, &long_name);
    wait_for_text(&page, "🎉🎉🎉");
    page.assert_no_sideways_scroll();
    assert_eq!(too_wide(&page), json!([]), "the conversation");
    page.viewport(1280, 800, false);
    page.assert_no_sideways_scroll();
    assert_eq!(too_wide(&page), json!([]), "the desktop");
    page.assert_clean();
}

#[test]
fn opening_a_conversation_shows_who_is_typing_in_it_already() {
    let Some(page) = browser::page_with(HOLDS) else {
        return;
    };
    let server = TestServer::start();
    let (ada, bob, with_bob) = server.ada_and_bob();
    let cy = server.user("Cy");
    server.direct(&ada.token, cy.id);
    page.sign_in(&server, &ada.email);
    open(&page, "Cy");
    page.wait_until("the stream to open", || status(&page).is_empty());
    // Who is typing is shown for 5 s after their last word: here, until the test ends.
    page.eval("window.__holdDelay = 5000");

    let reply = server
        .request("POST", &format!("/api/conversations/{with_bob}/typing"))
        .token(&bob.token)
        .send();
    assert_eq!(reply.status, 204, "{}", reply.body);
    page.wait_for_js("window.__seen.typing > 0");
    open(&page, "Bob");
    page.wait_until("\"Bob is typing…\"", || {
        page.role("region", "Conversation")
            .call("function() { return this.querySelector('[aria-live]').textContent; }")
            == "Bob is typing…"
    });
    page.assert_clean();
}

#[test]
fn the_notifications_button_stays_until_answered_and_then_hands_on_its_focus() {
    let Some(page) = browser::page() else {
        return;
    };
    // The browser's question, answered by whatever permission the test has granted by then
    // (none: the person closed the question without answering).
    page.before_each_document(
        "Notification.requestPermission = async () => {
           window.__asked = (window.__asked ?? 0) + 1;
           return Notification.permission;
         };",
    );
    let server = TestServer::start();
    let ada = server.user("Ada");
    page.sign_in(&server, &ada.email);
    let button = page.role("button", "Turn on notifications");
    button.call("function() { this.focus(); }");

    page.press("Enter");
    page.wait_for_js("window.__asked === 1");
    let focused = page.focused();
    assert_eq!(
        (focused.role.as_str(), focused.name.as_str()),
        ("button", "Turn on notifications"),
        "the question was not answered: the button stays"
    );

    page.grant(&server.base, &["notifications"]);
    page.press("Enter");
    page.wait_until("the button to go", || {
        !page.has("button", Name::Exactly("Turn on notifications"))
    });
    let focused = page.focused();
    assert_eq!(
        (focused.role.as_str(), focused.name.as_str()),
        ("button", "New conversation"),
        "{focused:?}"
    );
    page.assert_clean();
}
