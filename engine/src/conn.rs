//! Serving one connection: a reader that parses requests and hands them to the event queue,
//! and a writer that puts the bytes the JS side produced on the wire. The engine does not
//! interpret responses: Node's own `ServerResponse` serializes them, which is what keeps the
//! bytes identical to `node:https` after Express swaps the response prototype.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf, WriteHalf};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::chunked::{ChunkedDecoder, Step};
use crate::event_queue::EventQueue;
use crate::events;
use crate::limits::{Limits, KEEP_ALIVE_GRACE};
use crate::request::{parse_head, Framing, RequestError};
use crate::scratch::with_scratch;
use crate::wire::wire_enum;

/// What the JS side asks of a connection's writer, in order. (Destroying is not a command:
/// it cancels the connection, so it cannot wait behind a blocked write.)
#[derive(Debug)]
pub enum Command {
    Write(Bytes),
    /// Flush, send close_notify and FIN, then linger for the peer's close.
    End,
}

/// The writer's command queue. A locked deque rather than a channel: it allocates nothing
/// until used and keeps a few slots after, where a channel holds a block of 32 per connection
/// (1.8 KiB on every idle connection).
#[derive(Debug, Default)]
pub(crate) struct Commands {
    queue: Mutex<Queue>,
    ready: Notify,
}

#[derive(Default)]
struct Queue {
    commands: VecDeque<Command>,
    closed: bool,
    /// An HTTP/1 connection's write half while its writer has nothing to do. A write from the
    /// JS thread that finds it here goes straight to the socket instead of waking the engine
    /// thread to do it: on a lightly loaded server the wake-up and its context switches cost
    /// more than the write.
    idle_writer: Option<WriteHalf<BoxedStream>>,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("commands", &self.commands)
            .field("closed", &self.closed)
            .field("writer_idle", &self.idle_writer.is_some())
            .finish()
    }
}

impl Commands {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a command; `false` when the writer has already stopped.
    pub(crate) fn send(&self, cmd: Command) -> bool {
        {
            let mut queue = self.lock();
            if queue.closed {
                return false;
            }
            queue.commands.push_back(cmd);
        }
        self.ready.notify_one();
        true
    }

    pub(crate) fn try_recv(&self) -> Option<Command> {
        self.lock().commands.pop_front()
    }

    /// The HTTP/1 writer's wait for its next command: while it waits, its write half is parked
    /// in the queue for direct writes (`ConnState::write`), and it comes back with the command.
    async fn recv_with_writer(&self, writer: &mut Option<WriteHalf<BoxedStream>>) -> Command {
        loop {
            {
                let mut queue = self.lock();
                if let Some(cmd) = queue.commands.pop_front() {
                    if writer.is_none() {
                        *writer = queue.idle_writer.take();
                    }
                    return cmd;
                }
                if let Some(idle) = writer.take() {
                    queue.idle_writer = Some(idle);
                }
            }
            self.ready.notified().await;
        }
    }

    pub(crate) async fn recv(&self) -> Command {
        loop {
            if let Some(cmd) = self.try_recv() {
                return cmd;
            }
            // A notify between the check above and this wait leaves a permit: no lost wake-up.
            self.ready.notified().await;
        }
    }

    /// The writer stopped: later commands are refused. Returns the writes still queued, and
    /// the write half if it was parked.
    pub(crate) fn close(&self) -> (Vec<Bytes>, Option<WriteHalf<BoxedStream>>) {
        let mut queue = self.lock();
        queue.closed = true;
        let writes = queue
            .commands
            .drain(..)
            .filter_map(|cmd| match cmd {
                Command::Write(data) => Some(data),
                Command::End => None,
            })
            .collect();
        (writes, queue.idle_writer.take())
    }
}

/// Writes `data` on the calling thread without waiting, as far as the socket takes it.
/// Returns how much TLS (or the kernel) accepted, and whether it is all on the wire; whatever
/// is left, an error included, is the writer's to finish (or to report) in the usual way.
fn write_without_waiting(wr: &mut WriteHalf<BoxedStream>, data: &[u8]) -> (usize, bool) {
    let mut cx = Context::from_waker(Waker::noop());
    let mut written = 0;
    while written < data.len() {
        match Pin::new(&mut *wr).poll_write(&mut cx, &data[written..]) {
            Poll::Ready(Ok(n)) if n > 0 => written += n,
            _ => return (written, false),
        }
    }
    let flushed = matches!(Pin::new(&mut *wr).poll_flush(&mut cx), Poll::Ready(Ok(())));
    (written, flushed)
}

/// Bytes queued for a socket above which `write` reports backpressure; a DRAIN event follows
/// once the writer has brought the queue back under it.
pub const WRITE_HIGH_WATER: usize = 64 * 1024;
/// Writes larger than this always go through the writer: the JS thread is the scarce one, and
/// encrypting a large body there would cost it far more than the hand-off it saves.
const WRITE_NOW_MAX: usize = 16 * 1024;
/// Requests answered out of one connection's pipeline before reading stops until they are.
const MAX_PIPELINED: usize = 64;
const READ_CHUNK: usize = 16 * 1024;
/// Request bodies are read in larger pieces: each BODY event costs the JS side a wake-up, a
/// stream push and, when piped, a response write, whatever its size. A body starts at four TLS
/// records a read and, while reads keep filling that, doubles up to a quarter MiB, so a slow
/// upload holds little and a fast one costs a sixteenth of the events per MiB.
const BODY_CHUNK_MIN: usize = 64 * 1024;
const BODY_CHUNK_MAX: usize = 256 * 1024;
/// A buffer for a request head starts this small, or at the size of the head's first read
/// (most request heads of API clients and benchmarks fit; longer ones take another read from
/// what TLS already decrypted, and the buffer grows for bodies, upgraded streams and large
/// heads).
const HEAD_CHUNK: usize = 256;
/// A connection waiting for a request head with nothing buffered holds no buffer: its read
/// lands in this much of the engine thread's scratch, and what arrived is copied into a
/// buffer of its own. As large as a TLS record's plaintext, so one read takes a whole record.
const HEAD_SCRATCH_LEN: usize = 16 * 1024;

thread_local! {
    static HEAD_SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}
/// How long a closed connection keeps draining the peer's input, so unread request bytes do
/// not turn our FIN into a RST that destroys the response in flight.
const LINGER: Duration = Duration::from_secs(2);
/// How long `destroy` waits for already-queued bytes (such as Node's 400 reply) to leave.
/// It bounds how long a destroyed connection can outlive `destroy()`, whatever the client does.
const DESTROY_FLUSH: Duration = Duration::from_millis(500);
/// The raw bytes reported with a client error are capped like Node's `rawPacket` chunk.
const RAW_PACKET_MAX: usize = 64 * 1024;

/// State shared between a connection's task and the handle the JS side calls into. Each field
/// has one writer: `cancel`, `paused`, `upgrade` and `fault` are set by the JS side (through
/// `ConnHandle`) and read by the task; `queued`/`want_drain` are the writer's backpressure
/// accounting; `pending` counts requests handed to JS whose responses are not done.
#[derive(Debug)]
pub struct ConnState {
    pub id: u32,
    /// Ends the connection whatever it is waiting on: `destroy()`, or the server shutting down
    /// (a child of the server's token).
    pub(crate) cancel: CancellationToken,
    queued: AtomicUsize,
    want_drain: AtomicBool,
    pub(crate) paused: AtomicBool,
    pending: AtomicUsize,
    /// The JS side's answer to an upgrade request: UNDECIDED, UPGRADE_RAW or UPGRADE_DECLINED.
    upgrade: AtomicU8,
    /// Test-only fault injection: the task panics at its next wake-up.
    fault: AtomicBool,
    /// No request is on its way in, kept by the reader. With no response outstanding either
    /// (`pending` is 0) the connection is idle: Node's idle connection, which
    /// `closeIdleConnections()` closes.
    pub(crate) between_requests: AtomicBool,
    /// When the last response was done, in nanoseconds after `born`, plus one (0: none yet).
    /// The JS side records it instead of waking the reader, which reads it when it next looks
    /// to start the keep-alive clock.
    answered_at: AtomicU64,
    born: Instant,
    pub(crate) wake: Notify,
    pub(crate) commands: Commands,
}

impl ConnState {
    /// Hands `data` to the socket: at once on the calling (JS) thread when `now` allows it, the
    /// writer is idle with nothing queued and the socket takes it all; otherwise by queueing what is left
    /// (`rest` turns the unwritten tail into owned bytes) for the writer. `false` means the
    /// caller should wait for a DRAIN event before writing more.
    fn write(&self, data: &[u8], now: bool, rest: impl FnOnce(usize) -> Bytes) -> bool {
        let mut queue = self.commands.lock();
        if queue.closed {
            return true;
        }
        let mut from = 0;
        if now && data.len() <= WRITE_NOW_MAX && queue.commands.is_empty() {
            if let Some(wr) = queue.idle_writer.as_mut() {
                let (written, flushed) = write_without_waiting(wr, data);
                if flushed {
                    return true;
                }
                from = written;
            }
        }
        // When everything was written but not yet flushed, the rest is empty: the writer's
        // empty write is then its flush.
        self.queue_locked(queue, [rest(from)])
    }

    /// Queues `pieces` in order, as one write for backpressure.
    fn queue(&self, pieces: impl IntoIterator<Item = Bytes>) -> bool {
        let queue = self.commands.lock();
        if queue.closed {
            return true;
        }
        self.queue_locked(queue, pieces)
    }

    fn queue_locked(
        &self,
        mut queue: MutexGuard<'_, Queue>,
        pieces: impl IntoIterator<Item = Bytes>,
    ) -> bool {
        let mut total = 0;
        for piece in pieces {
            let len = piece.len();
            total = self.queued.fetch_add(len, Ordering::SeqCst) + len;
            queue.commands.push_back(Command::Write(piece));
        }
        drop(queue);
        self.commands.ready.notify_one();
        if total <= WRITE_HIGH_WATER {
            return true;
        }
        self.want_drain.store(true, Ordering::SeqCst);
        // The writer may have emptied the queue between our add and the store above; if so,
        // take the flag back ourselves so nobody waits for a DRAIN that will not come.
        self.queued.load(Ordering::SeqCst) <= WRITE_HIGH_WATER
            && self.want_drain.swap(false, Ordering::SeqCst)
    }

    fn last_answered(&self) -> Instant {
        match self.answered_at.load(Ordering::SeqCst) {
            0 => Instant::now(),
            n => self.born + Duration::from_nanos(n - 1),
        }
    }

    /// The writer has put `n` more queued bytes on the wire: DRAIN if a writer waits for it.
    pub(crate) fn wrote(&self, n: usize, events: &EventQueue) {
        let left = self.queued.fetch_sub(n, Ordering::SeqCst) - n;
        if left <= WRITE_HIGH_WATER && self.want_drain.swap(false, Ordering::SeqCst) {
            events.push(|e| e.drain(self.id));
        }
    }
}

const UNDECIDED: u8 = 0;
const UPGRADE_RAW: u8 = 1;
const UPGRADE_DECLINED: u8 = 2;

impl ConnState {
    fn new(id: u32, cancel: CancellationToken) -> Self {
        ConnState {
            id,
            cancel,
            queued: AtomicUsize::new(0),
            want_drain: AtomicBool::new(false),
            paused: AtomicBool::new(false),
            pending: AtomicUsize::new(0),
            upgrade: AtomicU8::new(UNDECIDED),
            fault: AtomicBool::new(false),
            between_requests: AtomicBool::new(true),
            answered_at: AtomicU64::new(0),
            born: Instant::now(),
            wake: Notify::new(),
            commands: Commands::default(),
        }
    }
}

wire_enum! {
    /// How a connection ended, for its CLOSE event. The napi glue names each as Node's socket
    /// errors do; the discriminants are the wire values (`events`).
    pub enum CloseReason {
        /// Both sides finished, or the JS side destroyed it.
        Clean = 0,
        /// The client reset the connection or vanished mid-stream.
        Reset,
        BrokenPipe,
        TimedOut,
        /// Another socket error; the event's detail has the OS's words.
        Io,
        /// The client broke the protocol beneath HTTP/1 parsing: a TLS record that does not
        /// decrypt, or an HTTP/2 flood (Node's `EPROTO`).
        Protocol,
        /// The connection's task failed inside the engine (a bug); the server goes on serving.
        Internal,
    }
}

impl CloseReason {
    pub fn of(e: &io::Error) -> CloseReason {
        match e.kind() {
            io::ErrorKind::ConnectionReset | io::ErrorKind::UnexpectedEof => CloseReason::Reset,
            io::ErrorKind::BrokenPipe => CloseReason::BrokenPipe,
            io::ErrorKind::TimedOut => CloseReason::TimedOut,
            io::ErrorKind::InvalidData => CloseReason::Protocol,
            _ => CloseReason::Io,
        }
    }
}

/// The JS side's grip on a live connection.
#[derive(Debug, Clone)]
pub struct ConnHandle {
    state: Arc<ConnState>,
}

impl ConnHandle {
    /// Writes bytes, at once from the calling thread when `now` allows it and the writer is
    /// idle, otherwise through the writer; `false` means the caller should wait for a DRAIN
    /// event before more.
    pub fn write(&self, data: Bytes, now: bool) -> bool {
        self.state.write(&data, now, |from| data.slice(from..))
    }

    /// Queues several pieces as one write, in order, for the writer (large bodies passed by
    /// reference come this way).
    pub fn write_pieces(&self, pieces: Vec<Bytes>) -> bool {
        self.state.queue(pieces)
    }

    /// `write` for borrowed bytes, tried at once on the calling thread when `now` (and the
    /// writer is idle); they are copied only if they cannot be written then.
    pub fn write_slice(&self, data: &[u8], now: bool) -> bool {
        self.state
            .write(data, now, |from| Bytes::copy_from_slice(&data[from..]))
    }

    /// Flush, send close_notify and FIN, then linger for the peer's close.
    pub fn end(&self) {
        self.state.commands.send(Command::End);
    }

    /// Ends the connection now, even with a write blocked on a client that stopped reading:
    /// what is already queued gets a short chance to leave (Node's error replies are written
    /// just before a destroy), then close_notify, then the socket closes.
    pub fn destroy(&self) {
        self.state.cancel.cancel();
    }

    /// Stops reading from the client (a paused request body turns into TCP backpressure).
    pub fn pause(&self) {
        self.state.paused.store(true, Ordering::SeqCst);
    }

    pub fn resume(&self) {
        // Node resumes its socket for every request it reads; only a real pause needs the
        // reader woken.
        if self.state.paused.swap(false, Ordering::SeqCst) {
            self.state.wake.notify_one();
        }
    }

    /// The response to the oldest pending request has been fully handed over.
    pub fn response_done(&self) {
        let state = &self.state;
        let since_born = u64::try_from(state.born.elapsed().as_nanos()).unwrap_or(u64::MAX - 1);
        state.answered_at.store(since_born + 1, Ordering::SeqCst);
        let before = state
            .pending
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        // The reader waits for this only when a full pipeline stopped it; otherwise waking it
        // would cost the engine thread a wake-up per request (it finds `answered_at` itself).
        if matches!(before, Ok(n) if n >= MAX_PIPELINED) {
            state.wake.notify_one();
        }
    }

    /// Answers an upgrade request: `raw` hands the connection over as a byte stream (DATA
    /// events from now on), otherwise HTTP parsing goes on as for any request.
    pub fn upgrade(&self, raw: bool) {
        let decision = if raw { UPGRADE_RAW } else { UPGRADE_DECLINED };
        self.state.upgrade.store(decision, Ordering::SeqCst);
        self.state.wake.notify_one();
    }

    /// Destroys the connection if no request is arriving or being answered; says whether it did.
    pub fn destroy_if_idle(&self) -> bool {
        let idle = self.state.between_requests.load(Ordering::SeqCst)
            && self.state.pending.load(Ordering::SeqCst) == 0;
        if idle {
            self.destroy();
        }
        idle
    }

    /// Makes the connection's task panic, for tests of what survives an engine bug.
    pub fn inject_fault(&self) {
        self.state.fault.store(true, Ordering::SeqCst);
        self.state.wake.notify_one();
    }

    pub fn id(&self) -> u32 {
        self.state.id
    }
}

/// Everything a connection task needs from its server.
pub struct ConnCtx {
    pub state: Arc<ConnState>,
    pub events: Arc<EventQueue>,
    pub limits: Arc<Limits>,
}

/// Creates the handle/context pair for a new connection; `cancel` ends it.
pub fn new_connection(
    id: u32,
    cancel: CancellationToken,
    events: Arc<EventQueue>,
    limits: Arc<Limits>,
) -> (ConnHandle, ConnCtx) {
    let state = Arc::new(ConnState::new(id, cancel));
    let handle = ConnHandle {
        state: state.clone(),
    };
    let ctx = ConnCtx {
        state,
        events,
        limits,
    };
    (handle, ctx)
}

/// A connection's byte stream, TLS or plain TCP or unix, as one type.
pub trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}
pub type BoxedStream = Box<dyn Stream>;

/// Serves the connection until both directions are done, an error ends it, or it is
/// cancelled. The reader and the writer run as one future, so whichever fails ends both, and
/// cancellation cuts through any wait, a blocked write included.
pub async fn serve(stream: BoxedStream, ctx: &ConnCtx) -> Result<(), io::Error> {
    let (mut rd, wr) = tokio::io::split(stream);
    let mut writer = Some(wr);
    let closing = AtomicBool::new(false);
    let finished = {
        let both = async {
            tokio::try_join!(
                read_loop(&mut rd, ctx, &closing),
                write_loop(&mut writer, ctx, &closing)
            )
        };
        tokio::select! {
            biased;
            _ = ctx.state.cancel.cancelled() => None,
            result = both => Some(result),
        }
    };
    let (queued, parked) = ctx.state.commands.close();
    if finished.is_none() {
        if let Some(mut wr) = writer.or(parked) {
            let _ = tokio::time::timeout(DESTROY_FLUSH, flush_and_close(&mut wr, queued)).await;
        }
    }
    match finished {
        Some(Err(e)) => Err(e),
        _ => Ok(()),
    }
}

/// After a destroy: writes what was queued before it, then close_notify and FIN.
async fn flush_and_close<W: AsyncWrite + Unpin>(wr: &mut W, queued: Vec<Bytes>) {
    for piece in queued {
        if wr.write_all(&piece).await.is_err() {
            return;
        }
    }
    let _ = wr.shutdown().await;
}

enum Body {
    Length(u64),
    Chunked(ChunkedDecoder),
    /// Every byte until the client's FIN (the JS side ends the request at PEER_END).
    UntilClose,
}

enum Phase {
    /// Waiting for (or inside) a request head; `started` is when its clock began.
    Head {
        started: Option<Instant>,
    },
    Body {
        started: Instant,
        body: Body,
    },
    /// An upgrade request was reported; nothing is parsed until the JS side decides.
    AwaitUpgrade {
        started: Instant,
        framing: Framing,
    },
    /// Upgraded: every byte goes to the JS side as it arrives.
    Raw,
    /// A client error was reported; nothing more is parsed from this connection.
    Failed,
}

async fn read_loop<R: AsyncRead + Unpin>(
    rd: &mut R,
    ctx: &ConnCtx,
    closing: &AtomicBool,
) -> io::Result<()> {
    let state = &ctx.state;
    let mut buf = BytesMut::new();
    // Node starts the first request's header clock when the connection is established.
    let mut phase = Phase::Head {
        started: Some(Instant::now()),
    };
    let mut idle_since: Option<Instant> = None;
    let mut head_checked = 0;
    let mut held_end = None;
    let mut body_chunk = BODY_CHUNK_MIN;
    loop {
        if state.fault.load(Ordering::SeqCst) {
            panic!("fault injected into connection {}", state.id);
        }
        if closing.load(Ordering::SeqCst) {
            linger(rd, &mut buf).await;
            return Ok(());
        }
        if let Phase::AwaitUpgrade { started, framing } = phase {
            match state.upgrade.swap(UNDECIDED, Ordering::SeqCst) {
                // The bytes after the head went to JS with the request (Node's `head`).
                UPGRADE_RAW => {
                    buf.clear();
                    phase = Phase::Raw;
                }
                UPGRADE_DECLINED => phase = after_head(started, framing),
                _ => {}
            }
        }
        let paused = state.paused.load(Ordering::SeqCst);
        if !paused && !buf.is_empty() {
            // Checked right before events are pushed, not only before a read that may wait
            // long for data: otherwise every connection waiting in a read has already passed
            // the check, and together they could push far past the mark.
            ctx.events.wait_for_room().await;
        }
        if !paused && process(ctx, &mut phase, &mut buf, &mut head_checked) {
            continue;
        }
        let pending = state.pending.load(Ordering::SeqCst);
        // A connection whose request was refused has nothing more to answer either.
        let between = (matches!(phase, Phase::Head { .. }) && buf.is_empty())
            || matches!(phase, Phase::Failed);
        state.between_requests.store(between, Ordering::SeqCst);
        let waiting = between && matches!(phase, Phase::Head { started: None });
        if waiting {
            body_chunk = BODY_CHUNK_MIN;
        }
        let idle = waiting && pending == 0;
        if idle {
            idle_since.get_or_insert_with(|| state.last_answered());
        } else {
            idle_since = None;
        }
        // Nothing wakes this loop when the last outstanding response is done (see
        // `response_done`): it looks again one keep-alive timeout from now, the soonest that
        // clock could run out, and then starts it from when the response was done.
        let answering = waiting && pending > 0;
        let deadline = if answering {
            ctx.limits.keep_alive_timeout().map(|d| Instant::now() + d)
        } else {
            deadline(ctx, &phase, idle_since)
        };
        let pipeline_full = matches!(phase, Phase::Head { .. }) && pending >= MAX_PIPELINED;
        // After a refused request the input is still read (and dropped) so the client's FIN
        // is seen, as Node's socket sees it; an upgrade waits for the JS side's answer.
        let stopped = matches!(phase, Phase::AwaitUpgrade { .. });
        if matches!(phase, Phase::Failed) {
            buf.clear();
        }
        let can_read = !(paused || pipeline_full || stopped);
        let mut fill_to = 0;
        if can_read {
            ctx.events.wait_for_room().await;
            let chunk = match phase {
                // A head longer than the first read grows the buffer in two steps, so a
                // browser's half-kilobyte head does not cost a body-sized buffer.
                Phase::Head { .. } if buf.len() < READ_CHUNK / 8 => (buf.len() * 8).max(HEAD_CHUNK),
                Phase::Body { .. } => body_chunk,
                _ => READ_CHUNK,
            };
            // Whatever it held before (a body-sized buffer, the last head's), a connection
            // that waits for a head with nothing buffered lets its buffer go. Whatever
            // `capacity()` says: it counts only the room past the parsed bytes, so a buffer
            // parsed to its end reports none while its memory lives on.
            if matches!(phase, Phase::Head { .. }) && buf.is_empty() {
                buf = BytesMut::new();
            } else if buf.capacity() - buf.len() < chunk / 4 {
                buf.reserve(chunk);
            }
            if matches!(phase, Phase::Body { .. } | Phase::Raw) {
                fill_to = chunk;
            }
        }
        let sleep = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            read = read_ready(rd, &mut buf, fill_to, &mut held_end), if can_read => {
                let ended = match read {
                    Ok(0) => true,
                    Ok(_) => {
                        if matches!(phase, Phase::Body { .. }) && buf.len() >= fill_to {
                            body_chunk = (body_chunk * 2).min(BODY_CHUNK_MAX);
                        }
                        false
                    }
                    // A TLS client that closes without close_notify ends its input too:
                    // OpenSSL, and so Node, take that bare FIN as the end of the stream.
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => true,
                    Err(e) => return Err(e),
                };
                if ended {
                    // As Node's parser.finish(): a FIN inside a head, or before a body of
                    // known length is complete, is a parse error rather than an end.
                    let cut_short = match &phase {
                        // Line breaks between requests are skipped, as llhttp skips them.
                        Phase::Head { .. } => buf.iter().any(|&b| b != b'\r' && b != b'\n'),
                        Phase::Body { body, .. } => !matches!(body, Body::UntilClose),
                        _ => false,
                    };
                    if cut_short {
                        report_client_error(ctx, &mut phase, &[], RequestError::InvalidEofState);
                    } else {
                        ctx.events.push(|e| e.peer_end(state.id));
                    }
                    wait_until_closed(state, closing).await;
                    return Ok(());
                }
            }
            _ = sleep => {
                if idle {
                    // Keep-alive timeout: close quietly, as Node's socket timeout does.
                    state.commands.send(Command::End);
                    wait_until_closed(state, closing).await;
                } else if answering {
                    // Time to look again at the responses outstanding.
                } else {
                    report_client_error(ctx, &mut phase, &buf, RequestError::Timeout);
                }
            },
            _ = state.wake.notified() => {}
        }
    }
}

/// Reads, waiting as usual for the first bytes; then takes what else the stream already has,
/// without waiting, until `buf` holds `fill_to` bytes. A read of TLS gives what rustls has
/// decrypted so far, often a record or a few, and each read of a body is an event and a
/// stream push on the JS side, so a body arriving fast is passed on in pieces of `fill_to`
/// instead. An end or error met after data is kept in `held` and returned by the next call,
/// once the data before it is parsed.
///
/// The reads that do not wait still poll with the task's own waker. A TLS read also hands the
/// socket what the writer left waiting for it, and a waker registered there takes the
/// writer's place: a no-op one left a response waiting for a slow client never resumed once
/// the reader had stopped (a paused body).
async fn read_ready<R: AsyncRead + Unpin>(
    rd: &mut R,
    buf: &mut BytesMut,
    fill_to: usize,
    held: &mut Option<io::Result<()>>,
) -> io::Result<usize> {
    if let Some(end) = held.take() {
        return end.map(|()| 0);
    }
    let mut total = if buf.capacity() == 0 {
        std::future::poll_fn(|cx| poll_read_unbuffered(rd, cx, buf)).await?
    } else if buf.len() < fill_to {
        let room = fill_to - buf.len();
        rd.read_buf(&mut (&mut *buf).limit(room)).await?
    } else {
        rd.read_buf(buf).await?
    };
    if total == 0 {
        return Ok(0);
    }
    std::future::poll_fn(|cx| {
        while buf.len() < fill_to && buf.capacity() > buf.len() {
            let room = fill_to - buf.len();
            match tokio_util::io::poll_read_buf(
                Pin::new(&mut *rd),
                cx,
                &mut (&mut *buf).limit(room),
            ) {
                Poll::Ready(Ok(0)) => {
                    *held = Some(Ok(()));
                    break;
                }
                Poll::Ready(Ok(n)) => total += n,
                Poll::Ready(Err(e)) => {
                    *held = Some(Err(e));
                    break;
                }
                Poll::Pending => break,
            }
        }
        Poll::Ready(())
    })
    .await;
    Ok(total)
}

/// Reads into the thread's scratch and copies what came into `buf`, which holds no memory
/// until then (see `HEAD_SCRATCH_LEN`).
fn poll_read_unbuffered<R: AsyncRead + Unpin>(
    rd: &mut R,
    cx: &mut Context<'_>,
    buf: &mut BytesMut,
) -> Poll<io::Result<usize>> {
    with_scratch(&HEAD_SCRATCH, HEAD_SCRATCH_LEN, |scratch| {
        let mut read = ReadBuf::new(scratch);
        std::task::ready!(Pin::new(rd).poll_read(cx, &mut read))?;
        let got = read.filled();
        if !got.is_empty() {
            buf.reserve(got.len().max(HEAD_CHUNK));
            buf.extend_from_slice(got);
        }
        Poll::Ready(Ok(got.len()))
    })
}

/// A head still arriving is parsed again only when a line has ended in the new bytes, or once
/// they reach this many: parsing it afresh for every few bytes a slow client sends would cost
/// the square of its length.
const HEAD_REPARSE_BYTES: usize = 1024;

/// Parses as much of `buf` as the phase allows and emits events. Returns true if it made
/// progress (so the caller should try again before reading). `head_checked` is how much of a
/// head still arriving was already found incomplete.
fn process(ctx: &ConnCtx, phase: &mut Phase, buf: &mut BytesMut, head_checked: &mut usize) -> bool {
    let id = ctx.state.id;
    match phase {
        Phase::Failed | Phase::AwaitUpgrade { .. } => false,
        Phase::Raw => {
            if buf.is_empty() {
                return false;
            }
            let data = buf.split();
            ctx.events.push(|e| e.data(id, &data));
            true
        }
        Phase::Head { started } => {
            if buf.is_empty() || ctx.state.pending.load(Ordering::SeqCst) >= MAX_PIPELINED {
                return false;
            }
            let started = *started.get_or_insert_with(Instant::now);
            if *head_checked > 0 {
                let new = &buf[(*head_checked).min(buf.len())..];
                if new.len() < HEAD_REPARSE_BYTES && !new.contains(&b'\n') {
                    return false;
                }
            }
            let head = match parse_head(buf, ctx.limits.parse()) {
                Ok(Some(head)) => head,
                Ok(None) => {
                    *head_checked = buf.len();
                    *phase = Phase::Head {
                        started: Some(started),
                    };
                    return false;
                }
                Err(err) => {
                    report_client_error(ctx, phase, buf, err);
                    return false;
                }
            };
            *head_checked = 0;
            let mut flags = 0;
            if head.framing != Framing::None {
                flags |= events::FLAG_HAS_BODY;
            }
            if head.framing == Framing::UntilClose {
                flags |= events::FLAG_BODY_UNTIL_CLOSE;
            }
            if head.keep_alive {
                flags |= events::FLAG_KEEP_ALIVE;
            }
            if head.upgrade {
                // Node hands the bytes after an upgrade head to the 'upgrade' listener.
                flags |= events::FLAG_UPGRADE;
            }
            ctx.state.pending.fetch_add(1, Ordering::SeqCst);
            ctx.events.push(|e| e.request(id, &head, buf, flags));
            let refused_at = match head.framing {
                Framing::Refused(err) => Some(crate::offence::offset(
                    buf,
                    err,
                    ctx.limits.parse().max_size,
                )),
                _ => None,
            };
            buf.advance(head.len);
            if let (Framing::Refused(err), Some(at)) = (head.framing, refused_at) {
                report_client_error_at(ctx, phase, buf, err, at);
                return false;
            }
            *phase = if head.upgrade {
                Phase::AwaitUpgrade {
                    started,
                    framing: head.framing,
                }
            } else {
                after_head(started, head.framing)
            };
            true
        }
        Phase::Body { body, .. } => {
            let step = match body {
                Body::Length(remaining) => {
                    if buf.is_empty() {
                        return false;
                    }
                    let n = (*remaining).min(buf.len() as u64) as usize;
                    *remaining -= n as u64;
                    let data = buf.split_to(n).freeze();
                    ctx.events.push(|e| e.body_piece(id, data));
                    if *remaining > 0 {
                        return true;
                    }
                    Step::Done(Vec::new())
                }
                Body::UntilClose => {
                    if buf.is_empty() {
                        return false;
                    }
                    let data = buf.split().freeze();
                    ctx.events.push(|e| e.body_piece(id, data));
                    return true;
                }
                Body::Chunked(decoder) => match decoder.step(buf, ctx.limits.parse()) {
                    Ok(step) => step,
                    Err(err) => {
                        report_client_error(ctx, phase, buf, err);
                        return false;
                    }
                },
            };
            match step {
                Step::NeedMore => false,
                Step::Data(data) => {
                    ctx.events.push(|e| e.body_piece(id, data));
                    true
                }
                Step::Done(trailers) => {
                    ctx.events.push(|e| e.end(id, &trailers));
                    *phase = Phase::Head { started: None };
                    true
                }
            }
        }
    }
}

fn after_head(started: Instant, framing: Framing) -> Phase {
    match framing {
        Framing::None => Phase::Head { started: None },
        Framing::Length(n) => Phase::Body {
            started,
            body: Body::Length(n),
        },
        Framing::Chunked => Phase::Body {
            started,
            body: Body::Chunked(ChunkedDecoder::default()),
        },
        Framing::UntilClose => Phase::Body {
            started,
            body: Body::UntilClose,
        },
        // Reported as soon as the head is dispatched (`process`).
        Framing::Refused(_) => Phase::Failed,
    }
}

fn report_client_error(ctx: &ConnCtx, phase: &mut Phase, buf: &[u8], err: RequestError) {
    // Only a head's offences are placed; in a body, the head that llhttp counts from is
    // already gone.
    let parsed = match phase {
        Phase::Head { .. } => crate::offence::offset(buf, err, ctx.limits.parse().max_size),
        _ => 0,
    };
    report_client_error_at(ctx, phase, buf, err, parsed);
}

fn report_client_error_at(
    ctx: &ConnCtx,
    phase: &mut Phase,
    buf: &[u8],
    err: RequestError,
    parsed: usize,
) {
    *phase = Phase::Failed;
    let raw = &buf[..buf.len().min(RAW_PACKET_MAX)];
    let parsed = u32::try_from(parsed).unwrap_or(u32::MAX);
    ctx.events
        .push(|e| e.client_error(ctx.state.id, err, parsed, raw));
}

/// When the current wait must end: the header and request clocks while a request is being
/// received, the keep-alive clock while idle, nothing while a response is being produced.
fn deadline(ctx: &ConnCtx, phase: &Phase, idle_since: Option<Instant>) -> Option<Instant> {
    let limits = &ctx.limits;
    let earliest = |a: Option<Instant>, b: Option<Instant>| match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    match phase {
        Phase::Failed | Phase::AwaitUpgrade { .. } | Phase::Raw => None,
        Phase::Head {
            started: Some(started),
        } => earliest(
            limits.headers_timeout().map(|d| *started + d),
            limits.request_timeout().map(|d| *started + d),
        ),
        Phase::Head { started: None } => idle_since.and_then(|since| {
            limits
                .keep_alive_timeout()
                .map(|d| since + d + KEEP_ALIVE_GRACE)
        }),
        Phase::Body { started, .. } => limits.request_timeout().map(|d| *started + d),
    }
}

/// Waits for the writer to finish (after the JS side ended its side); a destroy cancels the
/// whole connection instead.
async fn wait_until_closed(state: &ConnState, closing: &AtomicBool) {
    loop {
        let woken = state.wake.notified();
        if closing.load(Ordering::SeqCst) {
            return;
        }
        woken.await;
    }
}

async fn linger<R: AsyncRead + Unpin>(rd: &mut R, buf: &mut BytesMut) {
    let drain = async {
        loop {
            buf.clear();
            match rd.read_buf(buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
}

/// Small writes queued together go out as one TLS record.
const COALESCE_MAX: usize = 64 * 1024;

/// Writes what the JS side queued, in order, until it ends its side; then tells the reader.
/// Between commands the write half waits in the queue, where the JS thread may write with it.
async fn write_loop(
    writer: &mut Option<WriteHalf<BoxedStream>>,
    ctx: &ConnCtx,
    closing: &AtomicBool,
) -> io::Result<()> {
    let state = &ctx.state;
    let commands = &state.commands;
    loop {
        let next = commands.recv_with_writer(writer).await;
        // Only `Commands::close` takes the parked half away, and it refuses commands after.
        let wr = writer
            .as_mut()
            .ok_or_else(|| io::Error::other("a connection's writer went missing"))?;
        // Boxed: the writing's state (the pieces, the write in flight) exists only while it
        // runs, instead of in every idle connection's serving future.
        if Box::pin(write_commands(wr, next, ctx, closing)).await? {
            return Ok(());
        }
    }
}

/// Carries out `next` and whatever is queued behind it; `true` once the side is ended.
async fn write_commands(
    wr: &mut WriteHalf<BoxedStream>,
    mut next: Command,
    ctx: &ConnCtx,
    closing: &AtomicBool,
) -> io::Result<bool> {
    let state = &ctx.state;
    let commands = &state.commands;
    loop {
        match next {
            Command::Write(first) => {
                let mut total = first.len();
                let mut pieces = vec![first];
                let mut after = None;
                while let Some(cmd) = commands.try_recv() {
                    match cmd {
                        Command::Write(more) => {
                            total += more.len();
                            pieces.push(more);
                        }
                        other => {
                            after = Some(other);
                            break;
                        }
                    }
                }
                write_pieces(wr, &pieces, total).await?;
                state.wrote(total, &ctx.events);
                match after {
                    Some(cmd) => next = cmd,
                    None => return Ok(false),
                }
            }
            Command::End => {
                wr.shutdown().await?;
                closing.store(true, Ordering::SeqCst);
                state.wake.notify_one();
                return Ok(true);
            }
        }
    }
}

async fn write_pieces<W: AsyncWrite + Unpin>(
    wr: &mut W,
    pieces: &[Bytes],
    total: usize,
) -> io::Result<()> {
    if pieces.len() > 1 && total <= COALESCE_MAX {
        let mut joined = BytesMut::with_capacity(total);
        for p in pieces {
            joined.extend_from_slice(p);
        }
        wr.write_all(&joined).await?;
    } else {
        for p in pieces {
            wr.write_all(p).await?;
        }
    }
    wr.flush().await
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::sync::Arc;
    use std::task::{Wake, Waker};

    use super::*;

    /// A stream that has `chunks` ready, one per read, then nothing, and remembers each waker
    /// it was polled with.
    struct Recording {
        chunks: Vec<Vec<u8>>,
        wakers: Vec<Waker>,
    }

    impl AsyncRead for Recording {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            dst: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            self.wakers.push(cx.waker().clone());
            if self.chunks.is_empty() {
                return Poll::Pending;
            }
            let chunk = self.chunks.remove(0);
            dst.put_slice(&chunk);
            Poll::Ready(Ok(()))
        }
    }

    /// A task's waker, told apart from any other (a no-op one included) by `will_wake`.
    struct Task;
    impl Wake for Task {
        fn wake(self: Arc<Self>) {}
    }

    #[test]
    fn regression_a_body_read_registered_a_no_op_waker_in_the_writers_place() {
        let mut rd = Recording {
            chunks: vec![vec![b'a'; 100], vec![b'b'; 100]],
            wakers: Vec::new(),
        };
        let mut buf = BytesMut::with_capacity(1024);
        let mut held = None;
        let waker = Waker::from(Arc::new(Task));
        {
            let read = std::pin::pin!(read_ready(&mut rd, &mut buf, 1024, &mut held));
            let Poll::Ready(Ok(total)) = read.poll(&mut Context::from_waker(&waker)) else {
                panic!("the read had data ready");
            };
            assert_eq!(total, 200, "the second chunk was taken without waiting");
        }
        assert_eq!(
            rd.wakers.len(),
            3,
            "two reads that found data, one that found none"
        );
        for (i, polled) in rd.wakers.iter().enumerate() {
            assert!(
                polled.will_wake(&waker),
                "read {i} was polled with another waker"
            );
        }
    }
}
