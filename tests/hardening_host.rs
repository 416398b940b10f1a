//! The host on the open internet: slow and stalled clients, chunked bodies
//! past the limit, header values that are not ASCII, too many connections,
//! and outbound connections to blocked networks (by name, after resolution).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use testkit::raw::{read_until_closed, status_of};
use testkit::{HostConfig, TempDir, request, root};

/// Whether `f` holds within 3 s (the host's stderr is read by a thread).
fn eventually(f: impl Fn() -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(3) {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Stalled clients of three kinds, more of each than there are request slots,
/// cannot stop an ordinary request, and each kind is closed within its
/// deadline (headers and idle keep-alive: the header timeout; a body: 408 at
/// the request deadline).
#[test]
fn stalled_clients_neither_block_requests_nor_stay_open() {
    let state = TempDir::new("slow");
    let host = HostConfig::app(state.path())
        .arg("--max-in-flight")
        .arg("8")
        .arg("--header-read-timeout")
        .arg("1")
        .arg("--request-timeout")
        .arg("3")
        .start();
    const EACH: usize = 100;
    let addr = host.addr.clone();
    let connect = || {
        let s = TcpStream::connect(&addr).unwrap();
        s.set_nodelay(true).unwrap();
        s
    };
    // 1. Part of a request head, then nothing.
    let mut heads: Vec<TcpStream> = (0..EACH)
        .map(|_| {
            let mut s = connect();
            s.write_all(b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .unwrap();
            s
        })
        .collect();
    // 2. A whole head promising 10 000 bytes of body, and 10 of them.
    let mut bodies: Vec<TcpStream> = (0..EACH)
        .map(|_| {
            let mut s = connect();
            s.write_all(
                b"POST /api/v1/tickets HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000\r\n\r\n{\"subject\"",
            )
            .unwrap();
            s
        })
        .collect();
    // 3. Kept alive after one answered request, then idle.
    let mut idle: Vec<TcpStream> = (0..EACH)
        .map(|_| {
            let mut s = connect();
            s.write_all(b"GET /.well-known/spin/health HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            let mut buf = [0u8; 256];
            let n = s.read(&mut buf).unwrap();
            assert_eq!(status_of(&buf[..n]), Some(200));
            s
        })
        .collect();
    let stalled_at = Instant::now();

    // An ordinary request is answered promptly meanwhile.
    std::thread::sleep(Duration::from_millis(200));
    let t0 = Instant::now();
    let r = request(&host.addr, "GET", "/api/v1/openapi.json", &[], b"");
    let took = t0.elapsed();
    assert_eq!(r.status, 200);
    assert!(
        took < Duration::from_secs(2),
        "an ordinary request waited {took:?} behind {} stalled connections",
        3 * EACH
    );
    eprintln!(
        "hardening: {} stalled connections; GET /api/v1/openapi.json answered in {:.1} ms",
        3 * EACH,
        took.as_secs_f64() * 1e3
    );

    // Each stalled connection is closed within its deadline (plus slack).
    let slack = Duration::from_millis(1500);
    for s in heads.iter_mut().chain(idle.iter_mut()) {
        let left = (Duration::from_secs(1) + slack).saturating_sub(stalled_at.elapsed());
        let (_, closed) = read_until_closed(s, left.max(Duration::from_millis(10)));
        assert!(
            closed,
            "a stalled head or idle connection was still open after {:?}",
            stalled_at.elapsed()
        );
    }
    for s in bodies.iter_mut() {
        let left = (Duration::from_secs(3) + slack).saturating_sub(stalled_at.elapsed());
        let (raw, closed) = read_until_closed(s, left.max(Duration::from_millis(10)));
        assert!(
            closed,
            "a stalled body was still open after {:?}",
            stalled_at.elapsed()
        );
        assert_eq!(
            status_of(&raw),
            Some(408),
            "{}",
            String::from_utf8_lossy(&raw)
        );
        assert!(String::from_utf8_lossy(&raw).contains("request_timeout"));
    }
    eprintln!(
        "hardening: every stalled connection closed {:.1} s after stalling",
        stalled_at.elapsed().as_secs_f64()
    );
    // Nothing of it reached a component or left a store write behind.
    assert!(!host.stderr().contains("error in component"));
    // And the host serves as before.
    assert_eq!(
        request(&host.addr, "GET", "/api/v1/openapi.json", &[], b"").status,
        200
    );
}

/// At `--max-connections`, a newcomer takes the place of the longest-idle
/// connection (one that never sent a whole head counts as idle), so silent
/// connections cannot lock anyone out; only when every connection is serving
/// a request does a newcomer get a 503 at once.
#[test]
fn at_the_connection_bound_idle_connections_make_room_and_busy_ones_do_not() {
    let state = TempDir::new("maxconn");
    let host = HostConfig::app(state.path())
        .arg("--max-connections")
        .arg("20")
        .arg("--header-read-timeout")
        .arg("5")
        .start();
    // 20 silent connections: half a head each.
    let mut silent: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut s = TcpStream::connect(&host.addr).unwrap();
            s.write_all(b"GET / HTTP/1.1\r\n").unwrap();
            std::thread::sleep(Duration::from_millis(5));
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    // Newcomers are served, each in place of the oldest silent one.
    for _ in 0..5 {
        let r = request(&host.addr, "GET", "/.well-known/spin/health", &[], b"");
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let (_, oldest_closed) = read_until_closed(&mut silent[0], Duration::from_millis(500));
    assert!(oldest_closed, "the longest-idle connection made room");
    let (_, newest_closed) = read_until_closed(&mut silent[19], Duration::from_millis(300));
    assert!(!newest_closed, "only as many as needed were closed");
    drop(silent);

    // 20 connections each in the middle of sending a body: all busy.
    std::thread::sleep(Duration::from_millis(200));
    let busy: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut s = TcpStream::connect(&host.addr).unwrap();
            s.write_all(b"POST /api/v1/tickets HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
                .unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut extra = TcpStream::connect(&host.addr).unwrap();
    let _ = extra.write_all(b"GET /.well-known/spin/health HTTP/1.1\r\nHost: x\r\n\r\n");
    let (raw, closed) = read_until_closed(&mut extra, Duration::from_secs(2));
    assert!(closed);
    assert_eq!(
        status_of(&raw),
        Some(503),
        "{}",
        String::from_utf8_lossy(&raw)
    );
    assert!(String::from_utf8_lossy(&raw).contains("every open connection is serving a request"));
    drop(busy);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        request(&host.addr, "GET", "/.well-known/spin/health", &[], b"").status,
        200
    );
}

/// A chunked body is counted as it arrives: past the limit the host answers
/// 413 without waiting for the rest, and no component runs.
#[test]
fn chunked_body_past_the_limit_is_413_while_streaming() {
    let state = TempDir::new("chunked");
    let host = HostConfig::app(state.path())
        .arg("--max-body-mb")
        .arg("1")
        .start();
    let mut s = TcpStream::connect(&host.addr).unwrap();
    s.write_all(
        b"POST /api/v1/tickets HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
    )
    .unwrap();
    let mut reader = s.try_clone().unwrap();
    let read = std::thread::spawn(move || read_until_closed(&mut reader, Duration::from_secs(20)));
    // Up to 100 MB in 64 KiB chunks; the server stops it long before.
    let chunk = vec![b'a'; 64 * 1024];
    let mut sent = 0usize;
    let t0 = Instant::now();
    while sent < 100 << 20 && t0.elapsed() < Duration::from_secs(15) {
        let head = format!("{:x}\r\n", chunk.len());
        if s.write_all(head.as_bytes()).is_err()
            || s.write_all(&chunk).is_err()
            || s.write_all(b"\r\n").is_err()
        {
            break;
        }
        sent += chunk.len();
    }
    let (raw, closed) = read.join().unwrap();
    assert!(closed);
    let text = String::from_utf8_lossy(&raw);
    assert_eq!(status_of(&raw), Some(413), "{text}");
    assert!(text.contains("payload_too_large"), "{text}");
    // What the client wrote is what the host read plus what the kernel
    // buffered on both sides without the host reading it: loopback TCP
    // autotunes a receive buffer up to tcp_rmem's maximum (32 MiB on many
    // machines) and a send buffer up to tcp_wmem's. Past that, writes
    // block or fail, so a host that kept reading would take all 100 MB.
    let buffered = kernel_buffer_max("tcp_rmem") + kernel_buffer_max("tcp_wmem");
    assert!(
        sent < (1 << 20) + buffered + (1 << 20),
        "the host kept reading: {sent} bytes accepted past a 1 MiB limit (kernel buffers: {buffered} bytes)"
    );
    // A chunked body within the limit still reaches the component (a 4xx of
    // its own about the content, not the host's 413).
    let mut s = TcpStream::connect(&host.addr).unwrap();
    s.write_all(
        b"POST /api/v1/tickets HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    )
    .unwrap();
    let (raw, _) = read_until_closed(&mut s, Duration::from_secs(10));
    let status = status_of(&raw).unwrap_or(0);
    assert!(
        (400..500).contains(&status) && status != 413,
        "{}",
        String::from_utf8_lossy(&raw)
    );
    assert!(!host.stderr().contains("error in component"));
}

/// The largest buffer the kernel may give a TCP socket, from
/// `/proc/sys/net/ipv4/<name>` (min, default, max); 8 MiB where unreadable.
fn kernel_buffer_max(name: &str) -> usize {
    std::fs::read_to_string(format!("/proc/sys/net/ipv4/{name}"))
        .ok()
        .and_then(|t| t.split_whitespace().nth(2)?.parse().ok())
        .unwrap_or(8 << 20)
}

/// A header value that is not printable ASCII is a 400 with a JSON error and
/// one log line, never a 500 with a backtrace.
#[test]
fn header_values_that_are_not_ascii_are_400() {
    let state = TempDir::new("nonascii");
    let host = HostConfig::app(state.path()).start();
    let cases: [&[u8]; 4] = [
        b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: \xc3\xa9\r\nConnection: close\r\n\r\n",
        b"GET /login HTTP/1.1\r\nHost: x\r\nCookie: a=\xff\r\nConnection: close\r\n\r\n",
        b"POST /api/v1/tickets HTTP/1.1\r\nHost: x\r\nOrigin: http://\xe2\x80\xae\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        b"GET /s/abc HTTP/1.1\r\nHost: x\r\nUser-Agent: \x01\r\nConnection: close\r\n\r\n",
    ];
    for raw_req in cases {
        let mut s = TcpStream::connect(&host.addr).unwrap();
        s.write_all(raw_req).unwrap();
        let (raw, _) = read_until_closed(&mut s, Duration::from_secs(10));
        let text = String::from_utf8_lossy(&raw);
        // hyper itself refuses control characters with a bare 400.
        assert_eq!(status_of(&raw), Some(400), "{text}");
        if !raw_req.contains(&1u8) {
            assert!(text.contains("bad_header"), "{text}");
            assert!(text.contains("application/json"), "{text}");
        }
    }
    // The refusals are logged (read from the host's stderr by a thread).
    let refusals = || {
        host.stderr()
            .lines()
            .filter(|l| l.contains("not printable ASCII"))
            .count()
    };
    assert!(eventually(|| refusals() >= 3), "{}", host.stderr());
    let log = host.stderr();
    assert!(!log.contains("error in component"), "{log}");
    assert!(
        !log.contains("backtrace") && !log.contains("Stack backtrace"),
        "{log}"
    );
    // An ordinary request is unaffected.
    assert_eq!(
        request(&host.addr, "GET", "/api/v1/openapi.json", &[], b"").status,
        200
    );
}

/// With Spin's `[outbound_networking] block_networks = ["private"]` (the file
/// shipped for deployments), a destination whose *name* resolves to loopback
/// is refused after resolution, although the allow-list admits the name.
#[test]
fn outbound_connections_to_blocked_networks_are_refused_by_resolved_address() {
    let state = TempDir::new("blocknet");
    let (s1, s2, s3) = (
        TempDir::new("blocknet1"),
        TempDir::new("blocknet2"),
        TempDir::new("blocknet3"),
    );
    let open = HostConfig::contract(s1.path()).start();
    let port = open.addr.rsplit(':').next().unwrap().to_string();
    let url = format!("http://localhost:{port}/.well-known/spin/health");
    let ok = open.get(&format!("/fault/outbound?url={url}"));
    assert_eq!(
        (ok.status, ok.text().as_str()),
        (200, "upstream status 200")
    );

    let shipped = root().join("runtime-config/default.toml");
    let blocked = HostConfig::contract(s2.path())
        .arg("--runtime-config-file")
        .arg(shipped.to_str().unwrap())
        .start();
    let r = blocked.get(&format!("/fault/outbound?url={url}"));
    assert_eq!(r.status, 502, "{}", r.text());
    assert!(r.text().contains("refused"), "{}", r.text());
    assert!(eventually(|| blocked.stderr().contains("blocked network")));

    // A CIDR entry blocks that network only.
    let cfg = state.path().join("rc.toml");
    std::fs::write(
        &cfg,
        "[outbound_networking]\nblock_networks = [\"10.0.0.0/8\"]\n",
    )
    .unwrap();
    let cidr = HostConfig::contract(s3.path())
        .arg("--runtime-config-file")
        .arg(cfg.to_str().unwrap())
        .start();
    let r = cidr.get(&format!("/fault/outbound?url={url}"));
    assert_eq!((r.status, r.text().as_str()), (200, "upstream status 200"));

    // A bad entry is a start error naming it.
    std::fs::write(
        &cfg,
        "[outbound_networking]\nblock_networks = [\"privat\"]\n",
    )
    .unwrap();
    let err = HostConfig::contract(state.path())
        .arg("--runtime-config-file")
        .arg(cfg.to_str().unwrap())
        .start_error();
    assert!(
        err.contains("privat") && err.contains("block_networks"),
        "{err}"
    );
}

/// The app with the shipped runtime config: even with the app's own URL check
/// relaxed (`allow_private_webhooks`, as in tests), a webhook whose name
/// resolves to loopback is never called; the delivery records the failure.
#[test]
fn shipped_runtime_config_keeps_webhooks_off_private_networks() {
    use serde_json::json;
    use testkit::{World, json_of};
    let shipped = root().join("runtime-config/default.toml");
    let w = World::build_full(
        false,
        &[],
        &["--runtime-config-file", shipped.to_str().unwrap()],
    );
    let rx = testkit::receiver::Receiver::start();
    let by_name = rx.url.replace("127.0.0.1", "localhost");
    let r = w.as_(
        Some(&w.admin),
        "POST",
        "/api/v1/webhooks",
        Some(json!({"url": by_name})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    w.ticket(&w.cust_a, "Probe the internal network");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(rx.count(), 0, "a private address was called");
    let r = w.as_(Some(&w.admin), "GET", "/api/v1/webhooks/deliveries", None);
    assert_eq!(r.status, 200, "{}", r.text());
    let d = json_of(&r)["deliveries"][0].clone();
    assert_eq!(d["attempts"], 1, "{d}");
    assert_ne!(d["state"], "succeeded", "{d}");
    assert!(eventually(|| w.host.stderr().contains("blocked network")));
}

/// Clients that ask for large responses and never read them are dropped once
/// the request timeout passes without progress, which frees the slots and
/// instances writing to them; nobody meanwhile gets a 500.
#[test]
fn clients_that_stop_reading_are_dropped_and_free_their_slots() {
    let state = TempDir::new("slowread");
    // The contract app runs with --request-timeout 2.
    let host = HostConfig::contract(state.path()).start();
    let value = vec![b'v'; 1000 * 1000];
    let r = request(&host.addr, "PUT", "/kv/set?key=big", &[], &value);
    assert_eq!(r.status, 200, "{}", r.text());
    // 12 connections, each asking for the value 8 times and reading nothing:
    // far more than the socket buffers take, so every server write stalls.
    let one = b"GET /kv/get?key=big HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut stalled: Vec<TcpStream> = (0..12)
        .map(|_| {
            let mut s = TcpStream::connect(&host.addr).unwrap();
            s.write_all(&one.repeat(8)).unwrap();
            s
        })
        .collect();
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_millis(300));
    // Meanwhile: never a 500.
    let r = request(&host.addr, "GET", "/kv/get?key=small", &[], b"");
    assert!(
        r.status == 404 || r.status == 503,
        "{} {}",
        r.status,
        r.text()
    );
    // After the deadline without progress (2 s) plus slack, slots are free.
    std::thread::sleep(Duration::from_secs(4).saturating_sub(t0.elapsed()));
    let t1 = Instant::now();
    let r = request(&host.addr, "GET", "/kv/get?key=small", &[], b"");
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(t1.elapsed() < Duration::from_secs(1), "{:?}", t1.elapsed());
    // The stalled connections were cut short: none got its 8 MB.
    for s in stalled.iter_mut() {
        let (raw, closed) = read_until_closed(s, Duration::from_secs(10));
        assert!(closed);
        assert!(raw.len() < 8 * 1000 * 1000, "{} bytes", raw.len());
    }
    assert!(
        !host.stderr().contains("error in component"),
        "{}",
        host.stderr()
    );
}

/// Connections a [`silent_receiver`] accepted, and those the caller closed.
#[derive(Default)]
struct Silent {
    accepted: std::sync::atomic::AtomicUsize,
    closed: std::sync::atomic::AtomicUsize,
}

/// A receiver that accepts connections and never answers; returns its URL
/// and its connection counts.
fn silent_receiver() -> (String, std::sync::Arc<Silent>) {
    use std::sync::atomic::Ordering;
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    let counts = std::sync::Arc::new(Silent::default());
    let c = counts.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            c.accepted.fetch_add(1, Ordering::SeqCst);
            let c = c.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                // Read the request, answer nothing, and wait for the caller
                // to give up.
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                }
                c.closed.fetch_add(1, Ordering::SeqCst);
            });
        }
    });
    (url, counts)
}

/// An outgoing request the destination never answers ends at the request's
/// deadline, not at the (longer) outbound timeouts.
#[test]
fn outbound_requests_end_at_the_request_deadline() {
    let state = TempDir::new("outdeadline");
    // The contract app runs with --request-timeout 2.
    let host = HostConfig::contract(state.path()).start();
    let (url, closed) = silent_receiver();
    let url = url.replace("127.0.0.1", "localhost");
    let t0 = Instant::now();
    let r = host.get(&format!("/fault/outbound?url={url}"));
    let took = t0.elapsed();
    assert_eq!(r.status, 502, "{}", r.text());
    assert!(took < Duration::from_secs(4), "took {took:?}");
    assert!(eventually(|| closed
        .closed
        .load(std::sync::atomic::Ordering::SeqCst)
        == 1));
}

/// Work a component does after its response (webhook attempts to a receiver
/// that never answers) holds no request slot, and ends by the deadline: a
/// tenant's silent receiver cannot make other requests wait or fail.
#[test]
fn work_after_the_response_holds_no_slot_and_ends_by_the_deadline() {
    use serde_json::json;
    use testkit::World;
    let w = World::build_full(
        false,
        &[],
        &["--max-in-flight", "4", "--request-timeout", "3"],
    );
    let (url, closed) = silent_receiver();
    for _ in 0..2 {
        let r = w.as_(
            Some(&w.admin),
            "POST",
            "/api/v1/webhooks",
            Some(json!({"url": url})),
        );
        assert_eq!(r.status, 201, "{}", r.text());
    }
    // Six events, each followed by two attempts to the silent receiver.
    let t0 = Instant::now();
    for i in 0..6 {
        let r = w.as_(
            Some(&w.cust_a),
            "POST",
            "/api/v1/tickets",
            Some(json!({"subject": format!("Event {i}"), "body": "b"})),
        );
        assert_eq!(r.status, 201, "{}", r.text());
    }
    // Every slot is free for other requests at once.
    for _ in 0..8 {
        let t = Instant::now();
        let r = request(&w.host.addr, "GET", "/api/v1/openapi.json", &[], b"");
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    }
    // And every attempt was cut off by its request's deadline (3 s): each
    // event's first attempt meets the silent receiver, and what remains of
    // the deadline after it may be too little for the second.
    use std::sync::atomic::Ordering::SeqCst;
    let t = Instant::now();
    while (closed.accepted.load(SeqCst) < 6
        || closed.closed.load(SeqCst) < closed.accepted.load(SeqCst))
        && t.elapsed() < Duration::from_secs(10)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let (accepted, ended) = (closed.accepted.load(SeqCst), closed.closed.load(SeqCst));
    assert!(
        accepted >= 6 && ended == accepted,
        "{accepted} accepted, {ended} ended"
    );
    assert!(
        t0.elapsed() < Duration::from_secs(8),
        "attempts ended {:?} after the first event",
        t0.elapsed()
    );
}
