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
//!
//! [outbound_networking]
//! block_networks = ["private", "203.0.113.0/24"]
//! ```
//!
//! Without a file (or without an entry for `default`), the `default` label is a
//! SQLite file `<state-dir>/sqlite_key_value.db`, as under `spin up`. Without
//! `[outbound_networking]`, no network is blocked (as under `spin up`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;

use crate::outbound::BlockedNetworks;

/// A runtime-config file, read: store backends by label and the outbound
/// networks every component is kept away from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// Backend of each key-value store label (`default` always present).
    pub stores: BTreeMap<String, StoreConfig>,
    /// `[outbound_networking] block_networks`.
    pub blocked_networks: BlockedNetworks,
}

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
    #[serde(default)]
    outbound_networking: Option<RawOutbound>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutbound {
    #[serde(default)]
    block_networks: Vec<String>,
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

/// Read the runtime config (none: the defaults), defaults applied.
pub fn load(file: Option<&Path>, state_dir: &Path) -> Result<RuntimeConfig> {
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
pub fn parse(text: &str, base: &Path, state_dir: &Path) -> Result<RuntimeConfig> {
    let raw: Raw = toml::from_str(text).map_err(|e| anyhow!("{e}"))?;
    let blocked_networks = match &raw.outbound_networking {
        Some(o) => BlockedNetworks::parse(&o.block_networks)
            .context("[outbound_networking] block_networks")?,
        None => BlockedNetworks::default(),
    };
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
    Ok(RuntimeConfig {
        stores: out,
        blocked_networks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_errors() {
        let st = Path::new("/state");
        let m = parse("", Path::new("/cfg"), st).unwrap();
        assert!(m.blocked_networks.is_empty());
        let m = m.stores;
        assert_eq!(
            m["default"],
            StoreConfig::Sqlite("/state/sqlite_key_value.db".into())
        );
        let m = parse("[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://x\"\n[key_value_store.b]\ntype = \"spin\"\npath = \"b.db\"", Path::new("/cfg"), st).unwrap().stores;
        assert_eq!(m["default"], StoreConfig::Redis("redis://x".into()));
        assert_eq!(m["b"], StoreConfig::Sqlite("/cfg/b.db".into()));
        for (bad, needle) in [
            ("[key_value_store.x]\ntype = \"azure\"", "key_value_store.x"),
            ("[key_value_store.x]\ntype = \"redis\"", "needs `url`"),
            ("[sqlite_database.x]\ntype = \"spin\"", "sqlite_database"),
            (
                "[outbound_networking]\nblock_networks = [\"privat\"]",
                "privat",
            ),
            ("[outbound_networking]\nblocked = [\"private\"]", "blocked"),
        ] {
            let e = format!("{:#}", parse(bad, Path::new("/"), st).unwrap_err());
            assert!(e.contains(needle), "{e}");
        }
        let m = parse(
            "[outbound_networking]\nblock_networks = [\"private\", \"1.2.3.0/24\"]",
            Path::new("/"),
            st,
        )
        .unwrap();
        assert!(m.blocked_networks.is_blocked("10.0.0.1".parse().unwrap()));
        assert!(m.blocked_networks.is_blocked("1.2.3.4".parse().unwrap()));
        assert!(m.stores.contains_key("default"));
    }
}
