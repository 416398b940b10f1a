//! Spin's HTTP routing: exact segments, `:name` parameters and a trailing `/...`
//! wildcard. When several routes match, precedence is decided segment by segment
//! from the left: an exact segment beats a parameter, which beats the wildcard.

use anyhow::{Result, bail};

/// One segment of a route pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Exact(String),
    Param(String),
}

/// A parsed route such as `/tickets/:id/...`.
#[derive(Debug, Clone)]
pub struct RoutePattern {
    raw: String,
    segments: Vec<Segment>,
    wildcard: bool,
}

/// How a route segment matched, ordered by precedence (lower wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rank {
    Exact,
    Param,
    Wildcard,
}

impl RoutePattern {
    /// Parse a manifest route.
    pub fn parse(route: &str) -> Result<Self> {
        if !route.starts_with('/') {
            bail!("a route must start with '/'");
        }
        if route == "/.well-known/spin" || route.starts_with("/.well-known/spin/") {
            bail!("routes under /.well-known/spin/ are reserved for the host");
        }
        let mut parts: Vec<&str> = route[1..].split('/').collect();
        if parts.last() == Some(&"") {
            parts.pop();
        }
        let mut wildcard = false;
        if parts.last() == Some(&"...") {
            parts.pop();
            wildcard = true;
        }
        let mut segments = Vec::new();
        for p in parts {
            if p == "..." {
                bail!("`...` may only end a route");
            }
            if p.is_empty() {
                bail!("empty path segment");
            }
            if let Some(name) = p.strip_prefix(':') {
                if name.is_empty()
                    || !name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                {
                    bail!("invalid parameter name {p:?}");
                }
                if segments
                    .iter()
                    .any(|s| s == &Segment::Param(name.to_string()))
                {
                    bail!("parameter {p:?} appears twice");
                }
                segments.push(Segment::Param(name.to_string()));
            } else {
                if p.contains('*') || p.contains(':') {
                    bail!("invalid segment {p:?}");
                }
                segments.push(Segment::Exact(p.to_string()));
            }
        }
        Ok(Self {
            raw: route.to_string(),
            segments,
            wildcard,
        })
    }

    /// The route as written in the manifest.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// A normal form used to detect duplicates (`/a/:x` and `/a/:y` collide).
    pub fn canonical(&self) -> String {
        let mut s = String::new();
        for seg in &self.segments {
            s.push('/');
            match seg {
                Segment::Exact(e) => s.push_str(e),
                Segment::Param(_) => s.push(':'),
            }
        }
        if self.wildcard {
            s.push_str("/...");
        }
        if s.is_empty() { "/".into() } else { s }
    }

    /// The route without its wildcard, as in Spin's `spin-component-route`.
    pub fn component_route(&self) -> String {
        if self.wildcard {
            self.raw
                .trim_end_matches('/')
                .trim_end_matches("...")
                .trim_end_matches('/')
                .to_string()
        } else {
            self.raw.clone()
        }
    }

    /// Match a request path; returns per-segment ranks, parameters and the
    /// unmatched tail (`spin-path-info`).
    fn matches(
        &self,
        path_segments: &[&str],
        trailing_slash: bool,
    ) -> Option<(Vec<Rank>, Vec<(String, String)>, String)> {
        if path_segments.len() < self.segments.len()
            || (!self.wildcard && path_segments.len() != self.segments.len())
        {
            return None;
        }
        let mut ranks = Vec::with_capacity(path_segments.len());
        let mut params = Vec::new();
        for (seg, actual) in self.segments.iter().zip(path_segments) {
            match seg {
                Segment::Exact(e) if e == actual => ranks.push(Rank::Exact),
                Segment::Exact(_) => return None,
                Segment::Param(name) => {
                    if actual.is_empty() {
                        return None;
                    }
                    ranks.push(Rank::Param);
                    params.push((name.clone(), (*actual).to_string()));
                }
            }
        }
        let rest = &path_segments[self.segments.len()..];
        ranks.extend(rest.iter().map(|_| Rank::Wildcard));
        let mut tail = rest.iter().map(|s| format!("/{s}")).collect::<String>();
        // Like Spin, a trailing slash on the request stays in the tail.
        if self.wildcard && trailing_slash {
            tail.push('/');
        }
        Some((ranks, params, tail))
    }
}

/// A successful routing decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    /// Index of the matched entry in the router.
    pub index: usize,
    /// `:name` parameters with their values.
    pub params: Vec<(String, String)>,
    /// Path after the matched part (`spin-path-info`).
    pub path_info: String,
}

/// A set of routes, each pointing at an index chosen by the caller.
#[derive(Debug, Clone, Default)]
pub struct Router {
    routes: Vec<RoutePattern>,
}

impl Router {
    /// Build from patterns in manifest order.
    pub fn new(routes: Vec<RoutePattern>) -> Self {
        Self { routes }
    }

    /// The pattern at `index`.
    pub fn pattern(&self, index: usize) -> &RoutePattern {
        &self.routes[index]
    }

    /// Route a request path (without query string).
    pub fn route(&self, path: &str) -> Option<RouteMatch> {
        let trimmed = path.strip_prefix('/').unwrap_or(path);
        let trailing_slash = path.ends_with('/');
        let mut segs: Vec<&str> = if trimmed.is_empty() {
            Vec::new()
        } else {
            trimmed.split('/').collect()
        };
        if segs.len() > 1 && segs.last() == Some(&"") {
            segs.pop();
        } else if segs.len() == 1 && segs[0].is_empty() {
            segs.clear();
        }
        let mut best: Option<(Vec<Rank>, bool, usize, RouteMatch)> = None;
        for (index, pattern) in self.routes.iter().enumerate() {
            let Some((ranks, params, path_info)) = pattern.matches(&segs, trailing_slash) else {
                continue;
            };
            // At equal ranks an exact-length route beats a wildcard with an empty
            // tail, and a longer wildcard prefix beats a shorter one.
            let key = (ranks, pattern.wildcard, usize::MAX - pattern.segments.len());
            let better = match &best {
                None => true,
                Some((r, w, l, _)) => (&key.0, key.1, key.2) < (r, *w, *l),
            };
            if better {
                best = Some((
                    key.0,
                    key.1,
                    key.2,
                    RouteMatch {
                        index,
                        params,
                        path_info,
                    },
                ));
            }
        }
        best.map(|b| b.3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[&str]) -> Router {
        Router::new(
            routes
                .iter()
                .map(|r| RoutePattern::parse(r).unwrap())
                .collect(),
        )
    }

    #[test]
    fn precedence_table() {
        let r = router(&[
            "/...",
            "/api/...",
            "/api/tickets",
            "/api/:kind",
            "/api/:kind/:id",
            "/api/tickets/:id/...",
            "/s/:token",
        ]);
        let cases: &[(&str, Option<(&str, &str)>)] = &[
            ("/", Some(("/...", "/"))),
            ("/api/", Some(("/api/...", "/"))),
            ("/api/tickets/7/x/", Some(("/api/tickets/:id/...", "/x/"))),
            ("/index.html", Some(("/...", "/index.html"))),
            ("/api", Some(("/api/...", ""))),
            ("/api/tickets", Some(("/api/tickets", ""))),
            ("/api/tickets/", Some(("/api/tickets", ""))),
            ("/api/users", Some(("/api/:kind", ""))),
            ("/api/users/7", Some(("/api/:kind/:id", ""))),
            ("/api/tickets/7", Some(("/api/tickets/:id/...", ""))),
            (
                "/api/tickets/7/thread/x",
                Some(("/api/tickets/:id/...", "/thread/x")),
            ),
            ("/api/users/7/x", Some(("/api/...", "/users/7/x"))),
            ("/s/abc", Some(("/s/:token", ""))),
            ("/s", Some(("/...", "/s"))),
        ];
        for (path, want) in cases {
            let got = r
                .route(path)
                .map(|m| (r.pattern(m.index).raw().to_string(), m.path_info));
            let want = want.map(|(a, b)| (a.to_string(), b.to_string()));
            assert_eq!(got, want, "path {path}");
        }
    }

    #[test]
    fn no_match_without_catch_all() {
        let r = router(&["/a", "/b/:x"]);
        assert!(r.route("/c").is_none());
        assert!(r.route("/b").is_none());
        assert!(r.route("/a/b").is_none());
        assert_eq!(
            r.route("/b/1").unwrap().params,
            vec![("x".into(), "1".into())]
        );
    }

    #[test]
    fn bad_routes_are_refused() {
        for bad in [
            "a",
            "/a/.../b",
            "/:",
            "/a/:x/:x",
            "/a*b",
            "/.well-known/spin/x",
        ] {
            assert!(RoutePattern::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            RoutePattern::parse("/a/...").unwrap().component_route(),
            "/a"
        );
        assert_eq!(RoutePattern::parse("/...").unwrap().component_route(), "");
    }
}
