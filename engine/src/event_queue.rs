//! The hand-off from engine threads to the consumer's thread: events (`events`) are appended to
//! one flat buffer and the consumer is woken once per batch, not once per event.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use tokio::sync::Notify;

use crate::events::Encoder;

/// Wakes the consumer of the queue (the JS thread through a threadsafe function, or a test).
pub trait Waker: Send + Sync + 'static {
    fn wake(&self);
}

/// Above this many undelivered bytes, connections stop reading and the listener stops
/// accepting until the consumer drains: a stalled JS thread becomes TCP backpressure (and a
/// full accept backlog) instead of unbounded memory.
pub const HIGH_WATER: usize = 8 * 1024 * 1024;

/// A batch of at most this many pushes (a request or two) is a light load.
const LIGHT_BATCH: usize = 2;

pub struct EventQueue {
    buf: Mutex<Vec<u8>>,
    /// The buffer's length, kept beside it so the room check on every read and parse needs
    /// no lock.
    pending: AtomicUsize,
    scheduled: AtomicBool,
    /// Pushes into the batch being gathered, and into the last one taken.
    pushes: AtomicUsize,
    last_batch: AtomicUsize,
    high_water: AtomicUsize,
    drained: Notify,
    waker: Box<dyn Waker>,
}

impl EventQueue {
    pub fn new(waker: Box<dyn Waker>) -> Self {
        EventQueue {
            buf: Mutex::new(Vec::with_capacity(4096)),
            pending: AtomicUsize::new(0),
            scheduled: AtomicBool::new(false),
            pushes: AtomicUsize::new(0),
            last_batch: AtomicUsize::new(0),
            high_water: AtomicUsize::new(HIGH_WATER),
            drained: Notify::new(),
            waker,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<u8>> {
        self.buf
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Appends events and wakes the consumer if this starts a new batch. Whatever `encode`
    /// writes lands whole or not at all: a panic inside it cannot leave half an event behind.
    pub fn push(&self, encode: impl FnOnce(&mut Encoder<'_>)) {
        {
            let mut guard = self.lock();
            let mut partial = Partial {
                buf: &mut guard,
                start: 0,
                done: false,
            };
            partial.start = partial.buf.len();
            encode(&mut Encoder::new(&mut *partial.buf));
            partial.done = true;
            self.pending.store(partial.buf.len(), Ordering::Relaxed);
            self.pushes.fetch_add(1, Ordering::Relaxed);
        }
        if !self.scheduled.swap(true, Ordering::AcqRel) {
            self.waker.wake();
        }
    }

    /// Takes the whole pending batch. The next push after this wakes the consumer again.
    pub fn take(&self) -> Vec<u8> {
        let taken = {
            let mut guard = self.lock();
            self.scheduled.store(false, Ordering::Release);
            self.pending.store(0, Ordering::Relaxed);
            let pushes = self.pushes.swap(0, Ordering::Relaxed);
            self.last_batch.store(pushes, Ordering::Relaxed);
            std::mem::replace(&mut *guard, Vec::with_capacity(4096))
        };
        self.drained.notify_waiters();
        taken
    }

    /// Whether the last batch taken was small: the consumer keeps up with a trickle, and a
    /// response it writes may as well go to the socket from its own thread (under load the
    /// engine's writers batch better, and the consumer's thread is the one to spare).
    pub fn lightly_loaded(&self) -> bool {
        self.last_batch.load(Ordering::Relaxed) <= LIGHT_BATCH
    }

    /// Changes the mark (tests use a small one to reach it with a few connections).
    pub fn set_high_water(&self, bytes: usize) {
        self.high_water.store(bytes.max(1), Ordering::Relaxed);
    }

    /// Waits while the consumer is behind by more than the high-water mark.
    pub async fn wait_for_room(&self) {
        loop {
            let drained = self.drained.notified();
            if self.pending.load(Ordering::Relaxed) < self.high_water.load(Ordering::Relaxed) {
                return;
            }
            drained.await;
        }
    }
}

/// Cuts the buffer back to where an encoding started unless it finished.
struct Partial<'a> {
    buf: &'a mut Vec<u8>,
    start: usize,
    done: bool,
}

impl Drop for Partial<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.buf.truncate(self.start);
        }
    }
}
