//! Turning Node-style `key`/`cert`/`ca` PEM material into a rustls server configuration.

use std::sync::Arc;

use rustls::crypto::aws_lc_rs;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;

use crate::error::EngineError;

/// The PEM inputs as Node accepts them: each of `key`, `cert`, `ca` may be one blob or many.
#[derive(Debug, Default, Clone)]
pub struct TlsOptions {
    pub key: Vec<Vec<u8>>,
    pub cert: Vec<Vec<u8>>,
    pub ca: Vec<Vec<u8>>,
}

/// Builds the rustls configuration: TLS 1.2 and 1.3, rustls's ECDHE + AEAD suites, the
/// server's suite order preferred, and the certificate chain completed from `ca` the way
/// OpenSSL completes it for Node.
pub fn server_config(opts: &TlsOptions) -> Result<Arc<ServerConfig>, EngineError> {
    if opts.key.is_empty() || opts.cert.is_empty() {
        return Err(EngineError::MissingCertificate);
    }
    let key = parse_key(&opts.key[0])?;
    let mut chain = Vec::new();
    for blob in &opts.cert {
        chain.extend(parse_certs(blob, "certificate")?);
    }
    let mut extra = Vec::new();
    for blob in &opts.ca {
        extra.extend(parse_certs(blob, "ca certificate")?);
    }
    let chain = complete_chain(chain, &extra)?;

    let provider = Arc::new(aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| EngineError::TlsConfig {
            detail: e.to_string(),
        })?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(map_cert_error)?;
    config.ignore_client_order = true;
    // node:https offers ALPN `http/1.1` by default; clients see the same negotiation.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn map_cert_error(err: rustls::Error) -> EngineError {
    match err {
        rustls::Error::InconsistentKeys(_) => EngineError::KeyCertMismatch,
        other => EngineError::KeyUnsupported {
            detail: other.to_string(),
        },
    }
}

/// Parses the first private key in a PEM blob (PKCS#8, PKCS#1 RSA or SEC1 EC).
pub fn parse_key(blob: &[u8]) -> Result<PrivateKeyDer<'static>, EngineError> {
    if is_encrypted_key(blob) {
        return Err(EngineError::KeyEncrypted);
    }
    PrivateKeyDer::from_pem_slice(blob).map_err(|e| match e {
        pem::Error::NoItemsFound => EngineError::PemNoStartLine {
            what: "private key",
        },
        other => EngineError::PemInvalid {
            what: "private key",
            detail: other.to_string(),
        },
    })
}

fn is_encrypted_key(blob: &[u8]) -> bool {
    let text = String::from_utf8_lossy(blob);
    text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        || text.contains("Proc-Type: 4,ENCRYPTED")
}

/// Parses every certificate in a PEM blob, in order.
pub fn parse_certs(
    blob: &[u8],
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, EngineError> {
    let certs = CertificateDer::pem_slice_iter(blob)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| EngineError::PemInvalid {
            what,
            detail: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(EngineError::PemNoStartLine { what });
    }
    Ok(certs)
}

/// Appends to `chain` the issuers of its last certificate found in `pool`, up to (not
/// including) a self-signed root: a client that trusts only the root can then verify the leaf
/// even when the intermediate was passed as `ca`, as with Node.
fn complete_chain(
    mut chain: Vec<CertificateDer<'static>>,
    pool: &[CertificateDer<'static>],
) -> Result<Vec<CertificateDer<'static>>, EngineError> {
    let mut names: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(pool.len());
    for der in pool {
        names.push(subject_and_issuer(der)?);
    }
    // Bounded by the pool size so a cycle of cross-signed certificates cannot loop forever.
    for _ in 0..pool.len() {
        let Some(last) = chain.last() else { break };
        let (subject, issuer) = subject_and_issuer(last)?;
        if subject == issuer {
            break;
        }
        let next = names
            .iter()
            .position(|(s, _)| *s == issuer)
            .map(|i| (&pool[i], &names[i]));
        match next {
            Some((der, (s, i))) if s != i && !chain.contains(der) => chain.push(der.clone()),
            _ => break,
        }
    }
    Ok(chain)
}

fn subject_and_issuer(der: &CertificateDer<'_>) -> Result<(Vec<u8>, Vec<u8>), EngineError> {
    let (_, cert) =
        x509_parser::parse_x509_certificate(der.as_ref()).map_err(|e| EngineError::BadCa {
            detail: format!("not a valid X.509 certificate ({e})"),
        })?;
    Ok((
        cert.subject().as_raw().to_vec(),
        cert.issuer().as_raw().to_vec(),
    ))
}
