//! EmoteChat: a self-hosted chat server in one binary over one SQLite file.
//!
//! `start` is what both `main` and anything embedding the server call: it opens the
//! database, binds the address, and returns a handle to the running server.

pub mod app;
pub mod auth;
pub mod config;
pub mod domain;
pub mod error;
pub mod handlers;
pub mod http;
pub mod mail;
pub mod repo;
pub mod resets;
pub mod wire;

#[cfg(test)]
mod query_plans;

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::thread::JoinHandle;

use app::App;
use auth::Hasher;
use config::Config;
use mail::Mailer;
use resets::ResetDesk;

/// Why the server could not start; one line for the operator.
#[derive(Debug)]
pub struct StartError(String);

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

/// A server that is accepting requests.
pub struct Running {
    addr: SocketAddr,
    thread: JoinHandle<()>,
    stop: Sender<()>,
}

impl Running {
    /// The address actually bound (with the real port when port 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Blocks for as long as the server runs.
    pub fn wait(self) {
        // A panic of the accept thread has already been reported by the panic hook.
        let _ = self.thread.join();
    }

    /// Stops accepting requests and waits for the accept loop to end.
    pub fn stop(self) {
        // The loop may already have ended; then there is nothing to stop.
        let _ = self.stop.send(());
        let _ = self.thread.join();
    }
}

pub fn start(config: Config) -> Result<Running, StartError> {
    let pool = repo::open(&config.db, repo::POOL_SIZE).map_err(|e| StartError(e.to_string()))?;
    let (resets, inbox) = ResetDesk::new();
    let app = Arc::new(App {
        config: config.clone(),
        pool: pool.clone(),
        hasher: Hasher::new(),
        resets,
    });
    let server = rouille::Server::new(config.addr, move |request| http::handle(&app, request))
        .map_err(|e| StartError(format!("cannot listen on {}: {e}", config.addr)))?;
    let addr = server.server_addr();
    let mailer = Mailer::new(config.mail_command.clone(), config.public_url_for(addr));
    inbox
        .start_worker(pool, mailer, config.reset_minutes)
        .map_err(|e| StartError(format!("cannot start the reset worker: {e}")))?;
    let (thread, stop) = server.stoppable();
    Ok(Running { addr, thread, stop })
}
