//! Client certificates (`requestCert`, `rejectUnauthorized`, `ca`). With `rejectUnauthorized`
//! the handshake requires a certificate that chains to `ca`. Without it, as in Node, any
//! certificate (or none) is let through — the client must still prove it holds the key — and
//! the verdict is worked out after the handshake for `socket.authorized` and
//! `socket.authorizationError`.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{VerifierBuilderError, WebPkiClientVerifier};
use rustls::{
    CertRevocationListError, CertificateError, DigitallySignedStruct, DistinguishedName, Error,
    RootCertStore, SignatureScheme,
};

use crate::error::EngineError;

/// Checks client chains against the `ca` roots; shared by the handshake and the verdict.
#[derive(Debug, Clone)]
pub struct ClientAuth {
    verifier: Arc<dyn ClientCertVerifier>,
    reject_unauthorized: bool,
}

/// What the handler sees on `req.socket`.
pub struct Verdict {
    pub authorized: bool,
    /// OpenSSL's name for why not, as Node reports it; empty when authorized.
    pub error: &'static str,
}

impl ClientAuth {
    pub fn new(
        ca: &[CertificateDer<'static>],
        crls: Vec<CertificateRevocationListDer<'static>>,
        reject_unauthorized: bool,
        provider: Arc<CryptoProvider>,
    ) -> Result<ClientAuth, EngineError> {
        if ca.is_empty() {
            return Err(EngineError::TlsOption {
                option: "requestCert",
                detail: "requestCert needs `ca`: the certificates that client certificates must chain to".into(),
            });
        }
        let mut roots = RootCertStore::empty();
        for cert in ca {
            roots.add(cert.clone()).map_err(|e| EngineError::BadCa {
                detail: e.to_string(),
            })?;
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .allow_unauthenticated()
            // As OpenSSL with a CRL loaded (Node sets CRL_CHECK_ALL): an out-of-date list
            // fails the check, and so does a chain certificate no list speaks for.
            .with_crls(crls)
            .enforce_revocation_expiration()
            .build()
            .map_err(|e| match e {
                VerifierBuilderError::InvalidCrl(crl) => EngineError::CrlInvalid {
                    detail: format!("{crl:?}"),
                },
                other => EngineError::BadCa {
                    detail: other.to_string(),
                },
            })?;
        Ok(ClientAuth {
            verifier,
            reject_unauthorized,
        })
    }

    /// The verdict for the chain a client presented (empty when it sent none).
    pub fn verdict(&self, chain: &[CertificateDer<'static>]) -> Verdict {
        let Some((leaf, intermediates)) = chain.split_first() else {
            return Verdict {
                authorized: false,
                error: "UNABLE_TO_GET_ISSUER_CERT",
            };
        };
        match self
            .verifier
            .verify_client_cert(leaf, intermediates, UnixTime::now())
        {
            Ok(_) => Verdict {
                authorized: true,
                error: "",
            },
            Err(e) => Verdict {
                authorized: false,
                error: openssl_code(&e, leaf),
            },
        }
    }
}

fn openssl_code(err: &Error, leaf: &CertificateDer<'_>) -> &'static str {
    match err {
        Error::InvalidCertificate(c) => match c {
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "CERT_HAS_EXPIRED"
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "CERT_NOT_YET_VALID"
            }
            CertificateError::BadSignature => "CERT_SIGNATURE_FAILURE",
            CertificateError::Revoked => "CERT_REVOKED",
            CertificateError::UnknownRevocationStatus => "UNABLE_TO_GET_CRL",
            CertificateError::ExpiredRevocationList
            | CertificateError::ExpiredRevocationListContext { .. } => "CRL_HAS_EXPIRED",
            CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
                "INVALID_PURPOSE"
            }
            CertificateError::UnknownIssuer if is_self_signed(leaf) => {
                "DEPTH_ZERO_SELF_SIGNED_CERT"
            }
            CertificateError::UnknownIssuer => "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
            _ => "CERT_REJECTED",
        },
        Error::InvalidCertRevocationList(CertRevocationListError::BadSignature) => {
            "CRL_SIGNATURE_FAILURE"
        }
        _ => "CERT_REJECTED",
    }
}

fn is_self_signed(der: &CertificateDer<'_>) -> bool {
    x509_parser::parse_x509_certificate(der.as_ref())
        .map(|(_, c)| c.subject().as_raw() == c.issuer().as_raw())
        .unwrap_or(false)
}

impl ClientCertVerifier for ClientAuth {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.reject_unauthorized
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.verifier.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        match self
            .verifier
            .verify_client_cert(end_entity, intermediates, now)
        {
            Err(_) if !self.reject_unauthorized => Ok(ClientCertVerified::assertion()),
            result => result,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.verifier.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.verifier.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.verifier.supported_verify_schemes()
    }
}
