//! `replies`: `POST /api/v1/tickets/<no>/replies`, the one path for posting to
//! a thread (all logic in `api::replies`).

use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    platform::serve_api(req, out, api::routes::REPLIES).await
}
