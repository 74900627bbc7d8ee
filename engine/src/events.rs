//! The event codec: how the engine tells its consumer (the JS layer, or a test) what happened.
//! Events are appended to one flat buffer per server (`event_queue`) and taken in batches. This
//! file is the format's one definition: the table below, one encoder per event, and the decoder
//! the engine's tests and examples read batches with. `lib/events.js` is the JS decoder;
//! `engine/tests/event_codec.rs` and `__test__/event-codec.test.js` pin both to the same bytes.
//!
//! Integers are little-endian. `str8`/`str16`/`bytes32` are a length of that width followed by
//! the bytes. `addr` is `ip: str8, port: u16, family: u8` (4, 6, or 0 with an empty ip for
//! unix sockets). Every event starts with `kind: u8, conn: u32`; conn is 0 for server-wide
//! events.
//!
//! | kind | event        | conn | fields after the header |
//! |------|--------------|------|--------------------------|
//! | 1    | OPEN         | id   | remote: addr, local: addr, version: u16 (0 plain, else TLS's 0x0303/0x0304), cipher: u16 (IANA suite), alpn: str8, servername: str8, group: u16 (IANA named group), client_auth: u8 (0 not asked, 1 verified, 2 not verified), verify_error: u8 (`VerifyError`, 0 none), resumed: u8, certs: u8, then certs × cert: bytes32 (DER, leaf first) |
//! | 2    | REQUEST      | id   | flags: u8 (`FLAG_*`), major: u8, minor: u8, method: str8, target: bytes32, count: u16, then count × (name: str16, value: bytes32), then head: bytes32 if `FLAG_UPGRADE` (the bytes after the head) |
//! | 3    | BODY         | id   | data: bytes32 |
//! | 4    | END          | id   | count: u16, then count × (name: str16, value: bytes32): the trailers |
//! | 5    | PEER_END     | id   | (none): the client ended its side |
//! | 6    | CLOSE        | id   | reason: u8 (`CloseReason`), detail: str16 (the OS's words, UTF-8) |
//! | 7    | DRAIN        | id   | (none): queued writes fell below the high-water mark |
//! | 8    | CLIENT_ERROR | id   | error: u8 (`RequestError`), parsed: u32 (where llhttp would have stopped: Node's `bytesParsed`), raw: bytes32 (the unparsed input, at most 64 KiB) |
//! | 9    | TLS_ERROR    | 0    | failure: u8 (`HandshakeFailure`), detail: str16 (rustls's words, UTF-8), remote: addr |
//! | 10   | ACCEPT_ERROR | 0    | errno: i32 (the OS's, positive), detail: str16 |
//! | 11   | DATA         | id   | data: bytes32: bytes of an upgraded (or CONNECT) connection |
//! | 12   | KEYLOG       | id   | line: bytes32: one NSS key-log line (right after its OPEN) |
//! | 13   | HELLO        | 0    | hello: u32, servername: str8, offers_alpn: u8, count: u8, then count × protocol: str8, remote: addr |
//! | 14   | ACCEPT_PAUSED | 0   | errno: i32, detail: str16: accepting backs off, out of descriptors or memory (at most once a minute) |
//! | 15   | STREAM       | id   | parent: u32: an HTTP/2 stream of connection `parent`, served under its own id (its REQUEST follows) |
//! | 16   | PIPE_DATA    | pipe | data: bytes32: bytes the engine sends to an adopted stream (`pipe` counts apart from connection ids) |
//! | 17   | PIPE_END     | pipe | (none): the engine's side of the pipe is closed (its connection closed, or its handshake failed) |
//! | 18   | PIPE_DRAIN   | pipe | (none): the input written to the pipe fell below the high-water mark |
//! | 19   | ADOPTED      | id   | pipe: u32: connection `id`, whose OPEN follows, is served over pipe `pipe` |
//! | 20   | BODY_LENT    | id   | len: u32: a body piece of `LENT_MIN` bytes or more, passed beside the batch instead of copied into it (the batch's next lent piece, `len` bytes) |
//!
//! A batch is its bytes and, in order, the pieces its BODY_LENT events stand for: a large body
//! piece reaches the consumer in the memory it was read into, and the JS layer hands it back
//! to a response by reference (`src/native_server.rs`).

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;

use crate::client_auth::VerifyError;
use crate::conn::CloseReason;
use crate::handshake::HandshakeFailure;
use crate::request::{Head, RequestError};

pub const OPEN: u8 = 1;
pub const REQUEST: u8 = 2;
pub const BODY: u8 = 3;
pub const END: u8 = 4;
pub const PEER_END: u8 = 5;
pub const CLOSE: u8 = 6;
pub const DRAIN: u8 = 7;
pub const CLIENT_ERROR: u8 = 8;
pub const TLS_ERROR: u8 = 9;
pub const ACCEPT_ERROR: u8 = 10;
pub const DATA: u8 = 11;
pub const KEYLOG: u8 = 12;
pub const HELLO: u8 = 13;
pub const ACCEPT_PAUSED: u8 = 14;
pub const STREAM: u8 = 15;
pub const PIPE_DATA: u8 = 16;
pub const PIPE_END: u8 = 17;
pub const PIPE_DRAIN: u8 = 18;
pub const ADOPTED: u8 = 19;
pub const BODY_LENT: u8 = 20;

/// Body pieces at least this large are lent, not copied into the batch. Above a connection's
/// write high-water mark, so a response write of a lent piece always waits for the DRAIN that
/// follows its bytes onto the wire before its callback runs, as a copied write's would mean.
pub const LENT_MIN: usize = crate::conn::WRITE_HIGH_WATER + 1;

/// REQUEST flags.
pub const FLAG_HAS_BODY: u8 = 1;
pub const FLAG_KEEP_ALIVE: u8 = 2;
pub const FLAG_UPGRADE: u8 = 4;
/// The body runs until the client closes (lenient parsing only); no END event comes for it.
pub const FLAG_BODY_UNTIL_CLOSE: u8 = 8;

/// OPEN's client_auth field.
pub const CLIENT_AUTH_NOT_ASKED: u8 = 0;
pub const CLIENT_AUTH_VERIFIED: u8 = 1;
pub const CLIENT_AUTH_NOT_VERIFIED: u8 = 2;

/// What a TLS handshake settled, for OPEN.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Negotiated {
    /// TLS's protocol version number (0x0304 for TLS 1.3).
    pub version: u16,
    /// The IANA number of the cipher suite.
    pub cipher: u16,
    pub alpn: Vec<u8>,
    pub servername: String,
    /// The IANA number of the key-exchange group (0 when none, as on resumption with PSK only).
    pub group: u16,
    /// `None` when no client certificate was asked for.
    pub client_auth: Option<Result<(), VerifyError>>,
    pub resumed: bool,
    /// The client's certificates (DER), leaf first.
    pub peer_chain: Vec<Vec<u8>>,
}

/// Appends events to a batch buffer. Lengths that do not fit their field are clamped; the
/// callers' own limits (`maxHeaderSize`, read sizes) keep real values far below them.
pub struct Encoder<'a> {
    out: &'a mut Vec<u8>,
    /// Where lent pieces go; without it every body is copied inline.
    lent: Option<&'a mut Vec<Bytes>>,
}

impl<'a> Encoder<'a> {
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        Encoder { out, lent: None }
    }

    /// An encoder that lends large body pieces (`body_piece`) to `lent`.
    pub fn lending(out: &'a mut Vec<u8>, lent: &'a mut Vec<Bytes>) -> Self {
        Encoder {
            out,
            lent: Some(lent),
        }
    }

    pub fn open(
        &mut self,
        id: u32,
        remote: Option<SocketAddr>,
        local: Option<SocketAddr>,
        tls: &Negotiated,
    ) {
        self.head(OPEN, id);
        self.addr(remote);
        self.addr(local);
        self.u16(tls.version);
        self.u16(tls.cipher);
        self.str8(&tls.alpn);
        self.str8(tls.servername.as_bytes());
        self.u16(tls.group);
        let (state, error) = match tls.client_auth {
            None => (CLIENT_AUTH_NOT_ASKED, 0),
            Some(Ok(())) => (CLIENT_AUTH_VERIFIED, 0),
            Some(Err(e)) => (CLIENT_AUTH_NOT_VERIFIED, e as u8),
        };
        self.u8(state);
        self.u8(error);
        self.u8(u8::from(tls.resumed));
        let certs = &tls.peer_chain[..tls.peer_chain.len().min(u8::MAX as usize)];
        self.u8(certs.len() as u8);
        for cert in certs {
            self.bytes32(cert);
        }
    }

    /// A request head parsed from `buf`; `after` is what followed it (sent for upgrades only).
    pub fn request(&mut self, id: u32, head: &Head, buf: &[u8], flags: u8) {
        self.head(REQUEST, id);
        self.u8(flags);
        self.u8(head.major_version);
        self.u8(head.minor_version);
        let src = head.source(buf);
        self.str8(&src[head.method.clone()]);
        self.bytes32(&src[head.target.clone()]);
        let headers = &head.headers[..head.headers.len().min(u16::MAX as usize)];
        self.u16(headers.len() as u16);
        for (name, value) in headers {
            self.str16(&src[name.clone()]);
            self.bytes32(&src[value.clone()]);
        }
        if flags & FLAG_UPGRADE != 0 {
            self.bytes32(&buf[head.len..]);
        }
    }

    pub fn body(&mut self, id: u32, data: &[u8]) {
        self.head(BODY, id);
        self.bytes32(data);
    }

    /// A body piece the caller owns: lent when it is large and this encoder lends, else BODY.
    pub fn body_piece(&mut self, id: u32, data: Bytes) {
        match self.lent.as_deref_mut() {
            Some(lent) if data.len() >= LENT_MIN && u32::try_from(data.len()).is_ok() => {
                let len = data.len() as u32;
                lent.push(data);
                self.head(BODY_LENT, id);
                self.u32(len);
            }
            _ => self.body(id, &data),
        }
    }

    pub fn end<N: AsRef<[u8]>, V: AsRef<[u8]>>(&mut self, id: u32, trailers: &[(N, V)]) {
        self.head(END, id);
        let trailers = &trailers[..trailers.len().min(u16::MAX as usize)];
        self.u16(trailers.len() as u16);
        for (name, value) in trailers {
            self.str16(name.as_ref());
            self.bytes32(value.as_ref());
        }
    }

    pub fn peer_end(&mut self, id: u32) {
        self.head(PEER_END, id);
    }

    pub fn close(&mut self, id: u32, reason: CloseReason, detail: &str) {
        self.head(CLOSE, id);
        self.u8(reason as u8);
        self.str16(detail.as_bytes());
    }

    pub fn drain(&mut self, id: u32) {
        self.head(DRAIN, id);
    }

    pub fn stream(&mut self, id: u32, parent: u32) {
        self.head(STREAM, id);
        self.out.extend_from_slice(&parent.to_le_bytes());
    }

    pub fn pipe_data(&mut self, pipe: u32, data: &[u8]) {
        self.head(PIPE_DATA, pipe);
        self.bytes32(data);
    }

    pub fn pipe_end(&mut self, pipe: u32) {
        self.head(PIPE_END, pipe);
    }

    pub fn pipe_drain(&mut self, pipe: u32) {
        self.head(PIPE_DRAIN, pipe);
    }

    pub fn adopted(&mut self, id: u32, pipe: u32) {
        self.head(ADOPTED, id);
        self.out.extend_from_slice(&pipe.to_le_bytes());
    }

    pub fn client_error(&mut self, id: u32, error: RequestError, parsed: u32, raw: &[u8]) {
        self.head(CLIENT_ERROR, id);
        self.u8(error as u8);
        self.u32(parsed);
        self.bytes32(raw);
    }

    pub fn tls_error(
        &mut self,
        failure: HandshakeFailure,
        detail: &str,
        remote: Option<SocketAddr>,
    ) {
        self.head(TLS_ERROR, 0);
        self.u8(failure as u8);
        self.str16(detail.as_bytes());
        self.addr(remote);
    }

    pub fn accept_error(&mut self, errno: i32, detail: &str) {
        self.head(ACCEPT_ERROR, 0);
        self.out.extend_from_slice(&errno.to_le_bytes());
        self.str16(detail.as_bytes());
    }

    pub fn accept_paused(&mut self, errno: i32, detail: &str) {
        self.head(ACCEPT_PAUSED, 0);
        self.out.extend_from_slice(&errno.to_le_bytes());
        self.str16(detail.as_bytes());
    }

    pub fn data(&mut self, id: u32, data: &[u8]) {
        self.head(DATA, id);
        self.bytes32(data);
    }

    pub fn keylog(&mut self, id: u32, line: &[u8]) {
        self.head(KEYLOG, id);
        self.bytes32(line);
    }

    pub fn hello<P: AsRef<[u8]>>(
        &mut self,
        hello: u32,
        servername: &str,
        offers_alpn: bool,
        protocols: &[P],
        remote: Option<SocketAddr>,
    ) {
        self.head(HELLO, 0);
        self.u32(hello);
        self.str8(servername.as_bytes());
        self.u8(u8::from(offers_alpn));
        let protocols = &protocols[..protocols.len().min(u8::MAX as usize)];
        self.u8(protocols.len() as u8);
        for protocol in protocols {
            self.str8(protocol.as_ref());
        }
        self.addr(remote);
    }

    fn head(&mut self, kind: u8, conn: u32) {
        self.out.push(kind);
        self.u32(conn);
    }
    fn u8(&mut self, v: u8) {
        self.out.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }
    fn str8(&mut self, s: &[u8]) {
        let s = &s[..s.len().min(u8::MAX as usize)];
        self.out.push(s.len() as u8);
        self.out.extend_from_slice(s);
    }
    fn str16(&mut self, s: &[u8]) {
        let s = &s[..s.len().min(u16::MAX as usize)];
        self.u16(s.len() as u16);
        self.out.extend_from_slice(s);
    }
    fn bytes32(&mut self, s: &[u8]) {
        let s = &s[..s.len().min(u32::MAX as usize)];
        self.u32(s.len() as u32);
        self.out.extend_from_slice(s);
    }
    fn addr(&mut self, addr: Option<SocketAddr>) {
        match addr {
            Some(a) => {
                let ip = a.ip().to_canonical();
                self.str8(ip.to_string().as_bytes());
                self.u16(a.port());
                self.u8(if ip.is_ipv4() { 4 } else { 6 });
            }
            None => {
                self.str8(b"");
                self.u16(0);
                self.u8(0);
            }
        }
    }
}

/// One decoded event, owning its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Open {
        id: u32,
        remote: Option<SocketAddr>,
        local: Option<SocketAddr>,
        tls: Negotiated,
    },
    Request {
        id: u32,
        flags: u8,
        major: u8,
        minor: u8,
        method: String,
        target: String,
        headers: Vec<(String, String)>,
        upgrade_head: Option<Vec<u8>>,
    },
    Body {
        id: u32,
        data: Vec<u8>,
    },
    End {
        id: u32,
        trailers: Vec<(String, String)>,
    },
    PeerEnd {
        id: u32,
    },
    Close {
        id: u32,
        reason: CloseReason,
        detail: String,
    },
    Drain {
        id: u32,
    },
    Stream {
        id: u32,
        parent: u32,
    },
    ClientError {
        id: u32,
        error: RequestError,
        parsed: u32,
        raw: Vec<u8>,
    },
    TlsError {
        failure: HandshakeFailure,
        detail: String,
        remote: Option<SocketAddr>,
    },
    AcceptError {
        errno: i32,
        detail: String,
    },
    AcceptPaused {
        errno: i32,
        detail: String,
    },
    Data {
        id: u32,
        data: Vec<u8>,
    },
    Keylog {
        id: u32,
        line: Vec<u8>,
    },
    Hello {
        hello: u32,
        servername: String,
        offers_alpn: bool,
        alpn: Vec<String>,
        remote: Option<SocketAddr>,
    },
    PipeData {
        pipe: u32,
        data: Vec<u8>,
    },
    PipeEnd {
        pipe: u32,
    },
    PipeDrain {
        pipe: u32,
    },
    Adopted {
        id: u32,
        pipe: u32,
    },
}

/// Why a batch could not be decoded: it ended inside an event, or held a value no encoder
/// writes. Either means the producer and the decoder disagree about the format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub offset: usize,
    pub what: &'static str,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bad event batch at byte {}: {}", self.offset, self.what)
    }
}

impl std::error::Error for DecodeError {}

/// Decodes a whole batch. Strings are read as latin1 where the JS side reads them so (request
/// lines and headers), as UTF-8 where it reads UTF-8 (details).
pub fn decode(buf: &[u8]) -> Result<Vec<Event>, DecodeError> {
    decode_batch(buf, &[])
}

/// Decodes a batch with the pieces it lent; a lent piece decodes as the BODY it stands for.
pub fn decode_batch(buf: &[u8], lent: &[Bytes]) -> Result<Vec<Event>, DecodeError> {
    let mut r = Reader {
        buf,
        at: 0,
        lent: lent.iter(),
    };
    let mut out = Vec::new();
    while r.at < buf.len() {
        out.push(r.event()?);
    }
    if r.lent.next().is_some() {
        return r.fail("more lent pieces than BODY_LENT events");
    }
    Ok(out)
}

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
    lent: std::slice::Iter<'a, Bytes>,
}

type Decoded<T> = Result<T, DecodeError>;

impl Reader<'_> {
    fn fail<T>(&self, what: &'static str) -> Decoded<T> {
        Err(DecodeError {
            offset: self.at,
            what,
        })
    }
    fn take(&mut self, n: usize) -> Decoded<&[u8]> {
        if self.buf.len() - self.at < n {
            return self.fail("the batch ends inside an event");
        }
        let s = &self.buf[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }
    fn u8(&mut self) -> Decoded<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Decoded<u16> {
        let s = self.take(2)?;
        Ok(u16::from_le_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Decoded<u32> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn i32(&mut self) -> Decoded<i32> {
        let s = self.take(4)?;
        Ok(i32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn bytes(&mut self, len: usize) -> Decoded<Vec<u8>> {
        Ok(self.take(len)?.to_vec())
    }
    fn latin1(&mut self, len: usize) -> Decoded<String> {
        Ok(self.take(len)?.iter().map(|&b| char::from(b)).collect())
    }
    fn str8(&mut self) -> Decoded<String> {
        let n = self.u8()? as usize;
        self.latin1(n)
    }
    fn str16(&mut self) -> Decoded<String> {
        let n = self.u16()? as usize;
        self.latin1(n)
    }
    fn utf8_16(&mut self) -> Decoded<String> {
        let n = self.u16()? as usize;
        Ok(String::from_utf8_lossy(self.take(n)?).into_owned())
    }
    fn bytes32(&mut self) -> Decoded<Vec<u8>> {
        let n = self.u32()? as usize;
        self.bytes(n)
    }
    fn str32(&mut self) -> Decoded<String> {
        let n = self.u32()? as usize;
        self.latin1(n)
    }
    fn addr(&mut self) -> Decoded<Option<SocketAddr>> {
        let ip = self.str8()?;
        let port = self.u16()?;
        let family = self.u8()?;
        if family == 0 {
            return Ok(None);
        }
        match ip.parse::<IpAddr>() {
            Ok(ip) => Ok(Some(SocketAddr::new(ip, port))),
            Err(_) => self.fail("an address that is not an IP"),
        }
    }
    fn flag(&mut self) -> Decoded<bool> {
        Ok(self.u8()? == 1)
    }
    /// A u8 count, then that many items.
    fn list8<T>(&mut self, item: fn(&mut Self) -> Decoded<T>) -> Decoded<Vec<T>> {
        let count = self.u8()?;
        (0..count).map(|_| item(self)).collect()
    }
    /// One byte naming a variant of a wire enum.
    fn code<T>(&mut self, from: fn(u8) -> Option<T>, what: &'static str) -> Decoded<T> {
        let at = self.at;
        let value = self.u8()?;
        from(value).ok_or(DecodeError { offset: at, what })
    }
    fn pairs(&mut self) -> Decoded<Vec<(String, String)>> {
        let n = self.u16()?;
        (0..n).map(|_| Ok((self.str16()?, self.str32()?))).collect()
    }

    fn event(&mut self) -> Decoded<Event> {
        let kind = self.u8()?;
        let id = self.u32()?;
        Ok(match kind {
            OPEN => {
                let remote = self.addr()?;
                let local = self.addr()?;
                let version = self.u16()?;
                let cipher = self.u16()?;
                let alpn = self.u8()? as usize;
                let alpn = self.bytes(alpn)?;
                let servername = self.str8()?;
                let group = self.u16()?;
                let state = self.u8()?;
                let error = self.u8()?;
                let client_auth = match state {
                    CLIENT_AUTH_NOT_ASKED => None,
                    CLIENT_AUTH_VERIFIED => Some(Ok(())),
                    _ => match VerifyError::from_u8(error) {
                        Some(e) => Some(Err(e)),
                        None => return self.fail("an unknown verify error"),
                    },
                };
                let resumed = self.flag()?;
                let peer_chain = self.list8(Self::bytes32)?;
                Event::Open {
                    id,
                    remote,
                    local,
                    tls: Negotiated {
                        version,
                        cipher,
                        alpn,
                        servername,
                        group,
                        client_auth,
                        resumed,
                        peer_chain,
                    },
                }
            }
            REQUEST => {
                let flags = self.u8()?;
                let major = self.u8()?;
                let minor = self.u8()?;
                let method = self.str8()?;
                let target = self.str32()?;
                let headers = self.pairs()?;
                let upgrade_head = if flags & FLAG_UPGRADE != 0 {
                    Some(self.bytes32()?)
                } else {
                    None
                };
                Event::Request {
                    id,
                    flags,
                    major,
                    minor,
                    method,
                    target,
                    headers,
                    upgrade_head,
                }
            }
            BODY => Event::Body {
                id,
                data: self.bytes32()?,
            },
            BODY_LENT => {
                let len = self.u32()? as usize;
                match self.lent.next() {
                    Some(piece) if piece.len() == len => Event::Body {
                        id,
                        data: piece.to_vec(),
                    },
                    Some(_) => return self.fail("a lent piece of another length"),
                    None => return self.fail("a BODY_LENT event with no lent piece"),
                }
            }
            END => Event::End {
                id,
                trailers: self.pairs()?,
            },
            PEER_END => Event::PeerEnd { id },
            CLOSE => Event::Close {
                id,
                reason: self.code(CloseReason::from_u8, "an unknown close reason")?,
                detail: self.utf8_16()?,
            },
            DRAIN => Event::Drain { id },
            CLIENT_ERROR => Event::ClientError {
                id,
                error: self.code(RequestError::from_u8, "an unknown request error")?,
                parsed: self.u32()?,
                raw: self.bytes32()?,
            },
            TLS_ERROR => Event::TlsError {
                failure: self.code(HandshakeFailure::from_u8, "an unknown handshake failure")?,
                detail: self.utf8_16()?,
                remote: self.addr()?,
            },
            ACCEPT_ERROR => Event::AcceptError {
                errno: self.i32()?,
                detail: self.utf8_16()?,
            },
            ACCEPT_PAUSED => Event::AcceptPaused {
                errno: self.i32()?,
                detail: self.utf8_16()?,
            },
            DATA => Event::Data {
                id,
                data: self.bytes32()?,
            },
            STREAM => Event::Stream {
                id,
                parent: self.u32()?,
            },
            KEYLOG => Event::Keylog {
                id,
                line: self.bytes32()?,
            },
            HELLO => Event::Hello {
                hello: self.u32()?,
                servername: self.str8()?,
                offers_alpn: self.flag()?,
                alpn: self.list8(Self::str8)?,
                remote: self.addr()?,
            },
            PIPE_DATA => Event::PipeData {
                pipe: id,
                data: self.bytes32()?,
            },
            PIPE_END => Event::PipeEnd { pipe: id },
            PIPE_DRAIN => Event::PipeDrain { pipe: id },
            ADOPTED => Event::Adopted {
                id,
                pipe: self.u32()?,
            },
            _ => return self.fail("an unknown event kind"),
        })
    }
}
