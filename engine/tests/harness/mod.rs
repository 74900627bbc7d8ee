//! Plays the JS layer's part for engine tests: decodes the event buffer, answers requests with
//! fixed responses, and applies Node's default clientError reply.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rhttps_engine::events::{self, Waker};
use rhttps_engine::{ListenOptions, Server};
use tokio::sync::{mpsc, Notify};

pub struct NotifyWaker(pub Arc<Notify>);

impl Waker for NotifyWaker {
    fn wake(&self) {
        self.0.notify_one();
    }
}

#[derive(Debug, Clone)]
pub enum Event {
    Open {
        id: u32,
        protocol: String,
        group: String,
    },
    Request {
        id: u32,
        method: String,
        target: String,
        headers: Vec<(String, String)>,
        has_body: bool,
        keep_alive: bool,
        upgrade_head: Option<Vec<u8>>,
    },
    Data {
        id: u32,
        data: Vec<u8>,
    },
    Body {
        id: u32,
        data: Vec<u8>,
    },
    End {
        id: u32,
        trailers: Vec<(String, String)>,
    },
    PeerEnd {
        id: u32,
    },
    Close {
        id: u32,
        code: String,
    },
    Drain {
        id: u32,
    },
    ClientError {
        id: u32,
        code: String,
    },
    TlsError {
        code: String,
    },
    AcceptError,
    Hello {
        hello: u32,
        servername: String,
        alpn: Vec<String>,
    },
}

struct Cursor<'a> {
    b: &'a [u8],
    o: usize,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> &[u8] {
        let s = &self.b[self.o..self.o + n];
        self.o += n;
        s
    }
    fn u8(&mut self) -> u8 {
        self.take(1)[0]
    }
    fn u16(&mut self) -> usize {
        let s = self.take(2);
        u16::from_le_bytes([s[0], s[1]]) as usize
    }
    fn u32(&mut self) -> u32 {
        let s = self.take(4);
        u32::from_le_bytes([s[0], s[1], s[2], s[3]])
    }
    fn str8(&mut self) -> String {
        let n = self.u8() as usize;
        String::from_utf8_lossy(self.take(n)).into_owned()
    }
    fn str16(&mut self) -> String {
        let n = self.u16();
        String::from_utf8_lossy(self.take(n)).into_owned()
    }
    fn bytes32(&mut self) -> Vec<u8> {
        let n = self.u32() as usize;
        self.take(n).to_vec()
    }
    fn str32(&mut self) -> String {
        String::from_utf8_lossy(&self.bytes32()).into_owned()
    }
    fn addr(&mut self) {
        self.str8();
        self.u16();
        self.u8();
    }
    fn pairs(&mut self) -> Vec<(String, String)> {
        let n = self.u16();
        (0..n).map(|_| (self.str16(), self.str32())).collect()
    }
}

pub fn decode(buf: &[u8]) -> Vec<Event> {
    let mut c = Cursor { b: buf, o: 0 };
    let mut out = Vec::new();
    while c.o < buf.len() {
        let kind = c.u8();
        let id = c.u32();
        out.push(match kind {
            events::OPEN => {
                c.addr();
                c.addr();
                let protocol = c.str8();
                c.str8();
                c.str8();
                c.str8();
                let group = c.str8();
                c.u8();
                c.str8();
                c.u8();
                for _ in 0..c.u8() {
                    c.bytes32();
                }
                Event::Open {
                    id,
                    protocol,
                    group,
                }
            }
            events::REQUEST => {
                let flags = c.u8();
                c.u8();
                let method = c.str8();
                let target = c.str32();
                let headers = c.pairs();
                let upgrade_head = (flags & events::FLAG_UPGRADE != 0).then(|| c.bytes32());
                Event::Request {
                    upgrade_head,
                    id,
                    method,
                    target,
                    headers,
                    has_body: flags & events::FLAG_HAS_BODY != 0,
                    keep_alive: flags & events::FLAG_KEEP_ALIVE != 0,
                }
            }
            events::BODY => Event::Body {
                id,
                data: c.bytes32(),
            },
            events::DATA => Event::Data {
                id,
                data: c.bytes32(),
            },
            events::END => Event::End {
                id,
                trailers: c.pairs(),
            },
            events::PEER_END => Event::PeerEnd { id },
            events::CLOSE => {
                let code = c.str8();
                c.str16();
                Event::Close { id, code }
            }
            events::DRAIN => Event::Drain { id },
            events::CLIENT_ERROR => {
                let code = c.str8();
                c.str16();
                c.bytes32();
                Event::ClientError { id, code }
            }
            events::TLS_ERROR => {
                let code = c.str8();
                c.str16();
                c.addr();
                Event::TlsError { code }
            }
            events::ACCEPT_ERROR => {
                c.take(4);
                c.str16();
                Event::AcceptError
            }
            events::HELLO => {
                let hello = c.u32();
                let servername = c.str8();
                c.u8();
                let alpn = (0..c.u8()).map(|_| c.str8()).collect();
                c.addr();
                Event::Hello {
                    hello,
                    servername,
                    alpn,
                }
            }
            other => panic!("unknown event kind {other}"),
        });
    }
    out
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
                        id,
                        target,
                        has_body,
                        keep_alive,
                        ..
                    } => {
                        if *has_body {
                            bodies.insert(*id, (target.clone(), Vec::new(), *keep_alive));
                        } else {
                            respond(&responder, *id, target, b"", *keep_alive);
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
                    Event::ClientError { id, code } => {
                        let status = match code.as_str() {
                            "HPE_HEADER_OVERFLOW" => "431 Request Header Fields Too Large",
                            "ERR_HTTP_REQUEST_TIMEOUT" => "408 Request Timeout",
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

fn respond(server: &Server, id: u32, target: &str, body: &[u8], keep_alive: bool) {
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
