//! Handshakes that wait for the application (Node's `SNICallback` and `ALPNCallback`): the
//! ClientHello is read first, the JS side is asked which identity and protocol to use, and the
//! handshake goes on with a configuration made for that answer. Servers without such
//! callbacks never pass through here.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use tokio::sync::oneshot;

use crate::tls::Identity;

/// Which ClientHellos the application wants to see.
#[derive(Debug, Default, Clone, Copy)]
pub struct HelloHooks {
    /// Hellos naming a server (SNI).
    pub sni: bool,
    /// Hellos offering protocols (ALPN).
    pub alpn: bool,
}

impl HelloHooks {
    pub fn any(self) -> bool {
        self.sni || self.alpn
    }

    /// Whether this hello is one the application asked to see.
    pub fn wants(self, servername: Option<&str>, offers_alpn: bool) -> bool {
        (self.sni && servername.is_some()) || (self.alpn && offers_alpn)
    }
}

/// The protocol the application picked for a hello.
#[derive(Debug, Clone)]
pub enum AlpnChoice {
    /// As the server's configuration says (no ALPN callback).
    Configured,
    /// This protocol, one the client offered.
    Select(Vec<u8>),
    /// None of the client's: the handshake ends with a `no_application_protocol` alert.
    Reject,
}

/// The application's answer to a hello.
pub enum HelloAnswer {
    Proceed {
        identity: Option<Arc<Identity>>,
        alpn: AlpnChoice,
    },
    /// Drop the connection without a handshake error report: the application has already
    /// reported why (its callback failed).
    Abort,
}

/// Marks an I/O error as "aborted by the application" so no `tlsClientError` is reported.
#[derive(Debug)]
pub struct Aborted;

impl std::fmt::Display for Aborted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "handshake aborted by the application")
    }
}

impl std::error::Error for Aborted {}

pub fn is_aborted(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<Aborted>())
}

/// Hellos waiting for their answer, by id.
#[derive(Default)]
pub struct Pending {
    waiting: Mutex<HashMap<u32, oneshot::Sender<HelloAnswer>>>,
    next_id: AtomicU32,
}

impl Pending {
    /// Registers a hello; the ticket removes it again if the handshake is dropped (timeout,
    /// client gone) before an answer comes.
    pub fn register(self: &Arc<Self>) -> (Ticket, oneshot::Receiver<HelloAnswer>) {
        let (tx, rx) = oneshot::channel();
        let mut waiting = self.lock();
        let id = loop {
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            if id != 0 && !waiting.contains_key(&id) {
                break id;
            }
        };
        waiting.insert(id, tx);
        (
            Ticket {
                pending: self.clone(),
                id,
            },
            rx,
        )
    }

    /// Delivers an answer; answers for hellos that are gone are dropped.
    pub fn answer(&self, id: u32, answer: HelloAnswer) {
        if let Some(tx) = self.lock().remove(&id) {
            let _ = tx.send(answer);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u32, oneshot::Sender<HelloAnswer>>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub struct Ticket {
    pending: Arc<Pending>,
    pub id: u32,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.pending.lock().remove(&self.id);
    }
}

/// The configuration for one handshake: the server's own, changed as the answer says.
pub fn config_for(
    base: &Arc<ServerConfig>,
    identity: Option<Arc<Identity>>,
    alpn: AlpnChoice,
    offered: &[Vec<u8>],
) -> Arc<ServerConfig> {
    if identity.is_none() && matches!(alpn, AlpnChoice::Configured) {
        return base.clone();
    }
    let mut config = ServerConfig::clone(base);
    if let Some(identity) = identity {
        config.cert_resolver = Arc::new(Chosen(identity));
    }
    match alpn {
        AlpnChoice::Configured => {}
        AlpnChoice::Select(protocol) => config.alpn_protocols = vec![protocol],
        AlpnChoice::Reject => {
            // rustls refuses a client whose protocols share none with the server's list, so
            // the list holds one name the client did not offer.
            let mut name = vec![0u8];
            while offered.contains(&name) {
                name.push(0);
            }
            config.alpn_protocols = vec![name];
        }
    }
    Arc::new(config)
}

/// The ClientHello facts the application is asked about.
pub struct HelloInfo {
    pub servername: Option<String>,
    pub alpn: Vec<Vec<u8>>,
    pub offers_alpn: bool,
}

impl HelloInfo {
    pub fn of(hello: &ClientHello<'_>) -> HelloInfo {
        let alpn: Option<Vec<Vec<u8>>> =
            hello.alpn().map(|list| list.map(<[u8]>::to_vec).collect());
        HelloInfo {
            servername: hello.server_name().map(str::to_owned),
            offers_alpn: alpn.is_some(),
            alpn: alpn.unwrap_or_default(),
        }
    }
}

#[derive(Debug)]
struct Chosen(Arc<Identity>);

impl ResolvesServerCert for Chosen {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.choose(&hello)
    }
}
