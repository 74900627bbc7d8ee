//! TLS: handshakes with a real rustls client, the chain completed from `ca`, close_notify on
//! close, the handshake timeout, and clear errors for bad key material.

mod harness;

use std::sync::Arc;
use std::time::Duration;

use harness::{start, Event};
use rhttps_engine::tls::{server_config, TlsOptions};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Pki {
    root: rcgen::Certificate,
    leaf_key: String,
    leaf_cert: String,
    intermediate: String,
}

/// root -> intermediate -> leaf(localhost), as a CA would issue them.
fn pki() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let root_key = KeyPair::generate().unwrap();
    let mut root_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    root_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    root_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Test Root");
    let root = root_params.clone().self_signed(&root_key).unwrap();
    let root_issuer = Issuer::new(root_params, root_key);

    let int_key = KeyPair::generate().unwrap();
    let mut int_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    int_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    int_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Test Intermediate");
    let intermediate = int_params
        .clone()
        .signed_by(&int_key, &root_issuer)
        .unwrap();
    let int_issuer = Issuer::new(int_params, int_key);

    let leaf_key = KeyPair::generate().unwrap();
    let leaf_params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &int_issuer).unwrap();
    Pki {
        root,
        leaf_key: leaf_key.serialize_pem(),
        leaf_cert: leaf.pem(),
        intermediate: intermediate.pem(),
    }
}

fn client(root: &CertificateDer<'static>) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

#[tokio::test]
async fn client_trusting_only_root_connects_when_intermediate_is_in_ca() {
    let pki = pki();
    let config = server_config(&TlsOptions {
        key: vec![pki.leaf_key.clone().into_bytes()],
        cert: vec![pki.leaf_cert.clone().into_bytes()],
        ca: vec![pki.intermediate.clone().into_bytes()],
    })
    .expect("config");
    let mut srv = start(Some(config), |_| {});
    let tcp = TcpStream::connect(("127.0.0.1", srv.port)).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = client(pki.root.der())
        .connect(name, tcp)
        .await
        .expect("handshake with root-only trust");
    tls.write_all(b"GET /secure HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    // read_to_end succeeds only on a clean close_notify; a bare FIN is an error in rustls.
    tls.read_to_end(&mut out)
        .await
        .expect("clean TLS close (close_notify)");
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains("X-Target: /secure"), "{text}");
    let open = srv
        .expect(Duration::from_secs(2), |e| matches!(e, Event::Open { .. }))
        .await;
    let Event::Open { protocol, .. } = open else {
        unreachable!()
    };
    assert_eq!(protocol, "TLSv1.3");
}

#[tokio::test]
async fn handshake_timeout_reports_tls_client_error() {
    let pki = pki();
    let config = server_config(&TlsOptions {
        key: vec![pki.leaf_key.into_bytes()],
        cert: vec![pki.leaf_cert.into_bytes()],
        ca: vec![],
    })
    .unwrap();
    let mut srv = start(Some(config), |s| s.limits().set_handshake_timeout(200));
    let mut tcp = TcpStream::connect(("127.0.0.1", srv.port)).await.unwrap();
    let ev = srv
        .expect(Duration::from_secs(3), |e| {
            matches!(e, Event::TlsError { .. })
        })
        .await;
    let Event::TlsError { code } = ev else {
        unreachable!()
    };
    assert_eq!(code, "ERR_TLS_HANDSHAKE_TIMEOUT");
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(2), tcp.read(&mut buf))
        .await
        .expect("closed");
    assert!(matches!(n, Ok(0) | Err(_)));
}

#[test]
fn bad_key_material_has_clear_codes() {
    let pki = pki();
    let other = rcgen::KeyPair::generate().unwrap().serialize_pem();
    let opts = |key: &str, cert: &str| TlsOptions {
        key: vec![key.as_bytes().to_vec()],
        cert: vec![cert.as_bytes().to_vec()],
        ca: vec![],
    };
    let code = |o: TlsOptions| server_config(&o).err().map(|e| e.code());
    assert_eq!(
        code(opts(&other, &pki.leaf_cert)),
        Some("ERR_OSSL_X509_KEY_VALUES_MISMATCH")
    );
    assert_eq!(
        code(opts("not a key", &pki.leaf_cert)),
        Some("ERR_OSSL_PEM_NO_START_LINE")
    );
    assert_eq!(
        code(opts(&pki.leaf_key, "not a cert")),
        Some("ERR_OSSL_PEM_NO_START_LINE")
    );
    let encrypted =
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n";
    assert_eq!(
        code(opts(encrypted, &pki.leaf_cert)),
        Some("ERR_OSSL_BAD_DECRYPT")
    );
    assert_eq!(code(TlsOptions::default()), Some("ERR_TLS_MISSING_CERT"));
}
