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

/// What `take_into` kept between batches at most.
const KEPT_CAPACITY: usize = 64 * 1024;

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
            self.start_next_batch();
            std::mem::replace(&mut *guard, Vec::with_capacity(4096))
        };
        self.drained.notify_waiters();
        taken
    }

    /// Takes the pending batch into `dst` when it fits there, keeping this buffer for the next
    /// batch: the consumer reuses one buffer for the usual small batch instead of taking over
    /// a fresh allocation per batch. A batch larger than `dst` is handed over whole.
    pub fn take_into(&self, dst: &mut [u8]) -> Taken {
        let taken = {
            let mut guard = self.lock();
            self.start_next_batch();
            match dst.get_mut(..guard.len()) {
                Some(room) => {
                    room.copy_from_slice(&guard);
                    let len = guard.len();
                    guard.clear();
                    // A burst may have grown the buffer; it is not kept at that size.
                    if guard.capacity() > KEPT_CAPACITY {
                        guard.shrink_to(KEPT_CAPACITY);
                    }
                    Taken::Copied(len)
                }
                None => Taken::Whole(std::mem::replace(&mut *guard, Vec::with_capacity(4096))),
            }
        };
        self.drained.notify_waiters();
        taken
    }

    /// With the lock held: the batch is being taken.
    fn start_next_batch(&self) {
        self.scheduled.store(false, Ordering::Release);
        self.pending.store(0, Ordering::Relaxed);
        let pushes = self.pushes.swap(0, Ordering::Relaxed);
        self.last_batch.store(pushes, Ordering::Relaxed);
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

/// A batch taken by `take_into`.
#[derive(Debug, PartialEq, Eq)]
pub enum Taken {
    /// Its bytes are the first `n` of the consumer's buffer.
    Copied(usize),
    /// It did not fit: here it is.
    Whole(Vec<u8>),
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;

    struct CountWakes(Arc<AtomicUsize>);
    impl Waker for CountWakes {
        fn wake(&self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn queue() -> (EventQueue, Arc<AtomicUsize>) {
        let wakes = Arc::new(AtomicUsize::new(0));
        (EventQueue::new(Box::new(CountWakes(wakes.clone()))), wakes)
    }

    fn encoded(push: impl FnOnce(&mut Encoder<'_>)) -> Vec<u8> {
        let mut out = Vec::new();
        push(&mut Encoder::new(&mut out));
        out
    }

    #[test]
    fn a_batch_that_fits_is_copied_into_the_consumers_buffer_and_the_next_push_wakes_again() {
        let (queue, wakes) = queue();
        queue.push(|e| e.drain(7));
        queue.push(|e| e.peer_end(8));
        let expected = encoded(|e| {
            e.drain(7);
            e.peer_end(8);
        });
        let mut dst = [0u8; 64];
        assert_eq!(queue.take_into(&mut dst), Taken::Copied(expected.len()));
        assert_eq!(&dst[..expected.len()], &expected[..]);
        assert_eq!(wakes.load(Ordering::Relaxed), 1);
        queue.push(|e| e.drain(9));
        assert_eq!(wakes.load(Ordering::Relaxed), 2);
        assert_eq!(queue.take_into(&mut dst), Taken::Copied(expected.len() / 2));
        assert_eq!(queue.take_into(&mut dst), Taken::Copied(0));
    }

    #[test]
    fn a_batch_larger_than_the_consumers_buffer_is_handed_over_whole() {
        let (queue, _) = queue();
        let body = vec![b'x'; 100];
        queue.push(|e| e.body(3, &body));
        let mut dst = [0u8; 64];
        assert_eq!(
            queue.take_into(&mut dst),
            Taken::Whole(encoded(|e| e.body(3, &body)))
        );
        assert!(dst.iter().all(|&b| b == 0), "nothing was copied");
        assert_eq!(queue.take_into(&mut dst), Taken::Copied(0));
    }
}
