//! The one route table. Public routes run as they are; private routes pass the auth gate
//! first and get the caller. A path that exists with another method is a 405 with `Allow`,
//! which rouille's `router!` cannot tell from a 404, hence a table rather than the macro.
//! Path segments are percent-decoded one by one, so `%2F` inside an emote stays in its segment.

use percent_encoding::percent_decode_str;
use rouille::{Request, Response};

use super::{extract, path_of};
use crate::app::App;
use crate::error::ApiError;
use crate::handlers::{
    self, Caller, auth, conversations, emotes, health, messages, password, profile, reactions,
    streams,
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
}

const fn public(method: &'static str, pattern: &'static str, handler: Public) -> Route {
    Route {
        method,
        pattern,
        handler: Handler::Public(handler),
    }
}

const fn private(method: &'static str, pattern: &'static str, handler: Private) -> Route {
    Route {
        method,
        pattern,
        handler: Handler::Private(handler),
    }
}

const ROUTES: &[Route] = &[
    public("GET", "/healthz", health::check),
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
    private("GET", "/api/emotes", emotes::list),
    private("POST", "/api/emotes", emotes::upload),
    private("DELETE", "/api/emotes/{name}", emotes::delete),
];

/// The most bytes of body a route reads: emote uploads carry an image, the rest small JSON.
/// The connection layer refuses a larger body before reading it.
pub fn body_limit(method: &str, path: &str) -> usize {
    if method == "POST" && path == "/api/emotes" {
        extract::EMOTE_BODY_LIMIT
    } else {
        extract::BODY_LIMIT
    }
}

/// Values captured from `{name}` segments of a route's pattern.
#[derive(Debug, Default)]
pub struct Params(Vec<(&'static str, String)>);

impl Params {
    /// A positive integer id; anything else cannot name a resource, so it is a 404.
    pub fn id(&self, name: &str) -> Result<i64, ApiError> {
        self.0
            .iter()
            .find(|(key, _)| *key == name)
            .and_then(|(_, value)| value.parse::<i64>().ok())
            .filter(|id| *id > 0 && !self.text(name).starts_with('+'))
            .ok_or_else(ApiError::not_found)
    }

    pub fn text(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(key, _)| *key == name)
            .map_or("", |(_, value)| value.as_str())
    }
}

pub fn dispatch(app: &App, request: &Request) -> Result<Response, ApiError> {
    let Some(segments) = decoded_segments(path_of(request)) else {
        return Err(ApiError::not_found());
    };
    let mut allowed = Vec::new();
    for route in ROUTES {
        let Some(params) = matches(route.pattern, &segments) else {
            continue;
        };
        if route.method != request.method() {
            allowed.push(route.method);
            continue;
        }
        return match route.handler {
            Handler::Public(handler) => handler(app, request, &params),
            Handler::Private(handler) => {
                let caller = handlers::authenticate(app, request)?;
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

/// The path's segments, percent-decoded; `None` if one does not decode to UTF-8.
fn decoded_segments(path: &str) -> Option<Vec<String>> {
    path.strip_prefix('/')?
        .split('/')
        .map(|segment| {
            percent_decode_str(segment)
                .decode_utf8()
                .ok()
                .map(|s| s.into_owned())
        })
        .collect()
}

fn matches(pattern: &'static str, segments: &[String]) -> Option<Params> {
    let pattern_segments: Vec<&'static str> = pattern[1..].split('/').collect();
    if pattern_segments.len() != segments.len() {
        return None;
    }
    let mut params = Params::default();
    for (expected, actual) in pattern_segments.into_iter().zip(segments) {
        match expected.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            Some(name) => params.0.push((name, actual.clone())),
            None if expected == actual => {}
            None => return None,
        }
    }
    Some(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segments(path: &str) -> Vec<String> {
        decoded_segments(path).expect("decodes")
    }

    #[test]
    fn patterns_capture_decoded_segments() {
        let params = matches(
            "/api/x/{id}/r/{emote}",
            &segments("/api/x/12/r/%F0%9F%91%8D"),
        )
        .expect("matches");
        assert_eq!(params.id("id").ok(), Some(12));
        assert_eq!(params.text("emote"), "👍");
        assert!(matches("/api/x/{id}", &segments("/api/x/1/extra")).is_none());
        assert!(matches("/api/x", &segments("/api/y")).is_none());
    }

    #[test]
    fn an_encoded_slash_stays_inside_its_segment() {
        assert_eq!(segments("/a/b%2Fc"), vec!["a", "b/c"]);
        assert!(decoded_segments("/a/%FF").is_none());
    }

    #[test]
    fn ids_must_be_positive_integers() {
        for bad in ["0", "-1", "+1", "1.0", "abc", "", "99999999999999999999"] {
            let params = Params(vec![("id", bad.to_owned())]);
            assert!(params.id("id").is_err(), "{bad}");
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
