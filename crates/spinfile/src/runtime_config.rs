//! Spin's `runtime-config.toml`: which backend serves each key-value store label.
//!
//! ```toml
//! [key_value_store.default]
//! type = "spin"                    # SQLite; `path` optional
//! path = ".spin/sqlite_key_value.db"
//!
//! [key_value_store.shared]
//! type = "redis"
//! url = "redis://127.0.0.1:6379"
//! ```
//!
//! Without a file (or without an entry for `default`), the `default` label is a
//! SQLite file `<state-dir>/sqlite_key_value.db`, as under `spin up`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;

/// Backend configured for one store label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// SQLite file at this path.
    Sqlite(PathBuf),
    /// Redis at this URL.
    Redis(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    key_value_store: BTreeMap<String, RawStore>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    path: Option<PathBuf>,
    #[serde(default)]
    url: Option<String>,
}

/// Store backends by label, defaults applied.
pub fn load(file: Option<&Path>, state_dir: &Path) -> Result<BTreeMap<String, StoreConfig>> {
    let (text, base) = match file {
        Some(f) => (
            std::fs::read_to_string(f)
                .with_context(|| format!("cannot read runtime config {}", f.display()))?,
            f.parent().unwrap_or(Path::new(".")).to_path_buf(),
        ),
        None => (String::new(), PathBuf::from(".")),
    };
    parse(&text, &base, state_dir).with_context(|| match file {
        Some(f) => format!("invalid runtime config {}", f.display()),
        None => "runtime config".to_string(),
    })
}

/// Parse runtime-config text; relative SQLite paths resolve against `base`.
pub fn parse(text: &str, base: &Path, state_dir: &Path) -> Result<BTreeMap<String, StoreConfig>> {
    let raw: Raw = toml::from_str(text).map_err(|e| anyhow!("{e}"))?;
    let mut out = BTreeMap::new();
    for (label, s) in raw.key_value_store {
        let where_ = format!("[key_value_store.{label}]");
        let cfg = match s.kind.as_str() {
            "spin" => {
                if s.url.is_some() {
                    bail!("{where_}: `url` is only for type = \"redis\"");
                }
                StoreConfig::Sqlite(match s.path {
                    Some(p) if p.is_absolute() => p,
                    Some(p) => base.join(p),
                    None => state_dir.join("sqlite_key_value.db"),
                })
            }
            "redis" => {
                if s.path.is_some() {
                    bail!("{where_}: `path` is only for type = \"spin\"");
                }
                StoreConfig::Redis(
                    s.url
                        .ok_or_else(|| anyhow!("{where_}: type = \"redis\" needs `url`"))?,
                )
            }
            other => bail!("{where_}: type {other:?} is not supported (use \"spin\" or \"redis\")"),
        };
        out.insert(label, cfg);
    }
    out.entry("default".to_string())
        .or_insert_with(|| StoreConfig::Sqlite(state_dir.join("sqlite_key_value.db")));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_errors() {
        let st = Path::new("/state");
        let m = parse("", Path::new("/cfg"), st).unwrap();
        assert_eq!(
            m["default"],
            StoreConfig::Sqlite("/state/sqlite_key_value.db".into())
        );
        let m = parse("[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://x\"\n[key_value_store.b]\ntype = \"spin\"\npath = \"b.db\"", Path::new("/cfg"), st).unwrap();
        assert_eq!(m["default"], StoreConfig::Redis("redis://x".into()));
        assert_eq!(m["b"], StoreConfig::Sqlite("/cfg/b.db".into()));
        for (bad, needle) in [
            ("[key_value_store.x]\ntype = \"azure\"", "key_value_store.x"),
            ("[key_value_store.x]\ntype = \"redis\"", "needs `url`"),
            ("[sqlite_database.x]\ntype = \"spin\"", "sqlite_database"),
        ] {
            let e = format!("{:#}", parse(bad, Path::new("/"), st).unwrap_err());
            assert!(e.contains(needle), "{e}");
        }
    }
}
