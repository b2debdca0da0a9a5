//! The hot paths (listing conversations, sending, editing and deleting a message, reading a
//! page of history) run a
//! fixed number of statements whatever the history size, and none of them scans `messages`,
//! `reactions` or `events` in full. Requests go through the real edge (`http::handle`) on a
//! one-connection pool whose statements are traced. `cargo test query_plans -- --nocapture`
//! prints each statement with its plan.

use std::sync::{Arc, Mutex, PoisonError};

use rouille::Request;
use rusqlite::trace::{TraceEvent, TraceEventCodes};

use crate::app::App;
use crate::auth::{Hasher, token};
use crate::config::{self, Command};
use crate::domain::{ConversationId, MessageBody, Name, Parse, Timestamp, UserId};
use crate::realtime::Realtime;
use crate::realtime::hub::{Hub, HubLimits};
use crate::repo::{self, Pool, conversations, messages, sessions, users};
use crate::resets::ResetDesk;

static TRACED: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn collect(event: TraceEvent<'_>) {
    if let TraceEvent::Stmt(stmt, _) = event {
        let sql = stmt
            .expanded_sql()
            .unwrap_or_else(|| stmt.sql().into_owned());
        // FTS5 reads and writes its shadow tables ('main'.'messages_fts_idx', …) with
        // statements of its own, as many as the index has segments: SQLite's work, not ours.
        if sql.contains("'messages_fts_") {
            return;
        }
        TRACED
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(sql);
    }
}

struct World {
    app: App,
    token: String,
    conversation: ConversationId,
    _dir: tempfile::TempDir,
}

/// A database with two users, one conversation of `history` messages, and a bearer token.
fn world(history: usize) -> World {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("plans.db");
    let pool = repo::open(&path, 1).expect("open");
    let (ada, conversation) = seed(&pool, history);
    let issued = token::issue().expect("token");
    let now = Timestamp::now();
    repo::write(&pool, |tx| {
        sessions::insert(tx, ada, &issued.digest, None, now, now.plus_days(1))
    })
    .expect("session");
    let Ok(Command::Serve(config)) = config::parse(Vec::new(), |_| None) else {
        panic!("default config");
    };
    let (resets, _inbox) = ResetDesk::new();
    let hub = Arc::new(Hub::new(HubLimits {
        streams_per_user: 1,
        streams_total: 1,
        queue: 1,
    }));
    // No dispatcher: it would share the one traced connection.
    let poke = crate::realtime::dispatcher::Poke::nowhere();
    let limits = crate::ratelimit::Limiter::new(false, config.rate_budgets);
    let app = App {
        config: *config,
        pool,
        hasher: Hasher::new(),
        resets,
        realtime: Realtime {
            hub,
            poke,
            epoch: "0".into(),
        },
        limits,
        tickets: crate::auth::tickets::Tickets::new(
            std::time::Duration::from_secs(30),
            crate::auth::tickets::CAPACITY,
        ),
        web: crate::web::WebClient::build(),
        metrics: crate::metrics::Metrics::new(crate::http::route_labels()),
    };
    World {
        app,
        token: issued.token,
        conversation,
        _dir: dir,
    }
}

fn seed(pool: &Pool, history: usize) -> (UserId, ConversationId) {
    repo::write(pool, |tx| {
        let now = Timestamp::now();
        let user = |name: &str| {
            let name = Name::parse(name).expect("name");
            let email = crate::domain::Email::parse(&format!("{}@example.org", name.folded()))
                .expect("email");
            users::insert(tx, &name, &email, "unused-hash", now).map(|u| u.id)
        };
        let (ada, bob) = (user("ada")?, user("bob")?);
        let id = conversations::create_group(tx, ada, None, &[bob], now)?;
        let body = MessageBody::parse(&"x".repeat(100)).expect("body");
        for i in 0..history {
            let sender = if i % 2 == 0 { ada } else { bob };
            let mid = messages::insert(tx, id, sender, &body, None, now)?.expect("new message");
            conversations::record_message(tx, id, mid, now)?;
        }
        Ok::<_, repo::RepoError>((ada, id))
    })
    .expect("seed")
}

/// The statements one request ran, and its status.
fn traced(world: &World, method: &str, url: &str, body: &str) -> (u16, Vec<String>) {
    let headers = vec![
        (
            "Authorization".to_owned(),
            format!("Bearer {}", world.token),
        ),
        ("Content-Type".to_owned(), "application/json".to_owned()),
    ];
    let request = Request::fake_http(method, url, headers, body.as_bytes().to_vec());
    TRACED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clear();
    let trace = |codes: TraceEventCodes, callback: Option<fn(TraceEvent)>| {
        let reader = world.app.pool.get().expect("connection");
        reader.trace_v2(codes, callback);
        world.app.pool.writer_connection().trace_v2(codes, callback);
    };
    trace(TraceEventCodes::SQLITE_TRACE_STMT, Some(collect));
    let response = crate::http::handle(&world.app, &request);
    trace(TraceEventCodes::empty(), None);
    let statements = std::mem::take(&mut *TRACED.lock().unwrap_or_else(PoisonError::into_inner));
    (response.status_code, statements)
}

/// The plan of each statement that has one; panics on a full scan of a large table.
fn check_plans(world: &World, label: &str, statements: &[String]) {
    let conn = world.app.pool.get().expect("connection");
    println!("== {label}: {} statements", statements.len());
    for sql in statements {
        let sql = sql.split_whitespace().collect::<Vec<_>>().join(" ");
        println!("{sql}");
        if !sql.starts_with("SELECT") && !sql.starts_with("UPDATE") && !sql.starts_with("INSERT") {
            continue;
        }
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .expect("explain");
        let details: Vec<String> = stmt
            .query_map([], |row| row.get(3))
            .expect("plan")
            .collect::<Result<_, _>>()
            .expect("plan rows");
        for detail in details {
            println!("    {detail}");
            let scanned = detail
                .strip_prefix("SCAN ")
                .map(|rest| rest.split(' ').next());
            let full_scan = matches!(
                scanned,
                Some(Some("messages" | "m" | "reactions" | "events"))
            ) && !detail.contains("USING");
            assert!(!full_scan, "{label} scans a large table: {detail} in {sql}");
        }
    }
}

#[test]
fn hot_paths_run_a_fixed_number_of_indexed_statements() {
    let small = world(10);
    let large = world(3000);
    let cases = |w: &World| {
        let id = w.conversation;
        vec![
            (
                "list conversations",
                traced(w, "GET", "/api/conversations", ""),
            ),
            (
                "send a message",
                traced(
                    w,
                    "POST",
                    &format!("/api/conversations/{id}/messages"),
                    r#"{"body":"hi"}"#,
                ),
            ),
            (
                "edit a message",
                traced(
                    w,
                    "PATCH",
                    &format!("/api/conversations/{id}/messages/1"),
                    r#"{"body":"edited"}"#,
                ),
            ),
            (
                "delete a message",
                traced(
                    w,
                    "DELETE",
                    &format!("/api/conversations/{id}/messages/3"),
                    "",
                ),
            ),
            (
                "newest page",
                traced(w, "GET", &format!("/api/conversations/{id}/messages"), ""),
            ),
            (
                "page before a cursor",
                traced(
                    w,
                    "GET",
                    &format!("/api/conversations/{id}/messages?before=5&limit=100"),
                    "",
                ),
            ),
            (
                "page around a message",
                traced(
                    w,
                    "GET",
                    &format!("/api/conversations/{id}/messages?around=5&limit=10"),
                    "",
                ),
            ),
            (
                "search",
                traced(w, "GET", "/api/search/messages?q=xx&limit=10", ""),
            ),
        ]
    };
    for ((label, (status_small, small_sql)), (_, (status_large, large_sql))) in
        cases(&small).into_iter().zip(cases(&large))
    {
        assert!(
            status_small < 300 && status_large < 300,
            "{label}: {status_small} {status_large}"
        );
        assert_eq!(
            small_sql.len(),
            large_sql.len(),
            "{label}: {small_sql:#?} vs {large_sql:#?}"
        );
        check_plans(&large, label, &large_sql);
    }
}
