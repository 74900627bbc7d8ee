//! Incremental decoder for `Transfer-Encoding: chunked` request bodies. Strict like llhttp:
//! CRLF line endings only, bounded size digits and extensions, trailers parsed as headers.

use bytes::{Buf, Bytes, BytesMut};

use crate::request::{ParseLimits, RequestError};

const INVALID_SIZE: RequestError = RequestError::InvalidChunkSize;
const STRICT: RequestError = RequestError::ChunkCrlfExpected;
/// Node caps chunk extensions at 16 KiB and answers 413 past that.
const MAX_EXTENSIONS: usize = 16 * 1024;
const EXT_OVERFLOW: RequestError = RequestError::ChunkExtensionsOverflow;
const HEADER_OVERFLOW: RequestError = RequestError::HeaderOverflow;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Size,
    Extension,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    Trailers,
    Done,
}

/// One step of decoding.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    Data(Bytes),
    NeedMore,
    /// The body ended; trailers as (name, value) pairs in the client's order and case.
    Done(Vec<(Bytes, Bytes)>),
}

#[derive(Debug)]
pub struct ChunkedDecoder {
    state: State,
    size: u64,
    digits: u8,
    extension_len: usize,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        ChunkedDecoder {
            state: State::Size,
            size: 0,
            digits: 0,
            extension_len: 0,
        }
    }
}

impl ChunkedDecoder {
    /// Consumes framing from `buf` and returns the next piece of body, or what it needs.
    /// `maxHeaderSize` bounds the trailer section as it bounds the head; `lenient`
    /// (`insecureHTTPParser`) allows what llhttp's lenient flags allow.
    pub fn step(&mut self, buf: &mut BytesMut, limits: ParseLimits) -> Result<Step, RequestError> {
        let lenient = limits.lenient;
        loop {
            match self.state {
                State::Done => return Ok(Step::Done(Vec::new())),
                State::Data => {
                    if buf.is_empty() {
                        return Ok(Step::NeedMore);
                    }
                    let n = (self.size.min(buf.len() as u64)) as usize;
                    self.size -= n as u64;
                    if self.size == 0 {
                        self.state = State::DataCr;
                    }
                    return Ok(Step::Data(buf.split_to(n).freeze()));
                }
                State::Trailers => return self.trailers(buf, limits),
                _ => {}
            }
            let Some(&byte) = buf.first() else {
                return Ok(Step::NeedMore);
            };
            buf.advance(1);
            self.state = match (self.state, byte) {
                (State::Size, b) if b.is_ascii_hexdigit() => {
                    self.digits += 1;
                    // 16 hex digits already exceed any body this server will take.
                    if self.digits > 15 {
                        return Err(RequestError::ChunkSizeOverflow);
                    }
                    let digit = (b as char).to_digit(16).unwrap_or(0);
                    self.size = (self.size << 4) | u64::from(digit);
                    State::Size
                }
                (State::Size, b';') if self.digits > 0 => State::Extension,
                // llhttp takes whitespace after the size only when lenient.
                (State::Size, b' ' | b'\t') if self.digits > 0 && lenient => State::Extension,
                (State::Size, b'\r') if self.digits > 0 => State::SizeLf,
                (State::Size | State::Extension, b'\n') if self.digits > 0 => {
                    if !lenient {
                        return Err(RequestError::ChunkCrExpected);
                    }
                    self.size_line_done()
                }
                (State::Size, _) => return Err(INVALID_SIZE),
                (State::Extension, b'\r') => State::SizeLf,
                (State::Extension, _) => {
                    self.extension_len += 1;
                    if self.extension_len > MAX_EXTENSIONS {
                        return Err(EXT_OVERFLOW);
                    }
                    State::Extension
                }
                (State::SizeLf, b'\n') => self.size_line_done(),
                (State::DataCr, b'\r') => State::DataLf,
                (State::DataLf, b'\n') => State::Size,
                (State::DataCr, b'\n') if lenient => State::Size,
                // Lenient llhttp reads what follows chunk data as the next size line.
                (State::DataCr | State::DataLf, _) if lenient => return Err(INVALID_SIZE),
                _ => return Err(STRICT),
            };
        }
    }

    fn size_line_done(&mut self) -> State {
        self.digits = 0;
        self.extension_len = 0;
        if self.size == 0 {
            State::Trailers
        } else {
            State::Data
        }
    }

    fn trailers(&mut self, buf: &mut BytesMut, limits: ParseLimits) -> Result<Step, RequestError> {
        let max = limits.max_size;
        if buf.starts_with(b"\r\n") {
            buf.advance(2);
            self.state = State::Done;
            return Ok(Step::Done(Vec::new()));
        }
        let mut headers = [httparse::EMPTY_HEADER; 64];
        match httparse::parse_headers(buf, &mut headers) {
            Ok(httparse::Status::Complete((n, parsed))) => {
                // Framing headers cannot arrive after the body they would have framed.
                for h in parsed.iter().filter(|_| !limits.lenient) {
                    if h.name.eq_ignore_ascii_case("content-length") {
                        return Err(RequestError::ContentLengthWithTransferEncoding);
                    }
                    if h.name.eq_ignore_ascii_case("transfer-encoding") {
                        return Err(RequestError::InvalidTransferEncodingValue);
                    }
                }
                let pairs = parsed
                    .iter()
                    .map(|h| {
                        (
                            Bytes::copy_from_slice(h.name.as_bytes()),
                            Bytes::copy_from_slice(h.value),
                        )
                    })
                    .collect();
                buf.advance(n);
                self.state = State::Done;
                Ok(Step::Done(pairs))
            }
            Ok(httparse::Status::Partial) if buf.len() > max => Err(HEADER_OVERFLOW),
            Ok(httparse::Status::Partial) => Ok(Step::NeedMore),
            Err(httparse::Error::TooManyHeaders) => Err(HEADER_OVERFLOW),
            Err(_) => Err(RequestError::InvalidHeaderToken),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Decoded = (Vec<u8>, Vec<(Bytes, Bytes)>);

    const LIMITS: ParseLimits = ParseLimits {
        max_size: 16 * 1024,
        lenient: false,
    };

    fn decode_all(input: &[u8]) -> Result<Decoded, RequestError> {
        let mut dec = ChunkedDecoder::default();
        let mut body = Vec::new();
        // Feed one byte at a time: every state must survive a split anywhere.
        let mut buf = BytesMut::new();
        for &b in input {
            buf.extend_from_slice(&[b]);
            loop {
                match dec.step(&mut buf, LIMITS)? {
                    Step::Data(d) => body.extend_from_slice(&d),
                    Step::NeedMore => break,
                    Step::Done(t) => return Ok((body, t)),
                }
            }
        }
        panic!("input ended before the last chunk")
    }

    #[test]
    fn decodes_chunks_split_at_every_byte() {
        let (body, trailers) =
            decode_all(b"5\r\nhello\r\n1;ext=1\r\n \r\na\r\n0123456789\r\n0\r\n\r\n").unwrap();
        assert_eq!(body, b"hello 0123456789");
        assert!(trailers.is_empty());
    }

    #[test]
    fn keeps_trailers_in_order_and_case() {
        let (_, trailers) = decode_all(b"1\r\nx\r\n0\r\nX-Sum: 1\r\nx-other: two\r\n\r\n").unwrap();
        assert_eq!(trailers[0].0.as_ref(), b"X-Sum");
        assert_eq!(trailers[1].1.as_ref(), b"two");
    }

    #[test]
    fn rejects_bad_sizes_and_bare_lf() {
        assert_eq!(decode_all(b"zz\r\n").unwrap_err(), INVALID_SIZE);
        assert_eq!(
            decode_all(b"1\nx\r\n0\r\n\r\n").unwrap_err(),
            RequestError::ChunkCrExpected
        );
        assert_eq!(decode_all(b"5 \r\nhello\r\n").unwrap_err(), INVALID_SIZE);
        assert_eq!(decode_all(b"1\r\nxy\r\n").unwrap_err(), STRICT);
        assert_eq!(
            decode_all(b"1000000000000000\r\n").unwrap_err(),
            RequestError::ChunkSizeOverflow
        );
        assert_eq!(
            decode_all(b"1\r\nx\r\n0\r\nContent-Length: 1\r\n\r\n").unwrap_err(),
            RequestError::ContentLengthWithTransferEncoding,
            "framing headers are refused in trailers"
        );
    }

    #[test]
    fn bounds_chunk_extensions() {
        let mut input = b"1;".to_vec();
        input.extend(std::iter::repeat_n(b'a', MAX_EXTENSIONS + 1));
        assert_eq!(decode_all(&input).unwrap_err(), EXT_OVERFLOW);
    }
}
