//! `webhooks`: outbound webhook endpoints, deliveries and the retry flush
//! under `/api/v1/webhooks` (all logic in `api::webhooks`;
//! deliveries are sent by `platform` after the response).

use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    platform::serve_api(req, out, api::routes::WEBHOOKS).await
}
