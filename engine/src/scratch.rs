//! Per-thread scratch buffers: memory a read or a write needs only while it runs, shared by
//! every connection an engine thread serves instead of held by each.

use std::cell::RefCell;
use std::thread::LocalKey;

/// Runs `f` on `len` bytes of the thread's scratch buffer. The buffer is taken out while
/// `f` runs, so a nested use (or a thread shutting down) gets a fresh one instead.
pub(crate) fn with_scratch<R>(
    key: &'static LocalKey<RefCell<Vec<u8>>>,
    len: usize,
    f: impl FnOnce(&mut [u8]) -> R,
) -> R {
    let mut buf = key
        .try_with(|cell| {
            cell.try_borrow_mut()
                .map(|mut b| std::mem::take(&mut *b))
                .ok()
        })
        .ok()
        .flatten()
        .unwrap_or_default();
    if buf.len() < len {
        buf.resize(len, 0);
    }
    let out = f(&mut buf[..len]);
    let _ = key.try_with(|cell| {
        if let Ok(mut slot) = cell.try_borrow_mut() {
            *slot = buf;
        }
    });
    out
}
