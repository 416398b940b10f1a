//! `transfer`: staff actions on a ticket's state under
//! `/api/v1/tickets/<no>/(resolve|reopen|delete)` (all logic in
//! `api::transfer`).

use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    platform::serve_api(req, out, api::routes::TRANSFER).await
}
