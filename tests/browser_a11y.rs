//! An accessibility scan of every view of the web client, light and dark, with axe-core
//! (vendored in `tests/vendor/axe-core`, injected over the DevTools protocol, never served):
//! any violation of impact serious or critical fails the test and is printed. Each view is also
//! saved as screenshots, phone and desktop, light and dark, in `target/screenshots/`.

use crate::util::TestServer;
use crate::util::browser::{self, Name, Page};
use crate::util::client::open;

const AXE: &str = include_str!("vendor/axe-core/axe.min.js");

/// Runs axe-core over the page as it is now; the serious and critical violations, described.
fn serious_violations(page: &Page) -> Vec<String> {
    if page.eval("typeof window.axe") != "object" {
        page.eval(AXE);
    }
    let found = page.eval(
        "axe.run(document, {resultTypes: ['violations']}).then((r) => r.violations
           .filter((v) => v.impact === 'serious' || v.impact === 'critical')
           .map((v) => `${v.impact} ${v.id}: ${v.help}\\n` + v.nodes
             .map((n) => `    ${n.target.join(' ')}: ${n.failureSummary.replaceAll('\\n', ' ')}`)
             .join('\\n')))",
    );
    found
        .as_array()
        .expect("violations")
        .iter()
        .map(|v| v.as_str().expect("violation").to_owned())
        .collect()
}

/// Scans `view` in light and dark, and saves it on a 360×740 phone and a 1280×800 desktop as
/// `target/screenshots/VIEW-DEVICE-SCHEME.png`; fails on any serious violation.
fn scan_and_shoot(page: &Page, view: &str) {
    let mut problems = Vec::new();
    for (device, width, height, phone) in [("phone", 360, 740, true), ("desktop", 1280, 800, false)]
    {
        page.viewport(width, height, phone);
        for scheme in ["light", "dark"] {
            page.color_scheme(scheme);
            page.assert_no_sideways_scroll();
            page.screenshot(&format!("{view}-{device}-{scheme}"));
            if device == "desktop" {
                problems.extend(
                    serious_violations(page)
                        .into_iter()
                        .map(|v| format!("{view} ({scheme}): {v}")),
                );
            }
        }
    }
    page.color_scheme("light");
    assert!(
        problems.is_empty(),
        "accessibility violations:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_signed_out_views_have_no_serious_accessibility_violation() {
    let Some(page) = browser::page() else { return };
    let server = TestServer::start_with(&["--mail-command", "cat >> {dir}/outbox"]);
    page.goto(&format!("{}/", server.base));
    page.role("button", "Sign in");
    scan_and_shoot(&page, "sign-in");
    page.role("link", "Create an account").click();
    page.role("button", "Create account");
    scan_and_shoot(&page, "register");
    page.goto(&format!("{}/register?invite=an-invite-code", server.base));
    page.role("textbox", "Invite code");
    scan_and_shoot(&page, "register-invite");
    page.role("link", "Sign in").click();
    page.role("link", "Forgot password?").click();
    page.role("button", "Send reset link");
    scan_and_shoot(&page, "forgot-password");
    page.goto(&format!(
        "{}/reset-password?token=not-a-real-token",
        server.base
    ));
    page.role("button", "Set password");
    scan_and_shoot(&page, "reset-password");
    page.assert_clean();
}

#[test]
fn the_signed_in_views_have_no_serious_accessibility_violation() {
    let Some(page) = browser::page() else { return };
    let server = TestServer::start();
    let ada = server.user("Ada Lovelace");
    let bob = server.user("Bob Babbage");
    let mary = server.user("Mary Somerville");
    let group = server.group_titled(&mary.token, &[ada.id, bob.id], "Analytical Society");
    server.say(&mary.token, group, "Tea on Thursday at four?");
    let direct = server.direct(&bob.token, ada.id);
    server.say(
        &bob.token,
        direct,
        "Ada, the drawings of the engine are ready.",
    );
    page.sign_in(&server, &ada.email);
    page.role("button", "Analytical Society 1 unread");
    open(&page, "Bob");
    let log = page.role("log", "Messages");
    for text in [
        "Wonderful! Bring them along on Thursday.",
        "I wrote some notes on the third page; the loop can be shorter.",
    ] {
        page.role("textbox", "Message").submit(text);
        page.wait_until("the message to show", || log.text().contains(text));
    }
    // React on Bob's message, the first of the three.
    page.eval(
        "[...document.querySelectorAll('button')].find((b) => b.textContent === 'React').click()",
    );
    page.role("button", "👍").click();
    page.find(&["button"], Name::StartsWith("👍 1"));
    page.eval("document.activeElement.blur()");
    scan_and_shoot(&page, "conversation");
    page.role("button", "New conversation").click();
    page.find(&["searchbox", "textbox"], Name::Exactly("Search people"))
        .fill("Bob");
    page.find(&["button", "option"], Name::Exactly("Bob Babbage"));
    scan_and_shoot(&page, "new-conversation");
    page.role("button", "Close").click();
    page.role("button", "Emotes").click();
    page.role("button", "Upload emote");
    scan_and_shoot(&page, "emotes");
    page.role("button", "Close").click();
    page.role("button", "Account").click();
    page.role("button", "Sign out everywhere");
    scan_and_shoot(&page, "account");
    page.assert_clean();
}
