//! Typed ids. Each parses and validates its own text form, so a bad id in a URL
//! or body is a 400 naming it, and one kind of id cannot be passed for another.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

const ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";

/// Encode random bytes as lowercase base32 without look-alike characters.
pub fn encode_random(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| ALPHABET[(*b & 31) as usize] as char)
        .collect()
}

macro_rules! random_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// A new id from 16 fresh random bytes.
            pub fn new(random: [u8; 16]) -> Self {
                Self(format!("{}_{}", $prefix, encode_random(&random)))
            }

            /// Parse and validate the text form.
            pub fn parse(s: &str) -> Result<Self> {
                let ok = s
                    .strip_prefix(concat!($prefix, "_"))
                    .is_some_and(|rest| rest.len() == 16 && rest.bytes().all(|c| ALPHABET.contains(&c)));
                if ok {
                    Ok(Self(s.to_string()))
                } else {
                    Err(Error::bad("invalid_id", format!("{s:?} is not a valid {} id", stringify!($name))))
                }
            }

            /// The text form.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = Error;
            fn try_from(s: String) -> Result<Self> {
                Self::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

random_id!(
    /// A user (admin, staff or customer) of one workspace.
    UserId, "u"
);
random_id!(
    /// An API key (its public id; the secret is a token).
    ApiKeyId, "key"
);
random_id!(
    /// An external share of one ticket with one collaborator.
    ShareId, "sh"
);
random_id!(
    /// A file attached to a message.
    AttachmentId, "att"
);
random_id!(
    /// An outbound webhook endpoint of a workspace.
    EndpointId, "wh"
);

/// A workspace (store): a slug chosen at creation, lowercase letters, digits
/// and `-`, 2 to 32 characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WorkspaceId(String);

impl WorkspaceId {
    /// Parse and validate.
    pub fn parse(s: &str) -> Result<Self> {
        let ok = (2..=32).contains(&s.len())
            && s.bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-');
        if ok {
            Ok(Self(s.to_string()))
        } else {
            Err(Error::bad(
                "invalid_id",
                format!(
                    "{s:?} is not a valid workspace id (2-32 lowercase letters, digits and '-')"
                ),
            ))
        }
    }

    /// The text form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for WorkspaceId {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        Self::parse(&s)
    }
}

impl From<WorkspaceId> for String {
    fn from(id: WorkspaceId) -> String {
        id.0
    }
}

impl std::fmt::Display for WorkspaceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A ticket's number within its workspace (shown as `#22`), from an atomic
/// per-workspace counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TicketNo(pub u64);

impl TicketNo {
    /// Parse `22` or `#22`.
    pub fn parse(s: &str) -> Result<Self> {
        let digits = s.strip_prefix('#').unwrap_or(s);
        match digits.parse::<u64>() {
            Ok(n) if n > 0 && !digits.starts_with('+') => Ok(Self(n)),
            _ => Err(Error::bad(
                "invalid_id",
                format!("{s:?} is not a ticket number"),
            )),
        }
    }
}

impl std::fmt::Display for TicketNo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A message's position in its ticket's thread, from an atomic per-ticket
/// counter; orders the thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MessageSeq(pub u64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_reject_garbage() {
        let u = UserId::new([1; 16]);
        assert_eq!(UserId::parse(u.as_str()).unwrap(), u);
        for bad in [
            "",
            "u_",
            "x_bbbbbbbbbbbbbbbb",
            "u_BBBBBBBBBBBBBBBB",
            "u_bbbb",
        ] {
            assert!(UserId::parse(bad).is_err(), "{bad}");
        }
        assert!(WorkspaceId::parse("acme-store").is_ok());
        for bad in ["A", "-x", "x-", "a/b", "a"] {
            assert!(WorkspaceId::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(TicketNo::parse("#22").unwrap(), TicketNo(22));
        assert!(TicketNo::parse("0").is_err());
        assert!(TicketNo::parse("+3").is_err());
        let json = serde_json::to_string(&u).unwrap();
        assert!(serde_json::from_str::<UserId>("\"u_nope\"").is_err());
        assert_eq!(serde_json::from_str::<UserId>(&json).unwrap(), u);
    }
}
