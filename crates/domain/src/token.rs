//! Secret tokens: 256 bits of fresh randomness, base64url; only a SHA-256 hash
//! domain-separated by purpose is ever stored; comparisons in constant time.

use sha2::{Digest, Sha256};

/// What a token is for. A token of one purpose never works for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Browser session.
    Session,
    /// Single-use login link.
    Login,
    /// Workspace API key.
    ApiKey,
    /// Delegate invite link.
    Invite,
    /// Participant's personal ticket link.
    Participant,
    /// External share link.
    Share,
    /// A collaborator's session on one share (after verification).
    ShareSession,
    /// A one-time email code of a share.
    ShareCode,
}

impl Purpose {
    fn label(self) -> &'static str {
        match self {
            Purpose::Session => "session",
            Purpose::Login => "login",
            Purpose::ApiKey => "api-key",
            Purpose::Invite => "invite",
            Purpose::Participant => "participant",
            Purpose::Share => "share",
            Purpose::ShareSession => "share-session",
            Purpose::ShareCode => "share-code",
        }
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// base64url without padding.
pub fn base64url(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// Decode base64url without padding; `None` for anything else.
pub fn base64url_decode(s: &str) -> Option<Vec<u8>> {
    if s.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        let v = B64.iter().position(|&b| b == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Standard base64 with padding (RFC 4648 section 4), as Standard Webhooks
/// signatures and `whsec_` secrets use.
pub fn base64_std(bytes: &[u8]) -> String {
    let mut s: String = base64url(bytes)
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    while s.len() % 4 != 0 {
        s.push('=');
    }
    s
}

/// Decode standard base64 (padding optional); `None` for anything else.
pub fn base64_std_decode(s: &str) -> Option<Vec<u8>> {
    let trimmed = s.trim_end_matches('=');
    if trimmed.contains(['-', '_']) {
        return None;
    }
    let url: String = trimmed
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    base64url_decode(&url)
}

/// HMAC-SHA256 (RFC 2104).
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(message);
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// A new token from 32 fresh random bytes (the caller supplies them from the
/// OS random source).
pub fn new_token(random: [u8; 32]) -> String {
    base64url(&random)
}

/// Whether a string has the shape of one of our tokens (43 base64url chars).
pub fn well_formed(token: &str) -> bool {
    token.len() == 43 && token.bytes().all(|c| B64.contains(&c))
}

/// The stored form of a token: hex SHA-256 over a purpose-specific prefix.
/// Lowercase hex of `bytes` (`[0xab, 0x01]` is `"ab01"`).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

pub fn hash(purpose: Purpose, token: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"ticketshare/v1/");
    h.update(purpose.label().as_bytes());
    h.update(b"\0");
    h.update(token.as_bytes());
    crate::token::hex(&h.finalize())
}

/// Constant-time equality (lengths checked first; they are not secret).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_is_lowercase_two_digits_a_byte() {
        assert_eq!(super::hex(&[0xab, 0x01, 0x00, 0xff]), "ab0100ff");
        assert_eq!(super::hex(&[]), "");
    }
    use super::*;

    #[test]
    fn tokens() {
        let t = new_token([7; 32]);
        assert_eq!(t.len(), 43);
        assert!(well_formed(&t));
        assert!(!well_formed("short"));
        assert_ne!(
            hash(Purpose::Login, &t),
            hash(Purpose::Session, &t),
            "purposes are separated"
        );
        assert_eq!(hash(Purpose::Login, &t).len(), 64);
        assert_eq!(base64url(b"hello"), "aGVsbG8");
        for n in 0..40u8 {
            let bytes: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37)).collect();
            assert_eq!(base64url_decode(&base64url(&bytes)).unwrap(), bytes);
        }
        assert!(base64url_decode("a+b").is_none());
        assert_eq!(base64_std(b"hello?>"), "aGVsbG8/Pg==");
        assert_eq!(base64_std_decode("aGVsbG8/Pg==").unwrap(), b"hello?>");
        // RFC 4231 test case 2.
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            crate::token::hex(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"abcd"));
    }
}
