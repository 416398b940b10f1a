//! The one HTTP client of the tests and xtask, on `ureq`: a [`Client`] per
//! host (keep-alive when asked), the free functions tests call
//! ([`request`], [`request_exact`], [`try_request`]), and the retrying
//! client for hosts whose store fails at random.
//!
//! Redirects are never followed, every status is an answer (not an error),
//! and no header is added but `Host` and the body's `Content-Length`: what a
//! test sends is what the host gets. Bytes that `ureq` would refuse to send
//! (a malformed request line or header) go through [`crate::raw`].

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ureq::http;

/// A response.
#[derive(Debug, Clone)]
pub struct Resp {
    /// Status code.
    pub status: u16,
    /// Headers, names lowercased, in the order received.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Resp {
    /// Body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).to_string()
    }

    /// A header value (the first of that name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON, `Null` when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// An HTTP/1.1 client of one host (`127.0.0.1:port`).
#[derive(Clone)]
pub struct Client {
    addr: String,
    agent: ureq::Agent,
}

impl Client {
    /// A client that opens a fresh connection for every request and closes
    /// it after the answer, as the tests' requests always did.
    pub fn new(addr: &str) -> Client {
        Client::with(addr, 0, Duration::from_secs(60))
    }

    /// A client that keeps up to `conns` connections open between requests
    /// (for seeding many records quickly, from several threads).
    pub fn keep_alive(addr: &str, conns: usize) -> Client {
        Client::with(addr, conns, Duration::from_secs(60))
    }

    /// `conns` idle connections kept, `timeout` for each answer.
    pub fn with(addr: &str, conns: usize, timeout: Duration) -> Client {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .allow_non_standard_methods(true)
            .user_agent(ureq::config::AutoHeaderValue::None)
            .accept(ureq::config::AutoHeaderValue::None)
            .accept_encoding(ureq::config::AutoHeaderValue::None)
            .max_idle_connections(conns)
            .max_idle_connections_per_host(conns)
            .timeout_recv_response(Some(timeout))
            .timeout_recv_body(Some(timeout))
            .no_delay(true)
            .build();
        Client {
            addr: addr.to_string(),
            agent: config.new_agent(),
        }
    }

    /// The host this client talks to.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// One request with exactly these headers; `Err` when no answer came
    /// (nothing listening, the connection broke, a timeout).
    pub fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Resp, String> {
        let what = || format!("{method} http://{}{path}", self.addr);
        let mut req = http::Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(body.to_vec())
            .map_err(|e| format!("{}: cannot be sent with ureq ({e})", what()))?;
        let mut r = self
            .agent
            .run(req)
            .map_err(|e| format!("{}: {e}", what()))?;
        let status = r.status().as_u16();
        let headers = r
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = r
            .body_mut()
            .with_config()
            .limit(u64::MAX)
            .read_to_vec()
            .map_err(|e| format!("{}: reading the body: {e}", what()))?;
        Ok(Resp {
            status,
            headers,
            body,
        })
    }

    /// [`Client::send`] as the tests send it: to a host that fails at
    /// random (see [`mark_retrying`]) as a retrying client, and with
    /// `Sec-Fetch-Site: same-origin` unless `Sec-Fetch-Site` or `Origin` is
    /// given (see [`try_request`]).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Resp, String> {
        if retrying(&self.addr) {
            return Ok(as_a_retrying_client(self, method, path, headers, body));
        }
        self.send(method, path, &same_origin(headers), body)
    }
}

/// `headers` plus `Sec-Fetch-Site: same-origin` unless the caller gave
/// `Sec-Fetch-Site` or `Origin` itself.
fn same_origin<'a>(headers: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let given = headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("sec-fetch-site") || k.eq_ignore_ascii_case("origin"));
    let mut all = headers.to_vec();
    if !given {
        all.push(("Sec-Fetch-Site", "same-origin"));
    }
    all
}

/// One HTTP/1.1 request on a fresh connection; `None` when the server is
/// not there or the connection breaks before a response (a killed host).
///
/// Sent as a browser on the app's own pages sends it: `Sec-Fetch-Site:
/// same-origin`, unless the test gives `Sec-Fetch-Site` or `Origin` itself
/// (cross-site requests are refused; see [`request_exact`] to send no such
/// header at all).
pub fn try_request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<Resp> {
    try_request_exact(addr, method, path, &same_origin(headers), body)
}

/// [`try_request`] with exactly the given headers (no `Sec-Fetch-Site`
/// added).
pub fn try_request_exact(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<Resp> {
    Client::new(addr).send(method, path, headers, body).ok()
}

/// One HTTP/1.1 request on a fresh connection (panics when no response
/// comes); to a host started with store faults, as a retrying client.
pub fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    Client::new(addr)
        .request(method, path, headers, body)
        .unwrap_or_else(|e| panic!("no response: {e}"))
}

/// One request with exactly the given headers: no `Sec-Fetch-Site` added,
/// as a client that is not a browser, or an old one, sends it.
pub fn request_exact(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    Client::new(addr)
        .send(method, path, headers, body)
        .unwrap_or_else(|e| panic!("no response: {e}"))
}

/// Addresses of hosts started with `--simulate-store-faults`.
static RETRYING: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Talk to the host at `addr` as a retrying client from now on (its store
/// fails at random).
pub fn mark_retrying(addr: &str) {
    RETRYING.lock().unwrap().push(addr.to_string());
}

fn retrying(addr: &str) -> bool {
    RETRYING.lock().unwrap().iter().any(|a| a == addr)
}

/// Tries before a retrying client gives up on a request. A read of an inbox
/// list full of dead entries makes tens of store calls, one by one, so at
/// 10% simulated faults only about one try in a hundred gets through all of
/// them: a persistent client keeps trying (2 ms apart).
pub const CLIENT_TRIES: usize = 2000;

static TRIES: AtomicU64 = AtomicU64::new(0);

/// Requests sent so far by retrying clients (tries, not logical requests).
pub fn client_tries() -> u64 {
    TRIES.load(Ordering::Relaxed)
}

/// [`request`] to a host whose store fails at random, as the app tells
/// clients to behave: a POST carries an Idempotency-Key (its own, or a
/// fresh one), and an answer that the store did not answer (503
/// `store_unavailable`) or that the same request is still in progress (409)
/// is retried with the same key until it comes back otherwise. Returns the
/// final answer, and counts the tries (see [`client_tries`]).
pub fn request_as_a_retrying_client(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    as_a_retrying_client(&Client::new(addr), method, path, headers, body)
}

fn as_a_retrying_client(
    client: &Client,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    static KEYS: AtomicU64 = AtomicU64::new(0);
    let own = headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("idempotency-key"));
    let key = format!(
        "retrying-client-{}-{}",
        std::process::id(),
        KEYS.fetch_add(1, Ordering::Relaxed)
    );
    let mut all = same_origin(headers);
    if method == "POST" && !own {
        all.push(("Idempotency-Key", &key));
    }
    let mut last = String::new();
    for _ in 0..CLIENT_TRIES {
        TRIES.fetch_add(1, Ordering::Relaxed);
        let r = client
            .send(method, path, &all, body)
            .unwrap_or_else(|e| panic!("no response: {e}"));
        let again = r.status == 503 || (r.status == 409 && r.text().contains("still in progress"));
        if std::env::var_os("TICKETSHARE_TRACE_RETRIES").is_some() {
            eprintln!(
                "retrying client: {method} {path} -> {} {}",
                r.status,
                r.text().chars().take(120).collect::<String>()
            );
        }
        assert!(
            r.status < 500 || r.status == 503,
            "{method} {path}: {} {}",
            r.status,
            r.text()
        );
        if !again {
            return r;
        }
        last = format!("{} {}", r.status, r.text());
        std::thread::sleep(Duration::from_millis(2));
    }
    panic!("{method} {path}: still failing after {CLIENT_TRIES} tries; last: {last}");
}
