//! Node's negotiation options (`minVersion`, `maxVersion`, `ciphers`, `ecdhCurve`) mapped
//! onto what rustls offers, with an error that lists the choices for anything it cannot honour.

use rustls::crypto::aws_lc_rs::{cipher_suite, kx_group};
use rustls::crypto::SupportedKxGroup;
use rustls::{SupportedCipherSuite, SupportedProtocolVersion};

use crate::error::{EngineError, TlsOptionName};

/// Suites by the name Node users write (OpenSSL's) and the IANA name, strongest first.
const SUITES: &[(&str, &str, SupportedCipherSuite)] = &[
    (
        "TLS_AES_256_GCM_SHA384",
        "TLS_AES_256_GCM_SHA384",
        cipher_suite::TLS13_AES_256_GCM_SHA384,
    ),
    (
        "TLS_AES_128_GCM_SHA256",
        "TLS_AES_128_GCM_SHA256",
        cipher_suite::TLS13_AES_128_GCM_SHA256,
    ),
    (
        "TLS_CHACHA20_POLY1305_SHA256",
        "TLS_CHACHA20_POLY1305_SHA256",
        cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
    ),
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        cipher_suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
];

/// OpenSSL selector words in cipher strings (`HIGH`, `DEFAULT`, `!aNULL`, `@STRENGTH`, ...):
/// every suite rustls offers already satisfies them (forward secret, AEAD, no NULL/export).
const SELECTORS: &[&str] = &[
    "DEFAULT",
    "HIGH",
    "ALL",
    "ECDHE",
    "EECDH",
    "ECDH",
    "AESGCM",
    "AES",
    "AES128",
    "AES256",
    "CHACHA20",
    "ECDSA",
    "RSA",
    "aRSA",
    "aECDSA",
    "kECDHE",
    "TLSv1.2",
    "TLSv1.3",
    "SHA256",
    "SHA384",
    "COMPLEMENTOFDEFAULT",
    "SECURE",
];

/// Key-exchange groups; X25519MLKEM768 (post-quantum hybrid) is offered first by default.
const GROUPS: &[(&[&str], &dyn SupportedKxGroup)] = &[
    (&["X25519MLKEM768"], kx_group::X25519MLKEM768),
    (&["X25519", "x25519"], kx_group::X25519),
    (&["P-256", "prime256v1", "secp256r1"], kx_group::SECP256R1),
    (&["P-384", "secp384r1"], kx_group::SECP384R1),
    (
        &["SecP256r1MLKEM768", "SECP256R1MLKEM768"],
        kx_group::SECP256R1MLKEM768,
    ),
];

pub fn default_groups() -> Vec<&'static dyn SupportedKxGroup> {
    GROUPS[..4].iter().map(|(_, g)| *g).collect()
}

fn unsupported(option: TlsOptionName, got: &str, choices: String) -> EngineError {
    EngineError::TlsOption {
        option,
        detail: format!("{got:?} is not available; choose from: {choices}"),
    }
}

/// `minVersion`/`maxVersion`: TLS 1.2 and 1.3 only; older versions are insecure and refused.
pub fn versions(
    min: Option<&str>,
    max: Option<&str>,
) -> Result<Vec<&'static SupportedProtocolVersion>, EngineError> {
    let rank = |option: TlsOptionName, v: &str| {
        match v {
        "TLSv1.3" => Ok(3),
        "TLSv1.2" => Ok(2),
        "TLSv1" | "TLSv1.1" | "SSLv3" => Err(EngineError::TlsOption {
            option,
            detail: format!(
                "{v} is insecure and not supported by rhttps; use 'TLSv1.2' (the lowest offered) or 'TLSv1.3'"
            ),
        }),
        other => Err(unsupported(option, other, "'TLSv1.2', 'TLSv1.3'".into())),
    }
    };
    let lo = min
        .map(|v| rank(TlsOptionName::MinVersion, v))
        .transpose()?
        .unwrap_or(2);
    let hi = max
        .map(|v| rank(TlsOptionName::MaxVersion, v))
        .transpose()?
        .unwrap_or(3);
    if lo > hi {
        return Err(EngineError::TlsOption {
            option: TlsOptionName::MinVersion,
            detail: "minVersion is greater than maxVersion".into(),
        });
    }
    let mut out = Vec::new();
    if hi >= 3 {
        out.push(&rustls::version::TLS13);
    }
    if lo <= 2 {
        out.push(&rustls::version::TLS12);
    }
    Ok(out)
}

/// Parts of OpenSSL suite names that mark broken or unauthenticated suites.
const INSECURE: &[&str] = &["RC4", "DES", "NULL", "EXP", "MD5", "ADH", "AECDH", "anon"];

fn list_available() -> String {
    SUITES
        .iter()
        .map(|(o, _, _)| *o)
        .collect::<Vec<_>>()
        .join(", ")
}

/// An OpenSSL cipher string (`:`, `,` or space separated). Named suites keep the order given;
/// exclusions (`!x`, `-x`) and selector words keep every suite rustls offers. Names of sound
/// suites rustls does not implement (DHE, CBC — Node's default list has them) are skipped,
/// names of insecure suites are refused. As with OpenSSL, a list naming no TLS 1.3 suite
/// leaves the TLS 1.3 suites enabled.
pub fn ciphers(spec: &str) -> Result<Vec<SupportedCipherSuite>, EngineError> {
    let mut chosen: Vec<SupportedCipherSuite> = Vec::new();
    let mut selector = false;
    for token in spec
        .split([':', ',', ' '])
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        if token.starts_with(['!', '-', '@', '+']) {
            continue;
        }
        if let Some((_, _, suite)) = SUITES.iter().find(|(o, i, _)| *o == token || *i == token) {
            if !chosen.contains(suite) {
                chosen.push(*suite);
            }
        } else if token.split('+').all(|w| SELECTORS.contains(&w)) {
            selector = true;
        } else if INSECURE.iter().any(|bad| token.contains(bad)) {
            return Err(EngineError::TlsOption {
                option: TlsOptionName::Ciphers,
                detail: format!(
                    "{token:?} is insecure and not offered; choose from: {}",
                    list_available()
                ),
            });
        } else if !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        {
            return Err(unsupported(TlsOptionName::Ciphers, token, list_available()));
        }
    }
    if selector {
        for (_, _, suite) in SUITES {
            if !chosen.contains(suite) {
                chosen.push(*suite);
            }
        }
    }
    if chosen.is_empty() {
        return Err(EngineError::TlsOption {
            option: TlsOptionName::Ciphers,
            detail: format!(
                "{spec:?} selects no cipher suite rhttps offers; choose from: {}",
                list_available()
            ),
        });
    }
    if !chosen.iter().any(|s| s.tls13().is_some()) {
        let tls13 = SUITES
            .iter()
            .filter(|(_, _, s)| s.tls13().is_some())
            .map(|(_, _, s)| *s);
        chosen.splice(0..0, tls13);
    }
    Ok(chosen)
}

/// `ecdhCurve`: `auto` (the default list) or names separated by `:`.
pub fn groups(spec: &str) -> Result<Vec<&'static dyn SupportedKxGroup>, EngineError> {
    if spec == "auto" {
        return Ok(default_groups());
    }
    spec.split(':')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|name| {
            GROUPS
                .iter()
                .find(|(names, _)| names.contains(&name))
                .map(|(_, g)| *g)
                .ok_or_else(|| {
                    let all: Vec<&str> = GROUPS.iter().map(|(n, _)| n[0]).collect();
                    unsupported(
                        TlsOptionName::EcdhCurve,
                        name,
                        format!("auto, {}", all.join(", ")),
                    )
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(suites: &[SupportedCipherSuite]) -> Vec<&'static str> {
        suites
            .iter()
            .map(|s| s.suite().as_str().unwrap_or("?"))
            .collect()
    }

    #[test]
    fn named_suites_keep_their_order_and_tls13_stays_on() {
        let s = ciphers("ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384").unwrap();
        let n = names(&s);
        assert_eq!(n[3], "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
        assert_eq!(n[4], "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384");
        assert_eq!(n.len(), 5);
    }

    #[test]
    fn unimplemented_sound_suites_are_skipped() {
        let s = ciphers("DHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256").unwrap();
        assert_eq!(names(&s)[3], "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
    }

    #[test]
    fn node_default_style_strings_are_accepted() {
        let s = ciphers(
            "TLS_AES_256_GCM_SHA384:ECDHE-RSA-AES128-GCM-SHA256:HIGH:!aNULL:!MD5:!RC4:@STRENGTH",
        );
        assert_eq!(s.unwrap().len(), SUITES.len());
    }

    #[test]
    fn insecure_or_unknown_suites_are_refused_with_the_list() {
        assert!(ciphers("DHE-RSA-AES128-GCM-SHA256")
            .unwrap_err()
            .to_string()
            .contains("selects no"));
        assert!(ciphers("AES128 GCM<>").is_err());
        let e = ciphers("RC4-SHA").unwrap_err();
        assert!(e.to_string().contains("insecure"), "{e}");
        assert!(e.to_string().contains("ECDHE-RSA-AES128-GCM-SHA256"), "{e}");
        assert!(ciphers("!ALL").is_err());
    }

    #[test]
    fn versions_refuse_old_protocols() {
        assert!(versions(Some("TLSv1"), None)
            .unwrap_err()
            .to_string()
            .contains("insecure"));
        assert_eq!(versions(Some("TLSv1.3"), None).unwrap().len(), 1);
        assert!(versions(Some("TLSv1.3"), Some("TLSv1.2")).is_err());
    }

    #[test]
    fn curves_map_node_names() {
        assert_eq!(groups("prime256v1:X25519").unwrap().len(), 2);
        assert!(groups("brainpoolP256r1")
            .unwrap_err()
            .to_string()
            .contains("X25519MLKEM768"));
        assert_eq!(
            groups("auto").unwrap()[0].name(),
            rustls::NamedGroup::X25519MLKEM768
        );
    }
}
