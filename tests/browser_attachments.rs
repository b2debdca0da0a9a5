//! Pictures and files in a real headless Chromium against the real binary: chosen with the
//! composer's "Attach file" control or pasted into the message box, sent, shown inline (a
//! picture in its reserved box, enlarged in a dialog that Escape closes) or as a named link
//! with its size. Each test skips itself (loudly) when there is no Chromium outside CI.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::util::browser::{self, Name, Page};
use crate::util::client::{ada_with_bob_open, open};
use crate::util::{ICON_PNG, TestServer};

/// What the open conversation shows of its messages' attachments: each picture's alt text,
/// reserved size, whether it has loaded (from a blob: URL) and its drawn width; each file
/// link's text.
fn shown_attachments(page: &Page) -> Value {
    page.role("log", "Messages").call(
        "function() {
           return {
             pictures: [...this.querySelectorAll('article img')].map((img) => ({
               alt: img.alt, width: img.getAttribute('width'), height: img.getAttribute('height'),
               loaded: img.complete && img.naturalWidth > 0 && img.src.startsWith('blob:'),
             })),
             files: [...this.querySelectorAll('article a[download]')].map((a) => a.textContent),
           };
         }",
    )
}

fn wait_for_picture_loaded(page: &Page, alt: &str) {
    page.wait_until(&format!("the picture {alt:?} drawn"), || {
        shown_attachments(page)["pictures"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p["alt"] == alt && p["loaded"] == true))
    });
}

#[test]
fn chosen_files_are_sent_and_shown_inline_or_as_a_link_and_a_picture_enlarges() {
    let Some(page) = browser::page() else {
        return;
    };
    let server = TestServer::start();
    let (_, bob, id) = ada_with_bob_open(&server, &page);
    let picture = server.file("icon.png", ICON_PNG);
    let notes = server.file("notes.txt", b"hello");
    page.find(
        &["button", "textbox", "generic"],
        Name::StartsWith("Attach file"),
    )
    .set_files(&[&picture, &notes]);
    page.wait_until("both uploads ready", || {
        page.eval(
            "[...document.querySelectorAll('.attachments-tray li')].filter((li) => li.textContent.endsWith('ready')).length",
        ) == json!(2)
    });
    page.role("button", "Send").click();
    wait_for_picture_loaded(&page, "icon.png");
    let shown = shown_attachments(&page);
    assert_eq!(
        shown["pictures"][0],
        json!({"alt": "icon.png", "width": "192", "height": "192", "loaded": true})
    );
    assert_eq!(shown["files"], json!(["notes.txt (5 B)"]));

    let history = server.get(&format!("/api/conversations/{id}/messages"), &bob.token);
    let sent = &history.body["messages"][0];
    assert_eq!(sent["body"], "");
    // Both uploads ran at once: their ids, and so their order, are whichever finished first.
    let mut types: Vec<(String, String)> = sent["attachments"]
        .as_array()
        .expect("attachments")
        .iter()
        .map(|a| {
            (
                a["name"].as_str().expect("name").to_owned(),
                a["content_type"].as_str().expect("type").to_owned(),
            )
        })
        .collect();
    types.sort();
    assert_eq!(
        types,
        [
            ("icon.png".to_owned(), "image/png".to_owned()),
            (
                "notes.txt".to_owned(),
                "application/octet-stream".to_owned()
            )
        ]
    );

    page.role("button", "Enlarge icon.png").click();
    page.wait_until("the enlarged picture", || {
        page.eval("document.querySelector('dialog[open] img')?.complete === true") == json!(true)
    });
    page.press("Escape");
    page.wait_until("the dialog closed", || {
        page.eval("document.querySelector('dialog[open]') === null") == json!(true)
    });
    page.assert_clean();
}

#[test]
fn a_pasted_image_goes_with_the_message_typed_beside_it() {
    let Some(page) = browser::page() else {
        return;
    };
    let server = TestServer::start();
    let (_, bob, id) = ada_with_bob_open(&server, &page);
    let message_box = page.role("textbox", "Message");
    message_box.click();
    // A person pasting a copied picture: the clipboard holds an image file.
    message_box.call(&format!(
        "function() {{
           const bytes = Uint8Array.from(atob('{png}'), (c) => c.charCodeAt(0));
           const data = new DataTransfer();
           data.items.add(new File([bytes], 'image.png', {{ type: 'image/png' }}));
           this.dispatchEvent(new ClipboardEvent('paste', {{ clipboardData: data, bubbles: true, cancelable: true }}));
         }}",
        png = STANDARD.encode(ICON_PNG)
    ));
    page.type_text("look at this");
    page.press("Enter");
    wait_for_picture_loaded(&page, "image.png");
    let history = server.get(&format!("/api/conversations/{id}/messages"), &bob.token);
    let sent = &history.body["messages"][0];
    assert_eq!(sent["body"], "look at this");
    assert_eq!(sent["attachments"][0]["width"], 192);
    page.assert_clean();
}

#[test]
fn a_picture_far_up_the_history_loads_only_when_scrolled_to() {
    let Some(page) = browser::page() else {
        return;
    };
    let server = TestServer::start();
    let (ada, bob, id) = server.ada_and_bob_group();
    let upload = server
        .request(
            "POST",
            &format!("/api/conversations/{id}/attachments?name=early.png"),
        )
        .token(&ada.token)
        .body_bytes("image/png", ICON_PNG.to_vec())
        .send();
    assert_eq!(upload.status, 201, "{}", upload.body);
    let sent = server.send(
        &ada.token,
        id,
        json!({"attachments": [upload.body["attachment"]["id"]]}),
    );
    assert_eq!(sent.status, 201, "{}", sent.body);
    for n in 0..40 {
        server.say(&bob.token, id, &format!("later message {n}"));
    }
    page.sign_in(&server, &ada.email);
    open(&page, "Group");
    let log = page.role("log", "Messages");
    page.wait_until("the newest message", || {
        log.text().contains("later message 39")
    });
    let picture = shown_attachments(&page)["pictures"][0].clone();
    assert_eq!(picture["width"], "192", "its box is reserved: {picture}");
    assert_eq!(picture["loaded"], false, "not fetched while out of view");
    assert_eq!(
        page.eval("document.querySelector('article img').getAttribute('src')"),
        Value::Null
    );
    log.call("function() { this.scrollTop = 0; }");
    wait_for_picture_loaded(&page, "early.png");
    page.assert_clean();
}
