//! The server's settings as a plain value: one table of defaults, `EMOTECHAT_*` environment
//! variables over them, command-line flags over those, and validation of the result before
//! anything is opened. Uses std only.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    pub addr: SocketAddr,
    pub db: PathBuf,
    /// Base of the links the server hands out; `None` means `http://<bound address>`.
    pub public_url: Option<String>,
    /// Shell command that receives reset mails on stdin; `None` logs the link instead.
    pub mail_command: Option<String>,
    pub session_days: u32,
    pub reset_minutes: u32,
    pub rate_limits: bool,
    pub connections: ConnectionLimits,
    pub max_streams: usize,
    pub max_streams_per_user: usize,
    pub event_retention_days: u32,
    /// Frames a WebSocket client may send per minute, after a burst of `ws_frame_burst`.
    pub ws_frames_per_minute: u32,
    pub ws_frame_burst: u32,
    /// Seconds between an open stream's checks that its session is still live.
    pub stream_session_check_secs: u32,
    /// Proxies whose `X-Forwarded-For` names the real client address.
    pub trusted_proxies: Vec<IpAddr>,
    /// Web origins allowed to call the API from a browser (CORS); none by default.
    pub cors_origins: Vec<String>,
}

/// What the connection layer allows one client and all of them together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub max_header_bytes: usize,
    pub max_headers: usize,
    pub request_timeout_secs: u32,
    pub body_timeout_secs: u32,
    pub write_timeout_secs: u32,
    pub idle_timeout_secs: u32,
}

/// The mail command may carry credentials (an SMTP password on a command line), so `Debug`
/// only says whether one is set.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("addr", &self.addr)
            .field("db", &self.db)
            .field("public_url", &self.public_url)
            .field(
                "mail_command",
                &self.mail_command.as_ref().map(|_| "<redacted>"),
            )
            .field("session_days", &self.session_days)
            .field("reset_minutes", &self.reset_minutes)
            .field("rate_limits", &self.rate_limits)
            .field("connections", &self.connections)
            .field("max_streams", &self.max_streams)
            .field("max_streams_per_user", &self.max_streams_per_user)
            .field("event_retention_days", &self.event_retention_days)
            .field("ws_frames_per_minute", &self.ws_frames_per_minute)
            .field("ws_frame_burst", &self.ws_frame_burst)
            .field("stream_session_check_secs", &self.stream_session_check_secs)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("cors_origins", &self.cors_origins)
            .finish()
    }
}

/// One setting: its flag, its environment variable, its default as text, and what it means.
struct Setting {
    flag: &'static str,
    env: &'static str,
    default: &'static str,
    help: &'static str,
}

const SETTINGS: &[Setting] = &[
    Setting {
        flag: "--addr",
        env: "EMOTECHAT_ADDR",
        default: "127.0.0.1:8080",
        help: "address to listen on, IP:PORT (port 0 picks a free port)",
    },
    Setting {
        flag: "--db",
        env: "EMOTECHAT_DB",
        default: "emotechat.db",
        help: "SQLite database file (created if missing)",
    },
    Setting {
        flag: "--public-url",
        env: "EMOTECHAT_PUBLIC_URL",
        default: "http://<addr>",
        help: "public base URL used in password-reset links",
    },
    Setting {
        flag: "--mail-command",
        env: "EMOTECHAT_MAIL_COMMAND",
        default: "none",
        help: "shell command given each reset mail on stdin (e.g. 'sendmail -t'); none logs the link",
    },
    Setting {
        flag: "--session-days",
        env: "EMOTECHAT_SESSION_DAYS",
        default: "30",
        help: "days a login session lasts (1-3650)",
    },
    Setting {
        flag: "--reset-minutes",
        env: "EMOTECHAT_RESET_MINUTES",
        default: "15",
        help: "minutes a password-reset link stays valid (1-1440)",
    },
    Setting {
        flag: "--rate-limits",
        env: "EMOTECHAT_RATE_LIMITS",
        default: "on",
        help: "rate limiting, on or off",
    },
    Setting {
        flag: "--max-connections",
        env: "EMOTECHAT_MAX_CONNECTIONS",
        default: "1024",
        help: "open connections at most; more are closed at once (1-100000)",
    },
    Setting {
        flag: "--max-header-bytes",
        env: "EMOTECHAT_MAX_HEADER_BYTES",
        default: "8192",
        help: "longest request line or header line (256-1048576)",
    },
    Setting {
        flag: "--max-headers",
        env: "EMOTECHAT_MAX_HEADERS",
        default: "100",
        help: "most header fields in a request (8-1000)",
    },
    Setting {
        flag: "--request-timeout",
        env: "EMOTECHAT_REQUEST_TIMEOUT",
        default: "10",
        help: "seconds for a request head to arrive, from its first byte (1-3600)",
    },
    Setting {
        flag: "--body-timeout",
        env: "EMOTECHAT_BODY_TIMEOUT",
        default: "30",
        help: "seconds for a request body to arrive (1-3600)",
    },
    Setting {
        flag: "--write-timeout",
        env: "EMOTECHAT_WRITE_TIMEOUT",
        default: "30",
        help: "seconds a response write may block (1-3600)",
    },
    Setting {
        flag: "--max-streams",
        env: "EMOTECHAT_MAX_STREAMS",
        default: "1000",
        help: "open realtime streams (SSE and WebSocket) at most (1-100000)",
    },
    Setting {
        flag: "--max-streams-per-user",
        env: "EMOTECHAT_MAX_STREAMS_PER_USER",
        default: "8",
        help: "open realtime streams per user at most (1-100000)",
    },
    Setting {
        flag: "--event-retention-days",
        env: "EMOTECHAT_EVENT_RETENTION_DAYS",
        default: "30",
        help: "days stored events are kept for resuming streams (1-3650)",
    },
    Setting {
        flag: "--ws-frames-per-minute",
        env: "EMOTECHAT_WS_FRAMES_PER_MINUTE",
        default: "600",
        help: "frames a WebSocket client may send per minute after its burst (1-600000)",
    },
    Setting {
        flag: "--ws-frame-burst",
        env: "EMOTECHAT_WS_FRAME_BURST",
        default: "60",
        help: "frames a WebSocket client may send at once (1-100000)",
    },
    Setting {
        flag: "--stream-session-check",
        env: "EMOTECHAT_STREAM_SESSION_CHECK",
        default: "60",
        help: "seconds between an open stream's checks that its session is still live (1-3600)",
    },
    Setting {
        flag: "--trust-proxy",
        env: "EMOTECHAT_TRUST_PROXY",
        default: "none",
        help: "comma-separated proxy addresses whose X-Forwarded-For is believed",
    },
    Setting {
        flag: "--cors-origins",
        env: "EMOTECHAT_CORS_ORIGINS",
        default: "none",
        help: "comma-separated web origins allowed to call the API from a browser",
    },
    Setting {
        flag: "--idle-timeout",
        env: "EMOTECHAT_IDLE_TIMEOUT",
        default: "30",
        help: "seconds a kept-alive connection may wait for its next request (1-3600)",
    },
];

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Serve(Box<Config>),
    Help,
    Version,
}

/// The `--help` text: usage and every setting with its variable and default.
pub fn help_text() -> String {
    let mut text = format!(
        "EmoteChat {} - a self-hosted chat server\n\n\
         Usage: emotechat [serve] [OPTIONS]\n\n\
         Options (each also read from its environment variable; a flag wins):\n",
        env!("CARGO_PKG_VERSION")
    );
    for s in SETTINGS {
        text.push_str(&format!(
            "  {:<16} {:<24} {} [default: {}]\n",
            format!("{} VALUE", s.flag),
            s.env,
            s.help,
            s.default
        ));
    }
    text.push_str("  --help                                    print this help\n");
    text.push_str("  --version                                 print the version\n");
    text
}

/// Parses the arguments (without the program name) and the environment into a command.
/// Every value is validated here, so a bad setting stops the program before anything opens.
pub fn parse<I, E>(args: I, env: E) -> Result<Command, String>
where
    I: IntoIterator<Item = String>,
    E: Fn(&str) -> Option<String>,
{
    let mut flags: Vec<(&'static Setting, String)> = Vec::new();
    let mut args = args.into_iter().peekable();
    if args.peek().map(String::as_str) == Some("serve") {
        args.next();
    }
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--help" | "-h" => return Ok(Command::Help),
            "--version" | "-V" => return Ok(Command::Version),
            _ => {}
        }
        let (name, inline_value) = match arg.split_once('=') {
            Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
            None => (arg.clone(), None),
        };
        let Some(setting) = SETTINGS.iter().find(|s| s.flag == name) else {
            return Err(format!("unknown argument '{arg}' (see --help)"));
        };
        let value = match inline_value {
            Some(value) => value,
            None => args
                .next()
                .ok_or_else(|| format!("{} needs a value", setting.flag))?,
        };
        flags.push((setting, value));
    }
    let lookup = |flag: &str| -> Option<String> {
        let setting = SETTINGS.iter().find(|s| s.flag == flag)?;
        flags
            .iter()
            .rev()
            .find(|(s, _)| s.flag == flag)
            .map(|(_, v)| v.clone())
            .or_else(|| env(setting.env))
    };
    build(lookup).map(|config| Command::Serve(Box::new(config)))
}

fn build(value_of: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
    let text = |flag: &str| {
        value_of(flag).unwrap_or_else(|| {
            SETTINGS
                .iter()
                .find(|s| s.flag == flag)
                .map_or_else(String::new, |s| s.default.to_owned())
        })
    };
    let addr = text("--addr");
    let addr: SocketAddr = addr
        .parse()
        .map_err(|_| format!("--addr '{addr}' is not an IP:PORT address"))?;
    let db = PathBuf::from(text("--db"));
    if db.as_os_str().is_empty() {
        return Err("--db must not be empty".into());
    }
    let public_url = value_of("--public-url")
        .map(|url| parse_public_url(&url))
        .transpose()?;
    let mail_command = value_of("--mail-command").filter(|c| !c.trim().is_empty() && c != "none");
    Ok(Config {
        addr,
        db,
        public_url,
        mail_command,
        session_days: number_in("--session-days", &text("--session-days"), 1, 3650)?,
        reset_minutes: number_in("--reset-minutes", &text("--reset-minutes"), 1, 1440)?,
        rate_limits: on_off("--rate-limits", &text("--rate-limits"))?,
        connections: ConnectionLimits {
            max_connections: number_in("--max-connections", &text("--max-connections"), 1, 100_000)?
                as usize,
            max_header_bytes: number_in(
                "--max-header-bytes",
                &text("--max-header-bytes"),
                256,
                1 << 20,
            )? as usize,
            max_headers: number_in("--max-headers", &text("--max-headers"), 8, 1000)? as usize,
            request_timeout_secs: number_in(
                "--request-timeout",
                &text("--request-timeout"),
                1,
                3600,
            )?,
            body_timeout_secs: number_in("--body-timeout", &text("--body-timeout"), 1, 3600)?,
            write_timeout_secs: number_in("--write-timeout", &text("--write-timeout"), 1, 3600)?,
            idle_timeout_secs: number_in("--idle-timeout", &text("--idle-timeout"), 1, 3600)?,
        },
        max_streams: number_in("--max-streams", &text("--max-streams"), 1, 100_000)? as usize,
        max_streams_per_user: number_in(
            "--max-streams-per-user",
            &text("--max-streams-per-user"),
            1,
            100_000,
        )? as usize,
        event_retention_days: number_in(
            "--event-retention-days",
            &text("--event-retention-days"),
            1,
            3650,
        )?,
        ws_frames_per_minute: number_in(
            "--ws-frames-per-minute",
            &text("--ws-frames-per-minute"),
            1,
            600_000,
        )?,
        ws_frame_burst: number_in("--ws-frame-burst", &text("--ws-frame-burst"), 1, 100_000)?,
        stream_session_check_secs: number_in(
            "--stream-session-check",
            &text("--stream-session-check"),
            1,
            3600,
        )?,
        trusted_proxies: parse_proxies(&text("--trust-proxy"))?,
        cors_origins: parse_origins(&text("--cors-origins"))?,
    })
}

fn parse_origins(list: &str) -> Result<Vec<String>, String> {
    if list == "none" || list.trim().is_empty() {
        return Ok(Vec::new());
    }
    list.split(',')
        .map(|item| {
            let origin = item.trim().trim_end_matches('/');
            let scheme_ok = origin.starts_with("http://") || origin.starts_with("https://");
            if scheme_ok && !origin.contains(char::is_whitespace) {
                Ok(origin.to_owned())
            } else {
                Err(format!(
                    "--cors-origins '{origin}' must be like https://chat.example.org"
                ))
            }
        })
        .collect()
}

fn parse_proxies(list: &str) -> Result<Vec<IpAddr>, String> {
    if list == "none" || list.trim().is_empty() {
        return Ok(Vec::new());
    }
    list.split(',')
        .map(|item| {
            item.trim()
                .parse()
                .map_err(|_| format!("--trust-proxy '{}' is not an IP address", item.trim()))
        })
        .collect()
}

fn parse_public_url(url: &str) -> Result<String, String> {
    let trimmed = url.trim_end_matches('/');
    let has_host = trimmed
        .strip_prefix("http://")
        .or_else(|| trimmed.strip_prefix("https://"))
        .is_some_and(|rest| !rest.is_empty() && !rest.contains(char::is_whitespace));
    if has_host {
        Ok(trimmed.to_owned())
    } else {
        Err(format!(
            "--public-url '{url}' must be an http:// or https:// URL"
        ))
    }
}

fn number_in(flag: &str, value: &str, min: u32, max: u32) -> Result<u32, String> {
    match value.parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!(
            "{flag} '{value}' must be a whole number from {min} to {max}"
        )),
    }
}

fn on_off(flag: &str, value: &str) -> Result<bool, String> {
    match value {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("{flag} '{value}' must be on or off")),
    }
}

impl Config {
    /// The base URL for links, once the real listening address is known.
    pub fn public_url_for(&self, bound: SocketAddr) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{bound}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    fn serve(list: &[&str], env: &[(&str, &str)]) -> Result<Config, String> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        match parse(args(list), |name| {
            env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })? {
            Command::Serve(config) => Ok(*config),
            other => Err(format!("expected serve, got {other:?}")),
        }
    }

    #[test]
    fn defaults_apply_with_no_arguments() {
        let config = serve(&[], &[]).expect("defaults are valid");
        assert_eq!(config.addr.to_string(), "127.0.0.1:8080");
        assert_eq!(config.db, PathBuf::from("emotechat.db"));
        assert_eq!(config.public_url, None);
        assert_eq!(config.mail_command, None);
        assert_eq!(config.session_days, 30);
        assert_eq!(config.reset_minutes, 15);
        assert!(config.rate_limits);
        assert_eq!(config.connections.max_connections, 1024);
        assert_eq!(config.connections.max_header_bytes, 8192);
        assert_eq!(config.connections.max_headers, 100);
        assert_eq!(config.connections.request_timeout_secs, 10);
        assert_eq!(config.connections.idle_timeout_secs, 30);
        assert_eq!(config.ws_frames_per_minute, 600);
        assert_eq!(config.ws_frame_burst, 60);
        assert_eq!(config.stream_session_check_secs, 60);
        assert!(config.trusted_proxies.is_empty());
        assert_eq!(serve(&["serve"], &[]), Ok(config));
        let proxied = serve(&["--trust-proxy", "127.0.0.1, ::1"], &[]).expect("valid");
        assert_eq!(proxied.trusted_proxies.len(), 2);
        assert!(serve(&["--trust-proxy", "localhost"], &[]).is_err());
    }

    #[test]
    fn flags_win_over_environment() {
        let env = [
            ("EMOTECHAT_SESSION_DAYS", "7"),
            ("EMOTECHAT_ADDR", "0.0.0.0:9000"),
        ];
        let config = serve(&["--session-days", "3"], &env).expect("valid");
        assert_eq!(config.session_days, 3);
        assert_eq!(config.addr.to_string(), "0.0.0.0:9000");
        let config = serve(&["--addr=127.0.0.1:0", "--rate-limits", "off"], &env).expect("valid");
        assert_eq!(config.addr.port(), 0);
        assert!(!config.rate_limits);
    }

    #[test]
    fn bad_settings_are_refused_with_a_reason() {
        for bad in [
            &["--addr", "localhost"][..],
            &["--session-days", "0"],
            &["--session-days", "3651"],
            &["--reset-minutes", "abc"],
            &["--rate-limits", "maybe"],
            &["--public-url", "ftp://x"],
            &["--db", ""],
            &["--session-days"],
            &["--ws-frames-per-minute", "0"],
            &["--ws-frame-burst", "100001"],
            &["--stream-session-check", "0"],
            &["--bogus", "1"],
        ] {
            let reason = serve(bad, &[]).expect_err("should be refused");
            assert!(!reason.contains('\n'), "one line: {reason}");
        }
        assert!(serve(&[], &[("EMOTECHAT_RESET_MINUTES", "1441")]).is_err());
    }

    #[test]
    fn help_lists_every_setting_and_default() {
        let text = help_text();
        for s in SETTINGS {
            assert!(text.contains(s.flag) && text.contains(s.env) && text.contains(s.default));
        }
        assert_eq!(parse(args(&["--help"]), |_| None), Ok(Command::Help));
        assert_eq!(
            parse(args(&["serve", "--version"]), |_| None),
            Ok(Command::Version)
        );
    }

    #[test]
    fn debug_redacts_the_mail_command() {
        let config = serve(&["--mail-command", "smtp --password hunter2"], &[]).expect("valid");
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}
