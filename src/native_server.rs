//! `NativeServer`: one engine server as seen from JS. Events reach JS through one wake-up per
//! server that carries no data (`src/wake.rs`): it only says "a batch is ready", and the JS
//! callback takes the whole batch with `takeEventsInto()`.
//!
//! A server belongs to the Node environment (main thread or worker) that made it: an
//! environment cleanup hook shuts it down when that environment goes away, so a worker that
//! exits without `close()` leaves no port bound and no connection open.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use napi::bindgen_prelude::{Buffer, BufferSlice, Either, Function, ObjectFinalize};
use napi::{CleanupEnvHook, Env, JsValue};
use napi_derive::napi;
use rhttps_engine::event_queue::Taken;
use rhttps_engine::hello::{AlpnChoice, HelloAnswer, HelloHooks};
use rhttps_engine::pfx::Pfx;
use rhttps_engine::server::WeakServer;
use rhttps_engine::tls::{self, Identity, TlsOptions};
use rhttps_engine::{ListenOptions, Server};

use crate::errors::{invalid_arg, to_js, JsResult};
use crate::lent::Lent;

use crate::wake::JsWake;

/// TLS options as the JS layer normalizes them: PEM material as lists of buffers, and the
/// negotiation options as Node spells them.
#[napi(object)]
pub struct TlsInput {
    pub key: Vec<Buffer>,
    pub cert: Vec<Buffer>,
    pub ca: Vec<Buffer>,
    pub passphrase: Option<String>,
    pub key_passphrases: Option<Vec<Option<String>>>,
    pub pfx: Option<Vec<PfxInput>>,
    pub crl: Option<Vec<Buffer>>,
    pub min_version: Option<String>,
    pub max_version: Option<String>,
    pub ciphers: Option<String>,
    pub ecdh_curve: Option<String>,
    pub honor_cipher_order: Option<bool>,
    pub alpn_protocols: Option<Vec<Buffer>>,
    pub request_cert: Option<bool>,
    pub reject_unauthorized: Option<bool>,
}

/// One `pfx` entry: the archive and, from Node's `{ buf, passphrase }` form, its passphrase.
#[napi(object)]
pub struct PfxInput {
    pub buf: Buffer,
    pub passphrase: Option<String>,
}

fn tls_options(input: &TlsInput) -> TlsOptions {
    let to_vecs = |list: &[Buffer]| list.iter().map(|b| b.to_vec()).collect::<Vec<_>>();
    TlsOptions {
        key: to_vecs(&input.key),
        cert: to_vecs(&input.cert),
        ca: to_vecs(&input.ca),
        passphrase: input.passphrase.clone(),
        key_passphrases: input.key_passphrases.clone().unwrap_or_default(),
        pfx: input
            .pfx
            .iter()
            .flatten()
            .map(|p| Pfx {
                buf: p.buf.to_vec(),
                passphrase: p.passphrase.clone(),
            })
            .collect(),
        crl: input.crl.as_deref().map(to_vecs).unwrap_or_default(),
        min_version: input.min_version.clone(),
        max_version: input.max_version.clone(),
        ciphers: input.ciphers.clone(),
        ecdh_curve: input.ecdh_curve.clone(),
        honor_cipher_order: input.honor_cipher_order,
        alpn_protocols: input.alpn_protocols.as_deref().map(to_vecs),
        request_cert: input.request_cert.unwrap_or(false),
        // Node's default: a requested certificate must verify.
        reject_unauthorized: input.reject_unauthorized.unwrap_or(true),
    }
}

/// Builds the full configuration once, for its errors only.
pub fn validate(input: &TlsInput) -> JsResult<()> {
    tls::server_config(&tls_options(input), Default::default(), None)
        .map(|_| ())
        .map_err(to_js)
}

/// The keys and certificates of a secure context, loaded once, for answering `SNICallback`.
#[napi]
pub struct SecureIdentity {
    inner: Arc<Identity>,
}

#[napi]
impl SecureIdentity {
    #[napi(constructor, catch_unwind)]
    pub fn new(tls: TlsInput) -> napi::Result<Self, String> {
        let inner = tls::identity(&tls_options(&tls)).map_err(to_js)?;
        Ok(SecureIdentity {
            inner: Arc::new(inner),
        })
    }
}

/// `mode` of `answerHello`: how the handshake goes on.
const HELLO_CONFIGURED: u32 = 0;
const HELLO_SELECT: u32 = 1;
const HELLO_REJECT: u32 = 2;
const HELLO_ABORT: u32 = 3;

fn hello_answer(
    identity: Option<Arc<Identity>>,
    mode: u32,
    alpn: Option<Buffer>,
) -> napi::Result<HelloAnswer, String> {
    let alpn = match (mode, alpn) {
        (HELLO_ABORT, _) => return Ok(HelloAnswer::Abort),
        (HELLO_CONFIGURED, _) => AlpnChoice::Configured,
        (HELLO_SELECT, Some(p)) => AlpnChoice::Select(p.to_vec()),
        (HELLO_REJECT, _) => AlpnChoice::Reject,
        _ => return Err(invalid_arg(format!("bad hello answer mode {mode}"))),
    };
    Ok(HelloAnswer::Proceed { identity, alpn })
}

#[napi(object)]
pub struct BoundAddress {
    pub address: String,
    pub family: String,
    pub port: u32,
}

/// The engine's default limits (Node 20's), which the JS layer starts every server with.
#[napi(catch_unwind)]
pub fn default_limits() -> Limits {
    let d = rhttps_engine::limits::Limits::default();
    let ms = |v: Option<std::time::Duration>| Some(v.map_or(0.0, |d| d.as_millis() as f64));
    Limits {
        headers_timeout: ms(d.headers_timeout()),
        request_timeout: ms(d.request_timeout()),
        keep_alive_timeout: ms(d.keep_alive_timeout()),
        handshake_timeout: ms(d.handshake_timeout()),
        max_header_size: Some(d.max_header_size() as f64),
        insecure_http_parser: Some(false),
    }
}

#[napi(object)]
pub struct Limits {
    pub headers_timeout: Option<f64>,
    pub request_timeout: Option<f64>,
    pub keep_alive_timeout: Option<f64>,
    pub handshake_timeout: Option<f64>,
    pub max_header_size: Option<f64>,
    pub insecure_http_parser: Option<bool>,
}

/// What the environment cleanup hook holds: the server, weakly, and whether the hook ran
/// (a finalizer that runs after it must not unregister it again).
type Teardown = (WeakServer, Arc<AtomicBool>);

/// Write chunks at least this large go to the engine by reference instead of being copied
/// (`writev`); the JS layer sends them that way (`lib/socket.js`). Above the engine's
/// high-water mark, so such a write always reports backpressure and its callback waits for
/// the DRAIN that follows its bytes onto the wire: the caller may reuse the chunk only then.
/// Releasing a reference from an engine thread costs a hand-off to the JS thread (napi-rs
/// queues it there), more than copying a chunk of a few hundred KiB; a piped request body's
/// pieces (up to 256 KiB) are copied, a large response body goes by reference. Exported, so
/// the JS layer decides with the same number.
#[napi]
pub const BY_REFERENCE_MIN: u32 = 4 * rhttps_engine::conn::WRITE_HIGH_WATER as u32 + 1;

/// Body pieces at least this large are lent to JS (`src/lent.rs`), and a write of one goes
/// through `writev`, which takes it back by reference. Exported for the JS layer.
#[napi]
pub const LENT_MIN: u32 = rhttps_engine::events::LENT_MIN as u32;

#[napi(custom_finalize)]
pub struct NativeServer {
    engine: Server,
    wake: JsWake,
    teardown: Option<CleanupEnvHook<Teardown>>,
    torn_down: Arc<AtomicBool>,
    lent: Arc<Lent>,
}

impl ObjectFinalize for NativeServer {
    fn finalize(self, env: Env) -> napi::Result<()> {
        if let Some(hook) = self.teardown {
            if !self.torn_down.load(Ordering::SeqCst) {
                env.remove_env_cleanup_hook(hook)?;
            }
        }
        Ok(())
    }
}

fn millis(v: f64) -> u64 {
    if v.is_finite() && v > 0.0 {
        v as u64
    } else {
        0
    }
}

#[napi]
impl NativeServer {
    /// `tls: null` serves plain HTTP. `onEvents` is called (with no arguments) on the JS
    /// thread whenever events are waiting.
    #[napi(constructor, catch_unwind)]
    pub fn new(
        env: Env,
        tls: Option<TlsInput>,
        on_events: Function<(), ()>,
    ) -> napi::Result<Self, String> {
        // SAFETY: constructor call on the JS thread; `on_events` is one of its arguments.
        let (wake, engine_wake) = unsafe { JsWake::new(env.raw(), on_events.raw()) }
            .map_err(|e| napi::Error::new("ERR_RHTTPS_NAPI".to_string(), e.to_string()))?;
        let engine = Server::new(Box::new(engine_wake));
        if let Some(input) = &tls {
            engine.set_tls(&tls_options(input)).map_err(to_js)?;
        }
        let torn_down = Arc::new(AtomicBool::new(false));
        let teardown = env
            .add_env_cleanup_hook(
                (engine.downgrade(), torn_down.clone()),
                |(server, ran): Teardown| {
                    ran.store(true, Ordering::SeqCst);
                    if let Some(server) = server.upgrade() {
                        server.shutdown();
                    }
                },
            )
            .map_err(|e| napi::Error::new("ERR_RHTTPS_NAPI".to_string(), e.reason.clone()))?;
        Ok(NativeServer {
            engine,
            wake,
            teardown: Some(teardown),
            torn_down,
            lent: Arc::default(),
        })
    }

    /// Undelivered event bytes above which the engine stops reading and accepting (tests set
    /// a small mark to reach it with a few connections).
    #[napi(catch_unwind)]
    pub fn set_event_high_water(&self, bytes: u32) {
        self.engine.set_event_high_water(bytes as usize)
    }

    /// Test hook: makes connection `id`'s engine task panic.
    #[napi(js_name = "_injectFault", catch_unwind)]
    pub fn inject_fault(&self, id: u32) {
        self.engine.inject_fault(id)
    }

    #[napi(catch_unwind)]
    pub fn set_limits(&self, limits: Limits) {
        let l = self.engine.limits();
        if let Some(v) = limits.headers_timeout {
            l.set_headers_timeout(millis(v));
        }
        if let Some(v) = limits.request_timeout {
            l.set_request_timeout(millis(v));
        }
        if let Some(v) = limits.keep_alive_timeout {
            l.set_keep_alive_timeout(millis(v));
        }
        if let Some(v) = limits.handshake_timeout {
            l.set_handshake_timeout(millis(v));
        }
        if let Some(v) = limits.max_header_size {
            l.set_max_header_size(millis(v));
        }
        if let Some(on) = limits.insecure_http_parser {
            l.set_lenient(on);
        }
    }

    /// Binds and starts accepting; `host` must be an IP literal (the JS layer resolves names)
    /// or null for Node's default (`::`, falling back to `0.0.0.0`).
    #[napi(catch_unwind)]
    pub fn listen(
        &self,
        host: Option<String>,
        port: u32,
        backlog: i32,
        ipv6_only: bool,
        reuse_port: bool,
    ) -> napi::Result<BoundAddress, String> {
        let host = match host {
            Some(h) => Some(
                h.parse::<IpAddr>()
                    .map_err(|_| invalid_arg(format!("not an IP address: {h}")))?,
            ),
            None => None,
        };
        let port =
            u16::try_from(port).map_err(|_| invalid_arg(format!("port out of range: {port}")))?;
        let addr = self
            .engine
            .listen(&ListenOptions {
                host,
                port,
                backlog,
                ipv6_only,
                reuse_port,
            })
            .map_err(to_js)?;
        Ok(BoundAddress {
            address: addr.ip().to_string(),
            family: if addr.is_ipv4() { "IPv4" } else { "IPv6" }.to_string(),
            port: u32::from(addr.port()),
        })
    }

    /// Replaces the certificates and TLS options for handshakes from now on.
    #[napi(catch_unwind)]
    pub fn set_secure_context(&self, tls: TlsInput) -> napi::Result<(), String> {
        self.engine.set_tls(&tls_options(&tls)).map_err(to_js)
    }

    /// Which ClientHellos wait for the JS side's answer (HELLO events).
    #[napi(catch_unwind)]
    pub fn set_hello_hooks(&self, sni: bool, alpn: bool) {
        self.engine.set_hello_hooks(HelloHooks { sni, alpn })
    }

    /// Answers HELLO `id` with the server's own identity: `mode` 0 keeps the configured
    /// protocols, 1 selects `alpn`, 2 refuses every protocol, 3 drops the connection.
    #[napi(catch_unwind)]
    pub fn answer_hello(
        &self,
        id: u32,
        mode: u32,
        alpn: Option<Buffer>,
    ) -> napi::Result<(), String> {
        let answer = hello_answer(None, mode, alpn)?;
        self.engine.answer_hello(id, answer);
        Ok(())
    }

    /// As `answerHello`, serving the handshake with `identity` (from `SNICallback`).
    #[napi(catch_unwind)]
    pub fn answer_hello_with(
        &self,
        id: u32,
        identity: &SecureIdentity,
        mode: u32,
        alpn: Option<Buffer>,
    ) -> napi::Result<(), String> {
        let answer = hello_answer(Some(identity.inner.clone()), mode, alpn)?;
        self.engine.answer_hello(id, answer);
        Ok(())
    }

    /// Turns key-log reporting on while the server has `'keylog'` listeners.
    #[napi(catch_unwind)]
    pub fn set_keylog(&self, on: bool) {
        self.engine.set_keylog(on)
    }

    /// The 48 bytes of session ticket keys (Node's `getTicketKeys()`).
    #[napi(catch_unwind)]
    pub fn get_ticket_keys(&self) -> Option<Buffer> {
        self.engine
            .tickets()
            .map(|t| Buffer::from(t.get().to_vec()))
    }

    /// Replaces the session ticket keys (Node's `setTicketKeys(keys)`).
    #[napi(catch_unwind)]
    pub fn set_ticket_keys(&self, keys: &[u8]) -> napi::Result<(), String> {
        match self.engine.tickets() {
            Some(t) => t.set(keys).map_err(to_js),
            None => Err(napi::Error::new(
                "ERR_RHTTPS_TICKETS".to_string(),
                "session tickets are unavailable (no randomness for keys)".to_string(),
            )),
        }
    }

    /// Node's `sessionTimeout`: how long, in seconds, a session ticket may be used.
    #[napi(catch_unwind)]
    pub fn set_session_timeout(&self, seconds: u32) {
        if let Some(t) = self.engine.tickets() {
            t.set_lifetime(seconds)
        }
    }

    /// Serves `hostname` (SNI; `*` for one label) with these keys and certificates.
    #[napi(catch_unwind)]
    pub fn add_context(&self, hostname: String, tls: TlsInput) -> napi::Result<(), String> {
        self.engine
            .add_context(&hostname, &tls_options(&tls))
            .map_err(to_js)
    }

    /// Binds a unix domain socket at `path` and starts accepting.
    #[napi(catch_unwind)]
    pub fn listen_unix(&self, path: String, backlog: i32) -> napi::Result<(), String> {
        #[cfg(unix)]
        return self
            .engine
            .listen_unix(std::path::Path::new(&path), backlog)
            .map_err(to_js);
        #[cfg(not(unix))]
        return Err(napi::Error::new(
            "ERR_RHTTPS_UNSUPPORTED".to_string(),
            format!("listening on a path ({path}, backlog {backlog}) needs unix domain sockets"),
        ));
    }

    /// Stops accepting new connections and frees the port.
    #[napi(catch_unwind)]
    pub fn stop_accepting(&self) {
        self.engine.stop_accepting();
    }

    /// Takes the pending event batch (layout: the table in `engine/src/events.rs`): copied
    /// into `scratch`, a buffer the JS layer reuses, when it fits (the answer is its length),
    /// else handed over whole as a new Buffer. A new Buffer per batch costs an external
    /// allocation and its finalizer, more than copying the usual batch of a few events. The
    /// batch's lent body pieces wait for `takeLent`, one per BODY_LENT event.
    #[napi(catch_unwind)]
    pub fn take_events_into(&self, mut scratch: BufferSlice) -> Either<u32, Buffer> {
        let (taken, pieces) = self.engine.take_events_into(&mut scratch);
        self.lent.batch_taken(pieces);
        match taken {
            // The scratch buffer is far below 4 GiB.
            Taken::Copied(len) => Either::A(len as u32),
            Taken::Whole(batch) => Either::B(Buffer::from(batch)),
        }
    }

    /// The body piece of the batch's next BODY_LENT event, as a Buffer over the engine's
    /// memory (`src/lent.rs`); `null` if the batch lent no more.
    #[napi(catch_unwind)]
    pub fn take_lent<'env>(&self, env: &'env Env) -> napi::Result<Option<BufferSlice<'env>>> {
        self.lent.next_buffer(env)
    }

    /// Writes bytes for a connection: straight to the socket from this (the JS) thread while
    /// the server is lightly loaded, otherwise copied into its queue; `false` means wait for
    /// its DRAIN event.
    #[napi(catch_unwind)]
    pub fn write(&self, id: u32, data: &[u8]) -> bool {
        self.engine.write_slice(id, data)
    }

    /// Queues several chunks as one write (the body of a corked `_writev`, or one large
    /// chunk). With `by_reference`, large chunks reach the engine without a copy: bytes of a
    /// body piece the engine lent (`LENT_MIN` bytes and more; a piped request body) as the
    /// engine's own `Bytes` again, and other chunks of `BY_REFERENCE_MIN` bytes and more
    /// through napi's `Buffer`, whose reference keeps the JS memory alive until the engine
    /// drops it, on whichever thread (napi-rs hands an off-thread release back to the JS
    /// thread). Smaller chunks are copied together, which costs less than a reference each.
    #[napi(catch_unwind)]
    pub fn writev(&self, id: u32, chunks: Vec<Buffer>, by_reference: bool) -> bool {
        if !by_reference || chunks.iter().all(|c| c.len() < LENT_MIN as usize) {
            let total = chunks.iter().map(|c| c.len()).sum();
            let mut joined = bytes::BytesMut::with_capacity(total);
            for c in &chunks {
                joined.extend_from_slice(c);
            }
            return self.engine.write(id, joined.freeze());
        }
        let mut pieces = Vec::with_capacity(chunks.len());
        let mut small = bytes::BytesMut::new();
        for c in chunks {
            let own = if c.len() >= LENT_MIN as usize {
                self.lent.find(&c)
            } else {
                None
            };
            let piece = match own {
                Some(piece) => piece,
                None if c.len() >= BY_REFERENCE_MIN as usize => bytes::Bytes::from_owner(c),
                None => {
                    small.extend_from_slice(&c);
                    continue;
                }
            };
            if !small.is_empty() {
                pieces.push(small.split().freeze());
            }
            pieces.push(piece);
        }
        if !small.is_empty() {
            pieces.push(small.freeze());
        }
        self.engine.write_pieces(id, pieces)
    }

    #[napi(catch_unwind)]
    pub fn end(&self, id: u32) {
        self.engine.end(id)
    }

    #[napi(catch_unwind)]
    pub fn destroy(&self, id: u32) {
        self.engine.destroy(id)
    }

    /// Serves a stream the application hands over; its bytes go through the returned pipe.
    /// The addresses are the stream's own, when it is a socket (`null` otherwise).
    #[napi(catch_unwind)]
    pub fn adopt(
        &self,
        remote_ip: Option<String>,
        remote_port: u32,
        local_ip: Option<String>,
        local_port: u32,
    ) -> napi::Result<u32, String> {
        let addr = |ip: Option<String>, port: u32| {
            let ip = ip?.parse::<IpAddr>().ok()?;
            Some(SocketAddr::new(ip, u16::try_from(port).ok()?))
        };
        self.engine
            .adopt(addr(remote_ip, remote_port), addr(local_ip, local_port))
            .map_err(to_js)
    }

    /// Bytes the adopted stream received; `false` means wait for PIPE_DRAIN.
    #[napi(catch_unwind)]
    pub fn pipe_write(&self, pipe: u32, data: &[u8]) -> bool {
        self.engine
            .pipe_write(pipe, bytes::Bytes::copy_from_slice(data))
    }

    /// The adopted stream ended.
    #[napi(catch_unwind)]
    pub fn pipe_end(&self, pipe: u32) {
        self.engine.pipe_end(pipe)
    }

    /// The adopted stream is gone.
    #[napi(catch_unwind)]
    pub fn pipe_destroy(&self, pipe: u32) {
        self.engine.pipe_destroy(pipe)
    }

    /// Holds the connection's output while the adopted stream cannot take more.
    #[napi(catch_unwind)]
    pub fn pipe_pause_output(&self, pipe: u32, paused: bool) {
        self.engine.pipe_pause_output(pipe, paused)
    }

    /// Destroys the connection if no request is arriving or being answered (for
    /// `closeIdleConnections()`); whether it did.
    #[napi(catch_unwind)]
    pub fn destroy_if_idle(&self, id: u32) -> bool {
        self.engine.destroy_if_idle(id)
    }

    #[napi(catch_unwind)]
    pub fn pause(&self, id: u32) {
        self.engine.pause(id)
    }

    #[napi(catch_unwind)]
    pub fn resume(&self, id: u32) {
        self.engine.resume(id)
    }

    #[napi(catch_unwind)]
    pub fn response_done(&self, id: u32) {
        self.engine.response_done(id)
    }

    /// `responseDone` for the first `count` connections of `ids`, in order: the responses one
    /// tick of the JS event loop finished, reported in one call (`ServerState#responseDone`).
    #[napi(catch_unwind)]
    pub fn responses_done(&self, ids: &[u32], count: u32) {
        for &id in ids.iter().take(count as usize) {
            self.engine.response_done(id)
        }
    }

    /// The JS side is done with an HTTP/2 stream that ended without its response.
    #[napi(catch_unwind)]
    pub fn release_stream(&self, id: u32) {
        self.engine.release_stream(id)
    }

    /// Answers an upgrade request: `raw` turns the connection into a byte stream.
    #[napi(catch_unwind)]
    pub fn upgrade(&self, id: u32, raw: bool) {
        self.engine.upgrade(id, raw)
    }

    #[napi(catch_unwind)]
    pub fn connection_count(&self) -> u32 {
        self.engine.connection_count() as u32
    }

    /// Keeps the process alive while this server can still deliver events.
    #[napi(js_name = "ref", catch_unwind)]
    pub fn ref_(&self) {
        self.wake.refer()
    }

    #[napi(catch_unwind)]
    pub fn unref(&self) {
        self.wake.unref()
    }
}
