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
//! marker). Those need the payload, which is looked at only when such a rule applies.

use serde::Deserialize;

use super::event::Event;
use crate::domain::{Audience, MessageId, UserId};

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
}

impl Audience {
    /// Everyone the event is for.
    pub fn recipients(&self, event: &Event) -> Vec<UserId> {
        let probe = self.needs_probe().then(|| Probe::of(event));
        let current = self
            .current
            .iter()
            .filter(|m| event.id >= m.joined_event)
            .filter(|m| !self.withholds(probe.as_ref(), m.user, m.history_from))
            .map(|m| m.user);
        let past = self
            .past
            .iter()
            .filter(|p| p.from_event <= event.id && event.id <= p.to_event)
            .map(|p| p.user);
        current.chain(past).collect()
    }

    /// Whether `user` is among the event's recipients.
    pub fn reaches(&self, event: &Event, user: UserId) -> bool {
        self.recipients(event).contains(&user)
    }

    fn needs_probe(&self) -> bool {
        !self.blocks.is_empty() || self.current.iter().any(|m| m.history_from.0 > 0)
    }

    fn withholds(&self, probe: Option<&Probe>, user: UserId, history_from: MessageId) -> bool {
        let Some(probe) = probe else {
            return false;
        };
        let before_joining = probe.message().is_some_and(|m| m <= history_from);
        let blocked = probe
            .actor()
            .is_some_and(|actor| self.blocks.contains(&(user, actor)));
        before_joining || blocked
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
            }],
            blocks: Vec::new(),
        };
        let ids = |id| audience.recipients(&message(id, id, 1));
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
        assert!(!audience.reaches(&reaction(40), UserId(2)));
        assert!(audience.reaches(&reaction(41), UserId(2)));
        assert!(audience.reaches(&reaction(40), UserId(1)));
    }

    #[test]
    fn what_a_blocked_person_does_does_not_reach_who_blocks_them() {
        let audience = Audience {
            current: vec![member(1, 0, 0), member(2, 0, 0)],
            blocks: vec![(UserId(1), UserId(2))],
            ..Audience::default()
        };
        assert_eq!(audience.recipients(&message(9, 9, 2)), vec![UserId(2)]);
        assert_eq!(
            audience.recipients(&message(10, 10, 1)),
            vec![UserId(1), UserId(2)]
        );
        let read = event(
            11,
            EventKind::ReadUpdated,
            r#"{"conversation_id":1,"user_id":2,"last_read_message_id":10}"#,
        );
        assert_eq!(audience.recipients(&read), vec![UserId(2)]);
    }
}
