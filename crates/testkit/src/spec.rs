//! The OpenAPI walk's helpers, over any transport: a documented path with
//! its parameters filled, and the credentials a documented operation asks
//! for (the HTTP suite's sweep and the API's native tests walk the same
//! document).

use serde_json::Value;

/// The credentials a documented operation asks for: the deployment token,
/// or the API key acting as the admin `admin`, or none.
pub fn spec_auth<'a>(
    op: &Value,
    admin_token: &'a str,
    bearer: &'a str,
    admin: &'a str,
) -> Vec<(&'static str, &'a str)> {
    let security = op["security"].as_array().unwrap();
    if security.iter().any(|s| s.get("deploymentToken").is_some()) {
        vec![("Authorization", admin_token)]
    } else if !security.is_empty() {
        vec![("Authorization", bearer), ("Ticketshare-Act-As", admin)]
    } else {
        Vec::new()
    }
}

/// A documented path with its parameters filled: workspace `acme`, ticket
/// `t`, API key `key_id`, user `user`; the ids of things that do not exist
/// are well-formed.
pub fn fill_path(path: &str, t: u64, key_id: &str, user: &str) -> String {
    let p = path
        .replace("{workspace_id}", "acme")
        .replace("{key_id}", key_id)
        .replace("{user_id}", user)
        .replace("{number}", &t.to_string())
        .replace("{seq}", "1")
        .replace("{held_no}", "1")
        .replace("{share_id}", "sh_abcdefghijkmnpqr")
        .replace("{endpoint_id}", "wh_abcdefghijkmnpqr")
        .replace("{delivery_no}", "1")
        .replace("{attachment_id}", "att_abcdefghijkmnpqr")
        .replace("{participant_id}", "u_abcdefghijkmnpqr");
    assert!(!p.contains('{'), "a parameter left unfilled in {path}");
    p
}
