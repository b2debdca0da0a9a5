//! The one event type: what kinds of event there are, an event as stored in the `events`
//! outbox and handed to every stream, and the one place an event becomes what a transport
//! sends (SSE `id`/`event`/`data` lines, or a WebSocket `{"id", "resume", "type", "data"}`
//! text frame). The payload is JSON already, serialised once when the event was written;
//! both transports carry it as it is.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::domain::{ConversationId, EventId, MessageId, ReplyPreview};
use crate::wire;

/// What an event reports, named on the wire and in the `events.type` column by the same
/// strings. `Typing` and `Resync` are ephemeral: sent to a stream, never stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    ConversationCreated,
    ConversationUpdated,
    MemberJoined,
    MemberLeft,
    MessageCreated,
    MessageUpdated,
    MessageDeleted,
    ReactionAdded,
    ReactionRemoved,
    ReadUpdated,
    Typing,
    Resync,
}

impl EventKind {
    pub const ALL: [EventKind; 12] = [
        EventKind::ConversationCreated,
        EventKind::ConversationUpdated,
        EventKind::MemberJoined,
        EventKind::MemberLeft,
        EventKind::MessageCreated,
        EventKind::MessageUpdated,
        EventKind::MessageDeleted,
        EventKind::ReactionAdded,
        EventKind::ReactionRemoved,
        EventKind::ReadUpdated,
        EventKind::Typing,
        EventKind::Resync,
    ];

    /// The name on the wire and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::ConversationCreated => "conversation.created",
            EventKind::ConversationUpdated => "conversation.updated",
            EventKind::MemberJoined => "member.joined",
            EventKind::MemberLeft => "member.left",
            EventKind::MessageCreated => "message.created",
            EventKind::MessageUpdated => "message.updated",
            EventKind::MessageDeleted => "message.deleted",
            EventKind::ReactionAdded => "reaction.added",
            EventKind::ReactionRemoved => "reaction.removed",
            EventKind::ReadUpdated => "read.updated",
            EventKind::Typing => "typing",
            EventKind::Resync => "resync",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is no event kind of ours.
#[derive(Debug, PartialEq, Eq)]
pub struct UnknownKind(pub String);

impl fmt::Display for UnknownKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown event type {:?}", self.0)
    }
}

impl std::error::Error for UnknownKind {}

impl FromStr for EventKind {
    type Err = UnknownKind;

    fn from_str(name: &str) -> Result<EventKind, UnknownKind> {
        EventKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
            .ok_or_else(|| UnknownKind(name.to_owned()))
    }
}

/// Serialised by its wire name, so there is one list of names: `as_str`.
impl Serialize for EventKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A stored event, its JSON payload serialised once and shared by every stream.
#[derive(Debug)]
pub struct Event {
    pub id: EventId,
    pub conversation_id: ConversationId,
    pub kind: EventKind,
    pub data: Box<RawValue>,
}

impl Event {
    /// The event with the preview its reply carries (`message.reply_to`) hidden, for a
    /// recipient whose history hides the original: the same event, quoting nothing of it.
    /// `None` if the payload is not what a message event holds (then nothing is sent).
    pub fn without_quote(&self) -> Option<Event> {
        let mut data: Value = serde_json::from_str(self.data.get()).ok()?;
        let quote = data.pointer_mut("/message/reply_to")?;
        let id: MessageId = serde_json::from_value(quote.get("id")?.clone()).ok()?;
        *quote = serde_json::to_value(wire::ReplyPreview::from(ReplyPreview::hidden(id))).ok()?;
        Some(Event {
            id: self.id,
            conversation_id: self.conversation_id,
            kind: self.kind,
            data: serde_json::value::to_raw_value(&data).ok()?,
        })
    }
}

/// An event as a transport sends it: a stored one carries its id and its resume token
/// (`<epoch>-<id>`, what the client hands back); an ephemeral one has neither.
#[derive(Serialize)]
pub struct WireEvent<'a> {
    id: Option<EventId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resume: Option<&'a str>,
    #[serde(rename = "type")]
    kind: EventKind,
    data: &'a RawValue,
}

impl<'a> WireEvent<'a> {
    pub fn stored(event: &'a Event, resume: &'a str) -> WireEvent<'a> {
        WireEvent {
            id: Some(event.id),
            resume: Some(resume),
            kind: event.kind,
            data: &event.data,
        }
    }

    pub fn ephemeral(kind: EventKind, data: &'a RawValue) -> WireEvent<'a> {
        WireEvent {
            id: None,
            resume: None,
            kind,
            data,
        }
    }

    /// Server-Sent Events lines: `id` (the resume token, for `Last-Event-ID`) when stored,
    /// `event`, and `data`, ended by a blank line.
    pub fn sse(&self) -> String {
        let (kind, data) = (self.kind, self.data.get());
        match self.resume {
            Some(resume) => format!("id: {resume}\nevent: {kind}\ndata: {data}\n\n"),
            None => format!("event: {kind}\ndata: {data}\n\n"),
        }
    }

    /// A WebSocket text frame: `{"id", "resume", "type", "data"}`, with `"id": null` and no
    /// `resume` when ephemeral.
    pub fn json(&self) -> String {
        // Only integers, our own names and a payload that is valid JSON by its type: this
        // cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_owned()).expect("json")
    }

    #[test]
    fn every_kind_reads_back_from_its_name() {
        for kind in EventKind::ALL {
            assert_eq!(kind.as_str().parse(), Ok(kind));
            assert_eq!(
                serde_json::to_string(&kind).expect("name"),
                format!("\"{kind}\"")
            );
        }
        assert_eq!(
            "message.exploded".parse::<EventKind>(),
            Err(UnknownKind("message.exploded".into()))
        );
    }

    #[test]
    fn a_stored_event_is_sent_with_its_id_and_resume_token() {
        let event = Event {
            id: EventId(7),
            conversation_id: ConversationId(3),
            kind: EventKind::MessageCreated,
            data: raw(r#"{"message":{"id":9, "body":"hé"}}"#),
        };
        let wire = WireEvent::stored(&event, "9f3a-7");
        assert_eq!(
            wire.sse(),
            "id: 9f3a-7\nevent: message.created\ndata: {\"message\":{\"id\":9, \"body\":\"hé\"}}\n\n"
        );
        assert_eq!(
            wire.json(),
            r#"{"id":7,"resume":"9f3a-7","type":"message.created","data":{"message":{"id":9, "body":"hé"}}}"#
        );
    }

    #[test]
    fn without_its_quote_a_reply_says_nothing_of_the_original_but_its_id() {
        let event = Event {
            id: EventId(7),
            conversation_id: ConversationId(3),
            kind: EventKind::MessageCreated,
            data: raw(r#"{"message":{"id":9,"body":"yes","reply_to":{"id":4,
                "sender":{"id":2,"name":"Ada"},"excerpt":"the secret","deleted":false,
                "hidden":false}}}"#),
        };
        let hidden = event.without_quote().expect("a message event");
        assert_eq!((hidden.id, hidden.kind), (event.id, event.kind));
        let data: Value = serde_json::from_str(hidden.data.get()).expect("json");
        assert_eq!(
            data,
            serde_json::json!({"message": {"id": 9, "body": "yes", "reply_to": {
                "id": 4, "sender": null, "excerpt": "", "deleted": false, "hidden": true}}})
        );
        let reaction = Event {
            data: raw(r#"{"message_id":9}"#),
            ..event
        };
        assert!(reaction.without_quote().is_none());
    }

    #[test]
    fn an_ephemeral_event_has_no_id() {
        let data = raw(r#"{"reason":"refetch"}"#);
        let wire = WireEvent::ephemeral(EventKind::Resync, &data);
        assert_eq!(
            wire.sse(),
            "event: resync\ndata: {\"reason\":\"refetch\"}\n\n"
        );
        assert_eq!(
            wire.json(),
            r#"{"id":null,"type":"resync","data":{"reason":"refetch"}}"#
        );
    }
}
