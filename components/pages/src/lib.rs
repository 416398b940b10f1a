//! `pages`: serves `static/` (mounted at `/` by `spin.toml`). All rules live in
//! the pure `assets::respond`; this component only reads the request, the
//! files, and writes the response.

use spin_sdk::http::{IntoResponse, Request, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(req: Request) -> anyhow::Result<impl IntoResponse> {
    let method = req.method().to_string();
    let path = req.path().to_string();
    let inm = req
        .header("if-none-match")
        .and_then(|h| h.as_str())
        .map(str::to_string);
    let reply = assets::respond(&method, &path, inm.as_deref(), |p| std::fs::read(p).ok());
    let mut builder = Response::builder();
    builder.status(reply.status);
    for (k, v) in reply.headers {
        builder.header(k, v);
    }
    Ok(builder.body(reply.body).build())
}
