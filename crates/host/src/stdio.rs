//! Component output (a guest's stdout and stderr), kept as `spin up` keeps it:
//! appended to `<log dir>/<component id>_stdout.txt` and `_stderr.txt`, and
//! printed to the host's stderr for the components followed (every one
//! unless `--follow` names some; none with `--quiet`).
//!
//! Each component has one appending file per stream, opened at start and
//! shared by all its requests; a request's stream is a clone of an `Arc`, so
//! output costs a write per guest write and nothing per request.
//! Output is best-effort: a failed write (a full disk, a closed terminal) is
//! reported once and never fails the component.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use anyhow::{Context as _, Result, bail};
use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// The suffix of a component's stdout log (`<id>_stdout.txt`), as in Spin.
pub const STDOUT_SUFFIX: &str = "stdout";
/// The suffix of a component's stderr log (`<id>_stderr.txt`), as in Spin.
pub const STDERR_SUFFIX: &str = "stderr";

/// Which components have their output printed to the host's stderr.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Follow {
    /// Every component (`spin up` without `--follow` or `--quiet`).
    #[default]
    All,
    /// None (`--quiet`).
    None,
    /// These components only (`--follow <ID>`, repeatable).
    Named(BTreeSet<String>),
}

impl Follow {
    /// Whether the output of `component` is printed.
    pub fn follows(&self, component: &str) -> bool {
        match self {
            Self::All => true,
            Self::None => false,
            Self::Named(ids) => ids.contains(component),
        }
    }

    /// Refuse `--follow` names that are not components of the app, as Spin
    /// does, listing the ones that are.
    pub fn check<'a>(&self, components: impl IntoIterator<Item = &'a str>) -> Result<()> {
        let Self::Named(names) = self else {
            return Ok(());
        };
        let known: BTreeSet<&str> = components.into_iter().collect();
        let unknown: Vec<&String> = names
            .iter()
            .filter(|n| !known.contains(n.as_str()))
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        let list = |items: Vec<&str>| {
            items
                .iter()
                .map(|i| format!("  - {i}"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        bail!(
            "The following component(s) specified in --follow do not exist in the application:\n{}\nThe following components exist:\n{}",
            list(unknown.iter().map(|s| s.as_str()).collect()),
            list(known.into_iter().collect())
        )
    }
}

/// Where component output goes: `spin up`'s `--log-dir`, `--follow`,
/// `--quiet` and `--truncate-logs`.
#[derive(Debug, Clone, Default)]
pub struct StdioOptions {
    /// The directory of the per-component files; `None` keeps nothing on
    /// disk (`--log-dir ""`).
    pub log_dir: Option<PathBuf>,
    /// Whose output is printed to the host's stderr.
    pub follow: Follow,
    /// Empty each component's own two files when it is opened at start
    /// (never other files of the directory, which may be shared).
    pub truncate: bool,
}

impl StdioOptions {
    /// Create the log directory; called once
    /// at start, before any component's output is opened.
    pub fn prepare(&self) -> Result<()> {
        let Some(dir) = &self.log_dir else {
            return Ok(());
        };
        std::fs::create_dir_all(dir)
            .with_context(|| format!("Failed to create log dir \"{}\"", dir.display()))?;
        Ok(())
    }

    /// The output stream `suffix` (`stdout` or `stderr`) of `component`.
    pub fn open(&self, component: &str, suffix: &str) -> Result<ComponentOutput> {
        let file = match &self.log_dir {
            Some(dir) => {
                let path = log_file(dir, component, suffix);
                if self.truncate {
                    File::create(&path).with_context(|| {
                        format!("Failed to truncate log file \"{}\"", path.display())
                    })?;
                }
                Some(
                    File::options()
                        .create(true)
                        .append(true)
                        .open(&path)
                        .with_context(|| {
                            format!("Failed to open log file \"{}\"", path.display())
                        })?,
                )
            }
            None => None,
        };
        Ok(ComponentOutput(Arc::new(Sink {
            file,
            follow: self.follow.follows(component),
            failed: AtomicBool::new(false),
            component: component.to_string(),
        })))
    }
}

/// The file a component's stream is kept in: `<dir>/<id>_<suffix>.txt`,
/// the id with anything but letters, digits, `-` and `_` replaced by `_`.
pub fn log_file(dir: &Path, component: &str, suffix: &str) -> PathBuf {
    let safe: String = component
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    dir.join(format!("{safe}_{suffix}.txt"))
}

struct Sink {
    file: Option<File>,
    follow: bool,
    failed: AtomicBool,
    component: String,
}

/// One of a component's output streams; cheap to clone (one per request).
#[derive(Clone)]
pub struct ComponentOutput(Arc<Sink>);

impl ComponentOutput {
    /// Write `bytes` to the file and, when followed, the host's stderr. A
    /// failure is reported once and otherwise ignored.
    pub fn write_all(&self, bytes: &[u8]) {
        let sink = &*self.0;
        let mut result = Ok(());
        if let Some(mut file) = sink.file.as_ref() {
            result = file.write_all(bytes);
        }
        if sink.follow {
            result = result.and(std::io::stderr().write_all(bytes));
        }
        if let Err(e) = result
            && !sink.failed.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(
                component = %sink.component,
                "cannot keep the component's output ({e}); further failures are not reported"
            );
        }
    }
}

impl IsTerminal for ComponentOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for ComponentOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl OutputStream for ComponentOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.write_all(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

#[async_trait::async_trait]
impl Pollable for ComponentOutput {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for ComponentOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.write_all(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_appended_per_component_and_stream() {
        let dir = std::env::temp_dir().join(format!("stdio-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let opts = StdioOptions {
            log_dir: Some(dir.clone()),
            follow: Follow::None,
            truncate: false,
        };
        opts.prepare().unwrap();
        let out = opts.open("shares", STDOUT_SUFFIX).unwrap();
        let err = opts.open("shares", STDERR_SUFFIX).unwrap();
        out.clone().write_all(b"one\n");
        out.write_all(b"two\n");
        err.write_all(b"oops\n");
        let read = |s| std::fs::read_to_string(log_file(&dir, "shares", s)).unwrap();
        assert_eq!(read(STDOUT_SUFFIX), "one\ntwo\n");
        assert_eq!(read(STDERR_SUFFIX), "oops\n");
        // Kept across restarts unless truncated.
        let again = opts.open("shares", STDOUT_SUFFIX).unwrap();
        again.write_all(b"three\n");
        assert_eq!(read(STDOUT_SUFFIX), "one\ntwo\nthree\n");
        // Truncating empties the component's own files, and no other file.
        std::fs::write(dir.join("other_stdout.txt"), "kept\n").unwrap();
        let truncating = StdioOptions {
            truncate: true,
            ..opts
        };
        truncating.prepare().unwrap();
        let fresh = truncating.open("shares", STDOUT_SUFFIX).unwrap();
        assert_eq!(read(STDOUT_SUFFIX), "");
        fresh.write_all(b"four\n");
        assert_eq!(read(STDOUT_SUFFIX), "four\n");
        assert_eq!(
            std::fs::read_to_string(dir.join("other_stdout.txt")).unwrap(),
            "kept\n"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn file_names_are_safe() {
        assert_eq!(
            log_file(Path::new("/l"), "../x y", "stderr"),
            PathBuf::from("/l/___x_y_stderr.txt")
        );
    }

    #[test]
    fn unknown_followed_components_are_refused_with_the_list() {
        let f = Follow::Named(["pages".to_string(), "nope".to_string()].into());
        let e = f.check(["pages", "shares"]).unwrap_err().to_string();
        assert!(e.contains("  - nope") && e.contains("  - shares"), "{e}");
        assert!(!f.follows("shares") && f.follows("pages"));
        assert!(Follow::All.check(["x"]).is_ok());
        assert!(!Follow::None.follows("pages"));
    }
}
