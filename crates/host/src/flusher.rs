//! `--flush-webhooks-every <DURATION>`: the host runs the deployment's
//! webhook retry flush on an interval, as cron would elsewhere. Each tick
//! POSTs `/api/v1/webhooks/deployment-flush` to the host's own listener
//! with the `admin_token` variable the application resolved, and calls
//! again at once while the answer says `"more": true` (a backlog: at most
//! [`MAX_CALLS_PER_TICK`] calls a tick). The request goes through the
//! listener like any other, so it is routed, limited and logged as cron's
//! would be. Off unless the flag is given.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use anyhow::{Result, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::app::App;

/// The endpoint called.
pub const FLUSH_PATH: &str = "/api/v1/webhooks/deployment-flush";
/// Most calls in one tick while the answers say `more`.
pub const MAX_CALLS_PER_TICK: usize = 50;
/// Longest wait for one call's answer.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// The interval flush of one host.
#[derive(Clone)]
pub struct Flusher {
    /// Where the host listens (an unspecified address is called on
    /// loopback).
    target: SocketAddr,
    token: String,
    every: Duration,
}

/// What one call answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Deliveries handed out for an attempt.
    pub attempting: u64,
    /// Whether to call again at once.
    pub more: bool,
}

/// The `admin_token` some component of `app` resolved (non-empty).
pub fn admin_token(app: &App) -> Option<String> {
    app.components
        .iter()
        .find_map(|c| c.env.variables.get("admin_token").filter(|t| !t.is_empty()))
        .cloned()
}

impl Flusher {
    /// The flush of the host serving `app` at `listening`, every `every`;
    /// an error when the application resolves no `admin_token`.
    pub fn new(app: &App, listening: SocketAddr, every: Duration) -> Result<Self> {
        let Some(token) = admin_token(app) else {
            bail!(
                "--flush-webhooks-every needs the admin_token variable (set SPIN_VARIABLE_ADMIN_TOKEN or pass --variable admin_token=…)"
            );
        };
        let ip = match listening.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        Ok(Self {
            target: SocketAddr::new(ip, listening.port()),
            token,
            every,
        })
    }

    /// Flush on the interval, forever (the first tick one interval after
    /// the start). Failures are printed and the next tick tries again.
    pub async fn run(self) {
        let mut ticks = tokio::time::interval(self.every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            for _ in 0..MAX_CALLS_PER_TICK {
                match tokio::time::timeout(CALL_TIMEOUT, self.call()).await {
                    Ok(Ok(a)) if a.status == 202 && a.more => continue,
                    Ok(Ok(a)) if a.status == 202 => {}
                    Ok(Ok(a)) => eprintln!("webhook flush: answered {}", a.status),
                    Ok(Err(e)) => eprintln!("webhook flush: {e:#}"),
                    Err(_) => eprintln!("webhook flush: no answer within {CALL_TIMEOUT:?}"),
                }
                break;
            }
        }
    }

    /// One flush call.
    pub async fn call(&self) -> Result<Answer> {
        let mut stream = tokio::net::TcpStream::connect(self.target).await?;
        let request = format!(
            "POST {FLUSH_PATH} HTTP/1.1\r\nhost: {}\r\nauthorization: Bearer {}\r\ncontent-length: 0\r\nuser-agent: ticketshare-host-flush\r\nconnection: close\r\n\r\n",
            self.target, self.token
        );
        stream.write_all(request.as_bytes()).await?;
        let mut raw = Vec::new();
        stream.take(1024 * 1024).read_to_end(&mut raw).await?;
        parse_answer(&raw)
    }
}

/// The status and counts of a raw HTTP/1.1 answer (the body is JSON;
/// chunked or not, the JSON object is found between its braces).
fn parse_answer(raw: &[u8]) -> Result<Answer> {
    let text = String::from_utf8_lossy(raw);
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| anyhow::anyhow!("not an HTTP answer"))?;
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let json = match (body.find('{'), body.rfind('}')) {
        (Some(a), Some(b)) if a < b => &body[a..=b],
        _ => "{}",
    };
    let v: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
    Ok(Answer {
        status,
        attempting: v["attempting"].as_u64().unwrap_or(0),
        more: v["more"].as_bool().unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_plain_or_chunked() {
        let plain = b"HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\n\r\n{\"attempting\":3,\"expired\":0,\"more\":true}";
        assert_eq!(
            parse_answer(plain).unwrap(),
            Answer {
                status: 202,
                attempting: 3,
                more: true
            }
        );
        let chunked = b"HTTP/1.1 202 Accepted\r\ntransfer-encoding: chunked\r\n\r\n29\r\n{\"attempting\":0,\"expired\":0,\"more\":false}\r\n0\r\n\r\n";
        assert!(!parse_answer(chunked).unwrap().more);
        let refused = b"HTTP/1.1 401 Unauthorized\r\n\r\n{\"error\":{}}";
        assert_eq!(parse_answer(refused).unwrap().status, 401);
        assert!(parse_answer(b"garbage").is_err());
    }
}
