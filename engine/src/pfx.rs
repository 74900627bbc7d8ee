//! PKCS#12 archives (Node's `pfx` option): the private keys and certificates they hold, handed
//! to the same key/chain pairing as PEM `key` and `cert`.

use cms::content_info::ContentInfo;
use cms::encrypted_data::EncryptedData;
use der::asn1::{ContextSpecific, ObjectIdentifier, OctetString};
use der::{Decode, Encode};
use p12_keystore::error::Error as P12Error;
use p12_keystore::Pkcs12Archive;
use pkcs12::pbe_params::EncryptedPrivateKeyInfo;
use pkcs12::pfx::Pfx as Archive;
use pkcs12::safe_bag::SafeContents;
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
    if encrypted_with_rc2(buf) {
        return Err(EngineError::PfxLegacy);
    }
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

/// RC2, the cipher of OpenSSL's `-legacy` certificate bags: OpenSSL 3 keeps it in the legacy
/// provider Node 20 does not load, so Node refuses such archives and so does rhttps. 3DES,
/// the other PKCS#12 PBES1 cipher, OpenSSL 3 still reads.
const RC2: [ObjectIdentifier; 2] = [
    pkcs12::PKCS_12_PBEWITH_SHAAND40_BIT_RC2_CBC,
    pkcs12::PKCS_12_PBE_WITH_SHAAND128_BIT_RC2_CBC,
];

const DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const ENCRYPTED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.6");

/// Whether any part of the archive (an encrypted bag group or a shrouded key) is encrypted
/// with RC2. What does not parse is left for p12-keystore to report.
fn encrypted_with_rc2(buf: &[u8]) -> bool {
    let Ok(archive) = Archive::from_der(buf) else {
        return false;
    };
    let Some(groups) =
        data_of(&archive.auth_safe).and_then(|d| Vec::<ContentInfo>::from_der(&d).ok())
    else {
        return false;
    };
    groups.iter().any(|group| match group.content_type {
        ENCRYPTED_DATA => group
            .content
            .to_der()
            .ok()
            .and_then(|der| EncryptedData::from_der(&der).ok())
            .is_some_and(|e| RC2.contains(&e.enc_content_info.content_enc_alg.oid)),
        DATA => data_of(group)
            .and_then(|d| SafeContents::from_der(&d).ok())
            .is_some_and(|bags| {
                bags.iter().any(|bag| {
                    bag.bag_id == pkcs12::PKCS_12_PKCS8_KEY_BAG_OID
                        && ContextSpecific::<EncryptedPrivateKeyInfo>::from_der(&bag.bag_value)
                            .is_ok_and(|k| RC2.contains(&k.value.encryption_algorithm.oid))
                })
            }),
        _ => false,
    })
}

/// The octets of a `data` content.
fn data_of(info: &ContentInfo) -> Option<Vec<u8>> {
    if info.content_type != DATA {
        return None;
    }
    let der = info.content.to_der().ok()?;
    Some(OctetString::from_der(&der).ok()?.into_bytes().into_vec())
}
