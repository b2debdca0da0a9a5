//! The `emotechat` command: settings from flags and environment, then the server.

use std::process::ExitCode;

use emotechat::config::{self, Command};

fn main() -> ExitCode {
    let command = config::parse(std::env::args().skip(1), |name| std::env::var(name).ok());
    let config = match command {
        Ok(Command::Serve(config)) => config,
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
    match emotechat::start(config) {
        Ok(running) => {
            eprintln!("listening on http://{}", running.addr());
            running.wait();
            ExitCode::SUCCESS
        }
        Err(reason) => {
            eprintln!("emotechat: {reason}");
            ExitCode::FAILURE
        }
    }
}
