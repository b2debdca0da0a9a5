//! Emote reactions: emoji and custom emotes, idempotent, tallied per message.

use serde_json::{Value, json};

use crate::util::{PNG, Reply, TestServer, upload};

fn react(server: &TestServer, method: &str, token: &str, id: i64, mid: i64, emote: &str) -> Reply {
    server
        .request(
            method,
            &format!("/api/conversations/{id}/messages/{mid}/reactions/{emote}"),
        )
        .token(token)
        .send()
}

#[test]
fn emoji_reactions_are_idempotent_and_tallied_with_me() {
    let server = TestServer::start();
    let (ada, bob, id) = server.ada_and_bob_group();
    let mid = server.say(&ada.token, id, "react to me");
    let thumbs = "%F0%9F%91%8D";

    let first = react(&server, "PUT", &bob.token, id, mid, thumbs);
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(
        first.body["message"]["reactions"],
        json!([{"emote": "👍", "count": 1, "me": true}])
    );
    let twice = react(&server, "PUT", &bob.token, id, mid, thumbs);
    assert_eq!(
        twice.body["message"]["reactions"],
        json!([{"emote": "👍", "count": 1, "me": true}])
    );

    let ada_too = react(&server, "PUT", &ada.token, id, mid, thumbs);
    assert_eq!(
        ada_too.body["message"]["reactions"],
        json!([{"emote": "👍", "count": 2, "me": true}])
    );
    let heart = react(&server, "PUT", &ada.token, id, mid, "%E2%9D%A4%EF%B8%8F");
    assert_eq!(
        heart.body["message"]["reactions"],
        json!([{"emote": "👍", "count": 2, "me": true}, {"emote": "❤️", "count": 1, "me": true}])
    );

    let removed = react(&server, "DELETE", &bob.token, id, mid, thumbs);
    assert_eq!(removed.status, 200);
    let history = server.get(&format!("/api/conversations/{id}/messages"), &bob.token);
    assert_eq!(
        history.body["messages"][0]["reactions"],
        json!([{"emote": "👍", "count": 1, "me": false}, {"emote": "❤️", "count": 1, "me": false}])
    );
    let absent = react(&server, "DELETE", &bob.token, id, mid, thumbs);
    assert_eq!(absent.status, 200);
    assert_eq!(absent.body["message"]["reactions"][0]["count"], 1);
}

#[test]
fn custom_emotes_react_by_shortcode_when_they_exist() {
    let server = TestServer::start();
    let (ada, bob, id) = server.ada_and_bob_group();
    let mid = server.say(&ada.token, id, "custom");
    react(&server, "PUT", &bob.token, id, mid, ":party:").assert_field_error(
        400,
        "validation_failed",
        "emote",
    );
    assert_eq!(upload(&server, &ada.token, "party", PNG).status, 201);
    let reply = react(&server, "PUT", &bob.token, id, mid, "%3Aparty%3A");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.body["message"]["reactions"],
        json!([{"emote": ":party:", "count": 1, "me": true}])
    );
}

#[test]
fn anything_but_one_emoji_or_a_shortcode_is_refused() {
    let server = TestServer::start();
    let (ada, _, id) = server.ada_and_bob_group();
    let mid = server.say(&ada.token, id, "x");
    for bad in [
        "a",
        "ab",
        "%F0%9F%91%8D%F0%9F%91%8D",
        ":Bad:",
        "%3A%3A",
        "1",
        "%20",
    ] {
        react(&server, "PUT", &ada.token, id, mid, bad).assert_field_error(
            400,
            "validation_failed",
            "emote",
        );
    }
    // One grapheme of several code points: a family, a flag, a skin tone.
    for emoji in [
        "%F0%9F%91%A8%E2%80%8D%F0%9F%91%A9%E2%80%8D%F0%9F%91%A7",
        "%F0%9F%87%AB%F0%9F%87%B7",
        "%F0%9F%91%8D%F0%9F%8F%BD",
    ] {
        assert_eq!(
            react(&server, "PUT", &ada.token, id, mid, emoji).status,
            200,
            "{emoji}"
        );
    }
}

#[test]
fn a_message_carries_at_most_50_distinct_emotes() {
    let server = TestServer::start();
    let (ada, bob, id) = server.ada_and_bob_group();
    let mid = server.say(&ada.token, id, "so many");
    // 51 distinct emoji: U+1F600 onwards.
    let emoji: Vec<String> = (0x1F600..0x1F600 + 51)
        .map(|cp| {
            let text = char::from_u32(cp).expect("char").to_string();
            text.bytes().map(|b| format!("%{b:02X}")).collect()
        })
        .collect();
    for e in &emoji[..50] {
        assert_eq!(react(&server, "PUT", &ada.token, id, mid, e).status, 200);
    }
    react(&server, "PUT", &ada.token, id, mid, &emoji[50]).assert_field_error(
        400,
        "validation_failed",
        "emote",
    );
    // Joining an emote that is already there is still fine.
    let joined = react(&server, "PUT", &bob.token, id, mid, &emoji[0]);
    assert_eq!(joined.status, 200);
    let reactions: &Vec<Value> = joined.body["message"]["reactions"]
        .as_array()
        .expect("reactions");
    assert_eq!(reactions.len(), 50);
    assert_eq!(reactions[0]["count"], 2);
}

#[test]
fn a_deleted_message_takes_no_reactions_and_loses_its_own() {
    let server = TestServer::start();
    let (ada, _, id) = server.ada_and_bob_group();
    let mid = server.say(&ada.token, id, "bye");
    react(&server, "PUT", &ada.token, id, mid, "%F0%9F%91%8D");
    let deleted = server
        .request("DELETE", &format!("/api/conversations/{id}/messages/{mid}"))
        .token(&ada.token)
        .send();
    assert_eq!(deleted.body["message"]["reactions"], json!([]));
    react(&server, "PUT", &ada.token, id, mid, "%F0%9F%91%8D").assert_error(409, "conflict");
    assert_eq!(
        react(&server, "DELETE", &ada.token, id, mid, "%F0%9F%91%8D").status,
        200
    );
}
