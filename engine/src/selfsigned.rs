//! Development certificates: a self-signed certificate for the given host names.

use crate::error::EngineError;

/// A PEM key and certificate pair.
pub struct KeyPair {
    pub key_pem: String,
    pub cert_pem: String,
}

/// Generates an ECDSA P-256 self-signed certificate valid for `hosts` (DNS names or IP
/// addresses). Used by the example server when no key/cert files are given.
pub fn self_signed(hosts: &[String]) -> Result<KeyPair, EngineError> {
    let hosts = if hosts.is_empty() {
        vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
        ]
    } else {
        hosts.to_vec()
    };
    let certified =
        rcgen::generate_simple_self_signed(hosts).map_err(|e| EngineError::CertGeneration {
            detail: e.to_string(),
        })?;
    Ok(KeyPair {
        key_pem: certified.signing_key.serialize_pem(),
        cert_pem: certified.cert.pem(),
    })
}
