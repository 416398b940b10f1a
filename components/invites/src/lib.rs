//! `invites`: delegates of a ticket under `/api/v1/tickets/<no>/delegates`
//! (all logic in `api::invites`).

use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    platform::serve_api(req, out, api::routes::INVITES).await
}
