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

/// Engine threads run as `SCHED_BATCH` on Linux (same share of the CPU as any other thread, no
/// preemption on wake-up): a socket turning readable must not interrupt the JS thread in the
/// middle of its batch, since JS sees what the engine reads only once it asks for the next
/// one. On a core the two share, a handler as slow as Express's (~100 µs) was interrupted once
/// a request, two context switches each. The engine's work then waits for the JS thread to
/// block or its time slice to end; an engine thread on a core of its own runs at once as
/// before. `RHTTPS_SCHED=normal` keeps the default policy.
fn yield_to_js_on_wake_up() {
    if std::env::var("RHTTPS_SCHED").is_ok_and(|v| v == "normal") {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: `param` is a valid sched_param; pid 0 is the calling thread. A refusal (a
        // sandbox that forbids it) leaves the default policy, which only costs speed.
        unsafe {
            libc::sched_setscheduler(0, libc::SCHED_BATCH, &param);
        }
    }
}

pub fn get() -> Result<&'static Runtime, EngineError> {
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(worker_threads())
                .thread_name("rhttps-io")
                .on_thread_start(yield_to_js_on_wake_up)
                .on_thread_park(crate::event_queue::engine_thread_parking)
                .enable_io()
                .enable_time()
                .build()
                .ok()
        })
        .as_ref()
        .ok_or(EngineError::Runtime)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn engine_threads_do_not_preempt_the_js_thread_on_wake_up() {
        let rt = super::get().expect("runtime");
        // SAFETY: sched_getscheduler(0) only reads the calling thread's policy.
        let policy = rt
            .block_on(rt.spawn(async { unsafe { libc::sched_getscheduler(0) } }))
            .expect("task");
        assert_eq!(policy, libc::SCHED_BATCH);
        // The thread that built the runtime (the JS thread, in the addon) keeps its own.
        // SAFETY: as above.
        assert_eq!(unsafe { libc::sched_getscheduler(0) }, libc::SCHED_OTHER);
    }
}
