//! A server: the listening socket, the accept loop, TLS handshakes, and the registry through
//! which the JS side reaches each live connection by id.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use bytes::Bytes;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_rustls::TlsAcceptor;

use crate::conn::{self, ConnHandle};
use crate::error::EngineError;
use crate::events::{self, EventQueue, Waker};
use crate::limits::Limits;
use crate::runtime;

/// Where to listen. `host: None` is Node's default: `::` dual-stack, or `0.0.0.0` where the
/// machine has no IPv6.
#[derive(Debug, Clone)]
pub struct ListenOptions {
    pub host: Option<IpAddr>,
    pub port: u16,
    pub backlog: i32,
    pub ipv6_only: bool,
}

struct Shared {
    events: Arc<EventQueue>,
    limits: Arc<Limits>,
    tls: RwLock<Option<Arc<rustls::ServerConfig>>>,
    conns: Mutex<HashMap<u32, ConnHandle>>,
    next_id: AtomicU32,
    stop: Mutex<Option<oneshot::Sender<()>>>,
}

/// One HTTP(S) server. Cheap to share; all methods may be called from any thread.
#[derive(Clone)]
pub struct Server {
    shared: Arc<Shared>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Server {
    /// `tls: None` serves plain HTTP. `waker` is told when a batch of events is ready.
    pub fn new(tls: Option<Arc<rustls::ServerConfig>>, waker: Box<dyn Waker>) -> Server {
        Server {
            shared: Arc::new(Shared {
                events: Arc::new(EventQueue::new(waker)),
                limits: Arc::new(Limits::default()),
                tls: RwLock::new(tls),
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

    /// Replaces the TLS configuration for handshakes that start from now on.
    pub fn set_tls(&self, config: Arc<rustls::ServerConfig>) {
        let mut guard = self
            .shared
            .tls
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *guard = Some(config);
    }

    /// Binds and starts accepting. Returns the bound address (the real port for port 0).
    pub fn listen(&self, opts: &ListenOptions) -> Result<SocketAddr, EngineError> {
        let mut stop = lock(&self.shared.stop);
        if stop.is_some() {
            return Err(EngineError::AlreadyListening);
        }
        let rt = runtime::get()?;
        let std_listener = bind(opts).map_err(|source| EngineError::Io {
            syscall: "listen",
            source,
        })?;
        let addr = std_listener
            .local_addr()
            .map_err(|source| EngineError::Io {
                syscall: "listen",
                source,
            })?;
        let listener = {
            let _guard = rt.enter();
            TcpListener::from_std(std_listener).map_err(|source| EngineError::Io {
                syscall: "listen",
                source,
            })?
        };
        let (tx, rx) = oneshot::channel();
        *stop = Some(tx);
        rt.spawn(accept_loop(listener, self.shared.clone(), rx));
        Ok(addr)
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

fn bind(opts: &ListenOptions) -> io::Result<std::net::TcpListener> {
    match opts.host {
        Some(ip) => bind_addr(SocketAddr::new(ip, opts.port), opts),
        None => bind_addr(
            SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), opts.port),
            opts,
        )
        .or_else(|e| match e.raw_os_error() {
            // No IPv6 on this machine: Node falls back to IPv4 the same way.
            Some(97) => bind_addr(
                SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), opts.port),
                opts,
            ),
            _ => Err(e),
        }),
    }
}

fn bind_addr(addr: SocketAddr, opts: &ListenOptions) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(opts.ipv6_only)?;
    }
    // libuv sets SO_REUSEADDR on listening sockets, so restarts do not wait out TIME_WAIT.
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(opts.backlog)?;
    Ok(socket.into())
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stop: oneshot::Receiver<()>) {
    loop {
        tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    // Node's http server sets noDelay by default.
                    let _ = tcp.set_nodelay(true);
                    tokio::spawn(handle_connection(tcp, peer, shared.clone()));
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
}

async fn handle_connection(tcp: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let mut info = ConnInfo {
        remote: Some(peer),
        local: tcp.local_addr().ok(),
        ..ConnInfo::default()
    };
    let tls = shared
        .tls
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone();
    match tls {
        None => run_connection(tcp, info, &shared).await,
        Some(config) => {
            let handshake = TlsAcceptor::from(config).accept(tcp);
            let result = match shared.limits.handshake_timeout() {
                Some(limit) => tokio::time::timeout(limit, handshake)
                    .await
                    .unwrap_or_else(|_| {
                        Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "TLS handshake timeout",
                        ))
                    }),
                None => handshake.await,
            };
            match result {
                Ok(stream) => {
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
                    run_connection(stream, info, &shared).await
                }
                Err(e) => {
                    let (code, message) = tls_error(&e);
                    shared.events.push(|ev| {
                        ev.head(events::TLS_ERROR, 0);
                        ev.str8(code.as_bytes());
                        ev.str16(message.as_bytes());
                        encode_addr(ev, info.remote);
                    });
                }
            }
        }
    }
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
            let code = if text.contains("InvalidContentType") || text.contains("corrupt message") {
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

async fn run_connection<S>(stream: S, info: ConnInfo, shared: &Arc<Shared>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin,
{
    let id = allocate_id(shared);
    let (handle, ctx, rx) = conn::new_connection(id, shared.events.clone(), shared.limits.clone());
    lock(&shared.conns).insert(id, handle);
    shared.events.push(|ev| {
        ev.head(events::OPEN, id);
        encode_addr(ev, info.remote);
        encode_addr(ev, info.local);
        ev.str8(info.protocol.as_bytes());
        ev.str8(info.cipher.as_bytes());
        ev.str8(&info.alpn);
        ev.str8(info.servername.as_bytes());
    });
    let error = conn::serve(stream, ctx, rx).await;
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
