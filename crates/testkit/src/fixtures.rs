//! What tests of several areas do alike, over a [`World`]: customers and
//! staff, delegate invitations, participants, shares and their
//! collaborator, Postmark inbound mail, and the OpenAPI walk's world.

use serde_json::{Value, json};

use crate::http::{Resp, request};
use crate::seed::basic_auth;
use crate::world::{World, call, json_of};

pub use crate::spec::{fill_path, spec_auth};

/// Create (or update) customer `email` in `acme`; returns their id.
pub fn customer(w: &World, email: &str) -> String {
    let r = w.as_(
        None,
        "PUT",
        "/api/v1/users",
        Some(json!({"email": email, "name": email.split('@').next().unwrap(), "role": "customer"})),
    );
    assert!(r.status == 201 || r.status == 200, "{}", r.text());
    json_of(&r)["user"]["id"].as_str().unwrap().to_string()
}

/// The link with `marker` (`/i/`, `/p/`) in the newest email to `to`, as a
/// path.
fn link_to(w: &World, to: &str, marker: &str) -> String {
    let outbox = json_of(&w.as_(None, "GET", "/api/v1/outbox?limit=100", None));
    let email = outbox["emails"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["to"] == to)
        .unwrap_or_else(|| panic!("no email to {to}"));
    crate::seed::link_in(email, marker).unwrap_or_else(|| panic!("no {marker} link to {to}"))
}

/// The accept link path (`/i/<link>`) from the newest email to `to`.
pub fn invite_path(w: &World, to: &str) -> String {
    link_to(w, to, "/i/")
}

/// POST the accept form of invitation `path` as a browser on this site;
/// the answer and the session cookie it set, if any.
pub fn accept(w: &World, path: &str) -> (Resp, Option<String>) {
    let r = request(
        &w.host.addr,
        "POST",
        path,
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"",
    );
    let cookie = r
        .header("set-cookie")
        .map(|c| c.split(';').next().unwrap().to_string());
    (r, cookie)
}

/// A whole-account session cookie (`name=value`) for `user`, from a login
/// link.
pub fn login_session(w: &World, user: &str) -> String {
    let r = w.as_(
        None,
        "POST",
        &format!("/api/v1/users/{user}/login-links"),
        None,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let url = json_of(&r)["url"].as_str().unwrap().to_string();
    let link = url.rsplit('#').next().unwrap();
    let r = call(
        &w.host,
        "POST",
        "/api/v1/auth/login",
        &[],
        Some(json!({ "link": link })),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    r.header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

/// A call with a session cookie instead of the API key.
pub fn as_cookie(w: &World, cookie: &str, method: &str, path: &str, body: Option<Value>) -> Resp {
    call(&w.host, method, path, &[("Cookie", cookie)], body)
}

/// Create (or update) staff member `email` with `queues`; returns their id.
pub fn staff_user(w: &World, email: &str, queues: &[&str]) -> String {
    let r = w.as_(
        None,
        "PUT",
        "/api/v1/users",
        Some(json!({"email": email, "name": email.split('@').next().unwrap(), "role": "staff", "queues": queues})),
    );
    assert!(r.status == 201 || r.status == 200, "{}", r.text());
    json_of(&r)["user"]["id"].as_str().unwrap().to_string()
}

/// Every ticket number of a view, following cursors.
pub fn view(w: &World, user: &str, name: &str) -> (Vec<u64>, Value) {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = cursor
            .as_ref()
            .map(|c| format!("&cursor={c}"))
            .unwrap_or_default();
        let r = w.as_(
            Some(user),
            "GET",
            &format!("/api/v1/inbox?view={name}&limit=7{q}"),
            None,
        );
        assert_eq!(r.status, 200, "{}", r.text());
        let v = json_of(&r);
        let counts = v["counts"].clone();
        out.extend(
            v["tickets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["number"].as_u64().unwrap()),
        );
        match v["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return (out, counts),
        }
    }
}

/// Turn participants on in `acme` (`copy`: copy them on replies).
pub fn enable_participants(w: &World, copy: bool) {
    let r = w.as_(
        Some(&w.admin),
        "PATCH",
        "/api/v1/workspace/settings",
        Some(json!({"participants_enabled": true, "copy_participants": copy})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
}

/// Staff add `email` to ticket `t` as a participant; returns their personal
/// link's path (from the email it was sent in).
pub fn add_participant(w: &World, t: u64, email: &str) -> String {
    let r = w.as_(
        Some(&w.staff),
        "POST",
        &format!("/api/v1/tickets/{t}/participants"),
        Some(json!({"email": email})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    participant_link(w, email)
}

/// The personal link path (`/p/<link>`) from the newest email to `to`.
pub fn participant_link(w: &World, to: &str) -> String {
    link_to(w, to, "/p/")
}

/// The newest email of `kind` to `to`.
pub fn email(w: &World, to: &str, kind: &str) -> Value {
    let outbox = json_of(&w.as_(None, "GET", "/api/v1/outbox?limit=100", None));
    outbox["emails"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["to"] == to && e["kind"] == kind)
        .cloned()
        .unwrap_or_else(|| panic!("no {kind} email to {to}"))
}

/// The `/s/...` path of the newest share email to `to`.
pub fn share_link(w: &World, to: &str) -> String {
    let text = email(w, to, "share_link")["text"]
        .as_str()
        .unwrap()
        .to_string();
    let url = text.split_whitespace().find(|s| s.contains("/s/")).unwrap();
    format!("/s/{}", url.split("/s/").nth(1).unwrap())
}

/// The code of the newest code email to `to`.
pub fn code_for(w: &World, to: &str) -> String {
    let text = email(w, to, "share_code")["text"]
        .as_str()
        .unwrap()
        .to_string();
    let i = text.find("Your code is ").unwrap() + "Your code is ".len();
    text[i..i + 6].to_string()
}

/// Share ticket `t` as the admin; returns the share.
pub fn share(w: &World, t: u64, body: Value) -> Value {
    let r = w.as_(
        Some(&w.admin),
        "POST",
        &format!("/api/v1/tickets/{t}/shares"),
        Some(body),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    json_of(&r)["share"].clone()
}

/// A collaborator's browser: the cookie it holds for one share.
pub struct Collab<'a> {
    w: &'a World,
    /// The share link path (`/s/...`).
    pub link: String,
    /// The session cookie the share page set.
    pub cookie: Option<String>,
}

impl<'a> Collab<'a> {
    /// A browser that holds no cookie yet.
    pub fn new(w: &'a World, link: &str) -> Self {
        Collab {
            w,
            link: link.to_string(),
            cookie: None,
        }
    }

    fn headers(&self, extra: &[(&'a str, &'a str)]) -> Vec<(String, String)> {
        let mut h: Vec<(String, String)> = extra
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if let Some(c) = &self.cookie {
            h.push(("Cookie".into(), c.clone()));
        }
        h
    }

    fn send(&self, method: &str, path: &str, extra: &[(&'a str, &'a str)], body: &[u8]) -> Resp {
        let h = self.headers(extra);
        let refs: Vec<(&str, &str)> = h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        request(&self.w.host.addr, method, path, &refs, body)
    }

    /// Open the share page.
    pub fn get(&self) -> Resp {
        self.send("GET", &self.link, &[], b"")
    }

    /// Open the share page with more headers (`If-None-Match`, ...).
    pub fn get_with(&self, extra: &[(&str, &str)]) -> Resp {
        let mut h: Vec<(&str, &str)> = extra.to_vec();
        if let Some(c) = &self.cookie {
            h.push(("Cookie", c));
        }
        request(&self.w.host.addr, "GET", &self.link, &h, b"")
    }

    /// Post a form of the share page; keeps the cookie it sets.
    pub fn form(&mut self, body: &str) -> Resp {
        let r = self.send(
            "POST",
            &self.link.clone(),
            &[("Content-Type", "application/x-www-form-urlencoded")],
            body.as_bytes(),
        );
        if let Some(c) = r.header("set-cookie") {
            self.cookie = Some(c.split(';').next().unwrap().to_string());
        }
        r
    }

    /// Ask for a code, read it from the outbox, enter it.
    pub fn verify(&mut self, email: &str) -> Resp {
        let r = self.form("action=send_code");
        assert_eq!(r.status, 200, "{}", r.text());
        let code = code_for(self.w, email);
        let r = self.form(&format!("action=verify&code={code}"));
        assert_eq!(r.status, 303, "{}", r.text());
        r
    }

    /// Post a reply with files (multipart, as the page's form does), with
    /// the form's one-time field from a fresh rendering of the page.
    pub fn reply(&self, body: &str, files: &[(&str, &[u8])]) -> Resp {
        let page = self.get().text();
        let once = page
            .split("name=\"once\" value=\"")
            .nth(1)
            .map(|s| s.split('"').next().unwrap().to_string());
        self.reply_with(body, files, once.as_deref())
    }

    /// Post a reply with a given one-time field (`None`: without one).
    pub fn reply_with(&self, body: &str, files: &[(&str, &[u8])], once: Option<&str>) -> Resp {
        let mut fields = vec![("action", "reply")];
        if let Some(o) = once {
            fields.push(("once", o));
        }
        fields.push(("body", body));
        let (ct, out) = crate::seed::multipart(&fields, files);
        let h = self.headers(&[]);
        let mut refs: Vec<(&str, &str)> = h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        refs.push(("Content-Type", &ct));
        request(&self.w.host.addr, "POST", &self.link, &refs, &out)
    }

    /// GET `path` with the collaborator's cookie.
    pub fn fetch(&self, path: &str) -> Resp {
        self.send("GET", path, &[], b"")
    }
}

/// The wall clock in milliseconds since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Turn on Postmark inbound for `acme` as its admin; the hook path and the
/// `Authorization` value Postmark sends.
pub fn postmark_url_parts(w: &World) -> (String, String) {
    let r = w.as_(
        Some(&w.admin),
        "POST",
        "/api/v1/webhooks/inbound/postmark",
        None,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let v = json_of(&r);
    let url = v["url"].as_str().unwrap();
    assert!(
        url.contains("://inbound:") && url.ends_with("/hooks/postmark/acme"),
        "{url}"
    );
    let basic = basic_auth("inbound", v["password"].as_str().unwrap());
    ("/hooks/postmark/acme".into(), basic)
}

/// Deliver a Postmark inbound payload to `acme`'s hook.
pub fn pm(
    w: &World,
    auth: &str,
    from: &str,
    to: &str,
    msg_id: &str,
    text: &str,
    extra_headers: Value,
) -> Resp {
    let mut headers = vec![json!({"Name": "Message-ID", "Value": format!("<{msg_id}>")})];
    headers.extend(extra_headers.as_array().cloned().unwrap_or_default());
    let body = json!({
        "From": from, "FromFull": {"Email": from, "Name": "Sender Name"},
        "To": to, "ToFull": [{"Email": to}], "Subject": "Re: ticket",
        "MessageID": "pm-id", "TextBody": text, "StrippedTextReply": "",
        "Headers": headers, "Attachments": [],
    });
    request(
        &w.host.addr,
        "POST",
        "/hooks/postmark/acme",
        &[
            ("Authorization", auth),
            ("Content-Type", "application/json"),
        ],
        body.to_string().as_bytes(),
    )
}

/// The reply address of ticket `t` (read as staff).
pub fn reply_address(w: &World, t: u64) -> String {
    let v = json_of(&w.as_(Some(&w.staff), "GET", &format!("/api/v1/tickets/{t}"), None));
    v["ticket"]["reply_address"].as_str().unwrap().to_string()
}

/// A world for walking the OpenAPI document: a ticket of customer A and a
/// spare API key; returns the world, the ticket and the key's id.
pub fn spec_world() -> (World, u64, String) {
    let w = World::build(false);
    let t = w.ticket(&w.cust_a, "For the spec");
    let spare = json_of(&w.as_(
        None,
        "POST",
        "/api/v1/api-keys",
        Some(json!({"label": "spare"})),
    ));
    let spare_id = spare["api_key"]["id"].as_str().unwrap().to_string();
    (w, t, spare_id)
}
