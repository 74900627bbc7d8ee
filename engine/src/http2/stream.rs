//! One HTTP/2 stream, served as a connection of its own: its request goes to the JS side as
//! REQUEST (version 2.0, `host` from `:authority`), BODY and END events; what the JS side
//! writes is Node's HTTP/1.1 response, turned into HEADERS, DATA and trailers within the
//! client's flow-control window.

use std::io;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use h2::server::SendResponse;
use h2::{Reason, RecvStream, SendStream};
use http::request::Parts;
use tokio::time::Instant;

use super::response::{Part, Translator};
use super::{to_io, WindowWait};
use crate::conn::{Command, ConnCtx};
use crate::events;
use crate::request::{Framing, Head, RequestError};

/// Serves the stream until its response is sent and its request read, the client resets it,
/// or the JS side destroys it (a reset to the client, and a clean close here).
pub(super) async fn serve(
    request: http::Request<RecvStream>,
    respond: SendResponse<Bytes>,
    ctx: &ConnCtx,
    window: &WindowWait,
) -> io::Result<()> {
    let state = &ctx.state;
    let (parts, body) = request.into_parts();
    let head_request = parts.method == http::Method::HEAD;
    let (buf, head) = request_head(&parts, !body.is_end_stream());
    let mut flags = events::FLAG_KEEP_ALIVE;
    if !body.is_end_stream() {
        flags |= events::FLAG_HAS_BODY;
    }
    ctx.events.push(|e| e.request(state.id, &head, &buf, flags));
    drop(buf);
    // Each side ends itself when the JS side destroys the stream: the writer first sends what
    // was queued before the destroy (Node's error replies are written just before one).
    let result = tokio::try_join!(
        read_body(body, ctx),
        write_response(respond, ctx, head_request, window)
    );
    state.commands.close();
    result.map(|_| ())
}

/// The request head as the HTTP/1 REQUEST event carries it: method, target, and headers with
/// `host` first (from `:authority`, as HTTP/1 clients send it) when the client sent none. A
/// body without `content-length` is announced as `transfer-encoding: chunked`, the HTTP/1 form
/// of a body of unknown length (as Apache's mod_http2 does): body parsers such as Express's
/// look for one of the two to know a body is there.
fn request_head(parts: &Parts, has_body: bool) -> (Vec<u8>, Head) {
    let mut buf = Vec::with_capacity(256);
    let mut put = |bytes: &[u8]| {
        let start = buf.len();
        buf.extend_from_slice(bytes);
        start..buf.len()
    };
    let method = put(parts.method.as_str().as_bytes());
    let authority = parts.uri.authority().map(|a| a.as_str());
    let target = if parts.method == http::Method::CONNECT {
        put(authority.unwrap_or_default().as_bytes())
    } else {
        put(parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .as_bytes())
    };
    let mut headers = Vec::with_capacity(parts.headers.len() + 1);
    if let Some(authority) = authority {
        if !parts.headers.contains_key(http::header::HOST) {
            headers.push((put(b"host"), put(authority.as_bytes())));
        }
    }
    for (name, value) in &parts.headers {
        headers.push((put(name.as_str().as_bytes()), put(value.as_bytes())));
    }
    if has_body && !parts.headers.contains_key(http::header::CONTENT_LENGTH) {
        headers.push((put(b"transfer-encoding"), put(b"chunked")));
    }
    let head = Head {
        method,
        target,
        major_version: 2,
        minor_version: 0,
        headers,
        framing: Framing::None,
        keep_alive: true,
        upgrade: false,
        len: buf.len(),
        rewritten: None,
    };
    (buf, head)
}

/// Forwards the request body as BODY events and ends it with END (and its trailers). Window
/// is given back as the JS side takes the data; while it has paused the request, the window
/// it took is withheld, which stops this stream's client only.
async fn read_body(mut body: RecvStream, ctx: &ConnCtx) -> io::Result<()> {
    let state = &ctx.state;
    let id = state.id;
    if body.is_end_stream() {
        return Ok(());
    }
    let mut withheld = 0usize;
    let deadline = ctx.limits.request_timeout().map(|d| Instant::now() + d);
    let timeout = async {
        match deadline {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(timeout);
    loop {
        if withheld > 0 && !state.paused.load(Ordering::SeqCst) {
            let _ = body.flow_control().release_capacity(withheld);
            withheld = 0;
        }
        tokio::select! {
            data = body.data() => match data {
                None => break,
                Some(Err(e)) => return Err(to_io(e)),
                Some(Ok(data)) => {
                    ctx.events.wait_for_room().await;
                    ctx.events.push(|e| e.body(id, &data));
                    if state.paused.load(Ordering::SeqCst) {
                        withheld += data.len();
                    } else {
                        let _ = body.flow_control().release_capacity(data.len());
                    }
                }
            },
            _ = state.wake.notified(), if withheld > 0 => {}
            _ = state.cancel.cancelled() => return Ok(()),
            // requestTimeout, per stream: Node's clientError path answers 408 and destroys.
            _ = &mut timeout => {
                ctx.events.push(|e| e.client_error(id, RequestError::Timeout, 0, &[]));
                state.cancel.cancelled().await;
                return Ok(());
            }
        }
    }
    let trailers = body.trailers().await.map_err(to_io)?;
    let pairs: Vec<(&[u8], &[u8])> = trailers
        .iter()
        .flat_map(|map| map.iter())
        .map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes()))
        .collect();
    ctx.events.wait_for_room().await;
    ctx.events.push(|e| e.end(id, &pairs));
    Ok(())
}

/// Where the response is: its head not sent yet, its body being sent, or complete.
enum Responder {
    Head(SendResponse<Bytes>),
    Body(SendStream<Bytes>),
    Done,
}

/// Turns what the JS side writes into the HTTP/2 response, until it is complete.
async fn write_response(
    respond: SendResponse<Bytes>,
    ctx: &ConnCtx,
    head_request: bool,
    window: &WindowWait,
) -> io::Result<()> {
    let state = &ctx.state;
    let mut responder = Responder::Head(respond);
    let mut translator = Translator::new(head_request);
    loop {
        let command = tokio::select! {
            command = state.commands.recv() => command,
            reset = poll_reset(&mut responder) => return Err(reset_error(reset)),
            _ = state.cancel.cancelled() => {
                let flush = async {
                    while let Some(command) = state.commands.try_recv() {
                        apply(command, &mut translator, &mut responder, ctx, window).await?;
                    }
                    Ok::<(), io::Error>(())
                };
                let _ = tokio::time::timeout(DESTROY_FLUSH, flush).await;
                match responder {
                    // Nothing sent: the stream is reset, and CANCEL says why.
                    Responder::Head(_) => responder.reset(Reason::CANCEL),
                    // A body without framing ends where the destroy ended it, as an HTTP/1
                    // connection's close ends it (Node's 408 and 400 replies are such).
                    // Any other body stays unfinished: dropping the stream's handles resets
                    // it after what is queued (an explicit reset would discard that).
                    _ => {
                        let mut parts = Vec::new();
                        if translator.finish(&mut parts).is_ok() {
                            for part in parts {
                                let _ = send(&mut responder, part, window).await;
                            }
                        }
                    }
                }
                return Ok(());
            }
        };
        apply(command, &mut translator, &mut responder, ctx, window).await?;
        if matches!(responder, Responder::Done) {
            return Ok(());
        }
    }
}

/// How long a destroyed stream's queued response gets to leave before the reset.
const DESTROY_FLUSH: std::time::Duration = std::time::Duration::from_millis(500);

/// Translates one command and sends what it made.
async fn apply(
    command: Command,
    translator: &mut Translator,
    responder: &mut Responder,
    ctx: &ConnCtx,
    window: &WindowWait,
) -> io::Result<()> {
    let mut parts = Vec::new();
    let (written, result) = match command {
        Command::Write(data) => (data.len(), translator.feed(data, &mut parts)),
        Command::End => (0, translator.finish(&mut parts)),
    };
    if result.is_err() {
        responder.reset(Reason::INTERNAL_ERROR);
        return Err(io::Error::other(
            "the response written to the stream is not HTTP/1.1",
        ));
    }
    for part in parts {
        send(responder, part, window).await?;
    }
    ctx.state.wrote(written, &ctx.events);
    Ok(())
}

async fn poll_reset(responder: &mut Responder) -> Result<Reason, h2::Error> {
    std::future::poll_fn(|cx| match responder {
        Responder::Head(r) => r.poll_reset(cx),
        Responder::Body(s) => s.poll_reset(cx),
        Responder::Done => std::task::Poll::Pending,
    })
    .await
}

fn reset_error(reset: Result<Reason, h2::Error>) -> io::Error {
    match reset {
        Ok(reason) => io::Error::new(io::ErrorKind::ConnectionReset, h2::Error::from(reason)),
        Err(e) => to_io(e),
    }
}

impl Responder {
    fn reset(&mut self, reason: Reason) {
        match self {
            Responder::Head(r) => r.send_reset(reason),
            Responder::Body(s) => s.send_reset(reason),
            Responder::Done => {}
        }
        *self = Responder::Done;
    }
}

/// Sends one part of the response, body data within the client's window.
async fn send(responder: &mut Responder, part: Part, window: &WindowWait) -> io::Result<()> {
    match (part, &mut *responder) {
        (Part::Informational(head), Responder::Head(r)) => {
            r.send_informational(head).map_err(to_io)?;
        }
        (Part::Head { response, end }, Responder::Head(r)) => {
            let stream = r.send_response(response, end).map_err(to_io)?;
            *responder = if end {
                Responder::Done
            } else {
                Responder::Body(stream)
            };
        }
        (Part::Data(data), Responder::Body(s)) => send_data(s, data, window).await?,
        (Part::End(trailers), Responder::Body(s)) => {
            match trailers {
                Some(trailers) => s.send_trailers(trailers),
                None => s.send_data(Bytes::new(), true),
            }
            .map_err(to_io)?;
            *responder = Responder::Done;
        }
        // A part out of order cannot come from the translator; the response is over.
        _ => {}
    }
    Ok(())
}

async fn send_data(
    stream: &mut SendStream<Bytes>,
    mut data: Bytes,
    window: &WindowWait,
) -> io::Result<()> {
    while !data.is_empty() {
        stream.reserve_capacity(data.len());
        let granted = if stream.capacity() > 0 {
            Some(Ok(stream.capacity()))
        } else {
            let _waiting = Waiting::new(window);
            std::future::poll_fn(|cx| stream.poll_capacity(cx)).await
        };
        window.granted();
        let n = match granted {
            None => return Err(io::ErrorKind::ConnectionReset.into()),
            Some(Err(e)) => return Err(to_io(e)),
            Some(Ok(n)) => n.min(data.len()),
        };
        if n > 0 {
            stream.send_data(data.split_to(n), false).map_err(to_io)?;
        }
    }
    Ok(())
}

/// A stream counted as waiting for window while this lives.
struct Waiting<'a>(&'a WindowWait);

impl<'a> Waiting<'a> {
    fn new(window: &'a WindowWait) -> Self {
        window.wait_started();
        Waiting(window)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.blocked.fetch_sub(1, Ordering::SeqCst);
    }
}
