//! Cross-origin requests: off unless the operator lists the origins of their web client.
//! Allowed origins get `Access-Control-Allow-Origin` on every answer and a preflight
//! (`OPTIONS` with `Access-Control-Request-Method`) answered `204` with what they may send.

use rouille::{Request, Response};

/// Methods and headers a browser client may use across origins.
const METHODS: &str = "GET, POST, PUT, PATCH, DELETE";
const HEADERS: &str = "Authorization, Content-Type, Last-Event-ID";
/// How long a browser may cache a preflight answer, in seconds.
const MAX_AGE: &str = "600";

/// The request's `Origin`, if it is one of `allowed`.
fn allowed_origin<'r>(request: &'r Request, allowed: &[String]) -> Option<&'r str> {
    let origin = request.header("Origin")?;
    allowed.iter().any(|a| a == origin).then_some(origin)
}

/// The answer to a CORS preflight, or `None` if the request is not one.
pub fn preflight(request: &Request, allowed: &[String]) -> Option<Response> {
    if request.method() != "OPTIONS" || request.header("Access-Control-Request-Method").is_none() {
        return None;
    }
    let response = Response::empty_204().with_unique_header("Vary", "Origin");
    Some(match allowed_origin(request, allowed) {
        Some(origin) => response
            .with_unique_header("Access-Control-Allow-Origin", origin.to_owned())
            .with_unique_header("Access-Control-Allow-Methods", METHODS)
            .with_unique_header("Access-Control-Allow-Headers", HEADERS)
            .with_unique_header("Access-Control-Max-Age", MAX_AGE),
        // Without the allow headers the browser refuses the real request.
        None => response,
    })
}

/// Adds the allow-origin headers to an answer for an allowed origin.
pub fn decorate(request: &Request, allowed: &[String], response: Response) -> Response {
    match allowed_origin(request, allowed) {
        Some(origin) => response
            .with_unique_header("Access-Control-Allow-Origin", origin.to_owned())
            .with_unique_header("Vary", "Origin"),
        None => response,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, headers: &[(&str, &str)]) -> Request {
        let headers = headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Request::fake_http(method, "/api/profile", headers, vec![])
    }

    fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
        response
            .headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_ref())
    }

    #[test]
    fn preflights_are_answered_for_allowed_origins_only() {
        let allowed = vec!["https://chat.example.org".to_owned()];
        let asked = [
            ("Origin", "https://chat.example.org"),
            ("Access-Control-Request-Method", "PATCH"),
        ];
        let answer = preflight(&request("OPTIONS", &asked), &allowed).expect("a preflight");
        assert_eq!(answer.status_code, 204);
        assert_eq!(
            header(&answer, "Access-Control-Allow-Origin"),
            Some("https://chat.example.org")
        );
        assert!(
            header(&answer, "Access-Control-Allow-Headers")
                .is_some_and(|h| h.contains("Authorization"))
        );
        let stranger = [
            ("Origin", "https://evil.example"),
            ("Access-Control-Request-Method", "GET"),
        ];
        let refused = preflight(&request("OPTIONS", &stranger), &allowed).expect("a preflight");
        assert_eq!(header(&refused, "Access-Control-Allow-Origin"), None);
        assert!(
            preflight(&request("OPTIONS", &[]), &allowed).is_none(),
            "plain OPTIONS is routed"
        );
        assert!(preflight(&request("GET", &asked), &allowed).is_none());
    }

    #[test]
    fn answers_name_allowed_origins_only() {
        let allowed = vec!["https://chat.example.org".to_owned()];
        let ours = decorate(
            &request("GET", &[("Origin", "https://chat.example.org")]),
            &allowed,
            Response::text(""),
        );
        assert_eq!(
            header(&ours, "Access-Control-Allow-Origin"),
            Some("https://chat.example.org")
        );
        let theirs = decorate(
            &request("GET", &[("Origin", "https://evil.example")]),
            &allowed,
            Response::text(""),
        );
        assert_eq!(header(&theirs, "Access-Control-Allow-Origin"), None);
        let off = decorate(
            &request("GET", &[("Origin", "https://chat.example.org")]),
            &[],
            Response::text(""),
        );
        assert_eq!(header(&off, "Access-Control-Allow-Origin"), None);
    }
}
