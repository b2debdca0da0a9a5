//! Durability: a message that got a 2xx survives the server being killed at any moment,
//! with writers running concurrently so that the kill also lands inside commit groups.

use std::time::Duration;

use serde_json::json;

use crate::util::TestServer;

/// Sends messages one after another until one fails (the server died); the client ids of
/// those acknowledged with a 2xx.
fn write_until_killed(base: &str, token: &str, conversation: i64, round: String) -> Vec<String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    let url = format!("{base}/api/conversations/{conversation}/messages");
    let mut acknowledged = Vec::new();
    for n in 0.. {
        let client_id = format!("r{round}-{n}");
        let body = json!({"body": format!("round {round} message {n}"), "client_id": client_id});
        let sent = agent
            .post(&url)
            .header("Authorization", &format!("Bearer {token}"))
            .header("Content-Type", "application/json")
            .send(body.to_string());
        match sent {
            Ok(response) if response.status().is_success() => acknowledged.push(client_id),
            _ => break,
        }
    }
    acknowledged
}

fn random_millis(low: u64, high: u64) -> u64 {
    let mut bytes = [0u8; 2];
    getrandom::fill(&mut bytes).expect("random");
    low + u64::from(u16::from_le_bytes(bytes)) % (high - low)
}

/// Concurrent senders: enough for writes to share commits.
const WRITERS: usize = 4;

#[test]
fn acknowledged_messages_survive_twenty_kills() {
    let mut server = TestServer::start();
    let (ada, _, conversation) = server.ada_and_bob_group();
    let mut acknowledged = Vec::new();
    for round in 0..20 {
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let base = server.base.clone();
                let token = ada.token.clone();
                let round = format!("{round}.{w}");
                std::thread::spawn(move || write_until_killed(&base, &token, conversation, round))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(random_millis(30, 250)));
        // SIGKILL: no shutdown, no checkpoint, whatever was in flight.
        server.stop();
        for writer in writers {
            acknowledged.extend(writer.join().expect("writer"));
        }
        server.restart();
    }
    assert!(
        acknowledged.len() > 100,
        "the writer got going: {}",
        acknowledged.len()
    );
    let db = server.open_db();
    let mut stmt = db
        .prepare("SELECT client_id FROM messages WHERE client_id = ?1")
        .expect("prepare");
    let missing: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !stmt.exists([id.as_str()]).expect("lookup"))
        .collect();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity");
    assert_eq!(check, "ok");
    // And the server still serves what it kept.
    assert_eq!(
        server
            .get(&format!("/api/conversations/{conversation}"), &ada.token)
            .status,
        200
    );
}
