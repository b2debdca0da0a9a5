//! Records: what the repository reads out of the database and the handlers turn into wire
//! types (users, sessions, conversations, messages, emotes). Plain data, no behaviour.

use super::ids::{AttachmentId, ConversationId, EventId, InviteId, MessageId, SessionId, UserId};
use super::time::Timestamp;

/// A user as the database knows them (without the password hash).
#[derive(Debug, Clone)]
pub struct User {
    pub id: UserId,
    pub name: String,
    pub email: String,
    pub created_at: Timestamp,
}

/// A live login session.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: SessionId,
    pub user_agent: Option<String>,
    pub created_at: Timestamp,
    pub last_used_at: Timestamp,
    pub expires_at: Timestamp,
}

/// An account as the operator's `emotechat user list` shows it.
#[derive(Debug, Clone)]
pub struct Account {
    pub user: User,
    pub last_seen_at: Option<Timestamp>,
    pub disabled_at: Option<Timestamp>,
}

/// An invite code, without the code: only its digest is stored.
#[derive(Debug, Clone)]
pub struct Invite {
    pub id: InviteId,
    /// The code's first characters.
    pub prefix: String,
    pub max_uses: u32,
    pub uses: u32,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// Who a message or reaction is from, as members see them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRef {
    pub id: UserId,
    pub name: String,
}

/// One emote's tally on a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReactionCount {
    pub emote: String,
    pub count: i64,
    /// Whether the user the message is shown to is among them.
    pub me: bool,
}

#[derive(Debug, Clone)]
pub struct Message {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    pub sender: UserRef,
    pub body: String,
    pub client_id: Option<String>,
    pub created_at: Timestamp,
    pub edited_at: Option<Timestamp>,
    pub deleted: bool,
    pub reactions: Vec<ReactionCount>,
    pub reply_to: Option<ReplyPreview>,
    pub attachments: Vec<Attachment>,
}

/// What a reply shows of the message it answers, as that message is now: nothing but its id
/// (`original: None`) to a viewer whose history hides it, so that a reply never reveals a
/// message its reader may not see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyPreview {
    pub id: MessageId,
    pub original: Option<Quoted>,
}

/// What a preview quotes of a message its viewer may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quoted {
    pub sender: UserRef,
    /// The original's first line, cut to `PREVIEW_CHARS`; empty once it is deleted.
    pub excerpt: String,
    pub deleted: bool,
}

impl ReplyPreview {
    /// The preview for a viewer who may not see the original.
    pub fn hidden(id: MessageId) -> ReplyPreview {
        ReplyPreview { id, original: None }
    }
}

/// The characters of a reply's preview of its original.
pub const PREVIEW_CHARS: usize = 100;

/// The first non-blank line of `body`, trimmed, at most `PREVIEW_CHARS` characters (the last
/// of them `…` when cut).
pub fn excerpt(body: &str) -> String {
    let line = body
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .unwrap_or("");
    if line.chars().count() <= PREVIEW_CHARS {
        return line.to_owned();
    }
    let mut cut: String = line.chars().take(PREVIEW_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// A picture or file sent with a message, without its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub id: AttachmentId,
    pub conversation_id: ConversationId,
    pub name: String,
    pub content_type: String,
    pub size: i64,
    /// Pictures only: the size they are shown at, so a client can reserve the space.
    pub width: Option<u32>,
    pub height: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConversationKind {
    Direct,
    Group,
}

impl ConversationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ConversationKind::Direct => "direct",
            ConversationKind::Group => "group",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Conversation {
    pub id: ConversationId,
    pub kind: ConversationKind,
    pub title: Option<String>,
    pub members: Vec<UserRef>,
    /// The members who may change a group (none in a direct conversation).
    pub owners: Vec<UserId>,
    /// Whether members who join later see the messages from before they joined.
    pub history_visible: bool,
    /// Whether the viewer muted it.
    pub muted: bool,
    pub last_message: Option<Message>,
    pub unread_count: i64,
    pub created_at: Timestamp,
    pub last_activity_at: Timestamp,
}

/// A conversation as a search result names it: a group's title, or in a direct conversation
/// the other person's name (`name`; `None` for an untitled group).
#[derive(Debug, Clone)]
pub struct ConversationRef {
    pub id: ConversationId,
    pub kind: ConversationKind,
    pub title: Option<String>,
    pub name: Option<String>,
}

/// A message found by a search, with the conversation it is in.
#[derive(Debug, Clone)]
pub struct SearchHit {
    pub message: Message,
    pub conversation: ConversationRef,
}

/// A member as the group rules see them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Membership {
    pub owner: bool,
    /// The messages up to this one were sent before they joined a group that hides its
    /// history from newcomers (`MessageId(0)`: they see everything).
    pub history_from: MessageId,
}

/// Who may be sent a conversation's events, read with the events themselves.
#[derive(Debug, Clone, Default)]
pub struct Audience {
    pub current: Vec<CurrentMember>,
    pub past: Vec<PastMember>,
    /// `(blocker, blocked)` pairs of a direct conversation's two members.
    pub blocks: Vec<(UserId, UserId)>,
}

/// A member now: sent the events from `joined_event` on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CurrentMember {
    pub user: UserId,
    pub joined_event: EventId,
    pub history_from: MessageId,
}

/// A membership that ended: sent the events from `from_event` through `to_event`, with the
/// history it had (`history_from`, as a current member's), and when it ended (`left_at`: the
/// time of `to_event`), so that what changed after it is not sent through a stored event
/// rewritten since.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PastMember {
    pub user: UserId,
    pub from_event: EventId,
    pub to_event: EventId,
    pub history_from: MessageId,
    pub left_at: Timestamp,
}

/// A stored custom emote, without its image bytes.
#[derive(Debug, Clone)]
pub struct Emote {
    pub name: String,
    pub content_type: String,
    pub size: i64,
    pub created_by: UserRef,
    pub created_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_excerpt_is_the_first_line_cut_to_100_characters() {
        assert_eq!(excerpt("\n  hello there \nsecond line"), "hello there");
        assert_eq!(excerpt(""), "");
        let exact = "é".repeat(100);
        assert_eq!(excerpt(&exact), exact);
        let cut = excerpt(&"é".repeat(101));
        assert_eq!(cut.chars().count(), 100);
        assert!(cut.ends_with("é…"));
    }
}
