//! The OpenAPI 3.1 document of the API, generated from one route table. An
//! integration test calls every route listed here, so the document and the
//! routes actually served cannot drift apart.

use serde_json::{Value, json};

/// How a route is authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// No credentials.
    None,
    /// The deployment admin token.
    Deployment,
    /// A workspace API key (optionally acting as a user) or a session.
    Workspace,
}

/// One documented route.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// HTTP method.
    pub method: &'static str,
    /// Path template with `{name}` parameters.
    pub path: &'static str,
    /// One-line summary.
    pub summary: &'static str,
    /// Authentication.
    pub auth: Auth,
    /// Whether it takes a JSON body.
    pub body: bool,
}

const fn r(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    auth: Auth,
    body: bool,
) -> Route {
    Route {
        method,
        path,
        summary,
        auth,
        body,
    }
}

/// Every route of the API.
pub const ROUTES: &[Route] = &[
    r(
        "POST",
        "/api/v1/workspaces",
        "Create a workspace (deployment admin token); returns its first API key",
        Auth::Deployment,
        true,
    ),
    r(
        "POST",
        "/api/v1/auth/login",
        "Use a login link; starts a session (cookie)",
        Auth::None,
        true,
    ),
    r(
        "POST",
        "/api/v1/auth/email-login",
        "Email a sign-in link (same answer whether or not the address exists)",
        Auth::None,
        true,
    ),
    r(
        "POST",
        "/api/v1/auth/logout",
        "End the session",
        Auth::None,
        false,
    ),
    r(
        "GET",
        "/api/v1/me",
        "Who is calling; `ticket_scope`: the one ticket a session started by an invitation reaches (else null)",
        Auth::Workspace,
        false,
    ),
    r(
        "GET",
        "/api/v1/workspace",
        "The workspace, its settings and `logo`: the uploaded logo's type, size and etag (null when none)",
        Auth::Workspace,
        false,
    ),
    r(
        "PUT",
        "/api/v1/workspace/settings",
        "Replace every setting (admins); a body that leaves any out is refused with a 400 naming them",
        Auth::Workspace,
        true,
    ),
    r(
        "PATCH",
        "/api/v1/workspace/settings",
        "Change some settings (admins): JSON merge patch (RFC 7396), absent fields keep their value, null puts one back to its default",
        Auth::Workspace,
        true,
    ),
    r(
        "PUT",
        "/api/v1/workspace/logo",
        "Upload the logo image (PNG, JPEG, GIF or WebP, at most 256 KiB; admins)",
        Auth::Workspace,
        false,
    ),
    r(
        "GET",
        "/api/v1/workspaces/{workspace_id}/logo",
        "The uploaded logo (public: emails show it); the same 404 for a workspace without a logo and for one that does not exist",
        Auth::None,
        false,
    ),
    r(
        "GET",
        "/api/v1/workspaces/{workspace_id}/brand.css",
        "The brand colour as a style sheet (public: the pages behind share links use it); a workspace that does not exist gets the default colour, like one that kept it",
        Auth::None,
        false,
    ),
    r(
        "GET",
        "/api/v1/api-keys",
        "List API keys: id, prefix (never the secret), label, created_at (RFC 3339), revoked (admins)",
        Auth::Workspace,
        false,
    ),
    r(
        "POST",
        "/api/v1/api-keys",
        "Create an API key; the secret is shown once (admins)",
        Auth::Workspace,
        true,
    ),
    r(
        "POST",
        "/api/v1/api-keys/{key_id}/revoke",
        "Revoke an API key (admins)",
        Auth::Workspace,
        false,
    ),
    r(
        "PUT",
        "/api/v1/users",
        "Create or update a user by email (platform, admins)",
        Auth::Workspace,
        true,
    ),
    r(
        "GET",
        "/api/v1/users/{user_id}",
        "Read a user",
        Auth::Workspace,
        false,
    ),
    r(
        "POST",
        "/api/v1/users/{user_id}/login-links",
        "Mint a single-use login link (platform, admins)",
        Auth::Workspace,
        false,
    ),
    r(
        "POST",
        "/api/v1/tickets",
        "Open a ticket with its first message",
        Auth::Workspace,
        true,
    ),
    r(
        "GET",
        "/api/v1/tickets",
        "List tickets the caller may see, newest first",
        Auth::Workspace,
        false,
    ),
    r(
        "GET",
        "/api/v1/tickets/{number}",
        "Read a ticket",
        Auth::Workspace,
        false,
    ),
    r(
        "PUT",
        "/api/v1/tickets/{number}/order",
        "Set order details (platform, staff)",
        Auth::Workspace,
        true,
    ),
    r(
        "POST",
        "/api/v1/tickets/{number}/presence",
        "Say the calling staff member has the ticket open (JSON {\"composing\": bool}, or no body: not composing), for 30 s; answers the other staff with it open, {\"viewers\": [{\"user_id\", \"name\", \"composing\", \"seen_at\"}], \"ttl_seconds\": 30}; written at most once per 15 s per viewer while composing does not change (staff; an API key acts as a user; customers 403)",
        Auth::Workspace,
        true,
    ),
    r(
        "GET",
        "/api/v1/tickets/{number}/presence",
        "The staff other than the caller with the ticket open, as the POST answers, writing nothing (staff; customers 403)",
        Auth::Workspace,
        false,
    ),
    r(
        "GET",
        "/api/v1/tickets/{number}/thread",
        "A page of the thread (cursor, order, limit)",
        Auth::Workspace,
        false,
    ),
    r(
        "POST",
        "/api/v1/tickets/{number}/replies",
        "Post a public reply or an internal note: JSON {body, visibility, from_email}, or multipart/form-data with the same text fields and files under `files` (the share page's limits and sniffed types); 201 with the message and its attachments",
        Auth::Workspace,
        true,
    ),
    r(
        "GET",
        "/api/v1/tickets/{number}/delegates",
        "List the ticket's delegates (staff, the ticket's customer)",
        Auth::Workspace,
        false,
    ),
    r(
        "POST",
        "/api/v1/tickets/{number}/delegates",
        "Invite a customer of the workspace as a delegate (email with a personal accept link); 409 when the invitee already sees the ticket (its customer, or a customer of its company)",
        Auth::Workspace,
        true,
    ),
    r(
        "POST",
        "/api/v1/tickets/{number}/delegates/{user_id}/resend",
        "Send a new invite link (the old one stops working)",
        Auth::Workspace,
        false,
    ),
    r(
        "POST",
        "/api/v1/tickets/{number}/delegates/{user_id}/revoke",
        "Revoke a delegate: reading, posting and pending links stop at once",
        Auth::Workspace,
        false,
    ),
    r(
        "GET",
        "/api/v1/tickets/{number}/participants",
        "List the ticket's participants (staff)",
        Auth::Workspace,
        false,
    ),
    r(
        "POST",
        "/api/v1/tickets/{number}/participants",
        "Add a participant by any email (customer or guest); emails their personal link",
        Auth::Workspace,
        true,
    ),
    r(
        "POST",
        "/api/v1/tickets/{number}/participants/{participant_id}/remove",
        "Remove a participant: all their links stop working",
        Auth::Workspace,
        false,
    ),
    r(
        "POST",
        "/api/v1/tickets/{number}/resolve",
        "Resolve a ticket (staff); revokes its outside links when the workspace says so",
        Auth::Workspace,
        false,
    ),
    r(
        "POST",
        "/api/v1/tickets/{number}/reopen",
        "Reopen a resolved ticket (staff)",
        Auth::Workspace,
        false,
    ),
    r(
        "POST",
        "/api/v1/tickets/{number}/delete",
        "Delete a ticket (staff; soft, kept in the audit ledger); revokes every delegate and participant link",
        Auth::Workspace,
        false,
    ),
    r(
        "GET",
        "/api/v1/tickets/{number}/shares",
        "External shares of a ticket with their state (external share permission)",
        Auth::Workspace,
        false,
    ),
    r(
        "POST",
        "/api/v1/tickets/{number}/shares",
        "Share a ticket with an external collaborator: email, subject, note, include_details (off), can_reply (on); emails a personal link",
        Auth::Workspace,
        true,
    ),
    r(
        "POST",
        "/api/v1/tickets/{number}/shares/{share_id}/cancel",
        "Cancel a share: its link and sessions stop at the next request",
        Auth::Workspace,
        false,
    ),
    r(
        "POST",
        "/api/v1/tickets/{number}/shares/{share_id}/extend",
        "Give a live share a fresh lifetime from now",
        Auth::Workspace,
        false,
    ),
    r(
        "POST",
        "/api/v1/tickets/{number}/shares/{share_id}/reshare",
        "Send the collaborator a new link (fresh lifetime; skips the code for an address that verified before)",
        Auth::Workspace,
        false,
    ),
    r(
        "POST",
        "/api/v1/tickets/{number}/messages/{seq}/promote",
        "Promote an external note to a public reply (staff with the external share permission; once)",
        Auth::Workspace,
        false,
    ),
    r(
        "GET",
        "/api/v1/tickets/{number}/messages/{seq}/attachments/{attachment_id}",
        "Download a file of a message the caller may see (Content-Disposition: attachment)",
        Auth::Workspace,
        false,
    ),
    r(
        "GET",
        "/api/v1/inbox",
        "A page of an inbox view (?view=pending|working|resolved, cursor, limit) with the counts of all three and per-person unread markers (staff)",
        Auth::Workspace,
        false,
    ),
    r(
        "POST",
        "/api/v1/inbox/reindex",
        "Give tickets made before the inbox existed their view entries (admins; maintenance)",
        Auth::Workspace,
        false,
    ),
    r(
        "GET",
        "/api/v1/search",
        "Search tickets: ?q=#22 (or 22) for a number, else words of the subject, customer name and email (staff) and messages; most recent activity first, within what the caller may see",
        Auth::Workspace,
        false,
    ),
    r(
        "GET",
        "/api/v1/staff",
        "Admins and staff whose name or email contains ?q= (for transfers), and the workspace's queues (staff)",
        Auth::Workspace,
        false,
    ),
    r(
        "POST",
        "/api/v1/tickets/{number}/accept",
        "Take a pending ticket (staff of its queue); 200 with the ticket and already_yours (true when the caller held it already: nothing changed); 409 naming who has it when someone was first",
        Auth::Workspace,
        false,
    ),
    r(
        "POST",
        "/api/v1/tickets/{number}/transfer",
        "Hand a ticket to another staff member (to) and/or queue, with an optional note shown as an internal event; if_version makes concurrent transfers exclusive",
        Auth::Workspace,
        true,
    ),
    r(
        "POST",
        "/api/v1/tickets/{number}/return",
        "Put an assigned ticket back in Pending, with an optional reason",
        Auth::Workspace,
        false,
    ),
    r(
        "POST",
        "/api/v1/tickets/{number}/read",
        "Mark a ticket read for the calling staff member",
        Auth::Workspace,
        false,
    ),
    r(
        "POST",
        "/api/v1/tickets/{number}/unread",
        "Mark a ticket unread for the calling staff member",
        Auth::Workspace,
        false,
    ),
    r(
        "POST",
        "/api/v1/tickets/{number}/purge",
        "Remove a deleted ticket's messages and files for good; the ledger keeps its entries (admins)",
        Auth::Workspace,
        false,
    ),
    r(
        "GET",
        "/api/v1/tickets/{number}/audit",
        "The ticket's audit trail (staff)",
        Auth::Workspace,
        false,
    ),
    r(
        "GET",
        "/api/v1/audit",
        "The workspace audit ledger, JSON or CSV (admins)",
        Auth::Workspace,
        false,
    ),
    r(
        "GET",
        "/api/v1/links",
        "Every live delegate, participant and external share link holder of the workspace (admins)",
        Auth::Workspace,
        false,
    ),
    r(
        "GET",
        "/api/v1/outbox",
        "Emails the app stored for sending (admins)",
        Auth::Workspace,
        false,
    ),
    r(
        "GET",
        "/api/v1/webhooks",
        "Webhook endpoints and the event types they may subscribe to (admins)",
        Auth::Workspace,
        false,
    ),
    r(
        "POST",
        "/api/v1/webhooks",
        "Register an endpoint: url, event_types (empty: all); returns its whsec_ secret once (admins)",
        Auth::Workspace,
        true,
    ),
    r(
        "POST",
        "/api/v1/webhooks/{endpoint_id}/rotate",
        "New signing secret (shown once); the old one also signs for 24 hours",
        Auth::Workspace,
        false,
    ),
    r(
        "POST",
        "/api/v1/webhooks/{endpoint_id}/enable",
        "Turn a disabled endpoint (e.g. after a 410) back on",
        Auth::Workspace,
        false,
    ),
    r(
        "POST",
        "/api/v1/webhooks/{endpoint_id}/delete",
        "Delete an endpoint",
        Auth::Workspace,
        false,
    ),
    r(
        "GET",
        "/api/v1/webhooks/deliveries",
        "Deliveries newest first, with state, attempts and last answer (?endpoint=)",
        Auth::Workspace,
        false,
    ),
    r(
        "POST",
        "/api/v1/webhooks/deliveries/{delivery_no}/redeliver",
        "Send a delivery again now",
        Auth::Workspace,
        false,
    ),
    r(
        "POST",
        "/api/v1/webhooks/flush",
        "Attempt deliveries that are due, at most 20 per call (the workspace's count answered as attempting)",
        Auth::Workspace,
        false,
    ),
    r(
        "POST",
        "/api/v1/webhooks/deployment-flush",
        "Attempt the deployment's due deliveries, every workspace, at most 20 per call (5 of one workspace), failing at most 20 unanswered ones; answers 202 {attempting, expired, more} (deployment admin token; run from cron, a Kubernetes CronJob, a Spin cron trigger or the host's --flush-webhooks-every)",
        Auth::Deployment,
        false,
    ),
    r(
        "GET",
        "/api/v1/webhooks/inbound",
        "Inbound email set-up: reply domain, hook URLs, which providers are configured (admins)",
        Auth::Workspace,
        false,
    ),
    r(
        "POST",
        "/api/v1/webhooks/inbound/postmark",
        "New Postmark inbound credentials; returns the webhook URL with them, once (admins)",
        Auth::Workspace,
        false,
    ),
    r(
        "PUT",
        "/api/v1/webhooks/inbound/mailgun",
        "Store the Mailgun webhook signing key (admins)",
        Auth::Workspace,
        true,
    ),
    r(
        "GET",
        "/api/v1/quarantine",
        "Inbound email held for review (unknown sender or ticket), newest first (staff)",
        Auth::Workspace,
        false,
    ),
    r(
        "POST",
        "/api/v1/quarantine/{held_no}/approve",
        "Post a held email to its ticket as its sender (staff)",
        Auth::Workspace,
        false,
    ),
    r(
        "POST",
        "/api/v1/quarantine/{held_no}/discard",
        "Drop a held email (staff)",
        Auth::Workspace,
        false,
    ),
    r(
        "POST",
        "/hooks/postmark/{workspace_id}",
        "Postmark inbound webhook (JSON; HTTP basic credentials from /api/v1/webhooks/inbound/postmark)",
        Auth::None,
        true,
    ),
    r(
        "POST",
        "/hooks/mailgun/{workspace_id}",
        "Mailgun inbound webhook (form; timestamp/token/signature HMAC with the signing key, within 300 s, tokens used once)",
        Auth::None,
        true,
    ),
    r(
        "GET",
        "/api/v1/openapi.json",
        "This document",
        Auth::None,
        false,
    ),
];

/// The methods documented for a concrete request path (`{name}` matches
/// any one segment), in table order; empty when no route has this path.
pub fn methods_for(path: &str) -> Vec<&'static str> {
    let path = path.trim_end_matches('/');
    let mut out: Vec<&'static str> = Vec::new();
    for r in ROUTES {
        if path_matches(r.path, path) && !out.contains(&r.method) {
            out.push(r.method);
        }
    }
    out
}

/// Whether `path` fits the route pattern `pat` (`{name}` matches one
/// non-empty segment). Checked against every route on every request, so it
/// walks both strings once and stops at the first byte that differs.
fn path_matches(pat: &str, path: &str) -> bool {
    let (p, s) = (pat.as_bytes(), path.as_bytes());
    let (mut i, mut j) = (0, 0);
    loop {
        // Both at the start of a segment.
        if p.get(i) == Some(&b'{') {
            while i < p.len() && p[i] != b'/' {
                i += 1;
            }
            let start = j;
            while j < s.len() && s[j] != b'/' {
                j += 1;
            }
            if j == start {
                return false;
            }
        } else {
            while i < p.len() && p[i] != b'/' {
                if s.get(j) != Some(&p[i]) {
                    return false;
                }
                i += 1;
                j += 1;
            }
            if j < s.len() && s[j] != b'/' {
                return false;
            }
        }
        match (i == p.len(), j == s.len()) {
            (true, true) => return true,
            (false, false) => {
                i += 1;
                j += 1;
            }
            _ => return false,
        }
    }
}

/// The GET endpoints that answer with an entity tag and `304 Not Modified`
/// to a matching `If-None-Match`, decided from change markers without
/// reading the data (`domain::marks`; `api::http::conditional`).
pub const CONDITIONAL: &[&str] = &[
    "/api/v1/tickets",
    "/api/v1/tickets/{number}",
    "/api/v1/tickets/{number}/thread",
    "/api/v1/inbox",
];

/// What the document says of a [`CONDITIONAL`] endpoint: the request header,
/// the `304`, and the headers of both answers.
fn document_conditional(op: &mut Value) {
    let tag_headers = json!({
        "ETag": {"description": "Strong entity tag of this answer (quoted hex); send it back in If-None-Match", "schema": {"type": "string"}},
        "Cache-Control": {"description": "private, no-cache: keep it, revalidate before each use", "schema": {"type": "string"}},
    });
    if let Some(params) = op["parameters"].as_array_mut() {
        params.push(json!({
            "name": "If-None-Match", "in": "header", "required": false,
            "description": "Entity tags of answers the client holds (a comma-separated list; W/ prefixes compared weakly; * for any). When one is this answer's tag: 304 with no body. A header that is not a list of tags, or longer than 8 KiB, matches nothing.",
            "schema": {"type": "string"}
        }));
    }
    op["responses"]["2XX"]["headers"] = tag_headers.clone();
    op["responses"]["304"] = json!({
        "description": "Not Modified: nothing this answer shows changed since the tag given in If-None-Match; no body",
        "headers": tag_headers,
    });
}

/// The `multipart/form-data` body a route takes beside JSON, if any: a
/// reply with files.
fn multipart_body(path: &str) -> Option<Value> {
    if path != "/api/v1/tickets/{number}/replies" {
        return None;
    }
    let limits = format!(
        "At most {} files, {} MiB each, {} MiB together; images (PNG, JPEG, GIF, WebP), PDF, text, CSV and ZIP/Office files, by their bytes",
        domain::attachments::MAX_FILES,
        domain::attachments::MAX_FILE_BYTES / (1024 * 1024),
        domain::attachments::MAX_TOTAL_BYTES / (1024 * 1024),
    );
    Some(json!({
        "schema": {
            "type": "object",
            "required": ["body"],
            "additionalProperties": false,
            "properties": {
                "body": {"type": "string", "description": "Markdown text"},
                "visibility": {"type": "string", "enum": ["public", "internal"], "default": "public",
                    "description": "internal: staff only"},
                "from_email": {"type": "string", "description": "The platform posting on someone's behalf (public only)"},
                "files": {"type": "array", "items": {"type": "string", "contentMediaType": "application/octet-stream"},
                    "maxItems": domain::attachments::MAX_FILES, "description": limits}
            }
        },
        "encoding": {"files": {"contentType": "application/octet-stream"}}
    }))
}

/// The OpenAPI 3.1 document.
pub fn document() -> Value {
    let mut paths = serde_json::Map::new();
    for route in ROUTES {
        let params: Vec<Value> = route
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        let mut op = json!({
            "summary": route.summary,
            "parameters": params,
            "responses": {
                "2XX": {"description": "Success (200, 201 for what a call creates, 303 where a page follows)"},
                "4XX": {"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            }
        });
        if route.method == "POST" && route.auth != Auth::None {
            op["parameters"].as_array_mut().unwrap().push(json!({
                "name": "Idempotency-Key", "in": "header", "required": false, "schema": {"type": "string", "maxLength": 255}
            }));
        }
        op["security"] = match route.auth {
            Auth::None => json!([]),
            Auth::Deployment => json!([{"deploymentToken": []}]),
            Auth::Workspace => json!([{"apiKey": []}, {"session": []}]),
        };
        if route.body {
            op["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": {"type": "object"}}}});
            if let Some(form) = multipart_body(route.path) {
                op["requestBody"]["content"]["multipart/form-data"] = form;
            }
        }
        if route.method == "GET" && CONDITIONAL.contains(&route.path) {
            document_conditional(&mut op);
        }
        let entry = paths
            .entry(route.path.to_string())
            .or_insert_with(|| json!({}));
        entry[route.method.to_ascii_lowercase()] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Ticketshare API", "version": "1"},
        "paths": paths,
        "components": {
            "securitySchemes": {
                "apiKey": {"type": "http", "scheme": "bearer", "description": "Workspace API key tsk_<workspace>.<token>; add Ticketshare-Act-As: <user id> to act as a user"},
                "deploymentToken": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "__Host-ts_session", "description": "Browser session from a login link (the whole account) or from an accepted invitation (its one ticket: GET /me, the ticket, its thread and files, replies; anything else 404). A POST, PUT, PATCH or DELETE made with it must come from this site's pages (Sec-Fetch-Site: same-origin, or Origin the public origin), else 403 cross_site_request"}
            },
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object",
                    "required": ["code", "message"], "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_patterns_match_whole_segments() {
        assert!(path_matches("/api/v1/tickets/{no}", "/api/v1/tickets/7"));
        assert!(!path_matches("/api/v1/tickets/{no}", "/api/v1/tickets/"));
        assert!(!path_matches("/api/v1/tickets/{no}", "/api/v1/tickets/7/x"));
        assert!(!path_matches("/api/v1/tickets", "/api/v1/ticketsx"));
        assert!(!path_matches("/api/v1/tickets", "/api/v1/ticket"));
        assert!(!path_matches(
            "/api/v1/tickets/{no}/accept",
            "/api/v1/tickets//accept"
        ));
        assert!(path_matches("/api/v1/{a}/{b}", "/api/v1/x/y"));
        assert!(path_matches("/", "/"));
        assert!(!path_matches("/a", "/a/"));
    }

    #[test]
    fn methods_for_a_path_follow_the_table() {
        assert_eq!(methods_for("/api/v1/tickets"), ["POST", "GET"]);
        assert_eq!(methods_for("/api/v1/tickets/7/accept"), ["POST"]);
        assert_eq!(methods_for("/api/v1/tickets//accept"), Vec::<&str>::new());
        assert_eq!(methods_for("/api/v1/nothing"), Vec::<&str>::new());
    }

    #[test]
    fn conditional_endpoints_document_their_tags() {
        let doc = document();
        for path in CONDITIONAL {
            let op = &doc["paths"][path]["get"];
            assert!(op["responses"]["304"].is_object(), "{path}");
            assert!(
                op["responses"]["2XX"]["headers"]["ETag"].is_object(),
                "{path}"
            );
            assert!(
                op["parameters"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["name"] == "If-None-Match"),
                "{path}"
            );
        }
    }

    #[test]
    fn every_route_is_documented_once() {
        let doc = document();
        let mut n = 0;
        for (_, ops) in doc["paths"].as_object().unwrap() {
            n += ops.as_object().unwrap().len();
        }
        assert_eq!(n, ROUTES.len(), "no two routes share a method and path");
    }
}
