//! Hostile input, property-based: arbitrary bytes and arbitrary JSON against every endpoint
//! that reads a body, and arbitrary values for every query parameter. The answer is always
//! success or a contract error, never a 500, and the server stays up.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Map, Value, json};

use crate::util::{TestServer, TestUser};

/// One server for all cases: starting one per case would dominate the run.
struct Target {
    server: TestServer,
    user: TestUser,
    conversation: i64,
    message: i64,
}

impl Target {
    fn start() -> Target {
        let server = TestServer::start();
        let user = server.user("Ada");
        let other = server.user("Bob");
        let conversation = server.group(&user.token, &[other.id]);
        let message = server.say(&user.token, conversation, "target");
        Target {
            server,
            user,
            conversation,
            message,
        }
    }

    fn send_body(&self, method: &str, path: &str, body: Vec<u8>) -> (u16, Value) {
        let reply = self
            .server
            .request(method, path)
            .token(&self.user.token)
            .body_bytes("application/json", body)
            .send();
        (reply.status, reply.body)
    }
}

/// Every method and path that reads a body.
fn body_routes(t: &Target) -> Vec<(&'static str, String)> {
    let c = t.conversation;
    let m = t.message;
    vec![
        ("POST", "/api/auth/register".into()),
        ("POST", "/api/auth/login".into()),
        ("POST", "/api/password/reset-request".into()),
        ("POST", "/api/password/reset".into()),
        ("PATCH", "/api/profile".into()),
        ("POST", "/api/profile/password".into()),
        ("POST", "/api/conversations".into()),
        ("POST", format!("/api/conversations/{c}/messages")),
        ("PATCH", format!("/api/conversations/{c}/messages/{m}")),
        ("POST", format!("/api/conversations/{c}/read")),
        ("POST", "/api/emotes".into()),
    ]
}

/// Every path that reads query parameters, with the parameters it reads.
fn query_routes(t: &Target) -> Vec<(String, &'static [&'static str])> {
    let c = t.conversation;
    vec![
        ("/api/profile/users".into(), &["page", "page_size", "q"]),
        ("/api/conversations".into(), &["page", "page_size"]),
        (
            format!("/api/conversations/{c}/messages"),
            &["before", "after", "limit"],
        ),
        ("/api/emotes".into(), &["page", "page_size"]),
    ]
}

/// The answer must be a success or the contract's error body; never a server fault.
fn contract(status: u16, body: &Value, what: &str) -> Result<(), TestCaseError> {
    let is_error_body = body.as_object().is_some_and(|o| {
        o.get("error").is_some_and(Value::is_string)
            && o.get("message").is_some_and(Value::is_string)
    });
    if status >= 500 || (status >= 400 && !is_error_body) {
        return Err(TestCaseError::fail(format!("{what} → {status} {body}")));
    }
    Ok(())
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|n| json!(n)),
        ".{0,40}".prop_map(Value::String),
        // Values that look like what the endpoints want, to get past the first check.
        prop::sample::select(vec![
            json!("a@b.org"),
            json!("correct horse battery"),
            json!(1),
            json!(u64::MAX),
            json!(-1),
            json!("\u{0}"),
            json!(":party:"),
            json!("👍"),
        ]),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((field_name(), inner), 0..6)
                .prop_map(|fields| Value::Object(fields.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "name",
            "email",
            "password",
            "token",
            "current_password",
            "new_password",
            "member_ids",
            "title",
            "body",
            "client_id",
            "message_id",
            "image_base64",
        ])
        .prop_map(str::to_owned),
        "[a-z_]{1,12}",
    ]
}

/// Bodies that are not JSON at all, or JSON in its nastiest forms.
fn hostile_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        (1usize..5000).prop_map(|depth| "[".repeat(depth).into_bytes()),
        (1usize..300).prop_map(|depth| format!(
            "{}1{}",
            "{\"a\":".repeat(depth),
            "}".repeat(depth)
        )
        .into_bytes()),
        Just(br#"{"email":"a@b.org","email":"x","password":"12345678","password":5}"#.to_vec()),
        Just(b"{\"name\":\"\xff\xfe\",\"email\":\"a@b.org\"}".to_vec()),
        Just(b"{\"body\":\"a\0b\",\"name\":\"\0\"}".to_vec()),
        Just(br#"{"message_id":1e400,"member_ids":[99999999999999999999999999]}"#.to_vec()),
    ]
}

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: 300,
        failure_persistence: None,
        ..Config::default()
    })
}

#[test]
fn hostile_bodies_and_queries_get_contract_answers() {
    let t = Target::start();
    let bodies = body_routes(&t);
    let queries = query_routes(&t);

    runner()
        .run(&(0..bodies.len(), arbitrary_json()), |(route, value)| {
            let (method, path) = &bodies[route];
            let (status, body) = t.send_body(method, path, value.to_string().into_bytes());
            contract(status, &body, &format!("{method} {path} {value}"))
        })
        .expect("arbitrary JSON bodies");

    runner()
        .run(&(0..bodies.len(), hostile_bytes()), |(route, bytes)| {
            let (method, path) = &bodies[route];
            let what = format!("{method} {path} {:?}", String::from_utf8_lossy(&bytes));
            let (status, body) = t.send_body(method, path, bytes);
            contract(status, &body, &what)
        })
        .expect("arbitrary bytes");

    runner()
        .run(
            &(0..queries.len(), 0usize..3, ".{0,30}"),
            |(route, which, value)| {
                let (path, params) = &queries[route];
                let name = params[which % params.len()];
                let encoded: String = value.bytes().map(|b| format!("%{b:02X}")).collect();
                let reply = t
                    .server
                    .get(&format!("{path}?{name}={encoded}"), &t.user.token);
                contract(
                    reply.status,
                    &reply.body,
                    &format!("{path}?{name}={value:?}"),
                )
            },
        )
        .expect("arbitrary query values");

    assert_eq!(
        t.server.request("GET", "/healthz").send().status,
        200,
        "still serving"
    );
}
