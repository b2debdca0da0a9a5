//! Black-box tests: the real binary, over real HTTP, on a real SQLite file.

mod util;

mod accounts;
mod cli;
mod errors;
mod password_reset;
mod profile;
mod storage;
