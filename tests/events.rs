//! The outbox: every change writes exactly one event, in the same transaction; a failed or
//! idempotent change writes none.

use serde_json::json;

use crate::util::{TestServer, sse};

#[test]
fn each_change_writes_exactly_one_event_with_the_contract_payload() {
    let server = TestServer::start();
    let ada = server.user("Ada");
    let bob = server.user("Bob");
    let count = || server.events().len();

    let id = server.group(&ada.token, &[bob.id]);
    let events = server.events();
    assert_eq!(events.len(), 1);
    let (conversation_id, kind, data) = &events[0];
    assert_eq!(
        (*conversation_id, kind.as_str()),
        (id, "conversation.created")
    );
    assert_eq!(data["conversation"]["id"], id);
    assert_eq!(
        data["conversation"]["members"]
            .as_array()
            .expect("members")
            .len(),
        2
    );

    let sent = server.send(&ada.token, id, json!({"body": "hello", "client_id": "k1"}));
    let mid = sent.body["message"]["id"].as_i64().expect("id");
    let last = |expected_kind: &str| {
        let events = server.events();
        let (cid, kind, data) = events.last().expect("an event").clone();
        assert_eq!(cid, id);
        assert_eq!(kind, expected_kind);
        data
    };
    assert_eq!(
        last("message.created"),
        json!({"message": sent.body["message"]})
    );
    assert_eq!(count(), 2);

    let base = format!("/api/conversations/{id}/messages/{mid}");
    server
        .request("PATCH", &base)
        .token(&ada.token)
        .json(&json!({"body": "edited"}))
        .send();
    assert_eq!(last("message.updated")["message"]["body"], "edited");

    server
        .request("PUT", &format!("{base}/reactions/%F0%9F%91%8D"))
        .token(&bob.token)
        .send();
    assert_eq!(
        last("reaction.added"),
        json!({"conversation_id": id, "message_id": mid, "emote": "👍", "user": {"id": bob.id, "name": "Bob"}})
    );
    server
        .request("DELETE", &format!("{base}/reactions/%F0%9F%91%8D"))
        .token(&bob.token)
        .send();
    assert_eq!(last("reaction.removed")["emote"], "👍");

    server
        .request("POST", &format!("/api/conversations/{id}/read"))
        .token(&bob.token)
        .json(&json!({"message_id": mid}))
        .send();
    assert_eq!(
        last("read.updated"),
        json!({"conversation_id": id, "user_id": bob.id, "last_read_message_id": mid})
    );

    server.request("DELETE", &base).token(&ada.token).send();
    let deleted = last("message.deleted");
    assert_eq!(deleted["message"]["deleted"], true);
    assert_eq!(deleted["message"]["body"], "");
    assert_eq!(count(), 7);
}

#[test]
fn failed_and_repeated_changes_write_no_event() {
    let server = TestServer::start();
    let ada = server.user("Ada");
    let bob = server.user("Bob");
    let eve = server.user("Eve");
    let id = server.group(&ada.token, &[bob.id]);
    let mid = server
        .send(&ada.token, id, json!({"body": "x", "client_id": "k"}))
        .body["message"]["id"]
        .as_i64()
        .expect("id");
    let base = format!("/api/conversations/{id}/messages/{mid}");
    server
        .request("PUT", &format!("{base}/reactions/%F0%9F%91%8D"))
        .token(&bob.token)
        .send();
    server
        .request("POST", &format!("/api/conversations/{id}/read"))
        .token(&bob.token)
        .json(&json!({"message_id": mid}))
        .send();
    let before = server.events().len();

    let failures = [
        server.send(&ada.token, id, json!({"body": "k".repeat(4001)})),
        server.send(&eve.token, id, json!({"body": "intruder"})),
        server.send(&ada.token, id, json!({"body": "retry", "client_id": "k"})),
        server
            .request("PATCH", &base)
            .token(&bob.token)
            .json(&json!({"body": "not mine"}))
            .send(),
        server.request("DELETE", &base).token(&bob.token).send(),
        server
            .request("PUT", &format!("{base}/reactions/%F0%9F%91%8D"))
            .token(&bob.token)
            .send(),
        server
            .request("DELETE", &format!("{base}/reactions/%E2%9D%A4%EF%B8%8F"))
            .token(&bob.token)
            .send(),
        server
            .request("PUT", &format!("{base}/reactions/:nope:"))
            .token(&bob.token)
            .send(),
        server
            .request("POST", &format!("/api/conversations/{id}/read"))
            .token(&bob.token)
            .json(&json!({"message_id": mid}))
            .send(),
        server.conversation(&ada.token, &[bob.id, 999_999], None),
    ];
    assert!(failures.iter().all(|r| r.status < 500), "{failures:?}");
    assert_eq!(
        server.events().len(),
        before,
        "no event for a failed or repeated change"
    );
}

/// Reads `GET /api/events?since=0` until the first `message.deleted` event has arrived whole:
/// the raw text of everything a client resuming from the very start is sent.
fn resume_from_start(server: &TestServer, token: &str) -> String {
    let mut stream = sse::open(server, "/api/events?since=0", &sse::bearer(token));
    stream.text_until(|text| {
        text.split_once("event: message.deleted")
            .is_some_and(|(_, rest)| rest.contains("\n\n"))
    })
}

#[test]
fn edited_and_deleted_text_is_gone_from_every_stored_event_and_every_resume() {
    let server = TestServer::start();
    let (ada, bob, id) = server.ada_and_bob_group();
    let kept = server.say(&ada.token, id, "first draft alpha");
    let gone = server.say(&ada.token, id, "regrettable bravo");
    let edit = |mid: i64, text: &str| {
        let reply = server
            .request("PATCH", &format!("/api/conversations/{id}/messages/{mid}"))
            .token(&ada.token)
            .json(&json!({"body": text}))
            .send();
        assert_eq!(reply.status, 200, "{}", reply.body);
    };
    edit(kept, "second draft charlie");
    edit(kept, "final text delta");
    edit(gone, "still regrettable echo");
    server
        .request(
            "PUT",
            &format!("/api/conversations/{id}/messages/{gone}/reactions/%F0%9F%91%8D"),
        )
        .token(&bob.token)
        .send();
    let deleted = server
        .request(
            "DELETE",
            &format!("/api/conversations/{id}/messages/{gone}"),
        )
        .token(&ada.token)
        .send();
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    let taken_back = ["alpha", "bravo", "charlie", "echo"];

    let stored = server.events();
    for (_, kind, data) in &stored {
        let text = data.to_string();
        assert!(
            taken_back.iter().all(|word| !text.contains(word)),
            "stored {kind} still has taken-back text: {text}"
        );
    }
    // What a resumed message.created shows: the message as it is now.
    let created = |mid: i64| {
        stored
            .iter()
            .find(|(_, kind, data)| kind == "message.created" && data["message"]["id"] == mid)
            .map(|(_, _, data)| data["message"].clone())
            .expect("message.created")
    };
    let now_kept = created(kept);
    assert_eq!(now_kept["body"], "final text delta");
    assert!(now_kept["edited_at"].is_string(), "{now_kept}");
    assert_eq!(now_kept["deleted"], false);
    let now_gone = created(gone);
    assert_eq!(
        (
            &now_gone["body"],
            &now_gone["deleted"],
            &now_gone["reactions"]
        ),
        (&json!(""), &json!(true), &json!([]))
    );

    for reader in [&ada, &bob] {
        let resumed = resume_from_start(&server, &reader.token);
        assert!(resumed.contains("final text delta"), "{resumed}");
        for word in taken_back {
            assert!(!resumed.contains(word), "resume shows {word:?}: {resumed}");
        }
        let history = server.get(&format!("/api/conversations/{id}/messages"), &reader.token);
        let history = history.body.to_string();
        assert!(
            taken_back.iter().all(|word| !history.contains(word)),
            "{history}"
        );
    }
}
