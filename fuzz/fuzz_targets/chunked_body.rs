//! Arbitrary bytes as a chunked body: the decoder answers a body within the limit, "need
//! more", or a refusal, never panics, and consumes no more than it was given.
#![no_main]

use emotechat::http::parse::decode_chunked;
use libfuzzer_sys::fuzz_target;

const LIMIT: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((body, used))) = decode_chunked(data, LIMIT) {
        assert!(body.len() <= LIMIT);
        assert!(used <= data.len());
        assert!(body.len() <= used);
    }
});
