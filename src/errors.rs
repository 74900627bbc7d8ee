//! Engine errors become JS errors with Node's `code` and a message that says what to fix. This
//! is the one place where the engine's typed errors meet Node's words.

use std::io;

use napi::Error;
use rhttps_engine::error::TlsOptionName;
use rhttps_engine::EngineError;

pub type JsResult<T> = napi::Result<T, String>;

pub fn to_js(err: EngineError) -> Error<String> {
    Error::new(code(&err).to_string(), message(&err))
}

pub fn invalid_arg(message: impl Into<String>) -> Error<String> {
    Error::new("ERR_INVALID_ARG_VALUE".to_string(), message.into())
}

/// Node's code: `ERR_*` for configuration errors, the errno name for socket errors.
fn code(err: &EngineError) -> &'static str {
    match err {
        EngineError::PemNoStartLine { .. } => "ERR_OSSL_PEM_NO_START_LINE",
        EngineError::PemInvalid { .. } => "ERR_OSSL_PEM_BAD_BASE64_DECODE",
        EngineError::KeyEncrypted | EngineError::BadPassphrase => "ERR_OSSL_BAD_DECRYPT",
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
        EngineError::TlsOption { option, .. } => match option {
            TlsOptionName::MinVersion | TlsOptionName::MaxVersion => {
                "ERR_TLS_INVALID_PROTOCOL_VERSION"
            }
            TlsOptionName::Ciphers => "ERR_SSL_NO_CIPHER_MATCH",
            TlsOptionName::EcdhCurve => "ERR_TLS_INVALID_ECDH_CURVE",
            TlsOptionName::RequestCert | TlsOptionName::TicketKeys => "ERR_INVALID_ARG_VALUE",
        },
    }
}

fn message(err: &EngineError) -> String {
    match err {
        EngineError::PemNoStartLine { what } => format!(
            "no PEM {what} found: expected a block starting with '-----BEGIN', \
             check that the file is PEM (not DER) and that key and cert are not swapped"
        ),
        EngineError::PemInvalid { what, detail } => {
            format!("the PEM {what} could not be decoded ({detail})")
        }
        EngineError::KeyEncrypted => "the private key is encrypted: pass its `passphrase` option, \
             or decrypt it with `openssl pkey -in key.pem -out plain.pem`"
            .into(),
        EngineError::BadPassphrase => {
            "bad decrypt: the passphrase does not decrypt the private key (check `passphrase`)"
                .into()
        }
        EngineError::KeyCertMismatch => {
            "key values mismatch: a private key in `key` does not belong to any certificate \
             in `cert` (each certificate chain needs its own key, leaf certificate first)"
                .into()
        }
        EngineError::KeyUnsupported { detail } => {
            format!("the private key cannot be used: {detail}")
        }
        EngineError::BadCa { detail } => format!("a `ca` certificate is not usable: {detail}"),
        EngineError::TlsConfig { detail } => format!("invalid TLS configuration: {detail}"),
        EngineError::MissingCertificate => {
            "an HTTPS server needs a certificate: pass `key` and `cert` (PEM), \
             or use createSelfSignedCertificate() for development"
                .into()
        }
        EngineError::Io { source, .. } => source.to_string(),
        EngineError::AlreadyListening => {
            "Listen method has been called more than once without closing.".into()
        }
        EngineError::CertGeneration { detail } => {
            format!("could not generate a self-signed certificate: {detail}")
        }
        EngineError::Runtime => {
            "could not start the I/O threads (is the process out of threads or memory?)".into()
        }
        EngineError::PfxInvalid { detail } => format!(
            "the pfx is not a PKCS#12 archive ({detail}): pass the .pfx/.p12 file's bytes \
             as a Buffer, not its path or a PEM file"
        ),
        EngineError::PfxPassphrase => {
            "mac verify failure: the passphrase does not open the pfx (check `passphrase`, \
             or `{ buf, passphrase }` for this pfx)"
                .into()
        }
        EngineError::PfxLegacy => {
            "Unsupported PKCS12 PFX data: it is encrypted with RC2 (or another cipher that \
             Node 20's OpenSSL 3 no longer reads either); re-export it with AES: `openssl pkcs12 -legacy -in old.pfx \
             -nodes -out all.pem && openssl pkcs12 -export -in all.pem -out new.pfx`"
                .into()
        }
        EngineError::CrlInvalid { detail } => format!(
            "Failed to parse CRL: `crl` must hold PEM blocks starting with \
             '-----BEGIN X509 CRL-----' ({detail})"
        ),
        EngineError::TlsOption { option, detail } => {
            format!("option {}: {detail}", option.as_str())
        }
    }
}

/// The errno's name as Node spells it (`EADDRINUSE`), from the platform's own numbers.
fn errno_name(err: &io::Error) -> &'static str {
    #[cfg(unix)]
    if let Some(errno) = err.raw_os_error() {
        let known = [
            (libc::EADDRINUSE, "EADDRINUSE"),
            (libc::EADDRNOTAVAIL, "EADDRNOTAVAIL"),
            (libc::EACCES, "EACCES"),
            (libc::EPERM, "EPERM"),
            (libc::EINVAL, "EINVAL"),
            (libc::EAFNOSUPPORT, "EAFNOSUPPORT"),
            (libc::EMFILE, "EMFILE"),
            (libc::ENFILE, "ENFILE"),
            (libc::ENOBUFS, "ENOBUFS"),
            (libc::ENOMEM, "ENOMEM"),
            (libc::ENOENT, "ENOENT"),
            (libc::ENOTDIR, "ENOTDIR"),
            (libc::ENAMETOOLONG, "ENAMETOOLONG"),
            (libc::EROFS, "EROFS"),
            (libc::ECONNRESET, "ECONNRESET"),
        ];
        if let Some((_, name)) = known.iter().find(|(n, _)| *n == errno) {
            return name;
        }
    }
    match err.kind() {
        io::ErrorKind::AddrInUse => "EADDRINUSE",
        io::ErrorKind::AddrNotAvailable => "EADDRNOTAVAIL",
        io::ErrorKind::PermissionDenied => "EACCES",
        io::ErrorKind::InvalidInput => "EINVAL",
        io::ErrorKind::ConnectionReset => "ECONNRESET",
        _ => "EIO",
    }
}
