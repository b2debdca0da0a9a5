//! The fail2ban recipe shipped in contrib/fail2ban, run through Debian's real fail2ban
//! (`fail2ban-regex`, `fail2ban-client`) against the lines the real server wrote after real
//! failed and successful logins. `.ci/run` installs fail2ban; without it these tests fail.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::json;

use crate::util::{PASSWORD, TestServer, unique_email};

const FILTER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/contrib/fail2ban/filter.d/emotechat.conf"
);
const JAIL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/contrib/fail2ban/jail.d/emotechat.conf"
);
/// A time zone nine hours east of UTC (POSIX form, no tz database needed): a filter that
/// read the log's `Z` as local time would put every failure nine hours off.
const EAST_OF_UTC: &str = "EMO-9";

/// Runs a fail2ban tool, failing the test with a clear message if it is not installed.
fn fail2ban(tool: &str, args: &[&str]) -> Output {
    let output = Command::new(tool)
        .args(args)
        .env("TZ", EAST_OF_UTC)
        .output()
        .unwrap_or_else(|err| {
            panic!(
                "{tool} cannot run ({err}): install fail2ban (.ci/run does: \
                 apt-get install -y --no-install-recommends fail2ban)"
            )
        });
    assert!(
        output.status.success(),
        "{tool} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// What `fail2ban-regex -v` found in a log file.
struct Verdict {
    matched: usize,
    missed: usize,
    /// Lines whose date the filter's datepattern found.
    dated: usize,
    /// (address, local time HH:MM:SS) of each match.
    hits: Vec<(String, String)>,
}

fn run_filter(log: &Path) -> Verdict {
    let log = log.to_str().expect("utf-8 path");
    let output = fail2ban("fail2ban-regex", &["-v", log, FILTER]);
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let count_before = |line: &str, word: &str| -> usize {
        let words: Vec<&str> = line.split_whitespace().collect();
        let at = words.iter().position(|w| w.trim_end_matches(',') == word);
        at.and_then(|i| words[i - 1].parse().ok())
            .unwrap_or_else(|| panic!("no '{word}' count in {line:?}"))
    };
    let summary = text
        .lines()
        .find(|l| l.starts_with("Lines: "))
        .unwrap_or_else(|| panic!("no summary in {text}"));
    let dated = text
        .lines()
        .skip_while(|l| !l.starts_with("Date template hits:"))
        .find_map(|l| {
            let rest = l.strip_prefix("|  [")?;
            rest.split(']').next()?.parse().ok()
        })
        .unwrap_or(0);
    let hits = text
        .lines()
        .skip_while(|l| !l.starts_with("Failregex:"))
        .take_while(|l| !l.starts_with("Ignoreregex:"))
        .filter_map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            match words.as_slice() {
                ["|", address, _, _, _, time, _] if address.parse::<std::net::IpAddr>().is_ok() => {
                    Some(((*address).to_owned(), (*time).to_owned()))
                }
                _ => None,
            }
        })
        .collect();
    Verdict {
        matched: count_before(summary, "matched"),
        missed: count_before(summary, "missed"),
        dated,
        hits,
    }
}

/// The time of a server log line (`[2026-11-26T13:51:12Z ...`) nine hours east of UTC.
fn east_of_utc(line: &str) -> String {
    let hour: u32 = line[12..14].parse().expect("hour");
    format!("{:02}{}", (hour + 9) % 24, &line[14..20])
}

#[test]
fn the_fail2ban_filter_matches_every_failed_login_and_nothing_else() {
    let server = TestServer::start_with(&["--rate-limits", "on"]);
    let ada = server.user("Ada");
    let bob = server.user("Bob");
    // Ten wrong passwords, then the lockout; an unknown account; then the things that are
    // not failures: a login, a logout, a reset request.
    for _ in 0..11 {
        server.login(&ada.email, "wrong password");
    }
    server.login(&unique_email("nobody"), "wrong password");
    assert_eq!(server.login(&bob.email, PASSWORD).status, 200);
    server
        .request("POST", "/api/auth/logout")
        .token(&bob.token)
        .send();
    server.post("/api/password/reset-request", json!({"email": bob.email}));
    server
        .wait_for_log("event=reset_request")
        .expect("the reset request is logged");
    let log = server.log();
    let is_failure = |l: &&String| l.contains("event=login_failure") || l.contains("event=lockout");
    let failures: Vec<&String> = log.iter().filter(is_failure).collect();
    let others: Vec<&String> = log.iter().filter(|l| !is_failure(l)).collect();
    for kind in [
        format!("event=login_failure client=127.0.0.1 user={}", ada.id),
        "event=login_failure client=127.0.0.1 user=-".to_owned(),
        "event=lockout client=127.0.0.1".to_owned(),
    ] {
        assert!(
            failures.iter().any(|l| l.contains(&kind)),
            "{kind} is in the log"
        );
    }
    for event in ["login_success", "logout", "reset_request"] {
        assert!(
            others.iter().any(|l| l.contains(&format!("event={event}"))),
            "{event} is in the log"
        );
    }
    let write = |name: &str, lines: &[&String]| {
        let path = server.dir().join(name);
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        std::fs::write(&path, text).expect("log file");
        path
    };

    let verdict = run_filter(&write("failures.log", &failures));
    assert_eq!(
        (verdict.matched, verdict.missed),
        (failures.len(), 0),
        "every failure line matches"
    );
    assert_eq!(verdict.dated, failures.len(), "every date is found");
    let mut expected: Vec<(String, String)> = failures
        .iter()
        .map(|l| ("127.0.0.1".to_owned(), east_of_utc(l)))
        .collect();
    let mut hits = verdict.hits;
    expected.sort();
    hits.sort();
    assert_eq!(hits, expected, "each failure is read at its UTC time");

    let verdict = run_filter(&write("others.log", &others));
    assert_eq!(verdict.matched, 0, "no other line matches");
    assert!(verdict.missed > 0);
    for line in log.iter().filter(|l| l.contains("auth event=")) {
        assert!(
            !line.contains(&ada.email) && !line.contains(&bob.email) && !line.contains(PASSWORD),
            "no email or password in the auth log: {line}"
        );
    }
}

/// The jail loads in a real fail2ban configuration, with the shipped filter, a file backend and
/// a log path that an operator's `.local` file can point elsewhere.
#[test]
fn the_fail2ban_jail_loads_with_the_filter() {
    let dir = tempfile::tempdir().expect("dir");
    let conf = dir.path().join("fail2ban");
    let copied = Command::new("cp")
        .args(["-r", "/etc/fail2ban"])
        .arg(&conf)
        .status()
        .expect("cp");
    assert!(
        copied.success(),
        "/etc/fail2ban is missing: install fail2ban (.ci/run does)"
    );
    std::fs::copy(FILTER, conf.join("filter.d/emotechat.conf")).expect("filter");
    std::fs::copy(JAIL, conf.join("jail.d/emotechat.conf")).expect("jail");
    let log = dir.path().join("emotechat.log");
    std::fs::write(&log, "").expect("log");
    std::fs::write(
        conf.join("jail.d/emotechat.local"),
        format!("[emotechat]\nlogpath = {}\n", log.display()),
    )
    .expect("local");
    let output = fail2ban(
        "fail2ban-client",
        &["-c", conf.to_str().expect("utf-8"), "-d"],
    );
    let dump = String::from_utf8_lossy(&output.stdout);
    for expected in [
        "['add', 'emotechat', 'auto']".to_owned(),
        "['set', 'emotechat', 'addfailregex', '^\\\\s*WARN".to_owned(),
        "['set', 'emotechat', 'datepattern', '^\\\\[%Y-%m-%dT%H:%M:%S%z']".to_owned(),
        "['set', 'emotechat', 'maxretry', 20]".to_owned(),
        format!("['set', 'emotechat', 'addlogpath', '{}'", log.display()),
        "['start', 'emotechat']".to_owned(),
    ] {
        assert!(dump.contains(&expected), "{expected} in\n{dump}");
    }
}
