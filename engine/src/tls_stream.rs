//! A server TLS connection on rustls's unbuffered API. Between reads it holds only rustls's
//! state (keys, counters, what was negotiated): ciphertext is read into a scratch buffer of
//! the thread and decrypted there, and sealed into another before the socket takes it. What a
//! read or a write leaves over (a record cut short, plaintext beyond what the reader asked
//! for, ciphertext the socket did not take) is kept in a buffer of its own that is let go
//! once it empties. rustls's buffered connection keeps a 4 KiB receive buffer for its whole
//! life, a fifth of what an idle connection otherwise costs.
//!
//! The client's hello is read first with rustls's `Acceptor`, so the application can choose
//! the configuration from it (`hello`); its bytes are then handed, unchanged, to the
//! connection that does the handshake.

use std::cell::RefCell;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use rustls::server::{Acceptor, ServerConnectionData, UnbufferedServerConnection};
use rustls::unbuffered::{
    ConnectionState, EncodeError, EncodeTlsData, EncryptError, InsufficientSizeError,
    UnbufferedStatus, WriteTraffic,
};
use rustls::{CommonState, ServerConfig};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::hello::HelloInfo;
use crate::scratch::with_scratch;

/// Ciphertext read from the socket at a time: four full records.
const READ_SIZE: usize = 64 * 1024;
/// Plaintext sealed by one write. A larger body is taken in pieces this size, each handed to
/// the socket before the next is sealed.
const SEAL_MAX: usize = 256 * 1024;
/// More than any record adds to its plaintext (header, content type, explicit nonce, tag).
const RECORD_OVERHEAD: usize = 64;
const MAX_FRAGMENT: usize = 16 * 1024;
/// Room for a key update rustls may queue ahead of the next record.
const SEAL_SLACK: usize = 512;
/// Vectored writes up to this size are joined into one write, so a frame's head and its data
/// share a record.
const JOIN_MAX: usize = 64 * 1024;

thread_local! {
    static READ_SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    static SEAL_SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// Bytes a read or a write left over, oldest first, until they are taken: ciphertext the
/// socket did not take (a stream's `out`), or plaintext beyond what a read asked for (its
/// `plain`). The buffer is let go once the last byte is taken.
#[derive(Default)]
struct Held {
    buf: Vec<u8>,
    at: usize,
}

impl Held {
    fn is_empty(&self) -> bool {
        self.at == self.buf.len()
    }

    fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    fn unread(&self) -> &[u8] {
        &self.buf[self.at..]
    }

    fn consume(&mut self, n: usize) {
        self.at += n;
        if self.is_empty() {
            *self = Held::default();
        }
    }

    /// Gives rustls `room` bytes at the end to fill, keeps what it filled.
    fn append<E>(
        &mut self,
        room: usize,
        fill: impl FnOnce(&mut [u8]) -> Result<usize, E>,
    ) -> Result<usize, E> {
        let start = self.buf.len();
        self.buf.resize(start + room, 0);
        let filled = fill(&mut self.buf[start..]);
        self.buf.truncate(start + *filled.as_ref().unwrap_or(&0));
        filled
    }

    fn encode(&mut self, mut record: EncodeTlsData<'_, ServerConnectionData>) -> io::Result<()> {
        let mut room = 2048;
        loop {
            match self.append(room, |b| record.encode(b)) {
                Ok(_) | Err(EncodeError::AlreadyEncoded) => return Ok(()),
                Err(EncodeError::InsufficientSize(InsufficientSizeError { required_size })) => {
                    room = required_size;
                }
            }
        }
    }

    /// Writes everything held to the socket.
    fn poll_flush<S: AsyncWrite + Unpin>(
        &mut self,
        io: &mut S,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        while !self.is_empty() {
            let n = ready!(Pin::new(&mut *io).poll_write(cx, self.unread()))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.consume(n);
        }
        Poll::Ready(Ok(()))
    }

    /// Puts what fits of `payload` into `dst` and keeps the rest, after anything kept before.
    fn deliver(&mut self, payload: &[u8], dst: Option<&mut ReadBuf<'_>>) {
        let mut rest = payload;
        if let Some(dst) = dst.filter(|_| self.is_empty()) {
            let now = rest.len().min(dst.remaining());
            dst.put_slice(&rest[..now]);
            rest = &rest[now..];
        }
        self.push(rest);
    }

    fn take_into(&mut self, dst: &mut ReadBuf<'_>) {
        let n = self.unread().len().min(dst.remaining());
        dst.put_slice(&self.unread()[..n]);
        self.consume(n);
    }
}

/// Drops the records `used` from the front of `incoming`; the buffer is let go once it is
/// empty.
fn consume_records(incoming: &mut Vec<u8>, used: usize) {
    incoming.drain(..used);
    if incoming.is_empty() {
        *incoming = Vec::new();
    }
}

/// The parts of a connection that processing records touches.
struct Records<'a> {
    conn: &'a mut UnbufferedServerConnection,
    plain: &'a mut Held,
    out: &'a mut Held,
    peer_closed: &'a mut bool,
}

/// Where a state of rustls's leaves its caller.
enum Settled<'c> {
    /// Dealt with; rustls has the next state.
    Again,
    /// The connection may send.
    Writable(WriteTraffic<'c, ServerConnectionData>),
    /// The handshake waits for more records.
    Handshaking,
    /// Both sides have sent close_notify, or a state this stream does not know.
    Closed,
}

/// Deals with one state: application data goes to `dst` (what does not fit, or all of it
/// without `dst`, to `plain`), what rustls sends in answer (handshake messages, a key update,
/// alerts) to `out`.
fn settle<'c>(
    state: ConnectionState<'c, '_, ServerConnectionData>,
    plain: &mut Held,
    out: &mut Held,
    peer_closed: &mut bool,
    mut dst: Option<&mut ReadBuf<'_>>,
) -> io::Result<Settled<'c>> {
    match state {
        ConnectionState::ReadTraffic(mut traffic) => {
            while let Some(record) = traffic.next_record() {
                let record = record.map_err(tls_error)?;
                plain.deliver(record.payload, dst.as_deref_mut());
            }
        }
        ConnectionState::EncodeTlsData(record) => out.encode(record)?,
        // What was encoded is in `out`, on its way.
        ConnectionState::TransmitTlsData(transmit) => transmit.done(),
        ConnectionState::PeerClosed => *peer_closed = true,
        // Early data is never accepted (`max_early_data_size` stays 0).
        ConnectionState::ReadEarlyData(mut early) => {
            while let Some(record) = early.next_record() {
                record.map_err(tls_error)?;
            }
        }
        ConnectionState::WriteTraffic(traffic) => return Ok(Settled::Writable(traffic)),
        ConnectionState::BlockedHandshake => return Ok(Settled::Handshaking),
        _ => return Ok(Settled::Closed),
    }
    Ok(Settled::Again)
}

impl Records<'_> {
    /// Processes the whole records at the front of `records` (`settle`). Returns how many
    /// bytes it used; the rest is an incomplete record. A failure leaves its alert in `out`.
    fn process(
        &mut self,
        records: &mut [u8],
        mut dst: Option<&mut ReadBuf<'_>>,
    ) -> io::Result<usize> {
        let mut used = 0;
        loop {
            let UnbufferedStatus { discard, state } =
                self.conn.process_tls_records(&mut records[used..]);
            let state = match state {
                Ok(state) => state,
                Err(e) => {
                    used += discard;
                    self.queue_alert(&mut records[used..]);
                    return Err(tls_error(e));
                }
            };
            let settled = settle(
                state,
                self.plain,
                self.out,
                self.peer_closed,
                dst.as_deref_mut(),
            )?;
            used += discard;
            if !matches!(settled, Settled::Again) {
                return Ok(used);
            }
        }
    }

    /// Encodes the alert rustls queued when it failed.
    fn queue_alert(&mut self, records: &mut [u8]) {
        loop {
            let UnbufferedStatus { state, .. } = self.conn.process_tls_records(records);
            match state {
                Ok(ConnectionState::EncodeTlsData(record)) => {
                    if self.out.encode(record).is_err() {
                        return;
                    }
                }
                Ok(ConnectionState::TransmitTlsData(transmit)) => transmit.done(),
                _ => return,
            }
        }
    }

    /// Brings the connection to where it may send and runs `f` there; `None` once this side
    /// has sent close_notify and the peer has too.
    fn write_traffic<R>(
        &mut self,
        incoming: &mut Vec<u8>,
        f: impl FnOnce(&mut WriteTraffic<'_, ServerConnectionData>, &mut Held) -> R,
    ) -> io::Result<Option<R>> {
        let mut f = Some(f);
        loop {
            let UnbufferedStatus { discard, state } =
                self.conn.process_tls_records(&mut incoming[..]);
            let settled = settle(
                state.map_err(tls_error)?,
                self.plain,
                self.out,
                self.peer_closed,
                None,
            )?;
            let done = match settled {
                Settled::Again => None,
                Settled::Writable(mut traffic) => {
                    Some(f.take().map(|f| f(&mut traffic, &mut *self.out)))
                }
                Settled::Closed => Some(None),
                Settled::Handshaking => return Err(io::ErrorKind::NotConnected.into()),
            };
            incoming.drain(..discard);
            if let Some(done) = done {
                return Ok(done);
            }
        }
    }
}

/// The largest handshake record a client may send (TLSPlaintext's limit).
const MAX_HANDSHAKE_RECORD: usize = MAX_FRAGMENT;
const RECORD_HEADER: usize = 5;

/// How far `bytes` hold whole records, scanning on from `from` (a record's start). A
/// handshake record still arriving is held back from the `Acceptor`, whose receive buffer
/// (4 KiB) would otherwise be taken while a slow client's hello trickles in; bytes that do
/// not start one go to it at once, so that it refuses them at once (a plain HTTP request
/// on a TLS port).
fn whole_records(bytes: &[u8], mut from: usize) -> usize {
    loop {
        match bytes.get(from..).unwrap_or_default() {
            [] | [0x16] | [0x16, 0x03] | [0x16, 0x03, _] | [0x16, 0x03, _, _] => return from,
            [0x16, 0x03, _, hi, lo, body @ ..] => {
                let len = usize::from(u16::from_be_bytes([*hi, *lo]));
                if len > MAX_HANDSHAKE_RECORD {
                    return bytes.len();
                }
                if body.len() < len {
                    return from;
                }
                from += RECORD_HEADER + len;
            }
            _ => return bytes.len(),
        }
    }
}

/// A connection whose handshake has not started: the socket, and the bytes read from it.
pub(crate) struct Accepting<S> {
    io: S,
    incoming: Vec<u8>,
    out: Held,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Accepting<S> {
    pub fn new(io: S) -> Self {
        Accepting {
            io,
            incoming: Vec::new(),
            out: Held::default(),
        }
    }

    /// Reads until the client's hello is whole. Its bytes stay for the handshake.
    pub async fn client_hello(&mut self) -> io::Result<HelloInfo> {
        let mut acceptor = Acceptor::default();
        let (mut fed, mut whole) = (0, 0);
        loop {
            if self.read_more().await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            whole = whole_records(&self.incoming, whole);
            while fed < whole {
                match acceptor.read_tls(&mut &self.incoming[fed..whole])? {
                    0 => break,
                    n => fed += n,
                }
            }
            match acceptor.accept() {
                Ok(None) => {}
                Ok(Some(accepted)) => return Ok(HelloInfo::of(&accepted.client_hello())),
                Err((e, mut alert)) => {
                    let _ = alert.write_all(&mut self.out.buf);
                    let _ = poll_fn(|cx| self.out.poll_flush(&mut self.io, cx)).await;
                    return Err(tls_error(e));
                }
            }
        }
    }

    /// Reads into the thread's scratch and keeps only what came: a buffer reserved per
    /// connection instead (a record's 16 KiB) would be held by every handshake in flight,
    /// a slow client's among them, and the holes they leave among the established
    /// connections' memory stay in the allocator's heaps after a burst.
    async fn read_more(&mut self) -> io::Result<usize> {
        let Accepting { io, incoming, .. } = self;
        poll_fn(|cx| {
            with_scratch(&READ_SCRATCH, READ_SIZE, |scratch| {
                let mut buf = ReadBuf::new(scratch);
                ready!(Pin::new(&mut *io).poll_read(cx, &mut buf))?;
                incoming.extend_from_slice(buf.filled());
                Poll::Ready(Ok(buf.filled().len()))
            })
        })
        .await
    }

    /// Completes the handshake with `config`. A failure has sent its alert.
    pub async fn handshake(
        mut self,
        config: Arc<ServerConfig>,
        servername: Option<String>,
    ) -> io::Result<TlsStream<S>> {
        let mut conn = UnbufferedServerConnection::new(config).map_err(tls_error)?;
        let mut plain = Held::default();
        let mut peer_closed = false;
        loop {
            let mut records = Records {
                conn: &mut conn,
                plain: &mut plain,
                out: &mut self.out,
                peer_closed: &mut peer_closed,
            };
            let processed = records.process(&mut self.incoming, None);
            let flushed = poll_fn(|cx| self.out.poll_flush(&mut self.io, cx)).await;
            let used = processed?;
            self.incoming.drain(..used);
            flushed?;
            if !conn.is_handshaking() {
                break;
            }
            if peer_closed || self.read_more().await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        if self.incoming.is_empty() {
            self.incoming = Vec::new();
        } else {
            self.incoming.shrink_to_fit();
        }
        Ok(TlsStream {
            io: self.io,
            conn,
            incoming: self.incoming,
            plain,
            out: self.out,
            peer_closed,
            eof: false,
            close_sent: false,
            servername,
        })
    }
}

/// An established server TLS connection.
pub(crate) struct TlsStream<S> {
    io: S,
    conn: UnbufferedServerConnection,
    /// An incomplete record (or records a write's pass has not reached); unallocated when
    /// there is none.
    incoming: Vec<u8>,
    plain: Held,
    out: Held,
    /// The peer sent close_notify: reads end cleanly.
    peer_closed: bool,
    /// The socket's input ended.
    eof: bool,
    close_sent: bool,
    servername: Option<String>,
}

impl<S> TlsStream<S> {
    /// What the handshake negotiated.
    pub fn session(&self) -> &CommonState {
        &self.conn
    }

    /// The name the client asked for (SNI).
    pub fn servername(&self) -> Option<&str> {
        self.servername.as_deref()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream<S> {
    fn records(&mut self) -> (Records<'_>, &mut Vec<u8>, &mut S) {
        (
            Records {
                conn: &mut self.conn,
                plain: &mut self.plain,
                out: &mut self.out,
                peer_closed: &mut self.peer_closed,
            },
            &mut self.incoming,
            &mut self.io,
        )
    }

    /// Processes what `incoming` holds into `dst`.
    fn process_incoming(&mut self, dst: &mut ReadBuf<'_>) -> io::Result<()> {
        let (mut records, incoming, _) = self.records();
        let used = records.process(incoming, Some(dst))?;
        consume_records(incoming, used);
        Ok(())
    }

    /// One read from the socket, processed into `dst`. `Ready(0)` is the end of the input.
    fn poll_read_once(
        &mut self,
        cx: &mut Context<'_>,
        dst: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<usize>> {
        let (mut records, incoming, io) = self.records();
        if !incoming.is_empty() {
            // Completes the record cut short; most reads then leave nothing over.
            incoming.reserve(READ_SIZE);
            let n = ready!(tokio_util::io::poll_read_buf(Pin::new(io), cx, incoming))?;
            let used = records.process(incoming, Some(dst))?;
            consume_records(incoming, used);
            return Poll::Ready(Ok(n));
        }
        with_scratch(&READ_SCRATCH, READ_SIZE, |scratch| {
            let mut buf = ReadBuf::new(scratch);
            ready!(Pin::new(&mut *io).poll_read(cx, &mut buf))?;
            let n = buf.filled().len();
            let read = &mut scratch[..n];
            let used = records.process(read, Some(dst))?;
            incoming.extend_from_slice(&read[used..]);
            Poll::Ready(Ok(n))
        })
    }

    /// Tries to hand the socket what rustls answered while reading (a key update, an alert);
    /// if it cannot take it now, the writer's next write or flush sends it first.
    fn flush_answers(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        match self.out.poll_flush(&mut self.io, cx) {
            Poll::Ready(result) => result,
            Poll::Pending => Ok(()),
        }
    }

    /// Seals `data` (at most `SEAL_MAX` of it) and hands it to the socket; whatever the socket
    /// does not take now waits in `out`.
    fn seal(&mut self, cx: &mut Context<'_>, data: &[u8]) -> io::Result<usize> {
        let data = &data[..data.len().min(SEAL_MAX)];
        let room = data.len() + (data.len() / MAX_FRAGMENT + 1) * RECORD_OVERHEAD + SEAL_SLACK;
        let (mut records, incoming, io) = self.records();
        let sealed = records.write_traffic(incoming, |traffic, out| {
            if !out.is_empty() {
                // Records rustls queued while reading go out first, so this one follows them.
                return encrypt_into(out, traffic, data, room);
            }
            with_scratch(&SEAL_SCRATCH, room, |scratch| {
                let n = match traffic.encrypt(data, scratch) {
                    Ok(n) => n,
                    Err(EncryptError::InsufficientSize(InsufficientSizeError {
                        required_size,
                    })) => {
                        return encrypt_into(out, traffic, data, required_size);
                    }
                    Err(EncryptError::EncryptExhausted) => return Err(exhausted()),
                };
                let taken = match Pin::new(&mut *io).poll_write(cx, &scratch[..n]) {
                    Poll::Ready(Ok(taken)) => taken,
                    Poll::Ready(Err(e)) => return Err(e),
                    Poll::Pending => 0,
                };
                out.push(&scratch[taken..n]);
                Ok(())
            })
        })?;
        match sealed {
            Some(result) => result.map(|()| data.len()),
            None => Err(io::ErrorKind::BrokenPipe.into()),
        }
    }
}

fn exhausted() -> io::Error {
    io::Error::other("TLS record sequence numbers exhausted")
}

fn encrypt_into(
    out: &mut Held,
    traffic: &mut WriteTraffic<'_, ServerConnectionData>,
    data: &[u8],
    mut room: usize,
) -> io::Result<()> {
    loop {
        match out.append(room, |b| traffic.encrypt(data, b)) {
            Ok(_) => return Ok(()),
            Err(EncryptError::InsufficientSize(InsufficientSizeError { required_size })) => {
                room = required_size;
            }
            Err(EncryptError::EncryptExhausted) => return Err(exhausted()),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for TlsStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        dst: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.plain.is_empty() {
            this.plain.take_into(dst);
            return Poll::Ready(Ok(()));
        }
        let start = dst.filled().len();
        // Records left by the handshake or by a write's pass come before the socket's.
        let mut result = match this.incoming.is_empty() {
            true => Ok(()),
            false => this.process_incoming(dst),
        };
        while result.is_ok()
            && !this.peer_closed
            && !this.eof
            && dst.remaining() > 0
            && this.plain.is_empty()
        {
            match this.poll_read_once(cx, dst) {
                Poll::Ready(Ok(0)) => this.eof = true,
                // A short read took what the socket had: asking again would only cost a
                // system call that finds nothing.
                Poll::Ready(Ok(n)) if n < READ_SIZE && dst.filled().len() > start => break,
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => result = Err(e),
                Poll::Pending => break,
            }
        }
        if let Err(e) = this.flush_answers(cx) {
            result = result.and(Err(e));
        }
        if dst.filled().len() > start || this.peer_closed {
            return Poll::Ready(Ok(()));
        }
        if let Err(e) = result {
            return Poll::Ready(Err(e));
        }
        if this.eof {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "peer closed connection without sending TLS close_notify",
            )));
        }
        Poll::Pending
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TlsStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.out.poll_flush(&mut this.io, cx))?;
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        Poll::Ready(this.seal(cx, data))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        let mut pieces = bufs.iter().filter(|b| !b.is_empty());
        let first = pieces.next().map_or(&[][..], |b| &b[..]);
        if pieces.next().is_none() || total > JOIN_MAX {
            return self.poll_write(cx, first);
        }
        let this = self.get_mut();
        ready!(this.out.poll_flush(&mut this.io, cx))?;
        let joined: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
        Poll::Ready(this.seal(cx, &joined))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.out.poll_flush(&mut this.io, cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.close_sent {
            this.close_sent = true;
            let (mut records, incoming, _) = this.records();
            // A connection that failed has sent its alert instead.
            let _ = records.write_traffic(incoming, |traffic, out| {
                let _ = out.append(RECORD_OVERHEAD + SEAL_SLACK, |b| {
                    traffic.queue_close_notify(b)
                });
            });
        }
        ready!(this.out.poll_flush(&mut this.io, cx))?;
        match ready!(Pin::new(&mut this.io).poll_shutdown(cx)) {
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Poll::Ready(Ok(())),
            other => Poll::Ready(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt, DuplexStream};

    struct Pair {
        server: TlsStream<DuplexStream>,
        client: tokio_rustls::client::TlsStream<Trickle>,
    }

    /// The client's end of the pipe, taking at most `most` bytes per write: a client whose
    /// records leave in pieces, as a slow one's do.
    struct Trickle {
        io: DuplexStream,
        most: usize,
    }

    impl AsyncRead for Trickle {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            Pin::new(&mut self.io).poll_read(cx, buf)
        }
    }

    impl AsyncWrite for Trickle {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let most = buf.len().min(self.most);
            Pin::new(&mut self.io).poll_write(cx, &buf[..most])
        }

        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.io).poll_flush(cx)
        }

        fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.io).poll_shutdown(cx)
        }
    }

    /// A handshake over an in-memory pipe that passes at most `pipe` bytes at a time, so
    /// records arrive cut into pieces and writes meet a full socket. The pipe must hold the
    /// session tickets the server sends after the handshake: the client has stopped reading
    /// by then.
    async fn connect(pipe: usize) -> Pair {
        connect_trickling(pipe, usize::MAX).await
    }

    async fn connect_trickling(pipe: usize, most: usize) -> Pair {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let der = CertificateDer::from(cert.der().to_vec());
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let server_config = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![der.clone()],
                PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
            )
            .unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(der).unwrap();
        let client_config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let (client_io, server_io) = duplex(pipe);
        let client_io = Trickle {
            io: client_io,
            most,
        };
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config));
        let name = ServerName::try_from("localhost").unwrap();
        let (client, server) = tokio::join!(connector.connect(name, client_io), async {
            let mut accepting = Accepting::new(server_io);
            let hello = accepting.client_hello().await.unwrap();
            accepting
                .handshake(Arc::new(server_config), hello.servername)
                .await
        });
        Pair {
            server: server.unwrap(),
            client: client.unwrap(),
        }
    }

    fn holds_nothing(stream: &TlsStream<DuplexStream>) -> bool {
        stream.incoming.capacity() == 0
            && stream.plain.buf.capacity() == 0
            && stream.out.buf.capacity() == 0
    }

    #[tokio::test]
    async fn an_idle_connection_holds_no_buffer_after_a_request_and_its_response() {
        let Pair {
            mut server,
            mut client,
        } = connect(64 * 1024).await;
        assert_eq!(server.servername(), Some("localhost"));
        client.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        let mut head = [0u8; 256];
        let n = server.read(&mut head).await.unwrap();
        assert_eq!(&head[..n], b"GET / HTTP/1.1\r\n\r\n");
        server.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.unwrap();
        server.flush().await.unwrap();
        let mut answer = [0u8; 19];
        client.read_exact(&mut answer).await.unwrap();
        assert_eq!(&answer, b"HTTP/1.1 200 OK\r\n\r\n");
        assert!(holds_nothing(&server));
    }

    #[tokio::test]
    async fn large_bodies_cross_a_narrow_pipe_intact_both_ways() {
        let Pair {
            mut server,
            mut client,
        } = connect(1000).await;
        let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let upload = body.clone();
        let sending = tokio::spawn(async move {
            client.write_all(&upload).await.unwrap();
            client.flush().await.unwrap();
            let mut echoed = vec![0u8; upload.len()];
            client.read_exact(&mut echoed).await.unwrap();
            (client, echoed)
        });
        // Reads smaller than a record keep the rest for the next read.
        let mut received = Vec::new();
        let mut piece = [0u8; 300];
        while received.len() < body.len() {
            let n = server.read(&mut piece).await.unwrap();
            assert!(n > 0, "the stream ended early");
            received.extend_from_slice(&piece[..n]);
        }
        assert!(received == body);
        server.write_all(&body).await.unwrap();
        server.flush().await.unwrap();
        let (_client, echoed) = sending.await.unwrap();
        assert!(echoed == body);
        assert!(holds_nothing(&server));
    }

    #[tokio::test]
    async fn close_notify_ends_the_input_and_a_bare_eof_is_unexpected() {
        let Pair {
            mut server,
            mut client,
        } = connect(64 * 1024).await;
        client.shutdown().await.unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(server.read(&mut buf).await.unwrap(), 0);
        // The server can still answer, then close with its own close_notify.
        server.write_all(b"bye").await.unwrap();
        server.shutdown().await.unwrap();
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest, b"bye");

        let Pair { mut server, client } = connect(64 * 1024).await;
        let (io, _) = client.into_inner();
        drop(io);
        let err = server.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[tokio::test]
    async fn bytes_that_are_not_tls_fail_the_hello_with_a_rustls_error() {
        let (mut client, server_io) = duplex(4096);
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        // Bounded: a request held back as a record still arriving would wait here forever.
        let mut accepting = Accepting::new(server_io);
        let hello = accepting.client_hello();
        let Err(err) = tokio::time::timeout(std::time::Duration::from_secs(5), hello)
            .await
            .expect("refused at once")
        else {
            panic!("a plain HTTP request was taken for a ClientHello");
        };
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err
            .get_ref()
            .is_some_and(|inner| inner.is::<rustls::Error>()));
    }

    #[tokio::test]
    async fn a_hello_written_a_byte_at_a_time_completes_the_handshake() {
        let handshake = connect_trickling(64 * 1024, 1);
        let Pair {
            mut server,
            mut client,
        } = tokio::time::timeout(std::time::Duration::from_secs(20), handshake)
            .await
            .expect("the handshake completes");
        client.write_all(b"ping").await.unwrap();
        let mut got = [0u8; 4];
        server.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"ping");
    }

    #[test]
    fn only_a_handshake_record_still_arriving_is_held_back_from_the_acceptor() {
        let record = |len: u16| {
            let mut r = vec![0x16, 0x03, 0x01];
            r.extend_from_slice(&len.to_be_bytes());
            r.resize(RECORD_HEADER + usize::from(len), 0xab);
            r
        };
        let one = record(300);
        // Cut anywhere, a record is held back up to its start; whole, it is given whole.
        for cut in 0..one.len() {
            assert_eq!(whole_records(&one[..cut], 0), 0, "cut at {cut}");
        }
        assert_eq!(whole_records(&one, 0), one.len());
        // Two records, the second cut short: the first goes, the scan resumes at the second.
        let mut two = one.clone();
        let second = record(40);
        two.extend_from_slice(&second[..20]);
        assert_eq!(whole_records(&two, 0), one.len());
        assert_eq!(whole_records(&two, one.len()), one.len());
        // What cannot be a handshake record goes at once, for rustls to refuse.
        assert_eq!(whole_records(b"GET / HTTP/1.1\r\n", 0), 16);
        assert_eq!(whole_records(&[0x17, 0x03], 0), 2);
        assert_eq!(whole_records(&[0x16, 0x02, 0x00], 0), 3);
        let oversized = [0x16, 0x03, 0x01, 0x40, 0x01];
        assert_eq!(whole_records(&oversized, 0), oversized.len());
    }
}
