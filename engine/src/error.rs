//! Errors the engine reports. They are typed and say what failed; the napi glue (`src/errors.rs`)
//! gives each one Node's `code` and a message that says what to fix.

use std::fmt;
use std::io;

/// Every failure the engine can hand back to its caller.
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
    /// Socket-level failure (bind/listen); keeps the OS error for its errno.
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
    /// A `pfx` encrypted with RC2 (or RC4), which Node 20 refuses too.
    PfxLegacy,
    /// A `crl` that is not a PEM certificate revocation list.
    CrlInvalid { detail: String },
    /// A TLS negotiation option rhttps cannot honour (old protocol, unknown suite or curve).
    TlsOption {
        option: TlsOptionName,
        detail: String,
    },
}

/// The TLS option an [`EngineError::TlsOption`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsOptionName {
    MinVersion,
    MaxVersion,
    Ciphers,
    EcdhCurve,
    RequestCert,
    TicketKeys,
}

impl TlsOptionName {
    /// The option's name as `TlsOptions` callers spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsOptionName::MinVersion => "minVersion",
            TlsOptionName::MaxVersion => "maxVersion",
            TlsOptionName::Ciphers => "ciphers",
            TlsOptionName::EcdhCurve => "ecdhCurve",
            TlsOptionName::RequestCert => "requestCert",
            TlsOptionName::TicketKeys => "ticketKeys",
        }
    }
}

impl EngineError {
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

/// A short technical description for Rust callers and logs; JS users get the napi glue's
/// messages instead.
impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineError::PemNoStartLine { what } => write!(f, "no PEM {what} block"),
            EngineError::PemInvalid { what, detail } => write!(f, "bad PEM {what}: {detail}"),
            EngineError::KeyEncrypted => write!(f, "encrypted private key without a passphrase"),
            EngineError::BadPassphrase => write!(f, "the passphrase does not decrypt the key"),
            EngineError::KeyCertMismatch => write!(f, "no certificate matches the private key"),
            EngineError::KeyUnsupported { detail } => write!(f, "unusable private key: {detail}"),
            EngineError::BadCa { detail } => write!(f, "unusable CA certificate: {detail}"),
            EngineError::TlsConfig { detail } => write!(f, "TLS configuration: {detail}"),
            EngineError::MissingCertificate => write!(f, "no certificate configured"),
            EngineError::Io { syscall, source } => write!(f, "{syscall}: {source}"),
            EngineError::AlreadyListening => write!(f, "already listening"),
            EngineError::CertGeneration { detail } => write!(f, "certificate generation: {detail}"),
            EngineError::Runtime => write!(f, "the I/O runtime could not start"),
            EngineError::PfxInvalid { detail } => write!(f, "not a PKCS#12 archive: {detail}"),
            EngineError::PfxPassphrase => write!(f, "the passphrase does not open the pfx"),
            EngineError::PfxLegacy => write!(f, "pfx encrypted with RC2 or RC4"),
            EngineError::CrlInvalid { detail } => write!(f, "bad CRL: {detail}"),
            EngineError::TlsOption { option, detail } => {
                write!(f, "option {}: {detail}", option.as_str())
            }
        }
    }
}

impl std::error::Error for EngineError {}
