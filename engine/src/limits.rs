//! Server limits with Node 20's defaults. They are atomics because Node lets users change them
//! on a live server (`server.keepAliveTimeout = 65000` after `createServer` is common).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::request::ParseLimits;

/// Node 20 defaults: `headersTimeout` 60 s, `requestTimeout` 300 s, `keepAliveTimeout` 5 s,
/// `maxHeaderSize` 16 KiB, TLS `handshakeTimeout` 120 s.
#[derive(Debug)]
pub struct Limits {
    headers_timeout_ms: AtomicU64,
    request_timeout_ms: AtomicU64,
    keep_alive_timeout_ms: AtomicU64,
    handshake_timeout_ms: AtomicU64,
    max_header_size: AtomicU64,
    /// Node's `insecureHTTPParser`.
    lenient: AtomicBool,
}

/// Node arms the idle socket timer this much later than the advertised `Keep-Alive: timeout=`,
/// so a client reusing the connection right at the advertised limit does not race the close.
pub const KEEP_ALIVE_GRACE: Duration = Duration::from_millis(1000);

impl Default for Limits {
    fn default() -> Self {
        Limits {
            headers_timeout_ms: AtomicU64::new(60_000),
            request_timeout_ms: AtomicU64::new(300_000),
            keep_alive_timeout_ms: AtomicU64::new(5_000),
            handshake_timeout_ms: AtomicU64::new(120_000),
            max_header_size: AtomicU64::new(16 * 1024),
            lenient: AtomicBool::new(false),
        }
    }
}

fn millis(v: &AtomicU64) -> Option<Duration> {
    match v.load(Ordering::Relaxed) {
        0 => None,
        ms => Some(Duration::from_millis(ms)),
    }
}

impl Limits {
    /// `None` when the limit is switched off (0), as in Node.
    pub fn headers_timeout(&self) -> Option<Duration> {
        millis(&self.headers_timeout_ms)
    }
    pub fn request_timeout(&self) -> Option<Duration> {
        millis(&self.request_timeout_ms)
    }
    pub fn keep_alive_timeout(&self) -> Option<Duration> {
        millis(&self.keep_alive_timeout_ms)
    }
    pub fn handshake_timeout(&self) -> Option<Duration> {
        millis(&self.handshake_timeout_ms)
    }
    pub fn max_header_size(&self) -> usize {
        self.max_header_size.load(Ordering::Relaxed) as usize
    }
    pub fn set_headers_timeout(&self, ms: u64) {
        self.headers_timeout_ms.store(ms, Ordering::Relaxed)
    }
    pub fn set_request_timeout(&self, ms: u64) {
        self.request_timeout_ms.store(ms, Ordering::Relaxed)
    }
    pub fn set_keep_alive_timeout(&self, ms: u64) {
        self.keep_alive_timeout_ms.store(ms, Ordering::Relaxed)
    }
    pub fn set_handshake_timeout(&self, ms: u64) {
        self.handshake_timeout_ms.store(ms, Ordering::Relaxed)
    }
    pub fn set_max_header_size(&self, bytes: u64) {
        self.max_header_size.store(bytes, Ordering::Relaxed)
    }
    pub fn set_lenient(&self, on: bool) {
        self.lenient.store(on, Ordering::Relaxed)
    }
    /// What the request parser needs.
    pub fn parse(&self) -> ParseLimits {
        ParseLimits {
            max_size: self.max_header_size(),
            lenient: self.lenient.load(Ordering::Relaxed),
        }
    }
}
