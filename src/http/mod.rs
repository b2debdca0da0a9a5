//! The HTTP edge: the one function every request goes through. It routes, turns errors and
//! panics into the contract's JSON bodies, adds the headers every response carries, and logs
//! one line per request (method, path without its query string, status, duration), so no
//! token or reset link in a query can reach the log.

pub(crate) mod cors;
pub(crate) mod extract;
pub(crate) mod forwarded;
mod params;
// Public for the fuzz targets, which feed it arbitrary bytes.
pub mod parse;
pub(crate) mod reply;
pub(crate) mod rouille_bridge;
mod router;
pub(crate) mod server;
pub(crate) mod sse;
pub(crate) mod ws;

pub use params::Params;
pub(crate) use router::route_labels;
pub use router::{api_routes, body_limit};

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use rouille::{Request, Response};

use crate::app::App;
use crate::error::ApiError;

pub fn handle(app: &App, request: &Request) -> Response {
    let started = Instant::now();
    let origins = &app.config.cors_origins;
    let mut route = None;
    let response = match cors::preflight(request, origins) {
        Some(answer) => answer,
        None => guarded(|| router::dispatch(app, request, &mut route)),
    };
    let response = with_security_headers(cors::decorate(request, origins, response));
    let took = started.elapsed();
    app.metrics
        .request(route, request.method(), response.status_code, took);
    log::info!(
        "{} {} {} {:.2}ms",
        request.method(),
        path_of(request),
        response.status_code,
        took.as_secs_f64() * 1000.0
    );
    response
}

/// Runs a handler so that neither an error nor a panic escapes as anything but a contract
/// body. The panic's own message goes to stderr through the panic hook, never to the client.
fn guarded(handler: impl FnOnce() -> Result<Response, ApiError>) -> Response {
    match catch_unwind(AssertUnwindSafe(handler)) {
        Ok(Ok(response)) => response,
        Ok(Err(err)) => err.into_response(),
        Err(_) => ApiError::internal("a handler panicked").into_response(),
    }
}

/// Headers every response carries, the connection layer's own refusals included: this is
/// the one place they are set. API answers are never cached unless the handler chose a cache
/// policy itself (public emote images and the web client's files do). Only the web client's
/// page sets its own content policy; everything else is not a page, so its policy forbids
/// everything: a response opened in a browser can run nothing and be framed nowhere.
pub fn with_security_headers(response: Response) -> Response {
    let has = |header: &str| {
        response
            .headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case(header))
    };
    let (has_cache_policy, has_content_policy) =
        (has("Cache-Control"), has("Content-Security-Policy"));
    let mut response = response
        .with_unique_header("X-Content-Type-Options", "nosniff")
        .with_unique_header("Referrer-Policy", "no-referrer");
    if !has_content_policy {
        response = response.with_unique_header(
            "Content-Security-Policy",
            "default-src 'none'; frame-ancestors 'none'",
        );
    }
    if !has_cache_policy {
        response = response.with_unique_header("Cache-Control", "no-store");
    }
    response
}

/// The request path without its query string.
pub fn path_of(request: &Request) -> &str {
    let url = request.raw_url();
    url.split_once('?').map_or(url, |(path, _)| path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn a_panicking_handler_answers_the_contract_500() {
        let response = with_security_headers(guarded(|| panic!("secret detail at /srv/db")));
        assert_eq!(response.status_code, 500);
        let (mut reader, _) = response.data.into_reader_and_size();
        let mut body = String::new();
        reader.read_to_string(&mut body).expect("body");
        let body: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(body["error"], "internal");
        assert!(!body.to_string().contains("secret"));
    }

    #[test]
    fn paths_are_logged_without_their_query() {
        let request = Request::fake_http("GET", "/api/events?access_token=abc", vec![], vec![]);
        assert_eq!(path_of(&request), "/api/events");
    }
}
