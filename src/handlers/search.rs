//! Message search: `GET /api/search/messages`, newest first, paged by message id.

use rouille::{Request, Response};

use super::auth::Caller;
use crate::app::App;
use crate::domain::{ConversationId, SearchQuery};
use crate::error::ApiError;
use crate::http::{Params, extract, reply};
use crate::repo::{self, conversations, search};
use crate::wire::{SearchHit, SearchPage};

const DEFAULT_LIMIT: u32 = 20;
const MAX_LIMIT: u32 = 50;

pub fn messages(
    app: &App,
    request: &Request,
    _: &Params,
    caller: &Caller,
) -> Result<Response, ApiError> {
    let query: SearchQuery = extract::parsed_param(request, "q")?
        .ok_or_else(|| ApiError::invalid_parameter("q", "q is required"))?;
    let within: Option<ConversationId> = extract::id_param(request, "conversation_id")?;
    let before = extract::cursor_param(request, "before")?;
    let limit = extract::number_param(request, "limit", 1, MAX_LIMIT)?.unwrap_or(DEFAULT_LIMIT);
    let scope = search::Scope {
        viewer: caller.user.id,
        within,
    };
    let (hits, has_more) = repo::read(&app.pool, |conn| {
        if let Some(id) = within {
            conversations::require_member(conn, id, caller.user.id)?;
        }
        search::page(conn, &query, scope, before, limit)
    })?;
    Ok(reply::ok(&SearchPage {
        hits: hits
            .into_iter()
            .map(|hit| SearchHit::new(hit, &query))
            .collect(),
        has_more,
    }))
}
