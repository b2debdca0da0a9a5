//! The user directory, the caller's profile, and password change.

use serde_json::json;

use crate::util::{PASSWORD, TestServer};

#[test]
fn users_paginate_by_id_with_totals() {
    let server = TestServer::start();
    let viewer = server.user("Viewer");
    for i in 1..45 {
        server.register(&format!("User {i:02}"));
    }
    let page = |query: &str| server.get(&format!("/api/profile/users{query}"), &viewer.token);

    let first = page("");
    assert_eq!(first.status, 200);
    assert_eq!(
        first.body["pagination"],
        json!({"page": 1, "page_size": 30, "total_items": 45, "total_pages": 2})
    );
    let users = first.body["users"].as_array().expect("users");
    assert_eq!(users.len(), 30);
    assert_eq!(users[0]["id"], viewer.id);
    assert!(
        users
            .windows(2)
            .all(|w| w[0]["id"].as_i64() < w[1]["id"].as_i64())
    );
    assert!(
        users
            .iter()
            .all(|u| u.get("email").is_none() && u.as_object().map(|o| o.len()) == Some(3))
    );

    let last = page("?page=2");
    assert_eq!(last.body["users"].as_array().expect("users").len(), 15);
    assert_eq!(last.body["users"][14]["name"], "User 44");

    let past = page("?page=3");
    assert_eq!(past.status, 200);
    assert_eq!(past.body["users"], json!([]));
    assert_eq!(past.body["pagination"]["total_pages"], 2);

    let exact = page("?page=5&page_size=9");
    assert_eq!(exact.body["users"].as_array().expect("users").len(), 9);
    assert_eq!(exact.body["pagination"]["total_pages"], 5);
    assert_eq!(
        page("?page_size=100").body["users"]
            .as_array()
            .expect("users")
            .len(),
        45
    );
    assert_eq!(
        page("?page_size=1&page=45").body["users"][0]["name"],
        "User 44"
    );
}

#[test]
fn malformed_page_parameters_are_refused() {
    let server = TestServer::start();
    let viewer = server.user("Viewer");
    for (query, field) in [
        ("page=0", "page"),
        ("page=-1", "page"),
        ("page=abc", "page"),
        ("page=", "page"),
        ("page=1.5", "page"),
        ("page=99999999999", "page"),
        ("page_size=0", "page_size"),
        ("page_size=101", "page_size"),
        ("page_size=ten", "page_size"),
    ] {
        server
            .get(&format!("/api/profile/users?{query}"), &viewer.token)
            .assert_field_error(400, "invalid_parameter", field);
    }
}

#[test]
fn user_search_is_case_insensitive_in_every_script_and_literal() {
    let server = TestServer::start();
    let viewer = server.user("Viewer");
    for name in [
        "Émile Zola",
        "émilie",
        "100% Real",
        "under_score",
        "underXscore",
        "ΣΟΦΊΑ",
    ] {
        server.register(name);
    }
    let names = |q: &str| -> Vec<String> {
        let reply = server.get(&format!("/api/profile/users?q={q}"), &viewer.token);
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.body["users"]
            .as_array()
            .expect("users")
            .iter()
            .map(|u| u["name"].as_str().expect("name").to_owned())
            .collect()
    };
    assert_eq!(names("%C3%A9mile"), ["Émile Zola"]);
    assert_eq!(names("%C3%89MIL"), ["Émile Zola", "émilie"]);
    assert_eq!(names("%25"), ["100% Real"]);
    assert_eq!(names("r_s"), ["under_score"]);
    assert_eq!(names("%CF%83%CE%BF%CF%86"), ["ΣΟΦΊΑ"]);
    assert!(names("nobody").is_empty());
    let reply = server.get("/api/profile/users?q=zola&page_size=1", &viewer.token);
    assert_eq!(reply.body["pagination"]["total_items"], 1);
}

#[test]
fn one_user_is_shown_publicly_or_not_found() {
    let server = TestServer::start();
    let viewer = server.user("Viewer");
    let other = server.register("Other");
    let reply = server.get(
        &format!("/api/profile/users/{}", other["id"]),
        &viewer.token,
    );
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.body["user"],
        json!({"id": other["id"], "name": "Other", "created_at": other["created_at"]})
    );
    server
        .get("/api/profile/users/999", &viewer.token)
        .assert_error(404, "not_found");
    server
        .get("/api/profile/users/abc", &viewer.token)
        .assert_error(404, "not_found");
    server
        .get("/api/profile/users/1", "bad-token")
        .assert_error(401, "unauthorized");
}

#[test]
fn the_profile_shows_and_renames_the_caller() {
    let server = TestServer::start();
    let user = server.user("Ada");
    let me = server.get("/api/profile", &user.token);
    assert_eq!(me.status, 200);
    assert_eq!(me.body["user"]["email"], user.email.as_str());

    let renamed = server
        .request("PATCH", "/api/profile")
        .token(&user.token)
        .json(&json!({"name": " Ada King "}))
        .send();
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    assert_eq!(renamed.body["user"]["name"], "Ada King");
    assert_eq!(renamed.body["user"]["id"], user.id);
    assert_eq!(
        server.get("/api/profile", &user.token).body["user"]["name"],
        "Ada King"
    );

    let rename = |name: &str| {
        server
            .request("PATCH", "/api/profile")
            .token(&user.token)
            .json(&json!({"name": name}))
            .send()
    };
    assert_eq!(rename(&"n".repeat(100)).status, 200);
    rename(&"n".repeat(101)).assert_field_error(400, "validation_failed", "name");
    rename("").assert_field_error(400, "validation_failed", "name");
}

#[test]
fn password_change_keeps_only_the_calling_session() {
    let server = TestServer::start();
    let user = server.user("Ada");
    let other_session = server.login(&user.email, PASSWORD).body["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let change = |current: &str, new: &str| {
        server
            .request("POST", "/api/profile/password")
            .token(&user.token)
            .json(&json!({"current_password": current, "new_password": new}))
            .send()
    };
    change("wrong password", "new password 1").assert_error(401, "invalid_credentials");
    change("short", "new password 1").assert_error(401, "invalid_credentials");
    change(PASSWORD, "short").assert_field_error(400, "validation_failed", "new_password");
    assert_eq!(server.get("/api/auth/validate", &other_session).status, 200);

    let reply = change(PASSWORD, "new password 1");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body, json!({"message": "Password changed"}));
    assert_eq!(server.get("/api/auth/validate", &user.token).status, 200);
    server
        .get("/api/auth/validate", &other_session)
        .assert_error(401, "unauthorized");
    server
        .login(&user.email, PASSWORD)
        .assert_error(401, "invalid_credentials");
    assert_eq!(server.login(&user.email, "new password 1").status, 200);
}
