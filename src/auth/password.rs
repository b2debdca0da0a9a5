//! scrypt password hashes in PHC string form (`$scrypt$ln=15,r=8,p=3$<salt>$<hash>`).
//!
//! N = 2^15, r = 8, p = 3 is on OWASP's list of equal-strength scrypt settings and needs
//! 32 MiB per hash, so a 1 GB Raspberry Pi can afford it. Each hash is that much memory and
//! about 170 ms of one core, so at most two run at once; a request that cannot get a turn
//! within the wait is refused (`Busy`) rather than piling up.
//!
//! Why not N = 2^14, p = 5, also on that list, with half the memory: glibc serves a block of
//! up to 32 MiB from a thread's heap once a block that size has been freed, and every
//! request thread that hashed would keep its 16 MiB for good (measured: 154 MiB resident
//! after 24 concurrent logins, against 6 MiB before). A 32 MiB block is always mapped for
//! the hash and unmapped after it, so between logins the memory goes back.

use std::time::Duration;

use scrypt::Params;
use scrypt::Scrypt;
use scrypt::password_hash::phc::PasswordHash;
use scrypt::password_hash::{Error as PhcError, PasswordHasher, PasswordVerifier};

use super::gate::Gate;
use crate::domain::Password;

const LOG_N: u8 = 15;
const R: u32 = 8;
const P: u32 = 3;
const CONCURRENT_HASHES: usize = 2;
const MAX_WAIT: Duration = Duration::from_secs(5);

/// A PHC string with the current parameters and a random salt and output, so no password
/// matches it. A login for an unknown email is checked against it, so that it costs exactly
/// what one for a known email does.
const DUMMY_HASH: &str =
    "$scrypt$ln=15,r=8,p=3$eDKnk9r8FbEoTv03zBdIcA$RkWbmVb2lnaBz5QQGMoz8RITCIvJbPmmMpM6QAt6K/4";

#[derive(Debug, PartialEq, Eq)]
pub enum HashError {
    /// Too many hashes already running or waiting.
    Busy,
    /// The stored hash could not be read, or hashing itself failed.
    Internal(String),
}

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub matches: bool,
    /// The stored hash uses other parameters than the current ones: store a fresh hash.
    pub needs_rehash: bool,
}

pub struct Hasher {
    scrypt: Scrypt,
    gate: Gate,
}

impl Default for Hasher {
    fn default() -> Hasher {
        Hasher::new()
    }
}

impl Hasher {
    pub fn new() -> Hasher {
        Hasher {
            scrypt: Scrypt::new_with_params(current_params()),
            gate: Gate::new(CONCURRENT_HASHES, MAX_WAIT),
        }
    }

    pub fn hash(&self, password: &Password) -> Result<String, HashError> {
        let _pass = self.gate.enter().ok_or(HashError::Busy)?;
        self.scrypt
            .hash_password(password.as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|e| HashError::Internal(format!("scrypt hash failed: {e}")))
    }

    pub fn verify(&self, password: &Password, stored: &str) -> Result<Verdict, HashError> {
        let parsed = PasswordHash::new(stored)
            .map_err(|e| HashError::Internal(format!("unreadable password hash: {e}")))?;
        let stored_params = Params::try_from(&parsed)
            .map_err(|e| HashError::Internal(format!("unreadable scrypt parameters: {e}")))?;
        let _pass = self.gate.enter().ok_or(HashError::Busy)?;
        let matches = match self.scrypt.verify_password(password.as_bytes(), &parsed) {
            Ok(()) => true,
            Err(PhcError::PasswordInvalid) => false,
            Err(e) => return Err(HashError::Internal(format!("scrypt verify failed: {e}"))),
        };
        Ok(Verdict {
            matches,
            needs_rehash: !same_cost(&stored_params, &current_params()),
        })
    }

    /// Spends the time of one verification on the dummy hash; the outcome is always "no".
    pub fn verify_dummy(&self, password: &Password) -> Result<(), HashError> {
        self.verify(password, DUMMY_HASH).map(|_| ())
    }
}

fn current_params() -> Params {
    Params::new(LOG_N, R, P).unwrap_or_default()
}

fn same_cost(a: &Params, b: &Params) -> bool {
    (a.log_n(), a.r(), a.p()) == (b.log_n(), b.r(), b.p())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Parse;

    fn password(text: &str) -> Password {
        Password::parse(text).expect("valid password")
    }

    #[test]
    fn hashes_are_phc_strings_with_the_current_parameters() {
        let hasher = Hasher::new();
        let hash = hasher.hash(&password("correct horse")).expect("hash");
        assert!(hash.starts_with("$scrypt$ln=15,r=8,p=3$"), "{hash}");
        let verdict = hasher
            .verify(&password("correct horse"), &hash)
            .expect("verify");
        assert_eq!(
            verdict,
            Verdict {
                matches: true,
                needs_rehash: false
            }
        );
        let verdict = hasher
            .verify(&password("correct horsE"), &hash)
            .expect("verify");
        assert!(!verdict.matches);
    }

    #[test]
    fn the_dummy_hash_costs_what_a_real_one_does() {
        let parsed = PasswordHash::new(DUMMY_HASH).expect("dummy parses");
        let params = Params::try_from(&parsed).expect("dummy params");
        assert!(same_cost(&params, &current_params()));
        assert_eq!(
            Hasher::new().verify_dummy(&password("anything at all")),
            Ok(())
        );
    }

    #[test]
    fn weaker_stored_hashes_ask_for_a_rehash() {
        let weak = Scrypt::new_with_params(Params::new(10, 8, 1).expect("params"))
            .hash_password(b"old password")
            .expect("hash")
            .to_string();
        let verdict = Hasher::new()
            .verify(&password("old password"), &weak)
            .expect("verify");
        assert_eq!(
            verdict,
            Verdict {
                matches: true,
                needs_rehash: true
            }
        );
    }

    #[test]
    fn unreadable_hashes_are_internal_errors() {
        let result = Hasher::new().verify(&password("whatever1"), "not-a-phc-string");
        assert!(matches!(result, Err(HashError::Internal(_))));
    }
}
