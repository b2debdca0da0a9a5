//! Password guesses: the limits on wrong passwords that login and password change share.
//! An attempt is reserved against the account and the client address *before* the password
//! is checked, and given back if it was right (or never checked), so that however many
//! guesses arrive at once, at most the budget of wrong ones is ever evaluated.

use std::net::IpAddr;

use super::audit;
use crate::app::App;
use crate::domain::{Email, UserId};
use crate::error::ApiError;
use crate::ratelimit::{Reservation, Rule};

/// Whose password is being guessed.
pub enum Account<'a> {
    User(UserId),
    /// An email no account has: limited like an account, so that the answers do not tell
    /// which emails exist.
    Unknown(&'a Email),
}

impl Account<'_> {
    /// Keyed by user id where there is one, so that every spelling of an address (letter
    /// case) and both ways of guessing (login, password change) share one budget.
    fn key(&self) -> String {
        match self {
            Account::User(id) => format!("user:{id}"),
            Account::Unknown(email) => format!("email:{}", email.lowered()),
        }
    }
}

/// A guess allowed to be checked. Dropped, it is given back; `wrong` spends it.
pub struct Guess<'a> {
    client: IpAddr,
    reservation: Reservation<'a>,
}

/// Reserves a guess at `account` from `client`, or refuses with `429` (logged as a lockout).
pub fn reserve<'a>(app: &'a App, client: IpAddr, account: Account) -> Result<Guess<'a>, ApiError> {
    let address = client.to_string();
    let reserved = app.limits.reserve(&[
        (Rule::LoginFailuresPerAccount, &account.key()),
        (Rule::LoginFailuresPerAddress, &address),
    ]);
    match reserved {
        Ok(reservation) => Ok(Guess {
            client,
            reservation,
        }),
        Err(limited) => {
            audit("lockout", client, None);
            Err(ApiError::rate_limited(limited))
        }
    }
}

impl Guess<'_> {
    /// The password was wrong: the guess counts, is logged for fail2ban, and the answer is
    /// `401 invalid_credentials`.
    pub fn wrong(self, user: Option<UserId>) -> ApiError {
        self.reservation.spend();
        audit("login_failure", self.client, user);
        ApiError::invalid_credentials()
    }
}
