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

use crate::error::{EngineError, TlsOptionName};
use crate::wire::wire_enum;

/// Checks client chains against the `ca` roots; shared by the handshake and the verdict.
#[derive(Debug, Clone)]
pub struct ClientAuth {
    verifier: Arc<dyn ClientCertVerifier>,
    reject_unauthorized: bool,
}

/// What the handler sees on `req.socket`: `Ok` when the chain verified, otherwise why not.
pub type Verdict = Result<(), VerifyError>;

wire_enum! {
    /// Why a client certificate did not verify. The napi glue names each as OpenSSL does (Node's
    /// `authorizationError`); the discriminants are the wire values of OPEN events (`events`).
    pub enum VerifyError {
        /// No certificate was sent.
        NoCertificate = 1,
        Expired,
        NotYetValid,
        BadSignature,
        Revoked,
        /// No revocation list covers a certificate of the chain.
        UnknownRevocationStatus,
        RevocationListExpired,
        InvalidPurpose,
        /// A self-signed leaf that is not a trusted root.
        SelfSigned,
        UnknownIssuer,
        RevocationListBadSignature,
        Rejected,
    }
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
                option: TlsOptionName::RequestCert,
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
            return Err(VerifyError::NoCertificate);
        };
        self.verifier
            .verify_client_cert(leaf, intermediates, UnixTime::now())
            .map(|_| ())
            .map_err(|e| classify(&e, leaf))
    }
}

fn classify(err: &Error, leaf: &CertificateDer<'_>) -> VerifyError {
    match err {
        Error::InvalidCertificate(c) => match c {
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                VerifyError::Expired
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                VerifyError::NotYetValid
            }
            CertificateError::BadSignature => VerifyError::BadSignature,
            CertificateError::Revoked => VerifyError::Revoked,
            CertificateError::UnknownRevocationStatus => VerifyError::UnknownRevocationStatus,
            CertificateError::ExpiredRevocationList
            | CertificateError::ExpiredRevocationListContext { .. } => {
                VerifyError::RevocationListExpired
            }
            CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
                VerifyError::InvalidPurpose
            }
            // OpenSSL finds an untrusted self-signed leaf before it looks at the rest (webpki
            // reports a self-signed CA certificate offered as a leaf as an `Other` error).
            CertificateError::UnknownIssuer | CertificateError::Other(_)
                if is_self_signed(leaf) =>
            {
                VerifyError::SelfSigned
            }
            CertificateError::UnknownIssuer => VerifyError::UnknownIssuer,
            _ => VerifyError::Rejected,
        },
        Error::InvalidCertRevocationList(CertRevocationListError::BadSignature) => {
            VerifyError::RevocationListBadSignature
        }
        _ => VerifyError::Rejected,
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
