//! Bearer and reset tokens: 32 bytes from the OS random source, base64url (no padding) for
//! the client, SHA-256 for the database, so a stolen database holds no usable token.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// A token for the client and the digest to store.
pub struct Issued {
    pub token: String,
    pub digest: [u8; 32],
}

/// A new random token, or an error if the OS random source fails.
pub fn issue() -> Result<Issued, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let digest = digest(&token);
    Ok(Issued { token, digest })
}

/// The digest a presented token is looked up by.
pub fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_random_bits_in_base64url() {
        let first = issue().expect("random");
        let second = issue().expect("random");
        assert_eq!(first.token.len(), 43);
        assert!(
            first
                .token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_ne!(first.token, second.token);
        assert_eq!(first.digest, digest(&first.token));
        assert_ne!(first.digest, second.digest);
    }
}
