//! Ids of the things EmoteChat stores.

pub type UserId = i64;
pub type SessionId = i64;
pub type ConversationId = i64;
pub type MessageId = i64;
pub type EventId = i64;
