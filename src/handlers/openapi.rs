//! `GET /api/openapi.json`: the OpenAPI 3.1 document of the API. It is a JSON file in the
//! repository (docs/openapi.json), easier to read and diff than one built in code;
//! tests/openapi.rs keeps it true to the route table and the CI's schemathesis run to the
//! answers.

use std::sync::OnceLock;

use rouille::{Request, Response};
use sha2::{Digest, Sha256};

use crate::app::App;
use crate::error::ApiError;
use crate::http::{Params, extract};

const DOCUMENT: &str = include_str!("../../docs/openapi.json");

/// Clients revalidate rather than keep a copy, so an upgraded server's document is seen at once.
const CACHE: &str = "no-cache";

pub fn document(_: &App, request: &Request, _: &Params) -> Result<Response, ApiError> {
    let etag = etag();
    let response = if request
        .header("If-None-Match")
        .is_some_and(|tags| extract::etag_matches(tags, etag))
    {
        Response::empty_204().with_status_code(304)
    } else {
        Response::from_data("application/json; charset=utf-8", DOCUMENT)
    };
    Ok(response
        .with_unique_header("ETag", etag.to_owned())
        .with_unique_header("Cache-Control", CACHE))
}

/// A strong tag from the document's digest, computed once.
fn etag() -> &'static str {
    static ETAG: OnceLock<String> = OnceLock::new();
    ETAG.get_or_init(|| {
        let digest = Sha256::digest(DOCUMENT.as_bytes());
        let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        format!("\"{hex}\"")
    })
}
