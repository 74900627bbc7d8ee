//! OpenSSL's traditional encrypted PEM keys (`Proc-Type: 4,ENCRYPTED` with a `DEK-Info`
//! header, what `openssl rsa -aes256` / `-des3` and `openssl ec -aes128` write). Decrypted by
//! AWS-LC, the OpenSSL-derived library rustls already uses through aws-lc-rs, with the same
//! `PEM_read_bio_PrivateKey` Node's OpenSSL runs, and re-encoded as PKCS#8 for rustls.

use std::ffi::{c_void, CString};
use std::ptr;

use aws_lc_sys as ffi;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::error::EngineError;

pub const MARKER: &str = "Proc-Type: 4,ENCRYPTED";

/// Decrypts the first private key in `pem` with `passphrase`.
pub fn decrypt(pem: &[u8], passphrase: &str) -> Result<PrivateKeyDer<'static>, EngineError> {
    // PEM_def_callback, used when no callback is given, copies a NUL-terminated passphrase.
    let pass = CString::new(passphrase).map_err(|_| EngineError::BadPassphrase)?;
    let len = isize::try_from(pem.len()).map_err(|_| EngineError::PemInvalid {
        what: "private key",
        detail: "too large".into(),
    })?;
    // SAFETY: the BIO reads `pem` only while `pem` is borrowed here and is freed before the
    // function returns; the passphrase outlives the call that reads it; every object AWS-LC
    // returns is freed exactly once below, on every path.
    unsafe {
        ffi::ERR_clear_error();
        let bio = ffi::BIO_new_mem_buf(pem.as_ptr().cast::<c_void>(), len);
        if bio.is_null() {
            return Err(out_of_memory());
        }
        let key = ffi::PEM_read_bio_PrivateKey(
            bio,
            ptr::null_mut(),
            None,
            pass.as_ptr().cast_mut().cast::<c_void>(),
        );
        ffi::BIO_free(bio);
        if key.is_null() {
            return Err(read_error());
        }
        let der = pkcs8_of(key);
        ffi::EVP_PKEY_free(key);
        der.map(|d| PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(d)))
    }
}

/// What AWS-LC's error queue says about a key that did not read. The PEM layer checks the
/// block (headers, base64) and, after CBC decryption, the padding. A wrong passphrase fails
/// that padding check, except about once in 256 passphrases, when the garbage it decrypts to
/// ends in valid padding by chance and fails later, in the key decoder (ASN.1, EC, RSA or EVP).
/// Either way the passphrase is what to fix; only an error the PEM layer raises about the
/// block itself means the block is broken.
unsafe fn read_error() -> EngineError {
    let code = ffi::ERR_get_error();
    ffi::ERR_clear_error();
    // err.h's inline ERR_GET_LIB and ERR_GET_REASON, which the bindings link only as
    // wrappers aws-lc-rs's build leaves out.
    let lib = ((code >> 24) & 0xff) as i32;
    let reason = (code & 0xfff) as i32;
    let block_fault = lib == ffi::ERR_LIB_PEM
        && !matches!(
            reason,
            ffi::PEM_R_BAD_DECRYPT
                | ffi::PEM_R_BAD_PASSWORD_READ
                | ffi::ERR_R_ASN1_LIB
                | ffi::ERR_R_EVP_LIB
        );
    if block_fault || code == 0 {
        EngineError::PemInvalid {
            what: "private key",
            detail: "the encrypted PEM block does not decode (check the DEK-Info header \
                     and the base64 body)"
                .into(),
        }
    } else {
        EngineError::BadPassphrase
    }
}

fn out_of_memory() -> EngineError {
    EngineError::KeyUnsupported {
        detail: "out of memory while decoding the key".into(),
    }
}

/// The key as PKCS#8 PrivateKeyInfo DER.
unsafe fn pkcs8_of(key: *const ffi::EVP_PKEY) -> Result<Vec<u8>, EngineError> {
    let mut cbb: ffi::CBB = std::mem::zeroed();
    if ffi::CBB_init(&mut cbb, 0) != 1 {
        return Err(out_of_memory());
    }
    let mut out: *mut u8 = ptr::null_mut();
    let mut out_len = 0usize;
    if ffi::EVP_marshal_private_key(&mut cbb, key) != 1
        || ffi::CBB_finish(&mut cbb, &mut out, &mut out_len) != 1
    {
        ffi::CBB_cleanup(&mut cbb);
        ffi::ERR_clear_error();
        return Err(EngineError::KeyUnsupported {
            detail: "the decrypted key has a type rhttps cannot use".into(),
        });
    }
    let der = std::slice::from_raw_parts(out, out_len).to_vec();
    ffi::OPENSSL_free(out.cast::<c_void>());
    Ok(der)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_that_is_not_pem_reads_as_invalid_not_as_a_wrong_passphrase() {
        let text = format!("-----BEGIN RSA PRIVATE KEY-----\n{MARKER}\nDEK-Info: AES-128-CBC,00\n\nnot base64\n-----END RSA PRIVATE KEY-----\n");
        assert!(matches!(
            decrypt(text.as_bytes(), "pw"),
            Err(EngineError::PemInvalid { .. })
        ));
    }

    // `openssl ec -aes128 -passout pass:pw` of a throwaway P-256 key; "wrong345" decrypts it
    // to bytes whose CBC padding is valid, so the wrong passphrase gets past the padding check.
    const EC_AES128_PW: &str = "-----BEGIN EC PRIVATE KEY-----
Proc-Type: 4,ENCRYPTED
DEK-Info: AES-128-CBC,3DB370476C20324147439324DBB28653

MR3hHFu+icwnsu5z+xpFg1opzNTNUh/13eZHGnWKl1lc9Vsol5+blRuNoeTdUAaX
93qfwcf+NwnWgVG7B0fCJPU6bAIU1vO9AiswRtBupzccRczW9EzlPvyRYTRKbqj+
hRgSJ77a/bG1I3dljsmSs2VSB0nx63H5S4uhc2CPitU=
-----END EC PRIVATE KEY-----
";

    #[test]
    fn the_right_passphrase_decrypts_the_key() {
        assert!(decrypt(EC_AES128_PW.as_bytes(), "pw").is_ok());
    }

    #[test]
    fn a_wrong_passphrase_that_fails_the_padding_check_is_a_bad_passphrase() {
        assert!(matches!(
            decrypt(EC_AES128_PW.as_bytes(), "wrong"),
            Err(EngineError::BadPassphrase)
        ));
    }

    #[test]
    fn a_wrong_passphrase_whose_padding_is_valid_by_chance_is_a_bad_passphrase_not_a_broken_block()
    {
        assert!(matches!(
            decrypt(EC_AES128_PW.as_bytes(), "wrong345"),
            Err(EngineError::BadPassphrase)
        ));
    }
}
