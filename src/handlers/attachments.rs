//! Attachments: uploading a picture or file to a conversation (sent afterwards with a message
//! that lists its id), and fetching one back.

use rouille::{Request, Response, ResponseBody};

use super::auth::Caller;
use crate::app::App;
use crate::domain::media::{self, MediaType};
use crate::domain::{AttachmentId, ConversationId};
use crate::error::{ApiError, Kind};
use crate::http::rouille_bridge;
use crate::http::{Params, extract, reply};
use crate::repo::{self, attachments, conversations};
use crate::uploads::{self, Incoming, Pieces};
use crate::wire::OneAttachment;

/// The longest file name kept, in characters.
const MAX_NAME_CHARS: usize = 255;

/// Stored files never change (a new upload is a new id), so a browser may keep one for good;
/// `private`: only the members who may read it, never a shared cache.
const CACHE_FOREVER: &str = "private, max-age=31536000, immutable";

/// `POST /api/conversations/{id}/attachments?name=NAME`, the file's bytes as the body.
pub fn upload(
    app: &App,
    request: &Request,
    params: &Params,
    caller: &Caller,
) -> Result<Response, ApiError> {
    let id: ConversationId = params.id("id")?;
    let name = file_name(request)?;
    let mut body = rouille_bridge::take_body()
        .ok_or_else(|| ApiError::internal("the upload route's body was not streamed"))?;
    repo::read(&app.pool, |conn| {
        conversations::require_member(conn, id, caller.user.id)
    })?;
    let max = app.config.quotas.attachment_max_bytes;
    if body.is_empty() {
        return Err(ApiError::new(Kind::ValidationFailed, "The file is empty"));
    }
    if body.len() > max {
        return Err(ApiError::new(
            Kind::PayloadTooLarge,
            format!("An attachment may be at most {max} bytes"),
        ));
    }
    let incoming = Incoming {
        conversation_id: id,
        uploader_id: caller.user.id,
        name: &name,
        declared_size: body.len(),
    };
    let attachment = uploads::store(&app.pool, &app.config, &incoming, &mut body)?;
    Ok(reply::created(&OneAttachment {
        attachment: attachment.into(),
    }))
}

/// The `name` query parameter as a file name: its last path component (a browser may send
/// a whole path), 1-255 characters, no control characters.
fn file_name(request: &Request) -> Result<String, ApiError> {
    let raw = request
        .get_param("name")
        .ok_or_else(|| ApiError::invalid_parameter("name", "name is required"))?;
    let name = raw.rsplit(['/', '\\']).next().unwrap_or_default().trim();
    let invalid = |why: &str| ApiError::invalid_parameter("name", format!("name {why}"));
    if name.is_empty() || name == "." || name == ".." {
        return Err(invalid("must be a file name"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(invalid("must be at most 255 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid("must not contain control characters"));
    }
    Ok(name.to_owned())
}

/// `GET /api/conversations/{id}/attachments/{attachment_id}`: the file, to members only
/// (404 for anyone else, as for a conversation they are not in), streamed from the database.
/// Served so that it can never act as a page: pictures inline, anything else as a download,
/// its type never sniffed, and a sandboxing content policy on the file itself.
pub fn download(
    app: &App,
    request: &Request,
    params: &Params,
    caller: &Caller,
) -> Result<Response, ApiError> {
    let (id, attachment_id): (ConversationId, AttachmentId) =
        (params.id("id")?, params.id("attachment_id")?);
    let stored = repo::read(&app.pool, |conn| {
        conversations::require_member(conn, id, caller.user.id)?;
        attachments::stored(conn, id, attachment_id, caller.user.id)
    })?;
    let etag = format!("\"{}\"", stored.digest);
    if request
        .header("If-None-Match")
        .is_some_and(|tags| extract::etag_matches(tags, &etag))
    {
        return Ok(reply::not_modified(&etag).with_unique_header("Cache-Control", CACHE_FOREVER));
    }
    let attachment = stored.attachment;
    let media = MediaType::from_content_type(&attachment.content_type);
    let size = usize::try_from(attachment.size).unwrap_or_default();
    let body =
        ResponseBody::from_reader_and_size(Pieces::new(app.pool.clone(), attachment.id), size);
    Ok(Response {
        status_code: 200,
        headers: Vec::new(),
        data: body,
        upgrade: None,
    }
    .with_unique_header("Content-Type", media.content_type())
    .with_unique_header(
        "Content-Disposition",
        media::content_disposition(media, &attachment.name),
    )
    .with_unique_header("Content-Security-Policy", "default-src 'none'; sandbox")
    .with_unique_header("ETag", etag)
    .with_unique_header("Cache-Control", CACHE_FOREVER))
}
