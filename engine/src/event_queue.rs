//! The hand-off from engine threads to the consumer's thread: events (`events`) are appended to
//! one flat buffer and the consumer is woken once per batch, not once per event. Large body
//! pieces travel beside the buffer, lent rather than copied into it (`events::BODY_LENT`).
//!
//! An engine worker thread does not wake the consumer at the first event of a batch but when it
//! runs out of work (tokio's park hook, `engine_thread_parking`), or, while it stays busy, at
//! the first event after the batch has waited `MAX_DEFER`: the events one pass over the ready
//! sockets produces (a connection's OPEN, its first request and its end; requests from many
//! connections) reach the consumer in one wake-up. Where both threads share a core, each
//! wake-up is a context switch.
//!
//! Some events need not wake the consumer at all (`push_lazy`): a connection's CLOSE, once the
//! connection is over on the wire, is only bookkeeping for JS. A batch of such events waits for
//! the next event that does wake, or `LAZY_DELAY` at most: under a stream of short connections
//! each one's end goes with the next one's OPEN and request instead of in a wake-up of its own.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::Notify;

use crate::events::Encoder;

/// Wakes the consumer of the queue (the JS thread through a libuv async handle, or a test).
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

/// The longest an engine thread that stays busy holds back a batch's wake-up: on more than
/// one core the consumer works while the engine goes on reading.
const MAX_DEFER: Duration = Duration::from_micros(100);

/// The longest a batch of lazy events alone waits for its wake-up (a timer's, so up to one
/// millisecond of tokio's timer wheel more).
pub const LAZY_DELAY: Duration = Duration::from_millis(1);

thread_local! {
    /// Set on tokio's worker threads, the only ones whose park hook pays owed wake-ups.
    static DEFERS: Cell<bool> = const { Cell::new(false) };
    /// Wake-ups this thread owes, paid when it parks.
    static OWED: RefCell<Vec<Arc<Wake>>> = const { RefCell::new(Vec::new()) };
}

/// tokio's `on_thread_park` hook: the worker is out of work, so the consumers of the batches
/// it started are woken now. It also marks the thread as one that defers.
pub fn engine_thread_parking() {
    DEFERS.set(true);
    OWED.with_borrow_mut(|owed| {
        for wake in owed.drain(..) {
            wake.owed.store(false, Ordering::Release);
            wake.now();
        }
    });
}

/// The consumer's wake-up, shared with the owing thread's list.
struct Wake {
    /// The consumer has been woken for the pending batch (cleared when it takes it).
    scheduled: AtomicBool,
    /// Some engine thread's list holds this until it parks.
    owed: AtomicBool,
    /// When the batch's wake-up was first held back, in nanoseconds since `born`.
    deferred_at: AtomicU64,
    born: Instant,
    /// Counts the batches taken, so a lazy timer knows whether its batch is still pending.
    batches: AtomicU64,
    /// The batch (`batches` + 1) that has a lazy timer running; 0 for none.
    lazy_timer: AtomicU64,
    waker: Box<dyn Waker>,
}

impl Wake {
    fn now(&self) {
        if !self.scheduled.swap(true, Ordering::AcqRel) {
            self.waker.wake();
        }
    }

    fn elapsed_ns(&self) -> u64 {
        u64::try_from(self.born.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// After a lazy push: a timer wakes the consumer unless something else does first.
    /// Outside a tokio runtime (no timer to run) the push counts as any other.
    fn after_lazy_push(self: &Arc<Self>) {
        if self.scheduled.load(Ordering::Acquire) || self.owed.load(Ordering::Acquire) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return self.after_push();
        };
        let batch = self.batches.load(Ordering::Acquire) + 1;
        if self.lazy_timer.swap(batch, Ordering::AcqRel) == batch {
            return;
        }
        let wake = Arc::clone(self);
        runtime.spawn(async move {
            tokio::time::sleep(LAZY_DELAY).await;
            if wake.batches.load(Ordering::Acquire) + 1 == batch {
                wake.now();
            }
        });
    }

    /// After a push: wakes the consumer now, or leaves it to this thread's park.
    fn after_push(self: &Arc<Self>) {
        if self.scheduled.load(Ordering::Acquire) {
            return;
        }
        if !DEFERS.get() {
            return self.now();
        }
        if !self.owed.swap(true, Ordering::AcqRel) {
            self.deferred_at.store(self.elapsed_ns(), Ordering::Relaxed);
            OWED.with_borrow_mut(|owed| owed.push(Arc::clone(self)));
        } else {
            // Still owed from an earlier batch woken by age: this thread has not parked
            // since, the consumer is busy, and the batch goes at once.
            let waited = self
                .elapsed_ns()
                .saturating_sub(self.deferred_at.load(Ordering::Relaxed));
            if u128::from(waited) >= MAX_DEFER.as_nanos() {
                self.now();
            }
        }
    }
}

/// The batch being gathered: its bytes, and the body pieces its BODY_LENT events lend.
#[derive(Default)]
pub struct Batch {
    pub bytes: Vec<u8>,
    pub lent: Vec<Bytes>,
}

impl Batch {
    fn with_capacity(bytes: usize) -> Self {
        Batch {
            bytes: Vec::with_capacity(bytes),
            lent: Vec::new(),
        }
    }

    /// What the batch holds for the consumer, lent pieces included.
    fn size(&self) -> usize {
        self.bytes.len() + self.lent.iter().map(Bytes::len).sum::<usize>()
    }
}

pub struct EventQueue {
    buf: Mutex<Batch>,
    /// The batch's size (`Batch::size`), kept beside it so the room check on every read and
    /// parse needs no lock.
    pending: AtomicUsize,
    wake: Arc<Wake>,
    /// Pushes into the batch being gathered, and into the last one taken.
    pushes: AtomicUsize,
    last_batch: AtomicUsize,
    high_water: AtomicUsize,
    drained: Notify,
}

impl EventQueue {
    pub fn new(waker: Box<dyn Waker>) -> Self {
        EventQueue {
            buf: Mutex::new(Batch::with_capacity(4096)),
            pending: AtomicUsize::new(0),
            wake: Arc::new(Wake {
                scheduled: AtomicBool::new(false),
                owed: AtomicBool::new(false),
                deferred_at: AtomicU64::new(0),
                born: Instant::now(),
                batches: AtomicU64::new(0),
                lazy_timer: AtomicU64::new(0),
                waker,
            }),
            pushes: AtomicUsize::new(0),
            last_batch: AtomicUsize::new(0),
            high_water: AtomicUsize::new(HIGH_WATER),
            drained: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Batch> {
        self.buf
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Appends events; a new batch's consumer is woken (the module's comment says when).
    /// Whatever `encode` writes lands whole or not at all: a panic inside it cannot leave half
    /// an event behind.
    pub fn push(&self, encode: impl FnOnce(&mut Encoder<'_>)) {
        self.append(encode);
        self.wake.after_push();
    }

    /// Appends events that need not reach the consumer before the next ones that do, nor
    /// later than `LAZY_DELAY` (the module's comment says why).
    pub fn push_lazy(&self, encode: impl FnOnce(&mut Encoder<'_>)) {
        self.append(encode);
        self.wake.after_lazy_push();
    }

    fn append(&self, encode: impl FnOnce(&mut Encoder<'_>)) {
        {
            let mut guard = self.lock();
            let batch = &mut *guard;
            let mut partial = Partial {
                start: batch.bytes.len(),
                lent_start: batch.lent.len(),
                batch,
                done: false,
            };
            let Batch { bytes, lent } = &mut *partial.batch;
            encode(&mut Encoder::lending(bytes, lent));
            partial.done = true;
            self.pending.store(partial.batch.size(), Ordering::Relaxed);
            self.pushes.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Takes the whole pending batch. The next push after this wakes the consumer again.
    pub fn take(&self) -> Batch {
        let taken = {
            let mut guard = self.lock();
            self.start_next_batch();
            std::mem::replace(&mut *guard, Batch::with_capacity(4096))
        };
        self.drained.notify_waiters();
        taken
    }

    /// Takes the pending batch's bytes into `dst` when they fit there, keeping this buffer
    /// for the next batch: the consumer reuses one buffer for the usual small batch instead
    /// of taking over a fresh allocation per batch. Bytes larger than `dst` are handed over
    /// whole. The batch's lent pieces come beside them.
    pub fn take_into(&self, dst: &mut [u8]) -> (Taken, Vec<Bytes>) {
        let taken = {
            let mut guard = self.lock();
            self.start_next_batch();
            let lent = std::mem::take(&mut guard.lent);
            let bytes = &mut guard.bytes;
            let taken = match dst.get_mut(..bytes.len()) {
                Some(room) => {
                    room.copy_from_slice(bytes);
                    let len = bytes.len();
                    bytes.clear();
                    // A burst may have grown the buffer; it is not kept at that size.
                    if bytes.capacity() > KEPT_CAPACITY {
                        bytes.shrink_to(KEPT_CAPACITY);
                    }
                    Taken::Copied(len)
                }
                None => Taken::Whole(std::mem::replace(bytes, Vec::with_capacity(4096))),
            };
            (taken, lent)
        };
        self.drained.notify_waiters();
        taken
    }

    /// With the lock held: the batch is being taken.
    fn start_next_batch(&self) {
        self.wake.batches.fetch_add(1, Ordering::AcqRel);
        self.wake.scheduled.store(false, Ordering::Release);
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

/// Cuts the batch back to where an encoding started unless it finished.
struct Partial<'a> {
    batch: &'a mut Batch,
    start: usize,
    lent_start: usize,
    done: bool,
}

impl Drop for Partial<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.batch.bytes.truncate(self.start);
            self.batch.lent.truncate(self.lent_start);
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
        assert_eq!(queue.take_into(&mut dst).0, Taken::Copied(expected.len()));
        assert_eq!(&dst[..expected.len()], &expected[..]);
        assert_eq!(wakes.load(Ordering::Relaxed), 1);
        queue.push(|e| e.drain(9));
        assert_eq!(wakes.load(Ordering::Relaxed), 2);
        assert_eq!(
            queue.take_into(&mut dst).0,
            Taken::Copied(expected.len() / 2)
        );
        assert_eq!(queue.take_into(&mut dst).0, Taken::Copied(0));
    }

    /// Runs `f` on a thread of its own that defers wake-ups as tokio's workers do.
    fn on_a_deferring_thread(f: impl FnOnce() + Send + 'static) {
        std::thread::spawn(move || {
            engine_thread_parking();
            f();
        })
        .join()
        .expect("the test thread finished");
    }

    #[test]
    fn a_worker_thread_wakes_the_consumer_once_when_it_parks_not_at_the_first_push() {
        on_a_deferring_thread(|| {
            let (queue, wakes) = queue();
            queue.push(|e| e.drain(1));
            queue.push(|e| e.drain(2));
            assert_eq!(
                wakes.load(Ordering::Relaxed),
                0,
                "held back while the thread works"
            );
            engine_thread_parking();
            assert_eq!(wakes.load(Ordering::Relaxed), 1);
            queue.push(|e| e.drain(3));
            engine_thread_parking();
            assert_eq!(
                wakes.load(Ordering::Relaxed),
                1,
                "the batch's wake-up is not repeated"
            );
            let mut dst = [0u8; 64];
            assert!(matches!(queue.take_into(&mut dst).0, Taken::Copied(n) if n > 0));
            queue.push(|e| e.drain(4));
            engine_thread_parking();
            assert_eq!(
                wakes.load(Ordering::Relaxed),
                2,
                "the next batch wakes again"
            );
        });
    }

    #[test]
    fn a_batch_held_back_past_max_defer_wakes_the_consumer_at_the_next_push() {
        on_a_deferring_thread(|| {
            let (queue, wakes) = queue();
            queue.push(|e| e.drain(1));
            std::thread::sleep(MAX_DEFER * 2);
            queue.push(|e| e.drain(2));
            assert_eq!(wakes.load(Ordering::Relaxed), 1);
            engine_thread_parking();
            assert_eq!(wakes.load(Ordering::Relaxed), 1);
        });
    }

    #[test]
    fn a_thread_that_never_parks_as_a_worker_wakes_the_consumer_at_once() {
        let (queue, wakes) = queue();
        queue.push(|e| e.drain(1));
        assert_eq!(wakes.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn a_lazy_event_alone_wakes_the_consumer_only_after_the_lazy_delay() {
        let (queue, wakes) = queue();
        queue.push_lazy(|e| e.drain(1));
        queue.push_lazy(|e| e.drain(2));
        assert_eq!(wakes.load(Ordering::Relaxed), 0, "no wake-up at the push");
        tokio::time::sleep(LAZY_DELAY * 4).await;
        assert_eq!(wakes.load(Ordering::Relaxed), 1, "one timer for the batch");
        let mut dst = [0u8; 64];
        assert!(matches!(queue.take_into(&mut dst).0, Taken::Copied(n) if n > 0));
    }

    #[tokio::test]
    async fn a_lazy_event_goes_with_the_next_event_that_wakes_and_its_timer_then_wakes_nothing() {
        let (queue, wakes) = queue();
        queue.push_lazy(|e| e.drain(1));
        queue.push(|e| e.drain(2));
        assert_eq!(wakes.load(Ordering::Relaxed), 1);
        let both = encoded(|e| {
            e.drain(1);
            e.drain(2);
        });
        let mut dst = [0u8; 64];
        assert_eq!(queue.take_into(&mut dst).0, Taken::Copied(both.len()));
        tokio::time::sleep(LAZY_DELAY * 4).await;
        assert_eq!(
            wakes.load(Ordering::Relaxed),
            1,
            "the timer's batch was taken: the next one is not woken"
        );
    }

    #[test]
    fn a_lazy_event_pushed_outside_a_runtime_wakes_the_consumer_at_once() {
        let (queue, wakes) = queue();
        queue.push_lazy(|e| e.drain(1));
        assert_eq!(wakes.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_large_body_piece_is_lent_beside_the_batch_and_counts_towards_its_size() {
        let (queue, _) = queue();
        let piece = bytes::Bytes::from(vec![b'x'; crate::events::LENT_MIN]);
        queue.push(|e| e.body_piece(3, piece.clone()));
        assert!(
            queue.pending.load(Ordering::Relaxed) > crate::events::LENT_MIN,
            "the room check sees the lent bytes"
        );
        let mut dst = [0u8; 64];
        let (taken, lent) = queue.take_into(&mut dst);
        let Taken::Copied(len) = taken else {
            panic!("the event itself is small: {taken:?}");
        };
        assert_eq!(dst[0], crate::events::BODY_LENT);
        assert_eq!(len, 9, "kind, connection and length: no body bytes");
        assert_eq!(lent.len(), 1);
        assert_eq!(
            lent[0].as_ptr(),
            piece.as_ptr(),
            "the same memory, not a copy"
        );
        assert_eq!(queue.take_into(&mut dst), (Taken::Copied(0), Vec::new()));
    }

    #[test]
    fn an_encoding_that_panics_leaves_neither_its_bytes_nor_its_lent_piece() {
        let (queue, _) = queue();
        queue.push(|e| e.drain(1));
        let piece = bytes::Bytes::from(vec![b'x'; crate::events::LENT_MIN]);
        let pushed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            queue.push(|e| {
                e.body_piece(2, piece.clone());
                panic!("an encoder failed half-way");
            })
        }));
        assert!(pushed.is_err());
        let batch = queue.take();
        assert_eq!(batch.bytes, encoded(|e| e.drain(1)));
        assert!(batch.lent.is_empty());
    }

    #[test]
    fn a_batch_larger_than_the_consumers_buffer_is_handed_over_whole() {
        let (queue, _) = queue();
        let body = vec![b'x'; 100];
        queue.push(|e| e.body(3, &body));
        let mut dst = [0u8; 64];
        assert_eq!(
            queue.take_into(&mut dst).0,
            Taken::Whole(encoded(|e| e.body(3, &body)))
        );
        assert!(dst.iter().all(|&b| b == 0), "nothing was copied");
        assert_eq!(queue.take_into(&mut dst).0, Taken::Copied(0));
    }
}
