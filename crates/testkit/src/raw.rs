//! The raw socket side, for tests that put bytes on the wire that no HTTP
//! client would send (bytes that are not ASCII in a header, a stalled
//! body, a declared length never sent, more connections than slots): they
//! write to a `TcpStream` themselves and read the answer with these.
//! Everything else uses [`crate::http`].

use std::io::Read;
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Read until the peer closes (or `limit` passes); returns what was read and
/// whether the connection was closed by the server.
pub fn read_until_closed(s: &mut TcpStream, limit: Duration) -> (Vec<u8>, bool) {
    let t0 = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = limit.saturating_sub(t0.elapsed());
        if left.is_zero() {
            return (out, false);
        }
        s.set_read_timeout(Some(left.min(Duration::from_millis(250))))
            .unwrap();
        match s.read(&mut buf) {
            Ok(0) => return (out, true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return (out, true), // reset: closed too
        }
    }
}

/// The status code of a raw response (`None` without a status line).
pub fn status_of(raw: &[u8]) -> Option<u16> {
    let line = raw.split(|&b| b == b'\r').next()?;
    std::str::from_utf8(line)
        .ok()?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
