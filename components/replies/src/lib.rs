//! `replies`: `POST /api/v1/tickets/<no>/replies`, the one path for posting to
//! a thread (all logic in `domain::api::handle_replies`).

use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: Request) -> anyhow::Result<impl IntoResponse> {
    Ok(platform::serve_api(&req, domain::api::handle_replies).await)
}
