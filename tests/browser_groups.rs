//! Groups that change, in real headless Chromium pages against the real binary: the group
//! settings dialog (rename, members with owners marked, add, remove, make owner, the history
//! setting, leave), mute and block, and the live updates they cause on the other members'
//! pages. Each test skips itself (loudly) when there is no Chromium outside CI.

use serde_json::json;

use crate::util::TestServer;
use crate::util::browser::{self, Name, Page};
use crate::util::client::{ada_with_bob_open, open};

/// Whether the conversation list has an entry starting with `name`.
fn listed(page: &Page, name: &str) -> bool {
    page.role("navigation", "Conversations")
        .contains("button", Name::StartsWith(name))
}

/// The items of the group settings' member list, as their text.
fn member_rows(page: &Page) -> Vec<String> {
    let rows = page.role("list", "Members").call(
        "function() { return [...this.querySelectorAll('li')].map((li) => li.textContent); }",
    );
    serde_json::from_value(rows).expect("rows")
}

#[test]
fn owners_rename_add_remove_and_promote_and_everyone_sees_it_live() {
    let Some([ada_page, bob_page]) = browser::pages() else {
        return;
    };
    let server = TestServer::start();
    let ada = server.user("Ada");
    let bob = server.user("Bob");
    let cy = server.user("Cy");
    let id = server.group_titled(&ada.token, &[bob.id], "Club");
    ada_page.sign_in(&server, &ada.email);
    bob_page.sign_in(&server, &bob.email);
    open(&ada_page, "Club");
    open(&bob_page, "Club");

    ada_page.role("button", "Group settings").click();
    ada_page.role("dialog", "Group settings");
    ada_page.wait_until("Ada marked as owner, Bob with owners' controls", || {
        member_rows(&ada_page) == ["Ada (you)owner", "BobMake ownerRemove"]
    });
    ada_page.field("Group name").fill("Picnic club");
    ada_page.role("button", "Save").click();
    ada_page.wait_until("the server has the new name", || {
        server
            .get(&format!("/api/conversations/{id}"), &ada.token)
            .body["conversation"]["title"]
            == "Picnic club"
    });
    bob_page.wait_until("Bob's list shows the new name", || {
        listed(&bob_page, "Picnic club")
    });
    bob_page.wait_until("Bob's open conversation shows it", || {
        bob_page.has("heading", Name::Exactly("Picnic club"))
    });

    // Add Cy through the people search.
    ada_page.field("Search people to add").fill("Cy");
    ada_page.role("button", "Add Cy").click();
    ada_page.wait_until("Cy in the member list", || {
        member_rows(&ada_page).iter().any(|r| r.starts_with("Cy"))
    });
    let members = server.get(&format!("/api/conversations/{id}"), &cy.token);
    assert_eq!(members.status, 200, "Cy is a member now");

    ada_page.role("button", "Make Cy owner").click();
    ada_page.wait_until("Cy marked as owner", || {
        member_rows(&ada_page)
            .iter()
            .any(|r| r.starts_with("Cy") && r.contains("owner") && !r.contains("Make"))
    });
    let owners = server
        .get(&format!("/api/conversations/{id}"), &ada.token)
        .body["conversation"]["owner_ids"]
        .clone();
    assert_eq!(owners, json!([ada.id, cy.id]));

    // Bob, removed, loses the conversation from his page at once.
    ada_page.role("button", "Remove Bob").click();
    bob_page.wait_until("the conversation gone from Bob's page", || {
        !listed(&bob_page, "Picnic club") && !bob_page.has("log", Name::Exactly("Messages"))
    });
    ada_page.wait_until("Bob gone from the member list", || {
        !member_rows(&ada_page).iter().any(|r| r.starts_with("Bob"))
    });
    ada_page.assert_clean();
    bob_page.assert_clean();
}

#[test]
fn a_member_leaves_after_confirming_and_sees_no_owner_controls() {
    let Some(bob_page) = browser::page() else {
        return;
    };
    let server = TestServer::start();
    let ada = server.user("Ada");
    let bob = server.user("Bob");
    let id = server.group_titled(&ada.token, &[bob.id], "Club");
    bob_page.sign_in(&server, &bob.email);
    open(&bob_page, "Club");
    bob_page.role("button", "Group settings").click();
    bob_page.role("dialog", "Group settings");
    assert!(!bob_page.has("textbox", Name::Exactly("Group name")));
    assert!(!bob_page.has("button", Name::Exactly("Remove Ada")));
    bob_page.role("button", "Leave group").click();
    bob_page.role("dialog", "Leave this group?");
    bob_page.role("button", "Cancel").click();
    assert_eq!(
        server
            .get(&format!("/api/conversations/{id}"), &bob.token)
            .status,
        200,
        "Cancel leaves nothing"
    );
    bob_page.role("button", "Leave group").click();
    bob_page.role("button", "Leave").click();
    bob_page.wait_until("the group gone from the list", || {
        !listed(&bob_page, "Club")
    });
    assert_eq!(
        server
            .get(&format!("/api/conversations/{id}"), &bob.token)
            .status,
        404
    );
    bob_page.assert_clean();
}

#[test]
fn mute_and_block_toggle_from_the_conversation_header() {
    let Some(ada_page) = browser::page() else {
        return;
    };
    let server = TestServer::start();
    let (ada, bob, id) = ada_with_bob_open(&server, &ada_page);
    assert!(!ada_page.has("button", Name::Exactly("Group settings")));

    ada_page.role("button", "Mute").click();
    ada_page.role("button", "Unmute");
    let seen = server.get(&format!("/api/conversations/{id}"), &ada.token);
    assert_eq!(seen.body["conversation"]["muted"], true);
    ada_page.role("button", "Unmute").click();
    ada_page.role("button", "Mute");

    ada_page.role("button", "Block").click();
    ada_page.role("button", "Unblock");
    let blocks = server.get("/api/blocks", &ada.token);
    assert_eq!(blocks.body["users"], json!([{"id": bob.id, "name": "Bob"}]));
    ada_page.role("button", "Unblock").click();
    ada_page.role("button", "Block");
    assert_eq!(
        server.get("/api/blocks", &ada.token).body["users"],
        json!([])
    );
    ada_page.assert_clean();
}
