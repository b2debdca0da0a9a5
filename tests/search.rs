//! Message search (`GET /api/search/messages`): folding of case and diacritics, prefixes,
//! user text never read as FTS5 syntax, only current text of the caller's conversations,
//! cursor paging, and the index built for a database written before search existed.

use std::path::Path;

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};

use crate::util::{Reply, TestServer};

fn search(server: &TestServer, token: &str, q: &str, extra: &str) -> Reply {
    let q = utf8_percent_encode(q, NON_ALPHANUMERIC);
    server.get(&format!("/api/search/messages?q={q}{extra}"), token)
}

/// The ids of the hits, newest first, and `has_more`.
fn hits(server: &TestServer, token: &str, q: &str, extra: &str) -> (Vec<i64>, bool) {
    let reply = search(server, token, q, extra);
    assert_eq!(reply.status, 200, "{q:?}: {}", reply.body);
    let ids = reply.body["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|h| h["message"]["id"].as_i64().expect("id"))
        .collect();
    (ids, reply.body["has_more"].as_bool().expect("has_more"))
}

fn found(server: &TestServer, token: &str, q: &str) -> Vec<i64> {
    hits(server, token, q, "").0
}

#[test]
fn case_and_diacritics_are_folded_both_ways() {
    let server = TestServer::start();
    let (ada, bob, id) = server.ada_and_bob_group();
    let dessert = server.say(&ada.token, id, "Crème brûlée at the CAFÉ");
    let plain = server.say(&bob.token, id, "a plain cafe, naive and resume");
    server.say(&bob.token, id, "nothing to see");
    assert_eq!(found(&server, &bob.token, "creme BRULEE"), [dessert]);
    assert_eq!(found(&server, &bob.token, "Café"), [plain, dessert]);
    assert_eq!(found(&server, &bob.token, "CAFE"), [plain, dessert]);
    assert_eq!(found(&server, &bob.token, "naïve résumé"), [plain]);
}

#[test]
fn the_last_word_is_a_prefix_and_the_others_whole_words() {
    let server = TestServer::start();
    let (ada, _, id) = server.ada_and_bob_group();
    let conference = server.say(&ada.token, id, "The conference call is at noon");
    assert_eq!(found(&server, &ada.token, "conf"), [conference]);
    assert_eq!(found(&server, &ada.token, "call conf"), [conference]);
    assert!(found(&server, &ada.token, "conf call").is_empty());
    assert!(found(&server, &ada.token, "conferences").is_empty());
}

#[test]
fn hits_carry_the_message_its_conversation_and_a_snippet_as_text() {
    let server = TestServer::start();
    let (ada, bob, group) = server.ada_and_bob_group();
    let direct = server.conversation(&ada.token, &[bob.id], None).body["conversation"]["id"]
        .as_i64()
        .expect("direct id");
    server.say(&ada.token, group, "<b>Meet</b> at the café");
    server.say(&ada.token, direct, "meeting notes");
    let reply = search(&server, &bob.token, "meet", "");
    assert_eq!(reply.status, 200, "{}", reply.body);
    let hits = reply.body["hits"].as_array().expect("hits");
    assert_eq!(hits.len(), 2);
    assert_eq!(hits[0]["message"]["body"], "meeting notes");
    assert_eq!(
        hits[0]["conversation"],
        json!({"id": direct, "kind": "direct", "title": null, "name": "Ada"})
    );
    assert_eq!(
        hits[0]["snippet"],
        json!([{"text": "meeting", "match": true}, {"text": " notes", "match": false}])
    );
    assert_eq!(
        hits[1]["conversation"],
        json!({"id": group, "kind": "group", "title": "Group", "name": "Group"})
    );
    assert_eq!(
        hits[1]["snippet"],
        json!([
            {"text": "<b>", "match": false},
            {"text": "Meet", "match": true},
            {"text": "</b> at the café", "match": false}
        ])
    );
}

#[test]
fn a_search_can_be_kept_to_one_conversation() {
    let server = TestServer::start();
    let (ada, bob, first) = server.ada_and_bob_group();
    let second = server.group(&bob.token, &[ada.id]);
    let here = server.say(&ada.token, first, "apples here");
    let there = server.say(&ada.token, second, "apples there");
    assert_eq!(found(&server, &ada.token, "apples"), [there, here]);
    let only_first = hits(
        &server,
        &ada.token,
        "apples",
        &format!("&conversation_id={first}"),
    );
    assert_eq!(only_first.0, [here]);
    search(&server, &ada.token, "apples", "&conversation_id=0").assert_field_error(
        400,
        "invalid_parameter",
        "conversation_id",
    );
}

#[test]
fn deleted_messages_and_replaced_text_are_never_found() {
    let server = TestServer::start();
    let (ada, bob, id) = server.ada_and_bob_group();
    let edited = server.say(&ada.token, id, "the original password hint");
    let gone = server.say(&ada.token, id, "a regrettable remark");
    let path = |m: i64| format!("/api/conversations/{id}/messages/{m}");
    let edit = server
        .request("PATCH", &path(edited))
        .token(&ada.token)
        .json(&json!({"body": "nothing to see here"}))
        .send();
    assert_eq!(edit.status, 200, "{}", edit.body);
    let delete = server
        .request("DELETE", &path(gone))
        .token(&ada.token)
        .send();
    assert_eq!(delete.status, 200, "{}", delete.body);
    for q in ["password", "hint", "original", "regrettable", "remark"] {
        assert!(found(&server, &bob.token, q).is_empty(), "{q}");
    }
    assert_eq!(found(&server, &bob.token, "nothing see"), [edited]);
}

#[test]
fn only_conversations_the_caller_is_a_member_of_now_are_searched() {
    let server = TestServer::start();
    let (ada, bob, id) = server.ada_and_bob_group();
    let cy = server.user("Cy");
    let secret = server.say(&ada.token, id, "zebra crossing");
    assert!(found(&server, &cy.token, "zebra").is_empty());
    search(
        &server,
        &cy.token,
        "zebra",
        &format!("&conversation_id={id}"),
    )
    .assert_error(404, "not_found");
    assert_eq!(found(&server, &bob.token, "zebra"), [secret]);

    // A member who is no longer one (the membership row gone) finds nothing any more.
    server
        .open_db()
        .execute(
            "DELETE FROM members WHERE conversation_id = ?1 AND user_id = ?2",
            [id, bob.id],
        )
        .expect("remove Bob");
    assert!(found(&server, &bob.token, "zebra").is_empty());
    assert_eq!(found(&server, &ada.token, "zebra"), [secret]);
}

#[test]
fn pages_walk_back_with_the_before_cursor() {
    let server = TestServer::start();
    let (ada, _, id) = server.ada_and_bob_group();
    let sent: Vec<i64> = (0..5)
        .map(|i| server.say(&ada.token, id, &format!("page item {i}")))
        .collect();
    server.say(&ada.token, id, "unrelated");
    let token = &ada.token;
    assert_eq!(
        hits(&server, token, "item", "&limit=2"),
        (vec![sent[4], sent[3]], true)
    );
    let next = format!("&limit=2&before={}", sent[3]);
    assert_eq!(
        hits(&server, token, "item", &next),
        (vec![sent[2], sent[1]], true)
    );
    let last = format!("&limit=2&before={}", sent[1]);
    assert_eq!(hits(&server, token, "item", &last), (vec![sent[0]], false));
    // exactly a page's worth, and one more than a page
    assert_eq!(
        hits(&server, token, "item", "&limit=5"),
        (sent.iter().rev().copied().collect(), false)
    );
    assert!(hits(&server, token, "item", "&limit=4").1);
    assert_eq!(hits(&server, token, "item", "&limit=50").0.len(), 5);
    search(&server, token, "item", "&limit=51").assert_field_error(
        400,
        "invalid_parameter",
        "limit",
    );
    search(&server, token, "item", "&limit=0").assert_field_error(
        400,
        "invalid_parameter",
        "limit",
    );
    search(&server, token, "item", "&before=x").assert_field_error(
        400,
        "invalid_parameter",
        "before",
    );
}

#[test]
fn queries_are_at_most_200_characters() {
    let server = TestServer::start();
    let (ada, _, id) = server.ada_and_bob_group();
    let long_word = "é".repeat(200);
    let sent = server.say(&ada.token, id, &long_word);
    assert_eq!(found(&server, &ada.token, &long_word), [sent]);
    search(&server, &ada.token, &"é".repeat(201), "").assert_field_error(
        400,
        "invalid_parameter",
        "q",
    );
}

#[test]
fn queries_without_a_word_are_a_clear_400() {
    let server = TestServer::start();
    let ada = server.user("Ada");
    for q in ["", "   ", "\"", "*", "-- : ?!", "\"\" * -"] {
        let reply = search(&server, &ada.token, q, "");
        reply.assert_field_error(400, "invalid_parameter", "q");
        assert_eq!(
            reply.body["message"], "q must contain a letter or a digit",
            "{q:?}"
        );
    }
    server
        .get("/api/search/messages", &ada.token)
        .assert_field_error(400, "invalid_parameter", "q");
}

#[test]
fn fts_syntax_in_a_query_is_text() {
    let server = TestServer::start();
    let (ada, _, id) = server.ada_and_bob_group();
    let quoted = server.say(&ada.token, id, "she said \"hi\" to me");
    let near = server.say(&ada.token, id, "near the station");
    let both = server.say(&ada.token, id, "hello world");
    let colon = server.say(&ada.token, id, "body: text");
    let minus = server.say(&ada.token, id, "well-known star");
    let token = &ada.token;
    assert_eq!(found(&server, token, "\"hi\""), [quoted]);
    assert_eq!(found(&server, token, "hi\""), [quoted]);
    assert_eq!(found(&server, token, "NEAR"), [near]);
    assert!(found(&server, token, "NEAR(hello world)").is_empty());
    // OR and NOT are words to find, not operators
    assert!(found(&server, token, "hello OR world").is_empty());
    assert!(found(&server, token, "hello NOT world").is_empty());
    assert_eq!(found(&server, token, "hello AND").len(), 0);
    // a column filter would look like this
    assert_eq!(found(&server, token, "body:text"), [colon]);
    assert_eq!(found(&server, token, "body: text"), [colon]);
    // a leading minus excludes nothing
    assert_eq!(found(&server, token, "-star"), [minus]);
    assert_eq!(found(&server, token, "well-kno"), [minus]);
    assert_eq!(found(&server, token, "sta*"), [minus, near]);
    assert_eq!(found(&server, token, "^hello"), [both]);
    // A NUL or another control character parts words (it once ended the FTS5 text: a 500).
    assert_eq!(found(&server, token, "hello\u{0}wor"), [both]);
    assert_eq!(found(&server, token, "\u{1}hello\u{85}"), [both]);
    assert_eq!(found(&server, token, "(world)"), [both]);
}

/// A database written at schema version 6, before search: the upgrade indexes what it holds
/// (as it is now: edited text as edited, the deleted message not at all).
#[test]
fn an_upgraded_database_has_its_messages_indexed() {
    let dir = tempfile::tempdir().expect("dir");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema_v6.db");
    std::fs::copy(&fixture, dir.path().join("emotechat.db")).expect("copy the fixture");
    let server = TestServer::start_in(dir, &[]);
    let login = server.login("ada@example.org", "correct horse battery");
    assert_eq!(login.status, 200, "{}", login.body);
    let token = login.body["token"].as_str().expect("token");
    let bodies = |q: &str| -> Vec<Value> {
        let reply = search(&server, token, q, "");
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.body["hits"]
            .as_array()
            .expect("hits")
            .iter()
            .map(|h| h["message"]["body"].clone())
            .collect()
    };
    assert_eq!(bodies("version"), [json!("hello from version 6")]);
    assert_eq!(bodies("edited"), [json!("edited text")]);
    assert_eq!(bodies("just"), [json!("just us")]);
    assert!(bodies("first").is_empty());
    let direct = search(&server, token, "just", "").body["hits"][0]["conversation"]["id"]
        .as_i64()
        .expect("the direct conversation");
    let sent = server.say(token, direct, "searchable after the upgrade");
    assert_eq!(
        hits(&server, token, "upgrade", "").0,
        [sent],
        "new messages are indexed too"
    );
}

/// A member who joined a group that hides its history from newcomers does not find what was
/// said before they joined (`history_from`, set here as joining such a group sets it).
#[test]
fn history_hidden_from_a_newcomer_is_not_found() {
    let server = TestServer::start();
    let (ada, bob, id) = server.ada_and_bob_group();
    let before = server.say(&ada.token, id, "secret plans from before");
    server.hide_history_before(id, bob.id, before);
    let after = server.say(&ada.token, id, "plans from now on");
    assert_eq!(found(&server, &bob.token, "plans"), [after]);
    assert_eq!(found(&server, &ada.token, "plans"), [after, before]);
}

/// The last word finds every word it starts, newest first, however it is answered: a
/// one-letter prefix (read from the index's own postings per first letters), a prefix of a
/// few words (completed into them), one of more words than are completed (merged by FTS5),
/// one no word starts, and one after a word and inside a phrase ("e-ma").
#[test]
fn a_prefix_finds_every_word_it_starts_however_many() {
    let server = TestServer::start();
    let (ada, bob, id) = server.ada_and_bob_group();
    // more words starting with "pre" than the server completes (16)
    let many: Vec<i64> = (0..20u8)
        .map(|i| {
            let suffix = char::from(b'a' + i);
            server.say(&ada.token, id, &format!("pre{suffix}{suffix}x here"))
        })
        .collect();
    let meet = server.say(&bob.token, id, "we meet at noon");
    let meeting = server.say(&ada.token, id, "the Meeting call");
    let met = server.say(&bob.token, id, "we met before");
    let mail = server.say(&ada.token, id, "my e-mail address");
    let apart = server.say(&bob.token, id, "an e and a mail apart");
    let newest_first = |ids: &[i64]| ids.iter().rev().copied().collect::<Vec<_>>();
    let token = &bob.token;

    assert_eq!(
        hits(&server, token, "pre", "&limit=50").0,
        newest_first(&many)
    );
    assert_eq!(
        hits(&server, token, "P", "&limit=50").0,
        newest_first(&many)
    );
    assert_eq!(found(&server, token, "MEET"), [meeting, meet]);
    assert_eq!(found(&server, token, "me"), [met, meeting, meet]);
    assert_eq!(found(&server, token, "call mee"), [meeting]);
    assert!(found(&server, token, "meetingsx").is_empty());
    assert_eq!(found(&server, token, "e-ma"), [mail]);
    assert_eq!(found(&server, token, "e ma"), [apart, mail]);
    // pages of a completed prefix walk back like any other
    assert_eq!(
        hits(&server, token, "mee", "&limit=1"),
        (vec![meeting], true)
    );
    let next = format!("&limit=1&before={meeting}");
    assert_eq!(hits(&server, token, "mee", &next), (vec![meet], false));
    // A term of symbols the tokenizer does not keep as a word does not keep a completed
    // prefix from matching (it is dropped, as it always was).
    let parking = server.say(&ada.token, id, "meet at the station 🅿️ lot");
    assert_eq!(found(&server, token, "🅿️ sta"), [parking]);
    assert_eq!(found(&server, token, "🅿️ station"), [parking]);
}

/// A database at the schema version before the per-letter postings (the index as version 10
/// made it): the upgrade builds the index anew, so what it held is found, by short prefixes too.
#[test]
fn an_index_from_before_the_prefix_postings_is_rebuilt_on_upgrade() {
    let mut server = TestServer::start();
    let (ada, _, id) = server.ada_and_bob_group();
    let sent = server.say(&ada.token, id, "written before the upgrade");
    server.stop();
    server
        .open_db()
        .execute_batch(
            "DROP TABLE messages_fts_terms;
             DROP TABLE messages_fts;
             CREATE VIRTUAL TABLE messages_fts USING fts5(
                 body, content = 'messages', content_rowid = 'id', columnsize = 0,
                 tokenize = 'unicode61 remove_diacritics 2');
             INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');",
        )
        .expect("the version-10 index");
    server
        .open_db()
        .pragma_update(None, "user_version", crate::util::schema_version() - 1)
        .expect("the version before");
    server.start_again();
    let db = server.open_db();
    let version: i64 = db
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .expect("version");
    assert_eq!(version, crate::util::schema_version());
    let definition: String = db
        .query_row(
            "SELECT sql FROM sqlite_schema WHERE name = 'messages_fts'",
            [],
            |row| row.get(0),
        )
        .expect("the index");
    assert!(definition.contains("prefix = '1 2'"), "{definition}");
    for q in ["written", "w", "up", "befo"] {
        assert_eq!(found(&server, &ada.token, q), [sent], "{q}");
    }
}
