//! Attachments: pictures and files uploaded to a conversation, sent with a message, and served
//! to its members only, typed by their bytes, with the headers that keep a file from acting as
//! a page, photo metadata removed, and limits and quotas held at their edges.

use std::io::{BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::util::{PNG, Reply, TestServer, TestUser, raw};

const GIF: &[u8] = b"GIF89a\x40\x01\xf0\x00\0\0\0;";
/// A lossless WebP of 100×50 (14-bit fields of width-1 and height-1 after the signature).
const WEBP: &[u8] = b"RIFF\x1a\0\0\0WEBPVP8L\x0d\0\0\0\x2f\x63\x40\x0c\0\0\x10\x07\x10\x11\x11";
const HTML: &[u8] = b"<!doctype html><script>alert(document.cookie)</script>";

fn upload_as(
    server: &TestServer,
    user: &TestUser,
    conversation: i64,
    name: &str,
    bytes: &[u8],
) -> Reply {
    let name = percent(name);
    server
        .request(
            "POST",
            &format!("/api/conversations/{conversation}/attachments?name={name}"),
        )
        .token(&user.token)
        .body_bytes("application/x-anything", bytes.to_vec())
        .send()
}

/// Uploads and returns the attachment object.
fn uploaded(
    server: &TestServer,
    user: &TestUser,
    conversation: i64,
    name: &str,
    bytes: &[u8],
) -> Value {
    let reply = upload_as(server, user, conversation, name, bytes);
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.body["attachment"].clone()
}

fn fetch(server: &TestServer, user: &TestUser, attachment: &Value) -> Reply {
    let url = attachment["url"].as_str().expect("url");
    server.request("GET", url).token(&user.token).send()
}

fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Two members of a group and a stranger.
fn group_of_two(server: &TestServer) -> (TestUser, TestUser, TestUser, i64) {
    let (ada, bob, eve) = (server.user("Ada"), server.user("Bob"), server.user("Eve"));
    let group = server.group(&ada.token, &[bob.id]);
    (ada, bob, eve, group)
}

/// A JPEG as a phone writes it: JFIF, EXIF with the orientation and a GPS position, XMP, a
/// colour profile, a frame header of `width`×`height`, a scan, and the end marker.
fn phone_jpeg(orientation: u16, width: u16, height: u16) -> Vec<u8> {
    fn segment(jpeg: &mut Vec<u8>, code: u8, payload: &[u8]) {
        jpeg.extend_from_slice(&[0xFF, code]);
        jpeg.extend_from_slice(
            &u16::try_from(payload.len() + 2)
                .expect("small")
                .to_be_bytes(),
        );
        jpeg.extend_from_slice(payload);
    }
    let mut tiff: Vec<u8> = b"MM\0\x2a\0\0\0\x08\0\x02".to_vec();
    tiff.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1]);
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0]);
    // GPSInfo, pointing at a GPS directory whose text is the position.
    tiff.extend_from_slice(&[0x88, 0x25, 0, 4, 0, 0, 0, 1, 0, 0, 0, 38, 0, 0, 0, 0]);
    tiff.extend_from_slice(&[0, 1, 0, 1, 0, 2, 0, 0, 0, 2, b'N', 0, 0, 0, 0, 0, 0, 0]);
    tiff.extend_from_slice(b"GPS 52.5200N 13.4050E");
    let mut exif = b"Exif\0\0".to_vec();
    exif.extend_from_slice(&tiff);
    let mut jpeg = vec![0xFF, 0xD8];
    segment(&mut jpeg, 0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
    segment(&mut jpeg, 0xE1, &exif);
    segment(
        &mut jpeg,
        0xE1,
        b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta/>",
    );
    segment(&mut jpeg, 0xE2, b"ICC_PROFILE\0\x01\x01profile");
    let mut frame = vec![8];
    frame.extend_from_slice(&height.to_be_bytes());
    frame.extend_from_slice(&width.to_be_bytes());
    frame.extend_from_slice(&[1, 1, 0x11, 0]);
    segment(&mut jpeg, 0xC0, &frame);
    segment(&mut jpeg, 0xDA, &[1, 1, 0, 0, 0x3F, 0]);
    jpeg.extend_from_slice(&[0x12, 0x34, 0xFF, 0x00, 0x56, 0xFF, 0xD9]);
    jpeg
}

#[test]
fn the_type_is_told_from_the_bytes_never_from_the_name() {
    let server = TestServer::start();
    let (ada, bob, _, group) = group_of_two(&server);
    let jpeg = phone_jpeg(1, 640, 480);
    for (name, bytes, content_type, size) in [
        ("setup.exe", PNG, "image/png", Some((1, 1))),
        ("anim.bin", GIF, "image/gif", Some((320, 240))),
        ("photo.txt", WEBP, "image/webp", Some((100, 50))),
        ("IMG_0001", &jpeg[..], "image/jpeg", Some((640, 480))),
        ("cat.png", HTML, "application/octet-stream", None),
    ] {
        let attachment = uploaded(&server, &ada, group, name, bytes);
        assert_eq!(attachment["name"], name);
        assert_eq!(attachment["content_type"], content_type, "{name}");
        match size {
            Some((width, height)) => {
                assert_eq!(attachment["width"], width, "{name}");
                assert_eq!(attachment["height"], height, "{name}");
            }
            None => {
                assert!(attachment.get("width").is_none(), "{attachment}");
                assert!(attachment.get("height").is_none(), "{attachment}");
            }
        }
        let sent = server.send(
            &ada.token,
            group,
            json!({"attachments": [attachment["id"]]}),
        );
        assert_eq!(sent.status, 201, "{}", sent.body);
        let served = fetch(&server, &bob, &attachment);
        assert_eq!(served.status, 200);
        assert_eq!(served.header("Content-Type"), Some(content_type), "{name}");
        let disposition = served.header("Content-Disposition").expect("disposition");
        let kind = if size.is_some() {
            "inline"
        } else {
            "attachment"
        };
        assert_eq!(
            disposition,
            format!("{kind}; filename=\"{name}\"; filename*=UTF-8''{name}")
        );
    }
}

#[test]
fn a_file_is_served_with_headers_that_keep_it_from_acting_as_a_page() {
    let server = TestServer::start();
    let (ada, bob, _, group) = group_of_two(&server);
    let name = "Grüße \"final\".html";
    let attachment = uploaded(&server, &ada, group, name, HTML);
    assert_eq!(attachment["size"], HTML.len());
    server.send(
        &ada.token,
        group,
        json!({"body": "see", "attachments": [attachment["id"]]}),
    );
    let served = fetch(&server, &bob, &attachment);
    assert_eq!(served.status, 200);
    assert_eq!(served.bytes, HTML);
    assert_eq!(
        served.header("Content-Type"),
        Some("application/octet-stream")
    );
    assert_eq!(
        served.header("Content-Disposition"),
        Some(
            "attachment; filename=\"Gr__e _final_.html\"; \
             filename*=UTF-8''Gr%C3%BC%C3%9Fe%20%22final%22.html"
        )
    );
    assert_eq!(served.header("X-Content-Type-Options"), Some("nosniff"));
    assert_eq!(
        served.header("Content-Security-Policy"),
        Some("default-src 'none'; sandbox")
    );
    assert_eq!(
        served.header("Cache-Control"),
        Some("private, max-age=31536000, immutable")
    );
    let etag = served.header("ETag").expect("etag");
    assert_eq!(etag.len(), 66, "a quoted SHA-256: {etag}");
    let again = server
        .request("GET", attachment["url"].as_str().expect("url"))
        .token(&bob.token)
        .header("If-None-Match", etag)
        .send();
    assert_eq!(again.status, 304);
    assert_eq!(again.header("ETag"), Some(etag));
    assert!(again.bytes.is_empty());
}

#[test]
fn only_members_fetch_and_only_sent_files_or_ones_own() {
    let server = TestServer::start();
    let (ada, bob, eve, group) = group_of_two(&server);
    let attachment = uploaded(&server, &ada, group, "cat.png", PNG);
    assert_eq!(
        fetch(&server, &ada, &attachment).status,
        200,
        "the uploader sees it"
    );
    fetch(&server, &bob, &attachment).assert_error(404, "not_found");
    server.send(
        &ada.token,
        group,
        json!({"attachments": [attachment["id"]]}),
    );
    assert_eq!(fetch(&server, &bob, &attachment).status, 200);
    fetch(&server, &eve, &attachment).assert_error(404, "not_found");
    let id = attachment["id"].as_i64().expect("id");
    let eves = server.group(&eve.token, &[ada.id]);
    server
        .request(
            "GET",
            &format!("/api/conversations/{eves}/attachments/{id}"),
        )
        .token(&eve.token)
        .send()
        .assert_error(404, "not_found");
    upload_as(&server, &eve, group, "x.png", PNG).assert_error(404, "not_found");
    server
        .request("GET", attachment["url"].as_str().expect("url"))
        .send()
        .assert_error(401, "unauthorized");
}

#[test]
fn a_message_carries_its_attachments_and_only_ones_own_unsent_uploads() {
    let server = TestServer::start();
    let (ada, bob, _, group) = group_of_two(&server);
    let photo = uploaded(&server, &ada, group, "a.png", PNG);
    let file = uploaded(&server, &ada, group, "b.txt", b"notes");
    let sent = server.send(
        &ada.token,
        group,
        json!({"attachments": [photo["id"], file["id"]]}),
    );
    assert_eq!(sent.status, 201, "{}", sent.body);
    let message = &sent.body["message"];
    assert_eq!(message["body"], "");
    assert_eq!(message["attachments"], json!([photo, file]));
    let history = server.get(&format!("/api/conversations/{group}/messages"), &bob.token);
    assert_eq!(
        history.body["messages"][0]["attachments"],
        json!([photo, file])
    );
    let created = server
        .events()
        .into_iter()
        .find(|(_, kind, _)| kind == "message.created")
        .expect("event");
    assert_eq!(created.2["message"]["attachments"], json!([photo, file]));

    server
        .send(&ada.token, group, json!({"attachments": [photo["id"]]}))
        .assert_field_error(400, "validation_failed", "attachments");
    let bobs = uploaded(&server, &bob, group, "c.png", PNG);
    server
        .send(&ada.token, group, json!({"attachments": [bobs["id"]]}))
        .assert_field_error(400, "validation_failed", "attachments");
    server
        .send(&ada.token, group, json!({"attachments": [999_999]}))
        .assert_field_error(400, "validation_failed", "attachments");
    let other = server.group(&bob.token, &[ada.id]);
    server
        .send(&ada.token, other, json!({"attachments": [bobs["id"]]}))
        .assert_field_error(400, "validation_failed", "attachments");
    server
        .send(&bob.token, group, json!({"attachments": "c.png"}))
        .assert_field_error(400, "validation_failed", "attachments");
    server
        .send(&bob.token, group, json!({}))
        .assert_field_error(400, "validation_failed", "body");
    server
        .send(
            &bob.token,
            group,
            json!({"attachments": [bobs["id"], bobs["id"]]}),
        )
        .assert_field_error(400, "validation_failed", "attachments");
    let eleven: Vec<Value> = (1..=11).map(|id| json!(id)).collect();
    server
        .send(&bob.token, group, json!({"attachments": eleven}))
        .assert_field_error(400, "validation_failed", "attachments");
    let with_text = server.send(
        &bob.token,
        group,
        json!({"body": "mine", "attachments": [bobs["id"]]}),
    );
    assert_eq!(with_text.status, 201, "{}", with_text.body);
    assert_eq!(with_text.body["message"]["body"], "mine");
}

#[test]
fn a_deleted_messages_attachments_are_no_longer_served_or_stored() {
    let server = TestServer::start();
    let (ada, bob, _, group) = group_of_two(&server);
    let attachment = uploaded(&server, &ada, group, "cat.png", PNG);
    let sent = server.send(
        &ada.token,
        group,
        json!({"attachments": [attachment["id"]]}),
    );
    let message_id = sent.body["message"]["id"].as_i64().expect("id");
    assert_eq!(fetch(&server, &bob, &attachment).status, 200);
    let deleted = server
        .request(
            "DELETE",
            &format!("/api/conversations/{group}/messages/{message_id}"),
        )
        .token(&ada.token)
        .send();
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert_eq!(deleted.body["message"]["attachments"], json!([]));
    fetch(&server, &bob, &attachment).assert_error(404, "not_found");
    fetch(&server, &ada, &attachment).assert_error(404, "not_found");
    let db = server.open_db();
    let rows: i64 = db
        .query_row("SELECT count(*) FROM attachment_chunks", [], |row| {
            row.get(0)
        })
        .expect("count");
    assert_eq!(rows, 0, "the bytes are gone");
    for (_, _, data) in server.events() {
        if let Some(attachments) = data["message"].get("attachments") {
            assert_eq!(
                attachments,
                &json!([]),
                "stored events keep nothing: {data}"
            );
        }
    }
}

#[test]
fn gps_and_other_exif_are_removed_from_stored_jpegs() {
    let server = TestServer::start();
    let (ada, bob, _, group) = group_of_two(&server);
    let upright = phone_jpeg(1, 640, 480);
    assert!(contains(&upright, b"GPS 52.5200N"));
    let photo = uploaded(&server, &ada, group, "photo.jpg", &upright);
    assert_eq!(
        (photo["width"].clone(), photo["height"].clone()),
        (json!(640), json!(480))
    );
    let turned = uploaded(&server, &ada, group, "turned.jpg", &phone_jpeg(6, 640, 480));
    assert_eq!(
        (turned["width"].clone(), turned["height"].clone()),
        (json!(480), json!(640)),
        "shown turned, as its orientation says"
    );
    server.send(
        &ada.token,
        group,
        json!({"attachments": [photo["id"], turned["id"]]}),
    );
    let served = fetch(&server, &bob, &photo);
    assert_eq!(served.status, 200);
    assert!(!contains(&served.bytes, b"GPS"));
    assert!(!contains(&served.bytes, b"Exif"));
    assert!(!contains(&served.bytes, b"xmpmeta"));
    assert!(contains(&served.bytes, b"ICC_PROFILE"), "colours are kept");
    assert_eq!(photo["size"], served.bytes.len());
    assert!(served.bytes.len() < upright.len());
    let turned_bytes = fetch(&server, &bob, &turned).bytes;
    assert!(
        contains(&turned_bytes, b"Exif\0\0MM"),
        "the orientation is kept"
    );
    assert!(!contains(&turned_bytes, b"GPS"));
    let db = server.open_db();
    let mut stmt = db
        .prepare("SELECT data FROM attachment_chunks")
        .expect("prepare");
    let stored: Vec<Vec<u8>> = stmt
        .query_map([], |row| row.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert!(stored.iter().all(|piece| !contains(piece, b"GPS")));

    let mut broken = upright[..20].to_vec();
    broken.extend_from_slice(b"not a marker");
    upload_as(&server, &ada, group, "broken.jpg", &broken).assert_error(400, "validation_failed");
}

#[test]
fn the_size_limit_holds_at_its_size_and_not_one_byte_past() {
    let server = TestServer::start_with(&["--attachment-max-bytes", "1000"]);
    let (ada, _, _, group) = group_of_two(&server);
    let at_limit = uploaded(&server, &ada, group, "a.bin", &[7u8; 1000]);
    assert_eq!(at_limit["size"], 1000);
    upload_as(&server, &ada, group, "b.bin", &[7u8; 1001]).assert_error(413, "payload_too_large");
    upload_as(&server, &ada, group, "c.bin", b"").assert_error(400, "validation_failed");
    let db = server.open_db();
    let count: i64 = db
        .query_row("SELECT count(*) FROM attachments", [], |row| row.get(0))
        .expect("count");
    assert_eq!(count, 1, "refused uploads leave nothing");
}

#[test]
fn ten_mebibytes_by_default_stream_in_and_out_whole() {
    let server = TestServer::start();
    let (ada, bob, _, group) = group_of_two(&server);
    let big: Vec<u8> = (0..10u32 << 20).map(|i| (i % 251) as u8).collect();
    let attachment = uploaded(&server, &ada, group, "big.bin", &big);
    assert_eq!(attachment["size"], 10 << 20);
    server.send(
        &ada.token,
        group,
        json!({"attachments": [attachment["id"]]}),
    );
    let served = fetch(&server, &bob, &attachment);
    assert_eq!(served.status, 200);
    assert!(served.bytes == big, "the bytes come back as they went in");
    let past = raw_upload(&server, &ada, group, (10 << 20) + 1, b"");
    assert!(past.starts_with("HTTP/1.1 413"), "{past}");
    assert!(past.contains("payload_too_large"), "{past}");
}

/// Sends an upload head declaring `length` and then `body`, then closes the sending side;
/// the whole answer.
fn raw_upload(
    server: &TestServer,
    user: &TestUser,
    group: i64,
    length: u64,
    body: &[u8],
) -> String {
    let mut stream = raw::connect(server);
    let head = format!(
        "POST /api/conversations/{group}/attachments?name=x.bin HTTP/1.1\r\nHost: t\r\n\
         Authorization: Bearer {}\r\nContent-Length: {length}\r\n\r\n",
        user.token
    );
    stream.write_all(head.as_bytes()).expect("head");
    stream.write_all(body).expect("body");
    stream.shutdown(Shutdown::Write).expect("shutdown");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn an_upload_cut_short_or_chunked_stores_nothing() {
    let server = TestServer::start();
    let (ada, _, _, group) = group_of_two(&server);
    // Past the first piece, so that the upload was reserved and partly written.
    let cut = raw_upload(&server, &ada, group, 1_000_000, &[1u8; 300_000]);
    assert!(cut.starts_with("HTTP/1.1 400"), "{cut}");
    let chunked = server.raw(
        format!(
            "POST /api/conversations/{group}/attachments?name=x.bin HTTP/1.1\r\nHost: t\r\n\
             Authorization: Bearer {}\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            ada.token
        )
        .as_bytes(),
    );
    assert!(chunked.starts_with("HTTP/1.1 411"), "{chunked}");
    assert!(chunked.contains("length_required"), "{chunked}");
    assert_eq!(stored_uploads(&server), (0, 0));
    upload_as(&server, &ada, group, "", PNG).assert_field_error(400, "invalid_parameter", "name");
    upload_as(&server, &ada, group, &"n".repeat(256), PNG).assert_field_error(
        400,
        "invalid_parameter",
        "name",
    );
    let path = uploaded(&server, &ada, group, "C:\\Users\\ada\\cat.png", PNG);
    assert_eq!(
        path["name"], "cat.png",
        "only the last path component is kept"
    );
    assert_eq!(
        uploaded(&server, &ada, group, &"n".repeat(255), PNG)["name"],
        "n".repeat(255)
    );
}

#[test]
fn the_quota_holds_at_its_size_and_not_one_byte_past() {
    let server = TestServer::start_with(&["--attachment-bytes-per-user", "3000"]);
    let (ada, bob, _, group) = group_of_two(&server);
    let first = uploaded(&server, &ada, group, "a.bin", &[1u8; 2000]);
    uploaded(&server, &ada, group, "b.bin", &[1u8; 1000]);
    upload_as(&server, &ada, group, "c.bin", &[1u8; 1]).assert_error(409, "quota_exceeded");
    uploaded(&server, &bob, group, "d.bin", &[1u8; 3000]);
    let sent = server.send(&ada.token, group, json!({"attachments": [first["id"]]}));
    let message_id = sent.body["message"]["id"].as_i64().expect("id");
    server
        .request(
            "DELETE",
            &format!("/api/conversations/{group}/messages/{message_id}"),
        )
        .token(&ada.token)
        .send();
    uploaded(&server, &ada, group, "e.bin", &[1u8; 2000]);
    upload_as(&server, &ada, group, "f.bin", &[1u8; 1]).assert_error(409, "quota_exceeded");
}

#[test]
fn uploads_never_sent_are_deleted_after_their_time() {
    let server = TestServer::start_with(&["--unattached-attachment-secs", "0"]);
    let (ada, _, _, group) = group_of_two(&server);
    let forgotten = uploaded(&server, &ada, group, "a.png", PNG);
    let fresh = uploaded(&server, &ada, group, "b.png", PNG);
    fetch(&server, &ada, &forgotten).assert_error(404, "not_found");
    server
        .send(&ada.token, group, json!({"attachments": [forgotten["id"]]}))
        .assert_field_error(400, "validation_failed", "attachments");
    let sent = server.send(&ada.token, group, json!({"attachments": [fresh["id"]]}));
    assert_eq!(sent.status, 201, "{}", sent.body);
    uploaded(&server, &ada, group, "c.png", PNG);
    assert_eq!(fetch(&server, &ada, &fresh).status, 200, "a sent one stays");
}

#[test]
fn a_request_pipelined_after_an_upload_is_answered_on_the_same_connection() {
    let server = TestServer::start();
    let (ada, _, _, group) = group_of_two(&server);
    let mut stream = raw::connect(&server);
    let upload = format!(
        "POST /api/conversations/{group}/attachments?name=a.bin HTTP/1.1\r\nHost: t\r\n\
         Authorization: Bearer {token}\r\nContent-Length: 5\r\n\r\nhello\
         GET /api/conversations/{group} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\n\
         Connection: close\r\n\r\n",
        token = ada.token
    );
    stream.write_all(upload.as_bytes()).expect("write");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    // A body ends without a line break: each answer starts where the last body ended.
    let statuses: Vec<&str> = answer
        .split("HTTP/1.1 ")
        .skip(1)
        .map(|answer| &answer[..3])
        .collect();
    assert_eq!(statuses, ["201", "200"], "{answer}");
    assert!(answer.contains("\"size\":5"), "{answer}");
}

/// Sends a picture with a message and returns the attachment.
fn sent_picture(server: &TestServer, user: &TestUser, conversation: i64) -> Value {
    let picture = uploaded(server, user, conversation, "p.png", PNG);
    let sent = server.send(
        &user.token,
        conversation,
        json!({"attachments": [picture["id"]]}),
    );
    assert_eq!(sent.status, 201, "{}", sent.body);
    picture
}

#[test]
fn a_picture_is_served_only_to_whom_its_message_shows() {
    let server = TestServer::start();
    let (ada, bob, _, group) = group_of_two(&server);
    let before = sent_picture(&server, &ada, group);
    let hide = server
        .request("PATCH", &format!("/api/conversations/{group}"))
        .token(&ada.token)
        .json(&json!({"history_visible": false}))
        .send();
    assert_eq!(hide.status, 200, "{}", hide.body);
    let dee = server.user("Dee");
    let added = server
        .request("POST", &format!("/api/conversations/{group}/members"))
        .token(&ada.token)
        .json(&json!({"user_ids": [dee.id]}))
        .send();
    assert_eq!(added.status, 200, "{}", added.body);
    let after = sent_picture(&server, &ada, group);
    assert_eq!(fetch(&server, &bob, &before).status, 200);
    assert_eq!(
        fetch(&server, &dee, &before).status,
        404,
        "sent before Dee joined a group that hides its history"
    );
    assert_eq!(fetch(&server, &dee, &after).status, 200);

    let direct = server.conversation(&ada.token, &[bob.id], None).body["conversation"]["id"]
        .as_i64()
        .expect("direct");
    let from_bob = sent_picture(&server, &bob, direct);
    assert_eq!(fetch(&server, &ada, &from_bob).status, 200);
    let block = server
        .request("PUT", &format!("/api/blocks/{}", bob.id))
        .token(&ada.token)
        .send();
    assert!(block.status < 300, "{}", block.body);
    assert_eq!(
        fetch(&server, &ada, &from_bob).status,
        404,
        "from a person Ada blocks"
    );
    assert_eq!(fetch(&server, &bob, &from_bob).status, 200, "his own");
}

#[test]
fn a_message_carries_ten_attachments_and_not_eleven() {
    let server = TestServer::start();
    let (ada, bob, _, group) = group_of_two(&server);
    let uploads: Vec<Value> = (0..11)
        .map(|i| uploaded(&server, &ada, group, &format!("{i}.png"), PNG))
        .collect();
    let ids: Vec<Value> = uploads.iter().map(|u| u["id"].clone()).collect();
    server
        .send(&ada.token, group, json!({"attachments": ids}))
        .assert_field_error(400, "validation_failed", "attachments");
    let ten = server.send(&ada.token, group, json!({"attachments": ids[..10]}));
    assert_eq!(ten.status, 201, "{}", ten.body);
    assert_eq!(ten.body["message"]["attachments"], json!(uploads[..10]));
    let history = server.get(&format!("/api/conversations/{group}/messages"), &bob.token);
    assert_eq!(
        history.body["messages"][0]["attachments"]
            .as_array()
            .map(Vec::len),
        Some(10)
    );
}

fn leave(server: &TestServer, who: &TestUser, conversation: i64, user: i64) {
    let left = server
        .request(
            "DELETE",
            &format!("/api/conversations/{conversation}/members/{user}"),
        )
        .token(&who.token)
        .send();
    assert_eq!(left.status, 200, "{}", left.body);
}

/// What a member uploaded keeps counting after they leave (they can no longer delete it, but
/// it is still on the disk) and stops counting when the group goes with its last member.
#[test]
fn attachments_count_while_kept_even_in_a_conversation_left() {
    let server = TestServer::start_with(&["--attachment-bytes-per-user", "3000"]);
    let (ada, bob, _, group) = group_of_two(&server);
    let other = server.group(&bob.token, &[ada.id]);
    let sent = uploaded(&server, &bob, group, "a.bin", &[1u8; 2000]);
    let message = server.send(&bob.token, group, json!({"attachments": [sent["id"]]}));
    assert_eq!(message.status, 201, "{}", message.body);
    leave(&server, &ada, group, bob.id);
    upload_as(&server, &bob, other, "b.bin", &[1u8; 1001]).assert_error(409, "quota_exceeded");
    uploaded(&server, &bob, other, "c.bin", &[1u8; 1000]);
    upload_as(&server, &bob, other, "d.bin", &[1u8; 1]).assert_error(409, "quota_exceeded");
    leave(&server, &ada, group, ada.id);
    uploaded(&server, &bob, other, "e.bin", &[1u8; 2000]);
}

/// Starts an upload declaring `length` bytes and sends `part` of its body; the connection,
/// still open, once the server has reserved the upload.
fn begin_upload(
    server: &TestServer,
    user: &TestUser,
    conversation: i64,
    length: usize,
    part: &[u8],
) -> TcpStream {
    let mut stream = raw::connect(server);
    let head = format!(
        "POST /api/conversations/{conversation}/attachments?name=slow.bin HTTP/1.1\r\nHost: t\r\n\
         Authorization: Bearer {}\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n",
        user.token
    );
    stream.write_all(head.as_bytes()).expect("head");
    stream.write_all(part).expect("part of the body");
    until_reserved(server);
    stream
}

/// Waits up to 10 s for an upload the server has reserved but not completed.
fn until_reserved(server: &TestServer) {
    let db = server.open_db();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let incomplete: i64 = db
            .query_row(
                "SELECT count(*) FROM attachments WHERE digest IS NULL",
                [],
                |row| row.get(0),
            )
            .expect("count");
        if incomplete > 0 {
            return;
        }
        thread::sleep(Duration::from_millis(20));
    }
    panic!("the upload was never reserved");
}

/// Sends the rest of an upload's body; the answer.
fn finish_upload(stream: TcpStream, rest: &[u8]) -> raw::Response {
    (&stream).write_all(rest).expect("rest of the body");
    raw::read_response(&mut BufReader::new(stream), false)
}

/// A body past the first piece the server reads (256 KiB), so that the upload is reserved
/// and partly written before the test goes on.
fn slow_body() -> Vec<u8> {
    (0..1_500_000u32).map(|i| (i % 251) as u8).collect()
}

#[test]
fn an_upload_in_progress_is_not_pruned_by_the_uploaders_next_one() {
    let server = TestServer::start_with(&["--unattached-attachment-secs", "0"]);
    let (ada, bob, _, group) = group_of_two(&server);
    let body = slow_body();
    let slow = begin_upload(&server, &ada, group, body.len(), &body[..300_000]);
    uploaded(&server, &ada, group, "small.png", PNG);
    let answer = finish_upload(slow, &body[300_000..]);
    let reply: Value = serde_json::from_slice(&answer.body).expect("json");
    assert_eq!(answer.status, 201, "{reply}");
    let attachment = &reply["attachment"];
    assert_eq!(attachment["size"], body.len());
    let sent = server.send(
        &ada.token,
        group,
        json!({"attachments": [attachment["id"]]}),
    );
    assert_eq!(sent.status, 201, "{}", sent.body);
    let served = fetch(&server, &bob, attachment);
    assert!(served.bytes == body, "the slow upload arrived whole");
    assert!(
        !server.log().iter().any(|line| line.contains("FOREIGN KEY")),
        "{:?}",
        server.log()
    );
}

/// How many uploads and pieces of them the database holds.
fn stored_uploads(server: &TestServer) -> (i64, i64) {
    server
        .open_db()
        .query_row(
            "SELECT (SELECT count(*) FROM attachments), (SELECT count(*) FROM attachment_chunks)",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .expect("count")
}

#[test]
fn an_upload_whose_conversation_is_gone_meanwhile_is_a_404() {
    let server = TestServer::start();
    let (ada, bob, _, group) = group_of_two(&server);
    let body = slow_body();
    let slow = begin_upload(&server, &ada, group, body.len(), &body[..300_000]);
    leave(&server, &bob, group, bob.id);
    leave(&server, &ada, group, ada.id);
    // Enough for the next piece, which finds its upload gone; the rest is never read.
    let answer = finish_upload(slow, &body[300_000..600_000]);
    let reply: Value = serde_json::from_slice(&answer.body).expect("json");
    assert_eq!(
        (answer.status, &reply["error"]),
        (404, &json!("not_found")),
        "{reply}"
    );
    assert_eq!(stored_uploads(&server), (0, 0));
}

#[test]
fn an_upload_left_half_way_by_a_killed_server_is_pruned_once_past_its_time() {
    let mut server = TestServer::start_with(&["--attachment-bytes-per-user", "1500000"]);
    let (ada, _, _, group) = group_of_two(&server);
    let body = slow_body();
    let _cut = begin_upload(&server, &ada, group, body.len(), &body[..300_000]);
    server.stop();
    // As if the server had been down since: older than the hour an unsent upload is kept
    // and the 30 s its body could take.
    let two_hours = 2 * 3600 * 1000;
    server
        .open_db()
        .execute(
            "UPDATE attachments SET created_at = created_at - ?1",
            [two_hours],
        )
        .expect("age the leftover");
    server.restart();
    let again = uploaded(&server, &ada, group, "again.bin", &body);
    assert_eq!(again["size"], body.len(), "the leftover no longer counts");
    let db = server.open_db();
    let (rows, pieces): (i64, i64) = db
        .query_row(
            "SELECT (SELECT count(*) FROM attachments WHERE digest IS NULL),
                    (SELECT count(*) FROM attachment_chunks WHERE attachment_id <> ?1)",
            [again["id"].as_i64().expect("id")],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .expect("count");
    assert_eq!((rows, pieces), (0, 0), "its bytes are gone");
}
