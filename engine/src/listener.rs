//! The listening sockets the engine accepts on: TCP (Node's default host rules) and unix
//! domain sockets (`listen(path)`).

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
#[cfg(unix)]
use std::path::Path;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;

/// The errno of a socket call for an address family the machine lacks (no IPv6).
#[cfg(unix)]
const EAFNOSUPPORT: i32 = libc::EAFNOSUPPORT;
/// WSAEAFNOSUPPORT: Windows reports socket errors with its own numbers.
#[cfg(windows)]
const EAFNOSUPPORT: i32 = 10047;

/// Where to listen on TCP. `host: None` is Node's default: `::` dual-stack, or `0.0.0.0`
/// where the machine has no IPv6.
#[derive(Debug, Clone)]
pub struct ListenOptions {
    pub host: Option<IpAddr>,
    pub port: u16,
    pub backlog: i32,
    pub ipv6_only: bool,
    /// SO_REUSEPORT: several processes (cluster workers) bind the same port and the kernel
    /// spreads new connections among them.
    pub reuse_port: bool,
}

/// One accepted connection; addresses are `None` for unix sockets.
pub struct Accepted<S> {
    pub stream: S,
    pub remote: Option<SocketAddr>,
    pub local: Option<SocketAddr>,
}

pub trait Listener: Send + Sync + 'static {
    type Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static;
    fn accept(&self) -> impl Future<Output = io::Result<Accepted<Self::Stream>>> + Send;
}

impl Listener for TcpListener {
    type Stream = tokio::net::TcpStream;
    async fn accept(&self) -> io::Result<Accepted<Self::Stream>> {
        let (stream, peer) = TcpListener::accept(self).await?;
        // Node's http server sets noDelay by default.
        let _ = stream.set_nodelay(true);
        let local = stream.local_addr().ok();
        Ok(Accepted {
            stream,
            remote: Some(peer),
            local,
        })
    }
}

#[cfg(unix)]
impl Listener for tokio::net::UnixListener {
    type Stream = tokio::net::UnixStream;
    async fn accept(&self) -> io::Result<Accepted<Self::Stream>> {
        let (stream, _) = tokio::net::UnixListener::accept(self).await?;
        Ok(Accepted {
            stream,
            remote: None,
            local: None,
        })
    }
}

/// An accept error that says the process (or system) is out of descriptors or memory: nothing
/// is wrong with the listener, and accepting works again once some are freed.
pub fn is_resource_exhaustion(e: &io::Error) -> bool {
    if e.kind() == io::ErrorKind::OutOfMemory {
        return true;
    }
    #[cfg(unix)]
    let exhausted = [libc::EMFILE, libc::ENFILE, libc::ENOBUFS, libc::ENOMEM];
    // WSAEMFILE, WSAENOBUFS.
    #[cfg(windows)]
    let exhausted = [10024, 10055];
    e.raw_os_error()
        .is_some_and(|errno| exhausted.contains(&errno))
}

pub fn bind_tcp(opts: &ListenOptions) -> io::Result<std::net::TcpListener> {
    let any_v6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), opts.port);
    let any_v4 = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), opts.port);
    match opts.host {
        Some(ip) => bind_addr(SocketAddr::new(ip, opts.port), opts),
        None => bind_addr(any_v6, opts).or_else(|e| match e.raw_os_error() {
            // No IPv6 on this machine; Node falls back to IPv4 the same way.
            Some(EAFNOSUPPORT) => bind_addr(any_v4, opts),
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
    if opts.reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(opts.backlog)?;
    Ok(socket.into())
}

/// Binds a unix domain socket. As in Node, an existing file at `path` is an EADDRINUSE.
#[cfg(unix)]
pub fn bind_unix(path: &Path, backlog: i32) -> io::Result<std::os::unix::net::UnixListener> {
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    socket.set_nonblocking(true)?;
    socket.bind(&socket2::SockAddr::unix(path)?)?;
    socket.listen(backlog)?;
    Ok(socket.into())
}
