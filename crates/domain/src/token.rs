//! Secret tokens: 256 bits of fresh randomness, base64url; only a SHA-256 hash
//! domain-separated by purpose is ever stored; comparisons in constant time.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

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

/// Standard base64, padding optional when decoding (the `base64` crate).
const STANDARD_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// base64url without padding.
pub fn base64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decode base64url without padding; `None` for anything else.
pub fn base64url_decode(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s).ok()
}

/// Standard base64 with padding (RFC 4648 section 4), as Standard Webhooks
/// signatures and `whsec_` secrets use.
pub fn base64_std(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decode standard base64 (padding optional); `None` for anything else.
pub fn base64_std_decode(s: &str) -> Option<Vec<u8>> {
    STANDARD_ANY_PADDING.decode(s).ok()
}

/// HMAC-SHA256 (RFC 2104), computed by the RustCrypto `hmac` crate.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length (longer ones are hashed first), so
    // `new_from_slice` cannot fail here.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .expect("HMAC-SHA256 accepts a key of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// A new token from 32 fresh random bytes (the caller supplies them from the
/// OS random source).
pub fn new_token(random: [u8; 32]) -> String {
    base64url(&random)
}

/// Whether a string has the shape of one of our tokens (43 base64url chars).
pub fn well_formed(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
}

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

/// The stored form of a token: hex SHA-256 over a purpose-specific prefix.
pub fn hash(purpose: Purpose, token: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"ticketshare/v1/");
    h.update(purpose.label().as_bytes());
    h.update(b"\0");
    h.update(token.as_bytes());
    crate::token::hex(&h.finalize())
}

/// Constant-time equality, by the `subtle` crate: lengths are compared
/// first (they are not secret), then every byte whatever the first
/// difference.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    bool::from(a.ct_eq(b))
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

    #[test]
    fn hmac_sha256_matches_rfc_4231_and_edge_keys() {
        let long_key = [0xaa; 131];
        let key_4: Vec<u8> = (1..=25).collect();
        let cases: [(&[u8], &[u8], &str); 8] = [
            (
                &[0x0b; 20],
                b"Hi There",
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            ),
            (
                b"Jefe",
                b"what do ya want for nothing?",
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                &[0xaa; 20],
                &[0xdd; 50],
                "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
            ),
            (
                &key_4,
                &[0xcd; 50],
                "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
            ),
            (
                &long_key,
                b"Test Using Larger Than Block-Size Key - Hash Key First",
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            ),
            (
                &long_key,
                b"This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.",
                "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
            ),
            // A key of exactly one block, and an empty key (Python's hmac).
            (
                &[b'k'; 64],
                b"",
                "83026a325aaee70e36cfe607536aa1054104ad1077c36134810d4ccded1ccd3b",
            ),
            (
                b"",
                b"x",
                "4cbc96099a6467ce002461f10549b4898265ebe6188b45efacc44293516e62c4",
            ),
        ];
        for (key, msg, want) in cases {
            assert_eq!(
                hex(&hmac_sha256(key, msg)),
                want,
                "key of {} bytes",
                key.len()
            );
        }
    }

    #[test]
    fn ct_eq_checks_lengths_and_every_byte() {
        assert!(ct_eq(b"", b""));
        assert!(!ct_eq(b"", b"a"));
        assert!(!ct_eq(b"xbc", b"abc"), "first byte differs");
        assert!(!ct_eq(b"abx", b"abc"), "last byte differs");
        assert!(!ct_eq(b"abc", b"ab"), "a prefix is not equal");
    }
}
