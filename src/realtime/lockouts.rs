//! Accounts disabled by another process (`emotechat user disable` writes the database while
//! the server runs) lose their open streams within a second. Their sessions are deleted in
//! the same write, so every request is refused at once; an open stream would otherwise find
//! out only at its next session check (`--stream-session-check`, a minute by default), and go
//! on delivering until then. One small indexed read a second finds the accounts disabled
//! since the last look.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use super::hub::Hub;
use crate::domain::Timestamp;
use crate::repo::{self, Pool, users};

/// How often the disabled accounts are looked at: the "within a second" of the promise.
const INTERVAL: Duration = Duration::from_secs(1);

pub fn start(pool: Pool, hub: Arc<Hub>) -> std::io::Result<()> {
    // Accounts disabled before this start have no sessions, hence no streams to close.
    let mut since = Timestamp::now();
    thread::Builder::new()
        .name("lockouts".into())
        .spawn(move || {
            loop {
                thread::sleep(INTERVAL);
                match repo::read(&pool, |conn| users::disabled_after(conn, since)) {
                    Ok(disabled) => {
                        for (user, at) in disabled {
                            log::info!("user {user} was disabled; closing their streams");
                            hub.close_user(user, None);
                            since = since.max(at);
                        }
                    }
                    Err(err) => log::error!("looking for disabled accounts failed: {err}"),
                }
            }
        })
        .map(|_| ())
}
