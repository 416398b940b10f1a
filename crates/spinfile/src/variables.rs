//! Application and component variables, as `fermyon:spin/variables` serves them.
//!
//! Application variables (`[variables]`) get their value from the environment
//! (`SPIN_VARIABLE_<NAME>`, like Spin's env provider) or their default. Component
//! variables are templates over them (`"{{ origin }}/api"`). Everything is
//! resolved once at start, so a missing required variable stops the host before
//! it listens.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use serde::Deserialize;

/// One application variable (`[variables]` of the manifest).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variable {
    /// Value used when no provider supplies one.
    #[serde(default)]
    pub default: Option<String>,
    /// Start fails when no value is supplied.
    #[serde(default)]
    pub required: bool,
    /// Secret values are never printed.
    #[serde(default)]
    pub secret: bool,
    /// Human description.
    #[serde(default)]
    pub description: Option<String>,
}

/// Check Spin's variable-name rule: lowercase letters, digits and `_`, starting
/// with a letter.
pub fn validate_variable_name(name: &str) -> Result<()> {
    let ok = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.contains("__");
    if !ok {
        bail!(
            "invalid variable name {name:?}: use lowercase letters, digits and single underscores, starting with a letter"
        );
    }
    Ok(())
}

/// A component variable value: literal text with `{{ name }}` references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Lit(String),
    Var(String),
}

impl Template {
    /// Parse a template string.
    pub fn parse(text: &str) -> Result<Self> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Lit(rest[..start].to_string()));
            }
            let after = &rest[start + 2..];
            let Some(end) = after.find("}}") else {
                bail!("unclosed `{{{{`")
            };
            let name = after[..end].trim();
            validate_variable_name(name)?;
            parts.push(Part::Var(name.to_string()));
            rest = &after[end + 2..];
        }
        if rest.contains("}}") {
            bail!("unopened `}}}}`");
        }
        if !rest.is_empty() {
            parts.push(Part::Lit(rest.to_string()));
        }
        Ok(Self { parts })
    }

    /// Names of the application variables it uses.
    pub fn references(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(v) => Some(v.as_str()),
            Part::Lit(_) => None,
        })
    }

    /// Substitute application variable values.
    pub fn render(&self, values: &BTreeMap<String, String>) -> Result<String> {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Lit(l) => out.push_str(l),
                Part::Var(v) => match values.get(v) {
                    Some(val) => out.push_str(val),
                    None => bail!("application variable `{v}` has no value"),
                },
            }
        }
        Ok(out)
    }
}

/// Resolve every application variable from `env` (a lookup such as
/// `std::env::var`) and defaults. Errors name each missing required variable.
pub fn resolve_app_variables(
    variables: &BTreeMap<String, Variable>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<BTreeMap<String, String>> {
    let mut values = BTreeMap::new();
    let mut missing = Vec::new();
    for (name, var) in variables {
        let env_name = format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase());
        match env(&env_name).or_else(|| var.default.clone()) {
            Some(v) => {
                values.insert(name.clone(), v);
            }
            None if var.required => missing.push(format!(
                "`{name}` (set {env_name} or pass --variable {name}=…)"
            )),
            None => {}
        }
    }
    if !missing.is_empty() {
        bail!(
            "required application variable(s) not set: {}",
            missing.join(", ")
        );
    }
    Ok(values)
}

/// Resolve one component's variables.
pub fn resolve_component_variables(
    templates: &BTreeMap<String, Template>,
    app_values: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>> {
    templates
        .iter()
        .map(|(k, t)| {
            Ok((
                k.clone(),
                t.render(app_values)
                    .map_err(|e| anyhow::anyhow!("variable `{k}`: {e}"))?,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_render() {
        let t = Template::parse("{{ a }}/x/{{b}}").unwrap();
        let vals = BTreeMap::from([
            ("a".to_string(), "1".to_string()),
            ("b".to_string(), "2".to_string()),
        ]);
        assert_eq!(t.render(&vals).unwrap(), "1/x/2");
        assert_eq!(t.references().collect::<Vec<_>>(), ["a", "b"]);
        for bad in ["{{ a", "{{ A }}", "x }}", "{{}}"] {
            assert!(Template::parse(bad).is_err(), "{bad}");
        }
    }
}
