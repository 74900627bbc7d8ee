//! Heads that llhttp takes and httparse cannot read, rewritten into a copy httparse reads.
//!
//! httparse reads `HTTP/1.0` and `HTTP/1.1` request lines with CRLF-ended header lines whose
//! values hold no control characters. llhttp also takes, by default, an HTTP/0.9 request line
//! (no version, or `HTTP/0.9`) and `HTTP/2.0`; and with Node's `insecureHTTPParser` any
//! one-digit version, whitespace before the first header, folded header lines (obs-fold, joined
//! without their line break) and NUL, control characters or DEL inside header values.
//!
//! Only a head that httparse refused comes here, and only once it is complete (its empty line
//! has arrived). The copy has the version replaced by `HTTP/1.1` (the real one is returned
//! beside it), lines ended by CRLF, and each control byte inside a value replaced by a
//! placeholder that is put back after httparse has read the copy, so the handler sees the bytes
//! the client sent.

use crate::request::RequestError;

/// A head rewritten for httparse.
pub struct Normalized {
    pub bytes: Vec<u8>,
    /// Bytes of the original buffer the head took, its final empty line included.
    pub end: usize,
    pub major: u8,
    pub minor: u8,
    /// Original bytes, by their offset in `bytes`, replaced by `PLACEHOLDER` for httparse.
    patches: Vec<(usize, u8)>,
}

/// A byte httparse takes in a header value, standing in for a control byte it does not.
const PLACEHOLDER: u8 = b'x';

impl Normalized {
    /// Puts back the bytes that stood in for control characters.
    pub fn restore(&mut self) {
        for &(at, byte) in &self.patches {
            self.bytes[at] = byte;
        }
    }
}

/// Rewrites the complete head at the start of `buf`, or `Ok(None)` while its end has not
/// arrived. A version llhttp refuses too is `InvalidVersion`; everything else is left to
/// httparse, which then refuses what llhttp refuses.
pub fn normalize(buf: &[u8], lenient: bool) -> Result<Option<Normalized>, RequestError> {
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    let mut lines = Lines { buf, at: start };
    let Some(request_line) = lines.next() else {
        return Ok(None);
    };
    let mut out = Normalized {
        bytes: Vec::with_capacity(buf.len() + 16),
        end: 0,
        major: 1,
        minor: 1,
        patches: Vec::new(),
    };
    let (line, version) = split_version(request_line);
    let (major, minor) = match version {
        None => (0, 9),
        Some(v) => parse_version(v).ok_or(RequestError::InvalidVersion)?,
    };
    let accepted = lenient || matches!((major, minor), (0, 9) | (1, 0) | (1, 1) | (2, 0));
    if !accepted {
        return Err(RequestError::InvalidVersion);
    }
    out.major = major;
    out.minor = minor;
    out.bytes.extend_from_slice(line);
    out.bytes.extend_from_slice(b" HTTP/1.1\r\n");

    let mut first = true;
    loop {
        let Some(line) = lines.next() else {
            return Ok(None);
        };
        if line.is_empty() {
            break;
        }
        let folded = matches!(line[0], b' ' | b'\t');
        let text = if folded && first && lenient {
            // llhttp's lenient headers skip whitespace before the first header's name.
            let skip = line
                .iter()
                .take_while(|&&b| b == b' ' || b == b'\t')
                .count();
            &line[skip..]
        } else {
            line
        };
        let line_start = if folded && !first && lenient {
            // obs-fold: the line continues the previous value; only the line break goes.
            out.bytes.truncate(out.bytes.len() - 2);
            None
        } else {
            Some(out.bytes.len())
        };
        let value_from = match line_start {
            None => Some(0),
            Some(_) => text.iter().position(|&b| b == b':').map(|c| c + 1),
        };
        let offset = out.bytes.len();
        out.bytes.extend_from_slice(text);
        if lenient {
            if let Some(from) = value_from {
                for (i, &b) in text.iter().enumerate().skip(from) {
                    if is_value_control(b) {
                        out.patches.push((offset + i, b));
                        out.bytes[offset + i] = PLACEHOLDER;
                    }
                }
            }
        }
        out.bytes.extend_from_slice(b"\r\n");
        first = false;
    }
    out.bytes.extend_from_slice(b"\r\n");
    out.end = lines.at;
    Ok(Some(out))
}

/// Control bytes that lenient llhttp takes inside a header value and httparse does not.
fn is_value_control(b: u8) -> bool {
    matches!(b, 0x00..=0x08 | 0x0a..=0x1f | 0x7f)
}

/// The request line without its version, and the version (`None` for an HTTP/0.9 line,
/// which has none).
fn split_version(line: &[u8]) -> (&[u8], Option<&[u8]>) {
    let spaces = line.iter().filter(|&&b| b == b' ').count();
    match line.iter().rposition(|&b| b == b' ') {
        Some(at) if spaces >= 2 => (&line[..at], Some(&line[at + 1..])),
        _ => (line, None),
    }
}

/// `HTTP/<digit>.<digit>`, the only shape llhttp reads.
fn parse_version(v: &[u8]) -> Option<(u8, u8)> {
    match v {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            Some((major - b'0', minor - b'0'))
        }
        _ => None,
    }
}

/// Lines ended by LF (a CR before it dropped), from `at`.
struct Lines<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let rest = &self.buf[self.at..];
        let lf = rest.iter().position(|&b| b == b'\n')?;
        self.at += lf + 1;
        let line = &rest[..lf];
        Some(line.strip_suffix(b"\r").unwrap_or(line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(raw: &[u8], lenient: bool) -> Normalized {
        let mut n = normalize(raw, lenient).unwrap().unwrap();
        n.restore();
        n
    }

    #[test]
    fn versions_llhttp_takes_by_default() {
        let n = rewrite(b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", false);
        assert_eq!((n.major, n.minor), (2, 0));
        assert_eq!(n.bytes, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        let n = rewrite(b"GET /\r\n\r\n", false);
        assert_eq!((n.major, n.minor), (0, 9));
        assert_eq!(n.bytes, b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!(n.end, 9);
        assert_eq!(
            normalize(b"GET / HTTP/1.2\r\n\r\n", false).err(),
            Some(RequestError::InvalidVersion)
        );
        let n = rewrite(b"GET / HTTP/1.2\r\n\r\n", true);
        assert_eq!((n.major, n.minor), (1, 2));
    }

    #[test]
    fn lenient_folds_lines_and_keeps_control_bytes() {
        let raw = b"GET / HTTP/1.1\r\n X: a\r\nY: a  \r\n\t b \r\n  c\r\nZ: a\x00b\x7f\r\n\r\nnext";
        let n = rewrite(raw, true);
        assert_eq!(
            n.bytes,
            b"GET / HTTP/1.1\r\nX: a\r\nY: a  \t b   c\r\nZ: a\x00b\x7f\r\n\r\n"
        );
        assert_eq!(n.end, raw.len() - 4);
    }

    #[test]
    fn an_incomplete_head_waits() {
        assert!(normalize(b"GET / HTTP/1.1\r\nX: a\x00", true)
            .unwrap()
            .is_none());
    }
}
