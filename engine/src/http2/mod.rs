//! HTTP/2, when ALPN agreed on `h2`: the `h2` crate drives the connection, and each stream is
//! served as a connection of its own (its own id, STREAM then REQUEST events), so the JS side
//! runs Node's own HTTP/1 pipeline per stream and `stream` turns the bytes Node's
//! `ServerResponse` wrote into HTTP/2 frames (`response`).

mod meter;
mod response;
mod stream;

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use h2::Reason;
use tokio::time::Instant;

use crate::conn::{BoxedStream, Command, ConnCtx, ConnState};
use crate::server::{self, Shared};
use meter::{Flood, FloodSignal, Metered};

/// Streams a client may open at once (SETTINGS_MAX_CONCURRENT_STREAMS), Node's default.
const MAX_CONCURRENT_STREAMS: u32 = 100;
/// Handlers running at once on one connection, reset streams included: h2 stops counting a
/// stream the client reset, but its handler still runs until the JS side lets it go
/// (MadeYouReset, CVE-2025-8671). Past this, new streams are refused.
const MAX_HANDLERS: usize = 2 * MAX_CONCURRENT_STREAMS as usize;
/// Per-stream receive window; a paused request withholds it, for its own stream only.
const STREAM_WINDOW: u32 = 64 * 1024;
const CONNECTION_WINDOW: u32 = 1024 * 1024;
/// Streams reset by the client before we accepted them, and streams we reset for its errors,
/// tolerated before h2 closes the connection itself. Rapid reset (CVE-2023-44487) is caught
/// earlier by the meter's reset rate, whose GOAWAY reaches the client (h2's own, sent from a
/// connection already in error, may not); h2's bound stays as the backstop.
const MAX_PENDING_RESETS: usize = 400;
const MAX_ERROR_RESETS: usize = 256;
/// How long an abruptly closed connection gets to put its GOAWAY on the wire.
const GOAWAY_FLUSH: Duration = Duration::from_millis(200);
/// Streams waiting for flow-control window, with none granted for `STALL_TIMEOUT`, that close
/// the connection: a client that opens streams and never lets their responses through holds
/// their handlers and buffers (the zero-window pile-up).
const STALLED_STREAMS: usize = 32;
const STALL_TIMEOUT: Duration = Duration::from_secs(3);
/// How long the handshake (the client's preface and SETTINGS) may take.
const PREFACE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves an HTTP/2 connection until the client or the server ends it.
pub(crate) async fn serve(
    stream: BoxedStream,
    ctx: &ConnCtx,
    shared: &Arc<Shared>,
) -> io::Result<()> {
    let state = &ctx.state;
    let mut builder = h2::server::Builder::new();
    builder
        .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
        .max_header_list_size(ctx.limits.max_header_size().min(u32::MAX as usize) as u32)
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .max_pending_accept_reset_streams(MAX_PENDING_RESETS)
        .max_local_error_reset_streams(Some(MAX_ERROR_RESETS));
    let flood = Arc::new(FloodSignal::default());
    let metered = Metered::new(stream, flood.clone());
    let io = metered.shared();
    let handshake = builder.handshake::<_, Bytes>(metered);
    let mut conn = tokio::select! {
        biased;
        _ = state.cancel.cancelled() => return Ok(()),
        done = tokio::time::timeout(PREFACE_TIMEOUT, handshake) => match done {
            Ok(conn) => conn.map_err(to_io)?,
            Err(_) => return Err(io::ErrorKind::TimedOut.into()),
        },
    };
    let handlers = Arc::new(AtomicUsize::new(0));
    let window = Arc::new(WindowWait::default());
    let mut idle_since = Some(Instant::now());
    let mut going_away = false;
    loop {
        let idle = handlers.load(Ordering::SeqCst) == 0;
        state.between_requests.store(idle, Ordering::SeqCst);
        if idle {
            idle_since.get_or_insert_with(Instant::now);
        } else {
            idle_since = None;
        }
        let keep_alive = ctx.limits.keep_alive_timeout();
        let deadline = match going_away {
            true => None,
            false => idle_since.zip(keep_alive).map(|(since, d)| since + d),
        };
        // headersTimeout: a header block left open holds the whole connection.
        let header_deadline = flood
            .header_block_since()
            .zip(ctx.limits.headers_timeout())
            .map(|(since, d)| Instant::from_std(since + d));
        if header_deadline.is_some_and(|at| at <= Instant::now()) {
            close_offender(conn, io, Some(Reason::ENHANCE_YOUR_CALM)).await;
            return Err(io::ErrorKind::TimedOut.into());
        }
        let deadline = match (deadline, header_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        // While streams pile up waiting for window, look again each second.
        let stall_check = window.blocked.load(Ordering::SeqCst) >= STALLED_STREAMS;
        let deadline = match (deadline, stall_check) {
            (d, false) => d,
            (Some(d), true) => Some(d.min(Instant::now() + Duration::from_secs(1))),
            (None, true) => Some(Instant::now() + Duration::from_secs(1)),
        };
        if stall_check && window.stalled_for() >= STALL_TIMEOUT {
            close_offender(conn, io, Some(Reason::ENHANCE_YOUR_CALM)).await;
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "HTTP/2 streams left without flow-control window (zero-window pile-up)",
            ));
        }
        let sleep = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = state.cancel.cancelled() => {
                go_away(&mut conn, Reason::NO_ERROR).await;
                return Ok(());
            }
            // A flood, or a header block opened or closed (the headersTimeout clock).
            _ = flood.notify.notified() => {
                if let Some(seen) = flood.flood() {
                    close_offender(conn, io, Some(Reason::ENHANCE_YOUR_CALM)).await;
                    let what = match seen {
                        Flood::Resets => "streams reset faster than any client needs (rapid reset)",
                        Flood::Frames => "control frames faster than any client needs (HTTP/2 flood)",
                    };
                    return Err(io::Error::new(io::ErrorKind::InvalidData, what));
                }
            }
            // The JS side ended the connection's socket (server.close()): GOAWAY, and the
            // open streams finish.
            cmd = state.commands.recv(), if !going_away => {
                if matches!(cmd, Command::End) {
                    conn.graceful_shutdown();
                    going_away = true;
                }
            }
            _ = sleep => {
                if idle && !going_away {
                    conn.graceful_shutdown();
                    going_away = true;
                }
            }
            _ = state.wake.notified() => {}
            _ = window.changed.notified() => {}
            accepted = conn.accept() => match accepted {
                None => return Ok(()),
                Some(Err(e)) => {
                    // h2 has queued its GOAWAY (a protocol error, or its own flood limits).
                    close_offender(conn, io, None).await;
                    return Err(to_io(e));
                }
                Some(Ok((request, mut respond))) => {
                    if handlers.load(Ordering::SeqCst) >= MAX_HANDLERS {
                        respond.send_reset(Reason::REFUSED_STREAM);
                        continue;
                    }
                    ctx.events.wait_for_room().await;
                    start_stream(shared, state, &handlers, &window, request, respond);
                }
            },
        }
    }
}

/// Sends GOAWAY and gives it a moment to reach the client; open streams end with the
/// connection.
async fn go_away<T>(conn: &mut h2::server::Connection<T, Bytes>, reason: Reason)
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    conn.abrupt_shutdown(reason);
    let closed = std::future::poll_fn(|cx| conn.poll_closed(cx));
    let _ = tokio::time::timeout(GOAWAY_FLUSH, closed).await;
}

/// Ends a connection whose client broke a limit: GOAWAY (`reason`, or the one h2 has already
/// queued), then the client's input is drained before closing, so that a TCP reset does not
/// destroy the GOAWAY in flight.
async fn close_offender<T>(
    mut conn: h2::server::Connection<T, Bytes>,
    io: std::sync::Arc<std::sync::Mutex<BoxedStream>>,
    reason: Option<Reason>,
) where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    match reason {
        Some(reason) => go_away(&mut conn, reason).await,
        None => {
            let closed = std::future::poll_fn(|cx| conn.poll_closed(cx));
            let _ = tokio::time::timeout(GOAWAY_FLUSH, closed).await;
        }
    }
    drop(conn);
    meter::drain(io).await;
}

/// Registers the stream and runs its task; the handler count drops when the task ends.
fn start_stream(
    shared: &Arc<Shared>,
    conn: &Arc<ConnState>,
    handlers: &Arc<AtomicUsize>,
    window: &Arc<WindowWait>,
    request: http::Request<h2::RecvStream>,
    respond: h2::server::SendResponse<Bytes>,
) {
    let mut registration = server::register_stream(shared, conn.id, conn.cancel.child_token());
    handlers.fetch_add(1, Ordering::SeqCst);
    let running = Running {
        handlers: handlers.clone(),
        conn: conn.clone(),
    };
    let window = window.clone();
    let shared = shared.clone();
    tokio::spawn(async move {
        let id = registration.ctx.state.id;
        let result = stream::serve(request, respond, &registration.ctx, &window).await;
        // A stream that ended without its response (the client reset it) still has a handler
        // on the JS side until that side has seen the CLOSE: it keeps its place until then
        // (MadeYouReset, CVE-2025-8671). The JS side releases it (`release_stream`).
        if result.is_err() {
            server::lock(&shared.held_streams).insert(id, Box::new(running));
        } else {
            drop(running);
        }
        registration.ended(result);
    });
}

/// How the connection's streams fare with the client's flow-control window: how many wait for
/// it, and when any last got some.
#[derive(Debug)]
pub(crate) struct WindowWait {
    pub(crate) blocked: AtomicUsize,
    /// Told when `blocked` reaches `STALLED_STREAMS`, so the connection starts watching.
    pub(crate) changed: tokio::sync::Notify,
    base: std::time::Instant,
    last_grant_ms: std::sync::atomic::AtomicU64,
}

impl Default for WindowWait {
    fn default() -> Self {
        WindowWait {
            blocked: AtomicUsize::new(0),
            changed: tokio::sync::Notify::new(),
            base: std::time::Instant::now(),
            last_grant_ms: Default::default(),
        }
    }
}

impl WindowWait {
    pub(crate) fn wait_started(&self) {
        if self.blocked.fetch_add(1, Ordering::SeqCst) + 1 == STALLED_STREAMS {
            self.changed.notify_one();
        }
    }

    pub(crate) fn granted(&self) {
        let ms = self.base.elapsed().as_millis() as u64;
        self.last_grant_ms.store(ms, Ordering::SeqCst);
    }

    fn stalled_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_grant_ms.load(Ordering::SeqCst));
        self.base.elapsed().saturating_sub(last)
    }
}

/// One running stream handler; dropping it (also on a panic) frees its place.
struct Running {
    handlers: Arc<AtomicUsize>,
    conn: Arc<ConnState>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.handlers.fetch_sub(1, Ordering::SeqCst);
        self.conn.wake.notify_one();
    }
}

/// An h2 error as the `io::Error` a connection's CLOSE reason is classified from: a reset is
/// the client resetting, an I/O error stays itself.
pub(crate) fn to_io(e: h2::Error) -> io::Error {
    if e.is_io() {
        return e.into_io().unwrap_or_else(|| io::ErrorKind::Other.into());
    }
    if e.is_reset() || e.is_go_away() {
        return io::Error::new(io::ErrorKind::ConnectionReset, e);
    }
    io::Error::other(e)
}
