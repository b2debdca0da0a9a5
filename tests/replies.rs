//! Replies: `reply_to` when sending, the preview of the original that follows its edits and
//! deletes (in answers and in stored events), the errors, and history `around` a message.

use serde_json::{Value, json};

use crate::util::sse::{SseEvent, Stream, subscribe};
use crate::util::{TestServer, TestUser};

fn reply(server: &TestServer, token: &str, id: i64, to: Value, text: &str) -> crate::util::Reply {
    server.send(token, id, json!({"body": text, "reply_to": to}))
}

fn history(server: &TestServer, token: &str, id: i64, query: &str) -> Value {
    let reply = server.get(&format!("/api/conversations/{id}/messages{query}"), token);
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body
}

/// The preview of a live original its reader sees.
fn quoting(original: i64, sender: (&TestUser, &str), excerpt: &str) -> Value {
    json!({
        "id": original,
        "sender": {"id": sender.0.id, "name": sender.1},
        "excerpt": excerpt,
        "deleted": false,
        "hidden": false
    })
}

fn ids(page: &Value) -> Vec<i64> {
    page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["id"].as_i64().expect("id"))
        .collect()
}

#[test]
fn a_reply_carries_a_preview_of_the_original() {
    let server = TestServer::start();
    let (ada, bob, id) = server.ada_and_bob_group();
    let original = server.say(&ada.token, id, "\n  Lunch at noon?  \nBring the plans.");
    let sent = reply(&server, &bob.token, id, json!(original), "Yes!");
    assert_eq!(sent.status, 201, "{}", sent.body);
    let preview = quoting(original, (&ada, "Ada"), "Lunch at noon?");
    assert_eq!(sent.body["message"]["reply_to"], preview);
    let page = history(&server, &ada.token, id, "");
    assert_eq!(page["messages"][1]["reply_to"], preview);
    assert_eq!(page["messages"][0]["reply_to"], json!(null));
    let created = server
        .events()
        .into_iter()
        .rfind(|(_, kind, _)| kind == "message.created")
        .expect("an event");
    assert_eq!(created.2["message"]["reply_to"], preview);
}

#[test]
fn a_preview_is_the_first_line_cut_at_100_characters() {
    let server = TestServer::start();
    let (ada, _, id) = server.ada_and_bob_group();
    let exact = server.say(&ada.token, id, &"é".repeat(100));
    let long = server.say(&ada.token, id, &format!("{}\nmore", "a".repeat(150)));
    let to_exact = reply(&server, &ada.token, id, json!(exact), "r");
    assert_eq!(
        to_exact.body["message"]["reply_to"]["excerpt"],
        "é".repeat(100)
    );
    let to_long = reply(&server, &ada.token, id, json!(long), "r");
    assert_eq!(
        to_long.body["message"]["reply_to"]["excerpt"],
        format!("{}…", "a".repeat(99))
    );
}

#[test]
fn the_preview_follows_edits_and_deletes_everywhere() {
    let server = TestServer::start();
    let (ada, bob, id) = server.ada_and_bob_group();
    let original = server.say(&ada.token, id, "first draft of the plan");
    let answer = reply(&server, &bob.token, id, json!(original), "looks good");
    assert_eq!(answer.status, 201, "{}", answer.body);
    let path = format!("/api/conversations/{id}/messages/{original}");
    let edited = server
        .request("PATCH", &path)
        .token(&ada.token)
        .json(&json!({"body": "the final plan"}))
        .send();
    assert_eq!(edited.status, 200);
    let page = history(&server, &bob.token, id, "");
    assert_eq!(page["messages"][1]["reply_to"]["excerpt"], "the final plan");
    let stored = serde_json::to_string(&server.events()).expect("json");
    assert!(!stored.contains("first draft"), "{stored}");

    let deleted = server.request("DELETE", &path).token(&ada.token).send();
    assert_eq!(deleted.status, 200);
    let page = history(&server, &bob.token, id, "");
    assert_eq!(
        page["messages"][1]["reply_to"],
        json!({"id": original, "sender": {"id": ada.id, "name": "Ada"}, "excerpt": "", "deleted": true, "hidden": false})
    );
    let stored = serde_json::to_string(&server.events()).expect("json");
    assert!(!stored.contains("final plan"), "{stored}");
    // the original's own events tell clients which previews to update
    let kinds: Vec<String> = server
        .events()
        .into_iter()
        .filter(|(_, _, data)| data["message"]["id"] == original)
        .map(|(_, kind, _)| kind)
        .collect();
    assert_eq!(
        kinds,
        ["message.created", "message.updated", "message.deleted"]
    );
}

#[test]
fn reply_to_must_name_a_live_message_of_the_same_conversation() {
    let server = TestServer::start();
    let (ada, bob, id) = server.ada_and_bob_group();
    let elsewhere = server.group(&ada.token, &[bob.id]);
    let other = server.say(&ada.token, elsewhere, "in another conversation");
    let gone = server.say(&ada.token, id, "soon deleted");
    let path = format!("/api/conversations/{id}/messages/{gone}");
    assert_eq!(
        server
            .request("DELETE", &path)
            .token(&ada.token)
            .send()
            .status,
        200
    );

    for bad in [json!(other), json!(other + 1000)] {
        reply(&server, &bob.token, id, bad, "x").assert_field_error(
            400,
            "validation_failed",
            "reply_to",
        );
    }
    for bad in [json!(0), json!(-1), json!("1"), json!(1.5), json!([1])] {
        reply(&server, &bob.token, id, bad, "x").assert_field_error(
            400,
            "validation_failed",
            "reply_to",
        );
    }
    reply(&server, &bob.token, id, json!(gone), "x").assert_error(409, "conflict");
    let plain = reply(&server, &bob.token, id, json!(null), "not a reply");
    assert_eq!(plain.status, 201, "{}", plain.body);
    assert_eq!(plain.body["message"]["reply_to"], json!(null));
    // a stranger is refused before anything about the message is said
    let cy = server.user("Cy");
    reply(&server, &cy.token, id, json!(gone), "x").assert_error(404, "not_found");
}

#[test]
fn history_around_a_message_loads_both_sides() {
    let server = TestServer::start();
    let (ada, _, id) = server.ada_and_bob_group();
    let sent: Vec<i64> = (0..10)
        .map(|i| server.say(&ada.token, id, &format!("m{i}")))
        .collect();
    let page = history(
        &server,
        &ada.token,
        id,
        &format!("?around={}&limit=4", sent[4]),
    );
    assert_eq!(ids(&page), sent[3..7]);
    assert_eq!(
        (page["has_more"].clone(), page["has_newer"].clone()),
        (json!(true), json!(true))
    );

    let page = history(
        &server,
        &ada.token,
        id,
        &format!("?around={}&limit=5", sent[8]),
    );
    assert_eq!(ids(&page), sent[6..10]);
    assert_eq!(page["has_newer"], false);
    let page = history(
        &server,
        &ada.token,
        id,
        &format!("?around={}&limit=4", sent[1]),
    );
    assert_eq!(ids(&page), sent[0..4]);
    assert_eq!(page["has_more"], false);
    assert_eq!(page["has_newer"], true);
    // pages without `around` keep their shape
    assert!(
        history(&server, &ada.token, id, "")
            .get("has_newer")
            .is_none()
    );

    let both = format!(
        "/api/conversations/{id}/messages?around={}&before=3",
        sent[4]
    );
    server
        .get(&both, &ada.token)
        .assert_field_error(400, "invalid_parameter", "around");
    let bad = format!("/api/conversations/{id}/messages?around=x");
    server
        .get(&bad, &ada.token)
        .assert_field_error(400, "invalid_parameter", "around");
}

/// A message hidden from the sender (from before they joined a group that hides its history)
/// cannot be replied to, with the same answer as one that does not exist.
#[test]
fn a_message_hidden_from_the_sender_cannot_be_replied_to() {
    let server = TestServer::start();
    let (ada, bob, id) = server.ada_and_bob_group();
    let before = server.say(&ada.token, id, "from before Bob joined");
    server.hide_history_before(id, bob.id, before);
    reply(&server, &bob.token, id, json!(before), "x").assert_field_error(
        400,
        "validation_failed",
        "reply_to",
    );
    assert_eq!(
        reply(&server, &ada.token, id, json!(before), "x").status,
        201
    );
}

/// The newest stored event's id: a point to resume a stream from.
fn newest_event(server: &TestServer) -> i64 {
    server
        .open_db()
        .query_row("SELECT max(id) FROM events", [], |row| row.get(0))
        .expect("events")
}

/// A reply to a message hidden from a newcomer (from before they joined a group that hides its
/// history) quotes nothing of it to them: not live, not resumed (also once they are gone), not
/// in history, the conversation's last message or search; the others see the whole preview.
#[test]
fn a_reply_quotes_nothing_of_an_original_hidden_from_the_reader() {
    let server = TestServer::start();
    let (ada, bob, id) = server.ada_and_bob_group();
    let cy = server.user("Cy");
    let secret = server.say(&ada.token, id, "the surprise party is on Friday");
    let hide = server
        .request("PATCH", &format!("/api/conversations/{id}"))
        .token(&ada.token)
        .json(&json!({"history_visible": false}))
        .send();
    assert_eq!(hide.status, 200, "{}", hide.body);
    let members = format!("/api/conversations/{id}/members");
    let added = server
        .request("POST", &members)
        .token(&ada.token)
        .json(&json!({"user_ids": [cy.id]}))
        .send();
    assert_eq!(added.status, 200, "{}", added.body);
    let before_reply = newest_event(&server);
    let mut cy_stream = subscribe(&server, &cy, None);
    let mut ada_stream = subscribe(&server, &ada, None);

    let sent = reply(&server, &bob.token, id, json!(secret), "I'll bring cake");
    assert_eq!(sent.status, 201, "{}", sent.body);
    let whole = quoting(secret, (&ada, "Ada"), "the surprise party is on Friday");
    let hidden =
        json!({"id": secret, "sender": null, "excerpt": "", "deleted": false, "hidden": true});
    assert_eq!(sent.body["message"]["reply_to"], whole);
    let quote = |event: SseEvent, kind: &str| {
        assert_eq!(event.kind, kind, "{}", event.data);
        event.data["message"]["reply_to"].clone()
    };
    assert_eq!(quote(next(&mut cy_stream), "message.created"), hidden);
    assert_eq!(quote(next(&mut ada_stream), "message.created"), whole);

    let newest = |who: &TestUser| {
        let page = history(&server, &who.token, id, "");
        page["messages"]
            .as_array()
            .and_then(|m| m.last().cloned())
            .expect("a message")
    };
    assert_eq!(newest(&cy)["reply_to"], hidden);
    assert_eq!(newest(&ada)["reply_to"], whole);
    let listed = server.get(&format!("/api/conversations/{id}"), &cy.token);
    assert_eq!(
        listed.body["conversation"]["last_message"]["reply_to"],
        hidden
    );
    let found = server.get("/api/search/messages?q=cake", &cy.token);
    assert_eq!(
        found.body["hits"][0]["message"]["reply_to"], hidden,
        "{}",
        found.body
    );

    let reply_id = sent.body["message"]["id"].as_i64().expect("id");
    let edited = server
        .request(
            "PATCH",
            &format!("/api/conversations/{id}/messages/{reply_id}"),
        )
        .token(&bob.token)
        .json(&json!({"body": "I'll bring two cakes"}))
        .send();
    assert_eq!(edited.status, 200, "{}", edited.body);
    assert_eq!(quote(next(&mut cy_stream), "message.updated"), hidden);
    assert_eq!(quote(next(&mut ada_stream), "message.updated"), whole);

    let resumed = |who: &TestUser| subscribe(&server, who, Some(before_reply)).stored(2);
    for event in resumed(&cy) {
        assert_eq!(event.data["message"]["reply_to"], hidden, "{}", event.kind);
    }
    for event in resumed(&ada) {
        assert_eq!(event.data["message"]["reply_to"], whole, "{}", event.kind);
    }
    // Gone from the group, Cy resumes from inside the span the membership had.
    let removed = server
        .request("DELETE", &format!("{members}/{}", cy.id))
        .token(&ada.token)
        .send();
    assert_eq!(removed.status, 200, "{}", removed.body);
    let kept = subscribe(&server, &cy, Some(before_reply)).stored(3);
    let kinds: Vec<&str> = kept.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["message.created", "message.updated", "member.left"]);
    assert_eq!(kept[0].data["message"]["reply_to"], hidden);
    assert_eq!(kept[1].data["message"]["reply_to"], hidden);
}

/// The next stored event; panics if none comes.
fn next(stream: &mut Stream) -> SseEvent {
    stream.stored(1).pop().expect("an event")
}
