//! The HTTP listener: route each request to its component, add Spin's request
//! headers, run the component in a fresh store under a deadline and a memory cap,
//! and turn any trap into a plain 500 (details in the host's log), writing
//! the access log when asked.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, combinators::UnsyncBoxBody};
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::{Store, StoreLimitsBuilder, UpdateDeadline};
use wasmtime_wasi::{FsPerms, WasiCtx};
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;

use crate::app::App;
use crate::clock::ClockShift;
use crate::logs::{AccessEntry, LogFormat};
use crate::state::State;

/// Response body type for every response the host sends.
pub type Body = UnsyncBoxBody<Bytes, wasmtime_wasi_http::Error>;

/// Path of the test-only clock endpoint (404 unless clock shifting is enabled).
pub const CLOCK_PATH: &str = "/.well-known/ticketshare/clock";

/// Serving settings.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Reading a request's body (408) and waiting for a slot (503) must end
    /// this long after its head arrived; the component then runs for at most
    /// this long (500), its outgoing requests included. Also how long a
    /// client may take no response bytes before its connection is dropped.
    pub request_timeout: Duration,
    /// Memory cap per instance, in bytes.
    pub max_memory: usize,
    /// Requests handled at once; more wait for a slot.
    pub max_in_flight: usize,
    /// Print one line per request in this format (`--access-log`); the
    /// path redacted, never the query or headers.
    pub access_log: Option<LogFormat>,
    /// Allow tests to shift the wall clock components see.
    pub allow_clock_shift: bool,
    /// Largest request body accepted, in bytes (counted as it arrives, so a
    /// chunked body is held to it too).
    pub max_body: u64,
    /// Longest wait for a request's head, counted from when the connection
    /// starts waiting for one (its accept, or the end of the previous
    /// response on a kept-alive connection).
    pub header_timeout: Duration,
    /// Connections open at once; one more is answered 503 and closed.
    pub max_connections: usize,
    /// BENCHMARKS ONLY: add [`STORE_CALLS_HEADER`] to component responses
    /// (`--report-store-calls`).
    pub report_store_calls: bool,
}

/// Response header (only with `--report-store-calls`): the component's
/// key-value calls made before its response head, one per call (a batch is
/// one).
pub const STORE_CALLS_HEADER: &str = "x-ticketshare-store-calls";

/// Request bodies held in memory at once, across all requests, before a
/// component runs (at least this, or four of the largest bodies).
const BODY_BUDGET: u64 = 256 << 20;

/// A running application server.
pub struct Server {
    app: App,
    opts: ServeOptions,
    permits: Arc<Semaphore>,
    connections: Arc<crate::conns::Connections>,
    body_budget: Arc<Semaphore>,
    clock: ClockShift,
    started: Instant,
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut r = Response::new(
        Full::new(Bytes::from_static(body.as_bytes()))
            .map_err(|n: Infallible| match n {})
            .boxed_unsync(),
    );
    *r.status_mut() = status;
    if !body.is_empty() {
        r.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
    }
    r
}

fn json(status: StatusCode, value: serde_json::Value) -> Response<Body> {
    let mut r = Response::new(
        Full::new(Bytes::from(value.to_string()))
            .map_err(|n: Infallible| match n {})
            .boxed_unsync(),
    );
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

impl Server {
    /// Wrap a loaded app.
    pub fn new(app: App, opts: ServeOptions) -> Arc<Self> {
        let permits = Arc::new(Semaphore::new(opts.max_in_flight));
        let connections = crate::conns::Connections::new(opts.max_connections);
        let budget = BODY_BUDGET.max(opts.max_body.saturating_mul(4));
        let body_budget = Arc::new(Semaphore::new(
            budget.min(Semaphore::MAX_PERMITS as u64) as usize
        ));
        Arc::new(Self {
            app,
            opts,
            permits,
            connections,
            body_budget,
            clock: ClockShift::default(),
            started: Instant::now(),
        })
    }

    /// Accept connections forever. Also starts the epoch ticker that enforces
    /// request deadlines.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) -> Result<()> {
        let engine = self.app.engine.clone();
        std::thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_millis(10));
                    engine.increment_epoch();
                }
            })?;
        loop {
            let (stream, client) = match listener.accept().await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            // At the bound, the longest-idle connection makes room; only
            // when every connection is serving a request is this one refused.
            let Some((slot, evicted)) = self.connections.admit() else {
                tokio::spawn(refuse_connection(stream));
                continue;
            };
            let server = self.clone();
            tokio::spawn(async move {
                let slot = Arc::new(slot);
                let header_timeout = server.opts.header_timeout;
                // A client that stops reading is dropped after the request
                // deadline without progress, freeing the instance writing to it.
                let io = crate::stall::WriteStallGuard::new(stream, server.opts.request_timeout);
                let service = hyper::service::service_fn(move |req| {
                    let server = server.clone();
                    // Busy from the head's arrival until the response body
                    // is handed over: not evictable meanwhile.
                    let busy = slot.busy();
                    async move {
                        let resp = server.handle(req, client).await;
                        Ok::<_, Infallible>(resp.map(|body| {
                            WatchedBody::new(
                                body,
                                Held {
                                    _held: Box::new(busy),
                                },
                            )
                            .boxed_unsync()
                        }))
                    }
                });
                // The head must arrive within `header_timeout` of the moment
                // hyper starts waiting for it (the accept, or the end of the
                // previous response), so an idle kept-alive connection is
                // closed after it too.
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(header_timeout)
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(io), service);
                tokio::select! {
                    _ = conn => {}
                    _ = evicted => {} // dropped: the socket closes
                }
            });
        }
    }

    /// Handle one request, and log it when the access log is on.
    pub async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
        client: SocketAddr,
    ) -> Response<Body> {
        let Some(format) = self.opts.access_log else {
            return self.respond(req, client, &mut None).await;
        };
        let start = Instant::now();
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        let mut route = None;
        let resp = self.clone().respond(req, client, &mut route).await;
        let pattern = route.map(|i| self.app.route_pattern(i).raw());
        let component = route.map(|i| self.app.components[self.app.targets[i]].id.clone());
        let entry = AccessEntry {
            start,
            method,
            path: crate::logs::redact_path(&path, pattern),
            route: pattern.map(str::to_string),
            component,
            status: resp.status().as_u16(),
        };
        resp.map(|body| {
            let logged = Logged {
                entry,
                format,
                bytes: 0,
            };
            WatchedBody::new(body, logged).boxed_unsync()
        })
    }

    /// Answer one request; `route` is set to the index of the route that
    /// matched, if one did.
    async fn respond(
        self: Arc<Self>,
        req: Request<Incoming>,
        client: SocketAddr,
        route: &mut Option<usize>,
    ) -> Response<Body> {
        let start = Instant::now();
        let path = req.uri().path().to_string();
        match path.as_str() {
            "/.well-known/spin/health" => return text(StatusCode::OK, "OK"),
            "/.well-known/spin/info" => {
                return json(
                    StatusCode::OK,
                    serde_json::json!({
                        "host": "ticketshare-host",
                        "version": env!("CARGO_PKG_VERSION"),
                        "application": self.app.name,
                        "components": self.app.components.iter().map(|c| c.id.clone()).collect::<Vec<_>>(),
                        "uptime_seconds": self.started.elapsed().as_secs(),
                    }),
                );
            }
            CLOCK_PATH if self.opts.allow_clock_shift => return self.clock_endpoint(req).await,
            // The rest of the reserved space is the host's, and empty (as in Spin).
            p if p.starts_with("/.well-known/spin/") => return text(StatusCode::NOT_FOUND, ""),
            _ => {}
        }
        let Some(m) = self.app.router.route(&path) else {
            return text(StatusCode::NOT_FOUND, "");
        };
        *route = Some(m.index);
        let pattern = self.app.route_pattern(m.index).raw().to_string();
        let method = req.method().clone();
        // Reading the body and waiting for a slot spend the request timeout
        // from the head's arrival; the component then has a whole one (a
        // request that waited long must not trap at its first instruction).
        let deadline = start + self.opts.request_timeout;
        match self.clone().admit(req, deadline).await {
            Err(refusal) => {
                tracing::info!("{method} {pattern}: refused: {}", refusal.message);
                refusal.response()
            }
            Ok((req, budget)) => {
                let r = match self.clone().run(req, client, m, deadline).await {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::error!("error in component for route {pattern}: {e:?}");
                        text(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
                    }
                };
                drop(budget);
                r
            }
        }
    }

    async fn clock_endpoint(&self, req: Request<Incoming>) -> Response<Body> {
        if req.method() == http::Method::GET {
            return json(
                StatusCode::OK,
                serde_json::json!({ "offset_seconds": self.clock.offset() }),
            );
        }
        if req.method() != http::Method::POST {
            return json(
                StatusCode::METHOD_NOT_ALLOWED,
                serde_json::json!({ "error": "use GET or POST" }),
            );
        }
        let body = match req.into_body().collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => {
                return json(
                    StatusCode::BAD_REQUEST,
                    serde_json::json!({ "error": "unreadable body" }),
                );
            }
        };
        let offset = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("offset_seconds").and_then(|o| o.as_i64()));
        match offset {
            Some(o) => {
                self.clock.set(o);
                json(StatusCode::OK, serde_json::json!({ "offset_seconds": o }))
            }
            None => json(
                StatusCode::BAD_REQUEST,
                serde_json::json!({ "error": "expected {\"offset_seconds\": <integer>}" }),
            ),
        }
    }

    /// Check a request before any component sees it: header values, then the
    /// body, read whole within the size limit, the deadline and the
    /// process-wide body budget. A request refused here never holds a slot.
    async fn admit(
        self: Arc<Self>,
        req: Request<Incoming>,
        deadline: Instant,
    ) -> Result<(Request<Full<Bytes>>, Option<OwnedSemaphorePermit>), Refusal> {
        for (name, value) in req.headers() {
            if !value
                .as_bytes()
                .iter()
                .all(|&b| b == b'\t' || (0x20..0x7f).contains(&b))
            {
                return Err(Refusal::new(
                    StatusCode::BAD_REQUEST,
                    "bad_header",
                    format!("the value of header `{name}` is not printable ASCII"),
                ));
            }
        }
        let max = self.opts.max_body;
        let declared = req
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > max) {
            return Err(Refusal::too_large(max));
        }
        let (parts, mut body) = req.into_parts();
        let mut buf = bytes::BytesMut::new();
        // Bodies are held in memory from here until the component ends: each
        // piece takes its size from the shared budget first.
        let mut budget: Option<OwnedSemaphorePermit> = None;
        loop {
            let frame = match tokio::time::timeout_at(deadline.into(), body.frame()).await {
                Err(_) => {
                    return Err(Refusal::new(
                        StatusCode::REQUEST_TIMEOUT,
                        "request_timeout",
                        format!(
                            "the request body did not arrive within {} s",
                            self.opts.request_timeout.as_secs_f64()
                        ),
                    ));
                }
                Ok(None) => break,
                Ok(Some(Err(e))) => {
                    return Err(Refusal::new(
                        StatusCode::BAD_REQUEST,
                        "bad_body",
                        format!("the request body could not be read: {e}"),
                    ));
                }
                Ok(Some(Ok(f))) => f,
            };
            let Ok(data) = frame.into_data() else {
                continue; // trailers
            };
            if buf.len() as u64 + data.len() as u64 > max {
                return Err(Refusal::too_large(max));
            }
            if !data.is_empty() {
                let Ok(p) = self
                    .body_budget
                    .clone()
                    .try_acquire_many_owned(data.len() as u32)
                else {
                    return Err(Refusal::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "busy",
                        "too many request bodies are in flight; try again".to_string(),
                    ));
                };
                match budget.as_mut() {
                    Some(b) => b.merge(p),
                    None => budget = Some(p),
                }
            }
            buf.extend_from_slice(&data);
        }
        Ok((Request::from_parts(parts, Full::new(buf.freeze())), budget))
    }

    /// Run the component for a request admitted before `admitted_by`: a
    /// slot must come free by then (else 503); the component then has the
    /// whole request timeout, from the moment it gets its slot.
    async fn run(
        self: Arc<Self>,
        mut req: Request<Full<Bytes>>,
        client: SocketAddr,
        m: crate::router::RouteMatch,
        admitted_by: Instant,
    ) -> Result<Response<Body>> {
        let permit =
            match tokio::time::timeout_at(admitted_by.into(), self.permits.clone().acquire_owned())
                .await
            {
                Ok(p) => p?,
                Err(_) => {
                    return Ok(Refusal::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "busy",
                        "no slot became free before the request deadline; try again".to_string(),
                    )
                    .response());
                }
            };
        let deadline = Instant::now() + self.opts.request_timeout;
        let target = self.app.targets[m.index];
        let comp = &self.app.components[target];
        let pattern = self.app.route_pattern(m.index);

        // Spin's request headers.
        let host = req
            .headers()
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string)
            .unwrap_or_else(|| "localhost".to_string());
        let pq = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
            .to_string();
        let h = req.headers_mut();
        if !h.contains_key(http::header::HOST) {
            h.insert(http::header::HOST, HeaderValue::from_str(&host)?);
        }
        let mut set = |name: &str, value: &str| -> Result<()> {
            h.insert(
                http::HeaderName::from_bytes(name.as_bytes())?,
                HeaderValue::from_str(value)?,
            );
            Ok(())
        };
        set("spin-full-url", &format!("http://{host}{pq}"))?;
        set("spin-path-info", &m.path_info)?;
        set("spin-matched-route", pattern.raw())?;
        set("spin-base-path", "/")?;
        set("spin-raw-component-route", pattern.raw())?;
        set("spin-component-route", &pattern.component_route())?;
        set("spin-client-addr", &client.to_string())?;
        for (name, value) in &m.params {
            set(
                &format!("spin-path-match-{}", name.to_ascii_lowercase()),
                value,
            )?;
        }

        // A fresh store per request.
        let mut wasi = WasiCtx::builder();
        wasi.stdout(comp.stdout.clone()).stderr(comp.stderr.clone());
        wasi.wall_clock(self.clock.wall_clock());
        for (k, v) in &comp.environment {
            wasi.env(k, v);
        }
        for mount in &comp.mounts {
            wasi.preopened_dir(&mount.host, &mount.guest, FsPerms::ReadOnly)?;
        }
        let limits = StoreLimitsBuilder::new()
            .memory_size(self.opts.max_memory)
            .instances(64)
            .build();
        let state = State::new(
            wasi.build(),
            limits,
            comp.env.clone(),
            self.app.stores.clone(),
            deadline,
        );
        let store_calls = state.store_calls.clone();
        let mut store = Store::new(&self.app.engine, state);
        store.limiter(|s| &mut s.limits);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= deadline {
                Err(wasmtime::Error::msg(
                    "request deadline exceeded: the component ran too long",
                ))
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });

        let (sender, receiver) = tokio::sync::oneshot::channel();
        let wreq = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, req)?;
        let out = store.data_mut().http().new_response_outparam(sender)?;
        let pre = comp.pre.clone();
        let task = tokio::spawn(async move {
            let proxy = pre.instantiate_async(&mut store).await?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, wreq, out)
                .await
        });
        match receiver.await {
            Ok(Ok(mut resp)) => {
                if self.opts.report_store_calls {
                    let n = store_calls.load(std::sync::atomic::Ordering::Relaxed);
                    resp.headers_mut()
                        .insert(STORE_CALLS_HEADER, HeaderValue::from(n));
                }
                // The task may go on streaming the body and then do its work
                // after the response (mail, webhook attempts: bounded by the
                // deadline); log a late failure.
                tokio::spawn(async move {
                    if let Ok(Err(e)) = task.await {
                        tracing::error!("component failed after sending its response: {e:?}");
                    }
                });
                // The slot is the response's until its body is handed over.
                let held = Held {
                    _held: Box::new(permit),
                };
                Ok(resp.map(|body| WatchedBody::new(body, held).boxed_unsync()))
            }
            Ok(Err(code)) => anyhow::bail!("component returned an error response: {code:?}"),
            Err(_) => match task.await {
                Ok(Ok(())) => anyhow::bail!("component never set a response"),
                // Every pooled instance is busy (work after responses, or a
                // burst): a busy answer, not an error.
                Ok(Err(e)) if e.is::<wasmtime::PoolConcurrencyLimitError>() => Ok(Refusal::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "busy",
                    "every instance is busy; try again".to_string(),
                )
                .response()),
                Ok(Err(e)) => Err(anyhow::Error::from(e).context("component trapped")),
                Err(e) => Err(anyhow::Error::from(e).context("component task failed")),
            },
        }
    }
}

/// What a [`WatchedBody`] does as its response body goes out.
trait Watch: Send + Unpin + 'static {
    /// A data frame of `len` bytes was handed over.
    fn sent(&mut self, _len: usize) {}
    /// The body was handed over whole, failed, or was dropped (the client
    /// went away); called once, after which the watch is dropped.
    fn done(&mut self) {}
}

/// Something of a request (the in-flight slot, the connection's busy mark)
/// held until its response body has been handed over.
struct Held {
    _held: Box<dyn Send>,
}

impl Watch for Held {}

/// The access log's record of a request: its line is written when the
/// response body is done, with the bytes sent.
struct Logged {
    entry: AccessEntry,
    format: LogFormat,
    bytes: u64,
}

impl Watch for Logged {
    fn sent(&mut self, len: usize) {
        self.bytes += len as u64;
    }

    fn done(&mut self) {
        self.entry.write(self.format, self.bytes);
    }
}

/// A response body with a [`Watch`] that sees its frames and its end.
struct WatchedBody<W: Watch> {
    inner: Body,
    watch: Option<W>,
}

impl<W: Watch> WatchedBody<W> {
    fn new(inner: Body, watch: W) -> Self {
        Self {
            inner,
            watch: Some(watch),
        }
    }

    fn finish(&mut self) {
        if let Some(mut w) = self.watch.take() {
            w.done();
        }
    }
}

impl<W: Watch> Drop for WatchedBody<W> {
    fn drop(&mut self) {
        self.finish();
    }
}

impl<W: Watch> hyper::body::Body for WatchedBody<W> {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        let r = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        match &r {
            std::task::Poll::Ready(Some(Ok(frame))) => {
                if let (Some(w), Some(data)) = (self.watch.as_mut(), frame.data_ref()) {
                    w.sent(data.len());
                }
            }
            std::task::Poll::Ready(None | Some(Err(_))) => self.finish(),
            std::task::Poll::Pending => {}
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// Why the host answered a request itself, before any component ran.
struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl Refusal {
    fn new(status: StatusCode, code: &'static str, message: String) -> Self {
        Self {
            status,
            code,
            message,
        }
    }

    fn too_large(max: u64) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body is larger than {max} bytes"),
        )
    }

    /// The JSON error every refusal is sent as; the connection is closed
    /// after it, since part of the request may be unread.
    fn response(&self) -> Response<Body> {
        let mut r = json(
            self.status,
            serde_json::json!({"error": {"code": self.code, "message": self.message}}),
        );
        r.headers_mut()
            .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            r.headers_mut()
                .insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        r
    }
}

/// Answer a connection over the limit with a 503 and close it, without
/// reading its request (bounded: a client that never reads cannot hold it).
async fn refuse_connection(mut stream: tokio::net::TcpStream) {
    use tokio::io::AsyncWriteExt;
    const BODY: &str = r#"{"error":{"code":"busy","message":"every open connection is serving a request; try again"}}"#;
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(head.as_bytes())).await;
    let _ = stream.shutdown().await;
}
