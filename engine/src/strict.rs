//! What llhttp (Node's parser) refuses in a request head that httparse accepts: bare LF line
//! endings, lone CR, whitespace before the first header, folded lines, methods outside Node's
//! list, and the characters and version forms llhttp does not take. httparse still parses the
//! head afterwards; this pass only refuses, with llhttp's error for the first offence.
//!
//! `lenient` is Node's `insecureHTTPParser`: it allows bare LF, whitespace before the first
//! header and folded lines, as llhttp's lenient flags do (`normalize` rewrites the last two for
//! httparse). Methods, target characters and lone CR stay refused, as llhttp refuses them.

use crate::request::RequestError;

/// Node 20's `http.METHODS` (llhttp's HTTP methods), which is what its server accepts.
pub(crate) const METHODS: [&[u8]; 35] = [
    b"ACL",
    b"BIND",
    b"CHECKOUT",
    b"CONNECT",
    b"COPY",
    b"DELETE",
    b"GET",
    b"HEAD",
    b"LINK",
    b"LOCK",
    b"M-SEARCH",
    b"MERGE",
    b"MKACTIVITY",
    b"MKCALENDAR",
    b"MKCOL",
    b"MOVE",
    b"NOTIFY",
    b"OPTIONS",
    b"PATCH",
    b"POST",
    b"PROPFIND",
    b"PROPPATCH",
    b"PURGE",
    b"PUT",
    b"QUERY",
    b"REBIND",
    b"REPORT",
    b"SEARCH",
    b"SOURCE",
    b"SUBSCRIBE",
    b"TRACE",
    b"UNBIND",
    b"UNLINK",
    b"UNLOCK",
    b"UNSUBSCRIBE",
];

/// Checks the complete lines of `buf` (a request head, possibly still arriving).
pub fn check_head(buf: &[u8], lenient: bool) -> Result<(), RequestError> {
    // llhttp skips empty lines before a request, as httparse does.
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    let mut lines = Lines { buf, at: start };
    let Some(request_line) = lines.next_line()? else {
        return check_request_line(&buf[start..], false);
    };
    check_request_line(request_line.text, true)?;
    if !request_line.crlf && !lenient {
        return Err(RequestError::ExpectedCrlfAfterVersion);
    }
    let mut first = true;
    while let Some(line) = lines.next_line()? {
        // A header line, or the final empty line, ended by a bare LF.
        if !line.crlf && !lenient {
            return Err(RequestError::CrExpected);
        }
        if line.text.is_empty() {
            return Ok(());
        }
        if matches!(line.text[0], b' ' | b'\t') && !lenient {
            return Err(if first {
                RequestError::UnexpectedSpace
            } else {
                RequestError::ObsFold
            });
        }
        first = false;
    }
    Ok(())
}

struct Line<'a> {
    text: &'a [u8],
    /// Ended by CRLF (not a bare LF).
    crlf: bool,
}

struct Lines<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Lines<'a> {
    /// The next complete line, or `None` while it is still arriving.
    fn next_line(&mut self) -> Result<Option<Line<'a>>, RequestError> {
        let rest = &self.buf[self.at..];
        let Some(lf) = rest.iter().position(|&b| b == b'\n') else {
            // A CR followed by anything but LF is refused at once.
            return match rest.iter().position(|&b| b == b'\r') {
                Some(cr) if cr + 1 < rest.len() => Err(RequestError::LfExpected),
                _ => Ok(None),
            };
        };
        let line = &rest[..lf];
        self.at += lf + 1;
        let (text, crlf) = match line.split_last() {
            Some((b'\r', text)) => (text, true),
            _ => (line, false),
        };
        if text.contains(&b'\r') {
            return Err(RequestError::LfExpected);
        }
        Ok(Some(Line { text, crlf }))
    }
}

/// Method, target and version as llhttp reads them. `complete` is false while the line is
/// still arriving (only what is there is checked).
fn check_request_line(line: &[u8], complete: bool) -> Result<(), RequestError> {
    let mut parts = line.splitn(3, |&b| b == b' ');
    let method = parts.next().unwrap_or_default();
    let Some(target) = parts.next() else {
        // No target yet: refuse a method that cannot become one of Node's.
        return if METHODS.iter().any(|m| m.starts_with(method)) {
            Ok(())
        } else {
            Err(RequestError::InvalidMethod)
        };
    };
    if !METHODS.contains(&method) {
        return Err(RequestError::InvalidMethod);
    }
    for &b in target {
        match b {
            0 | 0x7f | 0x80..=0xff => return Err(RequestError::InvalidUrlPath),
            0x01..=0x20 => return Err(RequestError::InvalidUrlCharacters),
            _ => {}
        }
    }
    let Some(version) = parts.next() else {
        // "GET /" with nothing after it: HTTP/0.9, which httparse refuses (a stricter answer).
        return Ok(());
    };
    let prefix = &version[..version.len().min(5)];
    if !b"HTTP/".starts_with(prefix) || (complete && version.len() < 5) {
        return Err(RequestError::InvalidConstant);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict(s: &str) -> Result<(), RequestError> {
        check_head(s.as_bytes(), false)
    }

    #[test]
    fn crlf_heads_pass() {
        assert_eq!(strict("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), Ok(()));
        assert_eq!(strict("\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"), Ok(()));
        assert_eq!(
            strict("GET / HTTP/1.1\r\nHo"),
            Ok(()),
            "incomplete is not wrong"
        );
    }

    #[test]
    fn bare_lf_and_lone_cr_are_refused_as_llhttp_refuses_them() {
        assert_eq!(
            strict("GET / HTTP/1.1\nHost: x\n\n"),
            Err(RequestError::ExpectedCrlfAfterVersion)
        );
        assert_eq!(
            strict("GET / HTTP/1.1\r\nHost: x\nA: b\r\n\r\n"),
            Err(RequestError::CrExpected)
        );
        assert_eq!(
            strict("GET / HTTP/1.1\r\nHost: x\rX: y\r\n\r\n"),
            Err(RequestError::LfExpected)
        );
        assert_eq!(
            check_head(b"GET / HTTP/1.1\nHost: x\n\n", true),
            Ok(()),
            "insecureHTTPParser allows bare LF"
        );
    }

    #[test]
    fn methods_targets_versions_and_whitespace() {
        assert_eq!(
            strict("FOO / HTTP/1.1\r\n\r\n"),
            Err(RequestError::InvalidMethod)
        );
        assert_eq!(
            strict("get / HTTP/1.1\r\n\r\n"),
            Err(RequestError::InvalidMethod)
        );
        assert_eq!(strict("FO"), Err(RequestError::InvalidMethod));
        assert_eq!(strict("PURGE / HTTP/1.1\r\n\r\n"), Ok(()));
        assert_eq!(
            strict("GET /a\tb HTTP/1.1\r\n\r\n"),
            Err(RequestError::InvalidUrlCharacters)
        );
        assert_eq!(
            strict("GET /a\x7fb HTTP/1.1\r\n\r\n"),
            Err(RequestError::InvalidUrlPath)
        );
        assert_eq!(
            strict("GET /a b HTTP/1.1\r\n\r\n"),
            Err(RequestError::InvalidConstant)
        );
        assert_eq!(
            strict("GET / http/1.1\r\n\r\n"),
            Err(RequestError::InvalidConstant)
        );
        assert_eq!(
            strict("GET / HTTP/1.1\r\n X: a\r\n\r\n"),
            Err(RequestError::UnexpectedSpace)
        );
        assert_eq!(
            strict("GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n"),
            Err(RequestError::ObsFold)
        );
    }
}
