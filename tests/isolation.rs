//! Member isolation: someone outside a conversation can neither read nor change it, nor
//! learn that it exists, through any route.

use serde_json::json;

use crate::util::{Reply, TestServer};

#[test]
fn a_non_member_can_do_nothing_and_learns_nothing() {
    let server = TestServer::start();
    let ada = server.user("Ada");
    let bob = server.user("Bob");
    let eve = server.user("Eve");
    let id = server.group(&ada.token, &[bob.id]);
    let mid = server.say(&ada.token, id, "private");
    let missing = 999_999;
    let missing_mid = 999_998;

    let attempts = |conversation: i64, message: i64| -> Vec<Reply> {
        let base = format!("/api/conversations/{conversation}");
        let msg = format!("{base}/messages/{message}");
        vec![
            server.get(&base, &eve.token),
            server.get(&format!("{base}/messages"), &eve.token),
            server.get(&format!("{base}/messages?before={message}"), &eve.token),
            server.send(&eve.token, conversation, json!({"body": "hi"})),
            server
                .request("PATCH", &msg)
                .token(&eve.token)
                .json(&json!({"body": "x"}))
                .send(),
            server.request("DELETE", &msg).token(&eve.token).send(),
            server
                .request("PUT", &format!("{msg}/reactions/%F0%9F%91%8D"))
                .token(&eve.token)
                .send(),
            server
                .request("DELETE", &format!("{msg}/reactions/%F0%9F%91%8D"))
                .token(&eve.token)
                .send(),
            server
                .request("POST", &format!("{base}/read"))
                .token(&eve.token)
                .json(&json!({"message_id": message}))
                .send(),
        ]
    };
    let real = attempts(id, mid);
    let fake = attempts(missing, missing_mid);
    for (real, fake) in real.iter().zip(&fake) {
        real.assert_error(404, "not_found");
        assert_eq!(real.body, fake.body);
        assert_eq!(real.bytes, fake.bytes);
    }
    let listed = server.get("/api/conversations", &eve.token);
    assert_eq!(listed.body["conversations"], json!([]));

    let history = server.get(&format!("/api/conversations/{id}/messages"), &bob.token);
    let messages = history.body["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["body"], "private");
    assert_eq!(messages[0]["reactions"], json!([]));
}
