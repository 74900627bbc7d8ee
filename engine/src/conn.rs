//! Serving one connection: a reader that parses requests and hands them to the event queue,
//! and a writer that puts the bytes the JS side produced on the wire. The engine does not
//! interpret responses: Node's own `ServerResponse` serializes them, which is what keeps the
//! bytes identical to `node:https` after Express swaps the response prototype.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::chunked::{ChunkedDecoder, Step};
use crate::events::{self, EventQueue};
use crate::limits::{Limits, KEEP_ALIVE_GRACE};
use crate::request::{parse_head, Framing, ParseError};

/// What the JS side asks of a connection's writer, in order.
#[derive(Debug)]
pub enum Command {
    Write(Bytes),
    /// Flush, send close_notify and FIN, then linger for the peer's close.
    End,
    /// Flush what is already queued (briefly), then close without lingering.
    Destroy,
}

/// The writer's command queue. A locked deque rather than a channel: it allocates nothing
/// until used and keeps a few slots after, where a channel holds a block of 32 per connection
/// (1.8 KiB on every idle connection).
#[derive(Debug, Default)]
struct Commands {
    queue: Mutex<(VecDeque<Command>, bool)>,
    ready: Notify,
}

impl Commands {
    /// Queues a command; `false` when the writer has already stopped.
    fn send(&self, cmd: Command) -> bool {
        {
            let mut guard = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            let (queue, closed) = &mut *guard;
            if *closed {
                return false;
            }
            queue.push_back(cmd);
        }
        self.ready.notify_one();
        true
    }

    fn try_recv(&self) -> Option<Command> {
        let mut guard = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        guard.0.pop_front()
    }

    async fn recv(&self) -> Command {
        loop {
            if let Some(cmd) = self.try_recv() {
                return cmd;
            }
            // A notify between the check above and this wait leaves a permit: no lost wake-up.
            self.ready.notified().await;
        }
    }

    /// The writer stopped: later commands are refused and queued ones dropped.
    fn close(&self) {
        let mut guard = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        guard.0.clear();
        guard.1 = true;
    }
}

/// Bytes queued for a socket above which `write` reports backpressure; a DRAIN event follows
/// once the writer has brought the queue back under it.
pub const WRITE_HIGH_WATER: usize = 64 * 1024;
/// Requests answered out of one connection's pipeline before reading stops until they are.
const MAX_PIPELINED: usize = 64;
const READ_CHUNK: usize = 16 * 1024;
/// Reads of request heads start this small: an idle keep-alive connection then holds little
/// (the buffer grows to `READ_CHUNK` for bodies, upgraded streams and large heads).
const HEAD_CHUNK: usize = 1024;
/// How long a closed connection keeps draining the peer's input, so unread request bytes do
/// not turn our FIN into a RST that destroys the response in flight.
const LINGER: Duration = Duration::from_secs(2);
/// How long `destroy` waits for already-queued bytes (such as Node's 400 reply) to leave.
const DESTROY_FLUSH: Duration = Duration::from_millis(500);
/// The raw bytes reported with a client error are capped like Node's `rawPacket` chunk.
const RAW_PACKET_MAX: usize = 64 * 1024;

/// State shared between a connection's task and the handle the JS side calls into.
#[derive(Debug)]
pub struct ConnState {
    pub id: u32,
    queued: AtomicUsize,
    want_drain: AtomicBool,
    paused: AtomicBool,
    /// Requests dispatched whose responses the JS side has not finished yet.
    pending: AtomicUsize,
    destroy_requested: AtomicBool,
    /// The writer has shut down: the reader only drains the peer from now on.
    closing: AtomicBool,
    /// The JS side's answer to an upgrade request: UNDECIDED, UPGRADE_RAW or UPGRADE_DECLINED.
    upgrade: AtomicU8,
    wake: Notify,
    commands: Commands,
}

const UNDECIDED: u8 = 0;
const UPGRADE_RAW: u8 = 1;
const UPGRADE_DECLINED: u8 = 2;

impl ConnState {
    fn new(id: u32) -> Self {
        ConnState {
            id,
            queued: AtomicUsize::new(0),
            want_drain: AtomicBool::new(false),
            paused: AtomicBool::new(false),
            pending: AtomicUsize::new(0),
            destroy_requested: AtomicBool::new(false),
            closing: AtomicBool::new(false),
            upgrade: AtomicU8::new(UNDECIDED),
            wake: Notify::new(),
            commands: Commands::default(),
        }
    }
}

/// The JS side's grip on a live connection.
#[derive(Debug, Clone)]
pub struct ConnHandle {
    state: Arc<ConnState>,
}

impl ConnHandle {
    /// Queues bytes; `false` means the caller should wait for a DRAIN event before more.
    pub fn write(&self, data: Bytes) -> bool {
        let len = data.len();
        let total = self.state.queued.fetch_add(len, Ordering::SeqCst) + len;
        if !self.state.commands.send(Command::Write(data)) {
            return true;
        }
        if total <= WRITE_HIGH_WATER {
            return true;
        }
        self.state.want_drain.store(true, Ordering::SeqCst);
        // The writer may have emptied the queue between our add and the store above; if so,
        // take the flag back ourselves so nobody waits for a DRAIN that will not come.
        self.state.queued.load(Ordering::SeqCst) <= WRITE_HIGH_WATER
            && self.state.want_drain.swap(false, Ordering::SeqCst)
    }

    pub fn end(&self) {
        self.state.commands.send(Command::End);
    }

    pub fn destroy(&self) {
        self.state.destroy_requested.store(true, Ordering::SeqCst);
        self.state.commands.send(Command::Destroy);
        self.state.wake.notify_one();
    }

    /// Stops reading from the client (a paused request body turns into TCP backpressure).
    pub fn pause(&self) {
        self.state.paused.store(true, Ordering::SeqCst);
    }

    pub fn resume(&self) {
        self.state.paused.store(false, Ordering::SeqCst);
        self.state.wake.notify_one();
    }

    /// The response to the oldest pending request has been fully handed over.
    pub fn response_done(&self) {
        let _ = self
            .state
            .pending
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        self.state.wake.notify_one();
    }

    /// Answers an upgrade request: `raw` hands the connection over as a byte stream (DATA
    /// events from now on), otherwise HTTP parsing goes on as for any request.
    pub fn upgrade(&self, raw: bool) {
        let decision = if raw { UPGRADE_RAW } else { UPGRADE_DECLINED };
        self.state.upgrade.store(decision, Ordering::SeqCst);
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

/// Creates the handle/context pair for a new connection.
pub fn new_connection(
    id: u32,
    events: Arc<EventQueue>,
    limits: Arc<Limits>,
) -> (ConnHandle, ConnCtx) {
    let state = Arc::new(ConnState::new(id));
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

/// Serves the connection until both directions are done. Returns the error that ended it,
/// if any, for the CLOSE event.
/// A connection's byte stream, TLS or plain TCP or unix, as one type.
pub trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}
pub type BoxedStream = Box<dyn Stream>;

pub async fn serve<S>(stream: S, ctx: ConnCtx) -> Option<io::Error>
where
    S: AsyncRead + AsyncWrite + Send + Unpin,
{
    let (rd, wr) = tokio::io::split(stream);
    let (read_result, write_result) = tokio::join!(read_loop(rd, &ctx), write_loop(wr, &ctx));
    read_result.err().or(write_result.err())
}

enum Body {
    Length(u64),
    Chunked(ChunkedDecoder),
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

async fn read_loop<R: AsyncRead + Unpin>(mut rd: R, ctx: &ConnCtx) -> io::Result<()> {
    let state = &ctx.state;
    let mut buf = BytesMut::new();
    // Node starts the first request's header clock when the connection is established.
    let mut phase = Phase::Head {
        started: Some(Instant::now()),
    };
    let mut idle_since: Option<Instant> = None;
    loop {
        if state.destroy_requested.load(Ordering::SeqCst) {
            return Ok(());
        }
        if state.closing.load(Ordering::SeqCst) {
            linger(&mut rd, &mut buf).await;
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
        if !paused && process(ctx, &mut phase, &mut buf) {
            continue;
        }
        let pending = state.pending.load(Ordering::SeqCst);
        let idle = matches!(phase, Phase::Head { started: None }) && buf.is_empty() && pending == 0;
        if idle {
            idle_since.get_or_insert_with(Instant::now);
        } else {
            idle_since = None;
        }
        let deadline = deadline(ctx, &phase, idle_since);
        let pipeline_full = matches!(phase, Phase::Head { .. }) && pending >= MAX_PIPELINED;
        let stopped = matches!(phase, Phase::Failed | Phase::AwaitUpgrade { .. });
        let can_read = !(paused || pipeline_full || stopped);
        if can_read {
            ctx.events.wait_for_room().await;
            let chunk = match phase {
                Phase::Head { .. } if buf.len() < HEAD_CHUNK => HEAD_CHUNK,
                _ => READ_CHUNK,
            };
            if buf.capacity() - buf.len() < chunk / 4 {
                buf.reserve(chunk);
            }
        }
        let sleep = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            read = rd.read_buf(&mut buf), if can_read => match read {
                Ok(0) => {
                    ctx.events.push(|e| e.head(events::PEER_END, state.id));
                    wait_until_closed(state).await;
                    return Ok(());
                }
                Ok(_) => {}
                Err(e) => {
                    ctx.state.commands.send(Command::Destroy);
                    return Err(e);
                }
            },
            _ = sleep => {
                if idle {
                    // Keep-alive timeout: close quietly, as Node's socket timeout does.
                    ctx.state.commands.send(Command::End);
                    wait_until_closed(state).await;
                } else {
                    report_client_error(ctx, &mut phase, &buf, REQUEST_TIMEOUT);
                }
            },
            _ = state.wake.notified() => {}
        }
    }
}

const REQUEST_TIMEOUT: ParseError = ParseError::new("ERR_HTTP_REQUEST_TIMEOUT", "Request timeout");

/// Parses as much of `buf` as the phase allows and emits events. Returns true if it made
/// progress (so the caller should try again before reading).
fn process(ctx: &ConnCtx, phase: &mut Phase, buf: &mut BytesMut) -> bool {
    let id = ctx.state.id;
    match phase {
        Phase::Failed | Phase::AwaitUpgrade { .. } => false,
        Phase::Raw => {
            if buf.is_empty() {
                return false;
            }
            let data = buf.split();
            ctx.events.push(|e| {
                e.head(events::DATA, id);
                e.bytes32(&data);
            });
            true
        }
        Phase::Head { started } => {
            if buf.is_empty() || ctx.state.pending.load(Ordering::SeqCst) >= MAX_PIPELINED {
                return false;
            }
            let started = *started.get_or_insert_with(Instant::now);
            let head = match parse_head(buf, ctx.limits.max_header_size()) {
                Ok(Some(head)) => head,
                Ok(None) => {
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
            let mut flags = 0;
            if head.framing != Framing::None {
                flags |= events::FLAG_HAS_BODY;
            }
            if head.keep_alive {
                flags |= events::FLAG_KEEP_ALIVE;
            }
            if head.upgrade {
                flags |= events::FLAG_UPGRADE;
            }
            ctx.state.pending.fetch_add(1, Ordering::SeqCst);
            ctx.events.push(|e| {
                e.head(events::REQUEST, id);
                e.u8(flags);
                e.u8(head.minor_version);
                e.str8(&buf[head.method.clone()]);
                e.bytes32(&buf[head.target.clone()]);
                e.u16(head.headers.len().min(u16::MAX as usize) as u16);
                for (name, value) in head.headers.iter().take(u16::MAX as usize) {
                    e.str16(&buf[name.clone()]);
                    e.bytes32(&buf[value.clone()]);
                }
                if head.upgrade {
                    // Node hands the bytes after an upgrade head to the 'upgrade' listener.
                    e.bytes32(&buf[head.len..]);
                }
            });
            buf.advance(head.len);
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
                    let data = buf.split_to(n);
                    ctx.events.push(|e| {
                        e.head(events::BODY, id);
                        e.bytes32(&data);
                    });
                    if *remaining > 0 {
                        return true;
                    }
                    Step::Done(Vec::new())
                }
                Body::Chunked(decoder) => match decoder.step(buf, ctx.limits.max_header_size()) {
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
                    ctx.events.push(|e| {
                        e.head(events::BODY, id);
                        e.bytes32(&data);
                    });
                    true
                }
                Step::Done(trailers) => {
                    ctx.events.push(|e| {
                        e.head(events::END, id);
                        e.u16(trailers.len().min(u16::MAX as usize) as u16);
                        for (name, value) in trailers.iter().take(u16::MAX as usize) {
                            e.str16(name);
                            e.bytes32(value);
                        }
                    });
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
    }
}

fn report_client_error(ctx: &ConnCtx, phase: &mut Phase, buf: &[u8], err: ParseError) {
    *phase = Phase::Failed;
    let raw = &buf[..buf.len().min(RAW_PACKET_MAX)];
    ctx.events.push(|e| {
        e.head(events::CLIENT_ERROR, ctx.state.id);
        e.str8(err.code.as_bytes());
        e.str16(err.reason.as_bytes());
        e.bytes32(raw);
    });
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

async fn wait_until_closed(state: &ConnState) {
    while !state.closing.load(Ordering::SeqCst) && !state.destroy_requested.load(Ordering::SeqCst) {
        state.wake.notified().await;
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

async fn write_loop<W: AsyncWrite + Unpin>(mut wr: W, ctx: &ConnCtx) -> io::Result<()> {
    let state = &ctx.state;
    let commands = &state.commands;
    let result = async {
        let mut next = Some(commands.recv().await);
        while let Some(cmd) = next.take() {
            match cmd {
                Command::Write(first) => {
                    let mut total = first.len();
                    let mut pieces = vec![first];
                    while let Some(cmd) = commands.try_recv() {
                        match cmd {
                            Command::Write(more) => {
                                total += more.len();
                                pieces.push(more);
                            }
                            other => {
                                next = Some(other);
                                break;
                            }
                        }
                    }
                    let write = write_pieces(&mut wr, &pieces, total);
                    if state.destroy_requested.load(Ordering::SeqCst) {
                        tokio::time::timeout(DESTROY_FLUSH, write)
                            .await
                            .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
                    } else {
                        write.await?;
                    }
                    let left = state.queued.fetch_sub(total, Ordering::SeqCst) - total;
                    if left <= WRITE_HIGH_WATER && state.want_drain.swap(false, Ordering::SeqCst) {
                        ctx.events.push(|e| e.head(events::DRAIN, state.id));
                    }
                }
                Command::End => {
                    wr.shutdown().await?;
                    return Ok(());
                }
                Command::Destroy => {
                    let _ = tokio::time::timeout(DESTROY_FLUSH, wr.shutdown()).await;
                    return Ok(());
                }
            }
            if next.is_none() {
                next = Some(commands.recv().await);
            }
        }
        Ok(())
    }
    .await;
    commands.close();
    if result.is_err() {
        state.destroy_requested.store(true, Ordering::SeqCst);
    }
    state.closing.store(true, Ordering::SeqCst);
    state.wake.notify_one();
    result
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
