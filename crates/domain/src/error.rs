//! The one error type of the domain, and the one place where an error becomes
//! an HTTP status and a JSON body (`{"error": {"code": "...", "message": "..."}}`).

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

    /// The HTTP status for this error. The only place a status is chosen.
    pub fn status(&self) -> u16 {
        match self {
            Error::BadRequest { .. } => 400,
            Error::Unauthenticated => 401,
            Error::Forbidden(_) | Error::CrossSite => 403,
            Error::NotFound | Error::NoRoute => 404,
            Error::Conflict(_) => 409,
            Error::PayloadTooLarge(_) => 413,
            Error::UnsupportedMediaType => 415,
            Error::Unprocessable(_) => 422,
            Error::RateLimited(_) => 429,
            // The store failed or did not answer: the change may or may not
            // have been made, and a retry settles it.
            Error::Store(_) => 503,
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
            Error::Conflict(why) => why.clone(),
            Error::PayloadTooLarge(limit) => format!("the body is larger than {limit} bytes"),
            Error::UnsupportedMediaType => "send the body as application/json".into(),
            Error::Unprocessable(why) => why.clone(),
            Error::RateLimited(secs) => format!("too many attempts; retry in {secs} s"),
            Error::Store(_) => "the store did not answer, so this change may or may not have been made; retry the request with the same Idempotency-Key and it is done exactly once".into(),
        }
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({ "error": { "code": self.code(), "message": self.message() } })
    }
}

/// Result of a domain operation.
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_bodies() {
        let cases = [
            (Error::bad("invalid_json", "line 1"), 400, "invalid_json"),
            (Error::NotFound, 404, "not_found"),
            (Error::Conflict("taken by Ann".into()), 409, "conflict"),
            (Error::CrossSite, 403, "cross_site_request"),
            (
                Error::Store(StoreError("disk full at /x".into())),
                503,
                "store_unavailable",
            ),
        ];
        for (e, status, code) in cases {
            assert_eq!(e.status(), status);
            assert_eq!(e.body()["error"]["code"], code);
        }
        let body = Error::Store(StoreError("disk full at /x".into()))
            .body()
            .to_string();
        assert!(!body.contains("disk"), "5xx bodies hide internals: {body}");
    }
}
