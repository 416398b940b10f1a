//! Test-only component: exercises, through the host, everything a Spin host must
//! provide — key-value (Spin and wasi:keyvalue, including increment and
//! compare-and-swap), variables, outbound HTTP, the routing headers — plus a
//! trap, an endless loop and a large allocation, so the host's fault handling
//! can be tested. Never deployed: only `tests/apps/contract/spin.toml` uses it.

use spin_sdk::http::{IntoResponse, Method, Request, Response};
use spin_sdk::http_component;
use spin_sdk::key_value::{Error as KvError, Store};
use spin_sdk::wit::wasi::keyvalue::{atomics, store as wkv};

fn query<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.query().split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then_some(v)
    })
}

fn reply(status: u16, body: impl Into<String>) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain")
        .body(body.into())
        .build()
}

fn kv_error(e: KvError) -> Response {
    let name = match e {
        KvError::NoSuchStore => "no-such-store".to_string(),
        KvError::AccessDenied => "access-denied".to_string(),
        KvError::StoreTableFull => "store-table-full".to_string(),
        KvError::Other(m) => format!("other: {m}"),
    };
    reply(500, name)
}

fn wkv_error(e: wkv::Error) -> Response {
    let name = match e {
        wkv::Error::NoSuchStore => "no-such-store".to_string(),
        wkv::Error::AccessDenied => "access-denied".to_string(),
        wkv::Error::Other(m) => format!("other: {m}"),
    };
    reply(500, name)
}

/// Echo the Spin request headers as JSON-ish lines `name: value`, sorted.
fn echo_headers(req: &Request) -> Response {
    let mut lines: Vec<String> = req
        .headers()
        .filter(|(k, _)| k.starts_with("spin-"))
        .map(|(k, v)| format!("{k}: {}", v.as_str().unwrap_or("")))
        .collect();
    lines.sort();
    reply(200, lines.join("\n"))
}

#[http_component]
async fn handle(req: Request) -> anyhow::Result<impl IntoResponse> {
    let info = req
        .header("spin-path-info")
        .and_then(|h| h.as_str())
        .unwrap_or("")
        .to_string();
    let route = req
        .header("spin-component-route")
        .and_then(|h| h.as_str())
        .unwrap_or("")
        .to_string();
    // The last segment of the component route picks the area, so the same wasm
    // can be mounted under several prefixes (and component ids).
    let area = route.rsplit('/').next().unwrap_or("").to_string();
    if area != "kv" && area != "wasi-kv" && area != "fault" {
        return Ok(echo_headers(&req));
    }
    let label = query(&req, "store").unwrap_or("default").to_string();
    let key = query(&req, "key").unwrap_or("").to_string();
    Ok(match (area.as_str(), info.as_str()) {
        ("kv", op) => {
            let store = match Store::open(&label) {
                Ok(s) => s,
                Err(e) => return Ok(kv_error(e)),
            };
            let result = match (req.method(), op) {
                (Method::Get, "/get") => store.get(&key).map(|v| match v {
                    Some(v) => reply(200, String::from_utf8_lossy(&v).into_owned()),
                    None => reply(404, "absent"),
                }),
                (Method::Put, "/set") => store.set(&key, req.body()).map(|_| reply(200, "ok")),
                (Method::Delete, "/delete") => store.delete(&key).map(|_| reply(200, "ok")),
                (Method::Get, "/exists") => store.exists(&key).map(|b| reply(200, b.to_string())),
                (Method::Get, "/keys") => store.get_keys().map(|mut k| {
                    k.sort();
                    reply(200, k.join("\n"))
                }),
                _ => Ok(reply(405, "unknown kv operation")),
            };
            result.unwrap_or_else(kv_error)
        }
        ("wasi-kv", op) => {
            let bucket = match wkv::open(&label) {
                Ok(b) => b,
                Err(e) => return Ok(wkv_error(e)),
            };
            match (req.method(), op) {
                (Method::Get, "/get") => match bucket.get(&key) {
                    Ok(Some(v)) => reply(200, String::from_utf8_lossy(&v).into_owned()),
                    Ok(None) => reply(404, "absent"),
                    Err(e) => wkv_error(e),
                },
                (Method::Post, "/increment") => {
                    let delta: i64 = query(&req, "delta")
                        .and_then(|d| d.parse().ok())
                        .unwrap_or(1);
                    match atomics::increment(&bucket, &key, delta) {
                        Ok(v) => reply(200, v.to_string()),
                        Err(e) => wkv_error(e),
                    }
                }
                // Create the key only if it is absent: 201 for the one winner,
                // 409 for everyone else.
                (Method::Post, "/create") => {
                    let cas = match atomics::Cas::new(&bucket, &key) {
                        Ok(c) => c,
                        Err(e) => return Ok(wkv_error(e)),
                    };
                    match cas.current() {
                        Ok(Some(_)) => return Ok(reply(409, "exists")),
                        Ok(None) => {}
                        Err(e) => return Ok(wkv_error(e)),
                    }
                    match atomics::swap(cas, req.body()) {
                        Ok(()) => reply(201, "created"),
                        Err(atomics::CasError::CasFailed(_)) => reply(409, "lost the race"),
                        Err(atomics::CasError::StoreError(e)) => wkv_error(e),
                    }
                }
                // Append one byte to the value with a CAS retry loop; returns
                // the number of retries.
                (Method::Post, "/append") => {
                    let mut retries = 0u32;
                    let mut cas = match atomics::Cas::new(&bucket, &key) {
                        Ok(c) => c,
                        Err(e) => return Ok(wkv_error(e)),
                    };
                    loop {
                        let mut v = cas.current().ok().flatten().unwrap_or_default();
                        v.extend_from_slice(req.body());
                        match atomics::swap(cas, &v) {
                            Ok(()) => break reply(200, retries.to_string()),
                            Err(atomics::CasError::CasFailed(again)) => {
                                retries += 1;
                                cas = again;
                            }
                            Err(atomics::CasError::StoreError(e)) => break wkv_error(e),
                        }
                    }
                }
                _ => reply(405, "unknown wasi-kv operation"),
            }
        }
        ("fault", "/trap") => panic!("deliberate trap for the host's fault test"),
        ("fault", "/loop") => {
            let mut x: u64 = 0;
            loop {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        }
        ("fault", "/alloc") => {
            let mb: usize = query(&req, "mb").and_then(|m| m.parse().ok()).unwrap_or(1);
            let v = vec![1u8; mb * 1024 * 1024];
            reply(200, std::hint::black_box(v).len().to_string())
        }
        ("fault", "/variable") => match spin_sdk::variables::get(&key) {
            Ok(v) => reply(200, v),
            Err(e) => reply(404, format!("{e:?}")),
        },
        ("fault", "/outbound") => {
            let url = query(&req, "url").unwrap_or("").to_string();
            match spin_sdk::http::send::<_, Response>(Request::get(url).build()).await {
                Ok(r) => reply(200, format!("upstream status {}", r.status())),
                Err(e) => reply(502, format!("refused: {e}")),
            }
        }
        ("fault", "/now") => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            reply(200, now.as_secs().to_string())
        }
        ("fault", "/env") => reply(200, std::env::var(&key).unwrap_or_default()),
        ("fault", "/file") => match std::fs::read_to_string(&key) {
            Ok(s) => reply(200, s),
            Err(e) => reply(404, e.to_string()),
        },
        _ => reply(404, "no such test operation"),
    })
}
