//! Where in a refused request head llhttp (Node's parser) would have stopped: the byte its
//! `bytesParsed` names. The parser here refuses a head with the same error llhttp gives but
//! finds it with other means (httparse, `strict`), so the offending byte is looked for again,
//! for the errors whose place the client can act on. The offset counts from the head's first
//! byte; Node counts from the first byte of the read that held the offence, and the two agree
//! when the head arrived in one read.

use crate::request::RequestError;

/// RTSP's methods, which llhttp's method table for request lines holds beside Node's
/// `http.METHODS` (`strict::METHODS`): it reads their prefixes before it refuses a method (it
/// stops at "FO", not at "F").
const RTSP_METHODS: [&[u8]; 11] = [
    b"ANNOUNCE",
    b"DESCRIBE",
    b"FLUSH",
    b"GET_PARAMETER",
    b"PAUSE",
    b"PLAY",
    b"RECORD",
    b"REDIRECT",
    b"SETUP",
    b"SET_PARAMETER",
    b"TEARDOWN",
];

/// The offset of the byte at which llhttp would report `err` in `head`, or 0 where it is not
/// looked for. `max_header_size` is the limit `HeaderOverflow` crossed.
pub fn offset(head: &[u8], err: RequestError, max_header_size: usize) -> usize {
    let start = head
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(head.len());
    let line_end = head[start..]
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .map_or(head.len(), |i| start + i);
    let request_line = &head[start..line_end];
    match err {
        RequestError::InvalidMethod => {
            let method = request_line
                .split(|&b| b == b' ')
                .next()
                .unwrap_or_default();
            start + known_prefix(method)
        }
        RequestError::InvalidUrlPath | RequestError::InvalidUrlCharacters => {
            let target_start = request_line
                .iter()
                .position(|&b| b == b' ')
                .map_or(request_line.len(), |i| i + 1);
            let bad = request_line[target_start..]
                .iter()
                .position(|&b| matches!(b, 0..=0x1f | 0x7f..=0xff))
                .unwrap_or(0);
            start + target_start + bad
        }
        RequestError::InvalidConstant => {
            let version_start = request_line
                .iter()
                .rposition(|&b| b == b' ')
                .map_or(request_line.len(), |i| i + 1);
            let version = &request_line[version_start..];
            let same = version
                .iter()
                .zip(b"HTTP/")
                .take_while(|(a, b)| a == b)
                .count();
            start + version_start + same
        }
        RequestError::LfExpected => head
            .windows(2)
            .position(|w| w[0] == b'\r' && w[1] != b'\n')
            .map_or(0, |i| i + 1),
        RequestError::InvalidHeaderToken => header_lines(head, line_end)
            .find_map(|(at, line)| {
                let name_end = line.iter().position(|&b| b == b':').unwrap_or(line.len());
                line[..name_end]
                    .iter()
                    .position(|&b| !is_token(b))
                    .map(|i| at + i)
            })
            .unwrap_or(0),
        RequestError::InvalidContentLength => header_lines(head, line_end)
            .find_map(|(at, line)| {
                let colon = line.iter().position(|&b| b == b':')?;
                if !line[..colon].eq_ignore_ascii_case(b"content-length") {
                    return None;
                }
                let value = &line[colon + 1..];
                let lead = value
                    .iter()
                    .take_while(|&&b| b == b' ' || b == b'\t')
                    .count();
                let bad = value[lead..].iter().position(|b| !b.is_ascii_digit())?;
                Some(at + colon + 1 + lead + bad)
            })
            .unwrap_or(0),
        RequestError::HeaderOverflow => overflow_offset(head, start, line_end, max_header_size),
        // A version llhttp does not take is refused at the line's end; a bare LF after it,
        // one byte later.
        RequestError::InvalidVersion => line_end,
        RequestError::ExpectedCrlfAfterVersion => line_end + 1,
        _ => 0,
    }
}

/// How many bytes of `method` begin one of llhttp's methods.
fn known_prefix(method: &[u8]) -> usize {
    crate::strict::METHODS
        .iter()
        .chain(&RTSP_METHODS)
        .map(|m| m.iter().zip(method).take_while(|(a, b)| a == b).count())
        .max()
        .unwrap_or(0)
}

/// Node counts the target, header names and values against `maxHeaderSize`, and llhttp
/// stops at the end of the line during which the count reached it (or at the end of what
/// arrived, inside a line still arriving).
fn overflow_offset(head: &[u8], start: usize, line_end: usize, max: usize) -> usize {
    let request_line = &head[start..line_end];
    let mut count = request_line
        .split(|&b| b == b' ')
        .nth(1)
        .map_or(0, <[u8]>::len);
    let mut at = line_end;
    for (line_at, line) in header_lines(head, line_end) {
        let colon = line.iter().position(|&b| b == b':').unwrap_or(line.len());
        let value = line.get(colon + 1..).unwrap_or_default();
        let lead = value
            .iter()
            .take_while(|&&b| b == b' ' || b == b'\t')
            .count();
        count += colon + (value.len() - lead);
        at = line_at + line.len();
        if count >= max {
            // The line's LF, after its CR.
            return head[at..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(head.len(), |i| at + i);
        }
    }
    head.len().max(at)
}

/// The header lines after the request line (which ends at `line_end`): each line's offset
/// and its text without the line break. Stops at the empty line ending the head.
fn header_lines(head: &[u8], line_end: usize) -> impl Iterator<Item = (usize, &[u8])> {
    let mut at = head[line_end..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(head.len(), |i| line_end + i + 1);
    std::iter::from_fn(move || {
        if at >= head.len() {
            return None;
        }
        let rest = &head[at..];
        let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        let text = rest[..end].strip_suffix(b"\r").unwrap_or(&rest[..end]);
        if text.is_empty() {
            return None;
        }
        let line = (at, text);
        at += end + 1;
        Some(line)
    })
}

fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Each expectation is what Node 20's llhttp reports as `bytesParsed` for the same bytes.
    #[test]
    fn offsets_match_what_llhttp_reports() {
        let cases: [(&str, RequestError, usize); 11] = [
            ("GET / HTTP/9.1\r\n\r\n", RequestError::InvalidVersion, 14),
            (
                "GET / HTTP/1.1\nHost: a\r\n\r\n",
                RequestError::ExpectedCrlfAfterVersion,
                15,
            ),
            ("FOO /\r\n", RequestError::InvalidMethod, 1),
            ("Oopsie-doopsie\r\n", RequestError::InvalidMethod, 1),
            ("XYZ / HTTP/1.1\r\n\r\n", RequestError::InvalidMethod, 0),
            ("PATCHX / HTTP/1.1\r\n\r\n", RequestError::InvalidMethod, 5),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n",
                RequestError::InvalidHeaderToken,
                28,
            ),
            (
                "GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
                RequestError::InvalidContentLength,
                32,
            ),
            (
                "GET /\x01 HTTP/1.1\r\n\r\n",
                RequestError::InvalidUrlCharacters,
                5,
            ),
            ("GET / HTXP/1.1\r\n\r\n", RequestError::InvalidConstant, 8),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n",
                RequestError::LfExpected,
                30,
            ),
        ];
        for (head, err, want) in cases {
            assert_eq!(offset(head.as_bytes(), err, 16384), want, "{head:?}");
        }
    }

    #[test]
    fn a_header_overflow_is_placed_at_the_end_of_the_line_that_crossed_the_limit() {
        let value = "a".repeat(16384 - "Cookie: ".len() + 2);
        let head = format!("GET /blah HTTP/1.1\r\nCookie: {value}\r\n\r\n");
        // Node's own test expects maxHeaderSize + the request line + two CRLFs + 1.
        assert_eq!(
            offset(head.as_bytes(), RequestError::HeaderOverflow, 16384),
            16384 + "GET /blah HTTP/1.1".len() + 4 + 1
        );
    }
}
