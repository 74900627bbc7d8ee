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

/// What AWS-LC's error queue says about a key that did not read: a wrong passphrase shows as
/// a bad decrypt (the padding check after CBC decryption), anything else is a broken block.
unsafe fn read_error() -> EngineError {
    let code = ffi::ERR_get_error();
    ffi::ERR_clear_error();
    // err.h's inline ERR_GET_LIB and ERR_GET_REASON, which the bindings link only as
    // wrappers aws-lc-rs's build leaves out.
    let lib = ((code >> 24) & 0xff) as i32;
    let reason = (code & 0xfff) as i32;
    let bad_decrypt = (lib == ffi::ERR_LIB_CIPHER && reason == ffi::CIPHER_R_BAD_DECRYPT)
        || (lib == ffi::ERR_LIB_PEM
            && (reason == ffi::PEM_R_BAD_DECRYPT || reason == ffi::PEM_R_BAD_PASSWORD_READ));
    if bad_decrypt {
        EngineError::BadPassphrase
    } else {
        EngineError::PemInvalid {
            what: "private key",
            detail: "the encrypted PEM block does not decode (check the DEK-Info header \
                     and the base64 body)"
                .into(),
        }
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
}
