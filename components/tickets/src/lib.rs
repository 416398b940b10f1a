//! `tickets`: the general JSON API under `/api/v1/` (all logic in
//! `api::tickets`).

use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    platform::serve_api(req, out, api::routes::TICKETS).await
}
