//! What the operator does from the command line against the database file, beside or instead
//! of the running server.

pub mod backup;
