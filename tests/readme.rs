//! The README holds: every file it names exists in the checkout, it links
//! nothing outside the repository, its test command is the one CI runs
//! (`.ci/run`), every `cargo xtask` task it names exists, and
//! `cargo xtask screenshots` takes the pictures it shows (valid PNGs of
//! the fixed viewport, small enough to commit).

use std::path::Path;
use std::process::Command;

use testkit::webdriver::{README_SHOTS, README_VIEWPORT, png_size};
use testkit::{TempDir, root};

/// What the README may name that a clean checkout does not hold: what
/// cargo and `cargo xtask up` write.
const GENERATED: [&str; 2] = ["target/", ".spin/"];

/// Whether a backticked word names a file or folder of the checkout (`top`
/// says whether a name is at the checkout's top level): no placeholders
/// (`<...>`), wildcards or spaces, not a route, an option or a URL, not
/// generated; and either a file name with an extension or a path under a
/// top-level folder (so `multipart/form-data` is not one).
fn looks_like_a_path(s: &str, top: impl Fn(&str) -> bool) -> bool {
    let plain = !s.is_empty()
        && !s.contains([
            '<', '>', '*', ' ', '$', '{', '?', '#', '=', '@', ':', '(', '|', ',',
        ])
        && !s.starts_with(['/', '-', '~', '"'])
        && !s.starts_with("http")
        && !GENERATED.iter().any(|g| s.starts_with(g));
    let extension = [
        ".md", ".toml", ".rs", ".py", ".svg", ".png", ".json", ".yaml",
    ]
    .iter()
    .any(|ext| s.ends_with(ext));
    let under_top = s.split_once('/').is_some_and(|(first, _)| top(first));
    plain && (extension || under_top)
}

/// Whether `s` goes up a folder (a `..` segment; `.../x` is an ellipsis).
fn goes_up(s: &str) -> bool {
    s.split('/').any(|segment| segment == "..")
}

/// Everything between backticks on one line, and every Markdown link or
/// image target, in `text`.
fn references(text: &str) -> (Vec<String>, Vec<String>) {
    let mut code = Vec::new();
    let mut links = Vec::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        code.extend(line.split('`').skip(1).step_by(2).map(str::to_string));
        let mut rest = line;
        while let Some(i) = rest.find("](") {
            let tail = &rest[i + 2..];
            let end = tail.find(')').unwrap_or(tail.len());
            links.push(tail[..end].to_string());
            rest = &tail[end..];
        }
    }
    (code, links)
}

/// What is wrong with a README's references (`exists` says whether a
/// relative path is in the checkout): links out of the repository, files
/// named that are not there.
fn problems(text: &str, exists: impl Fn(&str) -> bool) -> Vec<String> {
    let (code, links) = references(text);
    let mut found = Vec::new();
    for link in &links {
        let target = link.split('#').next().unwrap_or_default();
        if goes_up(target) || target.starts_with('/') {
            found.push(format!("link outside the repository: {link}"));
        } else if !target.is_empty() && !target.contains("://") && !exists(target) {
            found.push(format!("link to a missing file: {link}"));
        }
    }
    for word in &code {
        if goes_up(word) {
            found.push(format!("path outside the repository: `{word}`"));
        } else if looks_like_a_path(word, &exists) && !exists(word.trim_end_matches('/')) {
            found.push(format!("missing file: `{word}`"));
        }
    }
    found
}

fn readme() -> String {
    std::fs::read_to_string(root().join("README.md")).unwrap()
}

#[test]
fn the_readme_names_only_files_of_the_repository() {
    let exists = |p: &str| root().join(p).exists();
    let found = problems(&readme(), exists);
    assert!(found.is_empty(), "README.md: {found:#?}");
    // The check sees what it must: the brief outside the repository (the
    // README's old line) and a file that is not there.
    let old = "the product brief is `../shared/BRIEF.md`; see [it](../shared/BRIEF.md).";
    assert_eq!(
        problems(old, exists),
        [
            "link outside the repository: ../shared/BRIEF.md",
            "path outside the repository: `../shared/BRIEF.md`",
        ]
    );
    assert_eq!(
        problems("see `docs/nothing-here.md` and `bench/gone`", exists),
        [
            "missing file: `docs/nothing-here.md`",
            "missing file: `bench/gone`"
        ]
    );
    let not_paths = "`multipart/form-data`, `.../enable`, `<date>.svg`, `/api/v1/x`, `.spin/`";
    assert_eq!(problems(not_paths, exists), Vec::<String>::new());
}

#[test]
fn the_readme_test_command_is_what_ci_runs_and_its_tasks_exist() {
    let text = readme();
    let ci = std::fs::read_to_string(root().join(".ci/run")).unwrap();
    let ci_command = ci
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap()
        .trim()
        .to_string();
    let quick_start = text
        .split("## Quick start")
        .nth(1)
        .and_then(|s| s.split("```sh\n").nth(1))
        .and_then(|s| s.split("```").next())
        .expect("a Quick start section with a sh block");
    let commands: Vec<&str> = quick_start.lines().collect();
    assert_eq!(
        commands,
        ["cargo xtask up", ci_command.as_str()],
        "the two commands"
    );
    let dispatch = std::fs::read_to_string(root().join("xtask/src/main.rs")).unwrap();
    for (_, rest) in text.match_indices("cargo xtask ") {
        let task: String = rest["cargo xtask ".len()..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase())
            .collect();
        if !task.is_empty() {
            assert!(
                dispatch.contains(&format!("\"{task}\" =>")),
                "`cargo xtask {task}` in the README is not a task"
            );
        }
    }
}

#[test]
fn xtask_screenshots_takes_the_readmes_pictures() {
    testkit::host::ensure_built();
    let out = TempDir::new("shots");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut c = Command::new(cargo);
    c.current_dir(root())
        .args(["xtask", "screenshots", "--out"])
        .arg(out.path());
    for (k, _) in std::env::vars() {
        if testkit::host::is_package_var(&k) {
            c.env_remove(k);
        }
    }
    let run = c.output().expect("run cargo xtask screenshots");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let text = readme();
    for name in README_SHOTS {
        for dir in [out.path(), &root().join("docs/screenshots")] {
            let bytes = std::fs::read(dir.join(name)).unwrap();
            assert_eq!(
                png_size(&bytes),
                Ok(README_VIEWPORT),
                "{}",
                dir.join(name).display()
            );
            assert!(bytes.len() < 300 * 1024, "{name}: {} bytes", bytes.len());
        }
        let shown = Path::new("docs/screenshots").join(name);
        assert!(
            text.contains(&format!("]({})", shown.display())),
            "the README shows {name}"
        );
    }
}

/// The README's `ticketshare-host up --help` transcript is the host's own,
/// word for word: a flag added or reworded shows up in the README too.
#[test]
fn the_readmes_help_transcript_is_the_hosts() {
    testkit::host::ensure_built();
    let text = readme();
    let start = text
        .find("$ ticketshare-host up --help\n")
        .expect("the README shows `ticketshare-host up --help`");
    let shown = &text[start..];
    let shown = &shown[shown.find('\n').unwrap() + 1..];
    let shown = &shown[..shown.find("\n```").expect("the transcript's block ends")];
    let out = Command::new(testkit::host_binary())
        .args(["up", "--help"])
        .output()
        .expect("run the host");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        shown.trim_end(),
        help.trim_end(),
        "README.md's `up --help` differs from the host's: paste the host's output"
    );
}
