//! How the engine wakes the JS thread: a libuv async handle of this module's own on the
//! environment's event loop, whose callback calls the server's JS `onEvents` function.
//!
//! A napi threadsafe function did this before, and under load it cost two context switches a
//! wake-up on top of the wake-up itself. Node's `napi_call_threadsafe_function` sends the
//! loop's wake-up while it holds the function's queue mutex, and the JS thread takes that
//! mutex to pop the queue. Woken on a shared core, the JS thread preempted the engine thread
//! still inside the lock and blocked on it at once (hello at 64 connections: two futex calls
//! and two context switches on the JS thread per wake-up). The wake-up carries no data (the
//! batch is taken with `takeEventsInto()`), so a bare `uv_async_send`, which needs no lock the
//! JS thread takes, does the same work.
//!
//! The handle lives on the JS thread: made, referenced, unreferenced and closed there. Engine
//! threads only send, under a read lock that closing takes for writing, so no send reaches a
//! handle once its close has begun. It is closed when the server object is collected or when
//! its environment goes away, whichever comes first; for the second, an async cleanup hook
//! holds the environment's teardown until libuv has closed the handle (a worker whose loop
//! still held it would abort on closing the loop).

use std::ffi::c_void;
use std::os::raw::c_int;
use std::ptr;
use std::sync::{Arc, RwLock};

use napi::sys;
use rhttps_engine::event_queue::Waker;

/// libuv's `UV_ASYNC` handle type, for `uv_handle_size`.
const UV_ASYNC: c_int = 1;
/// Room for a `uv_async_t` (128 bytes in libuv 1.x on 64-bit Unix); checked against
/// `uv_handle_size` before use.
const HANDLE_WORDS: usize = 32;

extern "C" {
    // libuv, as the Node binary exports it to addons.
    fn uv_handle_size(kind: c_int) -> usize;
    fn uv_async_init(
        event_loop: *mut sys::uv_loop_s,
        handle: *mut c_void,
        cb: extern "C" fn(*mut c_void),
    ) -> c_int;
    fn uv_async_send(handle: *mut c_void) -> c_int;
    fn uv_close(handle: *mut c_void, cb: extern "C" fn(*mut c_void));
    fn uv_ref(handle: *mut c_void);
    fn uv_unref(handle: *mut c_void);
}

/// The handle and what its callback needs. `handle` comes first, so the pointer libuv hands
/// the callback is this struct's.
#[repr(C)]
struct Handle {
    handle: [u64; HANDLE_WORDS],
    env: sys::napi_env,
    on_events: sys::napi_ref,
    context: sys::napi_async_context,
    /// For the cleanup hook, which closes through it like `JsWake::close`.
    shared: Shared,
    /// Removed once, when libuv has closed the handle.
    cleanup: sys::napi_async_cleanup_hook_handle,
}

struct HandlePtr(*mut Handle);

// Sent to from engine threads (`uv_async_send` is libuv's one thread-safe call); everything
// else about the handle happens on the JS thread.
unsafe impl Send for HandlePtr {}
unsafe impl Sync for HandlePtr {}

/// The open handle, or `None` once its close has begun.
type Shared = Arc<RwLock<Option<HandlePtr>>>;

/// The JS side's hold on the wake-up: ref, unref, close. JS thread only.
pub struct JsWake {
    shared: Shared,
}

/// The engine's hold: wakes the JS thread until the handle is closed, then does nothing.
pub struct EngineWake(Shared);

/// Why the wake-up could not be made.
#[derive(Debug)]
pub enum WakeError {
    /// This runtime's libuv handles are larger than this module allows for.
    HandleTooLarge(usize),
    /// A napi or libuv call failed, with its name and status.
    Call(&'static str, i32),
}

impl std::fmt::Display for WakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WakeError::HandleTooLarge(size) => write!(
                f,
                "this runtime's libuv async handle is {size} bytes, more than rhttps allows for"
            ),
            WakeError::Call(name, status) => write!(f, "{name} failed with status {status}"),
        }
    }
}

fn check(name: &'static str, status: i32) -> Result<(), WakeError> {
    if status == 0 {
        Ok(())
    } else {
        Err(WakeError::Call(name, status))
    }
}

impl JsWake {
    /// Made on the JS thread of `env`; `on_events` is called there, with no arguments, after
    /// each wake-up. Starts unreferenced: it keeps the event loop alive only after `refer`.
    ///
    /// # Safety
    /// `env` is the current environment and `on_events` a function value in its current scope.
    pub unsafe fn new(
        env: sys::napi_env,
        on_events: sys::napi_value,
    ) -> Result<(JsWake, EngineWake), WakeError> {
        let size = uv_handle_size(UV_ASYNC);
        if size > HANDLE_WORDS * 8 {
            return Err(WakeError::HandleTooLarge(size));
        }
        let mut event_loop = ptr::null_mut();
        check(
            "napi_get_uv_event_loop",
            sys::napi_get_uv_event_loop(env, &mut event_loop),
        )?;
        let mut name = ptr::null_mut();
        let label = "RHTTPS_EVENTS";
        check(
            "napi_create_string_utf8",
            sys::napi_create_string_utf8(
                env,
                label.as_ptr().cast(),
                label.len() as isize,
                &mut name,
            ),
        )?;
        let mut context = ptr::null_mut();
        check(
            "napi_async_init",
            sys::napi_async_init(env, ptr::null_mut(), name, &mut context),
        )?;
        let mut on_events_ref = ptr::null_mut();
        if let Err(e) = check(
            "napi_create_reference",
            sys::napi_create_reference(env, on_events, 1, &mut on_events_ref),
        ) {
            sys::napi_async_destroy(env, context);
            return Err(e);
        }
        let shared: Shared = Arc::new(RwLock::new(None));
        let handle = Box::into_raw(Box::new(Handle {
            handle: [0; HANDLE_WORDS],
            env,
            on_events: on_events_ref,
            context,
            shared: shared.clone(),
            cleanup: ptr::null_mut(),
        }));
        let undo = |handle: *mut Handle| {
            let handle = Box::from_raw(handle);
            sys::napi_delete_reference(env, handle.on_events);
            sys::napi_async_destroy(env, handle.context);
        };
        let status = uv_async_init(event_loop, handle.cast(), on_wake);
        if status != 0 {
            undo(handle);
            return Err(WakeError::Call("uv_async_init", status));
        }
        uv_unref(handle.cast());
        *shared.write().unwrap_or_else(|p| p.into_inner()) = Some(HandlePtr(handle));
        let status = sys::napi_add_async_cleanup_hook(
            env,
            Some(on_cleanup),
            handle.cast(),
            &mut (*handle).cleanup,
        );
        if status != 0 {
            // Closed at once; with no hook to remove, the close callback only frees.
            close_shared(&shared);
            return Err(WakeError::Call("napi_add_async_cleanup_hook", status));
        }
        Ok((
            JsWake {
                shared: shared.clone(),
            },
            EngineWake(shared),
        ))
    }

    fn with_handle(&self, f: impl FnOnce(*mut Handle)) {
        let guard = self.shared.read().unwrap_or_else(|p| p.into_inner());
        if let Some(HandlePtr(handle)) = *guard {
            f(handle);
        }
    }

    /// Keeps the event loop alive while the handle is open.
    pub fn refer(&self) {
        // SAFETY: JS thread; the handle is open while it is in `shared`.
        self.with_handle(|h| unsafe { uv_ref(h.cast()) });
    }

    pub fn unref(&self) {
        // SAFETY: as in `refer`.
        self.with_handle(|h| unsafe { uv_unref(h.cast()) });
    }
}

/// Dropped on the JS thread, with the server object (collected, or never made because its
/// options failed): closes the handle, so later wake-ups do nothing.
impl Drop for JsWake {
    fn drop(&mut self) {
        close_shared(&self.shared);
    }
}

fn close_shared(shared: &Shared) {
    let taken = shared.write().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(HandlePtr(handle)) = taken {
        // SAFETY: JS thread; no engine thread can send to the handle any more, and its
        // memory is freed only by libuv's close callback.
        unsafe {
            let env = (*handle).env;
            sys::napi_delete_reference(env, (*handle).on_events);
            sys::napi_async_destroy(env, (*handle).context);
            uv_close(handle.cast(), on_closed);
        }
    }
}

impl Waker for EngineWake {
    fn wake(&self) {
        let guard = self.0.read().unwrap_or_else(|p| p.into_inner());
        if let Some(HandlePtr(handle)) = *guard {
            // SAFETY: the read lock keeps the handle open for this call.
            unsafe { uv_async_send(handle.cast()) };
        }
    }
}

/// libuv's callback, on the JS thread. `napi_make_callback` runs the function as Node runs
/// an I/O callback: the tick queue and microtasks are drained after it returns.
extern "C" fn on_wake(raw: *mut c_void) {
    // A panic must not unwind into libuv.
    let _ = std::panic::catch_unwind(|| {
        // SAFETY: libuv passes the handle this module made, which is a `Handle`; its fields
        // are only read here, on the JS thread, and stay valid until `close`, after which
        // libuv calls no more async callbacks.
        unsafe {
            let handle = &*(raw as *const Handle);
            call_on_events(handle.env, handle.on_events, handle.context);
        }
    });
}

unsafe fn call_on_events(
    env: sys::napi_env,
    on_events: sys::napi_ref,
    context: sys::napi_async_context,
) {
    let mut scope = ptr::null_mut();
    if sys::napi_open_handle_scope(env, &mut scope) != 0 {
        return;
    }
    let mut func = ptr::null_mut();
    // `napi_make_callback` wants an object as the receiver; the arrow function ignores it.
    let mut recv = ptr::null_mut();
    let mut result = ptr::null_mut();
    if sys::napi_get_reference_value(env, on_events, &mut func) == 0
        && !func.is_null()
        && sys::napi_get_global(env, &mut recv) == 0
        && sys::napi_make_callback(env, context, recv, func, 0, ptr::null(), &mut result)
            == sys::Status::napi_pending_exception
    {
        // As for any I/O callback that throws: the process's 'uncaughtException'.
        let mut err = ptr::null_mut();
        if sys::napi_get_and_clear_last_exception(env, &mut err) == 0 {
            sys::napi_fatal_exception(env, err);
        }
    }
    sys::napi_close_handle_scope(env, scope);
}

/// The environment is going away: close the handle (if the finalizer has not), and let the
/// teardown go on once libuv has (`on_closed`).
unsafe extern "C" fn on_cleanup(_hook: sys::napi_async_cleanup_hook_handle, raw: *mut c_void) {
    // SAFETY: `raw` is the `Handle`, alive until `on_closed`, which removes this hook first.
    let handle = std::panic::AssertUnwindSafe(raw as *const Handle);
    let _ = std::panic::catch_unwind(|| close_shared(&(*handle.0).shared));
}

extern "C" fn on_closed(raw: *mut c_void) {
    // SAFETY: `raw` is the `Handle` boxed in `JsWake::new`, which libuv no longer uses.
    let handle = unsafe { Box::from_raw(raw as *mut Handle) };
    if !handle.cleanup.is_null() {
        // Unregisters the hook, or, if the teardown already ran it, tells the teardown it is
        // done.
        unsafe { sys::napi_remove_async_cleanup_hook(handle.cleanup) };
    }
}
