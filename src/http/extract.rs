//! Reading a request: JSON bodies through one size-capped reader, the bearer token, and query
//! parameters such as pagination, each turned into a contract error when malformed.

use std::io::Read;
use std::net::IpAddr;

use rouille::Request;
use serde_json::{Map, Value};

use super::forwarded::TrustedProxies;
use crate::domain::{Id, MessageId, PageRequest, Parse};
use crate::error::{ApiError, Kind};

/// The body limit of every route but emote upload.
pub const BODY_LIMIT: usize = 64 * 1024;
/// The body limit of emote upload: a 256 KiB image in base64, with room for the JSON around it.
pub const EMOTE_BODY_LIMIT: usize = 512 * 1024;

/// A request body that is a JSON object; fields are taken out one by one, each failure naming
/// its field.
#[derive(Debug)]
pub struct JsonObject(Map<String, Value>);

/// Reads the body as a JSON object of at most `limit` bytes. The declared length is checked
/// before anything is read, and the read itself stops one byte past the limit, so a client
/// cannot make the server buffer more than `limit` bytes whatever it sends.
pub fn json_object(request: &Request, limit: usize) -> Result<JsonObject, ApiError> {
    check_json_content_type(request)?;
    let too_large = || {
        ApiError::new(
            Kind::PayloadTooLarge,
            format!("The request body must be at most {limit} bytes"),
        )
    };
    if let Some(length) = request.header("Content-Length") {
        match length.trim().parse::<u64>() {
            Ok(n) if n > limit as u64 => return Err(too_large()),
            Ok(_) => {}
            Err(_) => return Err(ApiError::new(Kind::InvalidJson, "Malformed Content-Length")),
        }
    }
    let mut bytes = Vec::new();
    if let Some(body) = request.data() {
        body.take(limit as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|_| ApiError::new(Kind::InvalidJson, "The request body could not be read"))?;
    }
    if bytes.len() > limit {
        return Err(too_large());
    }
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(JsonObject(map)),
        Ok(_) => Err(ApiError::new(
            Kind::InvalidJson,
            "The body must be a JSON object",
        )),
        Err(_) => Err(ApiError::new(
            Kind::InvalidJson,
            "The body is not valid JSON",
        )),
    }
}

/// A body must say it is JSON; one that is absent and empty is left to the JSON check.
fn check_json_content_type(request: &Request) -> Result<(), ApiError> {
    let is_json = request.header("Content-Type").is_some_and(|value| {
        let media_type = value.split(';').next().unwrap_or("").trim();
        media_type.eq_ignore_ascii_case("application/json")
    });
    if is_json || (request.header("Content-Type").is_none() && !has_body(request)) {
        Ok(())
    } else {
        Err(ApiError::new(
            Kind::UnsupportedMediaType,
            "The body must be application/json",
        ))
    }
}

fn has_body(request: &Request) -> bool {
    let declared = request
        .header("Content-Length")
        .is_some_and(|n| n.trim() != "0");
    declared || request.header("Transfer-Encoding").is_some()
}

impl JsonObject {
    /// A required string field, parsed into its domain type.
    pub fn field<T: Parse>(&self, name: &str) -> Result<T, ApiError> {
        T::parse(self.string(name)?)
            .map_err(|why| ApiError::invalid_field(name, format!("{name} {}", why.0)))
    }

    /// An optional string field (absent or null is `None`), parsed into its domain type.
    pub fn optional<T: Parse>(&self, name: &str) -> Result<Option<T>, ApiError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(_) => self.field(name).map(Some),
        }
    }

    /// A required positive integer id.
    pub fn id<T: Id>(&self, name: &str) -> Result<T, ApiError> {
        self.0
            .get(name)
            .and_then(positive_id)
            .map(T::from_int)
            .ok_or_else(|| {
                ApiError::invalid_field(name, format!("{name} must be a positive integer id"))
            })
    }

    /// An optional positive integer id (absent or null is `None`).
    pub fn optional_id<T: Id>(&self, name: &str) -> Result<Option<T>, ApiError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(_) => self.id(name).map(Some),
        }
    }

    /// A required array of positive integer ids.
    pub fn ids<T: Id>(&self, name: &str) -> Result<Vec<T>, ApiError> {
        let invalid = || {
            ApiError::invalid_field(
                name,
                format!("{name} must be an array of positive integer ids"),
            )
        };
        let items = self
            .0
            .get(name)
            .and_then(Value::as_array)
            .ok_or_else(invalid)?;
        items
            .iter()
            .map(|item| positive_id(item).map(T::from_int).ok_or_else(invalid))
            .collect()
    }

    /// An optional string field taken as it is (absent or null is `None`).
    pub fn optional_string(&self, name: &str) -> Result<Option<&str>, ApiError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(_) => self.string(name).map(Some),
        }
    }

    /// An optional boolean field (absent or null is `None`).
    pub fn optional_bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(value)) => Ok(Some(*value)),
            Some(_) => Err(ApiError::invalid_field(
                name,
                format!("{name} must be true or false"),
            )),
        }
    }

    /// An optional array of positive integer ids; absent or null is none.
    pub fn optional_ids<T: Id>(&self, name: &str) -> Result<Vec<T>, ApiError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(_) => self.ids(name),
        }
    }

    /// Whether a field is absent, null, or a string of nothing but whitespace.
    pub fn is_blank(&self, name: &str) -> bool {
        match self.0.get(name) {
            None | Some(Value::Null) => true,
            Some(Value::String(text)) => text.trim().is_empty(),
            Some(_) => false,
        }
    }

    /// A required field that must be a string.
    pub fn string(&self, name: &str) -> Result<&str, ApiError> {
        match self.0.get(name) {
            Some(Value::String(text)) => Ok(text),
            Some(_) => Err(ApiError::invalid_field(
                name,
                format!("{name} must be a string"),
            )),
            None => Err(ApiError::invalid_field(name, format!("{name} is required"))),
        }
    }
}

fn positive_id(value: &Value) -> Option<i64> {
    value.as_i64().filter(|id| *id > 0)
}

/// The client's address: the peer's, unless the peer is a trusted proxy; then the one the
/// `X-Forwarded-For` lines name (see `TrustedProxies::client`).
pub fn client_address(request: &Request, trusted: &TrustedProxies) -> IpAddr {
    trusted.client(request.remote_addr().ip(), forwarded_for(request.headers()))
}

/// The values of every `X-Forwarded-For` header line, in order.
pub fn forwarded_for<'a>(
    headers: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> impl Iterator<Item = &'a str> {
    headers
        .into_iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("X-Forwarded-For"))
        .map(|(_, value)| value)
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer_token(request: &Request) -> Option<&str> {
    let value = request.header("Authorization")?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Whether an `If-None-Match` list names this ETag or is `*`; weak and strong forms of one
/// tag match (the comparison for `GET`).
pub fn etag_matches(tags: &str, etag: &str) -> bool {
    let etag = etag.trim_start_matches("W/");
    tags.split(',')
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == "*" || tag == etag)
}

/// `page` (≥ 1, default 1) and `page_size` (1–100, default 30).
pub fn page_request(request: &Request) -> Result<PageRequest, ApiError> {
    let page = number_param(request, "page", 1, PageRequest::MAX_PAGE)?.unwrap_or(1);
    let page_size = number_param(request, "page_size", 1, PageRequest::MAX_SIZE)?
        .unwrap_or(PageRequest::DEFAULT_SIZE);
    Ok(PageRequest { page, page_size })
}

/// An optional whole-number query parameter within `min..=max`: digits only, so `+1`, `1.0`,
/// `-1` and `1e3` are refused rather than guessed at.
pub fn number_param(
    request: &Request,
    name: &str,
    min: u32,
    max: u32,
) -> Result<Option<u32>, ApiError> {
    let Some(raw) = request.get_param(name) else {
        return Ok(None);
    };
    let parsed = if raw.bytes().all(|b| b.is_ascii_digit()) {
        raw.parse::<u32>().ok()
    } else {
        None
    };
    match parsed {
        Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
        _ => Err(ApiError::invalid_parameter(
            name,
            format!("{name} must be a whole number from {min} to {max}"),
        )),
    }
}

/// An optional message cursor in the query string: a message id, or 0 for "the very start"
/// (so `after=0` walks a history from its first message).
pub fn cursor_param(request: &Request, name: &str) -> Result<Option<MessageId>, ApiError> {
    let Some(raw) = request.get_param(name) else {
        return Ok(None);
    };
    match raw.parse::<i64>() {
        Ok(id) if raw.bytes().all(|b| b.is_ascii_digit()) => Ok(Some(MessageId(id))),
        _ => Err(ApiError::invalid_parameter(
            name,
            format!("{name} must be a message id"),
        )),
    }
}

/// An optional query parameter parsed into its domain type (`invalid_parameter` naming it
/// when the value breaks the type's rules).
pub fn parsed_param<T: Parse>(request: &Request, name: &str) -> Result<Option<T>, ApiError> {
    request
        .get_param(name)
        .map(|raw| {
            T::parse(&raw)
                .map_err(|why| ApiError::invalid_parameter(name, format!("{name} {}", why.0)))
        })
        .transpose()
}

/// An optional positive id in the query string.
pub fn id_param<T: Id>(request: &Request, name: &str) -> Result<Option<T>, ApiError> {
    let Some(raw) = request.get_param(name) else {
        return Ok(None);
    };
    match raw.parse::<i64>() {
        Ok(id) if id > 0 && raw.bytes().all(|b| b.is_ascii_digit()) => Ok(Some(T::from_int(id))),
        _ => Err(ApiError::invalid_parameter(
            name,
            format!("{name} must be a positive integer id"),
        )),
    }
}

/// An optional text query parameter of at most `max_chars` characters.
pub fn text_param(
    request: &Request,
    name: &str,
    max_chars: usize,
) -> Result<Option<String>, ApiError> {
    match request.get_param(name) {
        Some(text) if text.chars().count() > max_chars => Err(ApiError::invalid_parameter(
            name,
            format!("{name} must be at most {max_chars} characters"),
        )),
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Email;

    fn post(headers: Vec<(&str, &str)>, body: &[u8]) -> Request {
        let headers = headers
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Request::fake_http("POST", "/x", headers, body.to_vec())
    }

    fn code(result: Result<JsonObject, ApiError>) -> Kind {
        result.expect_err("should fail").kind
    }

    #[test]
    fn json_bodies_need_the_json_content_type() {
        let body = br#"{"a":1}"#;
        let json = ("Content-Type", "application/json; charset=utf-8");
        assert!(json_object(&post(vec![json], body), BODY_LIMIT).is_ok());
        let upper = ("Content-Type", "Application/JSON");
        assert!(json_object(&post(vec![upper], body), BODY_LIMIT).is_ok());
        let text = ("Content-Type", "text/plain");
        assert_eq!(
            code(json_object(&post(vec![text], body), BODY_LIMIT)),
            Kind::UnsupportedMediaType
        );
        let length = ("Content-Length", "7");
        assert_eq!(
            code(json_object(&post(vec![length], body), BODY_LIMIT)),
            Kind::UnsupportedMediaType
        );
    }

    #[test]
    fn bodies_are_capped_at_the_limit() {
        let json = ("Content-Type", "application/json");
        let at_limit = format!("{{\"a\":\"{}\"}}", "x".repeat(16 - 8));
        assert_eq!(at_limit.len(), 16);
        assert!(json_object(&post(vec![json], at_limit.as_bytes()), 16).is_ok());
        let past = format!("{at_limit} ");
        assert_eq!(
            code(json_object(&post(vec![json], past.as_bytes()), 16)),
            Kind::PayloadTooLarge
        );
        let declared = ("Content-Length", "17");
        assert_eq!(
            code(json_object(&post(vec![json, declared], b"{}"), 16)),
            Kind::PayloadTooLarge
        );
    }

    #[test]
    fn non_objects_and_broken_json_are_invalid_json() {
        let json = ("Content-Type", "application/json");
        for body in [&b"[1]"[..], b"\"text\"", b"{", b"", b"{\"a\":\"\xff\"}"] {
            assert_eq!(
                code(json_object(&post(vec![json], body), BODY_LIMIT)),
                Kind::InvalidJson
            );
        }
        let deep = "[".repeat(10_000);
        assert_eq!(
            code(json_object(&post(vec![json], deep.as_bytes()), BODY_LIMIT)),
            Kind::InvalidJson
        );
    }

    #[test]
    fn fields_report_missing_wrong_type_and_rule_breaks() {
        let json = ("Content-Type", "application/json");
        let object = json_object(&post(vec![json], br#"{"email":5,"other":"x"}"#), BODY_LIMIT)
            .expect("object");
        let missing = object.field::<Email>("name").expect_err("missing");
        assert_eq!(missing.kind, Kind::ValidationFailed);
        assert!(object.field::<Email>("email").is_err());
        assert!(object.field::<Email>("other").is_err());
    }

    #[test]
    fn etags_match_in_lists_weak_forms_and_star() {
        assert!(etag_matches("\"abc\"", "\"abc\""));
        assert!(etag_matches("\"x\", W/\"abc\"", "\"abc\""));
        assert!(etag_matches("\"abc\"", "W/\"abc\""));
        assert!(etag_matches("*", "\"abc\""));
        assert!(!etag_matches("\"abd\"", "\"abc\""));
    }

    #[test]
    fn bearer_tokens_are_read_case_insensitively() {
        let request = |value: &str| {
            Request::fake_http(
                "GET",
                "/",
                vec![("Authorization".into(), value.into())],
                vec![],
            )
        };
        assert_eq!(bearer_token(&request("Bearer abc")), Some("abc"));
        assert_eq!(bearer_token(&request("bearer  abc ")), Some("abc"));
        assert_eq!(bearer_token(&request("Basic abc")), None);
        assert_eq!(bearer_token(&request("Bearer ")), None);
    }

    #[test]
    fn forwarded_addresses_count_only_from_trusted_proxies() {
        let from = |peer: &str, lines: &[&str]| {
            let headers = lines
                .iter()
                .map(|line| ("x-forwarded-for".to_owned(), (*line).to_owned()))
                .collect();
            Request::fake_http_from(peer.parse().expect("addr"), "GET", "/", headers, vec![])
        };
        let proxy = TrustedProxies::new(vec!["10.0.0.0/8".parse().expect("range")]);
        let spoofed = from("203.0.113.5:1000", &["1.2.3.4"]);
        assert_eq!(client_address(&spoofed, &proxy).to_string(), "203.0.113.5");
        // Every header line counts, not only the first.
        let proxied = from(
            "10.0.0.1:1000",
            &["1.2.3.4, 198.51.100.7", "192.0.2.8, 10.0.0.1"],
        );
        assert_eq!(client_address(&proxied, &proxy).to_string(), "192.0.2.8");
        let garbage = from("10.0.0.1:1000", &["not an address"]);
        assert_eq!(client_address(&garbage, &proxy).to_string(), "10.0.0.1");
    }

    #[test]
    fn page_parameters_are_strict() {
        let get = |query: &str| Request::fake_http("GET", format!("/x?{query}"), vec![], vec![]);
        assert_eq!(
            page_request(&get("")).ok(),
            Some(PageRequest {
                page: 1,
                page_size: 30
            })
        );
        assert_eq!(
            page_request(&get("page=2&page_size=100")).ok(),
            Some(PageRequest {
                page: 2,
                page_size: 100
            })
        );
        for bad in [
            "page=0",
            "page=-1",
            "page=abc",
            "page=",
            "page=1.5",
            "page=+1",
            "page_size=0",
            "page_size=101",
            "page_size=1e2",
            "page=99999999999999999999",
        ] {
            assert_eq!(
                page_request(&get(bad)).expect_err(bad).kind,
                Kind::InvalidParameter,
                "{bad}"
            );
        }
    }
}
