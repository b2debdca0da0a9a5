//! Messages: history pages, sending (idempotent with `client_id`), editing and deleting.

use rouille::{Request, Response};

use super::auth::Caller;
use super::write_with_events;
use crate::app::App;
use crate::domain::{
    AttachmentId, ClientId, ConversationId, Message, MessageBody, MessageId, Timestamp, User,
};
use crate::error::ApiError;
use crate::http::{Params, extract, reply};
use crate::ratelimit::Rule;
use crate::realtime::event::EventKind;
use crate::repo::messages::Cursor;
use crate::repo::{self, Tx, attachments, conversations, events, messages};
use crate::wire::{Event, MessagePage, OneMessage};

const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 100;
/// Pictures and files one message may carry.
const MAX_ATTACHMENTS: usize = 10;

pub fn history(
    app: &App,
    request: &Request,
    params: &Params,
    caller: &Caller,
) -> Result<Response, ApiError> {
    let id: ConversationId = params.id("id")?;
    let cursors = [
        extract::cursor_param(request, "before")?,
        extract::cursor_param(request, "after")?,
        extract::cursor_param(request, "around")?,
    ];
    let cursor = match cursors {
        [None, None, None] => Cursor::Newest,
        [Some(before), None, None] => Cursor::Before(before),
        [None, Some(after), None] => Cursor::After(after),
        [None, None, Some(around)] => Cursor::Around(around),
        [_, Some(_), _] => {
            return Err(ApiError::invalid_parameter(
                "after",
                "before, after and around cannot be combined",
            ));
        }
        _ => {
            return Err(ApiError::invalid_parameter(
                "around",
                "before, after and around cannot be combined",
            ));
        }
    };
    let limit = extract::number_param(request, "limit", 1, MAX_LIMIT)?.unwrap_or(DEFAULT_LIMIT);
    let page = repo::read(&app.pool, |conn| {
        conversations::require_member(conn, id, caller.user.id)?;
        let hidden = conversations::hidden_from(conn, &[id], caller.user.id)?
            .remove(&id)
            .unwrap_or_default();
        messages::page(conn, id, cursor, limit, caller.user.id, hidden)
    })?;
    Ok(reply::ok(&MessagePage {
        messages: page.messages.into_iter().map(Into::into).collect(),
        has_more: page.has_more,
        has_newer: page.has_newer,
    }))
}

/// `201` with the new message, or `200` with the original when the sender already sent one
/// with this `client_id` here (a retry), storing nothing new.
pub fn send(
    app: &App,
    request: &Request,
    params: &Params,
    caller: &Caller,
) -> Result<Response, ApiError> {
    let id: ConversationId = params.id("id")?;
    let body = extract::json_object(request, extract::BODY_LIMIT)?;
    let attachments = attachment_ids(&body)?;
    // A message that carries attachments needs no text.
    let text = if !attachments.is_empty() && body.is_blank("body") {
        MessageBody::empty()
    } else {
        body.field("body")?
    };
    let client_id: Option<ClientId> = body.optional("client_id")?;
    let reply_to: Option<MessageId> = body.optional_id("reply_to")?;
    app.limits
        .hit(Rule::SendsPerUser, &caller.user.id.to_string())
        .map_err(ApiError::rate_limited)?;
    let (message, created) = write_with_events(app, |tx| {
        conversations::require_member(tx, id, caller.user.id)?;
        store(
            tx,
            id,
            &caller.user,
            &text,
            client_id.as_ref(),
            reply_to,
            &attachments,
        )
    })?;
    if created {
        app.metrics.message_sent();
    }
    let reply_body = OneMessage {
        message: message.into(),
    };
    Ok(reply::created_or_ok(created, &reply_body))
}

/// The uploads a message is sent with (`attachments`, optional): distinct ids, at most
/// `MAX_ATTACHMENTS`.
fn attachment_ids(body: &extract::JsonObject) -> Result<Vec<AttachmentId>, ApiError> {
    let mut ids: Vec<AttachmentId> = body.optional_ids("attachments")?;
    let listed = ids.len();
    ids.sort_unstable();
    ids.dedup();
    if ids.len() != listed {
        return Err(ApiError::invalid_field(
            "attachments",
            "attachments must not list an upload twice",
        ));
    }
    if ids.len() > MAX_ATTACHMENTS {
        return Err(ApiError::invalid_field(
            "attachments",
            format!("a message may carry at most {MAX_ATTACHMENTS} attachments"),
        ));
    }
    Ok(ids)
}

/// Stores a message with its side effects: its attachments, what it replies to, the
/// conversation's last activity, the sender's read marker, and the `message.created` event.
/// A `client_id` retry changes
/// nothing.
fn store(
    tx: &Tx,
    id: ConversationId,
    sender: &User,
    text: &MessageBody,
    client_id: Option<&ClientId>,
    reply_to: Option<MessageId>,
    attachments: &[AttachmentId],
) -> Result<(Message, bool), ApiError> {
    if let Some(original) = reply_to {
        require_repliable(tx, id, original, sender)?;
    }
    let now = Timestamp::now();
    let Some(message_id) = messages::insert(tx, id, sender.id, text, client_id, now)? else {
        let client_id =
            client_id.ok_or_else(|| ApiError::internal("insert ignored without client_id"))?;
        let original = messages::id_by_client_id(tx, id, sender.id, client_id)?;
        // From an earlier membership whose history the sender no longer sees: not shown again.
        return match messages::get_shown(tx, id, original, sender.id) {
            Ok(message) => Ok((message, false)),
            Err(repo::RepoError::NotFound) => Err(ApiError::conflict(
                "client_id was used for a message no longer in your history",
            )),
            Err(other) => Err(other.into()),
        };
    };
    if attachments::attach(tx, attachments, message_id, id, sender.id)? != attachments.len() {
        return Err(ApiError::invalid_field(
            "attachments",
            "each attachment must be your own finished upload to this conversation, not yet sent",
        ));
    }
    if let Some(original) = reply_to {
        messages::record_reply(tx, message_id, original)?;
    }
    conversations::record_message(tx, id, message_id, now)?;
    conversations::mark_read(tx, id, sender.id, message_id)?;
    let message = messages::get(tx, id, message_id, Some(sender.id))?;
    events::record(
        tx,
        id,
        &Event::message(EventKind::MessageCreated, message.clone()),
    )?;
    Ok((message, true))
}

/// A message may answer an earlier message of its own conversation that the sender can see
/// (not hidden by when they joined or by a block) and that is not deleted.
fn require_repliable(
    tx: &Tx,
    id: ConversationId,
    original: MessageId,
    sender: &User,
) -> Result<(), ApiError> {
    match messages::get_shown(tx, id, original, sender.id) {
        Ok(message) if message.deleted => {
            Err(ApiError::conflict("A deleted message cannot be replied to"))
        }
        Ok(_) => Ok(()),
        Err(repo::RepoError::NotFound) => Err(not_repliable()),
        Err(other) => Err(other.into()),
    }
}

/// The one answer for an original that is not there for the sender: in another conversation,
/// nowhere, or hidden from them (so the answer does not say which).
fn not_repliable() -> ApiError {
    ApiError::invalid_field(
        "reply_to",
        "reply_to must be a message of this conversation",
    )
}

pub fn edit(
    app: &App,
    request: &Request,
    params: &Params,
    caller: &Caller,
) -> Result<Response, ApiError> {
    let body = extract::json_object(request, extract::BODY_LIMIT)?;
    let text: MessageBody = body.field("body")?;
    change_own(
        app,
        params,
        caller,
        EventKind::MessageUpdated,
        |tx, original| {
            if original.deleted {
                return Err(ApiError::conflict("A deleted message cannot be edited"));
            }
            messages::edit(tx, original.id, &text, Timestamp::now())?;
            Ok(Changed::Yes)
        },
    )
}

/// Deleting leaves a tombstone; deleting it again changes nothing and answers the same.
pub fn delete(
    app: &App,
    _: &Request,
    params: &Params,
    caller: &Caller,
) -> Result<Response, ApiError> {
    change_own(
        app,
        params,
        caller,
        EventKind::MessageDeleted,
        |tx, original| {
            if original.deleted {
                return Ok(Changed::No);
            }
            messages::delete(tx, original.id, Timestamp::now())?;
            Ok(Changed::Yes)
        },
    )
}

/// Whether a change to a message wrote anything (and so has an event to record).
enum Changed {
    Yes,
    No,
}

/// Runs `change` on the caller's own message in one write, and answers with the message as
/// it then is to the caller; a change that wrote something is recorded as a `kind` event.
fn change_own(
    app: &App,
    params: &Params,
    caller: &Caller,
    kind: EventKind,
    change: impl FnOnce(&Tx, &Message) -> Result<Changed, ApiError>,
) -> Result<Response, ApiError> {
    let (id, message_id): (ConversationId, MessageId) =
        (params.id("id")?, params.id("message_id")?);
    let message = write_with_events(app, |tx| -> Result<Message, ApiError> {
        let original = own_message(tx, id, message_id, caller)?;
        if let Changed::No = change(tx, &original)? {
            return Ok(original);
        }
        // The event carries the message whole; the answer, as the caller sees it.
        let whole = messages::get(tx, id, message_id, None)?;
        events::record(tx, id, &Event::message(kind, whole))?;
        Ok(messages::get(tx, id, message_id, Some(caller.user.id))?)
    })?;
    Ok(reply::ok(&OneMessage {
        message: message.into(),
    }))
}

/// The message, if the caller is a member who sees it (`404` otherwise, as for a missing one)
/// and its sender (`403` otherwise).
fn own_message(
    tx: &Tx,
    id: ConversationId,
    message_id: MessageId,
    caller: &Caller,
) -> Result<Message, ApiError> {
    let message = messages::get_shown(tx, id, message_id, caller.user.id)?;
    if message.sender.id != caller.user.id {
        return Err(ApiError::forbidden("Only its sender can change a message"));
    }
    Ok(message)
}
