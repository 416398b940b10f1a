//! On each cron tick: Ticketshare's deployment webhook flush, called again
//! at once while it answers `"more": true` (a backlog), at most 10 times.

use spin_cron_sdk::{Error, Metadata, cron_component};
use spin_sdk::http::{Method, Request, Response, send};
use spin_sdk::variables;

#[cron_component]
async fn handle_cron_event(_: Metadata) -> Result<(), Error> {
    let origin = variables::get("ticketshare_url").map_err(|e| Error::Other(e.to_string()))?;
    let token = variables::get("admin_token").map_err(|e| Error::Other(e.to_string()))?;
    let url = format!(
        "{}/api/v1/webhooks/deployment-flush",
        origin.trim_end_matches('/')
    );
    for _ in 0..10 {
        let req = Request::builder()
            .method(Method::Post)
            .uri(url.as_str())
            .header("authorization", format!("Bearer {token}"))
            .header("content-length", "0")
            .body(Vec::new())
            .build();
        let resp: Response = send(req)
            .await
            .map_err(|e| Error::Other(format!("flush: {e}")))?;
        let body = String::from_utf8_lossy(resp.body()).into_owned();
        if *resp.status() != 202 {
            return Err(Error::Other(format!("flush answered {}: {body}", resp.status())));
        }
        println!("{body}");
        if !body.contains("\"more\":true") {
            break;
        }
    }
    Ok(())
}
