//! The one route table. Public routes run as they are; private routes pass the auth gate
//! first and get the caller. A path that exists with another method is a 405 with `Allow`,
//! which rouille's `router!` cannot tell from a 404, hence a table rather than the macro.
//! Path segments are percent-decoded one by one, so `%2F` inside an emote stays in its segment.
//! A parameter that is not percent-encoded UTF-8 is the client's mistake, `400`, not a path
//! that does not exist.

use percent_encoding::percent_decode;
use rouille::{Request, Response};

use super::server::BodyPolicy;
use super::{Params, extract, path_of};
use crate::app::App;
use crate::error::ApiError;
use crate::handlers::auth::{self, Caller};
use crate::handlers::{
    attachments, blocks, conversations, emotes, groups, health, messages, openapi, password,
    profile, reactions, search, streams, web,
};

type Public = fn(&App, &Request, &Params) -> Result<Response, ApiError>;
type Private = fn(&App, &Request, &Params, &Caller) -> Result<Response, ApiError>;

enum Handler {
    Public(Public),
    Private(Private),
}

struct Route {
    method: &'static str,
    pattern: &'static str,
    handler: Handler,
    /// Part of the API that docs/openapi.json describes; the web client's pages and files
    /// are not.
    api: bool,
}

const fn public(method: &'static str, pattern: &'static str, handler: Public) -> Route {
    Route {
        method,
        pattern,
        handler: Handler::Public(handler),
        api: true,
    }
}

const fn private(method: &'static str, pattern: &'static str, handler: Private) -> Route {
    Route {
        method,
        pattern,
        handler: Handler::Private(handler),
        api: true,
    }
}

/// A page or file of the web client: public, and not part of the API document.
const fn web_client(method: &'static str, pattern: &'static str, handler: Public) -> Route {
    Route {
        method,
        pattern,
        handler: Handler::Public(handler),
        api: false,
    }
}

const ROUTES: &[Route] = &[
    // The web client: its page at each client route, and its files.
    web_client("GET", "/", web::page),
    web_client("GET", "/register", web::page),
    web_client("GET", "/forgot-password", web::page),
    web_client("GET", "/reset-password", web::page),
    web_client("GET", "/sw.js", web::worker),
    web_client("GET", "/assets/{version}/{name}", web::asset),
    public("GET", "/healthz", health::check),
    public("GET", "/api/openapi.json", openapi::document),
    public("POST", "/api/auth/register", auth::register),
    public("POST", "/api/auth/login", auth::login),
    public(
        "POST",
        "/api/password/reset-request",
        password::request_reset,
    ),
    public("POST", "/api/password/reset", password::reset),
    public("GET", "/api/emotes/{name}", emotes::image),
    // Streams authenticate themselves: browsers can only pass the token in the query.
    public("GET", "/api/events", streams::sse),
    public("GET", "/api/ws", streams::ws),
    private("POST", "/api/events/ticket", streams::ticket),
    private("POST", "/api/auth/logout", auth::logout),
    private("GET", "/api/auth/validate", auth::validate),
    private("GET", "/api/auth/sessions", auth::sessions),
    private("DELETE", "/api/auth/sessions/{id}", auth::revoke_session),
    private("GET", "/api/profile/users", profile::list_users),
    private("GET", "/api/profile/users/{id}", profile::get_user),
    private("GET", "/api/profile", profile::me),
    private("PATCH", "/api/profile", profile::rename),
    private("POST", "/api/profile/password", profile::change_password),
    private("GET", "/api/conversations", conversations::list),
    private("POST", "/api/conversations", conversations::create),
    private("GET", "/api/conversations/{id}", conversations::get),
    private("PATCH", "/api/conversations/{id}", groups::update),
    private(
        "POST",
        "/api/conversations/{id}/members",
        groups::add_members,
    ),
    private(
        "DELETE",
        "/api/conversations/{id}/members/{user_id}",
        groups::remove_member,
    ),
    private(
        "PUT",
        "/api/conversations/{id}/owners/{user_id}",
        groups::make_owner,
    ),
    private("PUT", "/api/conversations/{id}/mute", groups::mute),
    private("DELETE", "/api/conversations/{id}/mute", groups::unmute),
    private("GET", "/api/blocks", blocks::list),
    private("PUT", "/api/blocks/{user_id}", blocks::block),
    private("DELETE", "/api/blocks/{user_id}", blocks::unblock),
    private("GET", "/api/conversations/{id}/messages", messages::history),
    private("POST", "/api/conversations/{id}/messages", messages::send),
    private(
        "PATCH",
        "/api/conversations/{id}/messages/{message_id}",
        messages::edit,
    ),
    private(
        "DELETE",
        "/api/conversations/{id}/messages/{message_id}",
        messages::delete,
    ),
    private(
        "PUT",
        "/api/conversations/{id}/messages/{message_id}/reactions/{emote}",
        reactions::add,
    ),
    private(
        "DELETE",
        "/api/conversations/{id}/messages/{message_id}/reactions/{emote}",
        reactions::remove,
    ),
    private(
        "POST",
        "/api/conversations/{id}/read",
        conversations::mark_read,
    ),
    private("POST", "/api/conversations/{id}/typing", streams::typing),
    private(
        "POST",
        "/api/conversations/{id}/attachments",
        attachments::upload,
    ),
    private(
        "GET",
        "/api/conversations/{id}/attachments/{attachment_id}",
        attachments::download,
    ),
    private("GET", "/api/search/messages", search::messages),
    private("GET", "/api/emotes", emotes::list),
    private("POST", "/api/emotes", emotes::upload),
    private("DELETE", "/api/emotes/{name}", emotes::delete),
];

/// The API's routes as `(method, pattern)`, patterns with `{name}` parameters: what
/// docs/openapi.json must describe, exactly (tests/openapi.rs compares the two).
pub fn api_routes() -> Vec<(&'static str, &'static str)> {
    ROUTES
        .iter()
        .filter(|route| route.api)
        .map(|route| (route.method, route.pattern))
        .collect()
}

/// How a route takes its body. Most read it whole, and the connection layer refuses a larger
/// one before reading it: emote uploads carry an image, the rest small JSON. Attachment
/// uploads stream theirs to the database; their handler judges the length (a setting).
pub fn body_limit(method: &str, path: &str) -> BodyPolicy {
    if method == "POST" && path == "/api/emotes" {
        BodyPolicy::Read(extract::EMOTE_BODY_LIMIT)
    } else if is_attachment_upload(method, path) {
        BodyPolicy::Stream
    } else {
        BodyPolicy::Read(extract::BODY_LIMIT)
    }
}

/// `POST /api/conversations/{id}/attachments`, whatever the id.
fn is_attachment_upload(method: &str, path: &str) -> bool {
    let id = path
        .strip_prefix("/api/conversations/")
        .and_then(|rest| rest.strip_suffix("/attachments"));
    id.is_some_and(|id| !id.is_empty() && !id.contains('/')) && method == "POST"
}

/// The `(method, pattern)` of every route, in the table's order: the routes' labels in the
/// metrics, where a route is known by its index.
pub fn route_labels() -> Vec<(&'static str, &'static str)> {
    ROUTES.iter().map(|r| (r.method, r.pattern)).collect()
}

/// Runs the route that answers `request`, and sets `matched` to its index in the table
/// (left `None` when no route answers, with a 404 or 405).
pub fn dispatch(
    app: &App,
    request: &Request,
    matched: &mut Option<usize>,
) -> Result<Response, ApiError> {
    let Some(segments) = decoded_segments(path_of(request)) else {
        return Err(ApiError::not_found());
    };
    let mut allowed = Vec::new();
    for (index, route) in ROUTES.iter().enumerate() {
        let Some(params) = matches(route.pattern, &segments) else {
            continue;
        };
        if route.method != request.method() {
            allowed.push(route.method);
            continue;
        }
        *matched = Some(index);
        return match route.handler {
            Handler::Public(handler) => {
                params.check_decoded()?;
                handler(app, request, &params)
            }
            Handler::Private(handler) => {
                let caller = auth::authenticate(app, request)?;
                params.check_decoded()?;
                handler(app, request, &params, &caller)
            }
        };
    }
    if allowed.is_empty() {
        Err(ApiError::not_found())
    } else {
        Err(ApiError::method_not_allowed(&allowed))
    }
}

/// A path segment percent-decoded, or `None` if it is not percent-encoded UTF-8.
type Segment = Option<String>;

/// The path's segments; `None` if the path does not start with `/`.
fn decoded_segments(path: &str) -> Option<Vec<Segment>> {
    Some(path.strip_prefix('/')?.split('/').map(decode).collect())
}

/// Decodes strictly: every `%` starts two hex digits (a lenient decoder passes `%ZZ` on as
/// it is), and the bytes they give are UTF-8.
fn decode(segment: &str) -> Segment {
    let bytes = segment.as_bytes();
    let escapes_complete = bytes.iter().enumerate().all(|(at, byte)| {
        *byte != b'%'
            || bytes
                .get(at + 1..at + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    });
    if !escapes_complete {
        return None;
    }
    let decoded: Vec<u8> = percent_decode(bytes).collect();
    String::from_utf8(decoded).ok()
}

fn matches(pattern: &'static str, segments: &[Segment]) -> Option<Params> {
    let pattern_segments: Vec<&'static str> = pattern[1..].split('/').collect();
    if pattern_segments.len() != segments.len() {
        return None;
    }
    let mut params = Params::default();
    for (expected, actual) in pattern_segments.into_iter().zip(segments) {
        let name = expected.strip_prefix('{').and_then(|p| p.strip_suffix('}'));
        match (name, actual) {
            (Some(name), Some(value)) => params.push(name, value.clone()),
            (Some(name), None) => params.mark_malformed(name),
            (None, Some(value)) if expected == value => {}
            (None, _) => return None,
        }
    }
    Some(params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::UserId;

    fn segments(path: &str) -> Vec<Segment> {
        decoded_segments(path).expect("a path")
    }

    #[test]
    fn patterns_capture_decoded_segments() {
        let params = matches(
            "/api/x/{id}/r/{emote}",
            &segments("/api/x/12/r/%F0%9F%91%8D"),
        )
        .expect("matches");
        assert_eq!(params.id("id").ok(), Some(UserId(12)));
        assert_eq!(params.text("emote"), "👍");
        assert!(matches("/api/x/{id}", &segments("/api/x/1/extra")).is_none());
        assert!(matches("/api/x", &segments("/api/y")).is_none());
    }

    #[test]
    fn an_encoded_slash_stays_inside_its_segment() {
        assert_eq!(
            segments("/a/b%2Fc"),
            vec![Some("a".to_owned()), Some("b/c".to_owned())]
        );
    }

    #[test]
    fn segments_that_are_not_percent_encoded_utf8_do_not_decode() {
        for bad in ["%FF", "%F0%9F", "%ZZ", "a%", "a%4", "%%41"] {
            assert_eq!(decode(bad), None, "{bad}");
        }
        assert_eq!(decode("%F0%9F%91%8D"), Some("👍".to_owned()));
        assert_eq!(decode("%3Aok%3a"), Some(":ok:".to_owned()));
    }

    #[test]
    fn a_malformed_parameter_is_a_validation_error_naming_it() {
        let params = matches("/x/{id}/r/{emote}", &segments("/x/%FF/r/%F0%9F")).expect("matches");
        let error = params.check_decoded().expect_err("malformed");
        assert_eq!(error.kind, crate::error::Kind::ValidationFailed);
        assert!(
            format!("{error:?}").contains(r#"field: Some("id")"#),
            "{error:?}"
        );
        assert!(matches("/x/{id}", &segments("/%FF/1")).is_none());
        let fine = matches("/x/{id}", &segments("/x/abc")).expect("matches");
        assert!(fine.check_decoded().is_ok());
    }

    #[test]
    fn only_attachment_uploads_stream_their_body() {
        let policy = |method, path| body_limit(method, path);
        assert_eq!(
            policy("POST", "/api/conversations/7/attachments"),
            BodyPolicy::Stream
        );
        for (method, path) in [
            ("GET", "/api/conversations/7/attachments"),
            ("POST", "/api/conversations//attachments"),
            ("POST", "/api/conversations/7/x/attachments"),
            ("POST", "/api/conversations/7/messages"),
        ] {
            assert_eq!(
                policy(method, path),
                BodyPolicy::Read(extract::BODY_LIMIT),
                "{method} {path}"
            );
        }
    }

    #[test]
    fn every_route_pattern_is_unique_per_method() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert!(
                    !(a.method == b.method && a.pattern == b.pattern),
                    "{} {} twice",
                    a.method,
                    a.pattern
                );
            }
        }
    }
}
