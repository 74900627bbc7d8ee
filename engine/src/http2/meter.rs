//! Flood detection for HTTP/2: the connection's input is read through a meter that follows
//! the frame headers (9 bytes each, the payloads skipped) and charges the frames that make the
//! server work without moving a request forward (SETTINGS, PING, PRIORITY, CONTINUATION,
//! empty DATA, unknown types) and stream resets to token buckets. A client that empties a
//! bucket is flooding (CVE-2019-9512/9515/9518 style floods, rapid reset CVE-2023-44487):
//! the meter stops reading and the connection is closed with GOAWAY ENHANCE_YOUR_CALM.
//!
//! h2 bounds what it buffers for each of these; the meter bounds the rate, which h2 does not.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

use crate::conn::BoxedStream;

/// Which flood was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flood {
    /// Control or empty frames faster than any client needs them.
    Frames,
    /// Streams reset by the client faster than any client needs to (rapid reset).
    Resets,
}

/// The verdict the connection waits on, and whether a header block is still arriving.
#[derive(Debug)]
pub struct FloodSignal {
    seen: AtomicU8,
    pub notify: Notify,
    base: Instant,
    /// When the header block now arriving began (ms after `base`, plus one), or 0.
    header_block_since: AtomicU64,
}

impl Default for FloodSignal {
    fn default() -> Self {
        FloodSignal {
            seen: AtomicU8::new(0),
            notify: Notify::new(),
            base: Instant::now(),
            header_block_since: AtomicU64::new(0),
        }
    }
}

impl FloodSignal {
    /// When the header block still arriving began: a client that leaves one open (HEADERS
    /// without END_HEADERS, CONTINUATION trickled) holds the whole connection.
    pub fn header_block_since(&self) -> Option<Instant> {
        match self.header_block_since.load(Ordering::SeqCst) {
            0 => None,
            ms => Some(self.base + std::time::Duration::from_millis(ms - 1)),
        }
    }

    fn header_block(&self, open: bool, now: Instant) {
        let value = if open {
            now.saturating_duration_since(self.base).as_millis() as u64 + 1
        } else {
            0
        };
        if (value == 0) != (self.header_block_since.load(Ordering::SeqCst) == 0) {
            self.header_block_since.store(value, Ordering::SeqCst);
            self.notify.notify_one();
        }
    }

    pub fn flood(&self) -> Option<Flood> {
        match self.seen.load(Ordering::SeqCst) {
            1 => Some(Flood::Frames),
            2 => Some(Flood::Resets),
            _ => None,
        }
    }

    fn raise(&self, flood: Flood) {
        // `notify` wakes the connection for both signals; the flood is what it checks first.
        let code = match flood {
            Flood::Frames => 1,
            Flood::Resets => 2,
        };
        self.seen.store(code, Ordering::SeqCst);
        self.notify.notify_one();
    }
}

/// Frames a burst may hold, and how fast the allowance comes back (per second).
const CHEAP_BURST: f64 = 1000.0;
const CHEAP_RATE: f64 = 500.0;
const RESET_BURST: f64 = 200.0;
const RESET_RATE: f64 = 100.0;

struct Bucket {
    tokens: f64,
    burst: f64,
    rate: f64,
    last: Instant,
}

impl Bucket {
    fn new(burst: f64, rate: f64) -> Self {
        Bucket {
            tokens: burst,
            burst,
            rate,
            last: Instant::now(),
        }
    }

    /// Takes one token; false when none is left.
    fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }
}

const PREFACE_LEN: usize = 24;
const FRAME_HEADER_LEN: usize = 9;
const DATA: u8 = 0;
const HEADERS: u8 = 1;
const RST_STREAM: u8 = 3;
const PUSH_PROMISE: u8 = 5;
const GOAWAY: u8 = 7;
const WINDOW_UPDATE: u8 = 8;
const CONTINUATION: u8 = 9;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;

/// Follows the frames in the bytes a client sends.
pub struct FrameMeter {
    preface_left: usize,
    header: [u8; FRAME_HEADER_LEN],
    header_len: usize,
    payload_left: usize,
    cheap: Bucket,
    resets: Bucket,
    /// A HEADERS frame without END_HEADERS was seen and its CONTINUATIONs have not ended it.
    in_header_block: bool,
}

impl Default for FrameMeter {
    fn default() -> Self {
        FrameMeter {
            preface_left: PREFACE_LEN,
            header: [0; FRAME_HEADER_LEN],
            header_len: 0,
            payload_left: 0,
            cheap: Bucket::new(CHEAP_BURST, CHEAP_RATE),
            resets: Bucket::new(RESET_BURST, RESET_RATE),
            in_header_block: false,
        }
    }
}

impl FrameMeter {
    /// Reads the next bytes of the client's input; `Some` once a flood is seen.
    pub fn observe(&mut self, mut bytes: &[u8], now: Instant) -> Option<Flood> {
        let skip = self.preface_left.min(bytes.len());
        self.preface_left -= skip;
        bytes = &bytes[skip..];
        while !bytes.is_empty() {
            if self.payload_left > 0 {
                let n = self.payload_left.min(bytes.len());
                self.payload_left -= n;
                bytes = &bytes[n..];
                continue;
            }
            let n = (FRAME_HEADER_LEN - self.header_len).min(bytes.len());
            self.header[self.header_len..self.header_len + n].copy_from_slice(&bytes[..n]);
            self.header_len += n;
            bytes = &bytes[n..];
            if self.header_len < FRAME_HEADER_LEN {
                return None;
            }
            self.header_len = 0;
            let h = self.header;
            let length = usize::from(h[0]) << 16 | usize::from(h[1]) << 8 | usize::from(h[2]);
            let (kind, flags) = (h[3], h[4]);
            self.payload_left = length;
            if kind == HEADERS || kind == CONTINUATION {
                self.in_header_block = flags & END_HEADERS == 0;
            }
            if let Some(flood) = self.charge(kind, flags, length, now) {
                return Some(flood);
            }
        }
        None
    }

    fn charge(&mut self, kind: u8, flags: u8, length: usize, now: Instant) -> Option<Flood> {
        let (bucket, flood) = match kind {
            RST_STREAM => (&mut self.resets, Flood::Resets),
            // Requests, bodies and window updates move streams forward; a GOAWAY ends the
            // connection; a PUSH_PROMISE from a client is h2's protocol error.
            HEADERS | WINDOW_UPDATE | GOAWAY | PUSH_PROMISE => return None,
            DATA if length > 0 || flags & END_STREAM != 0 => return None,
            _ => (&mut self.cheap, Flood::Frames),
        };
        if bucket.take(now) {
            None
        } else {
            Some(flood)
        }
    }
}

/// The connection's stream, its input read through a `FrameMeter`. Once a flood is seen it
/// reads nothing more; the connection's task closes it (`FloodSignal`). The stream is shared
/// with that task so that, after GOAWAY, it can drain what the client still sends before
/// closing: closing on unread input sends a TCP reset, which can destroy the GOAWAY in flight.
pub struct Metered {
    inner: Arc<Mutex<BoxedStream>>,
    meter: FrameMeter,
    signal: Arc<FloodSignal>,
}

/// How long a flooding client's input is drained after GOAWAY.
const DRAIN: std::time::Duration = std::time::Duration::from_secs(1);

impl Metered {
    pub fn new(inner: BoxedStream, signal: Arc<FloodSignal>) -> Self {
        Metered {
            inner: Arc::new(Mutex::new(inner)),
            meter: FrameMeter::default(),
            signal,
        }
    }

    /// The stream, for `drain` once h2 has let go of the connection.
    pub fn shared(&self) -> Arc<Mutex<BoxedStream>> {
        self.inner.clone()
    }

    fn lock(&self) -> MutexGuard<'_, BoxedStream> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Reads and drops the client's input until it closes or `DRAIN` has passed.
pub async fn drain(stream: Arc<Mutex<BoxedStream>>) {
    let mut scratch = vec![0u8; 16 * 1024];
    let reading = std::future::poll_fn(|cx| loop {
        let mut buf = ReadBuf::new(&mut scratch);
        let mut guard = stream.lock().unwrap_or_else(|p| p.into_inner());
        match Pin::new(&mut *guard).poll_read(cx, &mut buf) {
            Poll::Ready(Ok(())) if !buf.filled().is_empty() => continue,
            Poll::Ready(_) => return Poll::Ready(()),
            Poll::Pending => return Poll::Pending,
        }
    });
    let _ = tokio::time::timeout(DRAIN, reading).await;
}

impl AsyncRead for Metered {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.signal.flood().is_some() {
            return Poll::Pending;
        }
        let before = buf.filled().len();
        let result = Pin::new(&mut *this.lock()).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = result {
            let new = &buf.filled()[before..];
            let now = Instant::now();
            if let Some(flood) = this.meter.observe(new, now) {
                this.signal.raise(flood);
            }
            this.signal.header_block(this.meter.in_header_block, now);
        }
        result
    }
}

impl AsyncWrite for Metered {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.lock()).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.lock()).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.lock()).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.lock()).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.lock().is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn frame(kind: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
        let len = payload.len();
        let mut f = vec![
            (len >> 16) as u8,
            (len >> 8) as u8,
            len as u8,
            kind,
            flags,
            0,
            0,
            0,
            1,
        ];
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn a_ping_flood_is_seen_and_normal_traffic_is_not() {
        let now = Instant::now();
        let mut meter = FrameMeter::default();
        let mut input = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        input.extend(frame(4, 0, &[]));
        for _ in 0..500 {
            input.extend(frame(1, 0x5, &[0x82]));
            input.extend(frame(0, 0, &[1; 100]));
            input.extend(frame(8, 0, &[0, 0, 1, 0]));
        }
        // Fed a byte at a time: frame headers split across reads are followed.
        for b in &input {
            assert_eq!(meter.observe(std::slice::from_ref(b), now), None);
        }
        let pings: Vec<u8> = (0..2000).flat_map(|_| frame(6, 0, &[0; 8])).collect();
        assert_eq!(meter.observe(&pings, now), Some(Flood::Frames));
    }

    #[test]
    fn resets_within_the_rate_pass_and_a_burst_of_them_does_not() {
        let start = Instant::now();
        let mut meter = FrameMeter::default();
        meter.observe(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", start);
        let reset = frame(3, 0, &[0, 0, 0, 8]);
        for i in 0..1000u64 {
            // 50 resets a second for 20 s: a busy browser, not an attack.
            let at = start + Duration::from_millis(i * 20);
            assert_eq!(meter.observe(&reset, at), None, "reset {i}");
        }
        let later = start + Duration::from_secs(30);
        let burst: Vec<u8> = (0..1000).flat_map(|_| reset.clone()).collect();
        assert_eq!(meter.observe(&burst, later), Some(Flood::Resets));
    }

    #[test]
    fn empty_data_frames_are_charged_and_a_final_empty_one_is_not() {
        let now = Instant::now();
        let mut meter = FrameMeter::default();
        meter.observe(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", now);
        let last: Vec<u8> = (0..5000).flat_map(|_| frame(0, END_STREAM, &[])).collect();
        assert_eq!(meter.observe(&last, now), None);
        let empty: Vec<u8> = (0..5000).flat_map(|_| frame(0, 0, &[])).collect();
        assert_eq!(meter.observe(&empty, now), Some(Flood::Frames));
    }
}
