//! Secrets: scrypt password hashing behind a concurrency gate, and the random bearer and reset
//! tokens of which only a SHA-256 digest is ever stored. Knows nothing of HTTP.

pub mod common;
mod gate;
pub mod password;
pub mod tickets;
pub mod token;

pub use password::{HashError, Hasher};
