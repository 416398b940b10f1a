//! `shares`: external collaborators (all logic in `api::shares`):
//! the staff API under `/api/v1/tickets/<no>/shares` and the collaborator's
//! page behind a share link, `/s/<link>`.

use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    platform::serve_api(req, out, api::routes::SHARES).await
}
