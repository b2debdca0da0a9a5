//! Custom emotes: upload, list, the public image, and delete by the creator.

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use rouille::{Request, Response};
use sha2::{Digest, Sha256};

use super::auth::Caller;
use crate::app::App;
use crate::config::Quotas;
use crate::domain::{EmoteName, ImageType, Parse, Timestamp};
use crate::error::{ApiError, Kind};
use crate::http::{Params, extract, reply};
use crate::repo::emotes::{self, Usage};
use crate::repo::{self, RepoError};
use crate::wire::{EmotePage, Notice, OneEmote, Pagination};

/// The largest image accepted, decoded.
const MAX_IMAGE_BYTES: usize = 256 * 1024;

/// Standard base64, with or without the trailing `=` padding.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

pub fn upload(
    app: &App,
    request: &Request,
    _: &Params,
    caller: &Caller,
) -> Result<Response, ApiError> {
    let body = extract::json_object(request, extract::EMOTE_BODY_LIMIT)?;
    let name: EmoteName = body.field("name")?;
    let image = decode_image(body.string("image_base64")?)?;
    let image_type = ImageType::sniff(&image).ok_or_else(|| {
        ApiError::invalid_field("image_base64", "image must be a PNG, GIF or WebP")
    })?;
    let digest: String = Sha256::digest(&image)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let me = caller.user.id;
    // Checked in the transaction that inserts, so parallel uploads cannot overshoot.
    let emote = repo::write(&app.pool, |tx| {
        within_quota(&app.config.quotas, emotes::usage_of(tx, me)?, image.len())?;
        let now = Timestamp::now();
        emotes::insert(tx, &name, image_type, &image, &digest, me, now).map_err(|err| match err {
            RepoError::Conflict(_) => ApiError::new(Kind::Conflict, "That emote name is taken"),
            other => other.into(),
        })
    })?;
    Ok(reply::created(&OneEmote {
        emote: emote.into(),
    }))
}

/// Whether a user with `usage` may add an image of `size` bytes; `409 quota_exceeded` if not.
fn within_quota(quotas: &Quotas, usage: Usage, size: usize) -> Result<(), ApiError> {
    if usage.count >= u64::from(quotas.emotes_per_user) {
        return Err(ApiError::quota_exceeded(format!(
            "You have {} emotes and may have {}; delete one first",
            usage.count, quotas.emotes_per_user
        )));
    }
    let after = usage.bytes.saturating_add(size as u64);
    if after > quotas.emote_bytes_per_user {
        return Err(ApiError::quota_exceeded(format!(
            "Your emotes may take {} bytes in all; this one would make {after}",
            quotas.emote_bytes_per_user
        )));
    }
    Ok(())
}

fn decode_image(encoded: &str) -> Result<Vec<u8>, ApiError> {
    let too_large = || {
        ApiError::invalid_field(
            "image_base64",
            format!("image must be at most {MAX_IMAGE_BYTES} bytes"),
        )
    };
    // Refuse before decoding what cannot fit: 4 characters carry 3 bytes.
    if encoded.len() / 4 * 3 > MAX_IMAGE_BYTES + 3 {
        return Err(too_large());
    }
    let image = BASE64.decode(encoded).map_err(|_| {
        ApiError::invalid_field("image_base64", "image_base64 must be standard base64")
    })?;
    if image.len() > MAX_IMAGE_BYTES {
        return Err(too_large());
    }
    Ok(image)
}

pub fn list(app: &App, request: &Request, _: &Params, _: &Caller) -> Result<Response, ApiError> {
    let page = extract::page_request(request)?;
    let (found, total) = repo::read(&app.pool, |conn| emotes::page(conn, page))?;
    Ok(reply::ok(&EmotePage {
        emotes: found.into_iter().map(Into::into).collect(),
        pagination: Pagination::new(page, total),
    }))
}

/// Public, so `<img>` tags work; cached for a day and revalidated by ETag.
pub fn image(app: &App, request: &Request, params: &Params) -> Result<Response, ApiError> {
    let name = EmoteName::parse(params.text("name")).map_err(|_| ApiError::not_found())?;
    let image = repo::read(&app.pool, |conn| emotes::image(conn, &name))?;
    let etag = format!("\"{}\"", image.digest);
    if request
        .header("If-None-Match")
        .is_some_and(|tags| extract::etag_matches(tags, &etag))
    {
        return Ok(reply::not_modified(&etag));
    }
    Ok(reply::image(image.content_type, image.bytes, &etag))
}

pub fn delete(
    app: &App,
    _: &Request,
    params: &Params,
    caller: &Caller,
) -> Result<Response, ApiError> {
    let name = EmoteName::parse(params.text("name")).map_err(|_| ApiError::not_found())?;
    repo::write(&app.pool, |tx| {
        if emotes::creator(tx, &name)? != caller.user.id {
            return Err(ApiError::forbidden("Only its creator can delete an emote"));
        }
        Ok(emotes::delete(tx, &name)?)
    })?;
    Ok(reply::ok(&Notice {
        message: "Emote deleted",
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_decode_with_or_without_padding_up_to_the_limit() {
        assert_eq!(decode_image("R0lGODlh").ok(), Some(b"GIF89a".to_vec()));
        assert_eq!(decode_image("YQ==").ok(), Some(b"a".to_vec()));
        assert_eq!(decode_image("YQ").ok(), Some(b"a".to_vec()));
        assert!(decode_image("not base64!").is_err());
        assert!(
            decode_image("YQ-_").is_err(),
            "url-safe alphabet is not standard"
        );
        let at_limit = BASE64.encode(vec![0u8; MAX_IMAGE_BYTES]);
        assert_eq!(
            decode_image(&at_limit).map(|i| i.len()).ok(),
            Some(MAX_IMAGE_BYTES)
        );
        let past = BASE64.encode(vec![0u8; MAX_IMAGE_BYTES + 1]);
        assert!(decode_image(&past).is_err());
    }
}
