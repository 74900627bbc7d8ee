//! The engine alone, for instruction counts (`bench/callgrind.js`): `serve` answers a fixed
//! number of requests (or handshakes) and exits; `load` is the client that sends them.
//!
//! serve --requests N --port-file P --cert-file C    (writes its port and certificate)
//! load  --port X --cert-file C --requests N [--handshakes]
//!
//! With `--handshakes`, each request uses a new TLS connection (full handshakes: the client
//! keeps no sessions); otherwise all go over one keep-alive connection.

#[path = "../tests/harness/mod.rs"]
mod harness;

use std::sync::Arc;
use std::time::Duration;

use harness::Event;
use rhttps_engine::tls::TlsOptions;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn number(args: &[String], name: &str) -> usize {
    arg(args, name)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} N is required"))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    match args.first().map(String::as_str) {
        Some("serve") => runtime.block_on(serve(&args)),
        Some("load") => runtime.block_on(load(&args)),
        _ => {
            eprintln!("usage: engine_load serve|load ... (see the file's header)");
            std::process::exit(2);
        }
    }
}

async fn serve(args: &[String]) {
    let requests = number(args, "--requests");
    let pair = rhttps_engine::selfsigned::self_signed(&[]).expect("certificate");
    let mut srv = harness::start(
        Some(TlsOptions {
            key: vec![pair.key_pem.into_bytes()],
            cert: vec![pair.cert_pem.clone().into_bytes()],
            ..Default::default()
        }),
        |_| {},
    );
    let cert_file = arg(args, "--cert-file").expect("--cert-file");
    std::fs::write(&cert_file, pair.cert_pem).expect("write certificate");
    let port_file = arg(args, "--port-file").expect("--port-file");
    std::fs::write(&port_file, srv.port.to_string()).expect("write port");
    for _ in 0..requests {
        srv.expect(Duration::from_secs(120), |e| {
            matches!(e, Event::Request { .. })
        })
        .await;
    }
    // Let the last response reach the client before the process ends.
    tokio::time::sleep(Duration::from_millis(200)).await;
    std::process::exit(0);
}

async fn load(args: &[String]) {
    let port: u16 = number(args, "--port") as u16;
    let requests = number(args, "--requests");
    let pem = std::fs::read(arg(args, "--cert-file").expect("--cert-file")).expect("cert");
    let mut roots = rustls::RootCertStore::empty();
    for der in rhttps_engine::tls::parse_certs(&pem, "certificate").expect("cert") {
        roots.add(der).expect("root");
    }
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = ServerName::try_from("localhost").expect("name");
    let connect = || async {
        let tcp = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        tcp.set_nodelay(true).expect("nodelay");
        connector
            .connect(name.clone(), tcp)
            .await
            .expect("handshake")
    };
    let request = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let mut buf = vec![0u8; 4096];
    if args.iter().any(|a| a == "--handshakes") {
        for _ in 0..requests {
            let mut tls = connect().await;
            tls.write_all(request).await.expect("write");
            read_response(&mut tls, &mut buf).await;
        }
    } else {
        let mut tls = connect().await;
        for _ in 0..requests {
            tls.write_all(request).await.expect("write");
            read_response(&mut tls, &mut buf).await;
        }
    }
}

/// Reads one response of the harness (headers with Content-Length: 0).
async fn read_response<S: tokio::io::AsyncRead + Unpin>(stream: &mut S, buf: &mut [u8]) {
    let mut seen = Vec::new();
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(buf).await.expect("read");
        assert!(n > 0, "server closed early");
        seen.extend_from_slice(&buf[..n]);
    }
}
