//! Parsing a request head with httparse and deciding its body framing, with the same
//! rejections (and llhttp error codes) that Node's parser gives.

use std::ops::Range;

use crate::wire::wire_enum;

wire_enum! {
    /// Why a request was refused. The engine only tells which rejection it is; the napi glue names
    /// each one as Node's parser (llhttp) does, with its `HPE_*` code and reason, for `clientError`.
    /// The discriminants are the wire values of CLIENT_ERROR events (`events`).
    pub enum RequestError {
        /// The head is larger than `maxHeaderSize` (Node answers 431).
        HeaderOverflow = 1,
        InvalidHeaderToken,
        InvalidHeaderValue,
        LfExpected,
        InvalidMethod,
        InvalidVersion,
        InvalidStatus,
        InvalidContentLength,
        DuplicateContentLength,
        TransferEncodingWithContentLength,
        /// `Transfer-Encoding` whose final coding is not `chunked`.
        InvalidTransferEncoding,
        InvalidChunkSize,
        /// A chunk's data is not followed by CRLF, or a size line ends in a bare LF.
        ChunkCrlfExpected,
        /// Chunk extensions past 16 KiB (Node answers 413).
        ChunkExtensionsOverflow,
        /// `headersTimeout` or `requestTimeout` ran out (Node answers 408).
        Timeout,
        /// The request line ends in a bare LF.
        ExpectedCrlfAfterVersion,
        /// A header line ends in a bare LF.
        CrExpected,
        /// Whitespace before the first header line.
        UnexpectedSpace,
        /// A header line folded onto the next (obs-fold).
        ObsFold,
        /// NUL, DEL or a byte above 0x7f in the target.
        InvalidUrlPath,
        /// A control character or tab in the target.
        InvalidUrlCharacters,
        /// The version is not `HTTP/` (lowercase, or a space inside the target).
        InvalidConstant,
        /// `Content-Length` after `Transfer-Encoding`, or in the trailers.
        ContentLengthWithTransferEncoding,
        /// A coding after `chunked` (`chunked` twice, `chunked, gzip`), or `Transfer-Encoding`
        /// in the trailers.
        InvalidTransferEncodingValue,
        /// A chunk size line ends in a bare LF.
        ChunkCrExpected,
        /// A chunk size with more hex digits than a body this server takes.
        ChunkSizeOverflow,
        /// The client's FIN came inside a request head or a body of known length.
        InvalidEofState,
    }
}

/// Why one parse attempt stopped: a refusal, or a header array too small for this head.
enum Attempt {
    Refused(Refusal),
    HeaderArrayFull,
}

impl From<RequestError> for Attempt {
    fn from(e: RequestError) -> Self {
        Attempt::Refused(Refusal::Other(e))
    }
}

/// How the request body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    None,
    Length(u64),
    Chunked,
    /// With `insecureHTTPParser`, a `Transfer-Encoding` whose final coding is not `chunked`:
    /// llhttp reads the body until the connection closes.
    UntilClose,
    /// llhttp takes the head and then refuses its body: the request is dispatched, then the
    /// client error follows (a `Transfer-Encoding` whose final coding is not `chunked`).
    Refused(RequestError),
}

/// A parsed head, as byte ranges into the buffer it was parsed from (no copies), or into its
/// rewritten copy when httparse could not read the original (`normalize`).
#[derive(Debug)]
pub struct Head {
    pub method: Range<usize>,
    pub target: Range<usize>,
    pub major_version: u8,
    pub minor_version: u8,
    pub headers: Vec<(Range<usize>, Range<usize>)>,
    pub framing: Framing,
    pub keep_alive: bool,
    pub upgrade: bool,
    /// Bytes of the buffer the head occupied.
    pub len: usize,
    /// The rewritten copy the ranges point into, if any.
    pub rewritten: Option<Box<[u8]>>,
}

impl Head {
    /// The bytes the ranges point into: `buf` (what the head was parsed from) or the copy.
    pub fn source<'a>(&'a self, buf: &'a [u8]) -> &'a [u8] {
        self.rewritten.as_deref().unwrap_or(buf)
    }
}

/// Headers parsed on the stack before falling back to a heap array.
const INLINE_HEADERS: usize = 64;

/// How strictly, and within what size, heads are parsed.
#[derive(Debug, Clone, Copy)]
pub struct ParseLimits {
    /// `maxHeaderSize`, counted as Node counts it: the target, header names and values.
    pub max_size: usize,
    /// Node's `insecureHTTPParser`.
    pub lenient: bool,
}

impl ParseLimits {
    /// Raw bytes a head may take while it arrives. Node counts only the target, names and
    /// values; the syntax around them (": ", CRLF, method, version) is bounded here by four
    /// bytes a line, the least a line can cost, so memory stays bounded as in Node.
    fn raw_max(self) -> usize {
        self.max_size.saturating_mul(4).saturating_add(1024)
    }
}

/// Parses a request head from `buf`. `Ok(None)` means more bytes are needed; a head larger than
/// `max_size` is rejected as Node rejects it (431 via `HPE_HEADER_OVERFLOW`).
pub fn parse_head(buf: &[u8], limits: ParseLimits) -> Result<Option<Head>, RequestError> {
    crate::strict::check_head(buf, limits.lenient)?;
    match parse_sized(buf, limits, None) {
        Err(Refusal::Httparse(e)) if rewritable(e, limits.lenient) => parse_rewritten(buf, limits),
        Err(Refusal::Httparse(e)) => Err(map_httparse(e)),
        Err(Refusal::Other(e)) => Err(e),
        Ok(head) => Ok(head),
    }
}

/// httparse's refusals that a head llhttp takes can cause (see `normalize`).
fn rewritable(e: httparse::Error, lenient: bool) -> bool {
    use httparse::Error::*;
    match e {
        Version | Token => true,
        HeaderName | HeaderValue => lenient,
        _ => false,
    }
}

fn parse_rewritten(buf: &[u8], limits: ParseLimits) -> Result<Option<Head>, RequestError> {
    let Some(mut copy) = crate::normalize::normalize(buf, limits.lenient)? else {
        return if buf.len() > limits.raw_max() || partial_count(buf) >= limits.max_size {
            Err(RequestError::HeaderOverflow)
        } else {
            Ok(None)
        };
    };
    let version = (copy.major, copy.minor);
    let head = match parse_sized(&copy.bytes, limits, Some(version)) {
        Ok(Some(head)) => head,
        // The copy ends in its empty line, so httparse has all of it.
        Ok(None) => return Err(RequestError::InvalidHeaderToken),
        Err(Refusal::Httparse(e)) => return Err(map_httparse(e)),
        Err(Refusal::Other(e)) => return Err(e),
    };
    copy.restore();
    Ok(Some(Head {
        len: copy.end,
        rewritten: Some(copy.bytes.into_boxed_slice()),
        ..head
    }))
}

/// Why httparse's parse, or the checks after it, refused a head.
enum Refusal {
    Httparse(httparse::Error),
    Other(RequestError),
}

impl From<RequestError> for Refusal {
    fn from(e: RequestError) -> Self {
        Refusal::Other(e)
    }
}

/// Parses with a header array on the stack, and on the heap if the head has more headers.
/// `version` overrides the one httparse read (a rewritten head's real version).
fn parse_sized(
    buf: &[u8],
    limits: ParseLimits,
    version: Option<(u8, u8)>,
) -> Result<Option<Head>, Refusal> {
    let mut inline = [httparse::EMPTY_HEADER; INLINE_HEADERS];
    match parse_with(buf, &mut inline, limits, version) {
        Err(Attempt::HeaderArrayFull) => {
            // Each counted header line adds at least one byte (its name) to the count and
            // takes at least four raw bytes, which bounds the array both ways.
            let lines = (buf.len() / 4 + 1).min(limits.max_size);
            let mut heap = vec![httparse::EMPTY_HEADER; lines.max(INLINE_HEADERS * 2)];
            match parse_with(buf, &mut heap, limits, version) {
                Err(Attempt::HeaderArrayFull) => Err(RequestError::HeaderOverflow.into()),
                Err(Attempt::Refused(r)) => Err(r),
                Ok(head) => Ok(head),
            }
        }
        Err(Attempt::Refused(r)) => Err(r),
        Ok(head) => Ok(head),
    }
}

fn parse_with<'b>(
    buf: &'b [u8],
    headers: &mut [httparse::Header<'b>],
    limits: ParseLimits,
    version: Option<(u8, u8)>,
) -> Result<Option<Head>, Attempt> {
    let mut req = httparse::Request::new(headers);
    let status = match req.parse(buf) {
        Ok(s) => s,
        Err(httparse::Error::TooManyHeaders) => return Err(Attempt::HeaderArrayFull),
        Err(e) => {
            // An oversized head that is still incomplete is reported as overflow, not garbage.
            if buf.len() > limits.raw_max() && !matches!(e, httparse::Error::Token) {
                return Err(RequestError::HeaderOverflow.into());
            }
            return Err(Attempt::Refused(Refusal::Httparse(e)));
        }
    };
    let len = match status {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => {
            return if buf.len() > limits.raw_max() || partial_count(buf) >= limits.max_size {
                Err(RequestError::HeaderOverflow.into())
            } else {
                Ok(None)
            };
        }
    };
    let base = buf.as_ptr() as usize;
    let range = |s: &[u8]| {
        let start = s.as_ptr() as usize - base;
        start..start + s.len()
    };
    let method = req.method.map(|m| range(m.as_bytes())).unwrap_or(0..0);
    let target = req.path.map(|p| range(p.as_bytes())).unwrap_or(0..0);
    let (major_version, minor_version) = version.unwrap_or((1, req.version.unwrap_or(1)));
    let counted = target.len()
        + req
            .headers
            .iter()
            .map(|h| h.name.len() + h.value.len())
            .sum::<usize>();
    if counted >= limits.max_size {
        return Err(RequestError::HeaderOverflow.into());
    }

    let mut framing = Framing::None;
    let mut content_length: Option<u64> = None;
    let mut te = TransferCoding::default();
    let mut conn_close = false;
    let mut conn_keep_alive = false;
    let mut conn_upgrade = false;
    let mut has_upgrade = false;
    let mut out = Vec::with_capacity(req.headers.len());
    for h in req.headers.iter() {
        let name = h.name.as_bytes();
        let value = h.value;
        if name.eq_ignore_ascii_case(b"content-length") {
            if content_length.is_some() {
                return Err(RequestError::DuplicateContentLength.into());
            }
            // llhttp names the second of the two framing headers it meets.
            if te.seen && !limits.lenient {
                return Err(RequestError::ContentLengthWithTransferEncoding.into());
            }
            content_length = Some(parse_content_length(value)?);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            if content_length.is_some() && !limits.lenient {
                return Err(RequestError::TransferEncodingWithContentLength.into());
            }
            te.add(value, limits.lenient)?;
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in value.split(|&b| b == b',') {
                let token = trim(token);
                conn_close |= token.eq_ignore_ascii_case(b"close");
                conn_keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
                conn_upgrade |= token.eq_ignore_ascii_case(b"upgrade");
            }
        } else if name.eq_ignore_ascii_case(b"upgrade") {
            has_upgrade = true;
        }
        out.push((range(name), range(value)));
    }
    if te.seen {
        // With insecureHTTPParser, Transfer-Encoding wins over Content-Length, as in llhttp.
        framing = if te.chunked_last {
            Framing::Chunked
        } else if limits.lenient {
            Framing::UntilClose
        } else {
            Framing::Refused(RequestError::InvalidTransferEncoding)
        };
    } else if let Some(n) = content_length {
        if n > 0 {
            framing = Framing::Length(n);
        }
    }
    let is_connect = buf[method.clone()].eq_ignore_ascii_case(b"CONNECT");
    // llhttp's rule: a version with both digits above zero keeps the connection by default.
    let keep_alive = if major_version > 0 && minor_version > 0 {
        !conn_close
    } else {
        conn_keep_alive && !conn_close
    };
    Ok(Some(Head {
        method,
        target,
        major_version,
        minor_version,
        headers: out,
        framing,
        keep_alive,
        upgrade: is_connect || (conn_upgrade && has_upgrade),
        len,
        rewritten: None,
    }))
}

/// What the `Transfer-Encoding` headers said so far.
#[derive(Default)]
struct TransferCoding {
    seen: bool,
    chunked_seen: bool,
    chunked_last: bool,
}

impl TransferCoding {
    /// Only the final coding decides the framing (RFC 9112 6.3); llhttp refuses any coding
    /// after `chunked` (`chunked` twice included) unless lenient.
    fn add(&mut self, value: &[u8], lenient: bool) -> Result<(), RequestError> {
        self.seen = true;
        for token in value.split(|&b| b == b',').map(trim) {
            if self.chunked_seen && !lenient {
                return Err(RequestError::InvalidTransferEncodingValue);
            }
            let chunked = token.eq_ignore_ascii_case(b"chunked");
            self.chunked_seen |= chunked;
            self.chunked_last = chunked;
        }
        Ok(())
    }
}

/// Node's count for a head still arriving, from its raw bytes: at least four bytes of every
/// complete line are syntax (": " and CRLF), and the request line's method and version are not
/// counted either (at least 12 bytes: "GET " and " HTTP/1.1").
fn partial_count(buf: &[u8]) -> usize {
    let lines = buf.iter().filter(|&&b| b == b'\n').count();
    buf.len().saturating_sub(lines * 4 + 12)
}

fn map_httparse(e: httparse::Error) -> RequestError {
    use httparse::Error::*;
    match e {
        HeaderName => RequestError::InvalidHeaderToken,
        HeaderValue => RequestError::InvalidHeaderValue,
        NewLine => RequestError::LfExpected,
        Token => RequestError::InvalidMethod,
        Version => RequestError::InvalidVersion,
        TooManyHeaders => RequestError::HeaderOverflow,
        Status => RequestError::InvalidStatus,
    }
}

pub(crate) fn parse_content_length(value: &[u8]) -> Result<u64, RequestError> {
    const INVALID: RequestError = RequestError::InvalidContentLength;
    let digits = trim(value);
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(INVALID);
    }
    digits
        .iter()
        .try_fold(0u64, |acc, d| {
            acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })
        .ok_or(INVALID)
}

/// `s` without ASCII whitespace at either end.
pub(crate) fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    &s[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODE: ParseLimits = ParseLimits {
        max_size: 16 * 1024,
        lenient: false,
    };

    fn parse(s: &str) -> Result<Option<Head>, RequestError> {
        parse_head(s.as_bytes(), NODE)
    }

    #[test]
    fn keeps_raw_target_and_header_case() {
        let raw = "GET /a%20b?x=1#f HTTP/1.1\r\nHost: h\r\nX-Custom: V\r\n\r\n";
        let head = parse(raw).unwrap().unwrap();
        assert_eq!(&raw[head.target.clone()], "/a%20b?x=1#f");
        assert_eq!(&raw[head.headers[1].0.clone()], "X-Custom");
        assert_eq!(head.len, raw.len());
        assert!(head.keep_alive);
        assert_eq!(head.framing, Framing::None);
    }

    #[test]
    fn partial_head_asks_for_more() {
        assert!(parse("GET / HTTP/1.1\r\nHost: h\r\n").unwrap().is_none());
    }

    #[test]
    fn http10_closes_unless_keep_alive_asked() {
        assert!(!parse("GET / HTTP/1.0\r\n\r\n").unwrap().unwrap().keep_alive);
        let ka = parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
        assert!(ka.unwrap().unwrap().keep_alive);
        let close = parse("GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
        assert!(!close.unwrap().unwrap().keep_alive);
    }

    #[test]
    fn framing_from_length_and_chunked() {
        let cl = parse("POST / HTTP/1.1\r\nContent-Length: 12\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(cl.framing, Framing::Length(12));
        let te = parse("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
        assert_eq!(te.unwrap().unwrap().framing, Framing::Chunked);
    }

    #[test]
    fn rejects_smuggling_shapes() {
        let both =
            parse("POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(
            both.unwrap_err(),
            RequestError::TransferEncodingWithContentLength
        );
        let dup = parse("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n");
        assert_eq!(dup.unwrap_err(), RequestError::DuplicateContentLength);
        let bad = parse("POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n");
        assert_eq!(bad.unwrap_err(), RequestError::InvalidContentLength);
        let te = parse("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n");
        assert_eq!(te.unwrap_err(), RequestError::InvalidTransferEncodingValue);
        let gzip = parse("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n");
        assert_eq!(
            gzip.unwrap().unwrap().framing,
            Framing::Refused(RequestError::InvalidTransferEncoding),
            "the head is dispatched, then its body refused, as llhttp does"
        );
    }

    #[test]
    fn oversized_head_is_header_overflow() {
        let big = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(20_000));
        assert_eq!(parse(&big).unwrap_err(), RequestError::HeaderOverflow);
        let partial = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(20_000));
        assert_eq!(parse(&partial).unwrap_err(), RequestError::HeaderOverflow);
    }

    #[test]
    fn max_header_size_counts_target_names_and_values_as_node_does() {
        // 2,001 short headers: 18 KiB on the wire, 6 KiB as Node counts.
        let mut raw = String::from("GET / HTTP/1.1\r\n");
        for i in 0..2001 {
            raw.push_str(&format!("x-h{}: v\r\n", i % 10));
        }
        raw.push_str("\r\n");
        assert!(raw.len() > 16 * 1024);
        assert_eq!(parse(&raw).unwrap().unwrap().headers.len(), 2001);
        // Just under and at the limit, counted: "/" + "X" + value.
        let at = |n: usize| format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(n));
        assert!(parse(&at(16 * 1024 - 3)).unwrap().is_some());
        assert_eq!(
            parse(&at(16 * 1024 - 2)).unwrap_err(),
            RequestError::HeaderOverflow
        );
    }

    #[test]
    fn framing_headers_are_refused_in_llhttps_order() {
        let te_then_cl =
            parse("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n");
        assert_eq!(
            te_then_cl.unwrap_err(),
            RequestError::ContentLengthWithTransferEncoding
        );
        let twice = parse(
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        );
        assert_eq!(
            twice.unwrap_err(),
            RequestError::InvalidTransferEncodingValue
        );
        let lenient = ParseLimits {
            lenient: true,
            ..NODE
        };
        let both = b"POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
        let head = parse_head(both, lenient).unwrap().unwrap();
        assert_eq!(
            head.framing,
            Framing::Chunked,
            "insecureHTTPParser: chunked wins"
        );
    }

    #[test]
    fn insecure_parser_reads_a_body_without_final_chunked_until_close() {
        let lenient = ParseLimits {
            lenient: true,
            ..NODE
        };
        let raw = b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nContent-Length: 5\r\n\r\n";
        let head = parse_head(raw, lenient).unwrap().unwrap();
        assert_eq!(head.framing, Framing::UntilClose);
    }

    #[test]
    fn keep_alive_by_default_only_when_both_version_digits_are_above_zero() {
        let lenient = ParseLimits {
            lenient: true,
            ..NODE
        };
        let ka = |v: &str| {
            let raw = format!("GET / HTTP/{v}\r\n\r\n");
            parse_head(raw.as_bytes(), lenient)
                .unwrap()
                .unwrap()
                .keep_alive
        };
        assert!(ka("1.1") && ka("2.1") && ka("1.2"));
        assert!(!ka("1.0") && !ka("2.0") && !ka("0.9"));
        let head = parse_head(b"GET / HTTP/2.0\r\n\r\n", NODE)
            .unwrap()
            .unwrap();
        assert_eq!((head.major_version, head.minor_version), (2, 0));
        assert!(head.rewritten.is_some(), "read from the rewritten copy");
        let plain = parse_head(b"GET / HTTP/1.1\r\n\r\n", NODE)
            .unwrap()
            .unwrap();
        assert!(plain.rewritten.is_none(), "the fast path never copies");
    }

    #[test]
    fn many_headers_within_size_are_accepted() {
        let mut raw = String::from("GET / HTTP/1.1\r\n");
        for i in 0..300 {
            raw.push_str(&format!("h{i}: v\r\n"));
        }
        raw.push_str("\r\n");
        assert_eq!(parse(&raw).unwrap().unwrap().headers.len(), 300);
    }

    #[test]
    fn garbage_is_a_parse_error() {
        assert_eq!(
            parse("G(T / HTTP/1.1\r\n\r\n").unwrap_err(),
            RequestError::InvalidMethod
        );
        assert_eq!(
            parse("GET / HTTP/9.9\r\n\r\n").unwrap_err(),
            RequestError::InvalidVersion
        );
    }

    #[test]
    fn upgrade_needs_connection_token_and_header() {
        let up = parse("GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
        assert!(up.unwrap().unwrap().upgrade);
        let no = parse("GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n");
        assert!(!no.unwrap().unwrap().upgrade);
    }
}
