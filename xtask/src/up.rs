//! `cargo xtask up`: build, serve `spin.toml` on http://127.0.0.1:3000,
//! seed the demo workspace (see `seed.rs`) and print how to get in.

use std::process::Command;

use testkit::root;

use crate::seed;
use crate::setup::build;

/// The arguments of `cargo xtask up`, split into xtask's own and the host's.
#[derive(Debug, PartialEq)]
struct UpArgs {
    /// `--allow-private-webhooks` (ours, not the host's): deliveries to
    /// receivers on this machine or its network, for trying
    /// samples/webhook-receiver.py. Without it the app runs as deployed,
    /// with runtime-config/default.toml blocking private networks for every
    /// outbound connection.
    private: bool,
    /// Everything else, for `ticketshare-host up`, in order.
    host: Vec<String>,
}

/// Split `cargo xtask up` arguments. A `--` (as in `cargo xtask up --
/// --access-log`, where cargo passes it through) separates nothing here:
/// every flag but xtask's own goes to the host either way.
fn split_args(args: &[String]) -> UpArgs {
    UpArgs {
        private: args.iter().any(|a| a == "--allow-private-webhooks"),
        host: args
            .iter()
            .filter(|a| *a != "--allow-private-webhooks" && *a != "--")
            .cloned()
            .collect(),
    }
}

/// The last literal `--variable name=value` (or `--variable=name=value`)
/// among the host's flags; values read from files are the host's business.
fn literal_variable(host: &[String], name: &str) -> Option<String> {
    let mut found = None;
    let mut it = host.iter();
    while let Some(a) = it.next() {
        let pair = match a.strip_prefix("--variable") {
            Some("") => it.next().map(String::as_str),
            Some(rest) => rest.strip_prefix('='),
            None => None,
        };
        if let Some(value) = pair
            .and_then(|p| p.split_once('='))
            .filter(|(k, v)| *k == name && !v.starts_with('@'))
            .map(|(_, v)| v.to_string())
        {
            found = Some(value);
        }
    }
    found
}

/// Build, serve `spin.toml` on port 3000 (extra arguments go to the host),
/// seed the demo workspace and stay in the foreground.
pub fn up(extra: &[String]) -> Result<(), String> {
    build()?;
    let UpArgs {
        private,
        host: mut extra,
    } = split_args(extra);
    let own_config = extra.iter().any(|a| a.starts_with("--runtime-config-file"))
        || std::env::var_os("RUNTIME_CONFIG_FILE").is_some();
    // `--state-dir` and `--listen` given here replace ours; the demo's
    // files (admin token, demo.json) live in the state dir.
    let state = take_flag(&mut extra, "--state-dir")
        .and_then(|d| std::path::absolute(d).ok())
        .unwrap_or_else(|| root().join(".spin"));
    let own_listen = extra
        .iter()
        .any(|a| a == "--listen" || a.starts_with("--listen="))
        || std::env::var_os("SPIN_HTTP_LISTEN_ADDR").is_some();
    // The host and components are where cargo built them (see
    // testkit::target): with CARGO_TARGET_DIR elsewhere, spin.toml runs as
    // a copy naming them there, and the state stays in the checkout's
    // .spin/ as with spin.toml itself.
    let manifest = testkit::target::runnable_manifest(&root().join("spin.toml"))?;
    let mut c = Command::new(testkit::host_binary());
    c.current_dir(root())
        .args(["up", "--from"])
        .arg(&manifest)
        .arg("--state-dir")
        .arg(&state);
    if !own_listen {
        c.args(["--listen", "127.0.0.1:3000"]);
    }
    if !private && !own_config {
        c.args(["--runtime-config-file", "runtime-config/default.toml"]);
    }
    // What cron does in a deployment: retry the webhook deliveries that
    // are due, every workspace's, every 30 s (unless given otherwise).
    if !extra
        .iter()
        .any(|a| a.starts_with("--flush-webhooks-every"))
    {
        c.args(["--flush-webhooks-every", "30s"]);
    }
    c.args(&extra);
    if private {
        eprintln!(
            "Private networks are reachable by webhooks (--allow-private-webhooks): development only"
        );
        c.env("SPIN_VARIABLE_ALLOW_PRIVATE_WEBHOOKS", "true");
    }
    // A `--variable name=value` for the host wins over the environment, as in
    // Spin: seeding must use the same values.
    let given = |name: &str| {
        literal_variable(&extra, name)
            .or_else(|| std::env::var(format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase())).ok())
    };
    let token_path = state.join("admin-token");
    if given("admin_token").is_none() {
        // A local deployment token, kept in the state dir so it survives restarts.
        let token = match std::fs::read_to_string(&token_path) {
            Ok(t) if t.trim().len() >= 32 => t.trim().to_string(),
            _ => {
                let mut bytes = [0u8; 24];
                std::fs::File::open("/dev/urandom")
                    .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
                    .map_err(|e| format!("cannot read /dev/urandom: {e}"))?;
                let t: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                std::fs::create_dir_all(&state).map_err(|e| e.to_string())?;
                std::fs::write(&token_path, &t).map_err(|e| e.to_string())?;
                t
            }
        };
        eprintln!(
            "Deployment admin token (create workspaces with it): {token}  [stored in {}]",
            token_path.display()
        );
        c.env("SPIN_VARIABLE_ADMIN_TOKEN", &token);
    }
    let admin_token = given("admin_token")
        .or_else(|| {
            std::fs::read_to_string(&token_path)
                .ok()
                .map(|t| t.trim().to_string())
        })
        .unwrap_or_default();
    let origin = given("public_origin").unwrap_or_else(|| "http://127.0.0.1:3000".into());
    // Serve, wait for the listener, seed/print, then stay in the foreground.
    c.stdout(std::process::Stdio::piped());
    eprintln!("$ {c:?}");
    let mut child = c
        .spawn()
        .map_err(|e| format!("cannot start the host: {e}"))?;
    let stdout = child.stdout.take().expect("piped");
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let mut addr = None;
    for line in lines.by_ref() {
        let line = line.map_err(|e| e.to_string())?;
        println!("{line}");
        if let Some(a) = line.strip_prefix("Serving http://") {
            addr = Some(a.trim().to_string());
        }
        if line.starts_with("Ready in") {
            break;
        }
    }
    let printer =
        std::thread::spawn(move || lines.map_while(Result::ok).for_each(|l| println!("{l}")));
    // Without an address it printed why (or its --help / --version) and exits.
    if let Some(addr) = addr
        && let Err(e) = seed::seed_and_print(&addr, &admin_token, &state, &origin)
    {
        eprintln!("seeding the demo workspace failed: {e}");
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    let _ = printer.join();
    if status.success() {
        Ok(())
    } else {
        Err(format!("the host exited with {status}"))
    }
}

/// Remove `name VALUE` or `name=VALUE` from `args`; the last value given.
fn take_flag(args: &mut Vec<String>, name: &str) -> Option<String> {
    let mut value = None;
    let mut i = 0;
    while i < args.len() {
        if args[i] == name && i + 1 < args.len() {
            value = Some(args.remove(i + 1));
            args.remove(i);
        } else if let Some(v) = args[i].strip_prefix(&format!("{name}=")) {
            value = Some(v.to_string());
            args.remove(i);
        } else {
            i += 1;
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(args: &[&str]) -> UpArgs {
        split_args(&args.iter().map(|a| a.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn host_flags_pass_through_with_or_without_a_separator() {
        for args in [
            &["--access-log", "--max-in-flight", "8"][..],
            &["--", "--access-log", "--max-in-flight", "8"],
        ] {
            assert_eq!(
                split(args),
                UpArgs {
                    private: false,
                    host: vec!["--access-log".into(), "--max-in-flight".into(), "8".into()],
                },
                "{args:?}"
            );
        }
        let host = split(&["--variable", "admin_token=x", "--variable=admin_token=y"]).host;
        assert_eq!(literal_variable(&host, "admin_token").as_deref(), Some("y"));
        assert_eq!(literal_variable(&host, "public_origin"), None);
        assert_eq!(
            split(&["--allow-private-webhooks", "--", "--variable", "a=b"]),
            UpArgs {
                private: true,
                host: vec!["--variable".into(), "a=b".into()],
            }
        );
    }

    #[test]
    fn a_flag_is_taken_in_both_spellings() {
        let mut a: Vec<String> = ["--x", "--state-dir", "s1", "--state-dir=s2", "--y"]
            .map(String::from)
            .to_vec();
        assert_eq!(take_flag(&mut a, "--state-dir").as_deref(), Some("s2"));
        assert_eq!(a, ["--x", "--y"]);
        assert_eq!(take_flag(&mut a, "--state-dir"), None);
    }
}
