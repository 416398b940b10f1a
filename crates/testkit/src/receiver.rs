//! A webhook receiver on a free port: records every request it gets and
//! answers with the statuses it is told.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request a receiver got.
#[derive(Clone, Debug)]
pub struct Got {
    /// Request path.
    pub path: String,
    /// Headers, names lowercased.
    pub headers: Vec<(String, String)>,
    /// Body text.
    pub body: String,
}

impl Got {
    /// A header value (empty when absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }
}

/// A webhook receiver on loopback answering with a settable status.
pub struct Receiver {
    /// `http://127.0.0.1:port/hook`.
    pub url: String,
    /// Every request received so far.
    pub got: Arc<Mutex<Vec<Got>>>,
    /// The status the receiver answers with (changeable).
    pub status: Arc<AtomicU16>,
}

impl Receiver {
    /// Listen on a free port (a thread answers each request).
    pub fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let got = Arc::new(Mutex::new(Vec::new()));
        let status = Arc::new(AtomicU16::new(200));
        let (g, st) = (got.clone(), status.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                let mut headers = Vec::new();
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = h.split_once(':') {
                        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                    }
                }
                let len: usize = headers
                    .iter()
                    .find(|(k, _)| k == "content-length")
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(0);
                let chunked = headers
                    .iter()
                    .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
                let mut body = Vec::new();
                if chunked {
                    loop {
                        let mut size = String::new();
                        if reader.read_line(&mut size).is_err() {
                            break;
                        }
                        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
                        let mut chunk = vec![0; n + 2];
                        if n == 0 || reader.read_exact(&mut chunk).is_err() {
                            let mut end = String::new();
                            let _ = reader.read_line(&mut end);
                            break;
                        }
                        body.extend_from_slice(&chunk[..n]);
                    }
                } else {
                    body = vec![0; len];
                    let _ = reader.read_exact(&mut body);
                }
                g.lock().unwrap().push(Got {
                    path,
                    headers,
                    body: String::from_utf8_lossy(&body).into_owned(),
                });
                let code = st.load(Ordering::SeqCst);
                let extra = if code == 302 {
                    "Location: /elsewhere\r\n"
                } else {
                    ""
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {code} X\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n"
                );
            }
        });
        Receiver { url, got, status }
    }

    /// Wait until at least `n` requests arrived; returns them.
    pub fn wait_for(&self, n: usize) -> Vec<Got> {
        let t0 = Instant::now();
        loop {
            let got = self.got.lock().unwrap().clone();
            if got.len() >= n {
                return got;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(15),
                "receiver got {} of {n} requests",
                got.len()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// How many requests came so far.
    pub fn count(&self) -> usize {
        self.got.lock().unwrap().len()
    }
}
