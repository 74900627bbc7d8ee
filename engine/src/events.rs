//! The hand-off from engine threads to the JS thread: events are encoded into one flat byte
//! buffer and the consumer is woken once per batch, not once per event. The JS side decodes
//! the buffer (`lib/events.js`); the layout of each event is documented on its encoder.
//!
//! All integers are little-endian. `str8`/`str16`/`bytes32` are a length of that width followed
//! by the bytes. Every event starts with `kind: u8, conn: u32` (conn 0 for server-wide events).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use tokio::sync::Notify;

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
/// Raw bytes of an upgraded (or CONNECT) connection.
pub const DATA: u8 = 11;
/// One NSS key-log line of a connection's handshake (after its OPEN).
pub const KEYLOG: u8 = 12;

/// A ClientHello waiting for the application (`SNICallback`/`ALPNCallback`): hello id,
/// server name, whether ALPN was offered, the protocols offered, the client's address.
pub const HELLO: u8 = 13;

/// REQUEST flags.
pub const FLAG_HAS_BODY: u8 = 1;
pub const FLAG_KEEP_ALIVE: u8 = 2;
pub const FLAG_UPGRADE: u8 = 4;

/// Wakes the consumer of the queue (the JS thread through a threadsafe function, or a test).
pub trait Waker: Send + Sync + 'static {
    fn wake(&self);
}

/// Above this many undelivered bytes, connections stop reading until the consumer drains:
/// a stalled JS thread turns into TCP backpressure instead of unbounded memory.
const HIGH_WATER: usize = 8 * 1024 * 1024;

pub struct EventQueue {
    buf: Mutex<Vec<u8>>,
    scheduled: AtomicBool,
    drained: Notify,
    waker: Box<dyn Waker>,
}

impl EventQueue {
    pub fn new(waker: Box<dyn Waker>) -> Self {
        EventQueue {
            buf: Mutex::new(Vec::with_capacity(4096)),
            scheduled: AtomicBool::new(false),
            drained: Notify::new(),
            waker,
        }
    }

    /// Appends one event and wakes the consumer if this starts a new batch.
    pub fn push(&self, encode: impl FnOnce(&mut Encoder<'_>)) {
        {
            let mut guard = match self.buf.lock() {
                Ok(g) => g,
                Err(poisoned) => poisoned.into_inner(),
            };
            encode(&mut Encoder { out: &mut guard });
        }
        if !self.scheduled.swap(true, Ordering::AcqRel) {
            self.waker.wake();
        }
    }

    /// Takes the whole pending batch. The next push after this wakes the consumer again.
    pub fn take(&self) -> Vec<u8> {
        let taken = {
            let mut guard = match self.buf.lock() {
                Ok(g) => g,
                Err(poisoned) => poisoned.into_inner(),
            };
            self.scheduled.store(false, Ordering::Release);
            std::mem::replace(&mut *guard, Vec::with_capacity(4096))
        };
        self.drained.notify_waiters();
        taken
    }

    fn pending(&self) -> usize {
        match self.buf.lock() {
            Ok(g) => g.len(),
            Err(poisoned) => poisoned.into_inner().len(),
        }
    }

    /// Waits while the consumer is behind by more than the high-water mark.
    pub async fn wait_for_room(&self) {
        loop {
            let drained = self.drained.notified();
            if self.pending() < HIGH_WATER {
                return;
            }
            drained.await;
        }
    }
}

/// Appends fields to the batch buffer. Lengths that do not fit their field are clamped by the
/// callers' own limits (header sizes are bounded by `maxHeaderSize` long before 4 GiB).
pub struct Encoder<'a> {
    out: &'a mut Vec<u8>,
}

impl Encoder<'_> {
    pub fn head(&mut self, kind: u8, conn: u32) {
        self.out.push(kind);
        self.u32(conn);
    }
    pub fn u8(&mut self, v: u8) {
        self.out.push(v);
    }
    pub fn u16(&mut self, v: u16) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u32(&mut self, v: u32) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }
    pub fn i32(&mut self, v: i32) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }
    pub fn str8(&mut self, s: &[u8]) {
        let s = &s[..s.len().min(u8::MAX as usize)];
        self.out.push(s.len() as u8);
        self.out.extend_from_slice(s);
    }
    pub fn str16(&mut self, s: &[u8]) {
        let s = &s[..s.len().min(u16::MAX as usize)];
        self.u16(s.len() as u16);
        self.out.extend_from_slice(s);
    }
    pub fn bytes32(&mut self, s: &[u8]) {
        let s = &s[..s.len().min(u32::MAX as usize)];
        self.u32(s.len() as u32);
        self.out.extend_from_slice(s);
    }
}
