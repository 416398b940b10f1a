//! Plain request/response values for the API, and the strict JSON body rules
//! every endpoint shares (content type, size limit, unknown fields). Components
//! convert Spin's request into [`Request`] and [`Response`] back; nothing here
//! touches the network.

use domain::error::{Error, Result, json_error};
use domain::form::percent_decode;
use serde::de::DeserializeOwned;

/// Largest JSON body an API endpoint accepts by default.
pub const MAX_JSON_BODY: usize = 64 * 1024;

/// An HTTP request, as the domain sees it.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// Upper-case method.
    pub method: String,
    /// Path without the query string.
    pub path: String,
    /// Raw query string (without `?`).
    pub query: String,
    /// Headers with lower-case names.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Request {
    /// A header value (names are matched case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A query parameter (first occurrence), percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k) == name).then(|| percent_decode(v))
        })
    }

    /// Parse the JSON body strictly: `application/json`, at most `limit`
    /// bytes, valid JSON, no unknown fields (the target type must use
    /// `#[serde(deny_unknown_fields)]`).
    pub fn json<T: DeserializeOwned>(&self, limit: usize) -> Result<T> {
        if self.body.len() > limit {
            return Err(Error::PayloadTooLarge(limit));
        }
        let ctype = self.header("content-type").unwrap_or("");
        let mime = ctype.split(';').next().unwrap_or("").trim();
        if !mime.eq_ignore_ascii_case("application/json") {
            return Err(Error::UnsupportedMediaType);
        }
        serde_json::from_slice(&self.body).map_err(json_error)
    }
}

/// An HTTP response, as the domain produces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
    /// Details of an internal error, for the adapter to log (never sent).
    pub internal: Option<String>,
    /// The body carries a secret shown once (an API key, a login link): it
    /// is never stored for idempotent replay.
    pub secret: bool,
    /// Work for the adapter to do once the response is sent: emails to
    /// hand to the mail provider, messages to index for search, webhook
    /// deliveries to attempt.
    pub after: domain::after::After,
}

impl Response {
    /// A JSON response.
    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        Self {
            status,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("cache-control".into(), "no-store".into()),
                ("x-content-type-options".into(), "nosniff".into()),
            ],
            body: value.to_string().into_bytes(),
            internal: None,
            secret: false,
            after: Default::default(),
        }
    }

    /// The response for an error: its status ([`status`]), the JSON body
    /// `{"error": {"code": "...", "message": "..."}}`, and the headers the
    /// status calls for (`Allow` on a 405, `Retry-After` on a 503).
    pub fn error(e: &Error) -> Self {
        let body = serde_json::json!({ "error": { "code": e.code(), "message": e.message() } });
        let mut r = Self::json(status(e), &body);
        match e {
            Error::Store(inner) => {
                r.internal = Some(inner.to_string());
                r = r.with_header("retry-after", "1");
            }
            Error::MethodNotAllowed { allow, .. } => r = r.with_header("allow", allow),
            _ => {}
        }
        r
    }

    /// Mark the body as carrying a secret.
    pub fn with_secret(mut self) -> Self {
        self.secret = true;
        self
    }

    /// Add a header.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// This answer under entity tag `etag` ([`etag`]), which the client
    /// may keep and must revalidate before each use: `ETag`, and
    /// `Cache-Control: private, no-cache` in place of `no-store`.
    pub fn with_etag(mut self, etag: &str) -> Self {
        self.headers
            .retain(|(k, _)| k != "cache-control" && k != "etag");
        self.headers
            .push(("cache-control".into(), REVALIDATE.into()));
        self.headers.push(("etag".into(), etag.into()));
        self
    }

    /// `304 Not Modified` for entity tag `etag`: no body, the tag and the
    /// caching rule of the answer it stands for ([`Response::with_etag`]).
    pub fn not_modified(etag: &str) -> Self {
        let mut r = Self::json(304, &serde_json::Value::Null);
        r.body.clear();
        r.headers.retain(|(k, _)| k != "content-type");
        r.with_etag(etag)
    }
}

/// How a tagged answer may be kept: by the one client, revalidated before
/// every use (`If-None-Match`).
pub const REVALIDATE: &str = "private, no-cache";

/// Longest `If-None-Match` looked at; a longer one matches nothing (the
/// full answer is sent, as to a client that holds no tag).
pub const MAX_IF_NONE_MATCH: usize = 8 * 1024;

/// A strong entity tag naming one state of an answer: the quoted hex of
/// the SHA-256 of `parts` (each length-prefixed, so no two lists of parts
/// give the same bytes). The parts are what the answer depends on: its
/// kind, the caller, the query and the change markers read before the
/// data.
pub fn etag(parts: &[&str]) -> String {
    let bytes: Vec<&[u8]> = parts.iter().map(|p| p.as_bytes()).collect();
    etag_of_bytes(&bytes)
}

/// [`etag`] of byte strings (numbers, flags and text side by side).
pub fn etag_of_bytes(parts: &[&[u8]]) -> String {
    format!("\"{}\"", &sha_hex(parts)[..32])
}

/// The hex SHA-256 of `parts`, each length-prefixed (no two lists of parts
/// give the same bytes).
pub(crate) fn sha_hex(parts: &[&[u8]]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    domain::token::hex(&h.finalize())
}

/// Whether the request's `If-None-Match` names `etag` (RFC 9110 13.1.2:
/// `*`, or a comma-separated list of entity tags compared weakly, so a
/// `W/` prefix is ignored). A header that is too long
/// ([`MAX_IF_NONE_MATCH`]) or is not such a list matches nothing: the full
/// answer is sent, never an error.
pub fn if_none_match(req: &Request, etag: &str) -> bool {
    names_tag(req.header("if-none-match"), etag)
}

/// Whether `header`, an `If-None-Match` value if one was sent, names
/// `etag` ([`if_none_match`]'s rule).
pub fn names_tag(header: Option<&str>, etag: &str) -> bool {
    let Some(header) = header else {
        return false;
    };
    if header.len() > MAX_IF_NONE_MATCH {
        return false;
    }
    let want = etag.trim_matches('"');
    let blank: &[char] = &[' ', '\t'];
    let mut rest = header.trim_matches(blank).trim_start_matches(',');
    if rest == "*" {
        return true;
    }
    let mut found = false;
    while !rest.is_empty() {
        let tagged = rest.strip_prefix("W/").unwrap_or(rest);
        let Some(quoted) = tagged.strip_prefix('"') else {
            return false;
        };
        let Some(end) = quoted.find('"') else {
            return false;
        };
        found |= &quoted[..end] == want;
        // Then the end, or a comma (with optional spaces) and the next tag.
        rest = quoted[end + 1..].trim_start_matches(blank);
        if !rest.is_empty() {
            let Some(next) = rest.strip_prefix(',') else {
                return false;
            };
            rest = next.trim_start_matches([' ', '\t', ',']);
        }
    }
    found
}

/// The answer to a conditional GET under `etag`: `304` when the request's
/// `If-None-Match` names it, else `full()` (the data read only then) with
/// the tag.
pub fn conditional(
    req: &Request,
    etag: &str,
    full: impl FnOnce() -> Result<Response>,
) -> Result<Response> {
    if if_none_match(req, etag) {
        return Ok(Response::not_modified(etag));
    }
    Ok(full()?.with_etag(etag))
}

/// The HTTP status for an error: the only place an error's status is chosen.
pub fn status(e: &Error) -> u16 {
    match e {
        Error::BadRequest { .. } => 400,
        Error::Unauthenticated => 401,
        Error::Forbidden(_) | Error::CrossSite => 403,
        Error::NotFound | Error::NoRoute => 404,
        Error::MethodNotAllowed { .. } => 405,
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

impl From<Result<Response>> for Response {
    fn from(r: Result<Response>) -> Self {
        r.unwrap_or_else(|e| Response::error(&e))
    }
}

pub(crate) fn segments(path: &str) -> Option<Vec<&str>> {
    let rest = path.strip_prefix("/api/v1")?;
    Some(rest.split('/').filter(|s| !s.is_empty()).collect())
}

pub(crate) fn limit(req: &Request) -> Result<usize> {
    match req.query_param("limit") {
        None => Ok(25),
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=domain::thread::MAX_PAGE).contains(n))
            .ok_or_else(|| {
                Error::bad(
                    "invalid_query",
                    format!("limit must be 1 to {}", domain::thread::MAX_PAGE),
                )
            }),
    }
}

pub(crate) fn cursor(req: &Request) -> Result<Option<u64>> {
    match req.query_param("cursor") {
        None => Ok(None),
        Some(c) => c
            .parse::<u64>()
            .map(Some)
            .map_err(|_| Error::bad("invalid_query", "cursor is not valid")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
    }

    fn req(ctype: &str, body: &str) -> Request {
        Request {
            method: "POST".into(),
            headers: vec![("content-type".into(), ctype.into())],
            body: body.as_bytes().to_vec(),
            ..Default::default()
        }
    }

    #[test]
    fn strict_json_bodies() {
        let cases = [
            (req("application/json", r#"{"name":"a"}"#), None),
            (
                req("application/json; charset=utf-8", r#"{"name":"a"}"#),
                None,
            ),
            (
                req("text/plain", r#"{"name":"a"}"#),
                Some("unsupported_media_type"),
            ),
            (
                req("application/json", r#"{"name":"a","x":1}"#),
                Some("unknown_field"),
            ),
            (req("application/json", r#"{"name":"#), Some("invalid_json")),
            (req("application/json", r#"{}"#), Some("missing_field")),
            (
                req("application/json", r#"{"name":3}"#),
                Some("invalid_field"),
            ),
            (
                req(
                    "application/json",
                    &format!(r#"{{"name":"{}"}}"#, "a".repeat(100)),
                ),
                Some("payload_too_large"),
            ),
        ];
        for (r, want) in cases {
            let got = r.json::<Body>(64).err().map(|e| e.code());
            assert_eq!(got, want, "{:?}", String::from_utf8_lossy(&r.body));
        }
    }

    #[test]
    fn query_params() {
        let r = Request {
            query: "a=1&b=x%20y&c=%zz&d=+".into(),
            ..Default::default()
        };
        assert_eq!(r.query_param("a").as_deref(), Some("1"));
        assert_eq!(r.query_param("b").as_deref(), Some("x y"));
        assert_eq!(r.query_param("c").as_deref(), Some("%zz"));
        assert_eq!(r.query_param("d").as_deref(), Some(" "));
        assert_eq!(r.query_param("e"), None);
    }

    #[test]
    fn if_none_match_lists_weak_tags_and_star() {
        let tag = etag(&["thread", "1"]);
        assert_eq!(tag, etag(&["thread", "1"]));
        assert_ne!(tag, etag(&["thread1"]), "parts are length-prefixed");
        let with = |v: &str| Request {
            headers: vec![("if-none-match".into(), v.into())],
            ..Default::default()
        };
        let weak = format!("W/{tag}");
        let listed = format!("\"a\",  W/\"b\" ,{tag},");
        let after_junk = format!("\"a\" junk, {tag}");
        let glued = format!("{tag}x");
        let unquoted = tag.trim_matches('"').to_string();
        let huge = format!("{tag},{}", " ".repeat(MAX_IF_NONE_MATCH));
        let cases: [(&str, bool); 12] = [
            (&tag, true),
            (&weak, true),
            (&listed, true),
            ("*", true),
            (" * ", true),
            ("\"other\"", false),
            ("", false),
            (&after_junk, false),
            (&glued, false),
            (&unquoted, false),
            (&huge, false),
            ("\"a\", *", false),
        ];
        for (header, want) in cases {
            assert_eq!(if_none_match(&with(header), &tag), want, "{header:?}");
        }
        assert!(!if_none_match(&Request::default(), &tag));
        let r = Response::not_modified(&tag);
        assert_eq!((r.status, r.body.len()), (304, 0));
        assert!(r.headers.contains(&("etag".into(), tag.clone())));
        assert!(
            r.headers
                .contains(&("cache-control".into(), REVALIDATE.into()))
        );
        let r = Response::json(200, &serde_json::json!({})).with_etag(&tag);
        assert_eq!(
            r.headers
                .iter()
                .filter(|(k, _)| k == "cache-control")
                .count(),
            1
        );
    }

    #[test]
    fn statuses_and_bodies() {
        let cases = [
            (Error::bad("invalid_json", "line 1"), 400, "invalid_json"),
            (Error::NotFound, 404, "not_found"),
            (Error::Conflict("taken by Ann".into()), 409, "conflict"),
            (Error::CrossSite, 403, "cross_site_request"),
            (
                Error::MethodNotAllowed {
                    method: "PUT".into(),
                    allow: "GET, POST".into(),
                },
                405,
                "method_not_allowed",
            ),
            (
                Error::Store(domain::store::StoreError("disk full at /x".into())),
                503,
                "store_unavailable",
            ),
        ];
        for (e, code, name) in cases {
            let r = Response::error(&e);
            assert_eq!(r.status, code);
            let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            assert_eq!(body["error"]["code"], name);
        }
        let r = Response::error(&Error::MethodNotAllowed {
            method: "PUT".into(),
            allow: "GET, POST".into(),
        });
        assert!(r.headers.contains(&("allow".into(), "GET, POST".into())));
        let r = Response::error(&Error::Store(domain::store::StoreError(
            "disk full at /x".into(),
        )));
        let body = String::from_utf8_lossy(&r.body);
        assert!(!body.contains("disk"), "5xx bodies hide internals: {body}");
    }
}
