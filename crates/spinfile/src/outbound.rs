//! `allowed_outbound_hosts`: which destinations a component's outgoing HTTP
//! requests may reach. Same syntax as Spin: `scheme://host[:port]`, where the
//! scheme, host and port may each be `*`, the host may be `*.domain`, and a
//! missing port means the scheme's default.
//!
//! [`BlockedNetworks`] is the other half of Spin's outbound rules: the
//! runtime-config table `[outbound_networking] block_networks`, checked against
//! the *resolved* address of every outbound connection, whatever name the
//! component used.

use std::net::IpAddr;

use anyhow::{Result, bail};
use ip_network::IpNetwork;

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

/// Networks no outbound connection may reach (Spin's
/// `[outbound_networking] block_networks`): CIDRs, plus `"private"` for every
/// address that is not globally routable (loopback, RFC 1918, link-local and
/// the cloud metadata address 169.254.169.254, CGNAT, unique-local IPv6,
/// documentation and benchmarking ranges, multicast, unspecified...).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockedNetworks {
    networks: Vec<IpNetwork>,
    private: bool,
}

impl BlockedNetworks {
    /// Parse the entries of `block_networks`: `"private"` or a CIDR
    /// (`10.0.0.0/8`, `fd00::/8`; a bare address means that one address).
    pub fn parse(entries: &[String]) -> Result<Self> {
        let mut out = Self::default();
        for e in entries {
            let e = e.trim();
            if e == "private" {
                out.private = true;
                continue;
            }
            let net = if e.contains('/') {
                IpNetwork::from_str_truncate(e)
                    .map_err(|err| anyhow::anyhow!("invalid network {e:?}: {err}"))?
            } else {
                let ip: IpAddr = e.parse().map_err(|_| {
                    anyhow::anyhow!("invalid network {e:?}: expected \"private\" or a CIDR")
                })?;
                IpNetwork::from(ip)
            };
            out.networks.push(net);
        }
        Ok(out)
    }

    /// Whether nothing is blocked.
    pub fn is_empty(&self) -> bool {
        !self.private && self.networks.is_empty()
    }

    /// Whether a connection to `ip` is refused. An IPv6 address that carries
    /// an IPv4 address a gateway would forward to (IPv4-mapped, -compatible
    /// and SIIT forms, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) is judged as
    /// that IPv4 address too, so `64:ff9b::a9fe:a9fe` cannot slip past a rule
    /// for `169.254.0.0/16`. With `"private"`, the IPv6 ranges that lead to
    /// other networks whatever they carry (local-use NAT64 `64:ff9b:1::/48`,
    /// Teredo `2001::/32`, discard `100::/64`) are refused outright.
    pub fn is_blocked(&self, ip: IpAddr) -> bool {
        if let IpAddr::V6(v6) = ip {
            if let Some(v4) = embedded_ipv4(v6)
                && self.is_blocked(IpAddr::V4(v4))
            {
                return true;
            }
            let s = v6.segments();
            let tunnel = (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1)
                || (s[0] == 0x2001 && s[1] == 0)
                || (s[0] == 0x100 && s[1] == 0 && s[2] == 0 && s[3] == 0);
            if self.private && tunnel {
                return true;
            }
        }
        if self.private && !IpNetwork::from(ip).is_global() {
            return true;
        }
        self.networks.iter().any(|n| n.contains(ip))
    }
}

/// The IPv4 address an IPv6 address stands for, where a translator or
/// tunnel would deliver to it.
fn embedded_ipv4(v6: std::net::Ipv6Addr) -> Option<std::net::Ipv4Addr> {
    use std::net::Ipv4Addr;
    let s = v6.segments();
    let low =
        |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    if let Some(v4) = v6.to_ipv4_mapped().or_else(|| v6.to_ipv4()) {
        return Some(v4);
    }
    match s {
        // SIIT (IPv4-translated, ::ffff:0:a.b.c.d).
        [0, 0, 0, 0, 0xffff, 0, hi, lo] => Some(low(hi, lo)),
        // NAT64, the well-known prefix.
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(low(hi, lo)),
        // 6to4: 2002:a.b.c.d::/48.
        [0x2002, hi, lo, ..] => Some(low(hi, lo)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocked_networks() {
        let b = BlockedNetworks::parse(&["private".into()]).unwrap();
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(b.is_blocked(ip.parse().unwrap()), "{ip} should be blocked");
        }
        // IPv6 forms a gateway turns into a private IPv4 address.
        for ip in [
            "64:ff9b::a00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::a00:1",
            "2002:a00:1::1",
            "2002:7f00:1::1",
            "::ffff:0:7f00:1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "100::1",
        ] {
            assert!(b.is_blocked(ip.parse().unwrap()), "{ip} should be blocked");
        }
        for ip in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "64:ff9b::5db8:d822",
            "2002:5db8:d822::1",
        ] {
            assert!(!b.is_blocked(ip.parse().unwrap()), "{ip} should pass");
        }
        let b = BlockedNetworks::parse(&["1.1.1.0/24".into(), "8.8.8.8".into()]).unwrap();
        assert!(b.is_blocked("1.1.1.1".parse().unwrap()));
        assert!(b.is_blocked("::ffff:1.1.1.1".parse().unwrap()));
        assert!(b.is_blocked("8.8.8.8".parse().unwrap()));
        assert!(!b.is_blocked("8.8.4.4".parse().unwrap()));
        assert!(!b.is_blocked("127.0.0.1".parse().unwrap()));
        assert!(BlockedNetworks::default().is_empty());
        for bad in ["privat", "10.0.0.0/33", "example.com", ""] {
            assert!(BlockedNetworks::parse(&[bad.into()]).is_err(), "{bad}");
        }
    }

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
