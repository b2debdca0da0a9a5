//! Custom emotes: upload, public image with caching, listing and deletion.

use serde_json::json;

use crate::util::{PNG, Reply, TestServer, at_once, upload};

const GIF: &[u8] = b"GIF89a\x01\0\x01\0\0\0\0;";
const WEBP: &[u8] =
    b"RIFF\x1a\0\0\0WEBPVP8L\x0d\0\0\0\x2f\0\0\0\x10\x07\x10\x11\x11\x88\x88\xfe\x07\0";

#[test]
fn uploads_are_typed_by_their_magic_bytes() {
    let server = TestServer::start();
    let ada = server.user("Ada");
    for (name, image, content_type) in [
        ("png_one", PNG, "image/png"),
        ("gif_one", GIF, "image/gif"),
        ("webp_one", WEBP, "image/webp"),
    ] {
        let reply = upload(&server, &ada.token, name, image);
        assert_eq!(reply.status, 201, "{}", reply.body);
        let emote = &reply.body["emote"];
        assert_eq!(emote["name"], name);
        assert_eq!(emote["url"], format!("/api/emotes/{name}"));
        assert_eq!(emote["content_type"], content_type);
        assert_eq!(emote["size"], image.len());
        assert_eq!(emote["created_by"], json!({"id": ada.id, "name": "Ada"}));
        assert!(emote["created_at"].is_string());
    }
    let svg = upload(
        &server,
        &ada.token,
        "svg_one",
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
    );
    svg.assert_field_error(400, "validation_failed", "image_base64");
}

#[test]
fn uploads_are_validated_at_their_limits() {
    let server = TestServer::start();
    let ada = server.user("Ada");
    let mut image = PNG.to_vec();
    image.resize(256 * 1024, 0);
    assert_eq!(upload(&server, &ada.token, "at_limit", &image).status, 201);
    image.push(0);
    upload(&server, &ada.token, "past_limit", &image).assert_field_error(
        400,
        "validation_failed",
        "image_base64",
    );
    upload(&server, &ada.token, "at_limit", PNG).assert_error(409, "conflict");
    for name in ["a", "Upper", "has-dash", &"n".repeat(33)] {
        upload(&server, &ada.token, name, PNG).assert_field_error(400, "validation_failed", "name");
    }
    assert_eq!(
        upload(&server, &ada.token, &"n".repeat(32), PNG).status,
        201
    );
    server
        .request("POST", "/api/emotes")
        .token(&ada.token)
        .json(&json!({"name": "broken", "image_base64": "data:image/png;base64,AAAA"}))
        .send()
        .assert_field_error(400, "validation_failed", "image_base64");
    let huge = format!(
        "{{\"name\":\"huge\",\"image_base64\":\"{}\"}}",
        "A".repeat(512 * 1024)
    );
    server
        .request("POST", "/api/emotes")
        .token(&ada.token)
        .body_bytes("application/json", huge.into_bytes())
        .send()
        .assert_error(413, "payload_too_large");
}

#[test]
fn the_image_is_public_and_cached_by_etag() {
    let server = TestServer::start();
    let ada = server.user("Ada");
    upload(&server, &ada.token, "wave", GIF);
    let image = server.request("GET", "/api/emotes/wave").send();
    assert_eq!(image.status, 200);
    assert_eq!(image.bytes, GIF);
    assert_eq!(image.header("Content-Type"), Some("image/gif"));
    assert_eq!(image.header("Cache-Control"), Some("public, max-age=86400"));
    let etag = image.header("ETag").expect("etag").to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'));

    let cached = server
        .request("GET", "/api/emotes/wave")
        .header("If-None-Match", &etag)
        .send();
    assert_eq!(cached.status, 304);
    assert!(cached.bytes.is_empty());
    assert_eq!(cached.header("ETag"), Some(etag.as_str()));
    let stale = server
        .request("GET", "/api/emotes/wave")
        .header("If-None-Match", "\"old\"")
        .send();
    assert_eq!(stale.status, 200);
    server
        .request("GET", "/api/emotes/nope")
        .send()
        .assert_error(404, "not_found");
    server
        .request("GET", "/api/emotes/Not%20Valid")
        .send()
        .assert_error(404, "not_found");
}

#[test]
fn emotes_are_listed_by_name() {
    let server = TestServer::start();
    let ada = server.user("Ada");
    for name in ["zebra", "apple", "mango"] {
        upload(&server, &ada.token, name, PNG);
    }
    let reply = server.get("/api/emotes?page_size=2", &ada.token);
    assert_eq!(reply.status, 200);
    let names: Vec<&str> = reply.body["emotes"]
        .as_array()
        .expect("emotes")
        .iter()
        .map(|e| e["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["apple", "mango"]);
    assert_eq!(
        reply.body["pagination"],
        json!({"page": 1, "page_size": 2, "total_items": 3, "total_pages": 2})
    );
    assert_eq!(
        server
            .get("/api/emotes?page=2&page_size=2", &ada.token)
            .body["emotes"][0]["name"],
        "zebra"
    );
    server
        .request("GET", "/api/emotes")
        .send()
        .assert_error(401, "unauthorized");
}

#[test]
fn only_the_creator_deletes_an_emote() {
    let server = TestServer::start();
    let ada = server.user("Ada");
    let bob = server.user("Bob");
    upload(&server, &ada.token, "mine", PNG);
    server
        .request("DELETE", "/api/emotes/mine")
        .token(&bob.token)
        .send()
        .assert_error(403, "forbidden");
    let deleted = server
        .request("DELETE", "/api/emotes/mine")
        .token(&ada.token)
        .send();
    assert_eq!(deleted.status, 200);
    assert_eq!(deleted.body, json!({"message": "Emote deleted"}));
    server
        .request("GET", "/api/emotes/mine")
        .send()
        .assert_error(404, "not_found");
    server
        .request("DELETE", "/api/emotes/mine")
        .token(&ada.token)
        .send()
        .assert_error(404, "not_found");
}

/// A PNG (by its magic bytes) of exactly `size` bytes.
fn png_of(size: usize) -> Vec<u8> {
    let mut image = PNG.to_vec();
    image.resize(size, 0);
    image
}

fn delete(server: &TestServer, token: &str, name: &str) -> Reply {
    server
        .request("DELETE", &format!("/api/emotes/{name}"))
        .token(token)
        .send()
}

#[test]
fn emotes_per_user_are_limited_at_their_quota() {
    let server = TestServer::start_with(&["--emotes-per-user", "2"]);
    let ada = server.user("Ada");
    let bob = server.user("Bob");
    assert_eq!(upload(&server, &ada.token, "one", PNG).status, 201);
    assert_eq!(upload(&server, &ada.token, "two", PNG).status, 201);
    upload(&server, &ada.token, "three", PNG).assert_error(409, "quota_exceeded");
    assert_eq!(
        upload(&server, &bob.token, "bobs", PNG).status,
        201,
        "another user's quota is their own"
    );
    let listed = server.get("/api/emotes", &ada.token);
    assert_eq!(
        listed.body["pagination"]["total_items"], 3,
        "nothing half-written"
    );
    assert_eq!(delete(&server, &ada.token, "one").status, 200);
    assert_eq!(upload(&server, &ada.token, "three", PNG).status, 201);
}

#[test]
fn emote_bytes_per_user_are_limited_at_their_quota() {
    let server = TestServer::start_with(&["--emote-bytes-per-user", "1KiB"]);
    let ada = server.user("Ada");
    assert_eq!(upload(&server, &ada.token, "big", &png_of(984)).status, 201);
    upload(&server, &ada.token, "past", &png_of(41)).assert_error(409, "quota_exceeded");
    assert_eq!(
        upload(&server, &ada.token, "at", &png_of(40)).status,
        201,
        "exactly 1024 bytes in all"
    );
    upload(&server, &ada.token, "past", &png_of(8)).assert_error(409, "quota_exceeded");
}

#[test]
fn parallel_uploads_cannot_overshoot_the_quota() {
    let server = TestServer::start_with(&["--emotes-per-user", "3"]);
    let ada = server.user("Ada");
    let replies = at_once(10, |i| {
        upload(&server, &ada.token, &format!("burst_{i}"), PNG)
    });
    let created = replies.iter().filter(|r| r.status == 201).count();
    let refused = replies.iter().filter(|r| r.status == 409).count();
    assert_eq!((created, refused), (3, 7));
    let listed = server.get("/api/emotes", &ada.token);
    assert_eq!(listed.body["pagination"]["total_items"], 3);
}
