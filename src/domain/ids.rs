//! Ids of the things EmoteChat stores, one type each, so that a message id cannot be passed
//! where a user id is expected. On the wire and in the database each is a plain integer.

use std::fmt;

/// What every id type is: a copyable wrapper made from the positive integer that a path, a
/// query or a body carries (the edge checks it is positive before making one).
pub trait Id: Copy {
    fn from_int(raw: i64) -> Self;
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize,
            serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl Id for $name {
            fn from_int(raw: i64) -> Self {
                $name(raw)
            }
        }

        impl From<$name> for i64 {
            fn from(id: $name) -> i64 {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// An account.
    UserId
);
id_type!(
    /// A login session.
    SessionId
);
id_type!(
    /// A direct or group conversation.
    ConversationId
);
id_type!(
    /// A message in a conversation.
    MessageId
);
id_type!(
    /// A stored event (the realtime outbox); ids grow with time.
    EventId
);
id_type!(
    /// An invite code, as `emotechat invite list` shows it.
    InviteId
);
id_type!(
    /// A picture or file uploaded to a conversation.
    AttachmentId
);
