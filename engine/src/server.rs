//! A server: the listening socket, the accept loop, TLS handshakes, and the registry through
//! which the JS side reaches each live connection by id.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use bytes::Bytes;
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::oneshot;
use tokio_rustls::{LazyConfigAcceptor, TlsAcceptor};

use crate::conn::{self, ConnHandle};
use crate::error::EngineError;
use crate::events::{self, EventQueue, Waker};
use crate::hello::{self, HelloAnswer, HelloHooks, HelloInfo};
use crate::keylog;
use crate::limits::Limits;
use crate::listener::{self, Accepted, ListenOptions, Listener};
use crate::runtime;
use crate::tickets::TicketKeys;
use crate::tls::{self, ServerTls, SniContexts, TlsOptions};

struct Shared {
    events: Arc<EventQueue>,
    limits: Arc<Limits>,
    tls: RwLock<Option<Arc<ServerTls>>>,
    sni: Arc<SniContexts>,
    tickets: Option<Arc<TicketKeys>>,
    keylog: AtomicBool,
    /// `SNICallback` (bit 0) and `ALPNCallback` (bit 1) are set.
    hooks: AtomicU8,
    hellos: Arc<hello::Pending>,
    conns: Mutex<HashMap<u32, ConnHandle>>,
    next_id: AtomicU32,
    stop: Mutex<Option<oneshot::Sender<()>>>,
}

/// One HTTP(S) server. Cheap to share; all methods may be called from any thread.
#[derive(Clone)]
pub struct Server {
    shared: Arc<Shared>,
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

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
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
                next_id: AtomicU32::new(1),
                stop: Mutex::new(None),
            }),
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.shared.limits
    }

    /// Takes every event produced since the last call (see `events` for the layout).
    pub fn take_events(&self) -> Vec<u8> {
        self.shared.events.take()
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
    pub fn listen_unix(&self, path: &Path, backlog: i32) -> Result<(), EngineError> {
        let io_err = |source| EngineError::Io {
            syscall: "listen",
            source,
        };
        self.start(|| {
            let std_listener = listener::bind_unix(path, backlog)?;
            Ok((UnixListener::from_std(std_listener)?, ()))
        })
        .map_err(|e| e.map_io(io_err))
    }

    fn start<L: Listener, T>(
        &self,
        bind: impl FnOnce() -> io::Result<(L, T)>,
    ) -> Result<T, StartError> {
        let mut stop = lock(&self.shared.stop);
        if stop.is_some() {
            return Err(StartError::Engine(EngineError::AlreadyListening));
        }
        let rt = runtime::get().map_err(StartError::Engine)?;
        // tokio listeners register with the reactor of the runtime they are made in.
        let (listener, bound) = {
            let _guard = rt.enter();
            bind().map_err(StartError::Io)?
        };
        let (tx, rx) = oneshot::channel();
        *stop = Some(tx);
        rt.spawn(accept_loop(listener, self.shared.clone(), rx));
        Ok(bound)
    }

    /// Stops accepting and releases the port. Open connections are not touched.
    pub fn stop_accepting(&self) {
        if let Some(tx) = lock(&self.shared.stop).take() {
            let _ = tx.send(());
        }
    }

    pub fn connection_count(&self) -> usize {
        lock(&self.shared.conns).len()
    }

    fn conn(&self, id: u32) -> Option<ConnHandle> {
        lock(&self.shared.conns).get(&id).cloned()
    }

    /// Queues bytes for a connection. `false` asks the caller to wait for DRAIN. Writes to a
    /// connection that is already gone are dropped: its CLOSE event is on its way.
    pub fn write(&self, id: u32, data: Bytes) -> bool {
        match self.conn(id) {
            Some(c) => c.write(data),
            None => true,
        }
    }

    pub fn end(&self, id: u32) {
        self.on_conn(id, ConnHandle::end)
    }

    pub fn destroy(&self, id: u32) {
        self.on_conn(id, ConnHandle::destroy)
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

    pub fn upgrade(&self, id: u32, raw: bool) {
        self.on_conn(id, |c| c.upgrade(raw))
    }

    /// Commands for a connection that is already gone are dropped: its CLOSE event is on its
    /// way to the JS side.
    fn on_conn(&self, id: u32, command: impl FnOnce(&ConnHandle)) {
        if let Some(c) = self.conn(id) {
            command(&c)
        }
    }
}

async fn accept_loop<L: Listener>(
    listener: L,
    shared: Arc<Shared>,
    mut stop: oneshot::Receiver<()>,
) {
    loop {
        tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => match accepted {
                Ok(conn) => {
                    tokio::spawn(handle_connection(conn, shared.clone()));
                }
                Err(e) if is_per_connection_error(&e) => {}
                Err(e) => {
                    shared.events.push(|ev| {
                        ev.head(events::ACCEPT_ERROR, 0);
                        ev.i32(e.raw_os_error().unwrap_or(0));
                        ev.str16(e.to_string().as_bytes());
                    });
                    // Out of descriptors: back off instead of spinning on the same error.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

fn is_per_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}

/// What the OPEN event tells the JS side about a connection.
#[derive(Default)]
struct ConnInfo {
    remote: Option<SocketAddr>,
    local: Option<SocketAddr>,
    protocol: &'static str,
    cipher: String,
    alpn: Vec<u8>,
    servername: String,
    group: String,
    /// With client certificates requested: the verdict and the chain the client sent.
    authorized: Option<bool>,
    authorization_error: &'static str,
    resumed: bool,
    keylog: Vec<Vec<u8>>,
    peer_chain: Vec<rustls::pki_types::CertificateDer<'static>>,
}

async fn handle_connection<S>(conn: Accepted<S>, shared: Arc<Shared>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let mut info = ConnInfo {
        remote: conn.remote,
        local: conn.local,
        ..ConnInfo::default()
    };
    let tls = shared
        .tls
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone();
    // Boxed twice over, for memory: the handshake's state (rustls's acceptor, the ClientHello,
    // the timeout) lives only while it runs, and the connection's stream, TLS or not, is one
    // boxed type, so each connection's task is sized for the serving loop alone (an idle
    // connection's task went from 18 KiB to under 3 KiB).
    let stream: conn::BoxedStream = match tls {
        None => Box::new(conn.stream),
        Some(tls) => match Box::pin(secure(conn.stream, &tls, &shared, &mut info)).await {
            Some(stream) => Box::new(stream),
            None => return,
        },
    };
    run_connection(stream, info, &shared).await
}

/// Runs the TLS handshake (through the application's callbacks when it set any) and records
/// what it negotiated in `info`. A failed handshake is reported as TLS_ERROR and gives `None`.
async fn secure<S>(
    stream: S,
    tls: &ServerTls,
    shared: &Arc<Shared>,
    info: &mut ConnInfo,
) -> Option<tokio_rustls::server::TlsStream<S>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let hooks = shared.hooks.load(Ordering::Relaxed);
    let hooks = HelloHooks {
        sni: hooks & 1 != 0,
        alpn: hooks & 2 != 0,
    };
    let config = tls.config.clone();
    let remote = info.remote;
    let handshake = async move {
        if !hooks.any() {
            return TlsAcceptor::from(config).accept(stream).await;
        }
        let start = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), stream).await?;
        let hello = HelloInfo::of(&start.client_hello());
        let config = if hooks.wants(hello.servername.as_deref(), hello.offers_alpn) {
            match ask_application(shared, &hello, remote).await? {
                HelloAnswer::Proceed { identity, alpn } => {
                    hello::config_for(&config, identity, alpn, &hello.alpn)
                }
                HelloAnswer::Abort => return Err(io::Error::other(hello::Aborted)),
            }
        } else {
            config
        };
        start.into_stream(config).await
    };
    let limit = shared.limits.handshake_timeout();
    let bounded = async move {
        match limit {
            Some(limit) => tokio::time::timeout(limit, handshake)
                .await
                .unwrap_or_else(|_| {
                    Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "TLS handshake timeout",
                    ))
                }),
            None => handshake.await,
        }
    };
    let (result, keylog) = if shared.keylog.load(Ordering::Relaxed) {
        keylog::collect(bounded).await
    } else {
        (bounded.await, Vec::new())
    };
    info.keylog = keylog;
    let stream = match result {
        Ok(stream) => stream,
        Err(e) if hello::is_aborted(&e) => return None,
        Err(e) => {
            let (code, message) = tls_error(&e);
            shared.events.push(|ev| {
                ev.head(events::TLS_ERROR, 0);
                ev.str8(code.as_bytes());
                ev.str16(message.as_bytes());
                encode_addr(ev, info.remote);
            });
            return None;
        }
    };
    let (_, session) = stream.get_ref();
    info.protocol = match session.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
        _ => "unknown",
    };
    info.cipher = session
        .negotiated_cipher_suite()
        .and_then(|s| s.suite().as_str())
        .unwrap_or("")
        .to_string();
    info.alpn = session
        .alpn_protocol()
        .map(<[u8]>::to_vec)
        .unwrap_or_default();
    info.servername = session.server_name().unwrap_or("").to_string();
    info.group = session
        .negotiated_key_exchange_group()
        .map(|g| format!("{:?}", g.name()))
        .unwrap_or_default();
    info.resumed = session.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
    if let Some(auth) = &tls.client_auth {
        info.peer_chain = session
            .peer_certificates()
            .map(<[_]>::to_vec)
            .unwrap_or_default();
        let verdict = auth.verdict(&info.peer_chain);
        info.authorized = Some(verdict.authorized);
        info.authorization_error = verdict.error;
    }
    Some(stream)
}

/// Sends a HELLO event and waits for the answer (bounded by the handshake timeout around it).
async fn ask_application(
    shared: &Arc<Shared>,
    hello: &HelloInfo,
    remote: Option<SocketAddr>,
) -> io::Result<HelloAnswer> {
    let (ticket, answer) = shared.hellos.register();
    shared.events.push(|ev| {
        ev.head(events::HELLO, 0);
        ev.u32(ticket.id);
        ev.str8(hello.servername.as_deref().unwrap_or("").as_bytes());
        ev.u8(u8::from(hello.offers_alpn));
        ev.u8(hello.alpn.len().min(u8::MAX as usize) as u8);
        for protocol in hello.alpn.iter().take(u8::MAX as usize) {
            ev.str8(protocol);
        }
        encode_addr(ev, remote);
    });
    answer
        .await
        .map_err(|_| io::Error::other("the server was closed during the handshake"))
}

/// Node-style code and message for a failed handshake, as `tlsClientError` reports them.
fn tls_error(e: &io::Error) -> (&'static str, String) {
    match e.kind() {
        io::ErrorKind::TimedOut => ("ERR_TLS_HANDSHAKE_TIMEOUT", "TLS handshake timeout".into()),
        io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::BrokenPipe => (
            "ECONNRESET",
            "Client network socket disconnected before secure TLS connection was established"
                .into(),
        ),
        _ => {
            let text = e.to_string();
            let rustls_error = e
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>());
            let code = if matches!(rustls_error, Some(rustls::Error::NoApplicationProtocol)) {
                "ERR_SSL_NO_APPLICATION_PROTOCOL"
            } else if text.contains("InvalidContentType") || text.contains("corrupt message") {
                "ERR_SSL_WRONG_VERSION_NUMBER"
            } else if text.contains("no protocols") || text.contains("PeerIncompatible") {
                "ERR_SSL_NO_SHARED_CIPHER"
            } else if text.contains("received fatal alert") {
                "ERR_SSL_TLSV1_ALERT"
            } else {
                "ERR_SSL_HANDSHAKE_FAILURE"
            };
            (code, text)
        }
    }
}

fn encode_addr(ev: &mut events::Encoder<'_>, addr: Option<SocketAddr>) {
    match addr {
        Some(a) => {
            ev.str8(a.ip().to_canonical().to_string().as_bytes());
            ev.u16(a.port());
            ev.u8(if a.is_ipv4() { 4 } else { 6 });
        }
        None => {
            ev.str8(b"");
            ev.u16(0);
            ev.u8(0);
        }
    }
}

async fn run_connection(stream: conn::BoxedStream, info: ConnInfo, shared: &Arc<Shared>) {
    let id = allocate_id(shared);
    let (handle, ctx) = conn::new_connection(id, shared.events.clone(), shared.limits.clone());
    lock(&shared.conns).insert(id, handle);
    shared.events.push(|ev| {
        ev.head(events::OPEN, id);
        encode_addr(ev, info.remote);
        encode_addr(ev, info.local);
        ev.str8(info.protocol.as_bytes());
        ev.str8(info.cipher.as_bytes());
        ev.str8(&info.alpn);
        ev.str8(info.servername.as_bytes());
        ev.str8(info.group.as_bytes());
        // 0: no client certificate asked for, 1: authorized, 2: not authorized.
        ev.u8(match info.authorized {
            None => 0,
            Some(true) => 1,
            Some(false) => 2,
        });
        ev.str8(info.authorization_error.as_bytes());
        ev.u8(u8::from(info.resumed));
        ev.u8(info.peer_chain.len().min(u8::MAX as usize) as u8);
        for cert in info.peer_chain.iter().take(u8::MAX as usize) {
            ev.bytes32(cert.as_ref());
        }
        for line in &info.keylog {
            ev.head(events::KEYLOG, id);
            ev.bytes32(line);
        }
    });
    let error = conn::serve(stream, ctx).await;
    lock(&shared.conns).remove(&id);
    shared.events.push(|ev| {
        ev.head(events::CLOSE, id);
        match &error {
            Some(e) => {
                ev.str8(io_code(e).as_bytes());
                ev.str16(e.to_string().as_bytes());
            }
            None => {
                ev.str8(b"");
                ev.str16(b"");
            }
        }
    });
}

fn io_code(e: &io::Error) -> &'static str {
    match e.kind() {
        io::ErrorKind::ConnectionReset => "ECONNRESET",
        io::ErrorKind::BrokenPipe => "EPIPE",
        io::ErrorKind::TimedOut => "ETIMEDOUT",
        io::ErrorKind::UnexpectedEof => "ECONNRESET",
        _ => "EIO",
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
