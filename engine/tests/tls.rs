//! TLS: handshakes with a real rustls client, the chain completed from `ca`, close_notify on
//! close, the handshake timeout, and clear errors for bad key material.

mod harness;

use std::sync::Arc;
use std::time::Duration;

use harness::{start, tls_client as client, tls_client_with as client_with, Event};
use rhttps_engine::handshake::HandshakeFailure;
use rhttps_engine::tls::{server_config, TlsOptions};
use rhttps_engine::EngineError;
use rustls::crypto::aws_lc_rs::kx_group;
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

#[tokio::test]
async fn client_trusting_only_root_connects_when_intermediate_is_in_ca() {
    let pki = pki();
    let opts = TlsOptions {
        key: vec![pki.leaf_key.clone().into_bytes()],
        cert: vec![pki.leaf_cert.clone().into_bytes()],
        ca: vec![pki.intermediate.clone().into_bytes()],
        ..Default::default()
    };
    let mut srv = start(Some(opts), |_| {});
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
    let Event::Open { tls, .. } = open else {
        unreachable!()
    };
    assert_eq!(tls.version, u16::from(rustls::ProtocolVersion::TLSv1_3));
}

#[tokio::test]
async fn handshake_timeout_reports_tls_client_error() {
    let pki = pki();
    let opts = TlsOptions {
        key: vec![pki.leaf_key.into_bytes()],
        cert: vec![pki.leaf_cert.into_bytes()],
        ..Default::default()
    };
    let mut srv = start(Some(opts), |s| s.limits().set_handshake_timeout(200));
    let mut tcp = TcpStream::connect(("127.0.0.1", srv.port)).await.unwrap();
    let ev = srv
        .expect(Duration::from_secs(3), |e| {
            matches!(e, Event::TlsError { .. })
        })
        .await;
    let Event::TlsError { failure, .. } = ev else {
        unreachable!()
    };
    assert_eq!(failure, HandshakeFailure::Timeout);
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
        ..Default::default()
    };
    let error = |o: TlsOptions| server_config(&o, Default::default(), None).err();
    assert!(matches!(
        error(opts(&other, &pki.leaf_cert)),
        Some(EngineError::KeyCertMismatch)
    ));
    assert!(matches!(
        error(opts("not a key", &pki.leaf_cert)),
        Some(EngineError::PemNoStartLine { .. })
    ));
    assert!(matches!(
        error(opts(&pki.leaf_key, "not a cert")),
        Some(EngineError::PemNoStartLine { .. })
    ));
    let encrypted =
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n";
    assert!(matches!(
        error(opts(encrypted, &pki.leaf_cert)),
        Some(EngineError::KeyEncrypted)
    ));
    assert!(
        error(TlsOptions::default()).is_none(),
        "a server without key/cert is made, as on Node"
    );
    assert!(
        error(TlsOptions {
            key: vec![pki.leaf_key.as_bytes().to_vec()],
            ..Default::default()
        })
        .is_none(),
        "a key alone makes a server whose handshakes fail, as on Node"
    );
    assert!(matches!(
        rhttps_engine::tls::identity(&TlsOptions {
            key: vec![pki.leaf_key.as_bytes().to_vec()],
            ..Default::default()
        }),
        Err(EngineError::MissingCertificate)
    ));
}

async fn get(connector: &tokio_rustls::TlsConnector, port: u16, name: &str) -> String {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut tls = connector
        .connect(ServerName::try_from(name.to_string()).unwrap(), tcp)
        .await
        .expect("handshake");
    tls.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).into_owned()
}

fn self_signed(names: &[&str]) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap()
            .self_signed(&key)
            .unwrap();
    (key.serialize_pem(), cert.pem())
}

fn der_of(pem: &str) -> CertificateDer<'static> {
    rhttps_engine::tls::parse_certs(pem.as_bytes(), "certificate")
        .unwrap()
        .remove(0)
}

#[tokio::test]
async fn post_quantum_hybrid_is_negotiated_and_classic_clients_still_connect() {
    let (key, cert) = self_signed(&["localhost"]);
    let mut srv = start(
        Some(TlsOptions {
            key: vec![key.into_bytes()],
            cert: vec![cert.clone().into_bytes()],
            ..Default::default()
        }),
        |_| {},
    );
    let root = der_of(&cert);
    let only = |group| rustls::crypto::CryptoProvider {
        kx_groups: vec![group],
        ..rustls::crypto::aws_lc_rs::default_provider()
    };
    let pq = get(
        &client_with(&root, only(kx_group::X25519MLKEM768)),
        srv.port,
        "localhost",
    )
    .await;
    assert!(pq.starts_with("HTTP/1.1 200"), "{pq}");
    let Event::Open { tls, .. } = srv
        .expect(Duration::from_secs(2), |e| matches!(e, Event::Open { .. }))
        .await
    else {
        unreachable!()
    };
    assert_eq!(tls.group, u16::from(rustls::NamedGroup::X25519MLKEM768));
    let classic = get(
        &client_with(&root, only(kx_group::X25519)),
        srv.port,
        "localhost",
    )
    .await;
    assert!(classic.starts_with("HTTP/1.1 200"), "{classic}");
    let Event::Open { tls, .. } = srv
        .expect(Duration::from_secs(2), |e| matches!(e, Event::Open { .. }))
        .await
    else {
        unreachable!()
    };
    assert_eq!(tls.group, u16::from(rustls::NamedGroup::X25519));
}

#[tokio::test]
async fn sni_contexts_and_setting_a_new_context_choose_the_certificate() {
    let (key_a, cert_a) = self_signed(&["localhost"]);
    let (key_b, cert_b) = self_signed(&["b.example.test"]);
    let (key_c, cert_c) = self_signed(&["localhost"]);
    let srv = start(
        Some(TlsOptions {
            key: vec![key_a.into_bytes()],
            cert: vec![cert_a.clone().into_bytes()],
            ..Default::default()
        }),
        |_| {},
    );
    srv.server
        .add_context(
            "*.example.test",
            &TlsOptions {
                key: vec![key_b.into_bytes()],
                cert: vec![cert_b.clone().into_bytes()],
                ..Default::default()
            },
        )
        .unwrap();
    // Each client trusts exactly one certificate, so a successful handshake says which was sent.
    assert!(get(&client(&der_of(&cert_a)), srv.port, "localhost")
        .await
        .starts_with("HTTP/1.1 200"));
    assert!(get(&client(&der_of(&cert_b)), srv.port, "b.example.test")
        .await
        .starts_with("HTTP/1.1 200"));
    srv.server
        .set_tls(&TlsOptions {
            key: vec![key_c.into_bytes()],
            cert: vec![cert_c.clone().into_bytes()],
            ..Default::default()
        })
        .unwrap();
    assert!(get(&client(&der_of(&cert_c)), srv.port, "localhost")
        .await
        .starts_with("HTTP/1.1 200"));
    // The SNI context survives the new default context.
    assert!(get(&client(&der_of(&cert_b)), srv.port, "b.example.test")
        .await
        .starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn rsa_and_ecdsa_pairs_are_chosen_by_what_the_client_verifies() {
    let ec_key = rcgen::KeyPair::generate().unwrap();
    let rsa_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let params = || rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    let ec_cert = params().self_signed(&ec_key).unwrap().pem();
    let rsa_cert = params().self_signed(&rsa_key).unwrap().pem();
    // Keys in the opposite order to their certificates: pairing goes by public key.
    let srv = start(
        Some(TlsOptions {
            key: vec![
                rsa_key.serialize_pem().into_bytes(),
                ec_key.serialize_pem().into_bytes(),
            ],
            cert: vec![ec_cert.clone().into_bytes(), rsa_cert.clone().into_bytes()],
            ..Default::default()
        }),
        |_| {},
    );
    let rsa_only = rustls::crypto::CryptoProvider {
        cipher_suites: vec![
            rustls::crypto::aws_lc_rs::cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        ],
        ..rustls::crypto::aws_lc_rs::default_provider()
    };
    let tcp = TcpStream::connect(("127.0.0.1", srv.port)).await.unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der_of(&rsa_cert)).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rsa_only))
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await;
    assert!(
        tls.is_ok(),
        "an RSA-only TLS 1.2 client gets the RSA chain: {:?}",
        tls.err()
    );
    // A default client prefers ECDSA and trusts only the ECDSA certificate.
    assert!(get(&client(&der_of(&ec_cert)), srv.port, "localhost")
        .await
        .starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn a_held_hello_goes_on_with_the_answered_identity_and_protocol_or_is_dropped_silently() {
    use rhttps_engine::hello::{AlpnChoice, HelloAnswer, HelloHooks};
    let (key_a, cert_a) = self_signed(&["localhost"]);
    let (key_b, cert_b) = self_signed(&["b.example.test"]);
    let mut srv = start(
        Some(TlsOptions {
            key: vec![key_a.into_bytes()],
            cert: vec![cert_a.into_bytes()],
            ..Default::default()
        }),
        |s| {
            s.set_hello_hooks(HelloHooks {
                sni: true,
                alpn: true,
            })
        },
    );
    let identity_b = rhttps_engine::tls::identity(&TlsOptions {
        key: vec![key_b.into_bytes()],
        cert: vec![cert_b.clone().into_bytes()],
        ..Default::default()
    })
    .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der_of(&cert_b)).unwrap();
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"x-one".to_vec(), b"x-two".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = ServerName::try_from("b.example.test").unwrap();

    // The handshake waits for the answer, so it runs beside the test.
    let handshake_in_background = |port: u16| {
        let connector = connector.clone();
        let name = name.clone();
        tokio::spawn(async move {
            let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            connector.connect(name, tcp).await
        })
    };

    // Answered: the client trusts only B, so a handshake proves B was served.
    let handshake = handshake_in_background(srv.port);
    let Event::Hello {
        hello,
        servername,
        alpn,
        ..
    } = srv
        .expect(Duration::from_secs(3), |e| matches!(e, Event::Hello { .. }))
        .await
    else {
        unreachable!()
    };
    assert_eq!(servername, "b.example.test");
    assert_eq!(alpn, ["x-one", "x-two"]);
    srv.server.answer_hello(
        hello,
        HelloAnswer::Proceed {
            identity: Some(Arc::new(identity_b)),
            alpn: AlpnChoice::Select(b"x-two".to_vec()),
        },
    );
    let tls = handshake.await.unwrap().expect("handshake with B");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"x-two"[..]));

    // Aborted: the connection is dropped and no handshake error is reported for it.
    let handshake = handshake_in_background(srv.port);
    let Event::Hello { hello, .. } = srv
        .expect(Duration::from_secs(3), |e| matches!(e, Event::Hello { .. }))
        .await
    else {
        unreachable!()
    };
    srv.server.answer_hello(hello, HelloAnswer::Abort);
    assert!(handshake.await.unwrap().is_err());
    let reported = tokio::time::timeout(
        Duration::from_millis(300),
        srv.expect(Duration::from_secs(1), |e| {
            matches!(e, Event::TlsError { .. })
        }),
    )
    .await;
    assert!(reported.is_err(), "an aborted hello is not a TLS error");
}
