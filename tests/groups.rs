//! Groups that change: renaming, members added, removed and leaving, owners, the history
//! setting, mute and block, and the realtime dispatcher's idea of membership under load.

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::util::sse::{SseEvent, Stream, subscribe};
use crate::util::{Reply, TestServer, TestUser};

fn rename(server: &TestServer, who: &TestUser, id: i64, body: Value) -> Reply {
    server
        .request("PATCH", &format!("/api/conversations/{id}"))
        .token(&who.token)
        .json(&body)
        .send()
}

fn add(server: &TestServer, who: &TestUser, id: i64, users: &[i64]) -> Reply {
    server
        .request("POST", &format!("/api/conversations/{id}/members"))
        .token(&who.token)
        .json(&json!({"user_ids": users}))
        .send()
}

fn remove(server: &TestServer, who: &TestUser, id: i64, user: i64) -> Reply {
    server
        .request("DELETE", &format!("/api/conversations/{id}/members/{user}"))
        .token(&who.token)
        .send()
}

fn promote(server: &TestServer, who: &TestUser, id: i64, user: i64) -> Reply {
    server
        .request("PUT", &format!("/api/conversations/{id}/owners/{user}"))
        .token(&who.token)
        .send()
}

/// `PUT` blocks `user`, `DELETE` unblocks them.
fn block(server: &TestServer, who: &TestUser, method: &str, user: i64) -> Reply {
    server
        .request(method, &format!("/api/blocks/{user}"))
        .token(&who.token)
        .send()
}

fn conversation(server: &TestServer, who: &TestUser, id: i64) -> Reply {
    server.get(&format!("/api/conversations/{id}"), &who.token)
}

fn history(server: &TestServer, who: &TestUser, id: i64) -> Reply {
    server.get(&format!("/api/conversations/{id}/messages"), &who.token)
}

fn bodies(reply: &Reply) -> Vec<String> {
    reply.body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["body"].as_str().expect("body").to_owned())
        .collect()
}

fn ids_of(value: &Value) -> Vec<i64> {
    value
        .as_array()
        .expect("array")
        .iter()
        .map(|v| v.as_i64().unwrap_or_else(|| v["id"].as_i64().expect("id")))
        .collect()
}

/// The next stored event, skipping none; panics if none comes.
fn next_stored(stream: &mut Stream) -> SseEvent {
    let got = stream.stored(1);
    assert_eq!(got.len(), 1, "an event was expected");
    got.into_iter().next().expect("event")
}

#[test]
fn owners_rename_and_every_member_hears_it_others_may_not() {
    let server = TestServer::start();
    let (ada, bob, eve) = (server.user("Ada"), server.user("Bob"), server.user("Eve"));
    let id = server.group(&ada.token, &[bob.id]);
    let created = conversation(&server, &ada, id);
    assert_eq!(created.body["conversation"]["owner_ids"], json!([ada.id]));
    assert_eq!(created.body["conversation"]["history_visible"], true);
    let mut bob_stream = subscribe(&server, &bob, None);

    let renamed = rename(&server, &ada, id, json!({"title": "Picnic"}));
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    assert_eq!(renamed.body["conversation"]["title"], "Picnic");
    let event = next_stored(&mut bob_stream);
    assert_eq!(event.kind, "conversation.updated");
    assert_eq!(event.data["conversation"]["title"], "Picnic");
    assert_eq!(event.data["conversation"]["owner_ids"], json!([ada.id]));
    assert!(
        event.data["conversation"].get("last_message").is_none(),
        "shared fields only"
    );

    rename(&server, &bob, id, json!({"title": "Mine"})).assert_error(403, "forbidden");
    rename(&server, &eve, id, json!({"title": "Mine"})).assert_error(404, "not_found");
    rename(&server, &ada, id, json!({})).assert_field_error(400, "validation_failed", "title");
    rename(&server, &ada, id, json!({"history_visible": "no"})).assert_field_error(
        400,
        "validation_failed",
        "history_visible",
    );
    assert_eq!(
        conversation(&server, &bob, id).body["conversation"]["title"],
        "Picnic"
    );
}

#[test]
fn direct_conversations_cannot_be_changed_as_groups() {
    let server = TestServer::start();
    let (ada, bob, cy) = (server.user("Ada"), server.user("Bob"), server.user("Cy"));
    let direct = server.conversation(&ada.token, &[bob.id], None);
    let id = direct.body["conversation"]["id"].as_i64().expect("id");
    assert_eq!(direct.body["conversation"]["owner_ids"], json!([]));
    rename(&server, &ada, id, json!({"title": "Us"})).assert_error(409, "conflict");
    add(&server, &ada, id, &[cy.id]).assert_error(409, "conflict");
    remove(&server, &ada, id, bob.id).assert_error(409, "conflict");
    remove(&server, &ada, id, ada.id).assert_error(409, "conflict");
    promote(&server, &ada, id, bob.id).assert_error(409, "conflict");
    remove(&server, &cy, id, cy.id).assert_error(404, "not_found");
    assert_eq!(
        ids_of(&conversation(&server, &bob, id).body["conversation"]["members"]),
        vec![ada.id, bob.id]
    );
}

#[test]
fn added_members_are_announced_to_everyone_and_only_owners_add() {
    let server = TestServer::start();
    let (ada, bob, cy, dee) = (
        server.user("Ada"),
        server.user("Bob"),
        server.user("Cy"),
        server.user("Dee"),
    );
    let id = server.group(&ada.token, &[bob.id]);
    let mut bob_stream = subscribe(&server, &bob, None);
    let mut cy_stream = subscribe(&server, &cy, None);

    add(&server, &bob, id, &[cy.id]).assert_error(403, "forbidden");
    add(&server, &cy, id, &[cy.id]).assert_error(404, "not_found");
    add(&server, &ada, id, &[999_999]).assert_field_error(400, "validation_failed", "user_ids");

    let added = add(&server, &ada, id, &[cy.id, bob.id, cy.id]);
    assert_eq!(added.status, 200, "{}", added.body);
    assert_eq!(
        ids_of(&added.body["conversation"]["members"]),
        vec![ada.id, bob.id, cy.id]
    );
    for stream in [&mut bob_stream, &mut cy_stream] {
        let event = next_stored(stream);
        assert_eq!(event.kind, "member.joined");
        assert_eq!(event.data["user"], json!({"id": cy.id, "name": "Cy"}));
        assert_eq!(event.data["by"]["id"], ada.id);
        assert_eq!(ids_of(&event.data["conversation"]["members"]).len(), 3);
    }
    let again = add(&server, &ada, id, &[cy.id]);
    assert_eq!(again.status, 200, "adding a member again changes nothing");
    server.say(&ada.token, id, "welcome");
    assert_eq!(next_stored(&mut cy_stream).kind, "message.created");
    assert_eq!(next_stored(&mut bob_stream).kind, "message.created");
    assert_eq!(conversation(&server, &dee, id).status, 404);
}

#[test]
fn members_are_added_up_to_the_group_limit_and_not_one_past() {
    let server = TestServer::start();
    let ada = server.user("Ada");
    let bob = server.user("Bob");
    let id = server.group(&ada.token, &[bob.id]);
    let bulk = server.insert_users(255);
    // Ada and Bob plus 254: 256 members, the limit.
    let full = add(&server, &ada, id, &bulk[..254]);
    assert_eq!(full.status, 200, "{}", full.body);
    assert_eq!(
        full.body["conversation"]["members"]
            .as_array()
            .expect("members")
            .len(),
        256
    );
    add(&server, &ada, id, &bulk[254..]).assert_field_error(400, "validation_failed", "user_ids");
    let members = conversation(&server, &ada, id).body["conversation"]["members"].clone();
    assert_eq!(members.as_array().expect("members").len(), 256);
}

#[test]
fn a_removed_member_hears_it_last_and_loses_the_history() {
    let server = TestServer::start();
    let (ada, bob, cy) = (server.user("Ada"), server.user("Bob"), server.user("Cy"));
    let id = server.group(&ada.token, &[bob.id, cy.id]);
    server.say(&ada.token, id, "before");
    let mut bob_stream = subscribe(&server, &bob, None);
    let mut cy_stream = subscribe(&server, &cy, None);

    remove(&server, &cy, id, bob.id).assert_error(403, "forbidden");
    let removed = remove(&server, &ada, id, bob.id);
    assert_eq!(removed.status, 200, "{}", removed.body);
    let last = next_stored(&mut bob_stream);
    assert_eq!(last.kind, "member.left");
    assert_eq!(last.data["user"]["id"], bob.id);
    assert_eq!(last.data["by"]["id"], ada.id);
    assert_eq!(
        ids_of(&last.data["conversation"]["members"]),
        vec![ada.id, cy.id]
    );
    assert_eq!(next_stored(&mut cy_stream).kind, "member.left");

    server.say(&ada.token, id, "after");
    rename(&server, &ada, id, json!({"title": "Without Bob"}));
    assert_eq!(next_stored(&mut cy_stream).kind, "message.created");
    assert_eq!(next_stored(&mut cy_stream).kind, "conversation.updated");
    assert!(
        bob_stream.next(Duration::from_millis(500)).is_none(),
        "nothing after the last event"
    );
    history(&server, &bob, id).assert_error(404, "not_found");
    conversation(&server, &bob, id).assert_error(404, "not_found");
    server
        .send(&bob.token, id, json!({"body": "hello?"}))
        .assert_error(404, "not_found");
    remove(&server, &ada, id, bob.id).assert_error(404, "not_found");
    let listed = server.get("/api/conversations", &bob.token);
    assert_eq!(listed.body["conversations"], json!([]));

    // Resuming from before the removal gives exactly the events up to it.
    let mut resumed = subscribe(&server, &bob, Some(0));
    let kinds: Vec<String> = resumed.stored(3).into_iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        vec!["conversation.created", "message.created", "member.left"]
    );
    assert!(resumed.next(Duration::from_millis(300)).is_none());
}

#[test]
fn the_last_owner_leaving_hands_the_group_to_the_longest_standing_member() {
    let server = TestServer::start();
    let (ada, bob, cy, dee) = (
        server.user("Ada"),
        server.user("Bob"),
        server.user("Cy"),
        server.user("Dee"),
    );
    let id = server.group(&ada.token, &[cy.id]);
    assert_eq!(add(&server, &ada, id, &[bob.id]).status, 200);
    assert_eq!(add(&server, &ada, id, &[dee.id]).status, 200);
    // Bob has a lower id than Cy but joined later: Cy has been a member longest.
    let left = remove(&server, &ada, id, ada.id);
    assert_eq!(left.status, 200, "{}", left.body);
    assert_eq!(left.body["message"], "You left the group");
    let now = conversation(&server, &bob, id).body["conversation"].clone();
    assert_eq!(now["owner_ids"], json!([cy.id]));
    assert_eq!(ids_of(&now["members"]), vec![bob.id, cy.id, dee.id]);

    // Cy, now an owner, makes Bob one too; a non-owner may not.
    promote(&server, &dee, id, dee.id).assert_error(403, "forbidden");
    promote(&server, &cy, id, ada.id).assert_error(404, "not_found");
    let promoted = promote(&server, &cy, id, bob.id);
    assert_eq!(promoted.status, 200, "{}", promoted.body);
    assert_eq!(
        promoted.body["conversation"]["owner_ids"],
        json!([bob.id, cy.id])
    );
    assert_eq!(
        rename(&server, &bob, id, json!({"title": "Bob's"})).status,
        200
    );

    // An owner who leaves while another owner stays hands nothing over.
    assert_eq!(remove(&server, &cy, id, cy.id).status, 200);
    let now = conversation(&server, &bob, id).body["conversation"].clone();
    assert_eq!(now["owner_ids"], json!([bob.id]));
    // Any member may leave.
    assert_eq!(remove(&server, &dee, id, dee.id).status, 200);
    assert_eq!(
        ids_of(&conversation(&server, &bob, id).body["conversation"]["members"]),
        vec![bob.id]
    );
}

/// The last member's leaving removes the group; every former member still gets their own
/// `member.left` when their stream resumes from before it, and the group's id is never given
/// to a new conversation (whose members would otherwise be sent the gone group's events).
#[test]
fn a_group_whose_last_member_left_is_gone() {
    let server = TestServer::start();
    let (ada, bob, cy) = (server.user("Ada"), server.user("Bob"), server.user("Cy"));
    let dee = server.user("Dee");
    let id = server.group(&ada.token, &[bob.id, cy.id]);
    server.say(&ada.token, id, "secret");
    let before_removal = newest_event_id(&server);
    assert_eq!(remove(&server, &ada, id, bob.id).status, 200);
    assert_eq!(remove(&server, &ada, id, ada.id).status, 200);
    let mut cy_stream = subscribe(&server, &cy, None);
    assert_eq!(remove(&server, &cy, id, cy.id).status, 200);
    let last = next_stored(&mut cy_stream);
    assert_eq!(last.kind, "member.left");
    assert_eq!(last.data["conversation"]["members"], json!([]));

    let db = server.open_db();
    let count = |sql: &str| -> i64 { db.query_row(sql, [id], |r| r.get(0)).expect("count") };
    assert_eq!(count("SELECT count(*) FROM conversations WHERE id = ?1"), 0);
    assert_eq!(
        count("SELECT count(*) FROM messages WHERE conversation_id = ?1"),
        0
    );
    assert_eq!(
        count("SELECT count(*) FROM events WHERE conversation_id = ?1"),
        3,
        "only each former member's last event is kept"
    );
    conversation(&server, &bob, id).assert_error(404, "not_found");
    conversation(&server, &cy, id).assert_error(404, "not_found");
    // Bob was offline when removed: resuming, he learns it, and nothing else of the group.
    let resumed = subscribe(&server, &bob, Some(before_removal)).stored(1);
    assert_eq!(resumed[0].kind, "member.left");
    assert_eq!(resumed[0].data["user"]["id"], bob.id);

    let new = server.group(&cy.token, &[dee.id]);
    assert!(new > id, "a gone group's id is not given again");
    // Resumed in id order, the gone group's kept events would come first.
    let everything = subscribe(&server, &dee, Some(before_removal)).stored(1);
    assert_eq!(
        everything[0].kind, "conversation.created",
        "nothing of the gone group"
    );
    assert_eq!(everything[0].data["conversation"]["id"], new);
}

/// The newest stored event's id: a point to resume a stream from.
fn newest_event_id(server: &TestServer) -> i64 {
    server
        .open_db()
        .query_row("SELECT max(id) FROM events", [], |row| row.get(0))
        .expect("events")
}

#[test]
fn newcomers_see_the_earlier_history_unless_the_group_hides_it() {
    let server = TestServer::start();
    let (ada, bob, cy) = (server.user("Ada"), server.user("Bob"), server.user("Cy"));
    let dee = server.user("Dee");
    let id = server.group(&ada.token, &[dee.id]);
    let old = server.say(&ada.token, id, "old news");

    assert_eq!(add(&server, &ada, id, &[bob.id]).status, 200);
    assert_eq!(bodies(&history(&server, &bob, id)), vec!["old news"]);
    let seen = conversation(&server, &bob, id).body["conversation"].clone();
    assert_eq!(seen["last_message"]["body"], "old news");
    assert_eq!(seen["unread_count"], 0, "unread starts at joining");

    let hidden = rename(&server, &ada, id, json!({"history_visible": false}));
    assert_eq!(hidden.body["conversation"]["history_visible"], false);
    assert_eq!(add(&server, &ada, id, &[cy.id]).status, 200);
    let mut cy_stream = subscribe(&server, &cy, None);
    assert_eq!(bodies(&history(&server, &cy, id)), Vec::<String>::new());
    let seen = conversation(&server, &cy, id).body["conversation"].clone();
    assert_eq!(seen["last_message"], json!(null));
    assert_eq!(seen["unread_count"], 0);

    // A reaction to a message from before Cy joined does not reach Cy; a new one does.
    let react = |message: i64| {
        server
            .request(
                "PUT",
                &format!("/api/conversations/{id}/messages/{message}/reactions/%F0%9F%91%8D"),
            )
            .token(&ada.token)
            .send()
    };
    assert!(react(old).status < 300);
    let new = server.say(&bob.token, id, "new news");
    let event = next_stored(&mut cy_stream);
    assert_eq!(
        event.kind, "message.created",
        "the old reaction is withheld"
    );
    assert_eq!(event.data["message"]["id"], new);
    assert_eq!(bodies(&history(&server, &cy, id)), vec!["new news"]);
    assert_eq!(
        conversation(&server, &cy, id).body["conversation"]["unread_count"],
        1
    );
    // Bob joined while the history was shown: he keeps seeing all of it.
    assert_eq!(
        bodies(&history(&server, &bob, id)),
        vec!["old news", "new news"]
    );
}

/// While Ada sends without pause, Ada removes Bob and adds Dee: Bob's stream gets every event
/// up to his `member.left` and nothing after; Dee's gets everything from her `member.joined`.
#[test]
fn membership_changes_are_exact_to_the_event_under_load() {
    let server = TestServer::start_with(&["--sends-per-user", "100000/1s"]);
    let (ada, bob, cy, dee) = (
        server.user("Ada"),
        server.user("Bob"),
        server.user("Cy"),
        server.user("Dee"),
    );
    let id = server.group(&ada.token, &[bob.id, cy.id]);
    let mut bob_stream = subscribe(&server, &bob, None);
    let mut dee_stream = subscribe(&server, &dee, None);
    let sending = AtomicBool::new(true);
    let sent = thread::scope(|scope| {
        let sender = scope.spawn(|| {
            let mut sent = 0;
            while sending.load(Ordering::Relaxed) || sent < 40 {
                server.say(&cy.token, id, &format!("m{sent}"));
                sent += 1;
            }
            sent
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        while server.events().len() < 20 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(remove(&server, &ada, id, bob.id).status, 200);
        assert_eq!(add(&server, &ada, id, &[dee.id]).status, 200);
        let settle = server.events().len() + 20;
        while server.events().len() < settle && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        sending.store(false, Ordering::Relaxed);
        sender.join().expect("sender")
    });
    assert!(sent >= 40);

    let stored = stored_ids(&server, id);
    let left = event_id(&stored, "member.left");
    let joined = event_id(&stored, "member.joined");
    let created = event_id(&stored, "conversation.created");
    let bob_expected: Vec<i64> = stored
        .iter()
        .map(|e| e.0)
        .filter(|e| *e > created && *e <= left)
        .collect();
    let dee_expected: Vec<i64> = stored
        .iter()
        .map(|e| e.0)
        .filter(|e| *e >= joined)
        .collect();
    assert!(
        bob_expected.len() > 10 && dee_expected.len() > 10,
        "{stored:?}"
    );

    // Bob subscribed after the group was created: his stream starts after that event.
    let bob_got: Vec<i64> = bob_stream
        .stored(bob_expected.len())
        .iter()
        .map(|e| e.id.expect("id"))
        .collect();
    assert_eq!(bob_got, bob_expected, "Bob: everything up to his removal");
    assert!(
        bob_stream.next(Duration::from_millis(500)).is_none(),
        "Bob: nothing after it"
    );
    let dee_got: Vec<i64> = dee_stream
        .stored(dee_expected.len())
        .iter()
        .map(|e| e.id.expect("id"))
        .collect();
    assert_eq!(dee_got, dee_expected, "Dee: everything from her joining");
    assert!(dee_stream.next(Duration::from_millis(300)).is_none());
}

/// The stored events of a conversation as (id, type), in id order.
fn stored_ids(server: &TestServer, conversation: i64) -> Vec<(i64, String)> {
    let db = server.open_db();
    let mut stmt = db
        .prepare("SELECT id, type FROM events WHERE conversation_id = ?1 ORDER BY id")
        .expect("prepare");
    stmt.query_map([conversation], |row| Ok((row.get(0)?, row.get(1)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

fn event_id(stored: &[(i64, String)], kind: &str) -> i64 {
    stored
        .iter()
        .find(|(_, k)| k == kind)
        .map(|(id, _)| *id)
        .expect("event")
}

#[test]
fn a_muted_conversation_still_counts_unread_and_is_marked_in_the_list() {
    let server = TestServer::start();
    let (ada, bob, eve) = (server.user("Ada"), server.user("Bob"), server.user("Eve"));
    let id = server.group(&ada.token, &[bob.id]);
    let mute = |who: &TestUser, method: &str| {
        server
            .request(method, &format!("/api/conversations/{id}/mute"))
            .token(&who.token)
            .send()
    };
    let muted = mute(&bob, "PUT");
    assert_eq!(muted.status, 200, "{}", muted.body);
    assert_eq!(muted.body["conversation"]["muted"], true);
    server.say(&ada.token, id, "one");
    server.say(&ada.token, id, "two");
    let listed = server.get("/api/conversations", &bob.token);
    let mine = &listed.body["conversations"][0];
    assert_eq!(mine["muted"], true);
    assert_eq!(mine["unread_count"], 2, "muted, still counted");
    let theirs = &server.get("/api/conversations", &ada.token).body["conversations"][0];
    assert_eq!(theirs["muted"], false, "muting is each member's own");

    assert_eq!(mute(&bob, "DELETE").body["conversation"]["muted"], false);
    assert_eq!(
        conversation(&server, &bob, id).body["conversation"]["muted"],
        false
    );
    mute(&eve, "PUT").assert_error(404, "not_found");
}

#[test]
fn a_blocked_persons_direct_messages_stop_reaching_you_and_they_are_not_told() {
    let server = TestServer::start();
    let (ada, bob, cy) = (server.user("Ada"), server.user("Bob"), server.user("Cy"));
    let dm = server.direct(&ada.token, bob.id);
    let group = server.group(&ada.token, &[bob.id]);
    server.say(&bob.token, dm, "before the block");
    let block = |method: &str, user: i64| block(&server, &ada, method, user);
    let blocked = block("PUT", bob.id);
    assert_eq!(blocked.status, 200, "{}", blocked.body);
    assert_eq!(
        blocked.body["users"],
        json!([{"id": bob.id, "name": "Bob"}])
    );
    assert_eq!(
        block("PUT", bob.id).status,
        200,
        "blocking twice changes nothing"
    );
    block("PUT", ada.id).assert_field_error(400, "validation_failed", "user_id");
    block("PUT", 999_999).assert_error(404, "not_found");
    assert_eq!(
        server.get("/api/blocks", &ada.token).body["users"],
        json!([{"id": bob.id, "name": "Bob"}])
    );
    assert_eq!(
        server.get("/api/blocks", &bob.token).body["users"],
        json!([])
    );

    let mut ada_stream = subscribe(&server, &ada, None);
    let mut bob_stream = subscribe(&server, &bob, None);
    let hidden = server.send(&bob.token, dm, json!({"body": "can you hear me"}));
    assert_eq!(hidden.status, 201, "Bob's send succeeds as before");
    assert_eq!(
        next_stored(&mut bob_stream).data["message"]["body"],
        "can you hear me"
    );
    server.say(&bob.token, group, "in the group");
    assert_eq!(
        next_stored(&mut bob_stream).data["message"]["body"],
        "in the group"
    );
    let event = next_stored(&mut ada_stream);
    assert_eq!(
        event.data["message"]["body"], "in the group",
        "the direct message is withheld; the group's is not"
    );
    let ada_dm = conversation(&server, &ada, dm).body["conversation"].clone();
    assert_eq!(ada_dm["unread_count"], 0);
    assert_eq!(ada_dm["last_message"], json!(null));
    assert_eq!(bodies(&history(&server, &ada, dm)), Vec::<String>::new());
    assert_eq!(
        bodies(&history(&server, &bob, dm)),
        vec!["before the block", "can you hear me"],
        "Bob sees his conversation as before"
    );
    // Ada's own messages still reach Bob and her other devices.
    server.say(&ada.token, dm, "from Ada");
    assert_eq!(
        next_stored(&mut ada_stream).data["message"]["body"],
        "from Ada"
    );
    assert_eq!(
        next_stored(&mut bob_stream).data["message"]["body"],
        "from Ada"
    );
    // Bob's newer message does not make Ada's newest one disappear from her list.
    server.say(&bob.token, dm, "still there?");
    assert_eq!(
        next_stored(&mut bob_stream).data["message"]["body"],
        "still there?"
    );
    let ada_dm = conversation(&server, &ada, dm).body["conversation"].clone();
    assert_eq!(ada_dm["last_message"]["body"], "from Ada");
    let listed = server.get("/api/conversations", &ada.token).body["conversations"].clone();
    let listed_dm = listed
        .as_array()
        .expect("conversations")
        .iter()
        .find(|c| c["id"] == dm)
        .expect("the direct conversation");
    assert_eq!(listed_dm["last_message"]["body"], "from Ada");
    // A person Ada does not block reaches her in a new direct conversation.
    let cy_dm = server.conversation(&cy.token, &[ada.id], None);
    assert_eq!(cy_dm.status, 201);

    assert_eq!(block("DELETE", bob.id).body["users"], json!([]));
    server.say(&bob.token, dm, "after the unblock");
    let next = ada_stream.stored(2);
    assert_eq!(next[0].kind, "conversation.created");
    assert_eq!(next[1].data["message"]["body"], "after the unblock");
}

/// A message hidden from a member (from before they joined a group that hides its history,
/// or from a person they block) answers every action on it as a missing one does: reacting,
/// taking a reaction back, editing, deleting, marking it read.
#[test]
fn a_hidden_message_answers_every_action_as_a_missing_one() {
    let server = TestServer::start();
    let (ada, bob, cy) = (server.user("Ada"), server.user("Bob"), server.user("Cy"));
    let group = server.group(&ada.token, &[bob.id]);
    let old = server.say(&ada.token, group, "our new address is 12 Elm St");
    assert_eq!(
        rename(&server, &ada, group, json!({"history_visible": false})).status,
        200
    );
    assert_eq!(add(&server, &ada, group, &[cy.id]).status, 200);
    let dm = server.direct(&ada.token, bob.id);
    let from_bob = server.say(&bob.token, dm, "only Bob's");
    assert_eq!(block(&server, &ada, "PUT", bob.id).status, 200);

    let missing = 999_999;
    for (who, conversation, hidden) in [(&cy, group, old), (&ada, dm, from_bob)] {
        for message in [hidden, missing] {
            let path = format!("/api/conversations/{conversation}/messages/{message}");
            for method in ["PUT", "DELETE"] {
                server
                    .request(method, &format!("{path}/reactions/%E2%9D%A4"))
                    .token(&who.token)
                    .send()
                    .assert_error(404, "not_found");
            }
            server
                .request("PATCH", &path)
                .token(&who.token)
                .json(&json!({"body": "x"}))
                .send()
                .assert_error(404, "not_found");
            server
                .request("DELETE", &path)
                .token(&who.token)
                .send()
                .assert_error(404, "not_found");
            server
                .request("POST", &format!("/api/conversations/{conversation}/read"))
                .token(&who.token)
                .json(&json!({"message_id": message}))
                .send()
                .assert_field_error(400, "validation_failed", "message_id");
        }
    }
    assert!(
        history(&server, &ada, group).body["messages"][0]["reactions"]
            .as_array()
            .is_some_and(Vec::is_empty),
        "nothing was added"
    );
}

/// While Ada blocks Bob, his typing and his reactions in their direct conversation do not
/// reach her either; in a group they still do.
#[test]
fn a_blocked_persons_typing_and_reactions_do_not_reach_who_blocks_them() {
    let server = TestServer::start();
    let (ada, bob) = (server.user("Ada"), server.user("Bob"));
    let dm = server.direct(&ada.token, bob.id);
    let hi = server.say(&ada.token, dm, "hi Bob");
    assert_eq!(block(&server, &ada, "PUT", bob.id).status, 200);
    let react = server
        .request(
            "PUT",
            &format!("/api/conversations/{dm}/messages/{hi}/reactions/%F0%9F%91%8D"),
        )
        .token(&bob.token)
        .send();
    assert_eq!(react.status, 200, "{}", react.body);
    assert_eq!(
        react.body["message"]["reactions"][0]["count"], 1,
        "Bob sees his own"
    );
    let reactions =
        |who: &TestUser| history(&server, who, dm).body["messages"][0]["reactions"].clone();
    assert_eq!(reactions(&ada), json!([]));
    assert_eq!(
        reactions(&bob),
        json!([{"emote": "👍", "count": 1, "me": true}])
    );
    // Ada's edit of her message does not take Bob's reaction from what Bob is sent.
    let mut bob_stream = subscribe(&server, &bob, None);
    let edited = server
        .request("PATCH", &format!("/api/conversations/{dm}/messages/{hi}"))
        .token(&ada.token)
        .json(&json!({"body": "hi Bob!"}))
        .send();
    assert_eq!(edited.status, 200);
    assert_eq!(edited.body["message"]["reactions"], json!([]));
    let update = next_stored(&mut bob_stream);
    assert_eq!(update.kind, "message.updated");
    assert_eq!(update.data["message"]["reactions"][0]["count"], 1);

    // Bob types; Ada's stream then gets her own message with no typing before it.
    let mut ada_stream = subscribe(&server, &ada, None);
    let typing = |who: &TestUser, id: i64| {
        server
            .request("POST", &format!("/api/conversations/{id}/typing"))
            .token(&who.token)
            .send()
            .status
    };
    assert_eq!(typing(&bob, dm), 204);
    server.say(&ada.token, dm, "anyone?");
    let first = ada_stream.next(Duration::from_secs(10)).expect("an event");
    assert_eq!(first.kind, "message.created", "Bob's typing is withheld");
    // In a group Bob's typing still reaches Ada.
    let group = server.group(&ada.token, &[bob.id]);
    assert_eq!(next_stored(&mut ada_stream).kind, "conversation.created");
    assert_eq!(typing(&bob, group), 204);
    let seen = ada_stream.next(Duration::from_secs(10)).expect("an event");
    assert_eq!(
        (seen.kind.as_str(), &seen.data["user"]["id"]),
        ("typing", &json!(bob.id))
    );
}

/// A retry with a `client_id` from an earlier membership, whose message the group's history
/// now hides from the sender, does not show that message again.
#[test]
fn a_client_id_retry_does_not_show_a_message_the_senders_history_hides() {
    let server = TestServer::start();
    let (ada, bob, id) = server.ada_and_bob_group();
    assert_eq!(
        rename(&server, &ada, id, json!({"history_visible": false})).status,
        200
    );
    let first = json!({"body": "bob's old one", "client_id": "retry-1"});
    assert_eq!(server.send(&bob.token, id, first.clone()).status, 201);
    assert_eq!(
        server.send(&bob.token, id, first.clone()).status,
        200,
        "a retry"
    );
    assert_eq!(remove(&server, &ada, id, bob.id).status, 200);
    assert_eq!(add(&server, &ada, id, &[bob.id]).status, 200);
    server
        .send(&bob.token, id, first)
        .assert_error(409, "conflict");
    assert_eq!(bodies(&history(&server, &bob, id)), Vec::<String>::new());
}

/// A removed member whose stream resumes from before they left is not sent a message as it was
/// edited after they left (stored events carry a message as it is now).
#[test]
fn a_former_member_resuming_is_not_sent_what_was_edited_after_they_left() {
    let server = TestServer::start();
    let (ada, bob, id) = server.ada_and_bob_group();
    let before = newest_event_id(&server);
    let plan = server.say(&ada.token, id, "plan: meet at noon");
    let other = server.say(&ada.token, id, "bring umbrellas");
    assert_eq!(remove(&server, &ada, id, bob.id).status, 200);
    let edited = server
        .request("PATCH", &format!("/api/conversations/{id}/messages/{plan}"))
        .token(&ada.token)
        .json(&json!({"body": "plan changed after Bob left: 3pm at the pier"}))
        .send();
    assert_eq!(edited.status, 200, "{}", edited.body);

    let resumed = subscribe(&server, &bob, Some(before)).stored(2);
    let kinds: Vec<(&str, &Value)> = resumed
        .iter()
        .map(|e| (e.kind.as_str(), &e.data["message"]["id"]))
        .collect();
    assert_eq!(
        kinds,
        [
            ("message.created", &json!(other)),
            ("member.left", &Value::Null)
        ],
        "the message edited since is withheld"
    );
}
