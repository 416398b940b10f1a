//! The `files` of a component: directories mounted read-only into its WASI
//! filesystem. Glob patterns are resolved once at start and the matching files
//! copied into a staging folder under the state dir, mounted at `/` (as Spin
//! does); `{ source, destination }` directories are mounted directly.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::manifest::{Component, FileMount};

/// A host directory and the guest path it appears at.
#[derive(Debug, Clone)]
pub struct Mount {
    /// Host directory.
    pub host: PathBuf,
    /// Guest path.
    pub guest: String,
}

/// Resolve a component's `files` into mounts.
pub fn prepare(app_dir: &Path, component: &Component, state_dir: &Path) -> Result<Vec<Mount>> {
    let mut mounts = Vec::new();
    let mut patterns = Vec::new();
    for f in &component.files {
        match f {
            FileMount::Placement {
                source,
                destination,
            } => {
                let host = app_dir.join(source);
                if !host.is_dir() {
                    bail!(
                        "files: source {source:?} is not a directory (looked at {})",
                        host.display()
                    );
                }
                mounts.push(Mount {
                    host,
                    guest: destination.clone(),
                });
            }
            FileMount::Pattern(p) => patterns.push(p.as_str()),
        }
    }
    if !patterns.is_empty() {
        let staging = state_dir.join("files").join(&component.id);
        if staging.exists() {
            std::fs::remove_dir_all(&staging)
                .with_context(|| format!("cannot clear {}", staging.display()))?;
        }
        std::fs::create_dir_all(&staging)?;
        for pattern in patterns {
            let mut matched = 0;
            for rel in expand(app_dir, pattern)? {
                let to = staging.join(&rel);
                if let Some(parent) = to.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::copy(app_dir.join(&rel), &to)
                    .with_context(|| format!("files: cannot copy {}", rel.display()))?;
                matched += 1;
            }
            if matched == 0 {
                bail!("files: pattern {pattern:?} matches no file");
            }
        }
        mounts.push(Mount {
            host: staging,
            guest: "/".into(),
        });
    }
    Ok(mounts)
}

/// Relative paths of the files under `root` matching `pattern` (`*`, `?` within a
/// segment, `**` across segments; a directory name means everything below it).
fn expand(root: &Path, pattern: &str) -> Result<Vec<PathBuf>> {
    let segs: Vec<&str> = pattern
        .split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .collect();
    let mut out = Vec::new();
    walk(root, Path::new(""), &segs, &mut out)?;
    out.sort();
    out.dedup();
    Ok(out)
}

fn walk(root: &Path, rel: &Path, segs: &[&str], out: &mut Vec<PathBuf>) -> Result<()> {
    let here = root.join(rel);
    let Some((first, rest)) = segs.split_first() else {
        if here.is_file() {
            out.push(rel.to_path_buf());
        } else if here.is_dir() {
            walk(root, rel, &["**", "*"], out)?;
        }
        return Ok(());
    };
    if *first == "**" {
        walk(root, rel, rest, out)?;
        if here.is_dir() {
            for e in std::fs::read_dir(&here)? {
                let e = e?;
                if e.file_type()?.is_dir() {
                    walk(root, &rel.join(e.file_name()), segs, out)?;
                }
            }
        }
        return Ok(());
    }
    if !first.contains(['*', '?']) {
        let next = rel.join(first);
        if root.join(&next).exists() {
            walk(root, &next, rest, out)?;
        }
        return Ok(());
    }
    if here.is_dir() {
        for e in std::fs::read_dir(&here)? {
            let e = e?;
            let name = e.file_name();
            if glob_segment(first, &name.to_string_lossy()) {
                walk(root, &rel.join(&name), rest, out)?;
            }
        }
    }
    Ok(())
}

fn glob_segment(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some(('*', rest)) => (0..=n.len()).any(|i| go(rest, &n[i..])),
            Some(('?', rest)) => !n.is_empty() && go(rest, &n[1..]),
            Some((c, rest)) => n.first() == Some(c) && go(rest, &n[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    go(&p, &n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globbing() {
        let root = std::env::temp_dir().join(format!("files-test-{}", std::process::id()));
        for f in ["a/x.css", "a/b/y.css", "a/b/z.js", "top.txt"] {
            let p = root.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "x").unwrap();
        }
        let names = |p: &str| {
            expand(&root, p)
                .unwrap()
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(names("a/*.css"), ["a/x.css"]);
        assert_eq!(names("a/**/*.css"), ["a/b/y.css", "a/x.css"]);
        assert_eq!(names("a/b"), ["a/b/y.css", "a/b/z.js"]);
        assert_eq!(names("top.txt"), ["top.txt"]);
        assert!(names("nope/*").is_empty());
        let _ = std::fs::remove_dir_all(root);
    }
}
