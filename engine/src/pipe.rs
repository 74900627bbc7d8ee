//! Connections the application hands over (Node's `server.emit('connection', stream)`): a
//! stream the engine cannot reach itself, such as a JS Duplex or a socket another process
//! accepted and passed on. Its bytes cross the boundary through an in-memory pipe whose inner
//! end the engine serves exactly as an accepted socket, TLS handshake included; the outer end
//! is carried to and from the consumer in PIPE_DATA events and `write` calls.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, ReadHalf, WriteHalf};
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;

use crate::event_queue::EventQueue;

/// Bytes the in-memory pipe holds each way before its writer waits.
pub(crate) const PIPE_BUFFER: usize = 64 * 1024;
/// Input queued beyond this makes `write` report backpressure; PIPE_DRAIN follows once the
/// pipe has taken it.
const INPUT_HIGH_WATER: usize = 64 * 1024;
const READ_CHUNK: usize = 16 * 1024;

enum Input {
    Data(Bytes),
    End,
}

/// The consumer's side of one pipe.
pub(crate) struct PipeHandle {
    input: mpsc::UnboundedSender<Input>,
    flow: Arc<Flow>,
    cancel: CancellationToken,
}

/// Backpressure both ways: input queued for the pipe, and output the consumer asked to hold.
struct Flow {
    queued: AtomicUsize,
    reported_full: AtomicBool,
    output_paused: AtomicBool,
    output_resumed: Notify,
}

impl PipeHandle {
    /// Queues `data` for the connection; false once the queue is past its high-water mark.
    pub(crate) fn write(&self, data: Bytes) -> bool {
        let queued = self.flow.queued.fetch_add(data.len(), Ordering::SeqCst) + data.len();
        let _ = self.input.send(Input::Data(data));
        if queued > INPUT_HIGH_WATER {
            self.flow.reported_full.store(true, Ordering::SeqCst);
            return false;
        }
        true
    }

    /// The application's stream ended: the connection sees its client's FIN.
    pub(crate) fn end(&self) {
        let _ = self.input.send(Input::End);
    }

    /// The application's stream is gone: the connection is reset.
    pub(crate) fn destroy(&self) {
        self.cancel.cancel();
    }

    /// Holds (or lets go) the bytes the connection sends, while the application's stream
    /// cannot take more.
    pub(crate) fn set_output_paused(&self, paused: bool) {
        self.flow.output_paused.store(paused, Ordering::SeqCst);
        if !paused {
            self.flow.output_resumed.notify_one();
        }
    }
}

/// Makes a pipe: the handle, the end the connection is served on, and the task that carries
/// the other end, which returns once the connection's side is closed or the pipe destroyed.
pub(crate) fn new_pipe(
    id: u32,
    events: Arc<EventQueue>,
    cancel: CancellationToken,
) -> (
    PipeHandle,
    DuplexStream,
    impl std::future::Future<Output = ()> + Send,
) {
    let (inner, outer) = tokio::io::duplex(PIPE_BUFFER);
    let (tx, rx) = mpsc::unbounded_channel();
    let flow = Arc::new(Flow {
        queued: AtomicUsize::new(0),
        reported_full: AtomicBool::new(false),
        output_paused: AtomicBool::new(false),
        output_resumed: Notify::new(),
    });
    let handle = PipeHandle {
        input: tx,
        flow: flow.clone(),
        cancel: cancel.clone(),
    };
    let carry = async move {
        let (rd, wr) = tokio::io::split(outer);
        // Done when the connection's side has closed (its output is over) or the pipe is
        // destroyed; input may end earlier, and what the consumer writes after the
        // connection stopped reading goes nowhere.
        let input = async {
            carry_in(id, wr, rx, &events, &flow).await;
            std::future::pending::<()>().await
        };
        tokio::select! {
            biased;
            _ = cancel.cancelled() => {}
            _ = carry_out(id, rd, &events, &flow) => {}
            _ = input => {}
        }
        events.push(|e| e.pipe_end(id));
    };
    (handle, inner, carry)
}

/// The connection's bytes, out to the consumer, until the connection's side closes.
async fn carry_out(id: u32, mut rd: ReadHalf<DuplexStream>, events: &EventQueue, flow: &Flow) {
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        while flow.output_paused.load(Ordering::SeqCst) {
            let resumed = flow.output_resumed.notified();
            if !flow.output_paused.load(Ordering::SeqCst) {
                break;
            }
            resumed.await;
        }
        events.wait_for_room().await;
        match rd.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => events.push(|e| e.pipe_data(id, &buf[..n])),
        }
    }
}

/// The consumer's bytes, into the connection, until its stream ends or the connection's side
/// stops reading.
async fn carry_in(
    id: u32,
    mut wr: WriteHalf<DuplexStream>,
    mut rx: mpsc::UnboundedReceiver<Input>,
    events: &EventQueue,
    flow: &Flow,
) {
    while let Some(input) = rx.recv().await {
        match input {
            Input::Data(data) => {
                let len = data.len();
                let written = wr.write_all(&data).await;
                let left = flow.queued.fetch_sub(len, Ordering::SeqCst) - len;
                if written.is_err() {
                    return;
                }
                if left <= INPUT_HIGH_WATER / 2 && flow.reported_full.swap(false, Ordering::SeqCst)
                {
                    events.push(|e| e.pipe_drain(id));
                }
            }
            Input::End => {
                let _ = wr.shutdown().await;
            }
        }
    }
}
