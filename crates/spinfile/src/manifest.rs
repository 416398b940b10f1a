//! Spin application manifest (`spin.toml`, `spin_manifest_version = 2`).
//!
//! Parsing is strict: an entry this host does not know or does not support is an
//! error naming the entry, so a manifest that runs here means the same thing under
//! `spin up`. Validation (ids, routes, variable references, store labels) happens
//! in [`Manifest::parse`] so every later stage can trust the data.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;

use crate::router::RoutePattern;
use crate::variables::{Template, Variable, validate_variable_name};

/// A parsed and validated manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// Directory the manifest was read from; relative paths resolve against it.
    pub dir: PathBuf,
    /// `[application]`.
    pub application: Application,
    /// `[variables]`: application variables by name.
    pub variables: BTreeMap<String, Variable>,
    /// `[[trigger.http]]`, in manifest order.
    pub http_triggers: Vec<HttpTrigger>,
    /// `[component.<id>]` by id.
    pub components: BTreeMap<String, Component>,
    /// Problems worth telling the user that do not stop the app (duplicate routes).
    pub warnings: Vec<String>,
}

/// `[application]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Application {
    /// Application name.
    pub name: String,
    /// Application version.
    #[serde(default)]
    pub version: Option<String>,
    /// Human description.
    #[serde(default)]
    pub description: Option<String>,
    /// Authors.
    #[serde(default)]
    pub authors: Vec<String>,
    /// Application-level trigger settings (accepted, unused by this host).
    #[serde(default)]
    pub trigger: Option<toml::Table>,
}

/// Where an HTTP trigger is reachable.
#[derive(Debug, Clone)]
pub enum TriggerRoute {
    /// A public route pattern.
    Public(RoutePattern),
    /// `route = { private = true }`: only reachable through service chaining, so
    /// never from the listener.
    Private,
}

/// One `[[trigger.http]]`.
#[derive(Debug, Clone)]
pub struct HttpTrigger {
    /// Where it is reachable.
    pub route: TriggerRoute,
    /// Component id it runs.
    pub component: String,
}

/// One `[component.<id>]`.
#[derive(Debug, Clone)]
pub struct Component {
    /// Component id.
    pub id: String,
    /// Absolute path of the wasm file.
    pub source: PathBuf,
    /// Files mounted into the component's filesystem.
    pub files: Vec<FileMount>,
    /// Key-value store labels it may open.
    pub key_value_stores: Vec<String>,
    /// Outbound hosts it may call.
    pub allowed_outbound_hosts: Vec<String>,
    /// Component variables (templates over application variables).
    pub variables: BTreeMap<String, Template>,
    /// Environment variables.
    pub environment: BTreeMap<String, String>,
    /// `build.command`, used in the "how to build it" hint.
    pub build_command: Option<String>,
}

/// A `files` entry.
#[derive(Debug, Clone)]
pub enum FileMount {
    /// A glob pattern (or plain path) relative to the application directory;
    /// matches are mounted at the same relative path under `/`.
    Pattern(String),
    /// A host directory or file mounted at a guest path.
    Placement {
        /// Host path relative to the application directory.
        source: String,
        /// Absolute guest path.
        destination: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    spin_manifest_version: toml::Value,
    application: Application,
    #[serde(default)]
    variables: BTreeMap<String, Variable>,
    #[serde(default)]
    trigger: BTreeMap<String, Vec<toml::Table>>,
    #[serde(default)]
    component: BTreeMap<String, toml::Table>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttpTrigger {
    route: RawRoute,
    component: toml::Value,
    #[serde(default)]
    executor: Option<toml::Table>,
    #[serde(default)]
    id: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawRoute {
    Path(String),
    Private { private: bool },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawComponent {
    source: toml::Value,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    files: Vec<RawFile>,
    #[serde(default)]
    exclude_files: Vec<String>,
    #[serde(default)]
    key_value_stores: Vec<String>,
    #[serde(default)]
    allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    #[serde(default)]
    environment: BTreeMap<String, String>,
    #[serde(default)]
    build: Option<RawBuild>,
    #[serde(default)]
    tool: Option<toml::Table>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawFile {
    Pattern(String),
    Placement { source: String, destination: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBuild {
    command: String,
    #[serde(default)]
    workdir: Option<String>,
    #[serde(default)]
    watch: Vec<String>,
}

impl Manifest {
    /// Read and validate the manifest at `path`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read manifest {}", path.display()))?;
        let dir = path
            .parent()
            .map(|p| {
                if p.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    p
                }
            })
            .unwrap_or(Path::new("."));
        let dir = std::fs::canonicalize(dir)
            .with_context(|| format!("cannot resolve directory {}", dir.display()))?;
        Self::parse(&text, &dir).with_context(|| format!("invalid manifest {}", path.display()))
    }

    /// Parse and validate manifest text; relative paths resolve against `dir`.
    pub fn parse(text: &str, dir: &Path) -> Result<Self> {
        let raw: RawManifest = toml::from_str(text).map_err(|e| anyhow!("{e}"))?;
        match raw.spin_manifest_version {
            toml::Value::Integer(2) => {}
            toml::Value::String(ref s) if s == "2" => {}
            other => bail!("spin_manifest_version: only version 2 is supported, found {other}"),
        }
        for (name, var) in &raw.variables {
            validate_variable_name(name).with_context(|| format!("[variables.{name}]"))?;
            if var.required && var.default.is_some() {
                bail!(
                    "[variables.{name}]: a variable cannot be both `required` and have a `default`"
                );
            }
        }

        let mut components = BTreeMap::new();
        for (id, table) in raw.component {
            validate_id(&id).with_context(|| format!("[component.{id}]"))?;
            let c = parse_component(&id, table, dir, &raw.variables)
                .with_context(|| format!("[component.{id}]"))?;
            components.insert(id, c);
        }

        let mut http_triggers = Vec::new();
        for (kind, entries) in raw.trigger {
            if kind != "http" {
                bail!("[[trigger.{kind}]]: only HTTP triggers are supported by this host");
            }
            for (i, table) in entries.into_iter().enumerate() {
                let t: RawHttpTrigger = toml::Value::Table(table)
                    .try_into()
                    .map_err(|e| anyhow!("[[trigger.http]] #{}: {e}", i + 1))?;
                let where_ = format!("[[trigger.http]] #{}", i + 1);
                if let Some(exec) = &t.executor {
                    match exec.get("type").and_then(|v| v.as_str()) {
                        Some("spin") => {}
                        other => {
                            bail!("{where_}: executor {other:?} is not supported (only \"spin\")")
                        }
                    }
                }
                let _ = t.id;
                let component = match t.component {
                    toml::Value::String(s) => s,
                    _ => bail!(
                        "{where_}: `component` must name a [component.<id>] (inline components are not supported)"
                    ),
                };
                if !components.contains_key(&component) {
                    bail!("{where_}: component `{component}` is not defined in the manifest");
                }
                let route = match t.route {
                    RawRoute::Path(p) => TriggerRoute::Public(
                        RoutePattern::parse(&p)
                            .with_context(|| format!("{where_}: route {p:?}"))?,
                    ),
                    RawRoute::Private { private: true } => TriggerRoute::Private,
                    RawRoute::Private { private: false } => {
                        bail!(
                            "{where_}: `route = {{ private = false }}` is not valid; give a route path"
                        )
                    }
                };
                http_triggers.push(HttpTrigger { route, component });
            }
        }
        // As in Spin, a duplicate route is a warning and the last one wins.
        let mut warnings = Vec::new();
        let mut last_of: BTreeMap<String, usize> = BTreeMap::new();
        for (i, t) in http_triggers.iter().enumerate() {
            if let TriggerRoute::Public(p) = &t.route
                && let Some(prev) = last_of.insert(p.canonical(), i)
            {
                warnings.push(format!(
                    "duplicate route {:?}: component `{}` replaces `{}`",
                    p.raw(),
                    t.component,
                    http_triggers[prev].component
                ));
            }
        }
        let http_triggers = http_triggers
            .into_iter()
            .enumerate()
            .filter(|(i, t)| match &t.route {
                TriggerRoute::Public(p) => last_of.get(&p.canonical()) == Some(i),
                TriggerRoute::Private => true,
            })
            .map(|(_, t)| t)
            .collect();
        Ok(Manifest {
            dir: dir.to_path_buf(),
            application: raw.application,
            variables: raw.variables,
            http_triggers,
            components,
            warnings,
        })
    }
}

fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.split('-').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                && part.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        });
    if !ok {
        bail!("component ids are kebab-case: lowercase letters and digits separated by '-'");
    }
    Ok(())
}

fn parse_component(
    id: &str,
    table: toml::Table,
    dir: &Path,
    app_vars: &BTreeMap<String, Variable>,
) -> Result<Component> {
    let raw: RawComponent = toml::Value::Table(table)
        .try_into()
        .map_err(|e| anyhow!("{e}"))?;
    let _ = (raw.description, raw.tool);
    let source = match raw.source {
        toml::Value::String(s) => dir.join(s),
        toml::Value::Table(_) => {
            bail!(
                "source: remote sources (`{{ url, digest }}`) are not supported by this host; give a local path"
            )
        }
        other => bail!("source: expected a path string, found {other}"),
    };
    if !raw.exclude_files.is_empty() {
        bail!("exclude_files: not supported by this host");
    }
    let mut files = Vec::new();
    for f in raw.files {
        files.push(match f {
            RawFile::Pattern(p) => {
                if p.starts_with('/') || p.split('/').any(|s| s == "..") {
                    bail!("files: pattern {p:?} must be relative to the application directory");
                }
                FileMount::Pattern(p)
            }
            RawFile::Placement {
                source,
                destination,
            } => {
                if !destination.starts_with('/') {
                    bail!("files: destination {destination:?} must be an absolute guest path");
                }
                FileMount::Placement {
                    source,
                    destination,
                }
            }
        });
    }
    for label in &raw.key_value_stores {
        if label.is_empty()
            || !label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            bail!("key_value_stores: invalid store label {label:?}");
        }
    }
    for host in &raw.allowed_outbound_hosts {
        if host.contains("{{") {
            // Templates (as in Spin) are checked here and resolved at start.
            let t = Template::parse(host)
                .with_context(|| format!("allowed_outbound_hosts: {host:?}"))?;
            for r in t.references() {
                if !app_vars.contains_key(r) {
                    bail!(
                        "allowed_outbound_hosts: {host:?} references undefined application variable `{r}`"
                    );
                }
            }
        } else {
            crate::outbound::AllowedHost::parse(host)
                .with_context(|| format!("allowed_outbound_hosts: {host:?}"))?;
        }
    }
    let mut variables = BTreeMap::new();
    for (name, value) in raw.variables {
        validate_variable_name(&name).with_context(|| format!("variables.{name}"))?;
        let template =
            Template::parse(&value).with_context(|| format!("variables.{name} = {value:?}"))?;
        for r in template.references() {
            if !app_vars.contains_key(r) {
                bail!("variables.{name}: references undefined application variable `{r}`");
            }
        }
        variables.insert(name, template);
    }
    let build_command = match raw.build {
        Some(b) => {
            let _ = (b.workdir, b.watch);
            Some(b.command)
        }
        None => None,
    };
    Ok(Component {
        id: id.to_string(),
        source,
        files,
        key_value_stores: raw.key_value_stores,
        allowed_outbound_hosts: raw.allowed_outbound_hosts,
        variables,
        environment: raw.environment,
        build_command,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Manifest> {
        Manifest::parse(text, Path::new("/app"))
    }

    const BASE: &str = r#"
spin_manifest_version = 2
[application]
name = "t"
[variables]
origin = { default = "http://x" }
token = { required = true, secret = true }
[[trigger.http]]
route = "/..."
component = "web"
[[trigger.http]]
route = { private = true }
component = "web"
[component.web]
source = "web.wasm"
key_value_stores = ["default"]
files = [{ source = "static", destination = "/" }, "assets/*.css"]
allowed_outbound_hosts = ["https://example.com"]
[component.web.variables]
origin = "{{ origin }}/x"
[component.web.build]
command = "cargo build"
"#;

    #[test]
    fn parses_a_full_manifest() {
        let m = parse(BASE).unwrap();
        assert_eq!(m.application.name, "t");
        assert_eq!(m.http_triggers.len(), 2);
        let c = &m.components["web"];
        assert_eq!(c.source, Path::new("/app/web.wasm"));
        assert_eq!(c.files.len(), 2);
        assert!(m.variables["token"].required);
    }

    #[test]
    fn errors_name_the_entry() {
        let cases = [
            (
                BASE.replace("key_value_stores", "key_value_storez"),
                "key_value_storez",
            ),
            (
                BASE.replace("component = \"web\"\n[[", "component = \"nope\"\n[["),
                "nope",
            ),
            (BASE.replace("{{ origin }}", "{{ missing }}"), "missing"),
            (
                BASE.replace("spin_manifest_version = 2", "spin_manifest_version = 1"),
                "version",
            ),
            (
                BASE.replace("[component.web]", "[component.Web]"),
                "component.Web",
            ),
            (
                BASE.replace("\"https://example.com\"", "\"ftp//bad\""),
                "allowed_outbound_hosts",
            ),
            (
                BASE.replace(
                    "[[trigger.http]]\nroute = \"/...\"",
                    "[[trigger.redis]]\nroute = \"/...\"",
                ),
                "trigger.redis",
            ),
            (
                BASE.replace("name = \"t\"", "name = \"t\"\ncolour = 1"),
                "colour",
            ),
        ];
        for (text, needle) in cases {
            let err = format!("{:#}", parse(&text).unwrap_err());
            assert!(
                err.contains(needle),
                "error {err:?} should mention {needle:?}"
            );
        }
    }

    #[test]
    fn duplicate_routes_warn_and_the_last_wins() {
        let text = BASE.replace("route = { private = true }", "route = \"/...\"");
        let m = parse(&text).unwrap();
        assert_eq!(m.http_triggers.len(), 1);
        assert!(
            m.warnings[0].contains("duplicate route"),
            "{:?}",
            m.warnings
        );
    }
}
