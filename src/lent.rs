//! Body pieces the engine lends to JS (its BODY_LENT events) and takes back by reference.
//!
//! A large request-body piece reaches JS as an external `Buffer` over the memory the engine
//! read it into, instead of a copy in the event batch. While that `Buffer` lives, this
//! registry knows its bytes, so a response write of them (a piped body: `req.pipe(res)`)
//! queues the engine's own `Bytes` again: no copy back, and no napi reference, whose release
//! from an engine thread would cost a hand-off to the JS thread. The `Buffer`'s finalizer ends
//! the loan; the memory lives on while a queued write still holds it.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use napi::bindgen_prelude::BufferSlice;
use napi::Env;

#[derive(Default)]
pub struct Lent {
    /// Pieces a live `Buffer` shows, by the address of their first byte.
    on_loan: Mutex<BTreeMap<usize, Bytes>>,
    /// The last batch's pieces, in order, until JS takes each for its BODY_LENT event.
    taken: Mutex<VecDeque<Bytes>>,
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Lent {
    /// The pieces of the batch just taken; any an earlier batch left untaken are dropped (each
    /// BODY_LENT event takes one, so none are, unless decoding stopped inside a batch). A
    /// batch that lent nothing, most of them, costs no lock here.
    pub fn batch_taken(&self, pieces: Vec<Bytes>) {
        if pieces.is_empty() {
            return;
        }
        let mut taken = locked(&self.taken);
        taken.clear();
        taken.extend(pieces);
    }

    /// The next lent piece as a `Buffer` over its memory.
    pub fn next_buffer<'env>(
        self: &Arc<Self>,
        env: &'env Env,
    ) -> napi::Result<Option<BufferSlice<'env>>> {
        let Some(piece) = locked(&self.taken).pop_front() else {
            return Ok(None);
        };
        let start = piece.as_ptr() as usize;
        let len = piece.len();
        let data = piece.as_ptr().cast_mut();
        locked(&self.on_loan).insert(start, piece);
        let registry = Arc::clone(self);
        // SAFETY: `data` points at `len` bytes that the map entry keeps alive until the
        // finalizer below removes it. Only JS writes to them, as to any Buffer it holds; the
        // engine reads them again only for a write of them that JS asks for.
        let made = unsafe {
            BufferSlice::from_external(env, data, len, start, move |_, start| {
                registry.end_loan(start)
            })
        };
        if made.is_err() {
            self.end_loan(start);
        }
        made.map(Some)
    }

    fn end_loan(&self, start: usize) {
        // The piece is freed here unless a queued write still holds it.
        locked(&self.on_loan).remove(&start);
    }

    /// The engine's own bytes for `data`, when they lie inside a piece on loan.
    pub fn find(&self, data: &[u8]) -> Option<Bytes> {
        let at = data.as_ptr() as usize;
        let on_loan = locked(&self.on_loan);
        let (&start, piece) = on_loan.range(..=at).next_back()?;
        let offset = at - start;
        let end = offset.checked_add(data.len())?;
        (end <= piece.len()).then(|| piece.slice(offset..end))
    }
}
