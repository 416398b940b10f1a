//! The native tests' world and their cases.
//!
//! The world is seeded once, through the API itself, by the test kit's
//! seeding builder over the API in process (`testkit::native`); every case
//! then runs on a fresh copy of it. A case is a request (with `$name`
//! markers for the world's ids, keys and links), the status it must get and
//! the properties its answer must have; cases may first run steps of their
//! own (`given`) and keep values from their answers for later requests.

use std::sync::OnceLock;

use api::http::Response;
use serde_json::{Value, json};
use testkit::native::{ADMIN_TOKEN, Native, Snapshot, body_json, request};
use testkit::seed::{User, Workspace, link_in};

/// The seeded world: its snapshot and the values `$name` markers stand for.
pub struct World {
    snapshot: Snapshot,
    vars: Vec<(String, String)>,
}

/// The world, built once:
///
/// - workspace `acme` (`$key`), participants on; `globex` (`$globex_key`)
///   with a customer's ticket 1;
/// - admin `$ada`; staff `$sam` (every queue, no permission), `$pia` (the
///   external share permission), `$bo` (queue `billing` only); customers
///   `$cara` and `$cole` of Shop Ltd, `$oz` and `$dee` of no company;
/// - ticket 1 of cara (a public reply and an internal note by sam), 2 of
///   oz, 3 of cole, 4 of oz in queue `billing`;
/// - dee a delegate of ticket 1 who accepted (`$dee_session`, a session
///   reaching ticket 1 only), oz invited to ticket 3 and not yet accepted
///   (`$oz_invite`, the path `/i/...`);
/// - cara signed in with a login link (`$cara_session`);
/// - participant `$pat` (pat@outside.test) on ticket 1 (`$pat_link`);
/// - share `$share` of ticket 1 with dock@carrier.test (`$share_link`);
/// - a webhook endpoint `$endpoint`, a spare API key `$spare_key`, Postmark
///   inbound (`$postmark`: the `Authorization` value).
pub fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| seed().unwrap_or_else(|e| panic!("seeding the world: {e}")))
}

fn seed() -> Result<World, String> {
    let native = Native::new();
    let mut vars: Vec<(String, String)> = Vec::new();
    let mut keep = |k: &str, v: &str| vars.push((k.to_string(), v.to_string()));
    let ws = Workspace::create(&native, ADMIN_TOKEN, "acme", "Acme")?;
    keep("key", &ws.key);
    let globex = Workspace::create(&native, ADMIN_TOKEN, "globex", "Globex")?;
    keep("globex_key", &globex.key);
    let (gus, _) = globex.user(&User::new("gus@globex.test", "customer"))?;
    globex.ticket(&gus, "Globex's own", "theirs")?;
    keep("gus", &gus);
    let user = |email: &str, role: &str, company: Option<&str>, perms: &[&str], queues: &[&str]| {
        ws.user(&User {
            name: email.split('@').next().unwrap_or(email),
            company,
            permissions: perms,
            queues,
            ..User::new(email, role)
        })
        .map(|(id, _)| id)
    };
    let ada = user("ada@acme.test", "admin", None, &[], &[])?;
    let sam = user("sam@acme.test", "staff", None, &[], &[])?;
    let pia = user("pia@acme.test", "staff", None, &["external_share"], &[])?;
    let bo = user("bo@acme.test", "staff", None, &[], &["billing"])?;
    let cara = user("cara@shop.test", "customer", Some("Shop Ltd"), &[], &[])?;
    let cole = user("cole@shop.test", "customer", Some("Shop Ltd"), &[], &[])?;
    let oz = user("oz@else.test", "customer", None, &[], &[])?;
    let dee = user("dee@else.test", "customer", None, &[], &[])?;
    for (k, v) in [
        ("ada", &ada),
        ("sam", &sam),
        ("pia", &pia),
        ("bo", &bo),
        ("cara", &cara),
        ("cole", &cole),
        ("oz", &oz),
        ("dee", &dee),
    ] {
        keep(k, v);
    }
    ws.ok(
        None,
        "PATCH",
        "/api/v1/workspace/settings",
        Some(&json!({"participants_enabled": true})),
    )?;
    ws.ticket(&cara, "Parcel late", "Where is my parcel?")?;
    ws.reply(&sam, 1, &json!({"body": "It left the depot today."}))?;
    ws.reply(
        &sam,
        1,
        &json!({"body": "Courier says a day late.", "visibility": "internal"}),
    )?;
    ws.ticket(&oz, "Refund", "Please refund order 7.")?;
    ws.ticket(&cole, "Invoice copy", "Send the invoice again.")?;
    ws.ok(
        None,
        "POST",
        "/api/v1/tickets",
        Some(&json!({"customer_id": oz, "subject": "Card charged twice", "body": "Twice!", "queue": "billing"})),
    )?;
    // dee: a delegate of ticket 1, accepted (a session reaching ticket 1).
    ws.ok(
        None,
        "POST",
        "/api/v1/tickets/1/delegates",
        Some(&json!({"email": "dee@else.test"})),
    )?;
    let invite = link_in(&ws.newest_email()?, "/i/").ok_or("no invitation link")?;
    let accepted = native.send(&request(
        "POST",
        &invite,
        &[("sec-fetch-site", "same-origin")],
        b"",
    ));
    keep("dee_session", &cookie(&accepted, "__Host-ts_session")?);
    ws.ok(
        None,
        "POST",
        "/api/v1/tickets/3/delegates",
        Some(&json!({"email": "oz@else.test"})),
    )?;
    keep(
        "oz_invite",
        &link_in(&ws.newest_email()?, "/i/").ok_or("no invitation link")?,
    );
    // cara: signed in with a login link.
    let minted = ws.ok(
        None,
        "POST",
        &format!("/api/v1/users/{cara}/login-links"),
        None,
    )?;
    let link = minted["url"]
        .as_str()
        .and_then(|u| u.split_once('#'))
        .map(|(_, l)| l.to_string())
        .ok_or("no login link")?;
    let login = native.send(&testkit::native::json_request(
        "POST",
        "/api/v1/auth/login",
        &[],
        Some(&json!({"link": link})),
    ));
    keep("cara_session", &cookie(&login, "__Host-ts_session")?);
    let added = ws.ok(
        None,
        "POST",
        "/api/v1/tickets/1/participants",
        Some(&json!({"email": "pat@outside.test", "name": "Pat"})),
    )?;
    keep(
        "pat",
        added["participant"]["id"].as_str().unwrap_or_default(),
    );
    keep(
        "pat_link",
        &link_in(&ws.newest_email()?, "/p/").ok_or("no participant link")?,
    );
    let shared = ws.share(1, "dock@carrier.test", "Parcel late")?;
    keep("share", shared["share"]["id"].as_str().unwrap_or_default());
    keep(
        "share_link",
        &link_in(&ws.newest_email()?, "/s/").ok_or("no share link")?,
    );
    let ep = ws.ok(
        None,
        "POST",
        "/api/v1/webhooks",
        Some(&json!({"url": "https://hooks.example.com/ts"})),
    )?;
    keep(
        "endpoint",
        ep["endpoint"]["id"].as_str().unwrap_or_default(),
    );
    let spare = ws.ok(
        None,
        "POST",
        "/api/v1/api-keys",
        Some(&json!({"label": "spare"})),
    )?;
    keep(
        "spare_key",
        spare["api_key"]["id"].as_str().unwrap_or_default(),
    );
    keep("postmark", &ws.postmark_inbound()?);
    keep("admin_token", ADMIN_TOKEN);
    Ok(World {
        snapshot: native.snapshot(),
        vars,
    })
}

/// The value of cookie `name` set by `r`.
fn cookie(r: &Response, name: &str) -> Result<String, String> {
    r.headers
        .iter()
        .filter(|(k, _)| k == "set-cookie")
        .find_map(|(_, v)| v.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.split(';').next())
        .map(str::to_string)
        .ok_or_else(|| format!("no {name} cookie: {} {:?}", r.status, r.headers))
}

impl World {
    /// `text` with every `$name` replaced by the world's (or `kept`) value.
    pub fn fill(&self, text: &str, kept: &[(String, String)]) -> String {
        let mut out = text.to_string();
        let mut all: Vec<&(String, String)> = kept.iter().chain(&self.vars).collect();
        // Longest names first, so `$cara_session` is never read as `$cara`.
        all.sort_by_key(|(k, _)| std::cmp::Reverse(k.len()));
        for (k, v) in all {
            out = out.replace(&format!("${k}"), v);
        }
        out
    }

    /// `v` with every `$name` in its strings replaced.
    pub fn fill_json(&self, v: &Value, kept: &[(String, String)]) -> Value {
        match v {
            Value::String(s) => Value::String(self.fill(s, kept)),
            Value::Array(a) => a.iter().map(|x| self.fill_json(x, kept)).collect(),
            Value::Object(o) => o
                .iter()
                .map(|(k, x)| (k.clone(), self.fill_json(x, kept)))
                .collect(),
            other => other.clone(),
        }
    }

    /// The value `$name` stands for.
    pub fn var(&self, name: &str) -> String {
        let v = self.fill(&format!("${name}"), &[]);
        assert!(!v.starts_with('$'), "no ${name} in the world");
        v
    }

    /// The API in process on a fresh copy of the world.
    pub fn native(&self) -> Native {
        self.snapshot.native()
    }
}

/// What an answer must show besides its status.
#[derive(Clone, Debug)]
pub enum Expect {
    /// The error code (`{"error": {"code": ...}}`).
    Code(&'static str),
    /// The JSON value at a pointer (`/ticket/number`).
    At(&'static str, Value),
    /// The length of the JSON array at a pointer.
    Len(&'static str, usize),
    /// The field of each element of the JSON array at a pointer, in order.
    Pluck(&'static str, &'static str, Value),
    /// A header with exactly this value.
    Header(&'static str, &'static str),
    /// A header whose value contains this text.
    HeaderHas(&'static str, &'static str),
    /// A header whose value does not contain this text (or no such header).
    HeaderLacks(&'static str, &'static str),
    /// No such header.
    NoHeader(&'static str),
    /// The body contains the text (after `$name` markers are filled).
    Body(&'static str),
    /// The body does not contain the text (after `$name` markers are filled).
    NotBody(&'static str),
    /// The store is exactly as before the request.
    Unchanged,
}

/// One request of a case.
#[derive(Clone, Debug)]
pub struct Step {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    status: Option<u16>,
    expect: Vec<Expect>,
    keep: Vec<(String, &'static str)>,
}

/// A case: steps run first (each must get its status), then the request
/// checked.
#[derive(Clone, Debug)]
pub struct Case {
    given: Vec<Step>,
    step: Step,
}

/// `METHOD /path?query` with the headers `headers` (values may hold `$name`).
pub fn call(line: &str, headers: &[(&str, &str)]) -> Case {
    let (method, target) = line.split_once(' ').expect("METHOD /path");
    Case {
        given: Vec::new(),
        step: Step {
            method: method.into(),
            target: target.into(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: Vec::new(),
            status: None,
            expect: Vec::new(),
            keep: Vec::new(),
        },
    }
}

/// A request with no credentials.
pub fn anon(line: &str) -> Case {
    call(line, &[])
}

/// The platform: `acme`'s API key, acting as nobody.
pub fn key(line: &str) -> Case {
    call(line, &[("authorization", "Bearer $key")])
}

/// `acme`'s API key acting as `$user`.
pub fn as_(user: &str, line: &str) -> Case {
    let user = format!("${user}");
    call(
        line,
        &[
            ("authorization", "Bearer $key"),
            ("ticketshare-act-as", &user),
        ],
    )
}

/// A browser with the session cookie `$session`, on this site's own pages
/// (`Sec-Fetch-Site: same-origin`).
pub fn session(session: &str, line: &str) -> Case {
    let c = format!("__Host-ts_session=${session}");
    call(line, &[("cookie", &c), ("sec-fetch-site", "same-origin")])
}

impl Case {
    /// Add a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.step.headers.push((name.into(), value.into()));
        self
    }

    /// A JSON body (with its content type).
    pub fn json(self, body: Value) -> Self {
        self.body("application/json", body.to_string().as_bytes())
    }

    /// A body of any content type.
    pub fn body(mut self, ctype: &str, body: &[u8]) -> Self {
        self.step
            .headers
            .push(("content-type".into(), ctype.into()));
        self.step.body = body.to_vec();
        self
    }

    /// A body with no content type.
    pub fn raw(mut self, body: &[u8]) -> Self {
        self.step.body = body.to_vec();
        self
    }

    /// The status the request must get.
    pub fn is(mut self, status: u16) -> Self {
        self.step.status = Some(status);
        self
    }

    /// A property the answer must have.
    pub fn expect(mut self, e: Expect) -> Self {
        self.step.expect.push(e);
        self
    }

    /// The error code the answer must carry.
    pub fn code(self, code: &'static str) -> Self {
        self.expect(Expect::Code(code))
    }

    /// The JSON value the answer must hold at `pointer`.
    pub fn at(self, pointer: &'static str, v: Value) -> Self {
        self.expect(Expect::At(pointer, v))
    }

    /// A refusal: `status`, the error `code`, and the store unchanged.
    pub fn refused(self, status: u16, code: &'static str) -> Self {
        self.is(status).code(code).expect(Expect::Unchanged)
    }

    /// Keep the string at `pointer` of the answer as `$name` for the
    /// requests after this one.
    pub fn keep(mut self, name: &str, pointer: &'static str) -> Self {
        self.step.keep.push((name.into(), pointer));
        self
    }

    /// Keep the value of the session cookie the answer sets as `$name`.
    pub fn keep_cookie(mut self, name: &str) -> Self {
        self.step.keep.push((format!("{name}="), ""));
        self
    }

    /// Keep the text after `#` in the string at `pointer` (a URL's
    /// fragment) as `$name`.
    pub fn keep_fragment(mut self, name: &str, pointer: &'static str) -> Self {
        self.step.keep.push((format!("{name}#"), pointer));
        self
    }

    /// Run `first` (with its own checks) before this request.
    pub fn given(mut self, first: Case) -> Self {
        self.given.extend(first.given);
        self.given.push(first.step);
        self
    }

    /// `METHOD target` of the checked request, for the report.
    fn name(&self) -> String {
        let header = |name: &str| {
            self.step
                .headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let who = header("ticketshare-act-as")
            .or_else(|| header("cookie"))
            .or_else(|| header("authorization"))
            .unwrap_or_else(|| "nobody".into());
        format!("{} {} as {who}", self.step.method, self.step.target)
    }
}

/// Run one step on `native`; `Err` names what did not hold.
fn run_step(
    w: &World,
    native: &Native,
    step: &Step,
    kept: &mut Vec<(String, String)>,
) -> Result<(), String> {
    let headers: Vec<(String, String)> = step
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), w.fill(v, kept)))
        .collect();
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let body = match std::str::from_utf8(&step.body) {
        Ok(text) => w.fill(text, kept).into_bytes(),
        Err(_) => step.body.clone(),
    };
    let target = w.fill(&step.target, kept);
    let before = step
        .expect
        .iter()
        .any(|e| matches!(e, Expect::Unchanged))
        .then(|| native.kv().dump());
    let r = native.send(&request(&step.method, &target, &headers, &body));
    let v = body_json(&r);
    let text = String::from_utf8_lossy(&r.body).into_owned();
    let show = || {
        format!(
            "{} {}",
            r.status,
            text.chars().take(400).collect::<String>()
        )
    };
    match step.status {
        Some(s) if s != r.status => return Err(format!("status {s} wanted, got {}", show())),
        None if !(200..300).contains(&r.status) => {
            return Err(format!("a 2xx wanted, got {}", show()));
        }
        _ => {}
    }
    let header = |name: &str| {
        r.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    for e in &step.expect {
        let ok = match e {
            Expect::Code(c) => v["error"]["code"] == *c,
            Expect::At(p, want) => v.pointer(p) == Some(&w.fill_json(want, kept)),
            Expect::Len(p, n) => v.pointer(p).and_then(Value::as_array).map(Vec::len) == Some(*n),
            Expect::Pluck(p, field, want) => {
                let got: Vec<Value> = v
                    .pointer(p)
                    .and_then(Value::as_array)
                    .map(|a| a.iter().map(|x| x[*field].clone()).collect())
                    .unwrap_or_default();
                Value::Array(got) == w.fill_json(want, kept)
            }
            Expect::Header(name, want) => header(name) == Some(w.fill(want, kept).as_str()),
            Expect::HeaderHas(name, part) => {
                header(name).is_some_and(|h| h.contains(&w.fill(part, kept)))
            }
            Expect::HeaderLacks(name, part) => !header(name).is_some_and(|h| h.contains(part)),
            Expect::NoHeader(name) => header(name).is_none(),
            Expect::Body(part) => text.contains(&w.fill(part, kept)),
            Expect::NotBody(part) => !text.contains(&w.fill(part, kept)),
            Expect::Unchanged => {
                let after = native.kv().dump();
                let before = before.as_deref().unwrap_or_default();
                let changed: Vec<&str> = after
                    .iter()
                    .filter(|kv| !before.contains(kv))
                    .chain(before.iter().filter(|kv| !after.contains(kv)))
                    .map(|(k, _)| k.as_str())
                    .collect();
                if !changed.is_empty() {
                    return Err(format!("the store changed: {changed:?}"));
                }
                true
            }
        };
        if !ok {
            return Err(format!(
                "{e:?} does not hold: {} headers {:?}",
                show(),
                r.headers
            ));
        }
    }
    for (name, pointer) in &step.keep {
        if let Some(name) = name.strip_suffix('=') {
            kept.push((name.to_string(), cookie(&r, "__Host-ts_session")?));
            continue;
        }
        let got = match v.pointer(pointer) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err(format!("nothing to keep at {pointer}: {}", show())),
        };
        match name.strip_suffix('#') {
            Some(name) => {
                let (_, fragment) = got
                    .split_once('#')
                    .ok_or_else(|| format!("no fragment in {got}"))?;
                kept.push((name.to_string(), fragment.to_string()));
            }
            None => kept.push((name.clone(), got)),
        }
    }
    Ok(())
}

/// Run every case, each on a fresh copy of the world; fails naming every
/// case that did not hold (not only the first).
pub fn run(cases: Vec<Case>) {
    let w = world();
    let total = cases.len();
    let mut failed = Vec::new();
    for c in &cases {
        let native = w.native();
        let mut kept = Vec::new();
        let outcome = c
            .given
            .iter()
            .enumerate()
            .try_for_each(|(i, s)| {
                run_step(w, &native, s, &mut kept)
                    .map_err(|e| format!("given step {} ({} {}): {e}", i + 1, s.method, s.target))
            })
            .and_then(|()| run_step(w, &native, &c.step, &mut kept));
        if let Err(e) = outcome {
            failed.push(format!("{}: {e}", c.name()));
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {total} cases failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
}
