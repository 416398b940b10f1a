//! The one seeded-world builder: create a workspace, its staff and
//! customers, tickets, replies, shares, inbound mail... through the public
//! API, over any [`Transport`]: the HTTP client against a running host
//! (tests, `cargo xtask up`'s demo, bench, conformance) or an in-process
//! call of the API (the fuzzing crate's world, over a memory store).

use serde_json::{Value, json};

/// Something that answers API requests.
pub trait Transport {
    /// One request (the body, when given, as JSON with its content type);
    /// the status and the body as JSON (`Null` when it is not JSON). `Err`
    /// only when no answer came.
    fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<(u16, Value), String>;
}

impl<T: Transport + ?Sized> Transport for &T {
    fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<(u16, Value), String> {
        (**self).call(method, path, headers, body)
    }
}

#[cfg(feature = "host")]
impl Transport for crate::http::Client {
    fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<(u16, Value), String> {
        let text = body.map(Value::to_string).unwrap_or_default();
        let mut h = headers.to_vec();
        if body.is_some() {
            h.push(("Content-Type", "application/json"));
        }
        let r = self.request(method, path, &h, text.as_bytes())?;
        Ok((r.status, r.json()))
    }
}

/// A seeding step that did not succeed: the request, and the answer
/// (status 0 when none came).
#[derive(Debug, Clone)]
pub struct Failure {
    /// `METHOD /path`.
    pub what: String,
    /// The status answered (0: no answer).
    pub status: u16,
    /// The body answered (or the transport's error as a string).
    pub body: Value,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} {}", self.what, self.status, self.body)
    }
}

impl From<Failure> for String {
    fn from(f: Failure) -> String {
        f.to_string()
    }
}

/// A user to create (`PUT /api/v1/users`).
#[derive(Clone, Copy)]
pub struct User<'a> {
    /// Email (the identity).
    pub email: &'a str,
    /// Display name.
    pub name: &'a str,
    /// `admin`, `staff` or `customer`.
    pub role: &'a str,
    /// A customer's company.
    pub company: Option<&'a str>,
    /// Staff permissions.
    pub permissions: &'a [&'a str],
    /// Staff queues.
    pub queues: &'a [&'a str],
}

impl<'a> User<'a> {
    /// A user named by their email, with no company, permission or queue.
    pub fn new(email: &'a str, role: &'a str) -> Self {
        User {
            email,
            name: email,
            role,
            company: None,
            permissions: &[],
            queues: &[],
        }
    }
}

/// One request through `t` that must answer 2xx (or exactly `want`).
fn expect<T: Transport>(
    t: &T,
    want: Option<u16>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Result<(u16, Value), Failure> {
    let what = format!("{method} {path}");
    let (status, v) = t.call(method, path, headers, body).map_err(|e| Failure {
        what: what.clone(),
        status: 0,
        body: Value::String(e),
    })?;
    let good = match want {
        Some(w) => status == w,
        None => (200..300).contains(&status),
    };
    if good {
        Ok((status, v))
    } else {
        Err(Failure {
            what,
            status,
            body: v,
        })
    }
}

/// A workspace being seeded: its transport and its API key.
#[derive(Clone)]
pub struct Workspace<T> {
    /// How requests reach the API.
    pub transport: T,
    /// The workspace id.
    pub id: String,
    /// Its API key (the secret, without `Bearer `).
    pub key: String,
}

impl<T: Transport> Workspace<T> {
    /// Create workspace `id` with the deployment's admin token (must
    /// answer 201; a 409 means it exists already).
    pub fn create(transport: T, admin_token: &str, id: &str, name: &str) -> Result<Self, Failure> {
        let (_, v) = expect(
            &transport,
            Some(201),
            "POST",
            "/api/v1/workspaces",
            &[("Authorization", &format!("Bearer {admin_token}"))],
            Some(&json!({"id": id, "name": name})),
        )?;
        let key = v["secret"].as_str().unwrap_or_default().to_string();
        Ok(Workspace {
            transport,
            id: id.to_string(),
            key,
        })
    }

    /// `Bearer <key>`.
    pub fn auth(&self) -> String {
        format!("Bearer {}", self.key)
    }

    /// One API call with the workspace's key, acting as `act_as` when
    /// given; any status.
    pub fn call(
        &self,
        act_as: Option<&str>,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), String> {
        let auth = self.auth();
        let mut h = vec![("Authorization", auth.as_str())];
        if let Some(u) = act_as {
            h.push(("Ticketshare-Act-As", u));
        }
        self.transport.call(method, path, &h, body)
    }

    /// [`Workspace::call`] that must answer 2xx; returns the JSON body.
    pub fn ok(
        &self,
        act_as: Option<&str>,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, Failure> {
        let auth = self.auth();
        let mut h = vec![("Authorization", auth.as_str())];
        if let Some(u) = act_as {
            h.push(("Ticketshare-Act-As", u));
        }
        expect(&self.transport, None, method, path, &h, body).map(|(_, v)| v)
    }

    /// Create (or update) a user; returns their id and the status (201
    /// created, 200 updated).
    pub fn user(&self, u: &User) -> Result<(String, u16), Failure> {
        let auth = self.auth();
        let (status, v) = expect(
            &self.transport,
            None,
            "PUT",
            "/api/v1/users",
            &[("Authorization", &auth)],
            Some(&json!({
                "email": u.email, "name": u.name, "role": u.role, "company": u.company,
                "permissions": u.permissions, "queues": u.queues,
            })),
        )?;
        Ok((
            v["user"]["id"].as_str().unwrap_or_default().to_string(),
            status,
        ))
    }

    /// Open a ticket as `customer` (must answer 201); returns its number.
    pub fn ticket(&self, customer: &str, subject: &str, body: &str) -> Result<u64, Failure> {
        let auth = self.auth();
        let (_, v) = expect(
            &self.transport,
            Some(201),
            "POST",
            "/api/v1/tickets",
            &[("Authorization", &auth), ("Ticketshare-Act-As", customer)],
            Some(&json!({"subject": subject, "body": body})),
        )?;
        Ok(v["ticket"]["number"].as_u64().unwrap_or_default())
    }

    /// Post `reply` (`{"body": ..., "visibility": ...}`) on ticket `t` as
    /// `user`.
    pub fn reply(&self, user: &str, t: u64, reply: &Value) -> Result<Value, Failure> {
        self.ok(
            Some(user),
            "POST",
            &format!("/api/v1/tickets/{t}/replies"),
            Some(reply),
        )
    }

    /// Share ticket `t` with `email` (an email with the link goes out).
    pub fn share(&self, t: u64, email: &str, subject: &str) -> Result<Value, Failure> {
        self.ok(
            None,
            "POST",
            &format!("/api/v1/tickets/{t}/shares"),
            Some(&json!({"email": email, "subject": subject})),
        )
    }

    /// A page of the outbox (`query`: e.g. `?limit=1`).
    pub fn outbox(&self, query: &str) -> Result<Value, Failure> {
        self.ok(None, "GET", &format!("/api/v1/outbox{query}"), None)
    }

    /// The newest email in the outbox.
    pub fn newest_email(&self) -> Result<Value, Failure> {
        Ok(self.outbox("?limit=1")?["emails"][0].clone())
    }

    /// Turn on Postmark inbound mail; returns the `Authorization` value
    /// Postmark is to send (`Basic` of `inbound:<password>`).
    pub fn postmark_inbound(&self) -> Result<String, Failure> {
        let v = self.ok(None, "POST", "/api/v1/webhooks/inbound/postmark", None)?;
        Ok(basic_auth(
            "inbound",
            v["password"].as_str().unwrap_or_default(),
        ))
    }

    /// The address replies to ticket `t` are mailed to (read as `staff`).
    pub fn reply_address(&self, staff: &str, t: u64) -> Result<String, Failure> {
        let v = self.ok(Some(staff), "GET", &format!("/api/v1/tickets/{t}"), None)?;
        Ok(v["ticket"]["reply_address"]
            .as_str()
            .unwrap_or_default()
            .to_string())
    }
}

/// A `multipart/form-data` body as a browser's form sends it: text
/// `fields`, then `files` (name, bytes) under the field `files`; returns the
/// `Content-Type` (with its boundary) and the body.
pub fn multipart(fields: &[(&str, &str)], files: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let b = "----tsBoundary7MA4YWxk";
    let mut out = Vec::new();
    for (name, value) in fields {
        out.extend_from_slice(
            format!("--{b}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
        );
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    for (name, data) in files {
        out.extend_from_slice(
            format!("--{b}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
        );
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{b}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={b}"), out)
}

/// `Basic <base64(user:password)>`.
pub fn basic_auth(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64_std(format!("{user}:{password}").as_bytes())
    )
}

/// Standard base64 with padding (RFC 4648 section 4), by the `base64`
/// crate: the one codec of the tests and xtask.
pub fn base64_std(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The first link with `marker` (`/s/`, `/i/`, `/p/`...) in the text of
/// `emails` (an outbox page's `emails` or one email), as a path.
pub fn link_in(emails: &Value, marker: &str) -> Option<String> {
    let one = [emails.clone()];
    let list = emails.as_array().map(Vec::as_slice).unwrap_or(&one);
    list.iter()
        .filter_map(|e| e["text"].as_str())
        .find_map(|t| t.split_whitespace().find_map(|w| w.split_once(marker)))
        .map(|(_, l)| format!("{marker}{l}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_is_standard_base64_with_padding() {
        assert_eq!(basic_auth("inbound", "pw"), "Basic aW5ib3VuZDpwdw==");
        assert_eq!(base64_std(b"\xfb\xff"), "+/8=");
    }

    #[test]
    fn links_are_found_in_one_email_or_a_page_of_them() {
        let one = json!({"text": "Open https://ts.test/s/abc123 to read"});
        assert_eq!(link_in(&one, "/s/").as_deref(), Some("/s/abc123"));
        let page = json!([{"text": "nothing"}, {"text": "go to http://x/i/q-1"}]);
        assert_eq!(link_in(&page, "/i/").as_deref(), Some("/i/q-1"));
        assert_eq!(link_in(&page, "/p/"), None);
    }
}
