//! `allowed_outbound_hosts`: which destinations a component's outgoing HTTP
//! requests may reach. Same syntax as Spin: `scheme://host[:port]`, where the
//! scheme, host and port may each be `*`, the host may be `*.domain`, and a
//! missing port means the scheme's default.

use anyhow::{Result, bail};

/// One allowed destination pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    scheme: Option<String>,
    host: HostPattern,
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    Exact(String),
    Suffix(String),
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

impl AllowedHost {
    /// Parse one manifest entry.
    pub fn parse(text: &str) -> Result<Self> {
        if text.contains("{{") {
            bail!("a template must be resolved before it is parsed");
        }
        let Some((scheme, rest)) = text.split_once("://") else {
            bail!("expected scheme://host[:port]");
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty() || rest.contains('/') {
            bail!("expected scheme://host[:port] with no path");
        }
        let scheme = match scheme {
            "*" => None,
            s if s
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '-' || c == '.')
                && !s.is_empty() =>
            {
                Some(s.to_ascii_lowercase())
            }
            _ => bail!("invalid scheme {scheme:?}"),
        };
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || rest.starts_with('[') => (h, Some(p)),
            _ => (rest, None),
        };
        let host = match host {
            "*" => HostPattern::Any,
            h if h.starts_with("*.") => HostPattern::Suffix(h[1..].to_ascii_lowercase()),
            h if h.contains('*') => bail!("a wildcard host must be `*` or `*.domain`"),
            h => HostPattern::Exact(h.to_ascii_lowercase()),
        };
        let port = match port {
            Some("*") => None,
            Some(p) => Some(
                p.parse::<u16>()
                    .map_err(|_| anyhow::anyhow!("invalid port {p:?}"))?,
            ),
            None => match &scheme {
                Some(s) => Some(
                    default_port(s)
                        .ok_or_else(|| anyhow::anyhow!("scheme {s:?} needs an explicit port"))?,
                ),
                None => bail!("a `*` scheme needs an explicit port (or `:*`)"),
            },
        };
        Ok(Self { scheme, host, port })
    }

    /// Whether a request to `scheme://host:port` is allowed by this entry.
    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        let host = host.to_ascii_lowercase();
        self.scheme.as_deref().is_none_or(|s| s == scheme)
            && self.port.is_none_or(|p| p == port)
            && match &self.host {
                HostPattern::Any => true,
                HostPattern::Exact(h) => *h == host,
                HostPattern::Suffix(s) => host.ends_with(s.as_str()),
            }
    }
}

/// The allow-list of one component.
#[derive(Debug, Clone, Default)]
pub struct OutboundPolicy {
    allowed: Vec<AllowedHost>,
}

impl OutboundPolicy {
    /// Build from manifest entries (already validated by the manifest parser).
    pub fn new(entries: &[String]) -> Result<Self> {
        Ok(Self {
            allowed: entries
                .iter()
                .map(|e| AllowedHost::parse(e))
                .collect::<Result<_>>()?,
        })
    }

    /// Whether a request to this URI may be sent.
    pub fn allows_uri(&self, uri: &http::Uri) -> bool {
        let scheme = uri.scheme_str().unwrap_or("https").to_ascii_lowercase();
        let Some(host) = uri.host() else { return false };
        let Some(port) = uri.port_u16().or_else(|| default_port(&scheme)) else {
            return false;
        };
        self.allowed.iter().any(|a| a.allows(&scheme, host, port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_table() {
        let cases = [
            ("https://example.com", "https://example.com/x", true),
            ("https://example.com", "http://example.com/x", false),
            ("https://example.com", "https://example.com:8443/", false),
            ("https://*.example.com", "https://a.example.com/", true),
            ("https://*.example.com", "https://example.org/", false),
            ("*://localhost:*", "http://localhost:1234/", true),
            ("http://127.0.0.1:3000", "http://127.0.0.1:3000/", true),
            ("http://127.0.0.1:3000", "http://127.0.0.1:3001/", false),
        ];
        for (pattern, uri, want) in cases {
            let p = OutboundPolicy::new(&[pattern.to_string()]).unwrap();
            assert_eq!(
                p.allows_uri(&uri.parse().unwrap()),
                want,
                "{pattern} vs {uri}"
            );
        }
        assert!(!OutboundPolicy::default().allows_uri(&"https://example.com/".parse().unwrap()));
        for bad in [
            "example.com",
            "https://ex*ample.com",
            "https://a.com/path",
            "*://a.com",
            "https://a.com:99999",
        ] {
            assert!(AllowedHost::parse(bad).is_err(), "{bad}");
        }
    }
}
