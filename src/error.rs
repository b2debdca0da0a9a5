//! `ApiError`: every way a request can fail, and the only place a failure becomes a response.
//! The body is always the contract's `{"error", "message", "field"?}`; the cause of a 5xx
//! goes to the log, never to the client.

use std::time::Duration;

use rouille::Response;
use serde::Serialize;

use crate::auth::HashError;
use crate::ratelimit::Limited;
use crate::repo::RepoError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Malformed HTTP (framing, request line): the connection layer's refusal.
    BadRequest,
    /// The request head or body did not arrive in time.
    RequestTimeout,
    UriTooLong,
    HeadersTooLarge,
    /// A transfer coding other than chunked.
    NotImplemented,
    InvalidJson,
    ValidationFailed,
    InvalidParameter,
    InvalidToken,
    Unauthorized,
    InvalidCredentials,
    Forbidden,
    /// `--registration closed`: no new accounts.
    RegistrationClosed,
    /// `--registration invite` and no invite code in the body.
    InviteRequired,
    /// An invite code that is unknown, used up, expired or revoked.
    InviteInvalid,
    NotFound,
    MethodNotAllowed,
    EmailTaken,
    Conflict,
    PayloadTooLarge,
    /// An upload sent chunked: its length must be known before it is stored.
    LengthRequired,
    UnsupportedMediaType,
    RateLimited,
    /// Something the user owns is at its quota (emotes, their bytes): remove some first.
    QuotaExceeded,
    /// A quota over the last 24 hours (groups created) is used up: try again later.
    DailyQuotaExceeded,
    Busy,
    Internal,
}

impl Kind {
    fn status(self) -> u16 {
        match self {
            Kind::BadRequest
            | Kind::InvalidJson
            | Kind::ValidationFailed
            | Kind::InvalidParameter
            | Kind::InvalidToken => 400,
            Kind::Unauthorized | Kind::InvalidCredentials => 401,
            Kind::Forbidden
            | Kind::RegistrationClosed
            | Kind::InviteRequired
            | Kind::InviteInvalid => 403,
            Kind::NotFound => 404,
            Kind::MethodNotAllowed => 405,
            Kind::EmailTaken | Kind::Conflict | Kind::QuotaExceeded => 409,
            Kind::PayloadTooLarge => 413,
            Kind::LengthRequired => 411,
            Kind::UnsupportedMediaType => 415,
            Kind::RateLimited | Kind::DailyQuotaExceeded => 429,
            Kind::Busy => 503,
            Kind::Internal => 500,
            Kind::RequestTimeout => 408,
            Kind::UriTooLong => 414,
            Kind::HeadersTooLarge => 431,
            Kind::NotImplemented => 501,
        }
    }

    fn code(self) -> &'static str {
        match self {
            Kind::BadRequest => "bad_request",
            Kind::RequestTimeout => "request_timeout",
            Kind::UriTooLong => "uri_too_long",
            Kind::HeadersTooLarge => "headers_too_large",
            Kind::NotImplemented => "not_implemented",
            Kind::InvalidJson => "invalid_json",
            Kind::ValidationFailed => "validation_failed",
            Kind::InvalidParameter => "invalid_parameter",
            Kind::InvalidToken => "invalid_token",
            Kind::Unauthorized => "unauthorized",
            Kind::InvalidCredentials => "invalid_credentials",
            Kind::Forbidden => "forbidden",
            Kind::RegistrationClosed => "registration_closed",
            Kind::InviteRequired => "invite_required",
            Kind::InviteInvalid => "invite_invalid",
            Kind::NotFound => "not_found",
            Kind::MethodNotAllowed => "method_not_allowed",
            Kind::EmailTaken => "email_taken",
            Kind::Conflict => "conflict",
            Kind::LengthRequired => "length_required",
            Kind::PayloadTooLarge => "payload_too_large",
            Kind::UnsupportedMediaType => "unsupported_media_type",
            Kind::RateLimited => "rate_limited",
            Kind::QuotaExceeded => "quota_exceeded",
            Kind::DailyQuotaExceeded => "daily_quota_exceeded",
            Kind::Busy => "busy",
            Kind::Internal => "internal",
        }
    }
}

#[derive(Debug)]
pub struct ApiError {
    pub kind: Kind,
    message: String,
    field: Option<String>,
    /// The `Allow` header of a 405.
    allow: Option<String>,
    /// The `Retry-After` seconds of a 429.
    retry_after: Option<u64>,
    /// What went wrong inside, for the log only.
    cause: Option<String>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'static str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl ApiError {
    pub fn new(kind: Kind, message: impl Into<String>) -> ApiError {
        ApiError {
            kind,
            message: message.into(),
            field: None,
            allow: None,
            retry_after: None,
            cause: None,
        }
    }

    /// A `validation_failed` naming the body field at fault.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> ApiError {
        let mut err = ApiError::new(Kind::ValidationFailed, message);
        err.field = Some(field.to_owned());
        err
    }

    /// An `invalid_parameter` naming the query parameter at fault.
    pub fn invalid_parameter(field: &str, message: impl Into<String>) -> ApiError {
        let mut err = ApiError::new(Kind::InvalidParameter, message);
        err.field = Some(field.to_owned());
        err
    }

    pub fn not_found() -> ApiError {
        ApiError::new(Kind::NotFound, "Not found")
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(Kind::Forbidden, message)
    }

    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(Kind::Conflict, message)
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(Kind::Unauthorized, "A valid bearer token is required")
    }

    pub fn invalid_credentials() -> ApiError {
        ApiError::new(Kind::InvalidCredentials, "Invalid email or password")
    }

    pub fn rate_limited(limited: Limited) -> ApiError {
        let mut err = ApiError::new(Kind::RateLimited, "Too many attempts; try again later");
        err.retry_after = Some(limited.retry_after.as_secs().max(1));
        err
    }

    /// A client address at its connection cap, seen through a trusted proxy (a direct
    /// connection past the cap is closed without an answer).
    pub fn too_many_connections() -> ApiError {
        let mut err = ApiError::new(
            Kind::RateLimited,
            "Too many connections from this address; try again shortly",
        );
        err.retry_after = Some(1);
        err
    }

    pub fn quota_exceeded(message: impl Into<String>) -> ApiError {
        ApiError::new(Kind::QuotaExceeded, message)
    }

    /// A daily quota used up; `retry_after` is when the oldest use leaves the 24 hours.
    pub fn daily_quota_exceeded(message: impl Into<String>, retry_after: Duration) -> ApiError {
        let mut err = ApiError::new(Kind::DailyQuotaExceeded, message);
        err.retry_after = Some(retry_after.as_secs().max(1));
        err
    }

    pub fn busy() -> ApiError {
        ApiError::new(Kind::Busy, "The server is busy; try again shortly")
    }

    pub fn method_not_allowed(allowed: &[&str]) -> ApiError {
        let mut err = ApiError::new(
            Kind::MethodNotAllowed,
            "This method is not allowed on this path",
        );
        err.allow = Some(allowed.join(", "));
        err
    }

    /// A server-side failure: the client learns only that something went wrong.
    pub fn internal(cause: impl Into<String>) -> ApiError {
        let mut err = ApiError::new(Kind::Internal, "Something went wrong on the server");
        err.cause = Some(cause.into());
        err
    }

    pub fn status(&self) -> u16 {
        self.kind.status()
    }

    pub fn into_response(self) -> Response {
        if let Some(cause) = &self.cause {
            log::error!("{}: {cause}", self.kind.code());
        }
        let body = ErrorBody {
            error: self.kind.code(),
            message: &self.message,
            field: self.field.as_deref(),
        };
        let mut response = Response::json(&body).with_status_code(self.kind.status());
        match self.kind {
            Kind::Unauthorized => {
                response = response.with_additional_header("WWW-Authenticate", "Bearer");
            }
            Kind::Busy => response = response.with_additional_header("Retry-After", "1"),
            _ => {}
        }
        if let Some(allow) = self.allow {
            response = response.with_additional_header("Allow", allow);
        }
        if let Some(seconds) = self.retry_after {
            response = response.with_additional_header("Retry-After", seconds.to_string());
        }
        response
    }
}

impl From<RepoError> for ApiError {
    fn from(err: RepoError) -> ApiError {
        match err {
            RepoError::NotFound => ApiError::not_found(),
            RepoError::Conflict(_) => ApiError::new(Kind::Conflict, "That value is already in use"),
            RepoError::Busy => {
                log::warn!("database busy");
                ApiError::busy()
            }
            RepoError::Other(cause) => ApiError::internal(cause),
        }
    }
}

impl From<HashError> for ApiError {
    fn from(err: HashError) -> ApiError {
        match err {
            HashError::Busy => ApiError::busy(),
            HashError::Internal(cause) => ApiError::internal(cause),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn body_of(response: Response) -> (u16, serde_json::Value) {
        let status = response.status_code;
        let (mut reader, _) = response.data.into_reader_and_size();
        let mut text = String::new();
        reader.read_to_string(&mut text).expect("body");
        (status, serde_json::from_str(&text).expect("json"))
    }

    #[test]
    fn database_failures_answer_500_without_their_text() {
        let err = ApiError::from(RepoError::Other("no such table: users (/srv/x.db)".into()));
        let (status, body) = body_of(err.into_response());
        assert_eq!(status, 500);
        assert_eq!(body["error"], "internal");
        assert!(!body.to_string().contains("users"));
        assert!(body.get("field").is_none());
    }

    #[test]
    fn validation_errors_name_their_field() {
        let (status, body) = body_of(ApiError::invalid_field("email", "bad").into_response());
        assert_eq!(status, 400);
        assert_eq!(body["error"], "validation_failed");
        assert_eq!(body["field"], "email");
    }

    #[test]
    fn busy_hashing_answers_503_with_retry_after() {
        let response = ApiError::from(HashError::Busy).into_response();
        assert!(
            response
                .headers
                .iter()
                .any(|(k, v)| k == "Retry-After" && v == "1")
        );
        assert_eq!(body_of(response).1["error"], "busy");
    }

    #[test]
    fn unauthorized_challenges_for_a_bearer_token() {
        let response = ApiError::unauthorized().into_response();
        assert_eq!(response.status_code, 401);
        assert!(
            response
                .headers
                .iter()
                .any(|(k, v)| k == "WWW-Authenticate" && v == "Bearer")
        );
    }
}
