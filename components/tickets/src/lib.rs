//! `tickets`: the general JSON API under `/api/v1/` (all logic in
//! `domain::api::handle_tickets`).

use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: Request) -> anyhow::Result<impl IntoResponse> {
    Ok(platform::serve_api(&req, domain::api::handle_tickets).await)
}
