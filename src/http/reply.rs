//! Building successful responses: JSON with the right status.

use rouille::Response;
use serde::Serialize;

pub fn ok<T: Serialize>(body: &T) -> Response {
    Response::json(body)
}

pub fn created<T: Serialize>(body: &T) -> Response {
    Response::json(body).with_status_code(201)
}
