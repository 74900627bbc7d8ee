//! Node's words for the values in engine events. Events carry the engine's enums and TLS's
//! numbers; the JS decoder (`lib/events.js`) reads these tables once at load and names them as
//! Node does. Each table is an exhaustive `match` over an engine enum, so a new variant cannot
//! reach JS unnamed.

use std::collections::HashMap;

use napi_derive::napi;
use rhttps_engine::client_auth::VerifyError;
use rhttps_engine::conn::CloseReason;
use rhttps_engine::handshake::HandshakeFailure;
use rhttps_engine::request::RequestError;
use rustls::{NamedGroup, ProtocolVersion};

/// `clientError`'s `code` and `reason` (llhttp's), by `RequestError`.
fn request_error(e: RequestError) -> (&'static str, &'static str) {
    match e {
        RequestError::HeaderOverflow => ("HPE_HEADER_OVERFLOW", "Header overflow"),
        RequestError::InvalidHeaderToken => ("HPE_INVALID_HEADER_TOKEN", "Invalid header token"),
        RequestError::InvalidHeaderValue => {
            ("HPE_INVALID_HEADER_TOKEN", "Invalid header value char")
        }
        RequestError::LfExpected => ("HPE_LF_EXPECTED", "Missing expected LF after header value"),
        RequestError::InvalidMethod => ("HPE_INVALID_METHOD", "Invalid method encountered"),
        RequestError::InvalidVersion => ("HPE_INVALID_VERSION", "Invalid HTTP version"),
        RequestError::InvalidStatus => ("HPE_INVALID_STATUS", "Invalid status code"),
        RequestError::InvalidContentLength => (
            "HPE_INVALID_CONTENT_LENGTH",
            "Invalid character in Content-Length",
        ),
        RequestError::DuplicateContentLength => {
            ("HPE_UNEXPECTED_CONTENT_LENGTH", "Duplicate Content-Length")
        }
        RequestError::TransferEncodingWithContentLength => (
            "HPE_INVALID_TRANSFER_ENCODING",
            "Transfer-Encoding can't be present with Content-Length",
        ),
        RequestError::InvalidTransferEncoding => (
            "HPE_INVALID_TRANSFER_ENCODING",
            "Request has invalid `Transfer-Encoding`",
        ),
        RequestError::InvalidChunkSize => {
            ("HPE_INVALID_CHUNK_SIZE", "Invalid character in chunk size")
        }
        RequestError::ChunkCrlfExpected => ("HPE_STRICT", "Expected LF after chunk data"),
        RequestError::ChunkExtensionsOverflow => {
            ("HPE_CHUNK_EXTENSIONS_OVERFLOW", "Chunk extensions overflow")
        }
        RequestError::Timeout => ("ERR_HTTP_REQUEST_TIMEOUT", "Request timeout"),
        RequestError::ExpectedCrlfAfterVersion => {
            ("HPE_INVALID_VERSION", "Expected CRLF after version")
        }
        RequestError::CrExpected => ("HPE_CR_EXPECTED", "Missing expected CR after header value"),
        RequestError::UnexpectedSpace => {
            ("HPE_UNEXPECTED_SPACE", "Unexpected space after start line")
        }
        RequestError::ObsFold => (
            "HPE_INVALID_HEADER_TOKEN",
            "Unexpected whitespace after header value",
        ),
        RequestError::InvalidUrlPath => ("HPE_INVALID_URL", "Invalid char in url path"),
        RequestError::InvalidUrlCharacters => ("HPE_INVALID_URL", "Invalid characters in url"),
        RequestError::InvalidConstant => ("HPE_INVALID_CONSTANT", "Expected HTTP/, RTSP/ or ICE/"),
        RequestError::ContentLengthWithTransferEncoding => (
            "HPE_INVALID_CONTENT_LENGTH",
            "Content-Length can't be present with Transfer-Encoding",
        ),
        RequestError::InvalidTransferEncodingValue => (
            "HPE_INVALID_TRANSFER_ENCODING",
            "Invalid `Transfer-Encoding` header value",
        ),
        RequestError::ChunkCrExpected => {
            ("HPE_CR_EXPECTED", "Missing expected CR after chunk size")
        }
        RequestError::ChunkSizeOverflow => ("HPE_INVALID_CHUNK_SIZE", "Chunk size overflow"),
        RequestError::InvalidEofState => ("HPE_INVALID_EOF_STATE", "Invalid EOF state"),
    }
}

/// `tlsClientError`'s `code`, and its message where Node's is fixed (otherwise the event's
/// detail, rustls's words, is the message).
fn handshake_failure(f: HandshakeFailure) -> (&'static str, &'static str) {
    match f {
        HandshakeFailure::Timeout => ("ERR_TLS_HANDSHAKE_TIMEOUT", "TLS handshake timeout"),
        HandshakeFailure::Disconnected => (
            "ECONNRESET",
            "Client network socket disconnected before secure TLS connection was established",
        ),
        HandshakeFailure::NoApplicationProtocol => ("ERR_SSL_NO_APPLICATION_PROTOCOL", ""),
        HandshakeFailure::NotTls => ("ERR_SSL_WRONG_VERSION_NUMBER", ""),
        HandshakeFailure::NoSharedCipher => ("ERR_SSL_NO_SHARED_CIPHER", ""),
        HandshakeFailure::AlertReceived => ("ERR_SSL_TLSV1_ALERT", ""),
        HandshakeFailure::Other => ("ERR_SSL_HANDSHAKE_FAILURE", ""),
        HandshakeFailure::NoCertificate => ("ERR_SSL_NO_SUITABLE_SIGNATURE_ALGORITHM", ""),
        HandshakeFailure::UnsupportedProtocol => ("ERR_SSL_UNSUPPORTED_PROTOCOL", ""),
    }
}

/// `socket.authorizationError`: OpenSSL's verify error names.
fn verify_error(e: VerifyError) -> &'static str {
    match e {
        VerifyError::NoCertificate => "UNABLE_TO_GET_ISSUER_CERT",
        VerifyError::Expired => "CERT_HAS_EXPIRED",
        VerifyError::NotYetValid => "CERT_NOT_YET_VALID",
        VerifyError::BadSignature => "CERT_SIGNATURE_FAILURE",
        VerifyError::Revoked => "CERT_REVOKED",
        VerifyError::UnknownRevocationStatus => "UNABLE_TO_GET_CRL",
        VerifyError::RevocationListExpired => "CRL_HAS_EXPIRED",
        VerifyError::InvalidPurpose => "INVALID_PURPOSE",
        VerifyError::SelfSigned => "DEPTH_ZERO_SELF_SIGNED_CERT",
        VerifyError::UnknownIssuer => "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
        VerifyError::RevocationListBadSignature => "CRL_SIGNATURE_FAILURE",
        VerifyError::Rejected => "CERT_REJECTED",
    }
}

/// The `code` of the error a socket is destroyed with ('' when it closed cleanly).
fn close_reason(r: CloseReason) -> &'static str {
    match r {
        CloseReason::Clean => "",
        CloseReason::Reset => "ECONNRESET",
        CloseReason::BrokenPipe => "EPIPE",
        CloseReason::TimedOut => "ETIMEDOUT",
        CloseReason::Io => "EIO",
        CloseReason::Protocol => "EPROTO",
        CloseReason::Internal => "ERR_RHTTPS_INTERNAL",
    }
}

/// OpenSSL's cipher names (`getCipher().name`) where they differ from the standard ones.
fn openssl_cipher_name(standard: &str) -> Option<&'static str> {
    Some(match standard {
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" => "ECDHE-ECDSA-AES256-GCM-SHA384",
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" => "ECDHE-ECDSA-AES128-GCM-SHA256",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256" => "ECDHE-ECDSA-CHACHA20-POLY1305",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" => "ECDHE-RSA-AES256-GCM-SHA384",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" => "ECDHE-RSA-AES128-GCM-SHA256",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256" => "ECDHE-RSA-CHACHA20-POLY1305",
        _ => return None,
    })
}

/// `getEphemeralKeyInfo()`: OpenSSL's group names and sizes.
fn group(g: NamedGroup) -> Option<KeyInfo> {
    let (name, size) = match g {
        NamedGroup::X25519 => ("X25519", 253),
        NamedGroup::secp256r1 => ("prime256v1", 256),
        NamedGroup::secp384r1 => ("secp384r1", 384),
        NamedGroup::secp521r1 => ("secp521r1", 521),
        NamedGroup::X25519MLKEM768 => ("X25519MLKEM768", 253),
        _ => return None,
    };
    Some(KeyInfo {
        name: name.into(),
        size,
    })
}

#[napi(object)]
pub struct KeyInfo {
    pub name: String,
    pub size: u32,
}

#[napi(object)]
pub struct CipherName {
    pub name: String,
    pub standard_name: String,
}

/// Every table, indexed by the wire value (arrays) or by the TLS number (objects).
#[napi(object)]
pub struct NodeNames {
    /// `[code, reason]` by `RequestError` value (index 0 unused).
    pub request_errors: Vec<Vec<String>>,
    /// `[code, fixed message or '']` by `HandshakeFailure` value.
    pub handshake_failures: Vec<Vec<String>>,
    pub verify_errors: Vec<String>,
    pub close_reasons: Vec<String>,
    pub versions: HashMap<String, String>,
    pub ciphers: HashMap<String, CipherName>,
    pub groups: HashMap<String, KeyInfo>,
}

fn by_value<T: Copy>(
    all: &[T],
    value: impl Fn(T) -> u8,
    name: impl Fn(T) -> Vec<String>,
) -> Vec<Vec<String>> {
    let len = all
        .iter()
        .map(|&v| value(v) as usize + 1)
        .max()
        .unwrap_or(0);
    let mut out = vec![Vec::new(); len];
    for &v in all {
        out[value(v) as usize] = name(v);
    }
    out
}

fn pair((a, b): (&str, &str)) -> Vec<String> {
    vec![a.to_string(), b.to_string()]
}

fn flat(table: Vec<Vec<String>>) -> Vec<String> {
    table
        .into_iter()
        .map(|mut v| v.pop().unwrap_or_default())
        .collect()
}

#[napi(catch_unwind)]
pub fn node_names() -> NodeNames {
    let versions = [ProtocolVersion::TLSv1_2, ProtocolVersion::TLSv1_3]
        .into_iter()
        .map(|v| {
            let name = if v == ProtocolVersion::TLSv1_3 {
                "TLSv1.3"
            } else {
                "TLSv1.2"
            };
            (u16::from(v).to_string(), name.to_string())
        })
        .collect();
    let ciphers = rustls::crypto::aws_lc_rs::ALL_CIPHER_SUITES
        .iter()
        .filter_map(|s| {
            let standard = s.suite().as_str()?.replace("TLS13_", "TLS_");
            let name =
                openssl_cipher_name(&standard).map_or_else(|| standard.clone(), str::to_string);
            let entry = CipherName {
                name,
                standard_name: standard,
            };
            Some((u16::from(s.suite()).to_string(), entry))
        })
        .collect();
    let groups = [
        NamedGroup::X25519,
        NamedGroup::secp256r1,
        NamedGroup::secp384r1,
        NamedGroup::secp521r1,
        NamedGroup::X25519MLKEM768,
    ]
    .into_iter()
    .filter_map(|g| group(g).map(|info| (u16::from(g).to_string(), info)))
    .collect();
    NodeNames {
        request_errors: by_value(RequestError::ALL, |e| e as u8, |e| pair(request_error(e))),
        handshake_failures: by_value(
            HandshakeFailure::ALL,
            |f| f as u8,
            |f| pair(handshake_failure(f)),
        ),
        verify_errors: flat(by_value(
            VerifyError::ALL,
            |e| e as u8,
            |e| vec![verify_error(e).to_string()],
        )),
        close_reasons: flat(by_value(
            CloseReason::ALL,
            |r| r as u8,
            |r| vec![close_reason(r).to_string()],
        )),
        versions,
        ciphers,
        groups,
    }
}
