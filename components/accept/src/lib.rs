//! `accept`: the pages behind invite links, `/i/<link>` (all logic in
//! `api::accept`): GET shows the invitation and changes
//! nothing; POST accepts it.

use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    platform::serve_api(req, out, api::routes::ACCEPT).await
}
