//! Sealing data at rest that must stay readable to the app but must not sit
//! in the store in clear: the bodies of stored emails, which carry personal
//! links (invite, participant, share, login). XChaCha20-Poly1305 with a key
//! derived from a deployment secret that lives outside the store (the
//! `admin_token` variable) and a fresh random nonce per value, so a copy of
//! the store alone yields no usable link.

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

use crate::token::{base64url, base64url_decode};

/// Prefix of a sealed value (the format version).
const PREFIX: &str = "v1.";

/// A 256-bit sealing key.
#[derive(Clone)]
pub struct SealKey([u8; 32]);

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKey(..)")
    }
}

impl SealKey {
    /// Derive the key from a deployment secret (domain-separated SHA-256).
    pub fn derive(secret: &str) -> Self {
        let mut h = Sha256::new();
        h.update(b"ticketshare/v1/seal\0");
        h.update(secret.as_bytes());
        Self(h.finalize().into())
    }
}

/// Seal `plain` with a nonce taken from 24 of the given fresh random bytes.
pub fn seal(key: &SealKey, random: [u8; 32], plain: &[u8]) -> String {
    let cipher = XChaCha20Poly1305::new(chacha20poly1305::Key::from_slice(&key.0));
    let nonce = XNonce::from_slice(&random[..24]);
    // Encryption into a Vec cannot fail for inputs below the AEAD's limit
    // (values here are far below the store's 1 MiB).
    let ct = cipher.encrypt(nonce, plain).unwrap_or_default();
    let mut out = random[..24].to_vec();
    out.extend_from_slice(&ct);
    format!("{PREFIX}{}", base64url(&out))
}

/// Open a sealed value; `None` when it was sealed with another key or
/// altered.
pub fn open(key: &SealKey, sealed: &str) -> Option<Vec<u8>> {
    let bytes = base64url_decode(sealed.strip_prefix(PREFIX)?)?;
    if bytes.len() < 24 + 16 {
        return None;
    }
    let (nonce, ct) = bytes.split_at(24);
    XChaCha20Poly1305::new(chacha20poly1305::Key::from_slice(&key.0))
        .decrypt(XNonce::from_slice(nonce), ct)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let k = SealKey::derive("secret");
        let s = seal(&k, [3; 32], b"https://x/i/acme.TOKEN");
        assert!(!s.contains("TOKEN"));
        assert_eq!(open(&k, &s).unwrap(), b"https://x/i/acme.TOKEN");
        assert_ne!(s, seal(&k, [4; 32], b"https://x/i/acme.TOKEN"));
        assert!(open(&SealKey::derive("other"), &s).is_none());
        let mut tampered = s.clone().into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert!(open(&k, std::str::from_utf8(&tampered).unwrap()).is_none());
        assert!(open(&k, "v1.").is_none());
        assert!(open(&k, "garbage").is_none());
    }
}
