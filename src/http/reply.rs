//! Building successful responses: JSON with the right status.

use rouille::Response;
use serde::Serialize;

pub fn ok<T: Serialize>(body: &T) -> Response {
    Response::json(body)
}

pub fn created<T: Serialize>(body: &T) -> Response {
    Response::json(body).with_status_code(201)
}

/// An image with its validator; public caching for a day.
pub fn image(content_type: String, bytes: Vec<u8>, etag: &str) -> Response {
    Response::from_data(content_type, bytes)
        .with_unique_header("ETag", etag.to_owned())
        .with_unique_header("Cache-Control", "public, max-age=86400")
}

/// `304 Not Modified` for a cached copy that is still current.
pub fn not_modified(etag: &str) -> Response {
    Response::empty_204()
        .with_status_code(304)
        .with_unique_header("ETag", etag.to_owned())
        .with_unique_header("Cache-Control", "public, max-age=86400")
}

/// `201` for something made by this request, `200` for something that already existed
/// (an existing direct conversation, a retried message).
pub fn created_or_ok<T: Serialize>(created: bool, body: &T) -> Response {
    if created {
        self::created(body)
    } else {
        ok(body)
    }
}

pub fn no_content() -> Response {
    Response::empty_204()
}
