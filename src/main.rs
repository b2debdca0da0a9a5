//! The `emotechat` command: settings from flags and environment, then the server until
//! SIGTERM or SIGINT, which stop it gracefully.

use std::process::ExitCode;
use std::time::Duration;

use emotechat::config::{self, Command};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// How long requests in flight get to finish once a stop signal arrives.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(10);

fn main() -> ExitCode {
    let command = config::parse(std::env::args().skip(1), |name| std::env::var(name).ok());
    let config = match command {
        Ok(Command::Serve(config)) => *config,
        Ok(Command::Help) => {
            print!("{}", config::help_text());
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            println!("emotechat {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(reason) => {
            eprintln!("emotechat: {reason}");
            return ExitCode::from(2);
        }
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    // Registered before the server starts, so an early signal is not lost.
    let mut signals = match Signals::new([SIGTERM, SIGINT]) {
        Ok(signals) => signals,
        Err(err) => {
            eprintln!("emotechat: cannot handle stop signals: {err}");
            return ExitCode::FAILURE;
        }
    };
    let running = match emotechat::start(config) {
        Ok(running) => running,
        Err(reason) => {
            eprintln!("emotechat: {reason}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("listening on http://{}", running.addr());
    if let Some(signal) = signals.forever().next() {
        log::info!("signal {signal} received; shutting down");
    }
    running.shutdown(SHUTDOWN_DEADLINE);
    log::info!("stopped");
    ExitCode::SUCCESS
}
