//! HTTP/1.1 request heads and chunked bodies, parsed from bytes already read (RFC 9112), with
//! the limits that keep a hostile client from making the server buffer without bound. Pure
//! functions over byte slices, no I/O, so the fuzz targets can drive them directly.

/// Limits on a request head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadLimits {
    /// The longest request line or header line, in bytes.
    pub max_line: usize,
    /// The most header fields.
    pub max_headers: usize,
}

/// Why a request cannot be served; each maps to a status, after which the connection closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// Malformed request or framing: 400.
    BadRequest(&'static str),
    /// Request target longer than the line limit: 414.
    UriTooLong,
    /// Header line or count over the limits: 431.
    HeadersTooLarge,
    /// Body over the route's limit: 413.
    TooLarge,
    /// A chunked body where the route streams its body and needs its length first: 411.
    LengthRequired,
    /// A transfer coding other than chunked: 501.
    NotImplemented,
}

impl Reject {
    pub fn status(self) -> u16 {
        match self {
            Reject::BadRequest(_) => 400,
            Reject::UriTooLong => 414,
            Reject::HeadersTooLarge => 431,
            Reject::TooLarge => 413,
            Reject::LengthRequired => 411,
            Reject::NotImplemented => 501,
        }
    }
}

/// How the body of a request is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    None,
    Length(u64),
    Chunked,
}

/// A parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub method: String,
    pub target: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    pub headers: Vec<(String, String)>,
    pub framing: Framing,
    /// The client wants the connection kept open after this request.
    pub keep_alive: bool,
    pub expect_continue: bool,
}

/// A complete head and how many bytes it took, or `None` if more bytes are needed.
pub fn parse_head(buf: &[u8], limits: HeadLimits) -> Result<Option<(Head, usize)>, Reject> {
    let mut fields = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let mut request = httparse::Request::new(&mut fields);
    match request.parse(buf) {
        Ok(httparse::Status::Complete(length)) => {
            check_lines(&buf[..length], limits)?;
            head_from(&request).map(|head| Some((head, length)))
        }
        Ok(httparse::Status::Partial) => {
            check_lines(buf, limits)?;
            Ok(None)
        }
        Err(httparse::Error::TooManyHeaders) => Err(Reject::HeadersTooLarge),
        Err(_) => Err(Reject::BadRequest("malformed request head")),
    }
}

/// Every line of the head so far, the unfinished last one included, within the line limit
/// (which counts the line without its CRLF).
fn check_lines(head: &[u8], limits: HeadLimits) -> Result<(), Reject> {
    for (index, line) in head.split(|b| *b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.len() > limits.max_line {
            return Err(if index == 0 {
                Reject::UriTooLong
            } else {
                Reject::HeadersTooLarge
            });
        }
    }
    Ok(())
}

fn head_from(request: &httparse::Request) -> Result<Head, Reject> {
    let (Some(method), Some(target), Some(minor_version)) =
        (request.method, request.path, request.version)
    else {
        return Err(Reject::BadRequest("incomplete request line"));
    };
    if !target.starts_with('/') {
        return Err(Reject::BadRequest("the request target must be a path"));
    }
    let mut headers = Vec::with_capacity(request.headers.len());
    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    let mut close = minor_version == 0;
    let mut expect_continue = false;
    for field in request.headers.iter() {
        let value = std::str::from_utf8(field.value)
            .map_err(|_| Reject::BadRequest("header values must be UTF-8"))?
            .trim()
            .to_owned();
        let name = field.name;
        if name.eq_ignore_ascii_case("Content-Length") {
            let length = parse_length(&value)?;
            if content_length.is_some_and(|earlier| earlier != length) {
                return Err(Reject::BadRequest("conflicting Content-Length headers"));
            }
            content_length = Some(length);
        } else if name.eq_ignore_ascii_case("Transfer-Encoding") {
            if !value.eq_ignore_ascii_case("chunked") || chunked {
                return Err(Reject::NotImplemented);
            }
            chunked = true;
        } else if name.eq_ignore_ascii_case("Connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    close = true;
                } else if token.eq_ignore_ascii_case("keep-alive") && minor_version == 0 {
                    close = false;
                }
            }
        } else if name.eq_ignore_ascii_case("Expect") {
            expect_continue = value.eq_ignore_ascii_case("100-continue");
        }
        headers.push((name.to_owned(), value));
    }
    let framing = match (content_length, chunked) {
        // Both at once is how requests are smuggled past proxies: refuse it.
        (Some(_), true) => return Err(Reject::BadRequest("both Content-Length and chunked")),
        (None, true) => Framing::Chunked,
        (Some(0) | None, false) => Framing::None,
        (Some(length), false) => Framing::Length(length),
    };
    Ok(Head {
        method: method.to_owned(),
        target: target.to_owned(),
        minor_version,
        headers,
        framing,
        keep_alive: !close,
        expect_continue,
    })
}

/// A Content-Length value: digits only, no sign, no overflow.
fn parse_length(value: &str) -> Result<u64, Reject> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Reject::BadRequest("Content-Length must be a number"));
    }
    value
        .parse()
        .map_err(|_| Reject::BadRequest("Content-Length is too large"))
}

/// The longest chunk-size line accepted (size, extensions and CRLF).
const MAX_CHUNK_LINE: usize = 1024;

/// Decodes a complete chunked body from the start of `buf`: the body and how many bytes the
/// encoding took (trailers included), or `None` if more bytes are needed. A body that grows
/// past `limit` is refused as soon as its chunk sizes say so, before its data arrives.
pub fn decode_chunked(buf: &[u8], limit: usize) -> Result<Option<(Vec<u8>, usize)>, Reject> {
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let Some(line_end) = find_crlf(&buf[at..], MAX_CHUNK_LINE)? else {
            return Ok(None);
        };
        let size = chunk_size(&buf[at..at + line_end])?;
        at += line_end + 2;
        if size == 0 {
            return skip_trailers(buf, at).map(|end| end.map(|end| (body, end)));
        }
        if body.len().saturating_add(size) > limit {
            return Err(Reject::TooLarge);
        }
        let Some(data) = buf.get(at..at + size) else {
            return Ok(None);
        };
        match buf.get(at + size..at + size + 2) {
            None => return Ok(None),
            Some(b"\r\n") => {}
            Some(_) => return Err(Reject::BadRequest("chunk data must end with CRLF")),
        }
        body.extend_from_slice(data);
        at += size + 2;
    }
}

/// The offset of the next CRLF within `max` bytes, `None` if it has not arrived yet.
fn find_crlf(buf: &[u8], max: usize) -> Result<Option<usize>, Reject> {
    match buf.windows(2).position(|w| w == b"\r\n") {
        Some(end) if end <= max => Ok(Some(end)),
        Some(_) => Err(Reject::BadRequest("chunk line too long")),
        None if buf.len() > max => Err(Reject::BadRequest("chunk line too long")),
        None => Ok(None),
    }
}

fn chunk_size(line: &[u8]) -> Result<usize, Reject> {
    let digits = line.split(|b| *b == b';').next().unwrap_or_default();
    let digits = std::str::from_utf8(digits)
        .map_err(|_| Reject::BadRequest("bad chunk size"))?
        .trim_end_matches([' ', '\t']);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Reject::BadRequest("bad chunk size"));
    }
    usize::from_str_radix(digits, 16).map_err(|_| Reject::TooLarge)
}

/// Skips trailer fields up to the empty line; the offset after it, or `None` if incomplete.
fn skip_trailers(buf: &[u8], mut at: usize) -> Result<Option<usize>, Reject> {
    loop {
        let Some(end) = find_crlf(&buf[at..], MAX_CHUNK_LINE)? else {
            return Ok(None);
        };
        at += end + 2;
        if end == 0 {
            return Ok(Some(at));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: HeadLimits = HeadLimits {
        max_line: 64,
        max_headers: 4,
    };

    fn parse(text: &str) -> Result<Option<(Head, usize)>, Reject> {
        parse_head(text.as_bytes(), LIMITS)
    }

    #[test]
    fn a_complete_head_is_parsed_with_its_framing() {
        let text = "POST /a?b=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
        let (head, used) = parse(text).expect("valid").expect("complete");
        assert_eq!(used, text.len() - 5);
        assert_eq!(
            (head.method.as_str(), head.target.as_str()),
            ("POST", "/a?b=1")
        );
        assert_eq!(head.framing, Framing::Length(5));
        assert!(head.keep_alive);
        assert_eq!(parse("GET / HTTP/1.1\r\nHost: x\r\n"), Ok(None));
    }

    #[test]
    fn connection_tokens_decide_keep_alive() {
        let head = |text: &str| parse(text).expect("valid").expect("complete").0;
        assert!(!head("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").keep_alive);
        assert!(!head("GET / HTTP/1.0\r\n\r\n").keep_alive);
        assert!(head("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive);
        assert!(head("POST / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n").expect_continue);
    }

    #[test]
    fn bad_content_lengths_are_refused() {
        for value in ["abc", "-1", "+5", "1 2", "99999999999999999999999", ""] {
            let text = format!("POST / HTTP/1.1\r\nContent-Length: {value}\r\n\r\n");
            assert!(
                matches!(parse(&text), Err(Reject::BadRequest(_))),
                "{value:?}"
            );
        }
        let twice = "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n";
        assert!(matches!(parse(twice), Err(Reject::BadRequest(_))));
        let same = "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n";
        assert!(parse(same).is_ok());
        let both = "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert!(matches!(parse(both), Err(Reject::BadRequest(_))));
        let gzip = "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n";
        assert_eq!(parse(gzip), Err(Reject::NotImplemented));
    }

    #[test]
    fn long_lines_and_many_headers_are_refused_before_the_head_ends() {
        let long_target = format!("GET /{} HTTP/1.1\r\n", "a".repeat(64));
        assert_eq!(parse(&long_target), Err(Reject::UriTooLong));
        assert_eq!(
            parse(&format!("GET /{}", "a".repeat(80))),
            Err(Reject::UriTooLong)
        );
        let long_header = format!("GET / HTTP/1.1\r\nX: {}", "v".repeat(70));
        assert_eq!(parse(&long_header), Err(Reject::HeadersTooLarge));
        let many = "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n";
        assert_eq!(parse(many), Err(Reject::HeadersTooLarge));
        assert!(matches!(
            parse("GET http://x/ HTTP/1.1\r\n\r\n"),
            Err(Reject::BadRequest(_))
        ));
        assert!(matches!(
            parse("\x00\x01 junk\r\n\r\n"),
            Err(Reject::BadRequest(_))
        ));
    }

    #[test]
    fn chunked_bodies_decode_with_extensions_and_trailers() {
        let encoded = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\nNEXT";
        let (body, used) = decode_chunked(encoded, 100)
            .expect("valid")
            .expect("complete");
        assert_eq!(body, b"hello world");
        assert_eq!(&encoded[used..], b"NEXT");
        for cut in 0..encoded.len() - 4 {
            assert_eq!(
                decode_chunked(&encoded[..cut], 100),
                Ok(None),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn chunked_bodies_are_capped_and_checked() {
        assert_eq!(decode_chunked(b"b\r\n", 10), Err(Reject::TooLarge));
        assert_eq!(
            decode_chunked(b"fffffffffffffffffffffff\r\n", 10),
            Err(Reject::TooLarge)
        );
        assert_eq!(
            decode_chunked(b"5\r\nhello\r\n6\r\n", 10),
            Err(Reject::TooLarge)
        );
        assert!(matches!(
            decode_chunked(b"zz\r\n", 10),
            Err(Reject::BadRequest(_))
        ));
        assert!(matches!(
            decode_chunked(b"2\r\nabXX", 10),
            Err(Reject::BadRequest(_))
        ));
        let endless = vec![b'1'; 2000];
        assert!(matches!(
            decode_chunked(&endless, 10),
            Err(Reject::BadRequest(_))
        ));
    }
}
