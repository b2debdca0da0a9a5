//! Emote reactions on messages: idempotent add and remove.

use rouille::{Request, Response};

use super::auth::Caller;
use super::write_with_events;
use crate::app::App;
use crate::domain::{ConversationId, Message, MessageId, Parse, Reaction, Timestamp};
use crate::error::ApiError;
use crate::http::{Params, reply};
use crate::realtime::event::EventKind;
use crate::repo::reactions::{Addition, MAX_DISTINCT_EMOTES};
use crate::repo::{Tx, emotes, events, messages, reactions};
use crate::wire::{Event, OneMessage};

pub fn add(app: &App, _: &Request, params: &Params, caller: &Caller) -> Result<Response, ApiError> {
    let (id, message_id, reaction) = target(params)?;
    let message = write_with_events(app, |tx| -> Result<Message, ApiError> {
        let message = reactable(tx, id, message_id, &reaction, caller)?;
        if message.deleted {
            return Err(ApiError::conflict("A deleted message cannot get reactions"));
        }
        let key = reaction.key();
        match reactions::add(tx, message_id, &key, caller.user.id, Timestamp::now())? {
            Addition::AlreadyThere => return Ok(message),
            Addition::TooManyEmotes => {
                let why =
                    format!("a message carries at most {MAX_DISTINCT_EMOTES} different emotes");
                return Err(ApiError::invalid_field("emote", why));
            }
            Addition::Added => {}
        }
        events::record(
            tx,
            id,
            &Event::reaction(EventKind::ReactionAdded, &message, key, &caller.user),
        )?;
        Ok(messages::get(tx, id, message_id, Some(caller.user.id))?)
    })?;
    Ok(reply::ok(&OneMessage {
        message: message.into(),
    }))
}

/// Removing a reaction that is not there (or from a deleted message) changes nothing.
pub fn remove(
    app: &App,
    _: &Request,
    params: &Params,
    caller: &Caller,
) -> Result<Response, ApiError> {
    let (id, message_id, reaction) = target(params)?;
    let message = write_with_events(app, |tx| -> Result<Message, ApiError> {
        let message = reactable(tx, id, message_id, &reaction, caller)?;
        let key = reaction.key();
        if !reactions::remove(tx, message_id, &key, caller.user.id)? {
            return Ok(message);
        }
        events::record(
            tx,
            id,
            &Event::reaction(EventKind::ReactionRemoved, &message, key, &caller.user),
        )?;
        Ok(messages::get(tx, id, message_id, Some(caller.user.id))?)
    })?;
    Ok(reply::ok(&OneMessage {
        message: message.into(),
    }))
}

fn target(params: &Params) -> Result<(ConversationId, MessageId, Reaction), ApiError> {
    let reaction = Reaction::parse(params.text("emote"))
        .map_err(|why| ApiError::invalid_field("emote", format!("emote {}", why.0)))?;
    Ok((params.id("id")?, params.id("message_id")?, reaction))
}

/// The message, if the caller is a member who sees it (`404` otherwise, as for a missing one)
/// and a custom emote exists.
fn reactable(
    tx: &Tx,
    id: ConversationId,
    message_id: MessageId,
    reaction: &Reaction,
    caller: &Caller,
) -> Result<Message, ApiError> {
    let message = messages::get_shown(tx, id, message_id, caller.user.id)?;
    if let Reaction::Custom(name) = reaction
        && !emotes::exists(tx, name)?
    {
        let why = format!("there is no emote :{}:", name.as_str());
        return Err(ApiError::invalid_field("emote", why));
    }
    Ok(message)
}
