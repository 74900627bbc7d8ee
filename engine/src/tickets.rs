//! Session tickets from Node-style `ticketKeys`: 48 bytes shared by every server behind a
//! balancer, so any of them resumes a session another started. The first 16 bytes name the
//! key (and tag each ticket); the last 16 are the AES-128-GCM key that seals the session
//! state. GCM authenticates, so the middle 16 (Node's HMAC key) are kept only for
//! `getTicketKeys()` round trips.

use std::cell::Cell;
use std::future::Future;
use std::sync::RwLock;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM, NONCE_LEN};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use rustls::server::ProducesTickets;

use crate::error::{EngineError, TlsOptionName};

tokio::task_local! {
    /// Whether the handshake running in this task opened a ticket the client offered.
    static RESUMING: Cell<bool>;
}

/// Runs a handshake in which a session resumed from a ticket gets no new ticket, as on Node:
/// its ticket callback answers "valid, no renewal" for a ticket sealed with the current key,
/// so OpenSSL issues none and the client keeps using the one it has (a client that holds
/// one ticket per server then keeps resuming with it). Outside this scope every handshake
/// gets its tickets.
pub async fn resumption_scope<F: Future>(handshake: F) -> F::Output {
    RESUMING.scope(Cell::new(false), handshake).await
}

pub const KEY_LEN: usize = 48;
const NAME_LEN: usize = 16;

struct Keys {
    raw: [u8; KEY_LEN],
    aead: LessSafeKey,
}

pub struct TicketKeys {
    keys: RwLock<Keys>,
    lifetime_secs: std::sync::atomic::AtomicU32,
}

impl std::fmt::Debug for TicketKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TicketKeys")
    }
}

fn keys_from(raw: [u8; KEY_LEN]) -> Result<Keys, EngineError> {
    let unbound =
        UnboundKey::new(&AES_128_GCM, &raw[32..48]).map_err(|_| EngineError::TlsOption {
            option: TlsOptionName::TicketKeys,
            detail: "could not use the ticket key".into(),
        })?;
    Ok(Keys {
        raw,
        aead: LessSafeKey::new(unbound),
    })
}

impl TicketKeys {
    /// Random keys, as Node makes for each server that is given none.
    pub fn random() -> Result<TicketKeys, EngineError> {
        let mut raw = [0u8; KEY_LEN];
        SystemRandom::new()
            .fill(&mut raw)
            .map_err(|_| EngineError::TlsOption {
                option: TlsOptionName::TicketKeys,
                detail: "no randomness available for session ticket keys".into(),
            })?;
        Ok(TicketKeys {
            keys: RwLock::new(keys_from(raw)?),
            lifetime_secs: std::sync::atomic::AtomicU32::new(300),
        })
    }

    /// Replaces the keys (Node's `setTicketKeys`); tickets sealed with the old keys no
    /// longer resume.
    pub fn set(&self, raw: &[u8]) -> Result<(), EngineError> {
        let raw: [u8; KEY_LEN] = raw.try_into().map_err(|_| EngineError::TlsOption {
            option: TlsOptionName::TicketKeys,
            detail: format!("ticketKeys must be {KEY_LEN} bytes, got {}", raw.len()),
        })?;
        let keys = keys_from(raw)?;
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = keys;
        Ok(())
    }

    pub fn get(&self) -> [u8; KEY_LEN] {
        self.keys.read().unwrap_or_else(|p| p.into_inner()).raw
    }

    /// Node's `sessionTimeout`, in seconds.
    pub fn set_lifetime(&self, secs: u32) {
        self.lifetime_secs
            .store(secs, std::sync::atomic::Ordering::Relaxed);
    }
}

impl ProducesTickets for TicketKeys {
    fn enabled(&self) -> bool {
        true
    }

    fn lifetime(&self) -> u32 {
        self.lifetime_secs
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// ticket = key name (16) | nonce (12) | AES-128-GCM(state) with the name as associated data.
    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        if RESUMING.try_with(Cell::get).unwrap_or(false) {
            return None;
        }
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).ok()?;
        let name = &keys.raw[..NAME_LEN];
        let mut sealed = plain.to_vec();
        keys.aead
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(name),
                &mut sealed,
            )
            .ok()?;
        let mut ticket = Vec::with_capacity(NAME_LEN + NONCE_LEN + sealed.len());
        ticket.extend_from_slice(name);
        ticket.extend_from_slice(&nonce);
        ticket.extend_from_slice(&sealed);
        Some(ticket)
    }

    fn decrypt(&self, ticket: &[u8]) -> Option<Vec<u8>> {
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        let name = &keys.raw[..NAME_LEN];
        if ticket.len() < NAME_LEN + NONCE_LEN || &ticket[..NAME_LEN] != name {
            return None;
        }
        let nonce =
            Nonce::try_assume_unique_for_key(&ticket[NAME_LEN..NAME_LEN + NONCE_LEN]).ok()?;
        let mut sealed = ticket[NAME_LEN + NONCE_LEN..].to_vec();
        let plain = keys
            .aead
            .open_in_place(nonce, Aad::from(name), &mut sealed)
            .ok()?;
        let _ = RESUMING.try_with(|r| r.set(true));
        Some(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_open_only_with_the_same_keys() {
        let a = TicketKeys::random().unwrap();
        let b = TicketKeys::random().unwrap();
        let ticket = a.encrypt(b"session state").unwrap();
        assert_eq!(a.decrypt(&ticket).unwrap(), b"session state");
        assert!(b.decrypt(&ticket).is_none());
        b.set(&a.get()).unwrap();
        assert_eq!(
            b.decrypt(&ticket).unwrap(),
            b"session state",
            "shared keys resume"
        );
        let mut tampered = ticket.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(a.decrypt(&tampered).is_none());
        assert!(a.set(&[0u8; 47]).is_err());
    }
}
