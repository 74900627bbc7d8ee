//! A server: the listening socket, the accept loop, and the registry through which the JS side
//! reaches each live connection by id.
//!
//! Lifecycle: each accepted connection is one task that owns it from accept to close. The task
//! runs the handshake (`handshake`), registers the connection, sends OPEN, serves it
//! (`conn::serve`) and deregisters it; deregistering and the CLOSE event live in a guard the
//! task owns, so they happen on every way out, a panic included. Each connection has a
//! cancellation token, a child of the server's: `destroy()` cancels one connection,
//! `shutdown()` (the Node environment going away) cancels them all, handshakes included.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard, RwLock, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::conn::{self, CloseReason, ConnHandle};
use crate::error::EngineError;
use crate::event_queue::{Batch, EventQueue, Taken, Waker};
use crate::events::Negotiated;
use crate::handshake;
use crate::hello::{self, HelloAnswer, HelloHooks};
use crate::limits::Limits;
use crate::listener::{self, Accepted, ListenOptions, Listener};
use crate::pipe::{self, PipeHandle};
use crate::runtime;
use crate::tickets::TicketKeys;
use crate::tls::{self, ServerTls, SniContexts, TlsOptions};

pub(crate) struct Shared {
    pub(crate) events: Arc<EventQueue>,
    pub(crate) limits: Arc<Limits>,
    tls: RwLock<Option<Arc<ServerTls>>>,
    sni: Arc<SniContexts>,
    tickets: Option<Arc<TicketKeys>>,
    pub(crate) keylog: AtomicBool,
    /// `SNICallback` (bit 0) and `ALPNCallback` (bit 1) are set.
    hooks: AtomicU8,
    pub(crate) hellos: Arc<hello::Pending>,
    conns: Mutex<HashMap<u32, ConnHandle>>,
    /// Streams the application handed over (`adopt`), by pipe id (counted apart from
    /// connection ids).
    pipes: Mutex<HashMap<u32, PipeHandle>>,
    next_pipe: AtomicU32,
    /// HTTP/2 streams the client reset, still counted against their connection's handler
    /// limit until the JS side has let go of them (`release_stream`).
    pub(crate) held_streams: Mutex<HashMap<u32, Box<dyn Send>>>,
    next_id: AtomicU32,
    listening: Mutex<Option<Listening>>,
    /// Cancelled when the server shuts down; every connection's token is its child.
    shutdown: CancellationToken,
}

impl Shared {
    pub(crate) fn hello_hooks(&self) -> HelloHooks {
        let bits = self.hooks.load(Ordering::Relaxed);
        HelloHooks {
            sni: bits & 1 != 0,
            alpn: bits & 2 != 0,
        }
    }
}

/// The accept loop of a listening server, as `stop_accepting` reaches it.
struct Listening {
    stop: oneshot::Sender<()>,
    /// Disconnects once the accept loop has dropped its socket (the port is free again).
    released: mpsc::Receiver<()>,
}

/// How long `stop_accepting` waits for the listening socket to close. Node frees the port
/// before `close()` returns; waiting here keeps a re-bind right after `close()` working.
const RELEASE_WAIT: Duration = Duration::from_secs(1);

/// One HTTP(S) server. Cheap to share; all methods may be called from any thread.
#[derive(Clone)]
pub struct Server {
    shared: Arc<Shared>,
}

/// A server reference that does not keep it alive (for the napi glue's environment cleanup
/// hook, which must not outlive or pin the server it would shut down).
#[derive(Clone)]
pub struct WeakServer(Weak<Shared>);

impl WeakServer {
    pub fn upgrade(&self) -> Option<Server> {
        self.0.upgrade().map(|shared| Server { shared })
    }
}

/// Why starting a listener failed: an engine condition, or a socket error still to be
/// labelled with its syscall.
enum StartError {
    Engine(EngineError),
    Io(io::Error),
}

impl StartError {
    fn map_io(self, f: impl FnOnce(io::Error) -> EngineError) -> EngineError {
        match self {
            StartError::Engine(e) => e,
            StartError::Io(e) => f(e),
        }
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Server {
    /// A server for plain HTTP until `set_tls` is called. `waker` is told when a batch of
    /// events is ready.
    pub fn new(waker: Box<dyn Waker>) -> Server {
        Server {
            shared: Arc::new(Shared {
                events: Arc::new(EventQueue::new(waker)),
                limits: Arc::new(Limits::default()),
                tls: RwLock::new(None),
                sni: Arc::default(),
                tickets: TicketKeys::random().ok().map(Arc::new),
                keylog: AtomicBool::new(false),
                hooks: AtomicU8::new(0),
                hellos: Arc::default(),
                conns: Mutex::new(HashMap::new()),
                pipes: Mutex::new(HashMap::new()),
                next_pipe: AtomicU32::new(1),
                held_streams: Mutex::new(HashMap::new()),
                next_id: AtomicU32::new(1),
                listening: Mutex::new(None),
                shutdown: CancellationToken::new(),
            }),
        }
    }

    pub fn downgrade(&self) -> WeakServer {
        WeakServer(Arc::downgrade(&self.shared))
    }

    pub fn limits(&self) -> &Limits {
        &self.shared.limits
    }

    /// Takes every event produced since the last call (see `events` for the layout).
    pub fn take_events(&self) -> Batch {
        self.shared.events.take()
    }

    /// Takes the pending event batch into `dst` if it fits, and its lent pieces (see
    /// `EventQueue::take_into`).
    pub fn take_events_into(&self, dst: &mut [u8]) -> (Taken, Vec<Bytes>) {
        self.shared.events.take_into(dst)
    }

    /// Undelivered event bytes above which reading and accepting pause.
    pub fn set_event_high_water(&self, bytes: usize) {
        self.shared.events.set_high_water(bytes);
    }

    /// Sets (or replaces, for `setSecureContext`) the TLS configuration. Handshakes that
    /// start from now on use it; open connections keep theirs. SNI contexts carry over.
    pub fn set_tls(&self, opts: &TlsOptions) -> Result<(), EngineError> {
        let config = Arc::new(tls::server_config(
            opts,
            self.shared.sni.clone(),
            self.shared.tickets.clone(),
        )?);
        let mut guard = self
            .shared
            .tls
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *guard = Some(config);
        Ok(())
    }

    /// Whether handshakes report their key-log lines (someone listens for `'keylog'`).
    pub fn set_keylog(&self, on: bool) {
        self.shared.keylog.store(on, Ordering::Relaxed);
    }

    /// Which ClientHellos wait for the application's answer (see `hello`).
    pub fn set_hello_hooks(&self, hooks: HelloHooks) {
        let bits = u8::from(hooks.sni) | (u8::from(hooks.alpn) << 1);
        self.shared.hooks.store(bits, Ordering::Relaxed);
    }

    /// The application's answer to a HELLO event.
    pub fn answer_hello(&self, id: u32, answer: HelloAnswer) {
        self.shared.hellos.answer(id, answer);
    }

    /// The session ticket keys (Node's 48-byte `ticketKeys`) shared by this server's configs.
    pub fn tickets(&self) -> Option<&TicketKeys> {
        self.shared.tickets.as_deref()
    }

    /// Adds the key and certificates to use when the client asks for `hostname` (SNI).
    pub fn add_context(&self, hostname: &str, opts: &TlsOptions) -> Result<(), EngineError> {
        self.shared.sni.add(hostname, tls::identity(opts)?);
        Ok(())
    }

    /// Binds and starts accepting. Returns the bound address (the real port for port 0).
    pub fn listen(&self, opts: &ListenOptions) -> Result<SocketAddr, EngineError> {
        let io_err = |source| EngineError::Io {
            syscall: "listen",
            source,
        };
        self.start(|| {
            let std_listener = listener::bind_tcp(opts)?;
            let addr = std_listener.local_addr()?;
            Ok((TcpListener::from_std(std_listener)?, addr))
        })
        .map_err(|e| e.map_io(io_err))
    }

    /// Binds a unix domain socket at `path` and starts accepting.
    #[cfg(unix)]
    pub fn listen_unix(&self, path: &std::path::Path, backlog: i32) -> Result<(), EngineError> {
        let io_err = |source| EngineError::Io {
            syscall: "listen",
            source,
        };
        self.start(|| {
            let std_listener = listener::bind_unix(path, backlog)?;
            Ok((tokio::net::UnixListener::from_std(std_listener)?, ()))
        })
        .map_err(|e| e.map_io(io_err))
    }

    fn start<L: Listener, T>(
        &self,
        bind: impl FnOnce() -> io::Result<(L, T)>,
    ) -> Result<T, StartError> {
        let mut listening = lock(&self.shared.listening);
        if listening.is_some() {
            return Err(StartError::Engine(EngineError::AlreadyListening));
        }
        let rt = runtime::get().map_err(StartError::Engine)?;
        // tokio listeners register with the reactor of the runtime they are made in.
        let (listener, bound) = {
            let _guard = rt.enter();
            bind().map_err(StartError::Io)?
        };
        let (stop, stopped) = oneshot::channel();
        let (release, released) = mpsc::channel();
        *listening = Some(Listening { stop, released });
        rt.spawn(accept_loop(listener, release, self.shared.clone(), stopped));
        Ok(bound)
    }

    /// Stops accepting and releases the port before returning (within `RELEASE_WAIT`). Open
    /// connections are not touched.
    pub fn stop_accepting(&self) {
        let Some(listening) = lock(&self.shared.listening).take() else {
            return;
        };
        let _ = listening.stop.send(());
        let _ = listening.released.recv_timeout(RELEASE_WAIT);
    }

    /// Stops accepting and ends every connection, handshakes included (the Node environment
    /// that owned the server is going away). The server cannot listen again.
    pub fn shutdown(&self) {
        self.shared.shutdown.cancel();
        self.stop_accepting();
    }

    pub fn connection_count(&self) -> usize {
        lock(&self.shared.conns).len()
    }

    fn conn(&self, id: u32) -> Option<ConnHandle> {
        lock(&self.shared.conns).get(&id).cloned()
    }

    /// Writes bytes for a connection (from the calling thread while the server is lightly
    /// loaded, see `write_slice`). `false` asks the caller to wait for DRAIN. Writes to a
    /// connection that is already gone are dropped: its CLOSE event is on its way.
    pub fn write(&self, id: u32, data: Bytes) -> bool {
        let now = self.shared.events.lightly_loaded();
        self.write_with(id, |c| c.write(data, now))
    }

    /// Queues several pieces for a connection as one write, in order.
    pub fn write_pieces(&self, id: u32, pieces: Vec<Bytes>) -> bool {
        self.write_with(id, |c| c.write_pieces(pieces))
    }

    /// `write` for borrowed bytes, written at once from the calling thread while the server
    /// is lightly loaded (copied only if they cannot be).
    pub fn write_slice(&self, id: u32, data: &[u8]) -> bool {
        let now = self.shared.events.lightly_loaded();
        self.write_with(id, |c| c.write_slice(data, now))
    }

    /// A write's backpressure answer; a connection already gone takes nothing more.
    fn write_with(&self, id: u32, write: impl FnOnce(&ConnHandle) -> bool) -> bool {
        self.conn(id).is_none_or(|c| write(&c))
    }

    pub fn end(&self, id: u32) {
        self.on_conn(id, ConnHandle::end)
    }

    pub fn destroy(&self, id: u32) {
        self.on_conn(id, ConnHandle::destroy)
    }

    /// Destroys connection `id` if it is between requests; says whether it did (a connection
    /// already gone counts as done).
    pub fn destroy_if_idle(&self, id: u32) -> bool {
        self.conn(id).is_none_or(|c| c.destroy_if_idle())
    }

    pub fn pause(&self, id: u32) {
        self.on_conn(id, ConnHandle::pause)
    }

    pub fn resume(&self, id: u32) {
        self.on_conn(id, ConnHandle::resume)
    }

    pub fn response_done(&self, id: u32) {
        self.on_conn(id, ConnHandle::response_done)
    }

    /// The JS side is done with HTTP/2 stream `id`, which ended without its response: its
    /// place among its connection's handlers is free again.
    pub fn release_stream(&self, id: u32) {
        lock(&self.shared.held_streams).remove(&id);
    }

    pub fn upgrade(&self, id: u32, raw: bool) {
        self.on_conn(id, |c| c.upgrade(raw))
    }

    /// Serves a stream the application hands over (Node's `server.emit('connection', s)`)
    /// as an accepted connection: returns the id of the pipe its bytes go through (see
    /// `pipe`). `remote`/`local` are the stream's addresses, when it has any.
    pub fn adopt(
        &self,
        remote: Option<SocketAddr>,
        local: Option<SocketAddr>,
    ) -> Result<u32, EngineError> {
        let rt = runtime::get()?;
        let shared = &self.shared;
        let pipe_id = loop {
            let id = shared.next_pipe.fetch_add(1, Ordering::Relaxed);
            if id != 0 && !lock(&shared.pipes).contains_key(&id) {
                break id;
            }
        };
        let cancel = shared.shutdown.child_token();
        let (handle, stream, carry) = pipe::new_pipe(pipe_id, shared.events.clone(), cancel);
        lock(&shared.pipes).insert(pipe_id, handle);
        let accepted = Accepted {
            stream,
            remote,
            local,
        };
        rt.spawn(connection_from(accepted, shared.clone(), Some(pipe_id)));
        let owner = shared.clone();
        rt.spawn(async move {
            carry.await;
            lock(&owner.pipes).remove(&pipe_id);
        });
        Ok(pipe_id)
    }

    /// Input for an adopted stream's connection; false once the pipe's queue is past its
    /// high-water mark (PIPE_DRAIN follows).
    pub fn pipe_write(&self, pipe: u32, data: Bytes) -> bool {
        lock(&self.shared.pipes)
            .get(&pipe)
            .is_none_or(|p| p.write(data))
    }

    pub fn pipe_end(&self, pipe: u32) {
        self.on_pipe(pipe, PipeHandle::end)
    }

    pub fn pipe_destroy(&self, pipe: u32) {
        self.on_pipe(pipe, PipeHandle::destroy)
    }

    pub fn pipe_pause_output(&self, pipe: u32, paused: bool) {
        self.on_pipe(pipe, |p| p.set_output_paused(paused))
    }

    /// As `on_conn`, for pipes: one that is gone has said PIPE_END already.
    fn on_pipe(&self, pipe: u32, command: impl FnOnce(&PipeHandle)) {
        if let Some(p) = lock(&self.shared.pipes).get(&pipe) {
            command(p)
        }
    }

    /// Makes connection `id`'s task panic: for tests that an engine bug costs one connection,
    /// not the server, and that the JS side still sees it close.
    pub fn inject_fault(&self, id: u32) {
        self.on_conn(id, ConnHandle::inject_fault)
    }

    /// Commands for a connection that is already gone are dropped: its CLOSE event is on its
    /// way to the JS side.
    fn on_conn(&self, id: u32, command: impl FnOnce(&ConnHandle)) {
        if let Some(c) = self.conn(id) {
            command(&c)
        }
    }
}

/// How long accepting waits after running out of descriptors, doubling up to the maximum while
/// the condition lasts.
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_millis(500);
/// ACCEPT_PAUSED is reported at most this often.
const PAUSE_REPORT_EVERY: Duration = Duration::from_secs(60);

/// Accepts until stopped or shut down. Accepting waits while the consumer is behind on events,
/// like reading does: new connections then wait in the kernel's backlog.
async fn accept_loop<L: Listener>(
    listener: L,
    release: mpsc::Sender<()>,
    shared: Arc<Shared>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut backoff = ACCEPT_BACKOFF_MIN;
    let mut paused_reported: Option<Instant> = None;
    loop {
        let accept = async {
            shared.events.wait_for_room().await;
            listener.accept().await
        };
        tokio::select! {
            biased;
            _ = &mut stop => break,
            _ = shared.shutdown.cancelled() => break,
            accepted = accept => match accepted {
                Ok(conn) => {
                    backoff = ACCEPT_BACKOFF_MIN;
                    tokio::spawn(connection(conn, shared.clone()));
                    // Let the new task send its OPEN before the next room check, so a burst
                    // of accepts cannot run far past the mark before its events show up.
                    tokio::task::yield_now().await;
                }
                Err(e) if is_per_connection_error(&e) => {}
                Err(e) if listener::is_resource_exhaustion(&e) => {
                    // As libuv: no error for the application, which could do nothing about
                    // it; wait for descriptors (or memory) to free up and accept again. The
                    // connections wait in the kernel's backlog meanwhile.
                    if paused_reported.is_none_or(|at| at.elapsed() >= PAUSE_REPORT_EVERY) {
                        paused_reported = Some(Instant::now());
                        let errno = e.raw_os_error().unwrap_or(0);
                        let detail = e.to_string();
                        shared.events.push(|ev| ev.accept_paused(errno, &detail));
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = &mut stop => break,
                        _ = shared.shutdown.cancelled() => break,
                    }
                    backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                    continue;
                }
                Err(e) => {
                    let errno = e.raw_os_error().unwrap_or(0);
                    let detail = e.to_string();
                    shared.events.push(|ev| ev.accept_error(errno, &detail));
                    tokio::time::sleep(ACCEPT_BACKOFF_MIN).await;
                }
            }
        }
    }
    // The socket first, then the signal that it is closed.
    drop(listener);
    drop(release);
}

fn is_per_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}

/// One connection from accept to close.
async fn connection<S>(conn: Accepted<S>, shared: Arc<Shared>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    connection_from(conn, shared, None).await
}

/// One connection, accepted or adopted through pipe `pipe`. Each phase is boxed, for memory:
/// its state lives only while it runs, so the task itself holds little more than the
/// connection's registration and a pointer to the phase under way (the handshake's rustls
/// acceptor and ClientHello are gone once it is done), and each connection pays only for the
/// protocol it speaks.
async fn connection_from<S>(conn: Accepted<S>, shared: Arc<Shared>, pipe: Option<u32>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let Some((stream, mut registration, h2)) = Box::pin(open(conn, &shared, pipe)).await else {
        return;
    };
    let result = if h2 {
        Box::pin(crate::http2::serve(stream, &registration.ctx, &shared)).await
    } else {
        Box::pin(conn::serve(stream, &registration.ctx)).await
    };
    registration.ended(result);
}

/// Runs the TLS handshake, if the server has TLS, and registers the connection (OPEN).
/// Returns its stream, TLS or not, as one boxed type, and whether it speaks HTTP/2; `None` if
/// the handshake failed or the server is going.
async fn open<S>(
    conn: Accepted<S>,
    shared: &Arc<Shared>,
    pipe: Option<u32>,
) -> Option<(conn::BoxedStream, Registration, bool)>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let tls = shared
        .tls
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone();
    let (remote, local) = (conn.remote, conn.local);
    let (stream, negotiated, keylog): (conn::BoxedStream, _, _) = match tls {
        None => (Box::new(conn.stream), Negotiated::default(), Vec::new()),
        Some(tls) => {
            let secured = tokio::select! {
                biased;
                _ = shared.shutdown.cancelled() => return None,
                secured = handshake::secure(conn.stream, &tls, shared, remote) => secured,
            }?;
            (Box::new(secured.stream), secured.negotiated, secured.keylog)
        }
    };
    // OPEN, like every event, waits while the consumer is behind.
    shared.events.wait_for_room().await;
    let h2 = negotiated.alpn == b"h2";
    let registration = register(shared, remote, local, negotiated, keylog, pipe);
    Some((stream, registration, h2))
}

/// A registered connection: in the registry, OPEN sent. Dropping it deregisters the connection
/// and sends CLOSE, whichever way the task ends.
pub(crate) struct Registration {
    shared: Arc<Shared>,
    pub(crate) ctx: conn::ConnCtx,
    reason: CloseReason,
    detail: String,
}

impl Registration {
    pub(crate) fn ended(&mut self, result: Result<(), io::Error>) {
        match result {
            Ok(()) => self.reason = CloseReason::Clean,
            Err(e) => {
                self.reason = CloseReason::of(&e);
                self.detail = e.to_string();
            }
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let id = self.ctx.state.id;
        lock(&self.shared.conns).remove(&id);
        if self.reason == CloseReason::Internal && self.detail.is_empty() {
            self.detail = "the connection's engine task failed".into();
        }
        let (reason, detail) = (self.reason, &self.detail);
        // The connection is over on the wire already: JS learns of it with its next batch (under
        // a stream of short connections, the next one's OPEN and request) instead of in a
        // wake-up of its own.
        self.shared
            .events
            .push_lazy(|ev| ev.close(id, reason, detail));
    }
}

/// Gives the connection an id, puts it in the registry and sends OPEN (with its key-log lines
/// right after, in the same batch).
fn register(
    shared: &Arc<Shared>,
    remote: Option<SocketAddr>,
    local: Option<SocketAddr>,
    negotiated: Negotiated,
    keylog: Vec<Vec<u8>>,
    pipe: Option<u32>,
) -> Registration {
    let id = allocate_id(shared);
    let cancel = shared.shutdown.child_token();
    let (handle, ctx) =
        conn::new_connection(id, cancel, shared.events.clone(), shared.limits.clone());
    lock(&shared.conns).insert(id, handle);
    shared.events.push(|ev| {
        if let Some(pipe) = pipe {
            ev.adopted(id, pipe);
        }
        ev.open(id, remote, local, &negotiated);
        for line in &keylog {
            ev.keylog(id, line);
        }
    });
    Registration {
        shared: shared.clone(),
        ctx,
        reason: CloseReason::Internal,
        detail: String::new(),
    }
}

/// Registers one HTTP/2 stream of connection `parent` as a connection of its own (the JS side
/// serves each stream with its own socket object) and sends STREAM. `cancel` is a child of the
/// parent's token, so ending the connection ends its streams.
pub(crate) fn register_stream(
    shared: &Arc<Shared>,
    parent: u32,
    cancel: CancellationToken,
) -> Registration {
    let id = allocate_id(shared);
    let (handle, ctx) =
        conn::new_connection(id, cancel, shared.events.clone(), shared.limits.clone());
    lock(&shared.conns).insert(id, handle);
    shared.events.push(|ev| ev.stream(id, parent));
    Registration {
        shared: shared.clone(),
        ctx,
        reason: CloseReason::Internal,
        detail: String::new(),
    }
}

/// Ids are never 0 (server-wide events use 0) and skip ids still in use after wrapping.
fn allocate_id(shared: &Shared) -> u32 {
    let conns = lock(&shared.conns);
    loop {
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        if id != 0 && !conns.contains_key(&id) {
            return id;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoWake;
    impl crate::event_queue::Waker for NoWake {
        fn wake(&self) {}
    }

    /// A server and a connection accepted over an in-memory pipe, for measuring the futures
    /// that would serve it (never polled, so the pipe's other end may go).
    fn server_and_connection() -> (Server, Accepted<tokio::io::DuplexStream>) {
        let (stream, _peer) = tokio::io::duplex(64);
        let accepted = Accepted {
            stream,
            remote: None,
            local: None,
        };
        (Server::new(Box::new(NoWake)), accepted)
    }

    // Regression: HTTP/2's serving state (5 KiB) sat inline in every connection's task, so an
    // idle HTTP/1.1 connection's task was 11 KiB, most of it room it never used.
    #[test]
    fn a_connection_task_does_not_carry_either_protocols_serving_state() {
        let (server, accepted) = server_and_connection();
        let task = connection(accepted, server.shared.clone());
        let size = std::mem::size_of_val(&task);
        // 280 bytes on 2026-12-02, most of it the accepted stream and addresses waiting for
        // the first poll: the handshake's state is boxed too (a TCP connection's task was
        // 688 bytes with it inline, 312 now).
        assert!(size <= 320, "a connection's task is {size} bytes");
    }

    // Regression: the handshake's state was stored once by itself and again by each future
    // wrapping it (timeout, resumption scope, shutdown select), so every connection's boxed
    // opening phase was 36 KiB, and a burst of handshakes left holes that size in the heap.
    #[test]
    fn a_connections_opening_phase_holds_the_handshakes_state_once_boxed() {
        let (server, accepted) = server_and_connection();
        let opening = open(accepted, &server.shared, None);
        let size = std::mem::size_of_val(&opening);
        // 1,576 bytes on 2026-12-03 (36,232 before).
        assert!(size <= 2048, "a connection's opening phase is {size} bytes");
    }
}
