//! Conversations: direct and group creation, listing, reading one.

use serde_json::json;

use crate::util::{TestServer, at_once};

#[test]
fn a_direct_conversation_is_created_once_and_then_returned() {
    let server = TestServer::start();
    let ada = server.user("Ada");
    let bob = server.user("Bob");
    let created = server.conversation(&ada.token, &[bob.id], None);
    assert_eq!(created.status, 201, "{}", created.body);
    let conversation = &created.body["conversation"];
    assert_eq!(conversation["kind"], "direct");
    assert_eq!(conversation["title"], json!(null));
    assert_eq!(conversation["last_message"], json!(null));
    assert_eq!(conversation["unread_count"], 0);
    assert_eq!(
        conversation["members"],
        json!([{"id": ada.id, "name": "Ada"}, {"id": bob.id, "name": "Bob"}])
    );
    assert_eq!(conversation["created_at"], conversation["last_activity_at"]);

    let again = server.conversation(&bob.token, &[ada.id, bob.id], None);
    assert_eq!(again.status, 200);
    assert_eq!(again.body["conversation"]["id"], conversation["id"]);
}

#[test]
fn simultaneous_direct_creations_end_in_one_conversation() {
    let server = TestServer::start();
    let ada = server.user("Ada");
    let bob = server.user("Bob");
    let replies: Vec<(u16, i64)> = at_once(16, |i| {
        let (me, other) = if i % 2 == 0 {
            (&ada, &bob)
        } else {
            (&bob, &ada)
        };
        let reply = server.conversation(&me.token, &[other.id], None);
        let id = reply.body["conversation"]["id"].as_i64().expect("id");
        (reply.status, id)
    });
    assert_eq!(
        replies.iter().filter(|(status, _)| *status == 201).count(),
        1,
        "{replies:?}"
    );
    assert!(
        replies
            .iter()
            .all(|(status, _)| *status == 200 || *status == 201)
    );
    assert!(replies.iter().all(|(_, id)| *id == replies[0].1));
    let created_events = server
        .events()
        .into_iter()
        .filter(|(_, kind, _)| kind == "conversation.created")
        .count();
    assert_eq!(created_events, 1);
}

#[test]
fn groups_are_created_with_their_title_and_members() {
    let server = TestServer::start();
    let ada = server.user("Ada");
    let bob = server.user("Bob");
    let cid = server.register("Cid")["id"].as_i64().expect("id");

    let titled_pair = server.conversation(&ada.token, &[bob.id], Some(" Book club "));
    assert_eq!(titled_pair.status, 201);
    assert_eq!(titled_pair.body["conversation"]["kind"], "group");
    assert_eq!(titled_pair.body["conversation"]["title"], "Book club");

    let untitled = server.conversation(&ada.token, &[cid, bob.id, bob.id, ada.id], None);
    assert_eq!(untitled.status, 201, "{}", untitled.body);
    let conversation = &untitled.body["conversation"];
    assert_eq!(conversation["kind"], "group");
    assert_eq!(conversation["title"], json!(null));
    let member_ids: Vec<i64> = conversation["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| m["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(member_ids, vec![ada.id, bob.id, cid]);
    // A second group of the same people is a new group.
    let second = server.conversation(&ada.token, &[cid, bob.id], None);
    assert_ne!(second.body["conversation"]["id"], conversation["id"]);
}

#[test]
fn conversation_creation_is_validated() {
    let server = TestServer::start();
    let ada = server.user("Ada");
    let bob = server.register("Bob")["id"].as_i64().expect("id");
    let create = |body: serde_json::Value| {
        server
            .request("POST", "/api/conversations")
            .token(&ada.token)
            .json(&body)
            .send()
    };
    for body in [
        json!({"member_ids": []}),
        json!({"member_ids": [ada.id]}),
        json!({"member_ids": [999_999]}),
        json!({"member_ids": [bob, 999_999]}),
        json!({"member_ids": "1"}),
        json!({"member_ids": [0]}),
        json!({"member_ids": [-1]}),
        json!({"member_ids": ["2"]}),
        json!({}),
    ] {
        create(body).assert_field_error(400, "validation_failed", "member_ids");
    }
    assert_eq!(
        create(json!({"member_ids": [bob], "title": "t".repeat(100)})).status,
        201
    );
    for title in [json!("t".repeat(101)), json!("   "), json!(5)] {
        create(json!({"member_ids": [bob], "title": title})).assert_field_error(
            400,
            "validation_failed",
            "title",
        );
    }
}

#[test]
fn a_group_holds_at_most_256_members() {
    let server = TestServer::start();
    let ada = server.user("Ada");
    let others = server.insert_users(256);
    let full = server.conversation(&ada.token, &others[..255], Some("Full"));
    assert_eq!(full.status, 201, "{}", full.body);
    assert_eq!(
        full.body["conversation"]["members"]
            .as_array()
            .expect("members")
            .len(),
        256
    );
    server
        .conversation(&ada.token, &others, Some("Too full"))
        .assert_field_error(400, "validation_failed", "member_ids");
}

#[test]
fn the_list_is_ordered_by_last_activity_with_last_message_and_unread_count() {
    let server = TestServer::start();
    let ada = server.user("Ada");
    let bob = server.user("Bob");
    let cid = server.register("Cid")["id"].as_i64().expect("id");
    let first = server.group(&ada.token, &[bob.id]);
    let second = server.group(&ada.token, &[cid]);
    let third = server.group(&bob.token, &[ada.id, cid]);

    let ids = |token: &str, query: &str| -> Vec<i64> {
        let reply = server.get(&format!("/api/conversations{query}"), token);
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.body["conversations"]
            .as_array()
            .expect("conversations")
            .iter()
            .map(|c| c["id"].as_i64().expect("id"))
            .collect()
    };
    assert_eq!(ids(&ada.token, ""), vec![third, second, first]);
    server.say(&bob.token, first, "hello Ada");
    assert_eq!(ids(&ada.token, ""), vec![first, third, second]);
    assert_eq!(ids(&bob.token, ""), vec![first, third]);

    let reply = server.get("/api/conversations?page_size=1", &ada.token);
    assert_eq!(
        reply.body["pagination"],
        json!({"page": 1, "page_size": 1, "total_items": 3, "total_pages": 3})
    );
    let top = &reply.body["conversations"][0];
    assert_eq!(top["unread_count"], 1);
    assert_eq!(top["last_message"]["body"], "hello Ada");
    assert_eq!(top["last_message"]["sender"]["name"], "Bob");
    assert_eq!(top["last_activity_at"], top["last_message"]["created_at"]);
    assert_eq!(ids(&ada.token, "?page=2&page_size=2"), vec![second]);
    assert!(ids(&ada.token, "?page=3&page_size=2").is_empty());
    server
        .get("/api/conversations?page_size=0", &ada.token)
        .assert_field_error(400, "invalid_parameter", "page_size");
}

#[test]
fn one_conversation_is_shown_to_members_only() {
    let server = TestServer::start();
    let ada = server.user("Ada");
    let bob = server.user("Bob");
    let eve = server.user("Eve");
    let id = server.group(&ada.token, &[bob.id]);
    let reply = server.get(&format!("/api/conversations/{id}"), &bob.token);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["conversation"]["id"], id);
    assert_eq!(reply.body["conversation"]["title"], "Group");
    let hidden = server.get(&format!("/api/conversations/{id}"), &eve.token);
    let missing = server.get("/api/conversations/999999", &eve.token);
    hidden.assert_error(404, "not_found");
    assert_eq!(hidden.body, missing.body);
}

#[test]
fn groups_per_day_are_limited_at_their_quota() {
    let server = TestServer::start_with(&["--groups-per-user-per-day", "2"]);
    let ada = server.user("Ada");
    let bob = server.user("Bob");
    let cid = server.user("Cid");
    server.group(&ada.token, &[bob.id]);
    server.group(&ada.token, &[bob.id, cid.id]);
    let refused = server.conversation(&ada.token, &[cid.id], Some("Third"));
    refused.assert_error(429, "daily_quota_exceeded");
    let retry = refused.retry_after();
    // Until the first of the two is a day old.
    assert!((86_000..=86_400).contains(&retry), "{retry}");
    let listed = server.get("/api/conversations", &ada.token);
    assert_eq!(
        listed.body["pagination"]["total_items"], 2,
        "nothing half-written"
    );
    assert_eq!(
        server.conversation(&ada.token, &[cid.id], None).status,
        201,
        "a direct conversation is not a group"
    );
    assert_eq!(
        server
            .conversation(&bob.token, &[cid.id], Some("Bob's"))
            .status,
        201,
        "another user's quota is their own"
    );
}

#[test]
fn parallel_group_creations_cannot_overshoot_the_quota() {
    let server = TestServer::start_with(&["--groups-per-user-per-day", "3"]);
    let ada = server.user("Ada");
    let bob = server.user("Bob");
    let replies = at_once(10, |_| {
        server.conversation(&ada.token, &[bob.id], Some("Burst"))
    });
    let created = replies.iter().filter(|r| r.status == 201).count();
    let refused = replies.iter().filter(|r| r.status == 429).count();
    assert_eq!((created, refused), (3, 7));
    let listed = server.get("/api/conversations", &ada.token);
    assert_eq!(listed.body["pagination"]["total_items"], 3);
}
