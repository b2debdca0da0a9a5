//! Black-box tests: the real binary, over real HTTP, on a real SQLite file.

mod util;

mod accounts;
mod addresses;
mod admin;
mod backup;
mod browser;
mod browser_a11y;
mod browser_chat;
mod browser_invite;
mod browser_live;
mod browser_panels;
mod browser_pwa;
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
mod metrics;
mod password_reset;
mod profile;
mod reactions;
mod realtime;
mod storage;
mod tickets;
mod transport;
mod web;
mod websocket;
