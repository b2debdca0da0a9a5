//! Registering by invite in the web client, in a real headless Chromium: the link
//! `emotechat invite create` prints fills the form's "Invite code" field, and a server that
//! needs a code gets the field shown when it asks. Skips itself (loudly) without Chromium
//! outside CI.

use crate::util::TestServer;
use crate::util::browser::{self, Name, Page};
use crate::util::client::fill_registration;

/// Makes an invite for one account; the code and the printed link.
fn invite(server: &TestServer) -> (String, String) {
    let output = server.command(&["invite", "create"]);
    output.success();
    (
        output.line_value("Invite code:"),
        output.line_value("Link:"),
    )
}

fn invite_field_value(page: &Page) -> String {
    page.eval("document.querySelector('input[name=invite]').value")
        .as_str()
        .expect("the field's value")
        .to_owned()
}

#[test]
fn the_printed_invite_link_opens_the_form_with_the_code_and_registers() {
    let Some(page) = browser::page() else { return };
    let server = TestServer::start_with(&["--registration", "invite"]);
    let (code, link) = invite(&server);
    page.goto(&link);
    page.role("textbox", "Invite code");
    assert_eq!(invite_field_value(&page), code);
    fill_registration(&page);
    page.role("button", "Create account").click();
    page.role("button", "New conversation");
    let list = server.command(&["invite", "list"]);
    assert!(
        list.success().contains("1/1"),
        "the code was used: {list:?}"
    );
    page.assert_clean();
}

#[test]
fn the_invite_field_appears_when_the_server_asks_for_a_code() {
    let Some(page) = browser::page() else { return };
    let server = TestServer::start_with(&["--registration", "invite"]);
    page.goto(&format!("{}/register", server.base));
    page.role("textbox", "Name");
    assert!(!page.has("textbox", Name::Exactly("Invite code")));
    fill_registration(&page);
    page.role("button", "Create account").click();
    let field = page.role("textbox", "Invite code");
    let alert = page.find(&["alert"], Name::Any);
    page.wait_until("the alert to ask for a code", || {
        alert.text().to_lowercase().contains("invite code")
    });
    let (code, _) = invite(&server);
    field.fill(&code);
    page.role("button", "Create account").click();
    page.role("button", "New conversation");
    // The refused first try is the only request that failed, and it was meant to.
    let failed = page.failed_requests();
    assert!(failed.len() == 1 && failed[0].contains("403"), "{failed:?}");
    page.assert_clean();
}
