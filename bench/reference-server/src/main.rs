//! The bench's pure-Rust reference: the handlers of `bench/server.js` served by tokio, hyper
//! and rustls (aws-lc-rs) with nothing else, so the bench can say how far rhttps is from a
//! design with no JavaScript at all. Not shipped.
//!
//! `rhttps-reference-server <hello|bytes|echo> <cert-dir> <ecdsa|rsa> <h1|h2>` prints
//! `ready <port>` once listening on 127.0.0.1.

use std::convert::Infallible;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

type Body = BoxBody<Bytes, hyper::Error>;

#[derive(Clone, Copy)]
enum Handler {
    Hello,
    Bytes,
    Echo,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [handler, cert_dir, key_type, protocol] = args.as_slice() else {
        return Err(
            "usage: rhttps-reference-server <hello|bytes|echo> <cert-dir> <ecdsa|rsa> <h1|h2>"
                .into(),
        );
    };
    let handler = match handler.as_str() {
        "hello" => Handler::Hello,
        "bytes" => Handler::Bytes,
        "echo" => Handler::Echo,
        other => return Err(format!("no reference handler for {other}").into()),
    };
    let dir = Path::new(cert_dir);
    let certs = CertificateDer::pem_file_iter(dir.join(format!("{key_type}.crt")))?
        .collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_file(dir.join(format!("{key_type}.key")))?;
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = match protocol.as_str() {
        "h2" => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        _ => vec![b"http/1.1".to_vec()],
    };
    let acceptor = TlsAcceptor::from(Arc::new(config));
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(serve(acceptor, handler))
}

async fn serve(acceptor: TlsAcceptor, handler: Handler) -> Result<(), Box<dyn std::error::Error>> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    println!("ready {}", listener.local_addr()?.port());
    let mebibyte = Bytes::from(vec![b'x'; 1024 * 1024]);
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let mebibyte = mebibyte.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let service =
                hyper::service::service_fn(move |req| respond(handler, req, mebibyte.clone()));
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}

async fn respond(
    handler: Handler,
    req: Request<Incoming>,
    mebibyte: Bytes,
) -> Result<Response<Body>, Infallible> {
    let full = |b: Bytes| Full::new(b).map_err(|never| match never {}).boxed();
    let response = match handler {
        Handler::Hello => Response::builder()
            .header("content-type", "text/plain")
            .body(full(Bytes::from_static(b"Hello, Secure World!"))),
        Handler::Bytes => Response::builder()
            .header("content-type", "application/octet-stream")
            .header("content-length", mebibyte.len())
            .body(full(mebibyte)),
        Handler::Echo => Response::builder()
            .header("content-type", "application/octet-stream")
            .body(req.into_body().boxed()),
    };
    Ok(response.unwrap_or_else(|_| Response::new(full(Bytes::new()))))
}
