//! docs/API.md against the code: its `### METHOD /path` headings are exactly the routes the
//! server has. Two checks, each able to fail on its own:
//! - the running server is asked, for every documented path, which methods it allows there
//!   (a method no route has gets `405` with `Allow`): a documented route that does not exist,
//!   and an undocumented method on a documented path, both show;
//! - the route table in the source is read for its `"METHOD", "/path"` pairs: a route on a
//!   path the document never names cannot be found by asking the server, so it shows here.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use crate::util::TestServer;

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// A route as (method, pattern), the pattern with `{name}` parameters.
type Route = (String, String);

fn repository() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The `### METHOD /path` headings of docs/API.md. A heading that starts with a method but
/// is not exactly `### METHOD /path` fails the test rather than go unchecked.
fn documented_routes() -> Vec<Route> {
    let text = fs::read_to_string(repository().join("docs/API.md")).expect("docs/API.md");
    let mut routes = Vec::new();
    for line in text.lines() {
        let Some(heading) = line.strip_prefix("### ") else {
            continue;
        };
        let words: Vec<&str> = heading.split_whitespace().collect();
        if !METHODS.contains(&words[0]) {
            continue;
        }
        assert!(
            words.len() == 2 && words[1].starts_with('/'),
            "a route heading is `### METHOD /path`: {line}"
        );
        let route = (words[0].to_owned(), words[1].to_owned());
        assert!(!routes.contains(&route), "documented twice: {line}");
        routes.push(route);
    }
    routes
}

/// The `.rs` files under `dir`, recursively.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
    files
}

/// The `"METHOD", "/path"` pairs of the route table (the one file under src/ that defines
/// `ROUTES`), outside its unit tests.
fn route_table() -> BTreeSet<Route> {
    let tables: Vec<(PathBuf, String)> = rust_files(&repository().join("src"))
        .into_iter()
        .map(|path| {
            let text = fs::read_to_string(&path).expect("source");
            (path, text)
        })
        .filter(|(_, text)| text.contains("ROUTES: &["))
        .collect();
    assert_eq!(tables.len(), 1, "one file defines ROUTES: {tables:?}");
    let source = tables[0].1.split("#[cfg(test)]").next().unwrap_or("");
    let literals: Vec<&str> = source.split('"').skip(1).step_by(2).collect();
    let routes: BTreeSet<Route> = literals
        .windows(2)
        .filter(|pair| METHODS.contains(&pair[0]) && pair[1].starts_with('/'))
        .map(|pair| (pair[0].to_owned(), pair[1].to_owned()))
        .collect();
    assert!(routes.len() > 20, "the table was not read: {routes:?}");
    routes
}

/// The pattern with every `{name}` replaced by a value that decodes (`1`, or an emoji).
fn concrete(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|segment| match segment {
            "{emote}" => "%F0%9F%91%8D",
            s if s.starts_with('{') => "1",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[test]
fn every_documented_path_allows_exactly_its_documented_methods() {
    let server = TestServer::start();
    let mut methods_by_path: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (method, pattern) in documented_routes() {
        methods_by_path.entry(pattern).or_default().insert(method);
    }
    for (pattern, documented) in &methods_by_path {
        let reply = server.request("TRACE", &concrete(pattern)).send();
        assert_eq!(
            reply.status, 405,
            "{pattern} is documented but the server does not have it"
        );
        let allowed: BTreeSet<String> = reply
            .header("Allow")
            .expect("a 405 names the allowed methods")
            .split(',')
            .map(|method| method.trim().to_owned())
            .collect();
        assert_eq!(&allowed, documented, "methods of {pattern}");
    }
}

#[test]
fn every_route_in_the_route_table_is_documented() {
    let documented: BTreeSet<Route> = documented_routes().into_iter().collect();
    let table = route_table();
    let undocumented: Vec<&Route> = table.difference(&documented).collect();
    let not_in_table: Vec<&Route> = documented.difference(&table).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from docs/API.md: {undocumented:?}"
    );
    assert!(
        not_in_table.is_empty(),
        "documented routes not in the route table: {not_in_table:?}"
    );
}
