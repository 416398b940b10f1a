//! The one error type of the domain: what went wrong, with a machine-readable
//! code and a message. The HTTP layer (`api::http::status`) chooses its status.

use crate::store::StoreError;

/// Everything that can go wrong in a domain operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The request is malformed or a field is invalid; `code` names the problem.
    BadRequest {
        /// Machine-readable code, e.g. `invalid_json`, `unknown_field`.
        code: &'static str,
        /// Human-readable detail naming the field or value.
        message: String,
    },
    /// No valid credentials.
    Unauthenticated,
    /// Authenticated, but the role or permission does not allow it.
    Forbidden(String),
    /// A change (POST, PUT, PATCH, DELETE) carrying the browser's ambient
    /// credentials (cookies) or a link page's form did not come from this
    /// site's own pages (`Sec-Fetch-Site` / `Origin`).
    CrossSite,
    /// Nothing there, or nothing this caller may know about (cross-workspace,
    /// cross-ticket, expired, revoked or unknown links all look the same).
    NotFound,
    /// No such endpoint (method and path match no route of the API).
    NoRoute,
    /// The path is served, but not with this method; `allow` lists the
    /// methods it is served with (`"GET, POST"`).
    MethodNotAllowed {
        /// The method asked for.
        method: String,
        /// The methods the path is served with.
        allow: String,
    },
    /// The request conflicts with the current state (lost a race, already done).
    Conflict(String),
    /// The body is larger than the endpoint accepts.
    PayloadTooLarge(usize),
    /// The body is not `application/json` (or the type the endpoint takes).
    UnsupportedMediaType,
    /// Well-formed but semantically refused (e.g. an idempotency key reused
    /// with another body).
    Unprocessable(String),
    /// Too many attempts; retry after this many seconds.
    RateLimited(u64),
    /// The store failed; details are logged, never sent.
    Store(StoreError),
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Error::Store(e)
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code(), self.message())
    }
}

impl std::error::Error for Error {}

impl Error {
    /// Shorthand for a [`Error::BadRequest`].
    pub fn bad(code: &'static str, message: impl Into<String>) -> Self {
        Error::BadRequest {
            code,
            message: message.into(),
        }
    }

    /// `other` in place of this error, unless this is a store failure: that
    /// stays (a 503 the client retries), since what was looked for may well
    /// exist.
    pub fn unless_store(self, other: Error) -> Error {
        match self {
            Error::Store(_) => self,
            _ => other,
        }
    }

    /// Machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::BadRequest { code, .. } => code,
            Error::Unauthenticated => "unauthenticated",
            Error::Forbidden(_) => "forbidden",
            Error::CrossSite => "cross_site_request",
            Error::NotFound => "not_found",
            Error::NoRoute => "no_route",
            Error::MethodNotAllowed { .. } => "method_not_allowed",
            Error::Conflict(_) => "conflict",
            Error::PayloadTooLarge(_) => "payload_too_large",
            Error::UnsupportedMediaType => "unsupported_media_type",
            Error::Unprocessable(_) => "unprocessable",
            Error::RateLimited(_) => "rate_limited",
            Error::Store(_) => "store_unavailable",
        }
    }

    /// Human-readable message; internals never leak from 5xx errors.
    pub fn message(&self) -> String {
        match self {
            Error::BadRequest { message, .. } => message.clone(),
            Error::Unauthenticated => "sign in or give a valid API key".into(),
            Error::Forbidden(why) => why.clone(),
            Error::CrossSite => "cross-site request refused: a change made with this site's cookies or on a page behind a link must come from this site's own pages (Sec-Fetch-Site same-origin, or Origin the public origin)".into(),
            Error::NotFound => "not found".into(),
            Error::NoRoute => "no such endpoint; see /api/v1/openapi.json".into(),
            Error::MethodNotAllowed { method, allow } => {
                format!("{method} is not served here; use {allow}")
            }
            Error::Conflict(why) => why.clone(),
            Error::PayloadTooLarge(limit) => format!("the body is larger than {limit} bytes"),
            Error::UnsupportedMediaType => "send the body as application/json".into(),
            Error::Unprocessable(why) => why.clone(),
            Error::RateLimited(secs) => format!("too many attempts; retry in {secs} s"),
            Error::Store(_) => "the store did not answer, so this change may or may not have been made; retry the request with the same Idempotency-Key and it is done exactly once".into(),
        }
    }
}

/// Turn a serde_json error into a 400 that names the problem.
pub fn json_error(e: serde_json::Error) -> Error {
    let msg = e.to_string();
    let code = if msg.starts_with("unknown field") {
        "unknown_field"
    } else if msg.starts_with("missing field") {
        "missing_field"
    } else if e.is_syntax() || e.is_eof() {
        "invalid_json"
    } else {
        "invalid_field"
    };
    Error::bad(code, msg)
}

/// Result of a domain operation.
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_messages() {
        let cases = [
            (Error::bad("invalid_json", "line 1"), "invalid_json"),
            (Error::NotFound, "not_found"),
            (Error::Conflict("taken by Ann".into()), "conflict"),
            (Error::CrossSite, "cross_site_request"),
            (
                Error::Store(StoreError("disk full at /x".into())),
                "store_unavailable",
            ),
        ];
        for (e, code) in cases {
            assert_eq!(e.code(), code);
        }
        let message = Error::Store(StoreError("disk full at /x".into())).message();
        assert!(
            !message.contains("disk"),
            "store failures hide internals: {message}"
        );
    }
}
