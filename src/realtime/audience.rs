//! Who is sent a stored event: the one rule the dispatcher (live) and a resuming stream
//! (backfill) share, so that the two never disagree.
//!
//! Membership is judged at the event, not now: a member is sent the events from the
//! `member.joined` that made them one (or all, for those the conversation was created with),
//! and a member who left or was removed is sent the events through their `member.left` and
//! nothing after it. Because those bounds are event ids, which grow in commit order, it does
//! not matter how events fall into batches or when the members are read: a change of
//! membership is exact to the event, under any load.
//!
//! Two finer rules withhold single events from a member: one about a message from before
//! they joined a group that hides its history from newcomers (an edit, a reaction), and, in a
//! direct conversation, one caused by a person they block (their message, reaction or read
//! marker). A third sends an event without part of it: a reply whose original is hidden from
//! the member by either rule goes with a hidden preview (`Delivery::WithoutQuote`). And since
//! a stored event carries its message as it is now (edits rewrite it), a former member is not
//! sent a message edited after they left, and is sent replies without their quote (which may
//! show an original as edited since). These need the payload, which is looked at only when
//! such a rule can apply.

use serde::Deserialize;

use super::event::Event;
use crate::domain::{Audience, MessageId, Timestamp, UserId};

/// How an event is sent to one recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// As stored.
    Whole,
    /// With the preview of the original its reply quotes hidden (`Event::without_quote`).
    WithoutQuote,
}

/// Everyone an event is for, by how it is sent to them.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Recipients {
    pub whole: Vec<UserId>,
    pub without_quote: Vec<UserId>,
}

/// The parts of an event's payload the finer rules need.
#[derive(Deserialize, Default)]
struct Probe {
    message: Option<MessageProbe>,
    message_id: Option<MessageId>,
    user: Option<UserProbe>,
    user_id: Option<UserId>,
}

#[derive(Deserialize)]
struct MessageProbe {
    id: MessageId,
    sender: UserProbe,
    reply_to: Option<QuoteProbe>,
    /// RFC 3339 in UTC with milliseconds, as `Timestamp` writes it: fixed width, so the order
    /// of the texts is the order of the times.
    edited_at: Option<String>,
}

#[derive(Deserialize)]
struct QuoteProbe {
    id: MessageId,
    sender: Option<UserProbe>,
}

#[derive(Deserialize)]
struct UserProbe {
    id: UserId,
}

impl Probe {
    fn of(event: &Event) -> Probe {
        serde_json::from_str(event.data.get()).unwrap_or_default()
    }

    /// The message the event is about, if any.
    fn message(&self) -> Option<MessageId> {
        self.message.as_ref().map(|m| m.id).or(self.message_id)
    }

    /// Who caused it: the sender of a message, who reacted or read.
    fn actor(&self) -> Option<UserId> {
        self.message
            .as_ref()
            .map(|m| m.sender.id)
            .or(self.user.as_ref().map(|u| u.id))
            .or(self.user_id)
    }

    /// Whether the message it carries was edited after `time`.
    fn edited_after(&self, time: Timestamp) -> bool {
        let edited = self.message.as_ref().and_then(|m| m.edited_at.as_deref());
        edited.is_some_and(|edited| edited > time.to_string().as_str())
    }

    /// The original a reply quotes, and who sent it.
    fn quoted(&self) -> Option<(MessageId, Option<UserId>)> {
        let quote = self.message.as_ref()?.reply_to.as_ref()?;
        Some((quote.id, quote.sender.as_ref().map(|s| s.id)))
    }
}

/// A member whose span holds an event: the history their membership shows, and when it
/// ended if it did.
#[derive(Clone, Copy)]
struct Span {
    user: UserId,
    history_from: MessageId,
    left_at: Option<Timestamp>,
}

impl Audience {
    /// Everyone the event is for, and how.
    pub fn recipients(&self, event: &Event) -> Recipients {
        let probe = self.needs_probe().then(|| Probe::of(event));
        let mut recipients = Recipients::default();
        for span in self.in_span(event) {
            match self.delivery(probe.as_ref(), span) {
                Some(Delivery::Whole) => recipients.whole.push(span.user),
                Some(Delivery::WithoutQuote) => recipients.without_quote.push(span.user),
                None => {}
            }
        }
        recipients
    }

    /// How the event is sent to `user`; `None`: it is not for them.
    pub fn delivery_to(&self, event: &Event, user: UserId) -> Option<Delivery> {
        let probe = self.needs_probe().then(|| Probe::of(event));
        self.in_span(event)
            .filter(|span| span.user == user)
            .find_map(|span| self.delivery(probe.as_ref(), span))
    }

    /// The members whose span holds the event.
    fn in_span<'a>(&'a self, event: &'a Event) -> impl Iterator<Item = Span> + 'a {
        let current = self
            .current
            .iter()
            .filter(|m| event.id >= m.joined_event)
            .map(|m| Span {
                user: m.user,
                history_from: m.history_from,
                left_at: None,
            });
        let past = self
            .past
            .iter()
            .filter(|p| p.from_event <= event.id && event.id <= p.to_event)
            .map(|p| Span {
                user: p.user,
                history_from: p.history_from,
                left_at: Some(p.left_at),
            });
        current.chain(past)
    }

    fn needs_probe(&self) -> bool {
        !self.blocks.is_empty()
            || !self.past.is_empty()
            || self.current.iter().any(|m| m.history_from.0 > 0)
    }

    fn delivery(&self, probe: Option<&Probe>, span: Span) -> Option<Delivery> {
        let Some(probe) = probe else {
            return Some(Delivery::Whole);
        };
        let blocked = |sender: Option<UserId>| {
            sender.is_some_and(|sender| self.blocks.contains(&(span.user, sender)))
        };
        let before_joining = probe.message().is_some_and(|m| m <= span.history_from);
        let edited_since_leaving = span.left_at.is_some_and(|left| probe.edited_after(left));
        if before_joining || edited_since_leaving || blocked(probe.actor()) {
            return None;
        }
        match probe.quoted() {
            Some(_) if span.left_at.is_some() => Some(Delivery::WithoutQuote),
            Some((original, sender)) if original <= span.history_from || blocked(sender) => {
                Some(Delivery::WithoutQuote)
            }
            _ => Some(Delivery::Whole),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::value::RawValue;

    use super::*;
    use crate::domain::{ConversationId, CurrentMember, EventId, PastMember};
    use crate::realtime::event::EventKind;

    fn event(id: i64, kind: EventKind, data: &str) -> Event {
        Event {
            id: EventId(id),
            conversation_id: ConversationId(1),
            kind,
            data: RawValue::from_string(data.to_owned()).expect("json"),
        }
    }

    fn message(id: i64, message: i64, sender: i64) -> Event {
        let data = format!(r#"{{"message":{{"id":{message},"sender":{{"id":{sender}}}}}}}"#);
        event(id, EventKind::MessageCreated, &data)
    }

    fn member(user: i64, joined: i64, history_from: i64) -> CurrentMember {
        CurrentMember {
            user: UserId(user),
            joined_event: EventId(joined),
            history_from: MessageId(history_from),
        }
    }

    #[test]
    fn members_get_the_events_of_their_span_only() {
        let audience = Audience {
            current: vec![member(1, 0, 0), member(3, 20, 0)],
            past: vec![PastMember {
                user: UserId(2),
                from_event: EventId(0),
                to_event: EventId(15),
                history_from: MessageId(0),
                left_at: Timestamp(0),
            }],
            blocks: Vec::new(),
        };
        let ids = |id| audience.recipients(&message(id, id, 1)).whole;
        assert_eq!(ids(10), vec![UserId(1), UserId(2)]);
        assert_eq!(ids(15), vec![UserId(1), UserId(2)], "their last event");
        assert_eq!(ids(16), vec![UserId(1)]);
        assert_eq!(ids(20), vec![UserId(1), UserId(3)], "their first event");
    }

    #[test]
    fn events_about_messages_from_before_a_hidden_history_are_withheld() {
        let audience = Audience {
            current: vec![member(1, 0, 0), member(2, 5, 40)],
            ..Audience::default()
        };
        let reaction = |message: i64| {
            let data = format!(r#"{{"message_id":{message},"user":{{"id":1}},"emote":"x"}}"#);
            event(30, EventKind::ReactionAdded, &data)
        };
        let whole = Some(Delivery::Whole);
        assert_eq!(audience.delivery_to(&reaction(40), UserId(2)), None);
        assert_eq!(audience.delivery_to(&reaction(41), UserId(2)), whole);
        assert_eq!(audience.delivery_to(&reaction(40), UserId(1)), whole);
    }

    #[test]
    fn what_a_blocked_person_does_does_not_reach_who_blocks_them() {
        let audience = Audience {
            current: vec![member(1, 0, 0), member(2, 0, 0)],
            blocks: vec![(UserId(1), UserId(2))],
            ..Audience::default()
        };
        assert_eq!(
            audience.recipients(&message(9, 9, 2)).whole,
            vec![UserId(2)]
        );
        assert_eq!(
            audience.recipients(&message(10, 10, 1)).whole,
            vec![UserId(1), UserId(2)]
        );
        let read = event(
            11,
            EventKind::ReadUpdated,
            r#"{"conversation_id":1,"user_id":2,"last_read_message_id":10}"#,
        );
        assert_eq!(audience.recipients(&read).whole, vec![UserId(2)]);
    }

    /// A reply (message 50, from user 1) to message `original` sent by `sender`.
    fn reply(original: i64, sender: i64) -> Event {
        let data = format!(
            r#"{{"message":{{"id":50,"sender":{{"id":1}},
                "reply_to":{{"id":{original},"sender":{{"id":{sender}}}}}}}}}"#
        );
        event(60, EventKind::MessageCreated, &data)
    }

    #[test]
    fn a_reply_goes_without_its_quote_to_whom_the_original_is_hidden() {
        let audience = Audience {
            current: vec![member(1, 0, 0), member(2, 5, 40)],
            past: vec![PastMember {
                user: UserId(3),
                from_event: EventId(5),
                to_event: EventId(70),
                history_from: MessageId(40),
                left_at: Timestamp(1_000),
            }],
            blocks: Vec::new(),
        };
        assert_eq!(
            audience.recipients(&reply(40, 1)),
            Recipients {
                whole: vec![UserId(1)],
                without_quote: vec![UserId(2), UserId(3)],
            }
        );
        assert_eq!(
            audience.recipients(&reply(41, 1)),
            Recipients {
                whole: vec![UserId(1), UserId(2)],
                without_quote: vec![UserId(3)],
            },
            "a former member gets no quote at all"
        );
        assert_eq!(
            audience.delivery_to(&reply(40, 1), UserId(3)),
            Some(Delivery::WithoutQuote),
            "a resumed stream of a former member, too"
        );
    }

    #[test]
    fn a_former_member_is_not_sent_what_was_edited_after_they_left() {
        let left_at = Timestamp(1_764_763_200_000);
        let audience = Audience {
            current: vec![member(1, 0, 0)],
            past: vec![PastMember {
                user: UserId(2),
                from_event: EventId(0),
                to_event: EventId(70),
                history_from: MessageId(0),
                left_at,
            }],
            blocks: Vec::new(),
        };
        let edited = |at: Timestamp| {
            let data =
                format!(r#"{{"message":{{"id":9,"sender":{{"id":1}},"edited_at":"{at}"}}}}"#);
            event(30, EventKind::MessageCreated, &data)
        };
        let before = edited(Timestamp(left_at.0 - 1));
        let after = edited(Timestamp(left_at.0 + 1));
        assert_eq!(
            audience.delivery_to(&before, UserId(2)),
            Some(Delivery::Whole)
        );
        assert_eq!(audience.delivery_to(&after, UserId(2)), None);
        assert_eq!(audience.recipients(&after).whole, vec![UserId(1)]);
        assert_eq!(
            audience.delivery_to(&reply(41, 1), UserId(2)),
            Some(Delivery::WithoutQuote),
            "a quote may show an original as edited since"
        );
    }

    #[test]
    fn a_reply_quoting_a_blocked_person_goes_without_the_quote_to_who_blocks_them() {
        let audience = Audience {
            current: vec![member(1, 0, 0), member(2, 0, 0)],
            blocks: vec![(UserId(1), UserId(2))],
            ..Audience::default()
        };
        assert_eq!(
            audience.recipients(&reply(7, 2)),
            Recipients {
                whole: vec![UserId(2)],
                without_quote: vec![UserId(1)],
            }
        );
    }
}
