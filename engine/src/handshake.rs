//! The TLS handshake of one accepted connection: straight through rustls, or held at the
//! ClientHello while the application chooses (`hello`). It ends in a TLS stream and what was
//! negotiated, or in a typed failure reported as a TLS_ERROR event.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::events::Negotiated;
use crate::hello::{self, HelloAnswer, HelloInfo};
use crate::keylog;
use crate::server::Shared;
use crate::tls::ServerTls;
use crate::tls_stream::{Accepting, TlsStream};
use crate::wire::wire_enum;

wire_enum! {
    /// Why a handshake failed. The napi glue names each as Node's `tlsClientError` does; the
    /// discriminants are the wire values of TLS_ERROR events (`events`).
    pub enum HandshakeFailure {
        /// `handshakeTimeout` ran out.
        Timeout = 1,
        /// The client went away before the handshake finished.
        Disconnected,
        /// No protocol of the client's is one the server speaks (ALPN).
        NoApplicationProtocol,
        /// The bytes are not TLS (a plain HTTP request to an HTTPS port, say).
        NotTls,
        /// No cipher suite, group or signature scheme in common.
        NoSharedCipher,
        /// The client ended the handshake with an alert.
        AlertReceived,
        Other,
        /// The server has no certificate for this client (made without `key`/`cert`, and no
        /// SNI context matched).
        NoCertificate,
        /// The client offers only protocol versions the server does not enable (TLS 1.1 and
        /// older, or 1.2 when `minVersion` is 1.3).
        UnsupportedProtocol,
    }
}

impl HandshakeFailure {
    fn of(e: &io::Error, has_certificate: bool) -> HandshakeFailure {
        match e.kind() {
            io::ErrorKind::TimedOut => return HandshakeFailure::Timeout,
            io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe => return HandshakeFailure::Disconnected,
            _ => {}
        }
        match e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            Some(rustls::Error::NoApplicationProtocol) => HandshakeFailure::NoApplicationProtocol,
            Some(rustls::Error::InvalidMessage(_)) => HandshakeFailure::NotTls,
            Some(rustls::Error::PeerIncompatible(why)) => incompatibility(why),
            Some(rustls::Error::AlertReceived(_)) => HandshakeFailure::AlertReceived,
            // rustls reports an unresolved certificate as a general error.
            Some(rustls::Error::General(_)) if !has_certificate => HandshakeFailure::NoCertificate,
            _ => HandshakeFailure::Other,
        }
    }
}

fn incompatibility(why: &rustls::PeerIncompatible) -> HandshakeFailure {
    use rustls::PeerIncompatible as P;
    match why {
        // rustls looks for signature_algorithms before it compares versions; the extension was
        // born with TLS 1.2, so a hello without it is an older client's.
        P::SignatureAlgorithmsExtensionRequired
        | P::Tls12NotOffered
        | P::Tls12NotOfferedOrEnabled
        | P::SupportedVersionsExtensionRequired
        | P::ServerTlsVersionIsDisabledByOurConfig => HandshakeFailure::UnsupportedProtocol,
        _ => HandshakeFailure::NoSharedCipher,
    }
}

/// A finished handshake: the stream, what it negotiated, and its key-log lines (collected only
/// while the application listens for `'keylog'`).
pub(crate) struct Secured<S> {
    pub stream: TlsStream<S>,
    pub negotiated: Negotiated,
    pub keylog: Vec<Vec<u8>>,
}

/// Runs the handshake under `handshakeTimeout`. A failure is reported as TLS_ERROR (unless the
/// application dropped the connection itself) and gives `None`.
pub(crate) async fn secure<S>(
    stream: S,
    tls: &ServerTls,
    shared: &Arc<Shared>,
    remote: Option<SocketAddr>,
) -> Option<Secured<S>>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let hooks = shared.hello_hooks();
    let config = tls.config.clone();
    // Boxed once here: inline, each future wrapping it below (and the caller's `select!`)
    // stored this state again, and a connection's opening phase was 36 KiB.
    let handshake = Box::pin(async move {
        let mut start = Accepting::new(stream);
        let hello = start.client_hello().await?;
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
        start.handshake(config, hello.servername).await
    });
    let limit = shared.limits.handshake_timeout();
    let bounded = crate::tickets::resumption_scope(async move {
        match limit {
            Some(limit) => tokio::time::timeout(limit, handshake)
                .await
                .unwrap_or_else(|_| Err(io::Error::from(io::ErrorKind::TimedOut))),
            None => handshake.await,
        }
    });
    let (result, keylog) = if shared.keylog.load(Ordering::Relaxed) {
        keylog::collect(bounded).await
    } else {
        (bounded.await, Vec::new())
    };
    let stream = match result {
        Ok(stream) => stream,
        Err(e) if hello::is_aborted(&e) => return None,
        Err(e) => {
            let failure = HandshakeFailure::of(&e, tls.has_certificate);
            let detail = e.to_string();
            shared
                .events
                .push(|ev| ev.tls_error(failure, &detail, remote));
            return None;
        }
    };
    let negotiated = negotiated(&stream, tls);
    Some(Secured {
        stream,
        negotiated,
        keylog,
    })
}

fn negotiated<S>(stream: &TlsStream<S>, tls: &ServerTls) -> Negotiated {
    let session = stream.session();
    let mut out = Negotiated {
        version: session
            .protocol_version()
            .map(u16::from)
            .unwrap_or_default(),
        cipher: session
            .negotiated_cipher_suite()
            .map(|s| u16::from(s.suite()))
            .unwrap_or_default(),
        alpn: session
            .alpn_protocol()
            .map(<[u8]>::to_vec)
            .unwrap_or_default(),
        servername: stream.servername().unwrap_or("").to_string(),
        group: session
            .negotiated_key_exchange_group()
            .map(|g| u16::from(g.name()))
            .unwrap_or_default(),
        resumed: session.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
        ..Negotiated::default()
    };
    if let Some(auth) = &tls.client_auth {
        let chain = session.peer_certificates().unwrap_or_default();
        out.client_auth = Some(auth.verdict(chain));
        out.peer_chain = chain.iter().map(|c| c.as_ref().to_vec()).collect();
    }
    out
}

/// Sends a HELLO event and waits for the answer (bounded by the handshake timeout around it).
async fn ask_application(
    shared: &Arc<Shared>,
    hello: &HelloInfo,
    remote: Option<SocketAddr>,
) -> io::Result<HelloAnswer> {
    let (ticket, answer) = shared.hellos.register();
    let servername = hello.servername.as_deref().unwrap_or("");
    shared.events.push(|ev| {
        ev.hello(
            ticket.id,
            servername,
            hello.offers_alpn,
            &hello.alpn,
            remote,
        )
    });
    answer
        .await
        .map_err(|_| io::Error::other("the server was closed during the handshake"))
}
