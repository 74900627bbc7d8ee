//! PKCS#12 archives (Node's `pfx` option): the private keys and certificates they hold, handed
//! to the same key/chain pairing as PEM `key` and `cert`.

use p12_keystore::error::Error as P12Error;
use p12_keystore::Pkcs12Archive;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::error::EngineError;

/// One `pfx` entry: the archive's bytes and the passphrase that opens it.
#[derive(Debug, Default, Clone)]
pub struct Pfx {
    pub buf: Vec<u8>,
    pub passphrase: Option<String>,
}

/// The keys and certificates of an archive, in the order it stores them.
pub struct PfxContents {
    pub keys: Vec<PrivateKeyDer<'static>>,
    pub certs: Vec<CertificateDer<'static>>,
}

/// Opens an archive. Without a passphrase the empty one is tried, as OpenSSL does for
/// archives exported with `-passout pass:`.
pub fn open(buf: &[u8], passphrase: Option<&str>) -> Result<PfxContents, EngineError> {
    let archive =
        Pkcs12Archive::from_pkcs12(buf, passphrase.unwrap_or("")).map_err(|e| match e {
            P12Error::MacError(_) => EngineError::PfxPassphrase,
            P12Error::UnsupportedEncryptionScheme | P12Error::UnsupportedMacAlgorithm => {
                EngineError::PfxLegacy
            }
            // A wrong passphrase on an archive without a MAC shows as bad padding.
            P12Error::UnpadError => EngineError::PfxPassphrase,
            other => EngineError::PfxInvalid {
                detail: other.to_string(),
            },
        })?;
    Ok(PfxContents {
        keys: archive
            .keys
            .iter()
            .map(|bag| PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(bag.key.as_der().to_vec())))
            .collect(),
        certs: archive
            .certs
            .iter()
            .map(|bag| CertificateDer::from(bag.cert.as_der().to_vec()))
            .collect(),
    })
}
