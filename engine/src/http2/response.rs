//! Node's serialized HTTP/1.1 response, turned into the parts of an HTTP/2 response (as
//! Apache's `h2_from_h1` does): 1xx heads, the final head without the connection-specific
//! headers HTTP/2 forbids, the body de-chunked, and trailers.
//!
//! Node's `ServerResponse` wrote every byte that arrives here, so the input is well formed;
//! anything else is a `Malformed` error and the stream is reset.

use bytes::{Buf, Bytes, BytesMut};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Response, StatusCode};

use crate::chunked::{ChunkedDecoder, Step};
use crate::request::{parse_content_length, trim, ParseLimits};

/// One piece of the HTTP/2 response, in order.
#[derive(Debug)]
pub enum Part {
    /// A 1xx head (`writeContinue`, `writeProcessing`, `writeEarlyHints`).
    Informational(Response<()>),
    /// The final head; `end` when no body follows (HEAD, 204, 304, an empty length).
    Head {
        response: Response<()>,
        end: bool,
    },
    Data(Bytes),
    /// The body is complete, with the trailers chunked encoding carried.
    End(Option<HeaderMap>),
}

/// The serialized response could not be read as HTTP/1.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

enum State {
    Head,
    Length(u64),
    Chunked(ChunkedDecoder),
    /// No framing: the body ends when the JS side ends the stream.
    UntilEnd,
    Done,
}

/// The decoder for one stream's response.
pub struct Translator {
    state: State,
    buf: BytesMut,
    /// The request was HEAD: the final head ends the response whatever it says.
    head_request: bool,
}

/// Response heads are Node's own; a limit only keeps a broken one from growing unbounded.
const HEAD_MAX: usize = 1024 * 1024;
const HEADERS_MAX: usize = 1024;
/// What `ChunkedDecoder` allows here: Node writes no chunk extensions.
const CHUNK_LIMITS: ParseLimits = ParseLimits {
    max_size: 16 * 1024,
    lenient: false,
};

impl Translator {
    pub fn new(head_request: bool) -> Self {
        Translator {
            state: State::Head,
            buf: BytesMut::new(),
            head_request,
        }
    }

    /// The response is complete; later bytes are ignored.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Decodes what the JS side wrote next. Body bytes that need no decoding (a length, or no
    /// framing) pass through as they came, without a copy.
    pub fn feed(&mut self, mut data: Bytes, out: &mut Vec<Part>) -> Result<(), Malformed> {
        if self.is_done() {
            return Ok(());
        }
        if self.buf.is_empty() {
            match &mut self.state {
                State::Length(remaining) => {
                    let n = (*remaining).min(data.len() as u64) as usize;
                    *remaining -= n as u64;
                    if n > 0 {
                        out.push(Part::Data(data.split_to(n)));
                    }
                    if *remaining == 0 {
                        out.push(Part::End(None));
                        self.state = State::Done;
                    }
                    return Ok(());
                }
                State::UntilEnd => {
                    if !data.is_empty() {
                        out.push(Part::Data(data));
                    }
                    return Ok(());
                }
                _ => {}
            }
        }
        self.buf.extend_from_slice(&data);
        loop {
            match &mut self.state {
                State::Done => {
                    self.buf.clear();
                    return Ok(());
                }
                State::Head => {
                    if !self.head(out)? {
                        return Ok(());
                    }
                }
                State::Length(remaining) => {
                    if self.buf.is_empty() {
                        return Ok(());
                    }
                    let n = (*remaining).min(self.buf.len() as u64) as usize;
                    *remaining -= n as u64;
                    let done = *remaining == 0;
                    out.push(Part::Data(self.buf.split_to(n).freeze()));
                    if done {
                        out.push(Part::End(None));
                        self.state = State::Done;
                    }
                }
                State::Chunked(decoder) => match decoder.step(&mut self.buf, CHUNK_LIMITS) {
                    Ok(Step::NeedMore) => return Ok(()),
                    Ok(Step::Data(data)) => out.push(Part::Data(data)),
                    Ok(Step::Done(trailers)) => {
                        out.push(Part::End(trailer_map(&trailers)?));
                        self.state = State::Done;
                    }
                    Err(_) => return Err(Malformed),
                },
                State::UntilEnd => {
                    if !self.buf.is_empty() {
                        out.push(Part::Data(self.buf.split().freeze()));
                    }
                    return Ok(());
                }
            }
        }
    }

    /// The JS side ended the stream: a body without framing ends here.
    pub fn finish(&mut self, out: &mut Vec<Part>) -> Result<(), Malformed> {
        match self.state {
            State::Done => Ok(()),
            State::UntilEnd => {
                out.push(Part::End(None));
                self.state = State::Done;
                Ok(())
            }
            _ => Err(Malformed),
        }
    }

    /// Reads one head if it is all there; returns whether it did.
    fn head(&mut self, out: &mut Vec<Part>) -> Result<bool, Malformed> {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut heap;
        let mut parsed = httparse::Response::new(&mut headers);
        let mut status = parsed.parse(&self.buf);
        if matches!(status, Err(httparse::Error::TooManyHeaders)) {
            heap = vec![httparse::EMPTY_HEADER; HEADERS_MAX];
            parsed = httparse::Response::new(&mut heap);
            status = parsed.parse(&self.buf);
        }
        let len = match status {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) if self.buf.len() <= HEAD_MAX => return Ok(false),
            _ => return Err(Malformed),
        };
        let code = parsed.code.ok_or(Malformed)?;
        let status = StatusCode::from_u16(code).map_err(|_| Malformed)?;
        let mut map = HeaderMap::with_capacity(parsed.headers.len());
        let mut length = None;
        let mut chunked = false;
        // `Connection` names further connection-specific headers, dropped with it.
        let named: Vec<&[u8]> = parsed
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("connection"))
            .flat_map(|h| h.value.split(|&b| b == b','))
            .map(trim)
            .collect();
        for h in parsed.headers.iter() {
            let name = h.name.as_bytes();
            if name.eq_ignore_ascii_case(b"content-length") {
                length = Some(parse_length(h.value)?);
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                chunked |= h
                    .value
                    .split(|&b| b == b',')
                    .any(|t| trim(t).eq_ignore_ascii_case(b"chunked"));
                continue;
            }
            if is_connection_specific(name) || named.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                continue;
            }
            let name = HeaderName::from_bytes(name).map_err(|_| Malformed)?;
            let value = HeaderValue::from_bytes(h.value).map_err(|_| Malformed)?;
            map.append(name, value);
        }
        self.buf.advance(len);
        let mut response = Response::new(());
        *response.status_mut() = status;
        *response.headers_mut() = map;
        if status.is_informational() {
            // 101 has no meaning in HTTP/2; Node never writes it to a stream that cannot upgrade.
            if status == StatusCode::SWITCHING_PROTOCOLS {
                return Err(Malformed);
            }
            out.push(Part::Informational(response));
            return Ok(true);
        }
        let bodiless = self.head_request
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED
            || (!chunked && length == Some(0));
        if bodiless {
            out.push(Part::Head {
                response,
                end: true,
            });
            self.state = State::Done;
            return Ok(true);
        }
        out.push(Part::Head {
            response,
            end: false,
        });
        self.state = match (chunked, length) {
            (true, _) => State::Chunked(ChunkedDecoder::default()),
            (false, Some(n)) => State::Length(n),
            (false, None) => State::UntilEnd,
        };
        Ok(true)
    }
}

/// Headers RFC 9113 8.2.2 forbids in HTTP/2.
fn is_connection_specific(name: &[u8]) -> bool {
    [
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "upgrade",
        "te",
    ]
    .iter()
    .any(|n| name.eq_ignore_ascii_case(n.as_bytes()))
}

fn trailer_map(trailers: &[(Bytes, Bytes)]) -> Result<Option<HeaderMap>, Malformed> {
    if trailers.is_empty() {
        return Ok(None);
    }
    let mut map = HeaderMap::with_capacity(trailers.len());
    for (name, value) in trailers {
        let name = HeaderName::from_bytes(name).map_err(|_| Malformed)?;
        let value = HeaderValue::from_bytes(value).map_err(|_| Malformed)?;
        map.append(name, value);
    }
    Ok(Some(map))
}

fn parse_length(value: &[u8]) -> Result<u64, Malformed> {
    parse_content_length(value).map_err(|_| Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_of(parts: &[Part]) -> Vec<u8> {
        parts
            .iter()
            .filter_map(|p| match p {
                Part::Data(d) => Some(d.to_vec()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    fn translate(head_request: bool, pieces: &[&[u8]], finish: bool) -> Vec<Part> {
        let mut t = Translator::new(head_request);
        let mut out = Vec::new();
        for p in pieces {
            t.feed(Bytes::copy_from_slice(p), &mut out).unwrap();
        }
        if finish {
            t.finish(&mut out).unwrap();
        }
        out
    }

    #[test]
    fn chunked_response_is_dechunked_without_connection_headers() {
        let parts = translate(
            false,
            &[
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
                b"lo\r\n0\r\nX-Sum: 5\r\n\r\n",
            ],
            false,
        );
        let Part::Head { response, end } = &parts[0] else {
            panic!("{parts:?}")
        };
        assert!(!end);
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers().len(), 1, "{:?}", response.headers());
        assert_eq!(response.headers()["content-type"], "text/plain");
        let body = body_of(&parts);
        assert_eq!(body, b"hello");
        let Some(Part::End(Some(trailers))) = parts.last() else {
            panic!("{parts:?}")
        };
        assert_eq!(trailers["x-sum"], "5");
    }

    #[test]
    fn informational_heads_come_before_the_final_one() {
        let parts = translate(
            false,
            &[b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"],
            false,
        );
        assert!(matches!(&parts[0], Part::Informational(r) if r.status() == 100));
        assert!(
            matches!(&parts[1], Part::Informational(r) if r.status() == 103 && r.headers()["link"] == "</a>")
        );
        assert!(matches!(&parts[2], Part::Head { end: false, .. }));
        assert!(matches!(&parts[3], Part::Data(d) if &d[..] == b"ok"));
        assert!(matches!(&parts[4], Part::End(None)));
    }

    #[test]
    fn bodiless_responses_end_with_the_head() {
        for (head_request, raw) in [
            (true, &b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"[..]),
            (false, b"HTTP/1.1 204 No Content\r\n\r\n"),
            (false, b"HTTP/1.1 304 Not Modified\r\nETag: x\r\n\r\n"),
            (false, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        ] {
            let parts = translate(head_request, &[raw], false);
            assert!(
                matches!(&parts[..], [Part::Head { end: true, .. }]),
                "{parts:?}"
            );
        }
    }

    #[test]
    fn an_unframed_body_ends_when_the_stream_is_ended() {
        let parts = translate(false, &[b"HTTP/1.1 200 OK\r\n\r\nab", b"cd"], true);
        assert_eq!(parts.len(), 4);
        assert!(matches!(parts.last(), Some(Part::End(None))));
    }

    #[test]
    fn a_length_body_split_across_writes_ends_at_its_length() {
        let parts = translate(
            false,
            &[
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhe",
                b"llo",
                b"ignored",
            ],
            false,
        );
        let body = body_of(&parts);
        assert_eq!(body, b"hello");
        assert!(matches!(parts.last(), Some(Part::End(None))));
    }

    #[test]
    fn garbage_is_malformed() {
        let mut t = Translator::new(false);
        assert_eq!(
            t.feed(Bytes::from_static(b"hello\r\n\r\n"), &mut Vec::new()),
            Err(Malformed)
        );
    }
}
