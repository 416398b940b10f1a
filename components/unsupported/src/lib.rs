//! Imports `fermyon:spin/llm`, which this host does not provide: loading it
//! must fail at start with a message naming the interface.

use spin_sdk::http::{IntoResponse, Request, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(_req: Request) -> anyhow::Result<impl IntoResponse> {
    let r = spin_sdk::llm::infer(spin_sdk::llm::InferencingModel::Llama2Chat, "hi")?;
    Ok(Response::new(200, r.text))
}
