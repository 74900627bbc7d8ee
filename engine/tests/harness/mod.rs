//! Plays the JS layer's part for engine tests: decodes the event buffer, answers requests with
//! fixed responses, and applies Node's default clientError reply.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rhttps_engine::event_queue::{Batch, Waker};
use rhttps_engine::events::{self, FLAG_HAS_BODY, FLAG_KEEP_ALIVE};
use rhttps_engine::request::RequestError;
use rhttps_engine::{ListenOptions, Server};
use tokio::sync::{mpsc, Notify};

pub struct NotifyWaker(pub Arc<Notify>);

impl Waker for NotifyWaker {
    fn wake(&self) {
        self.0.notify_one();
    }
}

pub use rhttps_engine::events::Event;

/// A rustls client that trusts only `root`.
pub fn tls_client(root: &rustls::pki_types::CertificateDer<'static>) -> tokio_rustls::TlsConnector {
    tls_client_with(root, rustls::crypto::aws_lc_rs::default_provider())
}

/// The same, with `provider`'s algorithms (a test's choice of key-exchange groups).
pub fn tls_client_with(
    root: &rustls::pki_types::CertificateDer<'static>,
    provider: rustls::crypto::CryptoProvider,
) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.clone()).expect("a root certificate");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// Decodes a batch with the engine's own decoder; a batch it cannot read fails the test.
pub fn decode(batch: &Batch) -> Vec<Event> {
    events::decode_batch(&batch.bytes, &batch.lent)
        .expect("the engine wrote a batch its decoder cannot read")
}

/// A running engine server plus a task answering it like a minimal JS layer would:
/// each request gets `200` with its target (and echoed body) once the request is complete;
/// client errors get Node's default reply. Every event is also forwarded to the test.
pub struct TestServer {
    pub server: Server,
    pub port: u16,
    pub events: mpsc::UnboundedReceiver<Event>,
}

pub fn start(
    tls: Option<rhttps_engine::tls::TlsOptions>,
    configure: impl FnOnce(&Server),
) -> TestServer {
    let rt = rhttps_engine::runtime::get().expect("runtime");
    let notify = Arc::new(Notify::new());
    let server = Server::new(Box::new(NotifyWaker(notify.clone())));
    if let Some(opts) = tls {
        server.set_tls(&opts).expect("tls config");
    }
    configure(&server);
    let addr = server
        .listen(&ListenOptions {
            host: Some("127.0.0.1".parse().unwrap()),
            port: 0,
            backlog: 128,
            ipv6_only: false,
            reuse_port: false,
        })
        .expect("listen");
    let (tx, rx) = mpsc::unbounded_channel();
    let responder = server.clone();
    rt.spawn(async move {
        let mut bodies: std::collections::HashMap<u32, (String, Vec<u8>, bool)> =
            Default::default();
        loop {
            notify.notified().await;
            for ev in decode(&responder.take_events()) {
                match &ev {
                    Event::Request {
                        id,
                        upgrade_head: Some(head),
                        ..
                    } => {
                        // Upgrade: switch to raw mode and echo, starting with the early bytes.
                        responder.upgrade(*id, true);
                        let mut out = b"HTTP/1.1 101 Switching Protocols\r\n\r\n".to_vec();
                        out.extend_from_slice(head);
                        responder.write(*id, Bytes::from(out));
                    }
                    Event::Data { id, data } => {
                        responder.write(*id, Bytes::from(data.clone()));
                    }
                    Event::Request {
                        id, target, flags, ..
                    } => {
                        let keep_alive = flags & FLAG_KEEP_ALIVE != 0;
                        if flags & FLAG_HAS_BODY != 0 {
                            bodies.insert(*id, (target.clone(), Vec::new(), keep_alive));
                        } else {
                            respond(&responder, *id, target, b"", keep_alive);
                        }
                    }
                    Event::Body { id, data } => {
                        if let Some(entry) = bodies.get_mut(id) {
                            entry.1.extend_from_slice(data);
                        }
                    }
                    Event::End { id, .. } => {
                        if let Some((target, body, keep_alive)) = bodies.remove(id) {
                            respond(&responder, *id, &target, &body, keep_alive);
                        }
                    }
                    Event::ClientError { id, error, .. } => {
                        let status = match error {
                            RequestError::HeaderOverflow => "431 Request Header Fields Too Large",
                            RequestError::Timeout => "408 Request Timeout",
                            _ => "400 Bad Request",
                        };
                        responder.write(
                            *id,
                            Bytes::from(format!("HTTP/1.1 {status}\r\nConnection: close\r\n\r\n")),
                        );
                        responder.destroy(*id);
                    }
                    Event::PeerEnd { id } => responder.end(*id),
                    _ => {}
                }
                let _ = tx.send(ev);
            }
        }
    });
    TestServer {
        server,
        port: addr.port(),
        events: rx,
    }
}

/// Answers a request. Two targets shape the answer: `/slow/<ms>` answers after that long,
/// `/big/<n>[?anything]` with a body of `n` patterned bytes (`pattern`) instead of the echo.
fn respond(server: &Server, id: u32, target: &str, body: &[u8], keep_alive: bool) {
    if let Some(ms) = target.strip_prefix("/slow/").and_then(|ms| ms.parse().ok()) {
        let (server, target, body) = (server.clone(), target.to_owned(), body.to_vec());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            respond_now(&server, id, &target, &body, keep_alive);
        });
        return;
    }
    if let Some(n) = target
        .strip_prefix("/big/")
        .and_then(|n| n.split('?').next()?.parse().ok())
    {
        return respond_now(server, id, target, &pattern(n), keep_alive);
    }
    respond_now(server, id, target, body, keep_alive)
}

/// `n` bytes in which every offset can be checked: byte `i` is `i % 251`.
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

fn respond_now(server: &Server, id: u32, target: &str, body: &[u8], keep_alive: bool) {
    let mut out = format!(
        "HTTP/1.1 200 OK\r\nX-Target: {target}\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n",
        body.len(),
        if keep_alive { "keep-alive" } else { "close" }
    )
    .into_bytes();
    out.extend_from_slice(body);
    server.write(id, Bytes::from(out));
    server.response_done(id);
    if !keep_alive {
        server.end(id);
    }
}

impl TestServer {
    /// The next event matching `pred`, failing the test after `within`.
    pub async fn expect(&mut self, within: Duration, pred: impl Fn(&Event) -> bool) -> Event {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(ev)) if pred(&ev) => return ev,
                Ok(Some(_)) => continue,
                Ok(None) => panic!("event stream ended"),
                Err(_) => panic!("no matching event within {within:?}"),
            }
        }
    }
}
