//! Free functions: certificate helpers.

use napi_derive::napi;
use rhttps_engine::selfsigned;

use crate::errors::to_js;

#[napi(object)]
pub struct SelfSignedCertificate {
    /// PEM private key (PKCS#8, ECDSA P-256).
    pub key: String,
    /// PEM certificate.
    pub cert: String,
}

/// Generates a self-signed certificate for development, valid for `hosts`
/// (default: localhost, 127.0.0.1 and ::1).
#[napi(catch_unwind)]
pub fn create_self_signed_certificate(
    hosts: Option<Vec<String>>,
) -> napi::Result<SelfSignedCertificate, String> {
    let pair = selfsigned::self_signed(&hosts.unwrap_or_default()).map_err(to_js)?;
    Ok(SelfSignedCertificate {
        key: pair.key_pem,
        cert: pair.cert_pem,
    })
}

/// Throws what `createServer` would throw for these TLS options; used by
/// `createSecureContext` to fail early, as Node's does.
#[napi(catch_unwind)]
pub fn check_secure_context(tls: crate::native_server::TlsInput) -> napi::Result<(), String> {
    crate::native_server::validate(&tls)
}

/// "release" or "debug": benchmarks refuse to measure a debug build.
#[napi(catch_unwind)]
pub fn build_profile() -> &'static str {
    if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    }
}
