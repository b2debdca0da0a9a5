//! What crosses HTTP: the response bodies of the contract, built from domain values.
//! Row and domain types never reach a client directly, so a new column cannot leak.

use serde::Serialize;

use crate::domain::{
    self, AttachmentId, ConversationId, MessageId, PageRequest, Session, SessionId, Timestamp,
    User, UserId, describe_device,
};
use crate::realtime::event::EventKind;

/// A user as they see themselves.
#[derive(Serialize)]
pub struct UserSelf {
    pub id: UserId,
    pub name: String,
    pub email: String,
    pub created_at: Timestamp,
}

impl From<User> for UserSelf {
    fn from(user: User) -> UserSelf {
        UserSelf {
            id: user.id,
            name: user.name,
            email: user.email,
            created_at: user.created_at,
        }
    }
}

/// A user as others see them: never their email.
#[derive(Serialize)]
pub struct UserPublic {
    pub id: UserId,
    pub name: String,
    pub created_at: Timestamp,
}

impl From<User> for UserPublic {
    fn from(user: User) -> UserPublic {
        UserPublic {
            id: user.id,
            name: user.name,
            created_at: user.created_at,
        }
    }
}

#[derive(Serialize)]
pub struct Pagination {
    pub page: u32,
    pub page_size: u32,
    pub total_items: i64,
    pub total_pages: i64,
}

impl Pagination {
    pub fn new(request: PageRequest, total_items: i64) -> Pagination {
        Pagination {
            page: request.page,
            page_size: request.page_size,
            total_items,
            total_pages: request.total_pages(total_items),
        }
    }
}

/// `{"message": ...}` alone.
#[derive(Serialize)]
pub struct Notice {
    pub message: &'static str,
}

#[derive(Serialize)]
pub struct Registered {
    pub message: &'static str,
    pub user: UserSelf,
}

#[derive(Serialize)]
pub struct LoggedIn {
    pub message: &'static str,
    pub token: String,
    pub token_type: &'static str,
    pub expires_at: Timestamp,
    pub user: UserSelf,
}

/// A single-use ticket that opens one stream instead of the session token.
#[derive(Serialize)]
pub struct StreamTicket {
    pub ticket: String,
    pub expires_in: u64,
}

#[derive(Serialize)]
pub struct TokenValid {
    pub message: &'static str,
    pub user: UserSelf,
    pub expires_at: Timestamp,
}

#[derive(Serialize)]
pub struct SessionInfo {
    pub id: SessionId,
    pub created_at: Timestamp,
    pub last_used_at: Timestamp,
    pub expires_at: Timestamp,
    pub user_agent: Option<String>,
    /// A short name for the device, read from `user_agent` ("Chrome on Linux").
    pub device: String,
    pub current: bool,
}

impl SessionInfo {
    pub fn new(session: Session, current: SessionId) -> SessionInfo {
        SessionInfo {
            current: session.id == current,
            id: session.id,
            created_at: session.created_at,
            last_used_at: session.last_used_at,
            expires_at: session.expires_at,
            device: describe_device(session.user_agent.as_deref()),
            user_agent: session.user_agent,
        }
    }
}

#[derive(Serialize)]
pub struct Sessions {
    pub sessions: Vec<SessionInfo>,
}

#[derive(Serialize)]
pub struct OneUserSelf {
    pub user: UserSelf,
}

#[derive(Serialize)]
pub struct OneUserPublic {
    pub user: UserPublic,
}

#[derive(Serialize)]
pub struct UserPage {
    pub users: Vec<UserPublic>,
    pub pagination: Pagination,
}

#[derive(Serialize)]
pub struct Health {
    pub status: &'static str,
    pub version: &'static str,
}

/// Who sent a message or reacted: `{"id", "name"}`.
#[derive(Serialize, Clone)]
pub struct UserRef {
    pub id: UserId,
    pub name: String,
}

impl From<domain::UserRef> for UserRef {
    fn from(user: domain::UserRef) -> UserRef {
        UserRef {
            id: user.id,
            name: user.name,
        }
    }
}

#[derive(Serialize)]
pub struct Reaction {
    pub emote: String,
    pub count: i64,
    pub me: bool,
}

#[derive(Serialize)]
pub struct Message {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    pub sender: UserRef,
    pub body: String,
    pub created_at: Timestamp,
    pub edited_at: Option<Timestamp>,
    pub deleted: bool,
    pub reactions: Vec<Reaction>,
    pub attachments: Vec<Attachment>,
    pub client_id: Option<String>,
    pub reply_to: Option<ReplyPreview>,
}

/// What a reply shows of the message it answers. One shape for every preview, so a client
/// reads the same fields: a hidden original has `hidden: true`, no sender, an empty excerpt.
#[derive(Serialize)]
pub struct ReplyPreview {
    pub id: MessageId,
    pub sender: Option<UserRef>,
    pub excerpt: String,
    pub deleted: bool,
    pub hidden: bool,
}

impl From<domain::ReplyPreview> for ReplyPreview {
    fn from(preview: domain::ReplyPreview) -> ReplyPreview {
        match preview.original {
            Some(quoted) => ReplyPreview {
                id: preview.id,
                sender: Some(quoted.sender.into()),
                excerpt: quoted.excerpt,
                deleted: quoted.deleted,
                hidden: false,
            },
            None => ReplyPreview {
                id: preview.id,
                sender: None,
                excerpt: String::new(),
                deleted: false,
                hidden: true,
            },
        }
    }
}

/// A picture or file of a message; `width` and `height` only for pictures.
#[derive(Serialize)]
pub struct Attachment {
    pub id: AttachmentId,
    pub name: String,
    pub content_type: String,
    pub size: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    pub url: String,
}

impl From<domain::Attachment> for Attachment {
    fn from(attachment: domain::Attachment) -> Attachment {
        Attachment {
            url: format!(
                "/api/conversations/{}/attachments/{}",
                attachment.conversation_id, attachment.id
            ),
            id: attachment.id,
            name: attachment.name,
            content_type: attachment.content_type,
            size: attachment.size,
            width: attachment.width,
            height: attachment.height,
        }
    }
}

#[derive(Serialize)]
pub struct OneAttachment {
    pub attachment: Attachment,
}

impl From<domain::Message> for Message {
    fn from(message: domain::Message) -> Message {
        Message {
            id: message.id,
            conversation_id: message.conversation_id,
            sender: message.sender.into(),
            body: message.body,
            created_at: message.created_at,
            edited_at: message.edited_at,
            deleted: message.deleted,
            reactions: message
                .reactions
                .into_iter()
                .map(|r| Reaction {
                    emote: r.emote,
                    count: r.count,
                    me: r.me,
                })
                .collect(),
            attachments: message.attachments.into_iter().map(Into::into).collect(),
            client_id: message.client_id,
            reply_to: message.reply_to.map(Into::into),
        }
    }
}

#[derive(Serialize)]
pub struct Conversation {
    pub id: ConversationId,
    pub kind: &'static str,
    pub title: Option<String>,
    pub members: Vec<UserRef>,
    pub owner_ids: Vec<UserId>,
    pub history_visible: bool,
    pub muted: bool,
    pub last_message: Option<Message>,
    pub unread_count: i64,
    pub created_at: Timestamp,
    pub last_activity_at: Timestamp,
}

impl From<domain::Conversation> for Conversation {
    fn from(conversation: domain::Conversation) -> Conversation {
        Conversation {
            id: conversation.id,
            kind: conversation.kind.as_str(),
            title: conversation.title,
            members: conversation.members.into_iter().map(Into::into).collect(),
            owner_ids: conversation.owners,
            history_visible: conversation.history_visible,
            muted: conversation.muted,
            last_message: conversation.last_message.map(Into::into),
            unread_count: conversation.unread_count,
            created_at: conversation.created_at,
            last_activity_at: conversation.last_activity_at,
        }
    }
}

/// A conversation as every member sees it alike, in `conversation.updated` and
/// `member.*` events: what a change of the group can change, without the parts that are each
/// member's own (unread count, mute) or that a newcomer may not see (the last message).
#[derive(Serialize)]
pub struct SharedConversation {
    pub id: ConversationId,
    pub kind: &'static str,
    pub title: Option<String>,
    pub members: Vec<UserRef>,
    pub owner_ids: Vec<UserId>,
    pub history_visible: bool,
}

impl From<domain::Conversation> for SharedConversation {
    fn from(conversation: domain::Conversation) -> SharedConversation {
        SharedConversation {
            id: conversation.id,
            kind: conversation.kind.as_str(),
            title: conversation.title,
            members: conversation.members.into_iter().map(Into::into).collect(),
            owner_ids: conversation.owners,
            history_visible: conversation.history_visible,
        }
    }
}

#[derive(Serialize)]
pub struct BlockList {
    pub users: Vec<UserRef>,
}

#[derive(Serialize)]
pub struct OneConversation {
    pub conversation: Conversation,
}

#[derive(Serialize)]
pub struct ConversationPage {
    pub conversations: Vec<Conversation>,
    pub pagination: Pagination,
}

#[derive(Serialize)]
pub struct OneMessage {
    pub message: Message,
}

#[derive(Serialize)]
pub struct MessagePage {
    pub messages: Vec<Message>,
    pub has_more: bool,
    /// Only on an `around` page: whether newer messages exist past it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub has_newer: Option<bool>,
}

/// A page of search results, newest first; the next page is `before` the last one's id.
#[derive(Serialize)]
pub struct SearchPage {
    pub hits: Vec<SearchHit>,
    pub has_more: bool,
}

#[derive(Serialize)]
pub struct SearchHit {
    pub message: Message,
    pub conversation: ConversationRef,
    pub snippet: Vec<SnippetPart>,
}

impl SearchHit {
    pub fn new(hit: domain::SearchHit, query: &domain::SearchQuery) -> SearchHit {
        let snippet = query
            .snippet(&hit.message.body)
            .into_iter()
            .map(|part| SnippetPart {
                text: part.text,
                matched: part.matched,
            })
            .collect();
        SearchHit {
            message: hit.message.into(),
            conversation: ConversationRef {
                id: hit.conversation.id,
                kind: hit.conversation.kind.as_str(),
                title: hit.conversation.title,
                name: hit.conversation.name,
            },
            snippet,
        }
    }
}

#[derive(Serialize)]
pub struct ConversationRef {
    pub id: ConversationId,
    pub kind: &'static str,
    pub title: Option<String>,
    pub name: Option<String>,
}

/// A piece of a snippet, to be shown as text; `match` marks the words to highlight.
#[derive(Serialize)]
pub struct SnippetPart {
    pub text: String,
    #[serde(rename = "match")]
    pub matched: bool,
}

#[derive(Serialize)]
pub struct ReadState {
    pub last_read_message_id: MessageId,
    pub unread_count: i64,
}

#[derive(Serialize)]
pub struct Emote {
    pub name: String,
    pub url: String,
    pub content_type: String,
    pub size: i64,
    pub created_by: UserRef,
    pub created_at: Timestamp,
}

impl From<domain::Emote> for Emote {
    fn from(emote: domain::Emote) -> Emote {
        Emote {
            url: format!("/api/emotes/{}", emote.name),
            name: emote.name,
            content_type: emote.content_type,
            size: emote.size,
            created_by: emote.created_by.into(),
            created_at: emote.created_at,
        }
    }
}

#[derive(Serialize)]
pub struct OneEmote {
    pub emote: Emote,
}

#[derive(Serialize)]
pub struct EmotePage {
    pub emotes: Vec<Emote>,
    pub pagination: Pagination,
}

/// A realtime event about to be stored: its kind and its `data` payload as the contract
/// describes.
pub struct Event {
    pub kind: EventKind,
    pub data: EventData,
}

#[derive(Serialize)]
#[serde(untagged)]
pub enum EventData {
    Conversation {
        conversation: Conversation,
    },
    Shared {
        conversation: SharedConversation,
    },
    Member {
        conversation: SharedConversation,
        user: UserRef,
        /// Who made the change (the member themselves when they joined or left on their own).
        by: UserRef,
    },
    Message {
        message: Message,
    },
    Reaction {
        conversation_id: ConversationId,
        message_id: MessageId,
        emote: String,
        user: UserRef,
    },
    Read {
        conversation_id: ConversationId,
        user_id: UserId,
        last_read_message_id: MessageId,
    },
}

impl Event {
    pub fn conversation_created(conversation: domain::Conversation) -> Event {
        Event {
            kind: EventKind::ConversationCreated,
            data: EventData::Conversation {
                conversation: conversation.into(),
            },
        }
    }

    pub fn conversation_updated(conversation: domain::Conversation) -> Event {
        Event {
            kind: EventKind::ConversationUpdated,
            data: EventData::Shared {
                conversation: conversation.into(),
            },
        }
    }

    /// `kind` is `MemberJoined` or `MemberLeft`; `conversation` as it is after the change.
    pub fn member(
        kind: EventKind,
        conversation: domain::Conversation,
        user: domain::UserRef,
        by: &User,
    ) -> Event {
        Event {
            kind,
            data: EventData::Member {
                conversation: conversation.into(),
                user: user.into(),
                by: UserRef {
                    id: by.id,
                    name: by.name.clone(),
                },
            },
        }
    }

    /// `kind` is `MessageCreated`, `MessageUpdated` or `MessageDeleted`. Every member gets
    /// the same payload, so `me` in its reactions is always false.
    pub fn message(kind: EventKind, message: domain::Message) -> Event {
        let mut message = Message::from(message);
        for reaction in &mut message.reactions {
            reaction.me = false;
        }
        Event {
            kind,
            data: EventData::Message { message },
        }
    }

    /// `kind` is `ReactionAdded` or `ReactionRemoved`.
    pub fn reaction(
        kind: EventKind,
        message: &domain::Message,
        emote: String,
        user: &User,
    ) -> Event {
        Event {
            kind,
            data: EventData::Reaction {
                conversation_id: message.conversation_id,
                message_id: message.id,
                emote,
                user: UserRef {
                    id: user.id,
                    name: user.name.clone(),
                },
            },
        }
    }

    pub fn read_updated(
        conversation_id: ConversationId,
        user_id: UserId,
        last_read_message_id: MessageId,
    ) -> Event {
        Event {
            kind: EventKind::ReadUpdated,
            data: EventData::Read {
                conversation_id,
                user_id,
                last_read_message_id,
            },
        }
    }
}

/// The `data` of an ephemeral `typing` event.
#[derive(Serialize)]
pub struct Typing {
    pub conversation_id: ConversationId,
    pub user: UserRef,
}

/// The `data` of a `resync` event: the stream's resume point is older than what is kept.
#[derive(Serialize)]
pub struct Resync {
    pub reason: &'static str,
}

/// The `data` of an SSE `heartbeat` event: seconds between heartbeats of a quiet stream, and
/// the version of the web client this server serves.
#[derive(Serialize)]
pub struct Heartbeat<'a> {
    pub interval: u32,
    pub client_version: &'a str,
}

/// Answers to a WebSocket client's own frames.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum WsReply {
    Pong,
    Error { message: &'static str },
}
