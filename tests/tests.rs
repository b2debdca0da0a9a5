//! Black-box tests: the real binary, over real HTTP, on a real SQLite file.

mod util;

mod accounts;
mod browser;
mod browser_a11y;
mod browser_chat;
mod browser_live;
mod browser_panels;
mod cli;
mod conversations;
mod docs;
mod durability;
mod emotes;
mod errors;
mod events;
mod fail2ban;
mod hardening;
mod hostile;
mod isolation;
mod limits;
mod messages;
mod openapi;
mod password_reset;
mod profile;
mod reactions;
mod realtime;
mod storage;
mod tickets;
mod transport;
mod web;
mod websocket;
