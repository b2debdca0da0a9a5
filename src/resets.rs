//! Password-reset requests, worked off the request path. The handler only queues the address
//! and answers at once, so a known and an unknown email take the same time to answer; this
//! worker looks the account up, stores a fresh token (dropping older ones) and hands the link
//! to the mailer; a disabled account gets none.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::thread;

use crate::auth::token;
use crate::domain::{Email, Timestamp, UserId};
use crate::mail::Mailer;
use crate::repo::{self, Pool, resets, users};

/// Requests waiting for the worker; past this, new ones are dropped (and logged).
const QUEUE: usize = 256;

pub struct ResetDesk {
    queue: SyncSender<Email>,
}

/// The worker's end of the queue, until the worker starts: it needs the public URL, which is
/// known only once the server has bound its address. Requests queue up until then.
pub struct Inbox(Receiver<Email>);

impl ResetDesk {
    pub fn new() -> (ResetDesk, Inbox) {
        let (queue, requests) = sync_channel(QUEUE);
        (ResetDesk { queue }, Inbox(requests))
    }

    /// Queues a reset for the address, whether or not an account has it.
    pub fn request(&self, email: Email) {
        match self.queue.try_send(email) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => log::warn!("password reset queue full; request dropped"),
            Err(TrySendError::Disconnected(_)) => log::error!("password reset worker is gone"),
        }
    }
}

impl Inbox {
    pub fn start_worker(
        self,
        pool: Pool,
        mailer: Mailer,
        valid_minutes: u32,
    ) -> std::io::Result<()> {
        thread::Builder::new()
            .name("password-resets".into())
            .spawn(move || work(&pool, &mailer, valid_minutes, &self.0))?;
        Ok(())
    }
}

fn work(pool: &Pool, mailer: &Mailer, valid_minutes: u32, requests: &Receiver<Email>) {
    for email in requests {
        if let Err(why) = issue(pool, mailer, valid_minutes, &email) {
            log::error!("password reset failed: {why}");
        }
    }
}

fn issue(pool: &Pool, mailer: &Mailer, valid_minutes: u32, email: &Email) -> Result<(), String> {
    let found =
        repo::read(pool, |conn| users::find_by_email(conn, email)).map_err(|e| e.to_string())?;
    let Some(user) = found else {
        return Ok(());
    };
    // A disabled account gets no link: it could not sign in with the new password anyway.
    if repo::read(pool, |conn| users::is_disabled(conn, user.id)).map_err(|e| e.to_string())? {
        return Ok(());
    }
    let token = store_fresh_token(pool, user.id, valid_minutes)?;
    mailer.send_reset_link(user.id, &user.email, &token, valid_minutes);
    Ok(())
}

/// Stores a new reset token for the user, valid `valid_minutes`, in place of any older one;
/// the token, for the link. Also what `emotechat user reset-link` hands out.
pub fn store_fresh_token(pool: &Pool, user: UserId, valid_minutes: u32) -> Result<String, String> {
    let issued = token::issue().map_err(|e| format!("random source: {e}"))?;
    let now = Timestamp::now();
    let expires_at = now.plus_minutes(valid_minutes);
    repo::write(pool, |tx| {
        resets::replace(tx, user, &issued.digest, now, expires_at)
    })
    .map_err(|e| e.to_string())?;
    Ok(issued.token)
}

/// The web client's page a reset token is used on.
pub fn link(public_url: &str, token: &str) -> String {
    format!("{public_url}/reset-password?token={token}")
}
