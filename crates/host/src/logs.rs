//! The host's own log: `tracing` events (the host's, and wasmtime's,
//! wasi-http's, rustls' and redis' through the `log` bridge) on stderr,
//! filtered by `RUST_LOG`, and the access log, one line per request.
//!
//! Both are text by default, or one JSON object a line with
//! `--host-log-format json`. Component output is not here (`stdio`).

use std::io::Write;
use std::time::Instant;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};

/// The filter unless `RUST_LOG` gives one: the host's events from `info`,
/// its dependencies' from `warn`.
pub const DEFAULT_FILTER: &str = "warn,host=info,ticketshare_host=info";

/// How the host writes its log lines (its events and the access log).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One readable line per event or request.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

static FORMAT: std::sync::OnceLock<LogFormat> = std::sync::OnceLock::new();

/// Send `tracing` events (and `log` records) to stderr, filtered by
/// `RUST_LOG` (else [`DEFAULT_FILTER`]). Call once, first thing.
pub fn init(format: LogFormat) {
    let _ = FORMAT.set(format);
    let (filter, bad) = match std::env::var("RUST_LOG") {
        Ok(s) if !s.trim().is_empty() => match EnvFilter::try_new(&s) {
            Ok(f) => (f, None),
            Err(e) => (EnvFilter::new(DEFAULT_FILTER), Some(format!("{s:?}: {e}"))),
        },
        _ => (EnvFilter::new(DEFAULT_FILTER), None),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false);
    let installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    if installed.is_ok()
        && let Some(bad) = bad
    {
        tracing::warn!("ignoring RUST_LOG {bad}; using {DEFAULT_FILTER:?}");
    }
}

/// A note for the person who started the host, on stderr as `spin up`
/// prints it ("Preparing Wasm modules…", "Logging component stdio to…"):
/// a plain line, or with `--host-log-format json` an `info` event, so
/// that every host line of stderr is JSON.
pub fn note(message: &str) {
    if FORMAT.get() == Some(&LogFormat::Json) {
        tracing::info!("{message}");
    } else {
        let _ = std::io::stderr().write_all(format!("{message}\n").as_bytes());
    }
}

/// The current time as the log writes it: RFC 3339, UTC, microseconds.
pub fn now() -> String {
    let mut s = String::with_capacity(32);
    let _ = SystemTime.format_time(&mut Writer::new(&mut s));
    s
}

/// The longest run of digits shown in a logged path (ticket and message
/// numbers); longer ones are redacted.
const MAX_NUMBER: usize = 20;
/// The longest lowercase word shown in a logged path; a 256-bit token
/// (43 base64url characters) is always longer.
const MAX_WORD: usize = 32;

/// A request path fit for a log: each segment that is a literal of the
/// matched route `pattern`, a number, or a short lowercase word is kept;
/// any other (tokens in `/p/<token>`, `/s/<link>`, `/i/<link>`, ids, emails,
/// anything percent-encoded) becomes `…`. The query is never part of it.
pub fn redact_path(path: &str, pattern: Option<&str>) -> String {
    let literals: Vec<&str> = pattern
        .map(|p| p.trim_start_matches('/').split('/').collect())
        .unwrap_or_default();
    let path = path.split('?').next().unwrap_or_default();
    let mut out = String::with_capacity(path.len());
    for (i, seg) in path.trim_start_matches('/').split('/').enumerate() {
        out.push('/');
        let literal = literals
            .get(i)
            .is_some_and(|l| *l == seg && !l.starts_with(':') && *l != "...");
        if literal || shown(seg) {
            out.push_str(seg);
        } else {
            out.push('…');
        }
    }
    out
}

fn shown(seg: &str) -> bool {
    let number = seg.len() <= MAX_NUMBER && seg.bytes().all(|b| b.is_ascii_digit());
    // A lowercase word, `.well-known` too.
    let rest = seg.strip_prefix('.').unwrap_or(seg);
    let word = seg.len() <= MAX_WORD
        && rest.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && rest
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'-' || b == b'_');
    seg.is_empty() || number || word
}

/// One request of the access log, written when its response body has been
/// handed over (or the client went away).
#[derive(Debug, Clone)]
pub struct AccessEntry {
    /// When the request's head arrived.
    pub start: Instant,
    /// The method.
    pub method: http::Method,
    /// The path, redacted ([`redact_path`]).
    pub path: String,
    /// The matched route's pattern, if a component's route matched.
    pub route: Option<String>,
    /// The component that answered; `None` when the host did (`/.well-known/spin/…`,
    /// 404, refusals before a component ran).
    pub component: Option<String>,
    /// The response status.
    pub status: u16,
}

impl AccessEntry {
    /// The line for this request, `bytes` of body sent, ending in `\n`.
    ///
    /// Text: `<time> <method> <path> <status> <bytes> <ms>ms <component|-> <route|->`;
    /// JSON: `{"time","method","path","status","bytes","duration_ms","component","route"}`.
    pub fn line(&self, format: LogFormat, bytes: u64) -> String {
        let ms = self.start.elapsed().as_secs_f64() * 1e3;
        let time = now();
        match format {
            LogFormat::Text => format!(
                "{time} {} {} {} {bytes} {ms:.2}ms {} {}\n",
                self.method,
                self.path,
                self.status,
                self.component.as_deref().unwrap_or("-"),
                self.route.as_deref().unwrap_or("-"),
            ),
            LogFormat::Json => {
                let mut s = serde_json::json!({
                    "time": time,
                    "method": self.method.as_str(),
                    "path": self.path,
                    "status": self.status,
                    "bytes": bytes,
                    "duration_ms": (ms * 100.0).round() / 100.0,
                    "component": self.component,
                    "route": self.route,
                })
                .to_string();
                s.push('\n');
                s
            }
        }
    }

    /// Write the line to stderr in one write (lines of concurrent requests
    /// never interleave); a failure is ignored.
    pub fn write(&self, format: LogFormat, bytes: u64) {
        let _ = std::io::stderr().write_all(self.line(format, bytes).as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_keep_route_literals_numbers_and_words_only() {
        let token = "Qm9vLWJhei1xdXV4LTEyMzQ1Njc4OTAtYWJjZGVmZ2hpams";
        let cases = [
            (format!("/p/{token}"), Some("/p/..."), "/p/…".to_string()),
            (format!("/s/{token}.x1"), Some("/s/..."), "/s/…".into()),
            (
                format!("/s/{token}/files/3/f_9Xk"),
                Some("/s/..."),
                "/s/…/files/3/…".into(),
            ),
            (format!("/i/{token}"), Some("/i/:link"), "/i/…".into()),
            (
                "/api/v1/tickets/42/replies".into(),
                Some("/api/v1/tickets/:no/replies"),
                "/api/v1/tickets/42/replies".into(),
            ),
            (
                "/api/v1/users/a@b.test".into(),
                Some("/api/v1/..."),
                "/api/v1/users/…".into(),
            ),
            ("/x%2Fy/Secret?code=1".into(), None, "/…/…".into()),
            ("/".into(), Some("/..."), "/".into()),
            (
                "/.well-known/spin/health".into(),
                None,
                "/.well-known/spin/health".into(),
            ),
            ("/a.b".into(), None, "/…".into()),
            // A literal of the route is kept even when not a plain word.
            (
                "/route/Exact".into(),
                Some("/route/Exact"),
                "/route/Exact".into(),
            ),
            ("/route/Exact".into(), Some("/route/:a"), "/route/…".into()),
        ];
        for (path, pattern, want) in cases {
            assert_eq!(redact_path(&path, pattern), want, "{path}");
        }
    }

    #[test]
    fn lines_carry_every_field() {
        let e = AccessEntry {
            start: Instant::now(),
            method: http::Method::POST,
            path: "/s/…".into(),
            route: Some("/s/...".into()),
            component: Some("shares".into()),
            status: 201,
        };
        let text = e.line(LogFormat::Text, 512);
        let fields: Vec<&str> = text.trim_end().split(' ').collect();
        assert_eq!(fields.len(), 8, "{text}");
        assert!(
            fields[0].ends_with('Z') && fields[0].contains('T'),
            "{text}"
        );
        assert_eq!(&fields[1..5], ["POST", "/s/…", "201", "512"]);
        assert!(fields[5].ends_with("ms"));
        assert_eq!(&fields[6..], ["shares", "/s/..."]);
        let json: serde_json::Value = serde_json::from_str(&e.line(LogFormat::Json, 512)).unwrap();
        assert_eq!(json["method"], "POST");
        assert_eq!(json["path"], "/s/…");
        assert_eq!(json["status"], 201);
        assert_eq!(json["bytes"], 512);
        assert_eq!(json["component"], "shares");
        assert_eq!(json["route"], "/s/...");
        assert!(json["duration_ms"].is_number() && json["time"].is_string());
        let host = AccessEntry {
            component: None,
            route: None,
            ..e
        };
        assert!(host.line(LogFormat::Text, 0).trim_end().ends_with(" - -"));
    }
}
