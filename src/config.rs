//! The server's settings as a plain value: one table of defaults, `EMOTECHAT_*` environment
//! variables over them, command-line flags over those, and validation of the result before
//! anything is opened. Uses std only.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::address::ListenAddr;
use crate::admin;
use crate::ratelimit::{Budget, Budgets};

use crate::http::forwarded::{IpRange, TrustedProxies};

#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    pub addr: ListenAddr,
    pub db: PathBuf,
    /// Base of the links the server hands out; `None` means `http://<bound address>`.
    pub public_url: Option<String>,
    /// Shell command that receives reset mails on stdin; `None` logs the link instead.
    pub mail_command: Option<String>,
    pub session_days: u32,
    pub reset_minutes: u32,
    pub rate_limits: bool,
    /// How many attempts each rate limit allows per window.
    pub rate_budgets: Budgets,
    pub quotas: Quotas,
    pub connections: ConnectionLimits,
    pub max_streams: usize,
    pub max_streams_per_user: usize,
    pub event_retention_days: u32,
    /// Frames a WebSocket client may send per minute, after a burst of `ws_frame_burst`.
    pub ws_frames_per_minute: u32,
    pub ws_frame_burst: u32,
    /// Seconds between an open stream's checks that its session is still live.
    pub stream_session_check_secs: u32,
    /// Seconds a stream ticket (`POST /api/events/ticket`) can be used for.
    pub stream_ticket_secs: u32,
    /// Quiet seconds after which an SSE stream sends a keep-alive (comment or heartbeat).
    pub sse_ping_secs: u32,
    /// Proxies whose `X-Forwarded-For` names the real client address.
    pub trusted_proxies: TrustedProxies,
    /// Web origins allowed to call the API from a browser (CORS); none by default.
    pub cors_origins: Vec<String>,
    /// Where Prometheus metrics are served, apart from the API; none by default.
    pub metrics_addr: Option<ListenAddr>,
    /// Who may create an account.
    pub registration: Registration,
    /// Backups the server takes by itself; `None` without `--backup-dir`.
    pub backups: Option<BackupSchedule>,
}

/// Where, how often and how many scheduled backups the server keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSchedule {
    pub dir: PathBuf,
    pub every: Duration,
    /// The newest this many are kept; older ones are deleted after each new backup.
    pub keep: usize,
}

/// Who may create an account through `POST /api/auth/register`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    /// Anyone.
    Open,
    /// Whoever has an unused, unexpired invite code (`emotechat invite create`).
    Invite,
    /// Nobody; accounts that exist go on working.
    Closed,
}

/// What the connection layer allows one client and all of them together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub max_header_bytes: usize,
    pub max_headers: usize,
    pub request_timeout_secs: u32,
    pub body_timeout_secs: u32,
    pub write_timeout_secs: u32,
    pub idle_timeout_secs: u32,
}

/// What one user may own or create at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    pub emotes_per_user: u32,
    /// Total decoded image bytes of a user's emotes.
    pub emote_bytes_per_user: u64,
    /// Groups a user may create in any 24 hours.
    pub groups_per_user_per_day: u32,
    /// Live sessions a user may have; a new login past it ends the oldest.
    pub sessions_per_user: u32,
    /// The largest attachment upload, in bytes.
    pub attachment_max_bytes: u64,
    /// Total bytes of a user's attachments, uploads in flight included.
    pub attachment_bytes_per_user: u64,
    /// Seconds an upload may wait to be sent with a message before it is deleted.
    pub unattached_attachment_secs: u32,
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
            .field("rate_budgets", &self.rate_budgets)
            .field("quotas", &self.quotas)
            .field("connections", &self.connections)
            .field("max_streams", &self.max_streams)
            .field("max_streams_per_user", &self.max_streams_per_user)
            .field("event_retention_days", &self.event_retention_days)
            .field("ws_frames_per_minute", &self.ws_frames_per_minute)
            .field("ws_frame_burst", &self.ws_frame_burst)
            .field("stream_session_check_secs", &self.stream_session_check_secs)
            .field("stream_ticket_secs", &self.stream_ticket_secs)
            .field("sse_ping_secs", &self.sse_ping_secs)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("cors_origins", &self.cors_origins)
            .field("metrics_addr", &self.metrics_addr)
            .field("registration", &self.registration)
            .field("backups", &self.backups)
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
        help: "address to listen on: IP:PORT, [IPv6]:PORT or HOST:PORT (port 0 picks a free port)",
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
        flag: "--registration",
        env: "EMOTECHAT_REGISTRATION",
        default: "open",
        help: "who may create an account: open, invite (an invite code is needed) or closed",
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
        flag: "--login-failures-per-account",
        env: "EMOTECHAT_LOGIN_FAILURES_PER_ACCOUNT",
        default: "10/15m",
        help: "wrong passwords (login, password change) per account: N/PERIOD, PERIOD like 90s, 15m, 2h, 1d",
    },
    Setting {
        flag: "--login-failures-per-address",
        env: "EMOTECHAT_LOGIN_FAILURES_PER_ADDRESS",
        default: "50/15m",
        help: "wrong passwords (login, password change) per client address: N/PERIOD",
    },
    Setting {
        flag: "--registrations-per-address",
        env: "EMOTECHAT_REGISTRATIONS_PER_ADDRESS",
        default: "10/1h",
        help: "registrations per client address: N/PERIOD",
    },
    Setting {
        flag: "--reset-requests-per-email",
        env: "EMOTECHAT_RESET_REQUESTS_PER_EMAIL",
        default: "3/1h",
        help: "password-reset requests per email: N/PERIOD",
    },
    Setting {
        flag: "--reset-requests-per-address",
        env: "EMOTECHAT_RESET_REQUESTS_PER_ADDRESS",
        default: "10/1h",
        help: "password-reset requests per client address: N/PERIOD",
    },
    Setting {
        flag: "--sends-per-user",
        env: "EMOTECHAT_SENDS_PER_USER",
        default: "30/10s",
        help: "messages a user may send: N/PERIOD",
    },
    Setting {
        flag: "--emotes-per-user",
        env: "EMOTECHAT_EMOTES_PER_USER",
        default: "100",
        help: "custom emotes a user may have (1-1000000)",
    },
    Setting {
        flag: "--emote-bytes-per-user",
        env: "EMOTECHAT_EMOTE_BYTES_PER_USER",
        default: "10MiB",
        help: "total image size of a user's emotes: bytes, or with KiB, MiB or GiB",
    },
    Setting {
        flag: "--attachment-max-bytes",
        env: "EMOTECHAT_ATTACHMENT_MAX_BYTES",
        default: "10MiB",
        help: "largest picture or file a user may attach: bytes, or with KiB, MiB or GiB",
    },
    Setting {
        flag: "--attachment-bytes-per-user",
        env: "EMOTECHAT_ATTACHMENT_BYTES_PER_USER",
        default: "1GiB",
        help: "total size of a user's attachments: bytes, or with KiB, MiB or GiB",
    },
    Setting {
        flag: "--unattached-attachment-secs",
        env: "EMOTECHAT_UNATTACHED_ATTACHMENT_SECS",
        default: "3600",
        help: "seconds an upload may wait to be sent with a message before it is deleted (0-604800)",
    },
    Setting {
        flag: "--groups-per-user-per-day",
        env: "EMOTECHAT_GROUPS_PER_USER_PER_DAY",
        default: "20",
        help: "groups a user may create in any 24 hours (1-1000000)",
    },
    Setting {
        flag: "--sessions-per-user",
        env: "EMOTECHAT_SESSIONS_PER_USER",
        default: "20",
        help: "live sessions per user; a login past it ends the oldest (1-10000)",
    },
    Setting {
        flag: "--trust-proxy",
        env: "EMOTECHAT_TRUST_PROXY",
        default: "none",
        help: "comma-separated proxy addresses or CIDR ranges whose X-Forwarded-For is believed",
    },
    Setting {
        flag: "--cors-origins",
        env: "EMOTECHAT_CORS_ORIGINS",
        default: "none",
        help: "comma-separated web origins allowed to call the API from a browser",
    },
    Setting {
        flag: "--max-connections",
        env: "EMOTECHAT_MAX_CONNECTIONS",
        default: "1024",
        help: "open connections at most; more are closed at once (1-100000)",
    },
    Setting {
        flag: "--max-connections-per-ip",
        env: "EMOTECHAT_MAX_CONNECTIONS_PER_IP",
        default: "--max-connections/16 (64)",
        help: "open connections from one client address at most; more are closed at once (1-100000)",
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
        flag: "--idle-timeout",
        env: "EMOTECHAT_IDLE_TIMEOUT",
        default: "30",
        help: "seconds a kept-alive connection may wait for its next request (1-3600)",
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
        flag: "--stream-ticket-secs",
        env: "EMOTECHAT_STREAM_TICKET_SECS",
        default: "30",
        help: "seconds a single-use stream ticket can be used for (1-300)",
    },
    Setting {
        flag: "--sse-ping-secs",
        env: "EMOTECHAT_SSE_PING_SECS",
        default: "15",
        help: "quiet seconds after which an event stream sends a keep-alive ping or heartbeat (1-3600)",
    },
    Setting {
        flag: "--backup-dir",
        env: "EMOTECHAT_BACKUP_DIR",
        default: "none",
        help: "directory for scheduled backups (emotechat-<UTC time>.db); none takes none",
    },
    Setting {
        flag: "--backup-every",
        env: "EMOTECHAT_BACKUP_EVERY",
        default: "24",
        help: "hours between scheduled backups, decimals allowed (0.0001-8760)",
    },
    Setting {
        flag: "--backup-keep",
        env: "EMOTECHAT_BACKUP_KEEP",
        default: "7",
        help: "scheduled backups kept; older ones are deleted (1-10000)",
    },
    Setting {
        flag: "--metrics-addr",
        env: "EMOTECHAT_METRICS_ADDR",
        default: "none",
        help: "address to serve Prometheus metrics on at /metrics, apart from the API: IP:PORT, [IPv6]:PORT or HOST:PORT",
    },
];

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Serve(Box<Config>),
    /// An operator's command on the database (`emotechat invite ...`, `emotechat user ...`).
    Admin(Box<admin::Task>),
    Help,
    Version,
}

/// The `--help` text: usage and every setting with its variable and default, in columns as
/// wide as the longest flag and variable.
pub fn help_text() -> String {
    let flag_width = SETTINGS
        .iter()
        .map(|s| flag_with_value(s).len())
        .max()
        .unwrap_or(0);
    let env_width = SETTINGS.iter().map(|s| s.env.len()).max().unwrap_or(0);
    let mut text = format!(
        "EmoteChat {} - a self-hosted chat server\n\n\
         Usage: emotechat [serve] [OPTIONS]\n       \
         emotechat COMMAND [ARGUMENTS] [OPTIONS]   (see Commands below)\n\n\
         Options (each also read from its environment variable; a flag wins):\n",
        env!("CARGO_PKG_VERSION")
    );
    for s in SETTINGS {
        text.push_str(&format!(
            "  {:<flag_width$} {:<env_width$} {} [default: {}]\n",
            flag_with_value(s),
            s.env,
            s.help,
            s.default
        ));
    }
    let width = flag_width + 1 + env_width;
    text.push_str(&format!("  {:<width$} print this help\n", "--help"));
    text.push_str(&format!("  {:<width$} print the version\n", "--version"));
    text.push('\n');
    text.push_str(&admin::help_text());
    text
}

fn flag_with_value(setting: &Setting) -> String {
    format!("{} VALUE", setting.flag)
}

/// Parses the arguments (without the program name) and the environment into a command.
/// Every value is validated here, so a bad setting stops the program before anything opens.
pub fn parse<I, E>(args: I, env: E) -> Result<Command, String>
where
    I: IntoIterator<Item = String>,
    E: Fn(&str) -> Option<String>,
{
    let mut args: Vec<String> = args.into_iter().collect();
    match args.first().map(String::as_str) {
        Some("serve") => {
            args.remove(0);
        }
        Some(word) if admin::is_command(word) => return admin::parse(args, env),
        _ => {}
    }
    parse_settings(args, env)
}

/// Parses setting flags (and `--help`, `--version`) into `Serve` with the settings they make:
/// the server's command line, and the settings part of an operator's command.
pub(crate) fn parse_settings<I, E>(args: I, env: E) -> Result<Command, String>
where
    I: IntoIterator<Item = String>,
    E: Fn(&str) -> Option<String>,
{
    let mut flags: Vec<(&'static Setting, String)> = Vec::new();
    let mut args = args.into_iter();
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
    let addr: ListenAddr = text("--addr")
        .parse()
        .map_err(|reason| format!("--addr {reason}"))?;
    let metrics_addr = value_of("--metrics-addr")
        .filter(|value| value != "none" && !value.trim().is_empty())
        .map(|value| value.parse::<ListenAddr>())
        .transpose()
        .map_err(|reason| format!("--metrics-addr {reason}"))?;
    let db = PathBuf::from(text("--db"));
    if db.as_os_str().is_empty() {
        return Err("--db must not be empty".into());
    }
    let public_url = value_of("--public-url")
        .map(|url| parse_public_url(&url))
        .transpose()?;
    let mail_command = value_of("--mail-command").filter(|c| !c.trim().is_empty() && c != "none");
    let max_connections =
        number_in("--max-connections", &text("--max-connections"), 1, 100_000)? as usize;
    let max_connections_per_ip = match value_of("--max-connections-per-ip") {
        Some(value) => number_in("--max-connections-per-ip", &value, 1, 100_000)? as usize,
        None => default_per_ip(max_connections),
    };
    Ok(Config {
        addr,
        db,
        public_url,
        mail_command,
        session_days: number_in("--session-days", &text("--session-days"), 1, 3650)?,
        reset_minutes: number_in("--reset-minutes", &text("--reset-minutes"), 1, 1440)?,
        rate_limits: on_off("--rate-limits", &text("--rate-limits"))?,
        rate_budgets: Budgets {
            login_failures_per_account: budget_of("--login-failures-per-account", &text)?,
            login_failures_per_address: budget_of("--login-failures-per-address", &text)?,
            registrations_per_address: budget_of("--registrations-per-address", &text)?,
            reset_requests_per_email: budget_of("--reset-requests-per-email", &text)?,
            reset_requests_per_address: budget_of("--reset-requests-per-address", &text)?,
            sends_per_user: budget_of("--sends-per-user", &text)?,
        },
        quotas: Quotas {
            emotes_per_user: number_in(
                "--emotes-per-user",
                &text("--emotes-per-user"),
                1,
                1_000_000,
            )?,
            emote_bytes_per_user: parse_size(
                "--emote-bytes-per-user",
                &text("--emote-bytes-per-user"),
            )?,
            groups_per_user_per_day: number_in(
                "--groups-per-user-per-day",
                &text("--groups-per-user-per-day"),
                1,
                1_000_000,
            )?,
            attachment_max_bytes: parse_size(
                "--attachment-max-bytes",
                &text("--attachment-max-bytes"),
            )?,
            attachment_bytes_per_user: parse_size(
                "--attachment-bytes-per-user",
                &text("--attachment-bytes-per-user"),
            )?,
            unattached_attachment_secs: number_in(
                "--unattached-attachment-secs",
                &text("--unattached-attachment-secs"),
                0,
                604_800,
            )?,
            sessions_per_user: number_in(
                "--sessions-per-user",
                &text("--sessions-per-user"),
                1,
                10_000,
            )?,
        },
        connections: ConnectionLimits {
            max_connections,
            max_connections_per_ip,
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
        stream_ticket_secs: number_in(
            "--stream-ticket-secs",
            &text("--stream-ticket-secs"),
            1,
            300,
        )?,
        sse_ping_secs: number_in("--sse-ping-secs", &text("--sse-ping-secs"), 1, 3600)?,
        trusted_proxies: parse_proxies(&text("--trust-proxy"))?,
        cors_origins: parse_origins(&text("--cors-origins"))?,
        metrics_addr,
        registration: parse_registration(&text("--registration"))?,
        backups: backup_schedule(&text)?,
    })
}

/// The schedule, if `--backup-dir` names a directory. The interval and count are checked
/// even without one, so a typo is caught before the day it would matter.
fn backup_schedule(text: &impl Fn(&str) -> String) -> Result<Option<BackupSchedule>, String> {
    let every = parse_hours("--backup-every", &text("--backup-every"))?;
    let keep = number_in("--backup-keep", &text("--backup-keep"), 1, 10_000)? as usize;
    let dir = text("--backup-dir");
    if dir == "none" || dir.trim().is_empty() {
        return Ok(None);
    }
    Ok(Some(BackupSchedule {
        dir: PathBuf::from(dir),
        every,
        keep,
    }))
}

/// Hours as a decimal number, from 0.0001 (0.36 s, for tests) to 8760 (a year).
fn parse_hours(flag: &str, value: &str) -> Result<Duration, String> {
    match value.parse::<f64>() {
        Ok(hours) if (0.0001..=8760.0).contains(&hours) => {
            Ok(Duration::from_secs_f64(hours * 3600.0))
        }
        _ => Err(format!(
            "{flag} '{value}' must be a number of hours from 0.0001 to 8760, such as 24 or 0.5"
        )),
    }
}

fn parse_registration(value: &str) -> Result<Registration, String> {
    match value {
        "open" => Ok(Registration::Open),
        "invite" => Ok(Registration::Invite),
        "closed" => Ok(Registration::Closed),
        _ => Err(format!(
            "--registration '{value}' must be open, invite or closed"
        )),
    }
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

/// One address gets a sixteenth of all connections by default: enough for a household or an
/// office behind one NAT address (browsers open about six connections per site), while it
/// takes sixteen addresses, not one, to fill the server.
fn default_per_ip(max_connections: usize) -> usize {
    (max_connections / 16).max(1)
}

fn parse_proxies(list: &str) -> Result<TrustedProxies, String> {
    if list == "none" || list.trim().is_empty() {
        return Ok(TrustedProxies::default());
    }
    list.split(',')
        .map(|item| {
            item.trim().parse::<IpRange>().map_err(|()| {
                format!(
                    "--trust-proxy '{}' is not an IP address or CIDR range",
                    item.trim()
                )
            })
        })
        .collect::<Result<_, _>>()
        .map(TrustedProxies::new)
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

/// The budget a rate-limit setting gives, from its flag, variable or default.
fn budget_of(flag: &str, text: &impl Fn(&str) -> String) -> Result<Budget, String> {
    parse_budget(flag, &text(flag))
}

/// `N/PERIOD`: N attempts (1-1000000) per PERIOD, a whole number of seconds, minutes, hours
/// or days from one second to 365 days (`90s`, `15m`, `1h`, `1d`).
fn parse_budget(flag: &str, value: &str) -> Result<Budget, String> {
    let refuse = || {
        format!(
            "{flag} '{value}' must be N/PERIOD, such as 10/15m (N 1-1000000; PERIOD 1s-365d in s, m, h or d)"
        )
    };
    let (attempts, period) = value.split_once('/').ok_or_else(refuse)?;
    let attempts = match attempts.parse::<u32>() {
        Ok(n) if (1..=1_000_000).contains(&n) => n,
        _ => return Err(refuse()),
    };
    let unit_secs = match period.chars().last() {
        Some('s') => 1,
        Some('m') => 60,
        Some('h') => 3600,
        Some('d') => 86_400,
        _ => return Err(refuse()),
    };
    let count = period[..period.len() - 1]
        .parse::<u64>()
        .ok()
        .filter(|n| *n > 0 && n.saturating_mul(unit_secs) <= 365 * 86_400)
        .ok_or_else(refuse)?;
    Ok(Budget {
        attempts,
        window: Duration::from_secs(count * unit_secs),
    })
}

/// Bytes, plain or with a binary unit: `1048576`, `512KiB`, `10MiB`, `1GiB` (at most 1 TiB).
fn parse_size(flag: &str, value: &str) -> Result<u64, String> {
    let (digits, unit) = [("KiB", 1u64 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30)]
        .iter()
        .find_map(|(suffix, unit)| value.strip_suffix(suffix).map(|d| (d, *unit)))
        .unwrap_or((value, 1));
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .filter(|bytes| (1..=1 << 40).contains(bytes))
        .ok_or_else(|| {
            format!(
                "{flag} '{value}' must be a size such as 10MiB, 512KiB or 1048576 (at most 1 TiB)"
            )
        })
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
    /// The base URL for links: `--public-url`, or else the address listened on (the bound one
    /// once known, with its real port; an IPv6 address in brackets either way).
    pub fn public_url_for(&self, bound: impl fmt::Display) -> String {
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
        assert_eq!(config.connections.max_connections_per_ip, 64);
        assert_eq!(config.connections.max_header_bytes, 8192);
        assert_eq!(config.connections.max_headers, 100);
        assert_eq!(config.connections.request_timeout_secs, 10);
        assert_eq!(config.connections.idle_timeout_secs, 30);
        assert_eq!(config.trusted_proxies, TrustedProxies::default());
        assert_eq!(
            config.rate_budgets.login_failures_per_account,
            Budget {
                attempts: 10,
                window: Duration::from_secs(15 * 60)
            }
        );
        assert_eq!(
            config.rate_budgets.sends_per_user,
            Budget {
                attempts: 30,
                window: Duration::from_secs(10)
            }
        );
        assert_eq!(
            config.quotas,
            Quotas {
                emotes_per_user: 100,
                emote_bytes_per_user: 10 << 20,
                groups_per_user_per_day: 20,
                sessions_per_user: 20,
                attachment_max_bytes: 10 << 20,
                attachment_bytes_per_user: 1 << 30,
                unattached_attachment_secs: 3600,
            }
        );
        assert_eq!(config.ws_frames_per_minute, 600);
        assert_eq!(config.ws_frame_burst, 60);
        assert_eq!(config.stream_session_check_secs, 60);
        assert_eq!(config.stream_ticket_secs, 30);
        assert_eq!(config.registration, Registration::Open);
        for (value, mode) in [
            ("invite", Registration::Invite),
            ("closed", Registration::Closed),
        ] {
            let chosen = serve(&[], &[("EMOTECHAT_REGISTRATION", value)]).expect("valid");
            assert_eq!(chosen.registration, mode);
        }
        assert_eq!(serve(&["serve"], &[]), Ok(config));
        let proxied = serve(&["--trust-proxy", "127.0.0.1, ::1"], &[]).expect("valid");
        assert!(proxied.trusted_proxies.contains("::1".parse().expect("ip")));
        assert!(
            !proxied
                .trusted_proxies
                .contains("127.0.0.2".parse().expect("ip"))
        );
        assert!(serve(&["--trust-proxy", "localhost"], &[]).is_err());
    }

    #[test]
    fn listen_addresses_may_be_ipv6_or_host_names() {
        for addr in ["[::]:8080", "[::1]:0", "localhost:8080", "0.0.0.0:80"] {
            let config = serve(&["--addr", addr], &[]).expect(addr);
            assert_eq!(config.addr.to_string(), addr);
        }
        for bad in ["::1:8080", "[::1]", "localhost", "local_host:80"] {
            let reason = serve(&["--addr", bad], &[]).expect_err(bad);
            assert!(reason.starts_with("--addr '"), "{reason}");
        }
    }

    #[test]
    fn metrics_are_off_unless_given_an_address() {
        assert_eq!(serve(&[], &[]).expect("valid").metrics_addr, None);
        assert_eq!(
            serve(&["--metrics-addr", "none"], &[])
                .expect("valid")
                .metrics_addr,
            None
        );
        let on = serve(&[], &[("EMOTECHAT_METRICS_ADDR", "[::1]:9100")]).expect("valid");
        assert_eq!(
            on.metrics_addr.map(|a| a.to_string()).as_deref(),
            Some("[::1]:9100")
        );
        let reason = serve(&["--metrics-addr", "9100"], &[]).expect_err("no host");
        assert!(reason.starts_with("--metrics-addr '9100'"), "{reason}");
    }

    #[test]
    fn trusted_proxies_may_be_cidr_ranges() {
        let ranges = serve(&["--trust-proxy", "10.0.0.0/8,fd00::/8, 192.0.2.1"], &[])
            .expect("valid")
            .trusted_proxies;
        for inside in ["10.20.30.40", "fd12::1", "192.0.2.1"] {
            assert!(ranges.contains(inside.parse().expect("ip")), "{inside}");
        }
        for outside in ["11.0.0.1", "fe00::1", "192.0.2.2"] {
            assert!(!ranges.contains(outside.parse().expect("ip")), "{outside}");
        }
        let reason = serve(&["--trust-proxy", "10.0.0.0/33"], &[]).expect_err("refused");
        assert!(reason.contains("CIDR"), "{reason}");
    }

    #[test]
    fn the_per_address_cap_defaults_to_a_sixteenth_of_all_connections() {
        let per_ip = |args: &[&str]| {
            serve(args, &[])
                .expect("valid")
                .connections
                .max_connections_per_ip
        };
        assert_eq!(per_ip(&["--max-connections", "160"]), 10);
        assert_eq!(per_ip(&["--max-connections", "10"]), 1);
        assert_eq!(per_ip(&["--max-connections-per-ip", "5"]), 5);
        assert!(serve(&["--max-connections-per-ip", "0"], &[]).is_err());
        assert!(serve(&["--max-connections-per-ip", "100001"], &[]).is_err());
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
            &["--registration", "sometimes"],
            &["--bogus", "1"],
        ] {
            let reason = serve(bad, &[]).expect_err("should be refused");
            assert!(!reason.contains('\n'), "one line: {reason}");
        }
        assert!(serve(&[], &[("EMOTECHAT_RESET_MINUTES", "1441")]).is_err());
    }

    #[test]
    fn the_sse_ping_interval_is_1_to_3600_seconds() {
        assert_eq!(serve(&[], &[]).expect("defaults").sse_ping_secs, 15);
        for (secs, valid) in [("0", false), ("1", true), ("3600", true), ("3601", false)] {
            let config = serve(&["--sse-ping-secs", secs], &[]);
            assert_eq!(config.is_ok(), valid, "{secs}: {config:?}");
        }
    }

    #[test]
    fn budgets_are_attempts_per_period() {
        let budget = |value: &str| parse_budget("--sends-per-user", value);
        let expect = |attempts, secs| {
            Ok(Budget {
                attempts,
                window: Duration::from_secs(secs),
            })
        };
        assert_eq!(budget("1/1s"), expect(1, 1));
        assert_eq!(budget("10/90s"), expect(10, 90));
        assert_eq!(budget("50/15m"), expect(50, 900));
        assert_eq!(budget("3/2h"), expect(3, 7200));
        assert_eq!(budget("1000000/365d"), expect(1_000_000, 365 * 86_400));
        for bad in [
            "",
            "10",
            "10/",
            "/15m",
            "0/15m",
            "1000001/1d",
            "10/0m",
            "10/15",
            "10/15x",
            "10/366d",
            "-1/1d",
            "10/1.5h",
            "10/m",
        ] {
            let reason = budget(bad).expect_err(bad);
            assert!(reason.starts_with("--sends-per-user"), "{reason}");
        }
        let config = serve(&["--login-failures-per-address", "3/1d"], &[]).expect("valid");
        assert_eq!(
            config.rate_budgets.login_failures_per_address,
            expect(3, 86_400).expect("ok")
        );
    }

    #[test]
    fn sizes_take_binary_units() {
        let size = |value: &str| parse_size("--emote-bytes-per-user", value);
        assert_eq!(size("1"), Ok(1));
        assert_eq!(size("1048576"), Ok(1 << 20));
        assert_eq!(size("512KiB"), Ok(512 << 10));
        assert_eq!(size("10MiB"), Ok(10 << 20));
        assert_eq!(size("1024GiB"), Ok(1 << 40));
        for bad in [
            "", "0", "0MiB", "1025GiB", "10MB", "10 MiB", "-1", "MiB", "1.5MiB",
        ] {
            assert!(size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn help_lists_every_setting_and_default_in_aligned_columns() {
        let text = help_text();
        let options: Vec<&str> = text.lines().filter(|l| l.starts_with("  --")).collect();
        assert_eq!(options.len(), SETTINGS.len() + 2, "{text}");
        for (line, s) in options.iter().zip(SETTINGS) {
            assert!(line.starts_with(&format!("  {} VALUE ", s.flag)), "{line}");
            assert!(line.contains(&format!(" {} ", s.env)), "{line}");
            assert!(
                line.ends_with(&format!("[default: {}]", s.default)),
                "{line}"
            );
        }
        let env_columns: Vec<Option<usize>> = options
            .iter()
            .zip(SETTINGS)
            .map(|(line, s)| line.find(s.env))
            .collect();
        let mut text_columns: Vec<Option<usize>> = options
            .iter()
            .zip(SETTINGS)
            .map(|(line, s)| line.find(s.help))
            .collect();
        text_columns.extend(
            options[SETTINGS.len()..]
                .iter()
                .map(|line| line.find("print")),
        );
        assert!(
            env_columns
                .iter()
                .all(|c| c.is_some() && *c == env_columns[0]),
            "{text}"
        );
        assert!(
            text_columns
                .iter()
                .all(|c| c.is_some() && *c == text_columns[0]),
            "{text}"
        );
        assert_eq!(parse(args(&["--help"]), |_| None), Ok(Command::Help));
        assert_eq!(
            parse(args(&["serve", "--version"]), |_| None),
            Ok(Command::Version)
        );
    }

    #[test]
    fn scheduled_backups_need_a_directory_and_take_decimal_hours() {
        assert_eq!(serve(&[], &[]).expect("valid").backups, None);
        let config = serve(
            &["--backup-dir", "/var/backups/chat", "--backup-every", "0.5"],
            &[("EMOTECHAT_BACKUP_KEEP", "3")],
        )
        .expect("valid");
        assert_eq!(
            config.backups,
            Some(BackupSchedule {
                dir: PathBuf::from("/var/backups/chat"),
                every: Duration::from_secs(1800),
                keep: 3,
            })
        );
        let every = |value: &str| parse_hours("--backup-every", value);
        assert_eq!(every("24"), Ok(Duration::from_secs(86_400)));
        assert_eq!(every("0.0001"), Ok(Duration::from_millis(360)));
        assert_eq!(every("8760"), Ok(Duration::from_secs(8760 * 3600)));
        for bad in ["0", "0.00009", "8760.1", "-1", "NaN", "inf", "1h", ""] {
            let reason = every(bad).expect_err(bad);
            assert!(reason.starts_with("--backup-every"), "{reason}");
        }
        for (keep, ok) in [("1", true), ("10000", true), ("0", false), ("10001", false)] {
            let parsed = serve(&["--backup-dir", "b", "--backup-keep", keep], &[]);
            assert_eq!(parsed.is_ok(), ok, "{keep}: {parsed:?}");
        }
        assert!(
            serve(&["--backup-every", "0"], &[]).is_err(),
            "checked without a directory"
        );
    }

    /// The rows of README.md's settings table as (flag, variable, default), backticks removed.
    fn readme_settings() -> Vec<[String; 3]> {
        let readme = include_str!("../README.md");
        let section = readme
            .split("\n## ")
            .find(|section| section.starts_with("Settings\n"))
            .expect("README has a Settings section");
        section
            .lines()
            .filter(|line| line.starts_with("| `--"))
            .map(|line| {
                let cells: Vec<String> = line
                    .split('|')
                    .map(|cell| cell.trim().replace('`', ""))
                    .collect();
                [cells[1].clone(), cells[2].clone(), cells[3].clone()]
            })
            .collect()
    }

    #[test]
    fn the_readme_settings_table_is_settings_in_order() {
        let expected: Vec<[String; 3]> = SETTINGS
            .iter()
            .map(|s| [s.flag.to_owned(), s.env.to_owned(), s.default.to_owned()])
            .collect();
        assert_eq!(readme_settings(), expected);
    }

    #[test]
    fn debug_redacts_the_mail_command() {
        let config = serve(&["--mail-command", "smtp --password hunter2"], &[]).expect("valid");
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}
