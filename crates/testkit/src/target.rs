//! Where cargo put what it built, wherever that is: the checkout's `target/`
//! by default, elsewhere with `CARGO_TARGET_DIR`, `CARGO_BUILD_TARGET_DIR`
//! or `build.target-dir` in a cargo config. `cargo xtask` and the tests ask
//! cargo once ([`target_dir`]) and find the host, the components and their
//! own scratch and output folders there.
//!
//! `spin.toml` (and the test apps' manifests) name the components under the
//! checkout's `target/`, so that a stock `spin up` starts them. When cargo
//! builds elsewhere, [`runnable_manifest`] writes a copy of the manifest
//! under `<target>/manifests/` whose `source` paths are absolute and point
//! into the real target dir; the host (or `spin up`) runs that copy.

use std::path::{Component, Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("the kit lives in crates/testkit")
        .to_path_buf()
}

static TARGET_DIR: OnceLock<PathBuf> = OnceLock::new();

/// The workspace's target directory, as cargo resolves it (asked once per
/// process with `cargo metadata`; when cargo cannot answer, the variables
/// cargo reads, see [`from_env`]).
pub fn target_dir() -> PathBuf {
    TARGET_DIR
        .get_or_init(|| {
            ask_cargo(&root()).unwrap_or_else(|e| {
                eprintln!("cargo metadata failed ({e}); using CARGO_TARGET_DIR or target/");
                from_env(&root(), |k| std::env::var_os(k).map(PathBuf::from))
            })
        })
        .clone()
}

/// `target_directory` of `cargo metadata` run in `workspace` (with this
/// process's environment, so `CARGO_TARGET_DIR` and friends count).
pub fn ask_cargo(workspace: &Path) -> Result<PathBuf, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(workspace)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    target_directory_of(&out.stdout)
}

/// The `target_directory` field of `cargo metadata`'s JSON.
pub fn target_directory_of(metadata: &[u8]) -> Result<PathBuf, String> {
    let v: serde_json::Value =
        serde_json::from_slice(metadata).map_err(|e| format!("cargo metadata: {e}"))?;
    v["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .ok_or_else(|| "cargo metadata has no target_directory".into())
}

/// Cargo's rule without its config files: `CARGO_TARGET_DIR`, else
/// `CARGO_BUILD_TARGET_DIR`, else `<workspace>/target`; a relative path is
/// taken from `workspace` (where xtask runs cargo).
pub fn from_env(workspace: &Path, var: impl Fn(&str) -> Option<PathBuf>) -> PathBuf {
    ["CARGO_TARGET_DIR", "CARGO_BUILD_TARGET_DIR"]
        .iter()
        .find_map(|k| var(k).filter(|p| !p.as_os_str().is_empty()))
        .map(|p| workspace.join(p))
        .unwrap_or_else(|| workspace.join("target"))
}

/// The release build of the host.
pub fn host_binary() -> PathBuf {
    target_dir().join("release/ticketshare-host")
}

/// The release build of component `name`.
pub fn wasm(name: &str) -> PathBuf {
    target_dir().join(format!("wasm32-wasip2/release/{name}.wasm"))
}

/// The manifest to run for `manifest`: `manifest` itself when its
/// components are where it says (cargo builds into the checkout's
/// `target/`, or it names none there), otherwise a copy under
/// `<target>/manifests/` whose every relative `source` is made absolute,
/// the ones under the checkout's `target/` moved to the real target dir.
pub fn runnable_manifest(manifest: &Path) -> Result<PathBuf, String> {
    let text = std::fs::read_to_string(manifest)
        .map_err(|e| format!("cannot read {}: {e}", manifest.display()))?;
    let dir = absolute(manifest.parent().unwrap_or(Path::new(".")));
    let Some(copy) = relocate(&text, &dir, &root().join("target"), &target_dir())? else {
        return Ok(manifest.to_path_buf());
    };
    let rel = absolute(manifest)
        .strip_prefix(root())
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| manifest.to_path_buf());
    let name: String = rel
        .to_string_lossy()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let out_dir = target_dir().join("manifests");
    std::fs::create_dir_all(&out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let out = out_dir.join(name.trim_start_matches('-'));
    // Several tests may write the same copy at once: write, then rename.
    let tmp = out_dir.join(format!(".{}.{}", std::process::id(), unique()));
    std::fs::write(&tmp, copy).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &out).map_err(|e| format!("{}: {e}", out.display()))?;
    Ok(out)
}

fn unique() -> u64 {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// `text` (a manifest in `dir`) with its `source` paths rewritten as
/// [`runnable_manifest`] says; `None` when nothing under `checkout_target`
/// is named or `target` is `checkout_target`. A `files` pattern (a bare
/// string, resolved next to the manifest) cannot move with the copy: an
/// error.
pub fn relocate(
    text: &str,
    dir: &Path,
    checkout_target: &Path,
    target: &Path,
) -> Result<Option<String>, String> {
    if normalize(target) == normalize(checkout_target) {
        return Ok(None);
    }
    let mut out = String::with_capacity(text.len() + 256);
    let mut moved = false;
    let mut rest = text;
    while let Some((before, value, after)) = next_source(rest) {
        out.push_str(before);
        let path = Path::new(value);
        let abs = normalize(&dir.join(path));
        let new = match abs.strip_prefix(normalize(checkout_target)) {
            Ok(under) => {
                moved = true;
                target.join(under)
            }
            Err(_) => abs,
        };
        let new = new.to_string_lossy();
        if new.contains(['"', '\\']) {
            return Err(format!("cannot write the path {new:?} into a manifest"));
        }
        out.push('"');
        out.push_str(&new);
        out.push('"');
        rest = after;
    }
    out.push_str(rest);
    if !moved {
        return Ok(None);
    }
    if has_file_pattern(text) {
        return Err(
            "the manifest mounts `files` patterns, which resolve next to the manifest: build into the checkout's target/ to run it".into(),
        );
    }
    Ok(Some(out))
}

/// The next `source = "…"` of `text`: the text before the quoted value,
/// the value, and the text after it.
fn next_source(text: &str) -> Option<(&str, &str, &str)> {
    let mut from = 0;
    while let Some(i) = text[from..].find("source") {
        let at = from + i;
        from = at + "source".len();
        let boundary = text[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'));
        let after_key = text[from..].trim_start_matches([' ', '\t']);
        let Some(after_eq) = after_key.strip_prefix('=') else {
            continue;
        };
        let after_eq = after_eq.trim_start_matches([' ', '\t']);
        let Some(value_and_rest) = after_eq.strip_prefix('"') else {
            continue;
        };
        let Some(end) = value_and_rest.find('"') else {
            continue;
        };
        if !boundary {
            continue;
        }
        let quote = text.len() - after_eq.len();
        let value = &value_and_rest[..end];
        return Some((&text[..quote], value, &value_and_rest[end + 1..]));
    }
    None
}

/// Whether a `files = [...]` array holds a bare string (a pattern).
fn has_file_pattern(text: &str) -> bool {
    text.lines().any(|line| {
        let Some(v) = line.trim_start().strip_prefix("files") else {
            return false;
        };
        let Some(v) = v.trim_start().strip_prefix('=') else {
            return false;
        };
        // Drop the inline tables; a quote left over is a pattern.
        let mut depth = 0;
        v.chars().any(|c| {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                '"' if depth == 0 => return true,
                _ => {}
            }
            false
        })
    })
}

fn absolute(p: &Path) -> PathBuf {
    normalize(&std::env::current_dir().unwrap_or_default().join(p))
}

/// `p` without `.` and with each `..` taking off the segment before it.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo_answers_the_variable_it_is_given() {
        // The one function xtask and the tests use, with the variable set.
        let tmp = std::env::temp_dir().join(format!("ts-target-{}", std::process::id()));
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = Command::new(cargo)
            .current_dir(root())
            .env("CARGO_TARGET_DIR", &tmp)
            .args(["metadata", "--format-version", "1", "--no-deps"])
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_eq!(target_directory_of(&out.stdout).unwrap(), tmp);
    }

    #[test]
    fn the_variables_cargo_reads_in_its_order() {
        let ws = Path::new("/ws");
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| PathBuf::from(v))
            }
        };
        assert_eq!(from_env(ws, env(&[])), Path::new("/ws/target"));
        assert_eq!(
            from_env(ws, env(&[("CARGO_BUILD_TARGET_DIR", "/b")])),
            Path::new("/b")
        );
        assert_eq!(
            from_env(
                ws,
                env(&[("CARGO_BUILD_TARGET_DIR", "/b"), ("CARGO_TARGET_DIR", "t")])
            ),
            Path::new("/ws/t")
        );
        assert_eq!(
            from_env(ws, env(&[("CARGO_TARGET_DIR", "")])),
            Path::new("/ws/target")
        );
    }

    #[test]
    fn the_app_manifest_moves_to_the_real_target_dir() {
        let text = std::fs::read_to_string(root().join("spin.toml")).unwrap();
        let here = root().join("target");
        assert_eq!(relocate(&text, &root(), &here, &here).unwrap(), None);
        let copy = relocate(&text, &root(), &here, Path::new("/cache/t"))
            .unwrap()
            .expect("moved");
        assert!(copy.contains(r#"source = "/cache/t/wasm32-wasip2/release/pages.wasm""#));
        assert!(copy.contains(&format!(
            r#"files = [{{ source = "{}", destination = "/" }}]"#,
            root().join("static").display()
        )));
        assert!(!copy.contains(r#""target/"#), "{copy}");
        assert_eq!(copy.lines().count(), text.lines().count());
    }

    #[test]
    fn a_test_app_climbing_out_of_its_folder_moves_too() {
        let dir = root().join("tests/apps/contract");
        let text = std::fs::read_to_string(dir.join("spin.toml")).unwrap();
        let copy = relocate(&text, &dir, &root().join("target"), Path::new("/t"))
            .unwrap()
            .expect("moved");
        assert!(copy.contains(r#"source = "/t/wasm32-wasip2/release/contract.wasm""#));
    }

    #[test]
    fn manifests_naming_nothing_built_stay_and_patterns_refuse() {
        let t = Path::new("/t");
        let here = Path::new("/app/target");
        let plain = "[component.a]\nsource = \"a.wasm\"\n";
        assert_eq!(relocate(plain, Path::new("/app"), here, t).unwrap(), None);
        let pattern = "[component.a]\nsource = \"target/a.wasm\"\nfiles = [\"x/*.css\"]\n";
        assert!(relocate(pattern, Path::new("/app"), here, t).is_err());
        // A key merely ending in "source" is not a source.
        let other = "[component.a]\nsource = \"target/a.wasm\"\nresource = \"target/b\"\n";
        let copy = relocate(other, Path::new("/app"), here, t)
            .unwrap()
            .unwrap();
        assert!(
            copy.contains("source = \"/t/a.wasm\"") && copy.contains("resource = \"target/b\"")
        );
    }
}
