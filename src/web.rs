//! The web client, compiled into the binary: the one table of its files, and their served
//! forms, prepared once at start-up.
//!
//! Assets are served under `/assets/<version>/<name>`, where the version is a digest of every
//! file (the page and the service worker included), so a URL's content never changes:
//! browsers may keep them for a year without asking again (`immutable`), and a new build
//! moves all of them to a new version at once. The modules import each other by relative
//! paths (`./api.js`), which resolve under the same version. Only the page itself
//! (`index.html`, with `%ASSETS%` replaced by the versioned path) is revalidated on every
//! load. Text is gzipped once, here, for clients that accept it.

use std::io::Write;
use std::sync::Arc;

use flate2::Compression;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};

/// The page every client route serves; `%ASSETS%` becomes `/assets/<version>`.
const INDEX: &str = include_str!("../web/index.html");

/// The service worker, served at `/sw.js` so that its scope is the whole site; `%VERSION%`
/// becomes the version and `%FILES%` the list of this build's asset paths.
const WORKER: &str = include_str!("../web/sw.js");

/// Every asset: its name under `/assets/<version>/`, content type and bytes.
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "style.css",
        "text/css; charset=utf-8",
        include_bytes!("../web/style.css"),
    ),
    (
        "icon.svg",
        "image/svg+xml",
        include_bytes!("../web/icon.svg"),
    ),
    (
        "icon-192.png",
        "image/png",
        include_bytes!("../web/icon-192.png"),
    ),
    (
        "icon-512.png",
        "image/png",
        include_bytes!("../web/icon-512.png"),
    ),
    (
        "icon-maskable-512.png",
        "image/png",
        include_bytes!("../web/icon-maskable-512.png"),
    ),
    (
        "manifest.webmanifest",
        "application/manifest+json",
        include_bytes!("../web/manifest.webmanifest"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../web/app.js"),
    ),
    (
        "api.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../web/api.js"),
    ),
    (
        "dom.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../web/dom.js"),
    ),
    (
        "stream.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../web/stream.js"),
    ),
    (
        "signed_out.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../web/signed_out.js"),
    ),
    (
        "message.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../web/message.js"),
    ),
    (
        "outbox.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../web/outbox.js"),
    ),
    (
        "panels.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../web/panels.js"),
    ),
    (
        "search.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../web/search.js"),
    ),
    (
        "replies.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../web/replies.js"),
    ),
    (
        "groups.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../web/groups.js"),
    ),
    (
        "attachments.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../web/attachments.js"),
    ),
    (
        "chat.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../web/chat.js"),
    ),
    (
        "update.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../web/update.js"),
    ),
];

/// One file as served: identity bytes, gzipped bytes if that is smaller, and its validator.
/// The bytes are shared, so a response reads them where they are instead of copying them.
pub struct Served {
    pub content_type: &'static str,
    pub bytes: Arc<[u8]>,
    pub gzipped: Option<Arc<[u8]>>,
    /// A weak validator (`W/"…"`): both encodings are the same content.
    pub etag: String,
}

impl Served {
    fn new(content_type: &'static str, bytes: Vec<u8>) -> Served {
        let etag = format!("W/\"{}\"", short_digest(&[&bytes]));
        let gzipped = gzip(&bytes)
            .filter(|packed| packed.len() < bytes.len())
            .map(Arc::from);
        Served {
            content_type,
            bytes: Arc::from(bytes),
            gzipped,
            etag,
        }
    }
}

/// The client's files, ready to serve.
pub struct WebClient {
    version: String,
    page: Served,
    worker: Served,
    assets: Vec<(&'static str, Served)>,
}

impl WebClient {
    pub fn build() -> WebClient {
        let version = version_of(INDEX, WORKER, FILES);
        let page = INDEX.replace("%ASSETS%", &format!("/assets/{version}"));
        let paths: Vec<String> = FILES
            .iter()
            .map(|(name, _, _)| format!("\"/assets/{version}/{name}\""))
            .collect();
        let worker = WORKER
            .replace("%VERSION%", &version)
            .replace("%FILES%", &format!("[{}]", paths.join(", ")));
        WebClient {
            page: Served::new("text/html; charset=utf-8", page.into_bytes()),
            worker: Served::new("text/javascript; charset=utf-8", worker.into_bytes()),
            assets: FILES
                .iter()
                .map(|(name, content_type, bytes)| {
                    (*name, Served::new(content_type, bytes.to_vec()))
                })
                .collect(),
            version,
        }
    }

    /// The digest that names this build's assets (`/assets/<version>/…`).
    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn page(&self) -> &Served {
        &self.page
    }

    pub fn worker(&self) -> &Served {
        &self.worker
    }

    /// The asset `name` of this build; `None` for another version or an unknown name.
    pub fn asset(&self, version: &str, name: &str) -> Option<&Served> {
        if version != self.version {
            return None;
        }
        self.assets
            .iter()
            .find(|(known, _)| *known == name)
            .map(|(_, served)| served)
    }
}

/// The digest of the page, the worker and every asset. The page and the worker count too:
/// the worker keeps the page in a cache named by the version, so a changed page must make a
/// new version (and so a new worker, which drops the old cache).
fn version_of(index: &str, worker: &str, files: &[(&str, &str, &[u8])]) -> String {
    let contents: Vec<&[u8]> = [index.as_bytes(), worker.as_bytes()]
        .into_iter()
        .chain(
            files
                .iter()
                .flat_map(|(name, _, bytes)| [name.as_bytes(), *bytes]),
        )
        .collect();
    short_digest(&contents)
}

/// The first 16 hex digits of the SHA-256 of the parts, in order.
fn short_digest(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hasher.finalize()[..8]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn gzip(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(bytes).ok()?;
    encoder.finish().ok()
}

/// Whether an `Accept-Encoding` header allows gzip: named (or `*`) without `q=0`, and not
/// refused by name.
pub fn accepts_gzip(header: Option<&str>) -> bool {
    let Some(value) = header else {
        return false;
    };
    let codings: Vec<(&str, bool)> = value.split(',').map(coding_and_refusal).collect();
    let named = |coding: &str| codings.iter().find(|(c, _)| c.eq_ignore_ascii_case(coding));
    match named("gzip").or_else(|| named("*")) {
        Some((_, refused)) => !refused,
        None => false,
    }
}

/// One `Accept-Encoding` entry: its coding, and whether it says `q=0`.
fn coding_and_refusal(entry: &str) -> (&str, bool) {
    let mut parts = entry.split(';').map(str::trim);
    let coding = parts.next().unwrap_or("");
    let refused = parts.any(|param| {
        param
            .strip_prefix("q=")
            .and_then(|q| q.parse::<f32>().ok())
            .is_some_and(|q| q <= 0.0)
    });
    (coding, refused)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::GzDecoder;
    use std::io::Read;

    #[test]
    fn the_page_points_at_this_builds_assets() {
        let client = WebClient::build();
        let page = String::from_utf8(client.page().bytes.to_vec()).expect("utf-8");
        assert!(!page.contains("%ASSETS%"));
        let app = format!("/assets/{}/app.js", client.version);
        assert!(page.contains(&app), "{page}");
        assert!(client.asset(&client.version, "app.js").is_some());
        assert!(client.asset("0000000000000000", "app.js").is_none());
        assert!(client.asset(&client.version, "index.html").is_none());
    }

    #[test]
    fn the_worker_keeps_every_file_of_this_build() {
        let client = WebClient::build();
        let worker = String::from_utf8(client.worker().bytes.to_vec()).expect("utf-8");
        assert!(!worker.contains("%VERSION%") && !worker.contains("%FILES%"));
        assert!(worker.contains(&format!("const VERSION = '{}';", client.version)));
        for (name, _, _) in FILES {
            assert!(
                worker.contains(&format!("\"/assets/{}/{name}\"", client.version)),
                "{name}"
            );
        }
    }

    #[test]
    fn a_change_to_the_page_the_worker_or_an_asset_makes_a_new_version() {
        let version = version_of(INDEX, WORKER, FILES);
        assert_ne!(version_of("<p>changed</p>", WORKER, FILES), version);
        assert_ne!(version_of(INDEX, "// changed", FILES), version);
        assert_ne!(version_of(INDEX, WORKER, &FILES[1..]), version);
        assert_eq!(version_of(INDEX, WORKER, FILES), version);
    }

    #[test]
    fn gzipped_forms_unpack_to_the_same_bytes() {
        let client = WebClient::build();
        let css = client.asset(&client.version, "style.css").expect("css");
        let packed = css.gzipped.as_ref().expect("css compresses");
        let mut unpacked = Vec::new();
        GzDecoder::new(&packed[..])
            .read_to_end(&mut unpacked)
            .expect("gunzip");
        assert_eq!(unpacked, &*css.bytes);
    }

    #[test]
    fn every_asset_has_its_own_validator() {
        let client = WebClient::build();
        let mut tags: Vec<&str> = client.assets.iter().map(|(_, s)| s.etag.as_str()).collect();
        tags.sort_unstable();
        tags.dedup();
        assert_eq!(tags.len(), FILES.len());
    }

    #[test]
    fn gzip_is_accepted_when_named_without_a_zero_quality() {
        assert!(accepts_gzip(Some("gzip, deflate, br")));
        assert!(accepts_gzip(Some("br;q=1.0, GZIP;q=0.5")));
        assert!(accepts_gzip(Some("*")));
        assert!(!accepts_gzip(Some("gzip;q=0")));
        assert!(!accepts_gzip(Some("gzip;q=0, *")));
        assert!(!accepts_gzip(Some("br, deflate")));
        assert!(!accepts_gzip(Some("xgzip")));
        assert!(!accepts_gzip(None));
    }
}
