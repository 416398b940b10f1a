//! Static-file responses, as one pure function (the spin-fileserver pattern):
//! [`respond`] takes the request facts and a file reader and returns status,
//! headers and body. The `pages` component only adapts it to HTTP, so every
//! rule here is unit-tested natively.

/// The Content-Security-Policy every page is served with: nothing from any
/// origin but our own, no inline script.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// A response to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Headers, in order.
    pub headers: Vec<(&'static str, String)>,
    /// Body (empty for HEAD and 304).
    pub body: Vec<u8>,
}

/// Content type for a file name, by extension.
pub fn content_type(path: &str) -> &'static str {
    let ext = path
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "ico" => "image/x-icon",
        "webp" => "image/webp",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        "webmanifest" => "application/manifest+json",
        _ => "application/octet-stream",
    }
}

/// A strong ETag from the content (64-bit FNV-1a).
pub fn etag(body: &[u8]) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in body {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("\"{h:016x}-{}\"", body.len())
}

fn security_headers(headers: &mut Vec<(&'static str, String)>) {
    headers.push(("content-security-policy", CSP.to_string()));
    headers.push(("x-content-type-options", "nosniff".to_string()));
    headers.push(("referrer-policy", "no-referrer".to_string()));
    headers.push(("x-frame-options", "DENY".to_string()));
}

/// Candidate file paths for a request path, or `None` when the path is unsafe.
fn candidates(path: &str) -> Option<Vec<String>> {
    let path = path.split(['?', '#']).next().unwrap_or("");
    if !path.starts_with('/') || path.contains('\\') || path.contains('\0') || path.contains("%") {
        return None;
    }
    if path
        .split('/')
        .any(|s| s == ".." || s == "." || s.starts_with('.') && !s.is_empty())
    {
        return None;
    }
    if path.ends_with('/') {
        return Some(vec![format!("{path}index.html")]);
    }
    let last = path.rsplit('/').next().unwrap_or("");
    if last.contains('.') {
        Some(vec![path.to_string()])
    } else {
        Some(vec![format!("{path}.html"), format!("{path}/index.html")])
    }
}

/// Answer a request for a static file.
///
/// `read` returns a file's bytes by absolute path (e.g. `/index.html`), or
/// `None` when there is no such file.
pub fn respond(
    method: &str,
    path: &str,
    if_none_match: Option<&str>,
    read: impl Fn(&str) -> Option<Vec<u8>>,
) -> Reply {
    let mut headers = Vec::new();
    security_headers(&mut headers);
    if method != "GET" && method != "HEAD" {
        headers.push(("allow", "GET, HEAD".to_string()));
        headers.push(("content-type", "text/plain; charset=utf-8".to_string()));
        return Reply {
            status: 405,
            headers,
            body: b"Method Not Allowed\n".to_vec(),
        };
    }
    let found = candidates(path).and_then(|c| c.into_iter().find_map(|p| read(&p).map(|b| (p, b))));
    let Some((file, body)) = found else {
        headers.push(("content-type", "text/html; charset=utf-8".to_string()));
        headers.push(("cache-control", "no-store".to_string()));
        let page = read("/404.html").unwrap_or_else(|| {
            b"<!doctype html><title>Not found</title><h1>Not found</h1>\n".to_vec()
        });
        return Reply {
            status: 404,
            headers,
            body: if method == "HEAD" { Vec::new() } else { page },
        };
    };
    let tag = etag(&body);
    headers.push(("etag", tag.clone()));
    headers.push(("cache-control", "no-cache".to_string()));
    if if_none_match.is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*")) {
        return Reply {
            status: 304,
            headers,
            body: Vec::new(),
        };
    }
    headers.push(("content-type", content_type(&file).to_string()));
    Reply {
        status: 200,
        headers,
        body: if method == "HEAD" { Vec::new() } else { body },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(p: &str) -> Option<Vec<u8>> {
        match p {
            "/index.html" => Some(b"<h1>home</h1>".to_vec()),
            "/console.html" => Some(b"console".to_vec()),
            "/app.js" => Some(b"js".to_vec()),
            "/docs/index.html" => Some(b"docs".to_vec()),
            _ => None,
        }
    }

    fn header<'a>(r: &'a Reply, name: &str) -> Option<&'a str> {
        r.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn table() {
        let cases = [
            (
                "GET",
                "/",
                200,
                Some("text/html; charset=utf-8"),
                "<h1>home</h1>",
            ),
            (
                "GET",
                "/console",
                200,
                Some("text/html; charset=utf-8"),
                "console",
            ),
            (
                "GET",
                "/app.js",
                200,
                Some("text/javascript; charset=utf-8"),
                "js",
            ),
            (
                "GET",
                "/docs",
                200,
                Some("text/html; charset=utf-8"),
                "docs",
            ),
            (
                "GET",
                "/docs/",
                200,
                Some("text/html; charset=utf-8"),
                "docs",
            ),
            (
                "HEAD",
                "/app.js",
                200,
                Some("text/javascript; charset=utf-8"),
                "",
            ),
            (
                "GET",
                "/missing.css",
                404,
                Some("text/html; charset=utf-8"),
                "<!doctype html><title>Not found</title><h1>Not found</h1>\n",
            ),
            (
                "GET",
                "/../etc/passwd",
                404,
                Some("text/html; charset=utf-8"),
                "<!doctype html><title>Not found</title><h1>Not found</h1>\n",
            ),
            (
                "GET",
                "/.git/config",
                404,
                Some("text/html; charset=utf-8"),
                "<!doctype html><title>Not found</title><h1>Not found</h1>\n",
            ),
            (
                "GET",
                "/%2e%2e/x",
                404,
                Some("text/html; charset=utf-8"),
                "<!doctype html><title>Not found</title><h1>Not found</h1>\n",
            ),
            (
                "POST",
                "/",
                405,
                Some("text/plain; charset=utf-8"),
                "Method Not Allowed\n",
            ),
        ];
        for (method, path, status, ctype, body) in cases {
            let r = respond(method, path, None, files);
            assert_eq!(r.status, status, "{method} {path}");
            assert_eq!(header(&r, "content-type"), ctype, "{method} {path}");
            assert_eq!(String::from_utf8_lossy(&r.body), body, "{method} {path}");
            assert_eq!(header(&r, "content-security-policy"), Some(CSP));
        }
    }

    #[test]
    fn etag_revalidation() {
        let first = respond("GET", "/", None, files);
        let tag = header(&first, "etag").unwrap().to_string();
        let again = respond("GET", "/", Some(&tag), files);
        assert_eq!(again.status, 304);
        assert!(again.body.is_empty());
        assert_eq!(respond("GET", "/", Some("\"other\""), files).status, 200);
    }
}
