//! The web client's routes: its page at `/` and at each client route (`/register`,
//! `/forgot-password`, and the reset mail's `/reset-password`), its service worker, and its
//! assets. The page carries the strict content policy a browser
//! app needs; assets are immutable under their versioned path and revalidate by ETag.

use std::io::Cursor;
use std::sync::Arc;

use rouille::{Request, Response, ResponseBody};

use crate::app::App;
use crate::error::ApiError;
use crate::http::{Params, extract};
use crate::web::{Served, accepts_gzip};

/// What the page may load: its own scripts, styles and images (and `data:`/`blob:` images
/// for previews), talk to its own origin, and nothing inline or from elsewhere.
const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data: blob:; connect-src 'self'; manifest-src 'self'; worker-src 'self'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// `GET /` and the client's other routes: the app's page, revalidated on every load.
pub fn page(app: &App, request: &Request, _: &Params) -> Result<Response, ApiError> {
    Ok(serve(request, app.web.page(), "no-cache")
        .with_unique_header("Content-Security-Policy", PAGE_POLICY))
}

/// `GET /sw.js`: the service worker. A worker script's own content policy governs what the
/// worker may fetch, so it gets the page's policy; it is revalidated like the page, so a new
/// build's worker is found at once.
pub fn worker(app: &App, request: &Request, _: &Params) -> Result<Response, ApiError> {
    Ok(serve(request, app.web.worker(), "no-cache")
        .with_unique_header("Content-Security-Policy", PAGE_POLICY))
}

/// `GET /assets/{version}/{name}`: a file of this build; another build's is `404`.
pub fn asset(app: &App, request: &Request, params: &Params) -> Result<Response, ApiError> {
    let served = app
        .web
        .asset(params.text("version"), params.text("name"))
        .ok_or_else(ApiError::not_found)?;
    Ok(serve(
        request,
        served,
        "public, max-age=31536000, immutable",
    ))
}

/// `served` as `304` when the client's copy is current, else gzipped when it may be.
fn serve(request: &Request, served: &Served, cache: &'static str) -> Response {
    let response = if request
        .header("If-None-Match")
        .is_some_and(|tags| extract::etag_matches(tags, &served.etag))
    {
        Response::empty_204().with_status_code(304)
    } else {
        match &served.gzipped {
            Some(packed) if accepts_gzip(request.header("Accept-Encoding")) => {
                shared(served.content_type, packed).with_unique_header("Content-Encoding", "gzip")
            }
            _ => shared(served.content_type, &served.bytes),
        }
    };
    response
        .with_unique_header("ETag", served.etag.clone())
        .with_unique_header("Cache-Control", cache)
        .with_unique_header("Vary", "Accept-Encoding")
}

/// A `200` whose body is read from the shared bytes, not a copy of them.
fn shared(content_type: &'static str, bytes: &Arc<[u8]>) -> Response {
    Response {
        status_code: 200,
        headers: vec![("Content-Type".into(), content_type.into())],
        data: ResponseBody::from_reader_and_size(Cursor::new(Arc::clone(bytes)), bytes.len()),
        upgrade: None,
    }
}
