//! Arbitrary bytes as a request head: the parser answers a head, "need more", or a refusal,
//! never panics, and never claims more bytes than it was given.
#![no_main]

use emotechat::http::parse::{HeadLimits, parse_head};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = HeadLimits {
        max_line: 8 * 1024,
        max_headers: 100,
    };
    if let Ok(Some((head, used))) = parse_head(data, limits) {
        assert!(used <= data.len());
        assert!(head.target.starts_with('/'));
        assert!(head.headers.len() <= limits.max_headers);
    }
});
