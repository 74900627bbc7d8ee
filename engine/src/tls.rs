//! Turning Node-style TLS options into a rustls server configuration: identities (key and
//! certificate chain pairs) from PEM, the chain completed from `ca`, a per-handshake choice
//! of identity (SNI contexts, then the pair the client can verify), and the negotiation policy.

use std::sync::{Arc, RwLock};

use rustls::crypto::{aws_lc_rs, CryptoProvider};
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{
    CertificateDer, CertificateRevocationListDer, PrivateKeyDer, PrivatePkcs8KeyDer,
};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::{CertifiedKey, SigningKey};
use rustls::ServerConfig;

use crate::client_auth::ClientAuth;
use crate::error::{EngineError, TlsOptionName};
use crate::pfx::{self, Pfx};
use crate::tickets::TicketKeys;
use crate::tls_policy;

/// Node's TLS options as the engine takes them: each of `key`, `cert`, `ca` may hold several
/// PEM blobs (one chain per `cert` blob, one key per `key` blob).
#[derive(Debug, Default, Clone)]
pub struct TlsOptions {
    pub key: Vec<Vec<u8>>,
    pub cert: Vec<Vec<u8>>,
    pub ca: Vec<Vec<u8>>,
    /// Decrypts encrypted PKCS#8 keys (Node's `passphrase`).
    pub passphrase: Option<String>,
    /// Per-key passphrases (Node's `key: [{ pem, passphrase }]`), by position in `key`.
    pub key_passphrases: Vec<Option<String>>,
    /// PKCS#12 archives, each adding its keys and certificates to `key` and `cert`.
    pub pfx: Vec<Pfx>,
    /// PEM certificate revocation lists checked against client certificates.
    pub crl: Vec<Vec<u8>>,
    pub min_version: Option<String>,
    pub max_version: Option<String>,
    pub ciphers: Option<String>,
    pub ecdh_curve: Option<String>,
    pub honor_cipher_order: Option<bool>,
    pub alpn_protocols: Option<Vec<Vec<u8>>>,
    /// Ask clients for a certificate (Node's `requestCert`).
    pub request_cert: bool,
    /// With `request_cert`: refuse clients without a certificate that chains to `ca`.
    pub reject_unauthorized: bool,
}

/// A server configuration and, when client certificates are requested, their checker.
pub struct ServerTls {
    pub config: Arc<ServerConfig>,
    pub client_auth: Option<ClientAuth>,
    /// False for a server made without a key and certificate pair (or `pfx`): as on Node it
    /// is created, and a handshake only succeeds through an SNI context (`addContext`).
    pub has_certificate: bool,
}

/// The key/chain pairs of one context; several pairs (RSA and ECDSA, say) are offered per
/// handshake by what the client can verify.
#[derive(Debug)]
pub struct Identity {
    pairs: Vec<Arc<CertifiedKey>>,
}

impl Identity {
    pub(crate) fn choose(&self, hello: &ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let schemes = hello.signature_schemes();
        self.pairs
            .iter()
            .find(|pair| pair.key.choose_scheme(schemes).is_some())
            .or_else(|| self.pairs.first())
            .cloned()
    }
}

/// Builds the identity for `key`/`cert`/`ca`/`pfx`. Chains are paired with the key whose
/// public key matches, whatever the order; a `cert` blob that matches no key (an intermediate
/// passed in `cert`) completes chains like `ca` does. Each certificate of a `pfx` is a chain
/// of its own, completed from the rest the same way.
pub fn identity(opts: &TlsOptions) -> Result<Identity, EngineError> {
    if (opts.key.is_empty() || opts.cert.is_empty()) && opts.pfx.is_empty() {
        return Err(EngineError::MissingCertificate);
    }
    let mut key_ders = Vec::new();
    for (i, blob) in opts.key.iter().enumerate() {
        let passphrase = opts
            .key_passphrases
            .get(i)
            .and_then(Option::as_deref)
            .or(opts.passphrase.as_deref());
        key_ders.push(parse_key(blob, passphrase)?);
    }
    let mut chains = Vec::new();
    for blob in &opts.cert {
        chains.push(parse_certs(blob, "certificate")?);
    }
    for archive in &opts.pfx {
        let passphrase = archive.passphrase.as_deref().or(opts.passphrase.as_deref());
        let contents = pfx::open(&archive.buf, passphrase)?;
        key_ders.extend(contents.keys);
        chains.extend(contents.certs.into_iter().map(|cert| vec![cert]));
    }
    let provider = aws_lc_rs::default_provider();
    let mut keys: Vec<(Arc<dyn SigningKey>, bool)> = Vec::new();
    for der in key_ders {
        let key = provider.key_provider.load_private_key(der).map_err(|e| {
            EngineError::KeyUnsupported {
                detail: e.to_string(),
            }
        })?;
        keys.push((key, false));
    }
    let mut pool = Vec::new();
    for blob in &opts.ca {
        pool.extend(parse_certs(blob, "ca certificate")?);
    }
    let mut matched = Vec::new();
    for chain in chains {
        let owner = keys.iter_mut().find(|(key, _)| belongs_to(key, &chain));
        match owner {
            Some((key, used)) => {
                *used = true;
                matched.push((chain, key.clone()));
            }
            None => pool.extend(chain),
        }
    }
    if matched.is_empty() || keys.iter().any(|(_, used)| !used) {
        return Err(EngineError::KeyCertMismatch);
    }
    let mut pairs = Vec::with_capacity(matched.len());
    for (chain, key) in matched {
        let chain = complete_chain(chain, &pool)?;
        pairs.push(Arc::new(CertifiedKey::new(chain, key)));
    }
    Ok(Identity { pairs })
}

/// Whether `key` is the private key of the chain's leaf: the same SubjectPublicKeyInfo. Read
/// with x509-parser, which takes X.509 v1 certificates too (what `openssl x509 -req` makes
/// without an extensions file, and Node serves); rustls's own check parses the leaf with
/// webpki, which refuses v1, so it is only the fallback for keys that cannot say their
/// public key.
fn belongs_to(key: &Arc<dyn SigningKey>, chain: &[CertificateDer<'static>]) -> bool {
    let Some(leaf) = chain.first() else {
        return false;
    };
    match (
        key.public_key(),
        x509_parser::parse_x509_certificate(leaf.as_ref()),
    ) {
        (Some(public), Ok((_, cert))) => public.as_ref() == cert.tbs_certificate.subject_pki.raw,
        _ => CertifiedKey::new(chain.to_vec(), key.clone())
            .keys_match()
            .is_ok(),
    }
}

/// Host name patterns from `server.addContext()`; the most recently added match wins, and
/// `*` stands for one label, as in Node.
#[derive(Debug, Default)]
pub struct SniContexts {
    entries: RwLock<Vec<(String, Arc<Identity>)>>,
}

impl SniContexts {
    pub fn add(&self, hostname: &str, identity: Identity) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        entries.push((hostname.to_ascii_lowercase(), Arc::new(identity)));
    }

    fn find(&self, servername: &str) -> Option<Arc<Identity>> {
        let name = servername.to_ascii_lowercase();
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        entries
            .iter()
            .rev()
            .find(|(pattern, _)| host_matches(pattern, &name))
            .map(|(_, id)| id.clone())
    }
}

fn host_matches(pattern: &str, name: &str) -> bool {
    let (mut p, mut n) = (pattern.split('.'), name.split('.'));
    loop {
        match (p.next(), n.next()) {
            (None, None) => return true,
            (Some(pl), Some(nl)) if label_matches(pl, nl) => {}
            _ => return false,
        }
    }
}

fn label_matches(pattern: &str, label: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == label,
        Some((pre, post)) => {
            label.len() >= pre.len() + post.len() && label.starts_with(pre) && label.ends_with(post)
        }
    }
}

#[derive(Debug)]
struct Resolver {
    default: Identity,
    sni: Arc<SniContexts>,
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        if let Some(context) = hello.server_name().and_then(|name| self.sni.find(name)) {
            return context.choose(&hello);
        }
        self.default.choose(&hello)
    }
}

/// Builds the configuration: TLS 1.3 and 1.2 (or as `minVersion`/`maxVersion` say), rustls's
/// forward-secret AEAD suites (or `ciphers`), X25519MLKEM768 first among the groups (or
/// `ecdhCurve`), the server's suite order preferred, ALPN `http/1.1` as node:https offers it.
pub fn server_config(
    opts: &TlsOptions,
    sni: Arc<SniContexts>,
    tickets: Option<Arc<TicketKeys>>,
) -> Result<ServerTls, EngineError> {
    // As on Node, a key without a certificate (or the reverse) makes a server whose handshakes
    // fail, not an error here.
    let has_certificate = (!opts.key.is_empty() && !opts.cert.is_empty()) || !opts.pfx.is_empty();
    let default = if has_certificate {
        identity(opts)?
    } else {
        Identity { pairs: Vec::new() }
    };
    let versions = tls_policy::versions(opts.min_version.as_deref(), opts.max_version.as_deref())?;
    let base = aws_lc_rs::default_provider();
    let provider = CryptoProvider {
        cipher_suites: match &opts.ciphers {
            Some(spec) => tls_policy::ciphers(spec)?,
            None => base.cipher_suites.clone(),
        },
        kx_groups: match &opts.ecdh_curve {
            Some(spec) => tls_policy::groups(spec)?,
            None => tls_policy::default_groups(),
        },
        ..base
    };
    let provider = Arc::new(provider);
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| EngineError::TlsOption {
            option: TlsOptionName::Ciphers,
            detail: format!("no cipher suite left for the protocol versions allowed ({e})"),
        })?;
    // Parsed even when no client certificate is asked for: a broken `crl` fails here, as on
    // Node, rather than when requestCert is turned on later.
    let mut crls = Vec::new();
    for blob in &opts.crl {
        crls.extend(parse_crls(blob)?);
    }
    let client_auth = if opts.request_cert {
        let mut ca = Vec::new();
        for blob in &opts.ca {
            ca.extend(parse_certs(blob, "ca certificate")?);
        }
        Some(ClientAuth::new(
            &ca,
            crls,
            opts.reject_unauthorized,
            provider,
        )?)
    } else {
        None
    };
    let builder = match &client_auth {
        Some(auth) => builder.with_client_cert_verifier(Arc::new(auth.clone())),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_cert_resolver(Arc::new(Resolver { default, sni }));
    config.ignore_client_order = opts.honor_cipher_order.unwrap_or(true);
    // Writes only for handshakes run inside keylog::collect (when JS listens for 'keylog').
    config.key_log = Arc::new(crate::keylog::TaskKeyLog);
    if let Some(tickets) = tickets {
        config.ticketer = tickets;
    }
    config.alpn_protocols = opts
        .alpn_protocols
        .clone()
        .unwrap_or_else(|| vec![b"http/1.1".to_vec()]);
    Ok(ServerTls {
        has_certificate,
        config: Arc::new(config),
        client_auth,
    })
}

/// Parses the first private key in a PEM blob (PKCS#8, PKCS#1 RSA or SEC1 EC), decrypting an
/// encrypted PKCS#8 key (PBES2, as `openssl pkcs8 -topk8 -v2` and Node's
/// `generateKeyPair` write them) or an OpenSSL traditional encrypted one with `passphrase`.
pub fn parse_key(
    blob: &[u8],
    passphrase: Option<&str>,
) -> Result<PrivateKeyDer<'static>, EngineError> {
    let text = String::from_utf8_lossy(blob);
    if text.contains(crate::legacy_pem::MARKER) {
        let passphrase = passphrase.ok_or(EngineError::KeyEncrypted)?;
        return crate::legacy_pem::decrypt(blob, passphrase);
    }
    if let Some(start) = text.find(ENCRYPTED_BEGIN) {
        let passphrase = passphrase.ok_or(EngineError::KeyEncrypted)?;
        return decrypt_pkcs8(&text[start..], passphrase);
    }
    PrivateKeyDer::from_pem_slice(blob).map_err(|e| match e {
        pem::Error::NoItemsFound => EngineError::PemNoStartLine {
            what: "private key",
        },
        other => EngineError::PemInvalid {
            what: "private key",
            detail: other.to_string(),
        },
    })
}

const ENCRYPTED_BEGIN: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----";
const ENCRYPTED_END: &str = "-----END ENCRYPTED PRIVATE KEY-----";

fn decrypt_pkcs8(pem_text: &str, passphrase: &str) -> Result<PrivateKeyDer<'static>, EngineError> {
    let invalid = |detail: String| EngineError::PemInvalid {
        what: "encrypted private key",
        detail,
    };
    let end = pem_text
        .find(ENCRYPTED_END)
        .ok_or_else(|| invalid("no END line".into()))?
        + ENCRYPTED_END.len();
    let (_, der) = pkcs8::der::pem::decode_vec(&pem_text.as_bytes()[..end])
        .map_err(|e| invalid(e.to_string()))?;
    let info = pkcs8::EncryptedPrivateKeyInfo::try_from(der.as_slice())
        .map_err(|e| invalid(e.to_string()))?;
    let plain = info
        .decrypt(passphrase)
        .map_err(|_| EngineError::BadPassphrase)?;
    Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        plain.as_bytes().to_vec(),
    )))
}

/// Parses every revocation list in a PEM blob.
fn parse_crls(blob: &[u8]) -> Result<Vec<CertificateRevocationListDer<'static>>, EngineError> {
    let crls = CertificateRevocationListDer::pem_slice_iter(blob)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| EngineError::CrlInvalid {
            detail: e.to_string(),
        })?;
    if crls.is_empty() {
        return Err(EngineError::CrlInvalid {
            detail: "no CRL block found".into(),
        });
    }
    for crl in &crls {
        x509_parser::parse_x509_crl(crl.as_ref()).map_err(|e| EngineError::CrlInvalid {
            detail: e.to_string(),
        })?;
    }
    Ok(crls)
}

/// Parses every certificate in a PEM blob, in order.
pub fn parse_certs(
    blob: &[u8],
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, EngineError> {
    let certs = CertificateDer::pem_slice_iter(blob)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| EngineError::PemInvalid {
            what,
            detail: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(EngineError::PemNoStartLine { what });
    }
    Ok(certs)
}

/// Appends to `chain` the issuers of its last certificate found in `pool`, up to (not
/// including) a self-signed root: a client that trusts only the root can then verify the leaf
/// even when the intermediate was passed as `ca`, as with Node.
fn complete_chain(
    mut chain: Vec<CertificateDer<'static>>,
    pool: &[CertificateDer<'static>],
) -> Result<Vec<CertificateDer<'static>>, EngineError> {
    let mut names: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(pool.len());
    for der in pool {
        names.push(subject_and_issuer(der)?);
    }
    // Bounded by the pool size so a cycle of cross-signed certificates cannot loop forever.
    for _ in 0..pool.len() {
        let Some(last) = chain.last() else { break };
        let (subject, issuer) = subject_and_issuer(last)?;
        if subject == issuer {
            break;
        }
        let next = names
            .iter()
            .position(|(s, _)| *s == issuer)
            .map(|i| (&pool[i], &names[i]));
        match next {
            Some((der, (s, i))) if s != i && !chain.contains(der) => chain.push(der.clone()),
            _ => break,
        }
    }
    Ok(chain)
}

fn subject_and_issuer(der: &CertificateDer<'_>) -> Result<(Vec<u8>, Vec<u8>), EngineError> {
    let (_, cert) =
        x509_parser::parse_x509_certificate(der.as_ref()).map_err(|e| EngineError::BadCa {
            detail: format!("not a valid X.509 certificate ({e})"),
        })?;
    Ok((
        cert.subject().as_raw().to_vec(),
        cert.issuer().as_raw().to_vec(),
    ))
}

#[cfg(test)]
mod tests {
    use super::host_matches;

    #[test]
    fn wildcards_cover_one_label() {
        assert!(host_matches("*.example.com", "a.example.com"));
        assert!(!host_matches("*.example.com", "a.b.example.com"));
        assert!(!host_matches("*.example.com", "example.com"));
        assert!(host_matches("api-*.example.com", "api-1.example.com"));
        assert!(host_matches("example.com", "example.com"));
    }
}
