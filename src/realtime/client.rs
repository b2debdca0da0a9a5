//! What a client tells the server over a stream: typing notices (also over HTTP) and, on a
//! WebSocket, its own frames, `{"type": "typing", "conversation_id"}` and `{"type": "ping"}`.

use std::sync::Arc;

use serde::{Deserialize, Deserializer};
use serde_json::value::to_raw_value;

use super::event::EventKind;
use super::hub::{Frame, Hub};
use crate::domain::{ConversationId, Id, User};
use crate::error::ApiError;
use crate::repo::{self, Pool, conversations};
use crate::wire::{self, Typing, WsReply};

/// A frame a WebSocket client may send. Anything that is JSON but not one of these is
/// `Unknown`, and answered as such.
#[derive(Debug, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ClientFrame {
    /// `None` when the id is missing or not a positive integer.
    Typing {
        #[serde(default, deserialize_with = "positive_id")]
        conversation_id: Option<ConversationId>,
    },
    Ping,
    #[serde(other)]
    Unknown,
}

/// Not JSON at all.
#[derive(Debug, PartialEq, Eq)]
pub struct NotJson;

impl ClientFrame {
    pub fn parse(text: &str) -> Result<ClientFrame, NotJson> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|_| NotJson)?;
        // Only an object can name its type: serde would also read `["ping"]` as a ping.
        if !value.is_object() {
            return Ok(ClientFrame::Unknown);
        }
        // An object fails only for a missing or non-text `type`.
        Ok(ClientFrame::deserialize(value).unwrap_or(ClientFrame::Unknown))
    }
}

/// Any JSON; a positive integer is an id, anything else is none.
fn positive_id<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<ConversationId>, D::Error> {
    let value = serde_json::Value::deserialize(deserializer)?;
    Ok(value
        .as_i64()
        .filter(|id| *id > 0)
        .map(ConversationId::from_int))
}

/// A user who may say they are typing, over HTTP or a WebSocket frame.
pub struct Typist {
    pool: Pool,
    hub: Arc<Hub>,
    user: User,
}

impl Typist {
    pub fn new(pool: &Pool, hub: &Arc<Hub>, user: User) -> Typist {
        Typist {
            pool: pool.clone(),
            hub: Arc::clone(hub),
            user,
        }
    }

    /// Tells the other members (not one who blocks the user, in a direct conversation), at
    /// most once per user and conversation every two seconds; `404` unless the user is a member.
    pub fn typing_in(&self, id: ConversationId) -> Result<(), ApiError> {
        let me = self.user.id;
        let members = repo::read(&self.pool, |conn| {
            conversations::require_member(conn, id, me)?;
            conversations::members_reached_by(conn, id, me)
        })?;
        if !self.hub.allow_typing(me, id) {
            return Ok(());
        }
        let data = to_raw_value(&Typing {
            conversation_id: id,
            user: wire::UserRef {
                id: me,
                name: self.user.name.clone(),
            },
        })
        .map_err(|e| ApiError::internal(format!("typing payload: {e}")))?;
        let frame = Frame::Ephemeral {
            kind: EventKind::Typing,
            data: data.into(),
        };
        self.hub.publish(&frame, &members, Some(me));
        Ok(())
    }

    /// The answer to one client frame of a WebSocket, if it needs one.
    pub fn answer(&self, text: &str) -> Option<String> {
        match ClientFrame::parse(text) {
            Err(NotJson) => Some(error_reply("frames must be JSON objects")),
            Ok(ClientFrame::Ping) => Some(reply(&WsReply::Pong)),
            Ok(ClientFrame::Typing {
                conversation_id: Some(id),
            }) => match self.typing_in(id) {
                Ok(()) => None,
                Err(err) if err.status() == 404 => Some(error_reply("no such conversation")),
                Err(_) => Some(error_reply("typing could not be sent")),
            },
            Ok(ClientFrame::Typing {
                conversation_id: None,
            }) => Some(error_reply("typing needs a conversation_id")),
            Ok(ClientFrame::Unknown) => {
                Some(error_reply("unknown frame type; expected typing or ping"))
            }
        }
    }
}

/// `{"type": "error", "message"}`: the answer to a frame the server cannot take.
pub fn error_reply(message: &'static str) -> String {
    reply(&WsReply::Error { message })
}

fn reply(reply: &WsReply) -> String {
    // A tag and a fixed text: this cannot fail.
    serde_json::to_string(reply).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ClientFrame, NotJson> {
        ClientFrame::parse(text)
    }

    #[test]
    fn pings_and_typing_are_read_and_extra_fields_ignored() {
        assert_eq!(parse(r#"{"type":"ping"}"#), Ok(ClientFrame::Ping));
        assert_eq!(parse(r#"{"type":"ping","x":[1]}"#), Ok(ClientFrame::Ping));
        assert_eq!(
            parse(r#"{"conversation_id":7,"type":"typing","x":1}"#),
            Ok(ClientFrame::Typing {
                conversation_id: Some(ConversationId(7))
            })
        );
    }

    #[test]
    fn typing_without_a_positive_integer_id_has_none() {
        for bad in [
            r#"{"type":"typing"}"#,
            r#"{"type":"typing","conversation_id":0}"#,
            r#"{"type":"typing","conversation_id":-3}"#,
            r#"{"type":"typing","conversation_id":1.5}"#,
            r#"{"type":"typing","conversation_id":"7"}"#,
            r#"{"type":"typing","conversation_id":null}"#,
            r#"{"type":"typing","conversation_id":18446744073709551615}"#,
        ] {
            assert_eq!(
                parse(bad),
                Ok(ClientFrame::Typing {
                    conversation_id: None
                }),
                "{bad}"
            );
        }
    }

    #[test]
    fn other_json_is_unknown_and_non_json_is_refused() {
        for unknown in [
            r#"{"type":"shout"}"#,
            r#"{"type":"Ping"}"#,
            r#"{"type":5}"#,
            r#"{}"#,
            r#"["ping"]"#,
            r#""ping""#,
            "42",
            "null",
        ] {
            assert_eq!(parse(unknown), Ok(ClientFrame::Unknown), "{unknown}");
        }
        for not_json in ["", "ping", "{", r#"{"type":"ping""#] {
            assert_eq!(parse(not_json), Err(NotJson), "{not_json}");
        }
    }

    #[test]
    fn error_replies_are_json() {
        assert_eq!(
            error_reply("frames must be JSON text"),
            r#"{"type":"error","message":"frames must be JSON text"}"#
        );
    }
}
