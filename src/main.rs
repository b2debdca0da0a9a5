//! The `emotechat` command: settings from flags and environment, then the server until
//! SIGTERM or SIGINT, which stop it gracefully; or an operator's command on the database
//! (`emotechat invite ...`, `emotechat user ...`; see `admin`).

use std::fmt;
use std::process::ExitCode;
use std::time::Duration;

use emotechat::admin;
use emotechat::config::{self, Command};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// How long requests in flight get to finish once a stop signal arrives.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(10);

/// Why the command stopped without serving: one line for stderr, and an exit code.
enum Failure {
    /// The flags or the environment are wrong: exit code 2, as for any usage error.
    Usage(String),
    /// The server could not start: exit code 1.
    Start(String),
    /// An operator's command failed (no such database, account or invite): exit code 1.
    Admin(String),
}

impl Failure {
    fn exit_code(&self) -> ExitCode {
        match self {
            Failure::Usage(_) => ExitCode::from(2),
            Failure::Start(_) | Failure::Admin(_) => ExitCode::FAILURE,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Usage(reason) | Failure::Start(reason) | Failure::Admin(reason) => {
                f.write_str(reason)
            }
        }
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("emotechat: {failure}");
            failure.exit_code()
        }
    }
}

fn run() -> Result<(), Failure> {
    let command = config::parse(std::env::args().skip(1), |name| std::env::var(name).ok());
    let config = match command.map_err(Failure::Usage)? {
        Command::Serve(config) => *config,
        Command::Admin(task) => {
            let output = admin::run(&task).map_err(|failed| Failure::Admin(failed.to_string()))?;
            print!("{output}");
            return Ok(());
        }
        Command::Help => {
            print!("{}", config::help_text());
            return Ok(());
        }
        Command::Version => {
            println!("emotechat {}", env!("CARGO_PKG_VERSION"));
            return Ok(());
        }
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    // Registered before the server starts, so an early signal is not lost.
    let mut signals = Signals::new([SIGTERM, SIGINT])
        .map_err(|err| Failure::Start(format!("cannot handle stop signals: {err}")))?;
    let running = emotechat::start(config).map_err(|reason| Failure::Start(reason.to_string()))?;
    eprintln!("listening on http://{}", running.addr());
    if let Some(metrics) = running.metrics_addr() {
        eprintln!("metrics on http://{metrics}/metrics");
    }
    if let Some(signal) = signals.forever().next() {
        log::info!("signal {signal} received; shutting down");
    }
    running.shutdown(SHUTDOWN_DEADLINE);
    log::info!("stopped");
    Ok(())
}
