//! The deployment recipes of the README's "Deployment" section, checked as
//! far as this machine allows (no Spin CLI, no Kubernetes): every sample of
//! `runtime-config/` read by the host's own parser, the SQLite-path one run;
//! `spin up`'s variables given the ways the README says, on our host, which
//! takes `spin up`'s flags; two hosts on one Redis serving one app, directly
//! and through `deploy/scale-out.sh`; and `deploy/spinkube/spinapp.yaml`
//! read and checked against the SpinApp schema.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use spinfile::runtime_config::{self, RuntimeConfig, StoreConfig};
use testkit::host::{cache_dir, wait_for};
use testkit::http::Client;
use testkit::scratch::free_port;
use testkit::seed::Workspace;
use testkit::{ADMIN_TOKEN, HostConfig, Redis, Resp, TempDir, World, request, root};

fn load(file: &Path, state: &Path) -> RuntimeConfig {
    runtime_config::load(Some(file), state).unwrap_or_else(|e| panic!("{}: {e:#}", file.display()))
}

/// Every `.toml` of `runtime-config/`, by file name.
fn samples() -> BTreeMap<String, PathBuf> {
    std::fs::read_dir(root().join("runtime-config"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), p))
        .collect()
}

#[test]
fn every_runtime_config_sample_loads_and_names_its_store() {
    let state = Path::new("/state");
    let dir = root().join("runtime-config");
    let default_db = StoreConfig::Sqlite(state.join("sqlite_key_value.db"));
    let expected: BTreeMap<&str, StoreConfig> = [
        ("default.toml", default_db.clone()),
        ("block-networks.toml", default_db),
        (
            "sqlite-path.toml",
            // Relative to the file's folder, as in Spin.
            StoreConfig::Sqlite(dir.join("../.spin/kv/ticketshare.db")),
        ),
        (
            "redis.toml",
            StoreConfig::Redis("redis://127.0.0.1:6379".into()),
        ),
    ]
    .into_iter()
    .collect();
    let found = samples();
    assert_eq!(
        found.keys().map(String::as_str).collect::<Vec<_>>(),
        expected.keys().copied().collect::<Vec<_>>(),
        "every sample in runtime-config/ is checked here (and documented in the README)"
    );
    for (name, path) in &found {
        let rc = load(path, state);
        assert_eq!(
            rc.stores.keys().collect::<Vec<_>>(),
            ["default"],
            "{name}: the app uses one store, `default`"
        );
        assert_eq!(rc.stores["default"], expected[name.as_str()], "{name}");
        // Every sample keeps outbound connections off private networks.
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "169.254.169.254",
            "192.168.0.1",
            "::1",
        ] {
            assert!(
                rc.blocked_networks.is_blocked(ip.parse().unwrap()),
                "{name} lets {ip} through"
            );
        }
        assert!(
            !rc.blocked_networks
                .is_blocked("93.184.215.14".parse().unwrap())
        );
    }
}

#[test]
fn each_extra_network_of_the_block_list_blocks_what_private_does_not() {
    let path = root().join("runtime-config/block-networks.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let table: toml::Table = toml::from_str(&text).unwrap();
    let entries: Vec<&str> = table["outbound_networking"]["block_networks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(entries[0], "private", "{entries:?}");
    let extra = &entries[1..];
    assert!(!extra.is_empty(), "the sample adds networks to the list");
    let full = load(&path, Path::new("/state")).blocked_networks;
    let private_only = runtime_config::parse(
        "[outbound_networking]\nblock_networks = [\"private\"]",
        Path::new("/"),
        Path::new("/state"),
    )
    .unwrap()
    .blocked_networks;
    for cidr in extra {
        // Written as Spin reads them: a CIDR, with its prefix length.
        let (addr, bits) = cidr
            .split_once('/')
            .unwrap_or_else(|| panic!("{cidr}: a CIDR"));
        bits.parse::<u8>().unwrap();
        let ip: std::net::IpAddr = addr.parse().unwrap();
        assert!(full.is_blocked(ip), "{cidr} is not blocked");
        assert!(
            !private_only.is_blocked(ip),
            "{cidr} is private already: the example adds nothing"
        );
    }
}

/// Rows of the SQLite store file `db` as `key` lines, read with Python's
/// sqlite3 (the host must be stopped: it holds the file locked).
fn sqlite_keys(db: &Path) -> Vec<String> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys\nfor (k,) in sqlite3.connect(sys.argv[1]).execute('select key from spin_key_value order by key'):\n    print(k)",
        ])
        .arg(db)
        .output()
        .expect("python3 with sqlite3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn the_sqlite_path_sample_puts_the_store_at_its_path() {
    // The sample copied as it is into a scratch checkout-like layout: its
    // relative path lands beside it, never in the real checkout.
    let scratch = TempDir::new("deploy-sqlite");
    let rc = scratch.path().join("runtime-config/sqlite-path.toml");
    std::fs::create_dir_all(rc.parent().unwrap()).unwrap();
    std::fs::copy(root().join("runtime-config/sqlite-path.toml"), &rc).unwrap();
    let state = scratch.path().join("state");
    let db = scratch.path().join(".spin/kv/ticketshare.db");
    assert!(!db.exists());
    let host = HostConfig::app(&state)
        .arg("--runtime-config-file")
        .arg(rc.to_str().unwrap())
        .start();
    Workspace::create(Client::new(&host.addr), ADMIN_TOKEN, "filed", "Filed")
        .unwrap_or_else(|e| panic!("{e}"));
    host.kill();
    assert!(db.is_file(), "no store at {}", db.display());
    assert!(
        !state.join("sqlite_key_value.db").exists(),
        "the default store was opened too"
    );
    let keys = sqlite_keys(&db);
    assert!(keys.contains(&"ws/filed/meta".to_string()), "{keys:?}");
}

/// The variables `spin.toml` requires (no default).
fn required_variables() -> Vec<String> {
    let m = spinfile::manifest::Manifest::load(&root().join("spin.toml")).unwrap();
    m.variables
        .iter()
        .filter(|(_, v)| v.required)
        .map(|(k, _)| k.clone())
        .collect()
}

/// Create a workspace with `token` as the admin token; the status.
fn create_workspace(addr: &str, token: &str, id: &str) -> u16 {
    request(
        addr,
        "POST",
        "/api/v1/workspaces",
        &[
            ("Authorization", &format!("Bearer {token}")),
            ("Content-Type", "application/json"),
        ],
        json!({"id": id, "name": id}).to_string().as_bytes(),
    )
    .status
}

#[test]
fn spin_up_runs_with_the_required_variables_given_as_the_readme_says() {
    assert_eq!(
        required_variables(),
        ["admin_token"],
        "spin.toml's required variables changed: update README \"Deployment\" and this test"
    );
    let state = TempDir::new("deploy-vars");
    let app = || HostConfig::new(&root().join("spin.toml"), state.path());
    // Without it, the start stops and names the variable.
    let e = app().start_error();
    assert!(e.contains("admin_token"), "{e}");
    let token = "deploy-admin-token-0123456789abcdef";
    let file = state.path().join("admin-token");
    std::fs::write(&file, token).unwrap();
    let given = [
        (
            "--variable",
            app().arg("--variable").arg(&format!("admin_token={token}")),
        ),
        (
            "--variable @file",
            app()
                .arg("--variable")
                .arg(&format!("admin_token=@{}", file.display())),
        ),
        (
            "SPIN_VARIABLE_",
            app().env("SPIN_VARIABLE_ADMIN_TOKEN", token),
        ),
    ];
    for (n, (how, cfg)) in given.into_iter().enumerate() {
        let host = cfg.start();
        assert_eq!(
            create_workspace(&host.addr, "not-the-token-0123456789", &format!("no{n}")),
            401,
            "{how}"
        );
        assert_eq!(
            create_workspace(&host.addr, token, &format!("ws{n}")),
            201,
            "{how}"
        );
        host.kill();
    }
}

/// Whether shell command `c` runs `spin up` (alone or after `spin build &&`)
/// or `ticketshare-host up`, environment assignments before it allowed.
fn runs_the_app(c: &str) -> bool {
    c.split("&&").any(|part| {
        let mut words = part
            .split_whitespace()
            .skip_while(|w| w.contains('=') && !w.starts_with('-'));
        match (words.next(), words.next()) {
            (Some("spin"), Some("up")) => true,
            (Some(bin), Some("up")) => bin.ends_with("ticketshare-host") && !c.contains("--help"),
            _ => false,
        }
    })
}

/// The README's commands that run `spin up` or `ticketshare-host up` (a
/// line of a code block, or an inline `spin build ...`), each with what the
/// code block exported before it.
fn readme_spin_up_commands() -> Vec<(String, String)> {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let mut out = Vec::new();
    let mut in_block = false;
    let (mut command, mut exported, mut prose) = (String::new(), String::new(), String::new());
    for line in readme.lines() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
            exported.clear();
            continue;
        }
        if !in_block {
            // Headings name commands without running them.
            if !line.starts_with('#') {
                prose.push_str(line);
            }
            prose.push('\n');
            continue;
        }
        // Continued lines (`\`) make one command.
        command.push_str(line.trim().trim_end_matches('\\'));
        command.push(' ');
        if line.trim_end().ends_with('\\') {
            continue;
        }
        let c = std::mem::take(&mut command);
        let c = c.trim();
        if c.starts_with("export ") {
            exported.push_str(c);
            exported.push('\n');
        } else if runs_the_app(c) {
            out.push((c.to_string(), exported.clone()));
        }
    }
    // Inline code spans may wrap across lines.
    for (i, span) in prose.split('`').enumerate() {
        let span = span.split_whitespace().collect::<Vec<_>>().join(" ");
        if i % 2 == 1 && span.starts_with("spin build") && span.contains("spin up") {
            out.push((span, String::new()));
        }
    }
    out
}

#[test]
fn every_spin_up_line_of_the_readme_gives_the_required_variables() {
    let commands = readme_spin_up_commands();
    assert!(commands.len() >= 4, "{commands:?}");
    for (c, exported) in &commands {
        for v in required_variables() {
            let env = format!("SPIN_VARIABLE_{}=", v.to_uppercase());
            assert!(
                c.contains(&format!("--variable {v}="))
                    || c.contains(&env)
                    || exported.contains(&format!("export {env}")),
                "README: `{c}` stops on the missing `{v}`"
            );
        }
    }
}

/// `GET path` on `addr` with `headers` and an optional `If-None-Match`.
fn get(addr: &str, headers: &[(&str, &str)], path: &str, tag: Option<&str>) -> Resp {
    let mut h = headers.to_vec();
    if let Some(t) = tag {
        h.push(("If-None-Match", t));
    }
    request(addr, "GET", path, &h, b"")
}

fn etag(r: &Resp) -> String {
    assert_eq!(r.status, 200, "{}", r.text());
    r.header("etag").expect("an ETag").to_string()
}

#[test]
fn two_hosts_on_one_redis_serve_one_app() {
    // Host A: the world (workspace, users) made through it; host B: another
    // process on the same Redis, with a state dir of its own.
    let w = World::build_on_redis(Redis::start());
    let (b, _b_state) = w.second_host();
    let (a, b) = (w.host.addr.clone(), b.addr.clone());
    let key = w.bearer();
    let as_staff = [
        ("Authorization", key.as_str()),
        ("Ticketshare-Act-As", w.staff.as_str()),
    ];

    // A ticket opened through A is there through B.
    let t = w.ticket(&w.cust_a, "Opened on A");
    let r = get(&b, &as_staff, &format!("/api/v1/tickets/{t}"), None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["ticket"]["subject"], "Opened on A");

    // A session signed in on B works on A (sessions live in the store).
    let r = w.as_(
        None,
        "POST",
        &format!("/api/v1/users/{}/login-links", w.staff),
        None,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let url = r.json()["url"].as_str().unwrap().to_string();
    let link = url.rsplit('#').next().unwrap();
    let r = request(
        &b,
        "POST",
        "/api/v1/auth/login",
        &[("Content-Type", "application/json")],
        json!({ "link": link }).to_string().as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let cookie = r
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let session = [("Cookie", cookie.as_str())];
    let me = get(&a, &session, "/api/v1/me", None);
    assert_eq!(me.status, 200, "{}", me.text());
    assert_eq!(me.json()["user"]["id"], w.staff.as_str());

    // Tags taken on A are current on B: 304 there.
    let thread = format!("/api/v1/tickets/{t}/thread");
    let ticket = format!("/api/v1/tickets/{t}");
    let paths = [
        thread.as_str(),
        ticket.as_str(),
        "/api/v1/tickets",
        "/api/v1/inbox?view=pending",
    ];
    let tags: Vec<String> = paths
        .iter()
        .map(|p| {
            let tag = etag(&get(&a, &session, p, None));
            let r = get(&b, &session, p, Some(&tag));
            assert_eq!(r.status, 304, "{p}: {}", r.text());
            assert_eq!(r.header("etag"), Some(tag.as_str()), "{p}");
            tag
        })
        .collect();

    // A reply posted through B is seen through A, and the tags move on
    // both hosts alike.
    let r = request(
        &b,
        "POST",
        &format!("/api/v1/tickets/{t}/replies"),
        &[
            ("Authorization", key.as_str()),
            ("Ticketshare-Act-As", w.cust_a.as_str()),
            ("Content-Type", "application/json"),
        ],
        json!({"body": "Posted on B"}).to_string().as_bytes(),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r = get(&a, &session, &thread, Some(&tags[0]));
    assert_eq!(r.status, 200, "the thread's old tag still matched on A");
    assert!(r.text().contains("Posted on B"), "{}", r.text());
    let new_tag = etag(&r);
    assert_ne!(new_tag, tags[0]);
    let r = get(&b, &session, &thread, Some(&new_tag));
    assert_eq!(r.status, 304, "{}", r.text());
    for (p, old) in paths.iter().zip(&tags).skip(1) {
        let on_a = get(&a, &session, p, None);
        let on_b = get(&b, &session, p, None);
        assert_eq!(etag(&on_a), etag(&on_b), "{p}: the hosts disagree");
        if *p != "/api/v1/inbox?view=pending" {
            assert_ne!(&etag(&on_a), old, "{p} did not change with the reply");
        }
    }

    // Signing out on A ends the session on B.
    let r = request(&a, "POST", "/api/v1/auth/logout", &session, b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(get(&b, &session, "/api/v1/me", None).status, 401);
}

/// `deploy/scale-out.sh` running; stopped (SIGTERM, then waited for) on drop.
struct ScaleOut(Child);

impl Drop for ScaleOut {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether anything accepts connections on `127.0.0.1:port`.
fn listening(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

#[test]
fn the_scale_out_script_starts_redis_and_hosts_that_share_it() {
    testkit::host::ensure_built();
    let data = TempDir::new("deploy-scale-out");
    let redis_port = free_port();
    // The script's hosts take consecutive ports: two free ones below the
    // kernel's ephemeral range (32768 and up on Linux), where the other
    // tests' listeners on port 0 and their clients never land (one did,
    // between the check and the script's start).
    let spread = (std::process::id() as u16).wrapping_mul(7919) % 10_000;
    let base = (20_000 + spread..32_000)
        .chain(20_000..20_000 + spread)
        .find(|p| {
            !listening(*p)
                && !listening(p + 1)
                && std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok()
                && std::net::TcpListener::bind(("127.0.0.1", *p + 1)).is_ok()
        })
        .unwrap();
    let manifest = testkit::target::runnable_manifest(&root().join("spin.toml")).unwrap();
    let run = ScaleOut(
        Command::new("bash")
            .arg(root().join("deploy/scale-out.sh"))
            .args(["2", "--", "--wasm-cache-dir"])
            .arg(cache_dir())
            .env("BASE_PORT", base.to_string())
            .env("REDIS_PORT", redis_port.to_string())
            .env("DATA_DIR", data.path())
            .env("HOST_BIN", testkit::host_binary())
            .env("MANIFEST", &manifest)
            .env("SPIN_VARIABLE_ADMIN_TOKEN", ADMIN_TOKEN)
            .env_remove("REDIS_URL")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(data.path().join("script.log")).unwrap())
            .spawn()
            .expect("bash runs the script"),
    );
    let hosts = [
        format!("127.0.0.1:{base}"),
        format!("127.0.0.1:{}", base + 1),
    ];
    // A cold compiled-code cache on a busy machine: two hosts compile every
    // component at once, beside the other tests.
    for h in &hosts {
        if let Err(e) = wait_for(h, "/api/v1/openapi.json", Duration::from_secs(240)) {
            let log = std::fs::read_to_string(data.path().join("script.log")).unwrap_or_default();
            panic!("{e}; the script's output:\n{log}");
        }
    }
    // A workspace made on one host has its key accepted by the other.
    let ws = Workspace::create(Client::new(&hosts[0]), ADMIN_TOKEN, "scaled", "Scaled")
        .unwrap_or_else(|e| panic!("{e}"));
    let r = request(
        &hosts[1],
        "GET",
        "/api/v1/workspace",
        &[("Authorization", &ws.auth())],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["id"], "scaled", "{}", r.text());
    // The data is in the script's Redis.
    let keys = Command::new("redis-cli")
        .args([
            "-p",
            &redis_port.to_string(),
            "--raw",
            "EXISTS",
            "ws/scaled/meta",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&keys.stdout).trim(), "1");
    drop(run);
    // Stopping the script stops everything it started.
    let t0 = Instant::now();
    while [base, base + 1, redis_port].iter().any(|p| listening(*p)) {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the script left a process running"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `deploy/nginx.conf` keeps link tokens out of nginx's access log: every
/// `server` writes the `ticketshare` format, whose path is the one with
/// `/p/`, `/s/` and `/i/` tokens cut off, and no variable of it holds the
/// raw request line, URI or query. (nginx is not installed here: read as
/// text.)
#[test]
fn the_nginx_recipe_logs_no_link_token() {
    let conf = std::fs::read_to_string(root().join("deploy/nginx.conf")).unwrap();
    let code: String = conf
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    let servers = code.matches("server {").count();
    assert!(servers >= 2, "{code}");
    assert_eq!(
        code.matches("access_log ").count(),
        servers,
        "every server has its own access_log (else nginx's default format, with the whole request line, applies)"
    );
    for line in code.lines().filter(|l| l.contains("access_log ")) {
        assert!(line.trim_end().ends_with(" ticketshare;"), "{line}");
    }
    let format = code
        .split("log_format ticketshare")
        .nth(1)
        .and_then(|f| f.split(';').next())
        .expect("a log_format ticketshare");
    for raw in [
        "$request ",
        "$request\"",
        "$request_uri",
        "$uri",
        "$args",
        "$query_string",
        "$http_referer",
    ] {
        assert!(
            !format.contains(raw),
            "the log format writes {raw}: {format}"
        );
    }
    assert!(format.contains("$ticketshare_log_path"), "{format}");
    for kind in ["p", "s", "i"] {
        assert!(
            code.contains(&format!("~^/{kind}/   /{kind}/...;")),
            "/{kind}/ paths are cut in the log"
        );
    }
}

/// The documents of a YAML file, as JSON values.
fn yaml_documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|d| {
            let v: serde_yaml_ng::Value = serde::Deserialize::deserialize(d)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            serde_json::to_value(v).unwrap()
        })
        .filter(|v| !v.is_null())
        .collect()
}

/// Check `value` against an OpenAPI v3 schema (the subset CRDs use:
/// type, properties, additionalProperties, items, required, anyOf, and
/// `x-kubernetes-int-or-string`); every problem, by path.
fn check_schema(value: &Value, schema: &Value, at: &str, problems: &mut Vec<String>) {
    if let Some(options) = schema["anyOf"].as_array() {
        let fits = options.iter().any(|o| {
            let mut p = Vec::new();
            check_schema(value, o, at, &mut p);
            p.is_empty()
        });
        if !fits {
            problems.push(format!("{at}: fits none of anyOf"));
        }
        return;
    }
    if schema["x-kubernetes-int-or-string"] == true {
        if !(value.is_string() || value.is_i64() || value.is_u64()) {
            problems.push(format!("{at}: not an integer or a string"));
        }
        return;
    }
    let ty = schema["type"].as_str().unwrap_or("");
    let ok = match ty {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "boolean" => value.is_boolean(),
        "number" => value.is_number(),
        _ => true,
    };
    if !ok {
        problems.push(format!("{at}: expected {ty}, found {value}"));
        return;
    }
    if let Some(obj) = value.as_object() {
        for r in schema["required"].as_array().into_iter().flatten() {
            let r = r.as_str().unwrap();
            if !obj.contains_key(r) {
                problems.push(format!("{at}: missing required `{r}`"));
            }
        }
        let props = schema["properties"].as_object();
        for (k, v) in obj {
            let sub = format!("{at}.{k}");
            match (
                props.and_then(|p| p.get(k)),
                &schema["additionalProperties"],
            ) {
                (Some(s), _) => check_schema(v, s, &sub, problems),
                (None, extra) if extra.is_object() => check_schema(v, extra, &sub, problems),
                // `metadata` and the like: any fields.
                (None, _) if props.is_none() => {}
                (None, _) => problems.push(format!("{sub}: no such field in the schema")),
            }
        }
    }
    if let Some(items) = value.as_array() {
        for (i, v) in items.iter().enumerate() {
            check_schema(v, &schema["items"], &format!("{at}[{i}]"), problems);
        }
    }
}

/// The SpinApp schema vendored beside the manifest.
fn spinapp_schema() -> Value {
    let crd = yaml_documents(&root().join("deploy/spinkube/spinapp-crd.yaml"));
    assert_eq!(crd.len(), 1);
    assert_eq!(crd[0]["spec"]["names"]["kind"], "SpinApp");
    let version = &crd[0]["spec"]["versions"][0];
    assert_eq!(version["name"], "v1alpha1");
    version["schema"]["openAPIV3Schema"].clone()
}

#[test]
fn the_schema_check_finds_what_it_should() {
    let schema = spinapp_schema();
    let good = json!({"apiVersion": "core.spinkube.dev/v1alpha1", "kind": "SpinApp",
        "metadata": {"name": "x"}, "spec": {"image": "i", "executor": "e", "replicas": 2,
        "variables": [{"name": "a", "value": "b"}]}});
    let mut p = Vec::new();
    check_schema(&good, &schema, "", &mut p);
    assert!(p.is_empty(), "{p:?}");
    for (bad, needle) in [
        (
            json!({"spec": {"image": "i", "replicaCount": 2}}),
            ".spec.replicaCount",
        ),
        (
            json!({"spec": {"image": "i", "replicas": "two"}}),
            "expected integer",
        ),
        (
            json!({"spec": {"image": "i", "runtimeConfig": {"loadFromSecrets": "s"}}}),
            "loadFromSecrets",
        ),
        (
            json!({"spec": {"image": "i", "variables": [{"value": "v"}]}}),
            "missing required `name`",
        ),
        (
            json!({"spec": {"image": "i", "variables": [{"name": "a", "valueFrom": {"secretKeyRef": {"name": "s"}}}]}}),
            "missing required `key`",
        ),
    ] {
        let mut p = Vec::new();
        check_schema(&bad, &schema, "", &mut p);
        assert!(p.iter().any(|m| m.contains(needle)), "{bad}: {p:?}");
    }
}

#[test]
fn the_spinkube_manifest_fits_the_spinapp_schema_and_the_app() {
    let docs = yaml_documents(&root().join("deploy/spinkube/spinapp.yaml"));
    let by_name = |kind: &str| -> BTreeMap<String, Value> {
        docs.iter()
            .filter(|d| d["kind"] == kind)
            .map(|d| {
                (
                    d["metadata"]["name"].as_str().unwrap().to_string(),
                    d.clone(),
                )
            })
            .collect()
    };
    let apps = by_name("SpinApp");
    let secrets = by_name("Secret");
    assert_eq!(apps.len(), 1, "one SpinApp");
    assert_eq!(
        docs.len(),
        apps.len() + secrets.len(),
        "only Secrets beside it"
    );
    let app = apps.values().next().unwrap();
    assert_eq!(app["apiVersion"], "core.spinkube.dev/v1alpha1");
    let mut problems = Vec::new();
    check_schema(app, &spinapp_schema(), "", &mut problems);
    assert!(problems.is_empty(), "{problems:#?}");
    let spec = &app["spec"];
    assert_eq!(spec["executor"], "containerd-shim-spin");
    assert!(
        spec["image"].as_str().unwrap().contains(':'),
        "a tagged image"
    );

    // The runtime config comes from a Secret of this file, whose one key is
    // the file the operator mounts; it reads as a Redis store with private
    // networks blocked.
    let rc_secret = &secrets[spec["runtimeConfig"]["loadFromSecret"].as_str().unwrap()];
    let data = rc_secret["stringData"].as_object().unwrap();
    assert_eq!(data.keys().collect::<Vec<_>>(), ["runtime-config.toml"]);
    let rc = runtime_config::parse(
        data["runtime-config.toml"].as_str().unwrap(),
        Path::new("/"),
        Path::new("/state"),
    )
    .unwrap();
    assert!(
        matches!(&rc.stores["default"], StoreConfig::Redis(url) if url.starts_with("redis://")),
        "{:?}",
        rc.stores
    );
    assert!(rc.blocked_networks.is_blocked("10.0.0.1".parse().unwrap()));

    // Variables: each one spin.toml declares, every required one bound, and
    // each secret one taken from a key of a Secret of this file.
    let m = spinfile::manifest::Manifest::load(&root().join("spin.toml")).unwrap();
    let mut bound = BTreeSet::new();
    for v in spec["variables"].as_array().unwrap() {
        let name = v["name"].as_str().unwrap();
        let declared = m
            .variables
            .get(name)
            .unwrap_or_else(|| panic!("{name} is not a variable of spin.toml"));
        assert!(bound.insert(name), "{name} twice");
        match v["valueFrom"]["secretKeyRef"].as_object() {
            Some(r) => {
                let s = &secrets[r["name"].as_str().unwrap()];
                let key = r["key"].as_str().unwrap();
                assert!(s["stringData"].get(key).is_some(), "{name}: no key {key}");
            }
            None => assert!(!declared.secret, "{name} is secret: take it from a Secret"),
        }
    }
    for r in required_variables() {
        assert!(bound.contains(r.as_str()), "{r} is required and not bound");
    }

    // The health checks ask for paths the app answers with 200, with no
    // credentials.
    let state = TempDir::new("deploy-probes");
    let host = HostConfig::app(state.path()).start();
    for probe in ["readiness", "liveness"] {
        let path = spec["checks"][probe]["httpGet"]["path"].as_str().unwrap();
        assert_eq!(host.get(path).status, 200, "{probe} {path}");
    }
}

/// Keys of workspace `acme` in the world's SQLite store (restarts its host).
fn acme_keys(w: &mut World) -> usize {
    w.store_rows()
        .iter()
        .filter(|(k, _)| k.starts_with("ws/acme/"))
        .count()
}

/// Post `n` short replies on ticket `t`, staff and customer in turn.
fn short_replies(w: &World, t: u64, n: usize) {
    for i in 0..n {
        let who = if i % 2 == 0 { &w.staff } else { &w.cust_a };
        let r = w.as_(
            Some(who),
            "POST",
            &format!("/api/v1/tickets/{t}/replies"),
            Some(json!({"body": format!("reply {i}")})),
        );
        assert_eq!(r.status, 201, "{}", r.text());
    }
}

/// What a workspace costs in keys (README "Managed Spin platforms": Fermyon
/// Cloud counts keys): the figures the README's table gives, as bounds.
#[test]
fn keys_per_workspace_ticket_and_reply_stay_within_the_readme_figures() {
    let mut w = World::build(false);
    let base = acme_keys(&mut w);
    let t = w.ticket(&w.cust_a, "Counting keys");
    let after_ticket = acme_keys(&mut w);
    const REPLIES: usize = 10;
    short_replies(&w, t, REPLIES);
    let after_replies = acme_keys(&mut w);
    let per_ticket = after_ticket - base;
    let per_reply = (after_replies - after_ticket) as f64 / REPLIES as f64;
    eprintln!(
        "keys: workspace with 5 users {base}, a ticket +{per_ticket}, a reply +{per_reply:.1}"
    );
    assert!(base <= 40, "workspace with 5 users: {base} keys");
    assert!(per_ticket <= 60, "a ticket: {per_ticket} keys");
    assert!(per_reply <= 6.0, "a reply: {per_reply} keys");
}

/// Redis's command counts (`INFO commandstats`): `calls` by command name.
fn command_counts(redis: &Redis) -> BTreeMap<String, u64> {
    let port = redis.url.rsplit(':').next().unwrap();
    let out = Command::new("redis-cli")
        .args(["-p", port, "INFO", "commandstats"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (name, rest) = l.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = rest.strip_prefix("calls=")?.split(',').next()?;
            Some((name.to_string(), calls.parse().ok()?))
        })
        .collect()
}

/// Store reads and writes between two [`command_counts`]: reads are GET,
/// MGET (one per batch) and EXISTS; writes are SET, DEL, INCRBY and the
/// compare-and-swap script (EVALSHA/EVAL).
fn reads_writes(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> (u64, u64) {
    let d = |names: &[&str]| -> u64 {
        names
            .iter()
            .map(|n| after.get(*n).unwrap_or(&0) - before.get(*n).unwrap_or(&0))
            .sum()
    };
    (
        d(&["get", "mget", "exists"]),
        d(&["set", "del", "incrby", "evalsha", "eval"]),
    )
}

/// Store calls per request (README "Managed Spin platforms": Akamai
/// Functions allows 1,000 reads and 50 writes a second per app), counted by
/// Redis itself, as bounds.
#[test]
fn store_calls_per_reply_and_thread_view_stay_within_the_readme_figures() {
    let mut w = World::build_on_redis(Redis::start());
    let t = w.ticket(&w.cust_a, "Counting calls");
    let thread = format!("/api/v1/tickets/{t}/thread");
    const N: u64 = 10;
    let before = command_counts(w.redis().unwrap());
    short_replies(&w, t, N as usize);
    let replied = command_counts(w.redis().unwrap());
    for _ in 0..N {
        assert_eq!(w.as_(Some(&w.staff), "GET", &thread, None).status, 200);
    }
    let viewed = command_counts(w.redis().unwrap());
    let (reply_reads, reply_writes) = reads_writes(&before, &replied);
    let (view_reads, view_writes) = reads_writes(&replied, &viewed);
    eprintln!(
        "store calls: a reply {:.1} reads {:.1} writes; a thread view {:.1} reads {:.1} writes",
        reply_reads as f64 / N as f64,
        reply_writes as f64 / N as f64,
        view_reads as f64 / N as f64,
        view_writes as f64 / N as f64,
    );
    assert!(reply_writes > 0 && view_reads > 0, "Redis counted nothing");
    assert!(
        reply_writes <= 20 * N,
        "a reply: {} writes",
        reply_writes / N
    );
    assert!(reply_reads <= 20 * N, "a reply: {} reads", reply_reads / N);
    assert!(
        view_reads <= 4 * N,
        "a thread view: {} reads",
        view_reads / N
    );
    assert!(
        view_writes <= N,
        "a thread view: {} writes",
        view_writes / N
    );
}
