//! The one tokio runtime shared by every server in the process.

use std::sync::OnceLock;

use tokio::runtime::Runtime;

use crate::error::EngineError;

static RUNTIME: OnceLock<Option<Runtime>> = OnceLock::new();

/// Worker threads: `RHTTPS_THREADS` if set, otherwise one fewer than the cores (the JS thread
/// needs one of its own), at least one.
fn worker_threads() -> usize {
    if let Some(n) = std::env::var("RHTTPS_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
    {
        return n;
    }
    std::thread::available_parallelism()
        .map(|n| n.get().saturating_sub(1).max(1))
        .unwrap_or(1)
}

pub fn get() -> Result<&'static Runtime, EngineError> {
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(worker_threads())
                .thread_name("rhttps-io")
                .on_thread_park(crate::event_queue::engine_thread_parking)
                .enable_io()
                .enable_time()
                .build()
                .ok()
        })
        .as_ref()
        .ok_or(EngineError::Runtime)
}
