//! Conversations: listing, creating (direct or group), reading one, and the read marker.

use std::time::Duration;

use rouille::{Request, Response};

use super::auth::Caller;
use super::write_with_events;
use crate::app::App;
use crate::domain::{ConversationId, Timestamp, Title, UserId};
use crate::error::ApiError;
use crate::http::{Params, extract, reply};
use crate::repo::{self, conversations, events, messages, users};
use crate::wire::{ConversationPage, Event, OneConversation, Pagination, ReadState};

/// A group holds at most this many members, its creator included.
pub const MAX_GROUP_MEMBERS: usize = 256;
/// The window of the groups-per-day quota.
const DAY_MS: i64 = 24 * 60 * 60 * 1000;

pub fn list(
    app: &App,
    request: &Request,
    _: &Params,
    caller: &Caller,
) -> Result<Response, ApiError> {
    let page = extract::page_request(request)?;
    let (found, total) = repo::read(&app.pool, |conn| {
        conversations::page_for_user(conn, caller.user.id, page)
    })?;
    Ok(reply::ok(&ConversationPage {
        conversations: found.into_iter().map(Into::into).collect(),
        pagination: Pagination::new(page, total),
    }))
}

/// One other member and no title is the pair's direct conversation: `200` if it already
/// existed, `201` if it is new. Anything else is a new group.
pub fn create(
    app: &App,
    request: &Request,
    _: &Params,
    caller: &Caller,
) -> Result<Response, ApiError> {
    let body = extract::json_object(request, extract::BODY_LIMIT)?;
    let others = other_members(body.ids("member_ids")?, caller.user.id)?;
    let title: Option<Title> = body.optional("title")?;
    let me = caller.user.id;
    let (conversation, created) = write_with_events(app, |tx| {
        if let Some(unknown) = users::missing_ids(tx, &others)?.first() {
            let why = format!("no user has id {unknown}");
            return Err(ApiError::invalid_field("member_ids", why));
        }
        let now = Timestamp::now();
        let (id, created) = match (others.as_slice(), &title) {
            ([other], None) => conversations::create_direct(tx, me, *other, now)?,
            _ => {
                within_group_quota(tx, me, app.config.quotas.groups_per_user_per_day, now)?;
                let id = conversations::create_group(tx, me, title.as_ref(), &others, now)?;
                (id, true)
            }
        };
        let conversation = conversations::get(tx, id, me)?;
        if created {
            events::record(tx, id, &Event::conversation_created(conversation.clone()))?;
        }
        Ok((conversation, created))
    })?;
    let body = OneConversation {
        conversation: conversation.into(),
    };
    Ok(reply::created_or_ok(created, &body))
}

/// Whether the user may create another group now, having created `quota` in the last 24
/// hours at most; `429 daily_quota_exceeded` until enough of them are a day old if not.
/// Checked in the transaction that creates, so parallel creations cannot overshoot.
fn within_group_quota(
    tx: &repo::Tx,
    me: UserId,
    quota: u32,
    now: Timestamp,
) -> Result<(), ApiError> {
    let created = conversations::groups_created_since(tx, me, Timestamp(now.0 - DAY_MS))?;
    let Some(leaving) = created.len().checked_sub(quota as usize) else {
        return Ok(());
    };
    // Room comes back when this many of them have left the last 24 hours.
    let free_at = created[leaving].0 + DAY_MS;
    let wait = Duration::from_millis(u64::try_from(free_at - now.0).unwrap_or(0));
    Err(ApiError::daily_quota_exceeded(
        format!("You may create {quota} groups a day; try again later"),
        wait,
    ))
}

/// The other members: the caller's own id is ignored, repeats count once.
fn other_members(mut ids: Vec<UserId>, me: UserId) -> Result<Vec<UserId>, ApiError> {
    ids.retain(|id| *id != me);
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Err(ApiError::invalid_field(
            "member_ids",
            "member_ids must name at least one other user",
        ));
    }
    if ids.len() >= MAX_GROUP_MEMBERS {
        return Err(ApiError::invalid_field(
            "member_ids",
            format!("a conversation has at most {MAX_GROUP_MEMBERS} members, you included"),
        ));
    }
    Ok(ids)
}

pub fn get(app: &App, _: &Request, params: &Params, caller: &Caller) -> Result<Response, ApiError> {
    let id: ConversationId = params.id("id")?;
    let conversation = repo::read(&app.pool, |conn| {
        conversations::require_member(conn, id, caller.user.id)?;
        conversations::get(conn, id, caller.user.id)
    })?;
    Ok(reply::ok(&OneConversation {
        conversation: conversation.into(),
    }))
}

/// Moves the caller's read marker forward (never back) and reports the unread count.
pub fn mark_read(
    app: &App,
    request: &Request,
    params: &Params,
    caller: &Caller,
) -> Result<Response, ApiError> {
    let id: ConversationId = params.id("id")?;
    let body = extract::json_object(request, extract::BODY_LIMIT)?;
    let message_id = body.id("message_id")?;
    let me = caller.user.id;
    let state = write_with_events(app, |tx| {
        // A message hidden from the caller is answered as a missing one.
        if !messages::shown_to(tx, id, message_id, me)? {
            let why = "message_id is not a message of this conversation";
            return Err(ApiError::invalid_field("message_id", why));
        }
        let (marker, moved) = conversations::mark_read(tx, id, me, message_id)?;
        if moved {
            events::record(tx, id, &Event::read_updated(id, me, marker))?;
        }
        Ok(ReadState {
            last_read_message_id: marker,
            unread_count: conversations::unread_count(tx, id, me)?,
        })
    })?;
    Ok(reply::ok(&state))
}
