//! Messages: sending, idempotent retries, history cursors, edits, deletes and read state.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use serde_json::{Value, json};

use crate::util::{TestServer, TestUser, at_once};

fn history(server: &TestServer, token: &str, id: i64, query: &str) -> (Vec<i64>, bool) {
    let reply = server.get(&format!("/api/conversations/{id}/messages{query}"), token);
    assert_eq!(reply.status, 200, "{}", reply.body);
    let ids = reply.body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["id"].as_i64().expect("id"))
        .collect();
    (ids, reply.body["has_more"].as_bool().expect("has_more"))
}

#[test]
fn a_sent_message_has_the_contract_shape() {
    let server = TestServer::start();
    let (ada, _, id) = server.ada_and_bob_group();
    let reply = server.send(&ada.token, id, json!({"body": "  Hello, Bob! 👋 "}));
    assert_eq!(reply.status, 201, "{}", reply.body);
    let message = &reply.body["message"];
    assert_eq!(message["conversation_id"], id);
    assert_eq!(message["sender"], json!({"id": ada.id, "name": "Ada"}));
    assert_eq!(message["body"], "  Hello, Bob! 👋 ");
    assert_eq!(message["edited_at"], json!(null));
    assert_eq!(message["deleted"], false);
    assert_eq!(message["reactions"], json!([]));
    assert_eq!(message["client_id"], json!(null));
    assert_eq!(message["reply_to"], json!(null));
    assert_eq!(message["attachments"], json!([]));
    assert_eq!(message.as_object().expect("object").len(), 11);
}

#[test]
fn message_bodies_and_client_ids_are_validated_at_their_limits() {
    let server = TestServer::start();
    let (ada, _, id) = server.ada_and_bob_group();
    let send = |body: Value| server.send(&ada.token, id, body);
    assert_eq!(send(json!({"body": "é".repeat(4000)})).status, 201);
    send(json!({"body": "é".repeat(4001)})).assert_field_error(400, "validation_failed", "body");
    send(json!({"body": " \n\t "})).assert_field_error(400, "validation_failed", "body");
    send(json!({"body": ""})).assert_field_error(400, "validation_failed", "body");
    send(json!({"body": 42})).assert_field_error(400, "validation_failed", "body");
    send(json!({})).assert_field_error(400, "validation_failed", "body");
    assert_eq!(
        send(json!({"body": "x", "client_id": "c".repeat(64)})).status,
        201
    );
    send(json!({"body": "x", "client_id": "c".repeat(65)})).assert_field_error(
        400,
        "validation_failed",
        "client_id",
    );
    send(json!({"body": "x", "client_id": ""})).assert_field_error(
        400,
        "validation_failed",
        "client_id",
    );
    assert_eq!(send(json!({"body": "x", "client_id": null})).status, 201);
}

#[test]
fn a_retry_with_the_same_client_id_returns_the_original() {
    let server = TestServer::start();
    let (ada, bob, id) = server.ada_and_bob_group();
    let first = server.send(
        &ada.token,
        id,
        json!({"body": "once", "client_id": "abc-1"}),
    );
    assert_eq!(first.status, 201);
    let retry = server.send(
        &ada.token,
        id,
        json!({"body": "changed?", "client_id": "abc-1"}),
    );
    assert_eq!(retry.status, 200);
    assert_eq!(retry.body["message"], first.body["message"]);
    assert_eq!(retry.body["message"]["client_id"], "abc-1");
    // The same client_id from another sender is another message.
    assert_eq!(
        server
            .send(
                &bob.token,
                id,
                json!({"body": "mine", "client_id": "abc-1"})
            )
            .status,
        201
    );
    assert_eq!(history(&server, &ada.token, id, "").0.len(), 2);
}

#[test]
fn concurrent_retries_store_one_message() {
    let server = TestServer::start();
    let (ada, _, id) = server.ada_and_bob_group();
    let replies: Vec<(u16, Value)> = at_once(12, |_| {
        let reply = server.send(&ada.token, id, json!({"body": "hi", "client_id": "same"}));
        (reply.status, reply.body["message"]["id"].clone())
    });
    assert_eq!(
        replies.iter().filter(|(s, _)| *s == 201).count(),
        1,
        "{replies:?}"
    );
    assert_eq!(
        replies.iter().filter(|(s, _)| *s == 200).count(),
        11,
        "{replies:?}"
    );
    assert!(replies.iter().all(|(_, mid)| *mid == replies[0].1));
    assert_eq!(history(&server, &ada.token, id, "").0.len(), 1);
}

#[test]
fn history_pages_newest_first_and_by_cursor() {
    let server = TestServer::start();
    let (ada, _, id) = server.ada_and_bob_group();
    let sent: Vec<i64> = (0..120)
        .map(|i| server.say(&ada.token, id, &format!("m{i}")))
        .collect();

    let (newest, more) = history(&server, &ada.token, id, "");
    assert_eq!(newest, sent[70..].to_vec());
    assert!(more);
    let (older, more) = history(
        &server,
        &ada.token,
        id,
        &format!("?before={}&limit=100", sent[70]),
    );
    assert_eq!(older, sent[..70].to_vec());
    assert!(!more);
    let (newer, more) = history(
        &server,
        &ada.token,
        id,
        &format!("?after={}&limit=10", sent[9]),
    );
    assert_eq!(newer, sent[10..20].to_vec());
    assert!(more);
    let (last, more) = history(&server, &ada.token, id, &format!("?after={}", sent[100]));
    assert_eq!(last, sent[101..].to_vec());
    assert!(!more);
    assert_eq!(
        history(&server, &ada.token, id, "?limit=1").0,
        vec![sent[119]]
    );
    assert_eq!(history(&server, &ada.token, id, "?limit=100").0.len(), 100);
    for (query, field) in [
        ("?limit=0", "limit"),
        ("?limit=101", "limit"),
        ("?before=abc", "before"),
        ("?after=-1", "after"),
        ("?before=5&after=1", "after"),
    ] {
        server
            .get(
                &format!("/api/conversations/{id}/messages{query}"),
                &ada.token,
            )
            .assert_field_error(400, "invalid_parameter", field);
    }
}

/// Walks 250 messages page by page in both directions while another member keeps sending:
/// no message is skipped or seen twice.
#[test]
fn cursor_walks_have_no_gap_or_duplicate_while_messages_arrive() {
    let server = TestServer::start();
    let (ada, bob, id) = server.ada_and_bob_group();
    let sent: Vec<i64> = (0..250)
        .map(|i| server.say(&ada.token, id, &format!("m{i}")))
        .collect();
    let writing = AtomicBool::new(true);
    thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let mut extra = Vec::new();
            while writing.load(Ordering::Relaxed) {
                extra.push(server.say(&bob.token, id, "meanwhile"));
            }
            extra
        });

        let mut backwards = Vec::new();
        let (mut page, mut more) = history(
            &server,
            &ada.token,
            id,
            &format!("?before={}&limit=7", sent[249] + 1),
        );
        loop {
            backwards.splice(0..0, page.iter().copied());
            if !more {
                break;
            }
            (page, more) = history(
                &server,
                &ada.token,
                id,
                &format!("?before={}&limit=7", page[0]),
            );
        }
        assert_eq!(backwards, sent);

        let mut forwards = Vec::new();
        let mut cursor = 0;
        loop {
            let (page, more) =
                history(&server, &ada.token, id, &format!("?after={cursor}&limit=9"));
            forwards.extend(&page);
            cursor = *page.last().unwrap_or(&cursor);
            if !more || forwards.len() > 400 {
                break;
            }
        }
        writing.store(false, Ordering::Relaxed);
        let extra = writer.join().expect("writer");
        assert_eq!(forwards[..250], sent[..]);
        let unique: BTreeSet<i64> = forwards.iter().copied().collect();
        assert_eq!(unique.len(), forwards.len(), "no duplicates");
        assert!(forwards.windows(2).all(|w| w[0] < w[1]));
        // Everything the walk saw past the first 250 came from the writer, in its order.
        assert_eq!(forwards[250..], extra[..forwards.len() - 250]);
    });
}

#[test]
fn only_the_sender_edits_and_a_deleted_message_cannot_be_edited() {
    let server = TestServer::start();
    let (ada, bob, id) = server.ada_and_bob_group();
    let mid = server.say(&ada.token, id, "typo");
    let path = format!("/api/conversations/{id}/messages/{mid}");
    let edit = |token: &str, body: Value| {
        server
            .request("PATCH", &path)
            .token(token)
            .json(&body)
            .send()
    };

    edit(&bob.token, json!({"body": "hacked"})).assert_error(403, "forbidden");
    edit(&ada.token, json!({"body": "é".repeat(4001)})).assert_field_error(
        400,
        "validation_failed",
        "body",
    );
    let edited = edit(&ada.token, json!({"body": "fixed"}));
    assert_eq!(edited.status, 200, "{}", edited.body);
    assert_eq!(edited.body["message"]["body"], "fixed");
    assert!(edited.body["message"]["edited_at"].is_string());

    server
        .request("DELETE", &path)
        .token(&bob.token)
        .send()
        .assert_error(403, "forbidden");
    let deleted = server.request("DELETE", &path).token(&ada.token).send();
    assert_eq!(deleted.status, 200);
    let tombstone = &deleted.body["message"];
    assert_eq!(tombstone["deleted"], true);
    assert_eq!(tombstone["body"], "");
    assert_eq!(tombstone["id"], mid);
    assert_eq!(
        tombstone["created_at"],
        edited.body["message"]["created_at"]
    );
    edit(&ada.token, json!({"body": "back"})).assert_error(409, "conflict");
    let again = server.request("DELETE", &path).token(&ada.token).send();
    assert_eq!(again.body["message"], *tombstone);

    let reply = server.get(&format!("/api/conversations/{id}/messages"), &bob.token);
    assert_eq!(reply.body["messages"][0], *tombstone);
    server
        .request("PATCH", &format!("/api/conversations/{id}/messages/999999"))
        .token(&ada.token)
        .json(&json!({"body": "x"}))
        .send()
        .assert_error(404, "not_found");
}

#[test]
fn a_message_is_only_reachable_through_its_own_conversation() {
    let server = TestServer::start();
    let (ada, bob, id) = server.ada_and_bob_group();
    let other = server.group(&ada.token, &[bob.id]);
    let mid = server.say(&ada.token, id, "here");
    server
        .request(
            "DELETE",
            &format!("/api/conversations/{other}/messages/{mid}"),
        )
        .token(&ada.token)
        .send()
        .assert_error(404, "not_found");
}

#[test]
fn unread_counts_follow_each_members_read_marker() {
    let server = TestServer::start();
    let ada = server.user("Ada");
    let bob = server.user("Bob");
    let cid = server.user("Cid");
    let id = server.group(&ada.token, &[bob.id, cid.id]);
    let unread = |user: &TestUser| {
        server
            .get(&format!("/api/conversations/{id}"), &user.token)
            .body["conversation"]["unread_count"]
            .as_i64()
            .expect("unread")
    };
    let a1 = server.say(&ada.token, id, "one");
    let a2 = server.say(&ada.token, id, "two");
    let b1 = server.say(&bob.token, id, "three");
    assert_eq!((unread(&ada), unread(&bob), unread(&cid)), (1, 0, 3));

    let read = |user: &TestUser, message: Value| {
        server
            .request("POST", &format!("/api/conversations/{id}/read"))
            .token(&user.token)
            .json(&json!({"message_id": message}))
            .send()
    };
    let reply = read(&cid, json!(a2));
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.body,
        json!({"last_read_message_id": a2, "unread_count": 1})
    );
    let backwards = read(&cid, json!(a1));
    assert_eq!(
        backwards.body,
        json!({"last_read_message_id": a2, "unread_count": 1})
    );

    // Deleted messages stop counting as unread; own messages never count.
    server
        .request("DELETE", &format!("/api/conversations/{id}/messages/{b1}"))
        .token(&bob.token)
        .send();
    assert_eq!((unread(&ada), unread(&bob), unread(&cid)), (0, 0, 0));
    let b2 = server.say(&bob.token, id, "four");
    assert_eq!(read(&ada, json!(b2)).body["unread_count"], 0);

    let elsewhere = server.group(&ada.token, &[bob.id]);
    let foreign = server.say(&ada.token, elsewhere, "other room");
    read(&cid, json!(foreign)).assert_field_error(400, "validation_failed", "message_id");
    read(&cid, json!(999_999)).assert_field_error(400, "validation_failed", "message_id");
    read(&cid, json!("5")).assert_field_error(400, "validation_failed", "message_id");
}
