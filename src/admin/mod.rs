//! The operator's commands: `emotechat invite ...` and `emotechat user ...`, run against the
//! database file (`--db`, `EMOTECHAT_DB`) whether or not a server has it open. WAL mode lets a
//! second process write while the server reads and writes; whatever the server keeps in memory
//! about the accounts changed here is looked up again per request (and, for open streams, by
//! `realtime::lockouts`), so a change takes effect at once.
//!
//! Whoever can run the binary and write the database file is the administrator: there is no
//! other authentication. Each command parses its own few words and flags; any other flag is a
//! setting, parsed by `config` exactly as the server parses it.

mod invites;
mod users;

use std::fmt;
use std::path::Path;

use crate::config::{self, Command, Config};
use crate::repo::{self, Pool};

/// An operator's command and the settings it runs with.
#[derive(Debug, PartialEq, Eq)]
pub struct Task {
    pub config: Config,
    pub action: Action,
}

/// What an operator's command does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    InviteCreate {
        uses: u32,
        days: u32,
    },
    InviteList,
    /// A code, or the id `invite list` shows.
    InviteRevoke(String),
    UserList,
    UserDisable(String),
    UserEnable(String),
    UserResetLink(String),
}

/// One command: its words and arguments as `--help` shows them, and what it does.
struct Usage {
    words: &'static str,
    arguments: &'static str,
    help: &'static str,
}

const COMMANDS: &[Usage] = &[
    Usage {
        words: "invite create",
        arguments: "[--uses N] [--days D]",
        help: "make an invite code for N accounts (1-10000, default 1) valid D days \
               (1-365, default 7); prints the code and a registration link",
    },
    Usage {
        words: "invite list",
        arguments: "",
        help: "list invite codes: id, first characters, uses, expiry",
    },
    Usage {
        words: "invite revoke",
        arguments: "CODE|ID",
        help: "delete an invite code, given the code or its id",
    },
    Usage {
        words: "user list",
        arguments: "",
        help: "list accounts: id, name, email, created, last seen, disabled",
    },
    Usage {
        words: "user disable",
        arguments: "EMAIL",
        help: "lock an account out: its sessions end, its streams close, logins are refused",
    },
    Usage {
        words: "user enable",
        arguments: "EMAIL",
        help: "let a disabled account sign in again",
    },
    Usage {
        words: "user reset-link",
        arguments: "EMAIL",
        help: "print a one-time password-reset link (valid --reset-minutes)",
    },
];

const DEFAULT_USES: u32 = 1;
const DEFAULT_DAYS: u32 = 7;

/// Whether `word` starts an operator's command.
pub fn is_command(word: &str) -> bool {
    COMMANDS
        .iter()
        .any(|c| c.words.split(' ').next() == Some(word))
}

/// The commands part of `--help`.
pub fn help_text() -> String {
    let usage = |c: &Usage| format!("{} {}", c.words, c.arguments);
    let width = COMMANDS.iter().map(|c| usage(c).len()).max().unwrap_or(0);
    let mut text = String::from(
        "Commands on the database (--db or EMOTECHAT_DB; safe while the server runs;\n\
         exit 0 on success, 1 if the command failed, 2 for a usage error):\n",
    );
    for c in COMMANDS {
        text.push_str(&format!("  {:<width$} {}\n", usage(c), c.help));
    }
    text
}

/// Parses an operator's command line (starting with its first word) and the environment.
pub fn parse<E: Fn(&str) -> Option<String>>(args: Vec<String>, env: E) -> Result<Command, String> {
    let mut words = Vec::new();
    let mut own: Vec<(String, String)> = Vec::new();
    let mut settings = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if !arg.starts_with('-') {
            words.push(arg);
            continue;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
            None => (arg.clone(), None),
        };
        if matches!(name.as_str(), "--uses" | "--days") {
            let value = inline
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))?;
            own.push((name, value));
            continue;
        }
        let takes_value =
            inline.is_none() && !matches!(name.as_str(), "--help" | "-h" | "--version" | "-V");
        settings.push(arg);
        if takes_value && let Some(value) = args.next() {
            settings.push(value);
        }
    }
    match config::parse_settings(settings, env)? {
        Command::Serve(config) => Ok(Command::Admin(Box::new(Task {
            config: *config,
            action: action(&words, &own)?,
        }))),
        help_or_version => Ok(help_or_version),
    }
}

/// The action the words name, with the operand each takes. Words that start a command but
/// do not fit it get that command's usage.
fn action(words: &[String], own: &[(String, String)]) -> Result<Action, String> {
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let flag = |name: &str| own.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v);
    if let Some((name, _)) = own.first()
        && words != ["invite", "create"]
    {
        return Err(format!("{name} belongs to 'invite create' (see --help)"));
    }
    match words.as_slice() {
        ["invite", "create"] => Ok(Action::InviteCreate {
            uses: number_or("--uses", flag("--uses"), DEFAULT_USES, 10_000)?,
            days: number_or("--days", flag("--days"), DEFAULT_DAYS, 365)?,
        }),
        ["invite", "list"] => Ok(Action::InviteList),
        ["invite", "revoke", which] => Ok(Action::InviteRevoke((*which).to_owned())),
        ["user", "list"] => Ok(Action::UserList),
        ["user", "disable", email] => Ok(Action::UserDisable((*email).to_owned())),
        ["user", "enable", email] => Ok(Action::UserEnable((*email).to_owned())),
        ["user", "reset-link", email] => Ok(Action::UserResetLink((*email).to_owned())),
        _ => Err(usage_of(&words)),
    }
}

/// "usage: ..." of the command the words start, else that the command is unknown.
fn usage_of(words: &[&str]) -> String {
    let starts = |c: &&Usage| {
        let command: Vec<&str> = c.words.split(' ').collect();
        words.starts_with(&command)
    };
    match COMMANDS.iter().find(starts) {
        Some(c) => {
            let usage = format!("emotechat {} {}", c.words, c.arguments);
            format!("usage: {} (see --help)", usage.trim_end())
        }
        None => format!("unknown command '{}' (see --help)", words.join(" ")),
    }
}

fn number_or(flag: &str, value: Option<&String>, default: u32, max: u32) -> Result<u32, String> {
    let Some(value) = value else {
        return Ok(default);
    };
    match value.parse::<u32>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(format!(
            "{flag} '{value}' must be a whole number from 1 to {max}"
        )),
    }
}

/// Why a command failed: one line for the operator.
#[derive(Debug)]
pub struct Failed(pub String);

impl fmt::Display for Failed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<repo::RepoError> for Failed {
    fn from(err: repo::RepoError) -> Failed {
        Failed(err.to_string())
    }
}

/// Runs a command; what it prints on success.
pub fn run(task: &Task) -> Result<String, Failed> {
    let pool = open(&task.config.db)?;
    let config = &task.config;
    match &task.action {
        Action::InviteCreate { uses, days } => invites::create(&pool, config, *uses, *days),
        Action::InviteList => invites::list(&pool),
        Action::InviteRevoke(which) => invites::revoke(&pool, which),
        Action::UserList => users::list(&pool),
        Action::UserDisable(email) => users::disable(&pool, email),
        Action::UserEnable(email) => users::enable(&pool, email),
        Action::UserResetLink(email) => users::reset_link(&pool, config, email),
    }
}

/// The existing database: a command never creates one (a mistyped `--db` must not leave a
/// new, empty database behind), and refuses a file that is not an EmoteChat database as the
/// server does.
fn open(path: &Path) -> Result<Pool, Failed> {
    repo::open_existing(path, 1).map_err(|e| Failed(e.to_string()))
}

/// Text from the database made safe for a terminal: control characters (which could move the
/// cursor or rewrite the screen) are shown escaped.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Rows as columns padded to their widest cell, the header first.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut text = line(header.to_vec());
    for row in rows {
        text.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action_of(list: &[&str]) -> Result<Action, String> {
        let args = list.iter().map(|s| (*s).to_owned()).collect();
        match parse(args, |_| None)? {
            Command::Admin(task) => Ok(task.action),
            other => Err(format!("not an admin command: {other:?}")),
        }
    }

    #[test]
    fn invite_create_takes_uses_and_days_within_their_limits() {
        assert_eq!(
            action_of(&["invite", "create"]),
            Ok(Action::InviteCreate { uses: 1, days: 7 })
        );
        assert_eq!(
            action_of(&["invite", "create", "--uses", "10000", "--days=365"]),
            Ok(Action::InviteCreate {
                uses: 10_000,
                days: 365
            })
        );
        for bad in [
            &["invite", "create", "--uses", "0"][..],
            &["invite", "create", "--uses", "10001"],
            &["invite", "create", "--days", "366"],
            &["invite", "create", "--days"],
            &["invite", "list", "--uses", "2"],
            &["invite", "create", "extra"],
        ] {
            assert!(action_of(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn settings_flags_and_their_environment_reach_the_command() {
        let args = ["user", "--db", "/srv/chat.db", "disable", "ada@example.org"];
        let task = match parse(args.iter().map(|s| (*s).to_owned()).collect(), |_| None) {
            Ok(Command::Admin(task)) => task,
            other => panic!("{other:?}"),
        };
        assert_eq!(task.action, Action::UserDisable("ada@example.org".into()));
        assert_eq!(task.config.db, Path::new("/srv/chat.db"));
        let from_env = parse(vec!["user".into(), "list".into()], |name| {
            (name == "EMOTECHAT_DB").then(|| "/var/lib/x.db".to_owned())
        });
        match from_env {
            Ok(Command::Admin(task)) => assert_eq!(task.config.db, Path::new("/var/lib/x.db")),
            other => panic!("{other:?}"),
        }
        assert!(action_of(&["user", "list", "--session-days", "0"]).is_err());
    }

    #[test]
    fn unknown_or_incomplete_commands_are_refused() {
        for bad in [
            &["user"][..],
            &["user", "delete", "a@x.org"],
            &["user", "disable"],
            &["user", "disable", "a@x.org", "b@x.org"],
            &["invite", "revoke"],
            &["user", "list", "everyone"],
        ] {
            let reason = action_of(bad).expect_err("refused");
            assert!(!reason.contains('\n'), "{reason}");
        }
        assert_eq!(
            action_of(&["user", "list", "everyone"]),
            Err("usage: emotechat user list (see --help)".into())
        );
        assert_eq!(
            action_of(&["invite", "revoke"]),
            Err("usage: emotechat invite revoke CODE|ID (see --help)".into())
        );
        assert_eq!(
            parse(vec!["user".into(), "--help".into()], |_| None),
            Ok(Command::Help)
        );
    }

    #[test]
    fn control_characters_from_the_database_are_shown_escaped() {
        assert_eq!(printable("Ada\u{1b}[2J"), "Ada\\u{1b}[2J");
        assert_eq!(printable("Zoë 🙂"), "Zoë 🙂");
    }

    #[test]
    fn tables_pad_each_column_to_its_widest_cell() {
        let text = table(
            &["ID", "NAME"],
            &[
                vec!["1".into(), "Ada".into()],
                vec!["10".into(), "B".into()],
            ],
        );
        assert_eq!(text, "ID  NAME\n1   Ada\n10  B\n");
    }

    #[test]
    fn the_readme_documents_every_command() {
        let readme = include_str!("../../README.md");
        for c in COMMANDS {
            assert!(
                readme.contains(&format!("emotechat {}", c.words)),
                "README lacks emotechat {}",
                c.words
            );
        }
    }
}
