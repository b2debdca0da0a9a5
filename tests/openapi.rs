//! `GET /api/openapi.json` against the code: the document the real binary serves is the
//! repository's docs/openapi.json, is OpenAPI 3.1, and describes exactly the routes of the
//! route table (`emotechat::http::api_routes`), in both directions, and its error codes are
//! exactly those of src/error.rs. tests/docs.rs holds docs/API.md to the same table, so the
//! two documents name the same routes. Whether the answers conform to the document is the
//! CI's schemathesis run (.ci/schemathesis.sh).

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use serde_json::Value;

use crate::util::TestServer;

/// The methods an OpenAPI path item can name operations under.
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

type Route = (String, String);

fn served_document(server: &TestServer) -> Value {
    let reply = server.request("GET", "/api/openapi.json").send();
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("Content-Type"),
        Some("application/json; charset=utf-8")
    );
    serde_json::from_slice(&reply.bytes).expect("the document is JSON")
}

/// The document's operations as `(METHOD, path)`.
fn documented_routes(document: &Value) -> BTreeSet<Route> {
    let paths = document["paths"].as_object().expect("paths is an object");
    let mut routes = BTreeSet::new();
    for (path, item) in paths {
        let item = item.as_object().expect("a path item is an object");
        for method in item.keys().filter(|key| METHODS.contains(&key.as_str())) {
            routes.insert((method.to_uppercase(), path.clone()));
        }
    }
    routes
}

fn table_routes() -> BTreeSet<Route> {
    emotechat::http::api_routes()
        .into_iter()
        .map(|(method, pattern)| (method.to_owned(), pattern.to_owned()))
        .collect()
}

#[test]
fn the_served_document_is_the_repository_file_and_openapi_3_1() {
    let server = TestServer::start();
    let document = served_document(&server);
    let file = fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/openapi.json"))
        .expect("docs/openapi.json");
    let reply = server.request("GET", "/api/openapi.json").send();
    assert_eq!(
        reply.bytes, file,
        "the binary serves docs/openapi.json as it is"
    );
    let version = document["openapi"].as_str().expect("an openapi version");
    assert!(version.starts_with("3.1."), "{version}");
    assert!(document["info"]["title"].is_string());
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}

#[test]
fn the_document_is_revalidated_by_its_etag() {
    let server = TestServer::start();
    let reply = server.request("GET", "/api/openapi.json").send();
    assert_eq!(reply.header("Cache-Control"), Some("no-cache"));
    let etag = reply.header("ETag").expect("an ETag").to_owned();
    let again = server
        .request("GET", "/api/openapi.json")
        .header("If-None-Match", &etag)
        .send();
    assert_eq!(again.status, 304);
    assert!(again.bytes.is_empty());
    let other = server
        .request("GET", "/api/openapi.json")
        .header("If-None-Match", "\"another\"")
        .send();
    assert_eq!(other.status, 200);
}

#[test]
fn the_document_describes_exactly_the_route_table() {
    let server = TestServer::start();
    let documented = documented_routes(&served_document(&server));
    let table = table_routes();
    assert!(table.len() > 30, "the table was not read: {table:?}");
    let undocumented: Vec<&Route> = table.difference(&documented).collect();
    let not_in_table: Vec<&Route> = documented.difference(&table).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from docs/openapi.json: {undocumented:?}"
    );
    assert!(
        not_in_table.is_empty(),
        "docs/openapi.json describes routes the server does not have: {not_in_table:?}"
    );
}

#[test]
fn the_web_client_is_not_part_of_the_api() {
    let table = table_routes();
    for page in ["/", "/register", "/sw.js", "/assets/{version}/{name}"] {
        assert!(
            !table.contains(&("GET".to_owned(), page.to_owned())),
            "{page}"
        );
    }
    assert!(table.contains(&("GET".to_owned(), "/api/openapi.json".to_owned())));
}

/// Every `$ref` in `value`, with where it was found.
fn references<'a>(value: &'a Value, at: String, found: &mut Vec<(String, &'a str)>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                if key == "$ref" {
                    found.push((at.clone(), inner.as_str().expect("a $ref is a string")));
                } else {
                    references(inner, format!("{at}/{key}"), found);
                }
            }
        }
        Value::Array(items) => {
            for (i, inner) in items.iter().enumerate() {
                references(inner, format!("{at}/{i}"), found);
            }
        }
        _ => {}
    }
}

#[test]
fn every_reference_in_the_document_resolves() {
    let server = TestServer::start();
    let document = served_document(&server);
    let mut found = Vec::new();
    references(&document, String::new(), &mut found);
    assert!(found.len() > 50, "{}", found.len());
    for (at, reference) in found {
        let pointer = reference
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{at}: only local references: {reference}"));
        assert!(
            document.pointer(pointer).is_some(),
            "{at}: {reference} names nothing"
        );
    }
}

#[test]
fn every_operation_documents_its_errors_with_the_error_body() {
    let server = TestServer::start();
    let document = served_document(&server);
    let error_responses = document["components"]["responses"]
        .as_object()
        .expect("components.responses");
    for (name, response) in error_responses {
        let schema = &response["content"]["application/json"]["schema"];
        assert_eq!(
            schema["allOf"][0]["$ref"], "#/components/schemas/Error",
            "{name} has the contract's error body"
        );
    }
    for (method, path) in documented_routes(&document) {
        let operation = &document["paths"][&path][method.to_lowercase()];
        let responses = operation["responses"].as_object().expect("responses");
        assert!(
            responses
                .keys()
                .any(|status| status.starts_with('2') || status == "101"),
            "{method} {path} has a success answer"
        );
        for (status, response) in responses {
            if status.starts_with('4') || status.starts_with('5') {
                let reference = response["$ref"].as_str().unwrap_or_default();
                assert!(
                    reference.starts_with("#/components/responses/"),
                    "{method} {path} {status} is one of the error answers"
                );
            }
        }
        let bearer = operation["security"]
            .as_array()
            .expect("every operation says its security")
            .iter()
            .any(|scheme| scheme.get("bearer").is_some());
        assert!(
            !bearer || responses.contains_key("401"),
            "{method} {path} takes a token, so it documents 401"
        );
    }
}

/// The codes `Kind::code` in src/error.rs gives, read from its source: the `=> "code"` arms
/// of that one function.
fn server_error_codes() -> BTreeSet<String> {
    let source = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/error.rs"))
        .expect("src/error.rs");
    let start = source
        .find("fn code(self)")
        .expect("Kind::code in src/error.rs");
    let body = &source[start..];
    let body = &body[..body.find("\n    }\n").expect("the end of Kind::code")];
    body.split("=> \"")
        .skip(1)
        .map(|arm| arm.split('"').next().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn the_error_codes_are_exactly_the_servers() {
    let server = TestServer::start();
    let document = served_document(&server);
    let documented: BTreeSet<String> =
        document["components"]["schemas"]["Error"]["properties"]["error"]["enum"]
            .as_array()
            .expect("the Error schema lists its codes")
            .iter()
            .map(|code| code.as_str().expect("a code").to_owned())
            .collect();
    let server_codes = server_error_codes();
    assert!(server_codes.len() > 20, "{server_codes:?}");
    assert_eq!(
        documented, server_codes,
        "docs/openapi.json's Error.error enum against Kind::code"
    );
}
