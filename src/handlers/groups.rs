//! Groups that change: renaming, the history setting, adding and removing members, leaving,
//! owners; and each member's mute. Owners (the creator at first) change a group; any member
//! may leave; a direct conversation cannot be changed this way (`409`). Every change writes
//! its events in its own transaction: `conversation.updated`, `member.joined`, `member.left`.

use rouille::{Request, Response};

use super::auth::Caller;
use super::conversations::MAX_GROUP_MEMBERS;
use super::write_with_events;
use crate::app::App;
use crate::domain::{Conversation, ConversationId, ConversationKind, Title, User, UserId};
use crate::error::ApiError;
use crate::http::{Params, extract, reply};
use crate::realtime::event::EventKind;
use crate::repo::{self, Tx, conversations, events, users};
use crate::wire::{Event, Notice, OneConversation};

/// `PATCH /api/conversations/{id}`: the title and whether newcomers see the history.
pub fn update(
    app: &App,
    request: &Request,
    params: &Params,
    caller: &Caller,
) -> Result<Response, ApiError> {
    let id: ConversationId = params.id("id")?;
    let body = extract::json_object(request, extract::BODY_LIMIT)?;
    let title: Option<Title> = body.optional("title")?;
    let history_visible = body.optional_bool("history_visible")?;
    if title.is_none() && history_visible.is_none() {
        return Err(ApiError::invalid_field(
            "title",
            "give a title or history_visible to change",
        ));
    }
    let me = caller.user.id;
    let conversation = write_with_events(app, |tx| {
        require_owner(tx, id, me)?;
        if let Some(title) = &title {
            conversations::rename(tx, id, title)?;
        }
        if let Some(visible) = history_visible {
            conversations::set_history_visible(tx, id, visible)?;
        }
        updated(tx, id, me)
    })?;
    Ok(one(conversation))
}

/// `POST /api/conversations/{id}/members`: adds the people in `user_ids` who are not members
/// yet, one `member.joined` each.
pub fn add_members(
    app: &App,
    request: &Request,
    params: &Params,
    caller: &Caller,
) -> Result<Response, ApiError> {
    let id: ConversationId = params.id("id")?;
    let body = extract::json_object(request, extract::BODY_LIMIT)?;
    let mut wanted: Vec<UserId> = body.ids("user_ids")?;
    wanted.sort_unstable();
    wanted.dedup();
    let conversation = write_with_events(app, |tx| {
        require_owner(tx, id, caller.user.id)?;
        if let Some(unknown) = users::missing_ids(tx, &wanted)?.first() {
            let why = format!("no user has id {unknown}");
            return Err(ApiError::invalid_field("user_ids", why));
        }
        let members = conversations::member_ids(tx, id)?;
        let newcomers: Vec<UserId> = wanted
            .into_iter()
            .filter(|user| !members.contains(user))
            .collect();
        if members.len() + newcomers.len() > MAX_GROUP_MEMBERS {
            return Err(ApiError::invalid_field(
                "user_ids",
                format!("a conversation has at most {MAX_GROUP_MEMBERS} members"),
            ));
        }
        for user in newcomers {
            join(tx, id, user, &caller.user)?;
        }
        Ok(conversations::get(tx, id, caller.user.id)?)
    })?;
    Ok(one(conversation))
}

/// `DELETE /api/conversations/{id}/members/{user_id}`: an owner removes a member, or a member
/// (owner or not) names themselves and leaves.
pub fn remove_member(
    app: &App,
    _: &Request,
    params: &Params,
    caller: &Caller,
) -> Result<Response, ApiError> {
    let id: ConversationId = params.id("id")?;
    let target: UserId = params.id("user_id")?;
    let me = caller.user.id;
    write_with_events(app, |tx| {
        if target == me {
            conversations::membership(tx, id, me)?;
            require_group(tx, id)?;
        } else {
            require_owner(tx, id, me)?;
            conversations::membership(tx, id, target)?;
        }
        leave(tx, id, target, &caller.user)
    })?;
    let message = if target == me {
        "You left the group"
    } else {
        "Member removed"
    };
    Ok(reply::ok(&Notice { message }))
}

/// `PUT /api/conversations/{id}/owners/{user_id}`: an owner makes a member an owner too.
pub fn make_owner(
    app: &App,
    _: &Request,
    params: &Params,
    caller: &Caller,
) -> Result<Response, ApiError> {
    let id: ConversationId = params.id("id")?;
    let target: UserId = params.id("user_id")?;
    let me = caller.user.id;
    let conversation = write_with_events(app, |tx| {
        require_owner(tx, id, me)?;
        if conversations::membership(tx, id, target)?.owner {
            return Ok(conversations::get(tx, id, me)?);
        }
        conversations::make_owner(tx, id, target)?;
        updated(tx, id, me)
    })?;
    Ok(one(conversation))
}

/// `PUT /api/conversations/{id}/mute`.
pub fn mute(
    app: &App,
    _: &Request,
    params: &Params,
    caller: &Caller,
) -> Result<Response, ApiError> {
    set_muted(app, params, caller, true)
}

/// `DELETE /api/conversations/{id}/mute`.
pub fn unmute(
    app: &App,
    _: &Request,
    params: &Params,
    caller: &Caller,
) -> Result<Response, ApiError> {
    set_muted(app, params, caller, false)
}

/// Muting is the member's own business: no event tells the others.
fn set_muted(
    app: &App,
    params: &Params,
    caller: &Caller,
    muted: bool,
) -> Result<Response, ApiError> {
    let id: ConversationId = params.id("id")?;
    let me = caller.user.id;
    let conversation = repo::write(&app.pool, |tx| {
        conversations::require_member(tx, id, me)?;
        conversations::set_muted(tx, id, me, muted)?;
        conversations::get(tx, id, me)
    })?;
    Ok(one(conversation))
}

fn one(conversation: Conversation) -> Response {
    reply::ok(&OneConversation {
        conversation: conversation.into(),
    })
}

/// `404` unless a member, `409` for a direct conversation, `403` unless an owner.
fn require_owner(tx: &Tx, id: ConversationId, user: UserId) -> Result<(), ApiError> {
    let membership = conversations::membership(tx, id, user)?;
    require_group(tx, id)?;
    if !membership.owner {
        return Err(ApiError::forbidden("Only the group's owners may change it"));
    }
    Ok(())
}

fn require_group(tx: &Tx, id: ConversationId) -> Result<(), ApiError> {
    match conversations::kind(tx, id)? {
        ConversationKind::Group => Ok(()),
        ConversationKind::Direct => Err(ApiError::conflict(
            "A direct conversation keeps its two members and has no name to change",
        )),
    }
}

/// Records `conversation.updated` after a change; the conversation as the caller sees it.
fn updated(tx: &Tx, id: ConversationId, me: UserId) -> Result<Conversation, ApiError> {
    let conversation = conversations::get(tx, id, me)?;
    events::record(tx, id, &Event::conversation_updated(conversation.clone()))?;
    Ok(conversation)
}

/// Makes `user` a member; their first event is the `member.joined` that says so.
fn join(tx: &Tx, id: ConversationId, user: UserId, by: &User) -> Result<(), ApiError> {
    conversations::join(tx, id, user)?;
    let conversation = conversations::get(tx, id, by.id)?;
    let joined = member_ref(&conversation, user)?;
    let event = Event::member(EventKind::MemberJoined, conversation, joined, by);
    let event_id = events::record(tx, id, &event)?;
    conversations::joined_at_event(tx, id, user, event_id)?;
    Ok(())
}

/// Ends `user`'s membership; their last event is the `member.left` that says so. The last
/// owner's leaving makes the longest-standing member an owner; the last member's leaving
/// removes the group.
fn leave(tx: &Tx, id: ConversationId, user: UserId, by: &User) -> Result<(), ApiError> {
    let before = conversations::get(tx, id, by.id)?;
    let leaving = member_ref(&before, user)?;
    let ended = conversations::remove(tx, id, user)?;
    let (members, owners) = conversations::head_count(tx, id)?;
    if members > 0
        && owners == 0
        && let Some(heir) = conversations::longest_standing(tx, id)?
    {
        conversations::make_owner(tx, id, heir)?;
    }
    let after = if members == 0 {
        Conversation {
            members: Vec::new(),
            owners: Vec::new(),
            ..before
        }
    } else {
        conversations::get(tx, id, by.id)?
    };
    let event = Event::member(EventKind::MemberLeft, after, leaving, by);
    let left_event = events::record(tx, id, &event)?;
    conversations::left_at_event(tx, id, ended, left_event)?;
    if members == 0 {
        conversations::delete_group(tx, id)?;
    }
    Ok(())
}

fn member_ref(
    conversation: &Conversation,
    user: UserId,
) -> Result<crate::domain::UserRef, ApiError> {
    conversation
        .members
        .iter()
        .find(|m| m.id == user)
        .cloned()
        .ok_or_else(ApiError::not_found)
}
