//! Errors the engine reports, each with the Node-style `code` the JS layer exposes.

use std::fmt;
use std::io;

/// Every failure the engine can hand back to its caller. The napi glue maps each to a JS
/// `Error` with `code` set to [`EngineError::code`], so users can match on the same codes
/// Node's own `https` uses where an equivalent exists.
#[derive(Debug)]
pub enum EngineError {
    /// No PEM block of the expected kind was found (Node: `ERR_OSSL_PEM_NO_START_LINE`).
    PemNoStartLine { what: &'static str },
    /// A PEM block was found but could not be decoded.
    PemInvalid { what: &'static str, detail: String },
    /// The private key is encrypted and no passphrase was given.
    KeyEncrypted,
    /// The passphrase does not decrypt the private key.
    BadPassphrase,
    /// A key format rustls cannot take; the detail says how to convert it.
    KeyFormat { detail: &'static str },
    /// The private key does not belong to the certificate.
    KeyCertMismatch,
    /// rustls refused the key (unsupported algorithm or curve).
    KeyUnsupported { detail: String },
    /// A `ca` certificate could not be used as a trust anchor.
    BadCa { detail: String },
    /// Any other TLS configuration problem.
    TlsConfig { detail: String },
    /// An https server was created without a certificate.
    MissingCertificate,
    /// Socket-level failure (bind/listen); keeps the OS errno for Node's error shape.
    Io {
        syscall: &'static str,
        source: io::Error,
    },
    /// The listener cannot be started a second time.
    AlreadyListening,
    /// Self-signed certificate generation failed.
    CertGeneration { detail: String },
    /// The I/O threads could not be started.
    Runtime,
    /// A `pfx` that is not a PKCS#12 archive.
    PfxInvalid { detail: String },
    /// The passphrase does not open the `pfx` (its MAC does not verify).
    PfxPassphrase,
    /// A `pfx` encrypted with a legacy algorithm (RC2, 3DES) that Node 20 refuses too.
    PfxLegacy,
    /// A `crl` that is not a PEM certificate revocation list.
    CrlInvalid { detail: String },
    /// A TLS negotiation option rhttps cannot honour (old protocol, unknown suite or curve).
    TlsOption {
        option: &'static str,
        detail: String,
    },
}

impl EngineError {
    /// The Node-style code: `ERR_*` for configuration errors, the errno name for socket errors.
    pub fn code(&self) -> &'static str {
        match self {
            EngineError::PemNoStartLine { .. } => "ERR_OSSL_PEM_NO_START_LINE",
            EngineError::PemInvalid { .. } => "ERR_OSSL_PEM_BAD_BASE64_DECODE",
            EngineError::KeyEncrypted | EngineError::BadPassphrase => "ERR_OSSL_BAD_DECRYPT",
            EngineError::KeyFormat { .. } => "ERR_RHTTPS_KEY_FORMAT",
            EngineError::KeyCertMismatch => "ERR_OSSL_X509_KEY_VALUES_MISMATCH",
            EngineError::KeyUnsupported { .. } => "ERR_OSSL_UNSUPPORTED",
            EngineError::BadCa { .. } => "ERR_OSSL_X509_CERT_BAD_CA",
            EngineError::TlsConfig { .. } => "ERR_TLS_INVALID_CONTEXT",
            EngineError::MissingCertificate => "ERR_TLS_MISSING_CERT",
            EngineError::Io { source, .. } => errno_name(source),
            EngineError::AlreadyListening => "ERR_SERVER_ALREADY_LISTEN",
            EngineError::CertGeneration { .. } => "ERR_RHTTPS_CERT_GENERATION",
            EngineError::Runtime => "ERR_RHTTPS_RUNTIME",
            EngineError::PfxInvalid { .. } => "ERR_RHTTPS_PFX_INVALID",
            EngineError::PfxPassphrase => "ERR_OSSL_PKCS12_MAC_VERIFY_FAILURE",
            EngineError::PfxLegacy => "ERR_CRYPTO_UNSUPPORTED_OPERATION",
            EngineError::CrlInvalid { .. } => "ERR_CRYPTO_OPERATION_FAILED",
            EngineError::TlsOption { option, .. } => match *option {
                "minVersion" | "maxVersion" => "ERR_TLS_INVALID_PROTOCOL_VERSION",
                "ciphers" => "ERR_SSL_NO_CIPHER_MATCH",
                "ecdhCurve" => "ERR_TLS_INVALID_ECDH_CURVE",
                _ => "ERR_INVALID_ARG_VALUE",
            },
        }
    }

    /// The OS errno for socket errors (positive, as Rust reports it).
    pub fn errno(&self) -> Option<i32> {
        match self {
            EngineError::Io { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }

    pub fn syscall(&self) -> Option<&'static str> {
        match self {
            EngineError::Io { syscall, .. } => Some(syscall),
            _ => None,
        }
    }
}

fn errno_name(err: &io::Error) -> &'static str {
    match err.kind() {
        io::ErrorKind::AddrInUse => "EADDRINUSE",
        io::ErrorKind::AddrNotAvailable => "EADDRNOTAVAIL",
        io::ErrorKind::PermissionDenied => "EACCES",
        io::ErrorKind::InvalidInput => "EINVAL",
        io::ErrorKind::ConnectionReset => "ECONNRESET",
        _ => "EIO",
    }
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineError::PemNoStartLine { what } => write!(
                f,
                "no PEM {what} found: expected a block starting with '-----BEGIN', \
                 check that the file is PEM (not DER) and that key and cert are not swapped"
            ),
            EngineError::PemInvalid { what, detail } => {
                write!(f, "the PEM {what} could not be decoded ({detail})")
            }
            EngineError::KeyEncrypted => write!(
                f,
                "the private key is encrypted: pass its `passphrase` option, \
                 or decrypt it with `openssl pkey -in key.pem -out plain.pem`"
            ),
            EngineError::BadPassphrase => write!(
                f,
                "bad decrypt: the passphrase does not decrypt the private key (check `passphrase`)"
            ),
            EngineError::KeyFormat { detail } => write!(f, "{detail}"),
            EngineError::KeyCertMismatch => write!(
                f,
                "key values mismatch: a private key in `key` does not belong to any certificate \
                 in `cert` (each certificate chain needs its own key, leaf certificate first)"
            ),
            EngineError::KeyUnsupported { detail } => {
                write!(f, "the private key cannot be used: {detail}")
            }
            EngineError::BadCa { detail } => {
                write!(f, "a `ca` certificate is not usable: {detail}")
            }
            EngineError::TlsConfig { detail } => write!(f, "invalid TLS configuration: {detail}"),
            EngineError::MissingCertificate => write!(
                f,
                "an HTTPS server needs a certificate: pass `key` and `cert` (PEM), \
                 or use createSelfSignedCertificate() for development"
            ),
            EngineError::Io { source, .. } => write!(f, "{source}"),
            EngineError::AlreadyListening => {
                write!(
                    f,
                    "Listen method has been called more than once without closing."
                )
            }
            EngineError::CertGeneration { detail } => {
                write!(f, "could not generate a self-signed certificate: {detail}")
            }
            EngineError::Runtime => write!(
                f,
                "could not start the I/O threads (is the process out of threads or memory?)"
            ),
            EngineError::PfxInvalid { detail } => write!(
                f,
                "the pfx is not a PKCS#12 archive ({detail}): pass the .pfx/.p12 file's bytes \
                 as a Buffer, not its path or a PEM file"
            ),
            EngineError::PfxPassphrase => write!(
                f,
                "mac verify failure: the passphrase does not open the pfx (check `passphrase`, \
                 or `{{ buf, passphrase }}` for this pfx)"
            ),
            EngineError::PfxLegacy => write!(
                f,
                "Unsupported PKCS12 PFX data: it is encrypted with a legacy algorithm (RC2 or \
                 3DES); re-export it with AES: `openssl pkcs12 -legacy -in old.pfx -nodes -out \
                 all.pem && openssl pkcs12 -export -in all.pem -out new.pfx`"
            ),
            EngineError::CrlInvalid { detail } => write!(
                f,
                "Failed to parse CRL: `crl` must hold PEM blocks starting with \
                 '-----BEGIN X509 CRL-----' ({detail})"
            ),
            EngineError::TlsOption { option, detail } => write!(f, "option {option}: {detail}"),
        }
    }
}

impl std::error::Error for EngineError {}
