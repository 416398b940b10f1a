//! `cargo xtask cycles [--graph]`: the module dependency graph of every crate
//! in the workspace, and its cycles.
//!
//! A crate's nodes are its top-level modules (`crate::links::foo` is an edge
//! to `links`; everything inside `api/` is `api`); a module's nested modules,
//! its `#[cfg(test)] mod tests` included, are part of it, so test code that
//! closes a cycle is a cycle. Edges come from the source text: `crate::x`
//! paths (in `use` trees too: `use crate::{x, y::z}`) and `super::` paths that
//! climb out of the top-level module. The crate root (`lib.rs`, `main.rs`) is
//! the crate, not a module: its own items are no node, and a name it
//! re-exports (`pub use x::Item`) counts as the module it comes from.
//!
//! The scan is a small tokenizer, not a parser: comments (doc comments
//! included), string, raw string and character literals are skipped; macro
//! paths (`$crate::`) and visibility restrictions (`pub(in crate::x)`) are not
//! dependencies. Modules are found by following `mod x;` from each crate root
//! (`src/lib.rs`, `src/main.rs`, `src/bin/*.rs`, `tests/*.rs` and any
//! `path = "….rs"` of the manifest).
//!
//! The test at the bottom runs the check over the repository, so
//! `cargo test -p xtask` (part of `cargo xtask test`) fails on a cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// `cargo xtask cycles [--graph]`: print each crate's cycles (with `--graph`,
/// every module's dependencies first); an error when any crate has one.
pub fn cycles(args: &[String]) -> Result<(), String> {
    let graph = args.iter().any(|a| a == "--graph");
    if let Some(other) = args.iter().find(|a| *a != "--graph") {
        return Err(format!(
            "unknown argument {other} (usage: cycles [--graph])"
        ));
    }
    let crates = workspace_graphs(&testkit::root())?;
    if graph {
        for g in &crates {
            print!("{}", g.render_graph());
        }
        println!();
    }
    let mut found = 0;
    for g in &crates {
        let report = g.render_cycles();
        found += g.cycles().len();
        print!("{report}");
    }
    if found == 0 {
        Ok(())
    } else {
        Err(format!("{found} module cycle(s)"))
    }
}

/// Where a dependency was seen: file (relative to the workspace) and line.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Site {
    file: PathBuf,
    line: usize,
}

/// The module graph of one crate (one root file).
#[derive(Debug, Default)]
pub struct CrateGraph {
    /// The crate root, relative to the workspace (`crates/domain/src/lib.rs`).
    pub root: PathBuf,
    /// Every top-level module.
    pub modules: BTreeSet<String>,
    /// `from → to`, with every place it is seen.
    pub edges: BTreeMap<(String, String), Vec<Site>>,
}

impl CrateGraph {
    /// The modules `from` depends on.
    fn deps(&self, from: &str) -> impl Iterator<Item = &str> {
        self.edges
            .keys()
            .filter(move |(f, _)| f == from)
            .map(|(_, t)| t.as_str())
    }

    /// The strongly connected components with more than one module (Tarjan),
    /// each sorted, in order of their first module.
    pub fn cycles(&self) -> Vec<Vec<String>> {
        struct Tarjan<'a> {
            g: &'a CrateGraph,
            index: BTreeMap<&'a str, usize>,
            low: BTreeMap<&'a str, usize>,
            stack: Vec<&'a str>,
            on_stack: BTreeSet<&'a str>,
            out: Vec<Vec<String>>,
        }
        impl<'a> Tarjan<'a> {
            fn visit(&mut self, v: &'a str) {
                let i = self.index.len();
                self.index.insert(v, i);
                self.low.insert(v, i);
                self.stack.push(v);
                self.on_stack.insert(v);
                for w in self.g.deps(v).collect::<Vec<_>>() {
                    if !self.index.contains_key(w) {
                        self.visit(w);
                        let lw = self.low[w];
                        let lv = self.low.get_mut(v).expect("visited");
                        *lv = (*lv).min(lw);
                    } else if self.on_stack.contains(w) {
                        let iw = self.index[w];
                        let lv = self.low.get_mut(v).expect("visited");
                        *lv = (*lv).min(iw);
                    }
                }
                if self.low[v] == self.index[v] {
                    let mut scc = Vec::new();
                    while let Some(w) = self.stack.pop() {
                        self.on_stack.remove(w);
                        scc.push(w.to_string());
                        if w == v {
                            break;
                        }
                    }
                    if scc.len() > 1 {
                        scc.sort();
                        self.out.push(scc);
                    }
                }
            }
        }
        let mut t = Tarjan {
            g: self,
            index: BTreeMap::new(),
            low: BTreeMap::new(),
            stack: Vec::new(),
            on_stack: BTreeSet::new(),
            out: Vec::new(),
        };
        for m in &self.modules {
            if !t.index.contains_key(m.as_str()) {
                t.visit(m);
            }
        }
        t.out.sort();
        t.out
    }

    /// A shortest cycle through `start` inside `scc` (breadth-first).
    fn shortest_cycle(&self, start: &str, scc: &[String]) -> Vec<String> {
        let inside = |m: &str| scc.iter().any(|s| s == m);
        let mut prev: BTreeMap<&str, &str> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        while let Some(v) = queue.pop_front() {
            for w in self.deps(v).filter(|w| inside(w)) {
                if w == start {
                    let mut path = vec![start.to_string()];
                    let mut at = v;
                    while at != start {
                        path.push(at.to_string());
                        at = prev[at];
                    }
                    path.push(start.to_string());
                    path.reverse();
                    return path;
                }
                if !prev.contains_key(w) {
                    prev.insert(w, v);
                    queue.push_back(w);
                }
            }
        }
        vec![start.to_string()]
    }

    /// `root: none`, or each cycle: a shortest loop, then every edge inside
    /// it with where it is seen.
    pub fn render_cycles(&self) -> String {
        let cycles = self.cycles();
        let root = self.root.display();
        if cycles.is_empty() {
            return format!("{root}: none\n");
        }
        let mut out = format!("{root}: {} cycle(s)\n", cycles.len());
        for scc in &cycles {
            out += &format!(
                "  cycle {{{}}}: {}\n",
                scc.join(", "),
                self.shortest_cycle(&scc[0], scc).join(" → ")
            );
            for ((from, to), sites) in &self.edges {
                if scc.contains(from) && scc.contains(to) {
                    let shown: Vec<String> = sites
                        .iter()
                        .take(3)
                        .map(|s| format!("{}:{}", s.file.display(), s.line))
                        .collect();
                    let more = if sites.len() > 3 {
                        format!(" (+{} more)", sites.len() - 3)
                    } else {
                        String::new()
                    };
                    out += &format!("    {from} → {to}: {}{more}\n", shown.join(", "));
                }
            }
        }
        out
    }

    /// Every module and the modules it depends on, one line each.
    pub fn render_graph(&self) -> String {
        let mut out = format!("{}\n", self.root.display());
        for m in &self.modules {
            let deps: Vec<&str> = self.deps(m).collect();
            let deps = if deps.is_empty() {
                "-".to_string()
            } else {
                deps.join(", ")
            };
            out += &format!("  {m} → {deps}\n");
        }
        out
    }
}

/// The graphs of every crate root of every workspace member (the `members`
/// of the root `Cargo.toml`, `dir/*` globs expanded).
pub fn workspace_graphs(root: &Path) -> Result<Vec<CrateGraph>, String> {
    let manifest = read(&root.join("Cargo.toml"))?;
    let mut packages = Vec::new();
    for member in members(&manifest) {
        match member.strip_suffix("/*") {
            Some(dir) => packages.extend(
                sorted_dir(&root.join(dir))?
                    .into_iter()
                    .filter(|p| p.join("Cargo.toml").is_file()),
            ),
            None => packages.push(root.join(member)),
        }
    }
    let mut graphs = Vec::new();
    for package in packages {
        for crate_root in crate_roots(&package)? {
            graphs.push(crate_graph(root, &crate_root)?);
        }
    }
    Ok(graphs)
}

/// The quoted entries of `members = [...]` in a workspace manifest.
fn members(manifest: &str) -> Vec<String> {
    let Some(start) = manifest.find("members") else {
        return Vec::new();
    };
    let rest = &manifest[start..];
    let list = &rest[..rest.find(']').unwrap_or(rest.len())];
    list.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// A directory's entries, sorted; none when it does not exist.
fn sorted_dir(dir: &Path) -> Result<Vec<PathBuf>, String> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot list {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    Ok(entries)
}

/// A package's crate roots: the conventional ones and every `path = "….rs"`
/// of its manifest.
fn crate_roots(package: &Path) -> Result<Vec<PathBuf>, String> {
    let mut roots = BTreeSet::new();
    for conventional in ["src/lib.rs", "src/main.rs", "build.rs"] {
        roots.insert(package.join(conventional));
    }
    for dir in ["src/bin", "tests", "benches", "examples"] {
        roots.extend(
            sorted_dir(&package.join(dir))?
                .into_iter()
                .filter(|p| p.extension().is_some_and(|e| e == "rs")),
        );
    }
    for line in read(&package.join("Cargo.toml"))?.lines() {
        let line = line.trim();
        if let Some(value) = line.strip_prefix("path").map(str::trim_start)
            && let Some(value) = value.strip_prefix('=')
        {
            let value = value.trim().trim_matches('"');
            if value.ends_with(".rs") {
                roots.insert(package.join(value));
            }
        }
    }
    // `tests/*.rs` of the `tests` package itself are its modules, not roots:
    // keep only the files no other root declares as a module.
    let mut declared = BTreeSet::new();
    for root in roots.iter().filter(|r| r.is_file()) {
        for (file, _) in module_files(root)? {
            if file != *root {
                declared.insert(file);
            }
        }
    }
    Ok(roots
        .into_iter()
        .filter(|r| r.is_file() && !declared.contains(r))
        .collect())
}

/// Every file of the crate rooted at `root`, with its module path (empty for
/// the root), found by following `mod x;` declarations.
fn module_files(root: &Path) -> Result<Vec<(PathBuf, Vec<String>)>, String> {
    let mut out = Vec::new();
    let mut todo = vec![(root.to_path_buf(), Vec::new(), true)];
    while let Some((file, path, is_root)) = todo.pop() {
        let scan = scan(&read(&file)?);
        if let Some(line) = scan.path_attribute {
            return Err(format!(
                "{}:{line}: #[path] on a module is not supported by the cycle check",
                file.display()
            ));
        }
        // A root or `mod.rs` declares its children next to itself; `a.rs`
        // declares them in `a/`.
        let dir = file.parent().expect("a file has a directory");
        let is_mod_rs = file.file_name().is_some_and(|n| n == "mod.rs");
        let dir = if is_root || is_mod_rs {
            dir.to_path_buf()
        } else {
            dir.join(file.file_stem().expect("a file has a name"))
        };
        for (inline, name) in &scan.mod_decls {
            let mut d = dir.clone();
            for i in inline {
                d.push(i);
            }
            let candidates = [d.join(format!("{name}.rs")), d.join(name).join("mod.rs")];
            if let Some(child) = candidates.into_iter().find(|c| c.is_file()) {
                let mut child_path = path.clone();
                child_path.extend(inline.iter().cloned());
                child_path.push(name.clone());
                todo.push((child, child_path, false));
            }
        }
        out.push((file, path));
    }
    out.sort();
    Ok(out)
}

/// The module graph of the crate rooted at `crate_root`.
fn crate_graph(workspace: &Path, crate_root: &Path) -> Result<CrateGraph, String> {
    let relative = |p: &Path| p.strip_prefix(workspace).unwrap_or(p).to_path_buf();
    let files = module_files(crate_root)?;
    let scans: Vec<(PathBuf, Vec<String>, Scan)> = files
        .into_iter()
        .map(|(file, path)| Ok((relative(&file), path, scan(&read(&file)?))))
        .collect::<Result<_, String>>()?;
    let mut g = CrateGraph {
        root: relative(crate_root),
        ..CrateGraph::default()
    };
    let (_, _, root_scan) = scans
        .iter()
        .find(|(_, path, _)| path.is_empty())
        .expect("the root is scanned");
    g.modules.extend(root_scan.top_level_mods.iter().cloned());
    let reexports: BTreeMap<&str, &str> = root_scan
        .root_uses
        .iter()
        .filter(|(module, _)| g.modules.contains(module))
        .map(|(module, leaf)| (leaf.as_str(), module.as_str()))
        .collect();
    for (file, path, scan) in &scans {
        for r in &scan.refs {
            // Paths are relative to the module that holds them.
            let mut at = path.clone();
            at.extend(r.at.iter().cloned());
            let Some(from) = at.first() else {
                continue; // the crate root is not a node
            };
            let base = match r.supers {
                None => Some(0),
                Some(k) => at.len().checked_sub(k),
            };
            let Some(base) = base else {
                continue; // climbs above the crate: not valid Rust
            };
            let targets: Vec<&str> = if base > 0 {
                vec![at[0].as_str()]
            } else {
                r.names
                    .iter()
                    .filter_map(|n| {
                        if g.modules.contains(n) {
                            Some(n.as_str())
                        } else {
                            reexports.get(n.as_str()).copied()
                        }
                    })
                    .collect()
            };
            for to in targets.into_iter().filter(|to| to != from) {
                let site = Site {
                    file: file.clone(),
                    line: r.line,
                };
                let sites = g.edges.entry((from.clone(), to.to_string())).or_default();
                if !sites.contains(&site) {
                    sites.push(site);
                }
            }
        }
    }
    Ok(g)
}

/// A token of Rust source, with what the scan needs.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    /// `::`
    PathSep,
    Punct(char),
}

/// Rust source as tokens with their lines; comments and literals dropped.
fn tokenize(src: &str) -> Vec<(Tok, usize)> {
    let s: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    let ident_start = |c: char| c.is_alphabetic() || c == '_';
    let ident_char = |c: char| c.is_alphanumeric() || c == '_';
    // Skip from `i` to the end of a `"…"` literal (with escapes).
    let skip_string = |mut i: usize, line: &mut usize| {
        i += 1;
        while i < s.len() && s[i] != '"' {
            if s[i] == '\\' {
                i += 1;
            }
            if s.get(i) == Some(&'\n') {
                *line += 1;
            }
            i += 1;
        }
        i + 1
    };
    while i < s.len() {
        let c = s[i];
        let next = s.get(i + 1).copied();
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && next == Some('/') {
            while i < s.len() && s[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < s.len() {
                if s[i] == '/' && s.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if s[i] == '*' && s.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if s[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
            }
        } else if c == '"' {
            i = skip_string(i, &mut line);
        } else if c == '\'' {
            if next == Some('\\') {
                // An escaped character literal: '\n', '\'', '\u{..}'.
                i += 2;
                while i < s.len() && s[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if s.get(i + 2) == Some(&'\'') {
                i += 3; // 'x'
            } else {
                i += 1; // a lifetime or label: its name follows as an ident
            }
        } else if ident_start(c) {
            let start = i;
            while i < s.len() && ident_char(s[i]) {
                i += 1;
            }
            let word: String = s[start..i].iter().collect();
            let raw_prefix = matches!(word.as_str(), "r" | "br" | "cr");
            if raw_prefix && matches!(s.get(i), Some('"' | '#')) {
                let mut hashes = 0;
                while s.get(i + hashes) == Some(&'#') {
                    hashes += 1;
                }
                if s.get(i + hashes) == Some(&'"') {
                    // A raw string: ends at `"` and as many `#`.
                    i += hashes + 1;
                    loop {
                        if i >= s.len() {
                            break;
                        }
                        if s[i] == '"' && (1..=hashes).all(|h| s.get(i + h) == Some(&'#')) {
                            i += hashes + 1;
                            break;
                        }
                        if s[i] == '\n' {
                            line += 1;
                        }
                        i += 1;
                    }
                    continue;
                }
                if word == "r" && hashes == 1 {
                    // A raw identifier: `r#type`.
                    i += 1;
                    let start = i;
                    while i < s.len() && ident_char(s[i]) {
                        i += 1;
                    }
                    out.push((Tok::Ident(s[start..i].iter().collect()), line));
                    continue;
                }
            }
            if matches!(word.as_str(), "b" | "c") && s.get(i) == Some(&'"') {
                i = skip_string(i, &mut line);
                continue;
            }
            if word == "b" && s.get(i) == Some(&'\'') {
                continue; // b'x': the character literal is skipped next
            }
            out.push((Tok::Ident(word), line));
        } else if c.is_ascii_digit() {
            while i < s.len() && ident_char(s[i]) {
                i += 1;
            }
        } else if c == ':' && next == Some(':') {
            out.push((Tok::PathSep, line));
            i += 2;
        } else {
            out.push((Tok::Punct(c), line));
            i += 1;
        }
    }
    out
}

/// A path that may leave its module: `crate::…` or `super::…`.
#[derive(Debug, PartialEq)]
struct Ref {
    /// The inline modules (`mod tests { … }`) it sits in, inside its file.
    at: Vec<String>,
    /// How many `super::` it starts with (`None` for `crate::`) …
    supers: Option<usize>,
    /// … and when that reaches the crate root, the names it then takes
    /// (several for a `use` group).
    names: Vec<String>,
    line: usize,
}

/// What the scan of one file finds.
#[derive(Debug, Default)]
struct Scan {
    /// `mod x;`: the inline modules it sits in and its name.
    mod_decls: Vec<(Vec<String>, String)>,
    /// Modules declared outside any inline module (the top level when the
    /// file is a crate root).
    top_level_mods: Vec<String>,
    refs: Vec<Ref>,
    /// `use module::…::Leaf` outside inline modules: (module, Leaf or its
    /// alias); a crate root's re-exports.
    root_uses: Vec<(String, String)>,
    /// The line of a `#[path = …]` attribute, if any.
    path_attribute: Option<usize>,
}

/// Scan one file's source.
fn scan(src: &str) -> Scan {
    let toks = tokenize(src);
    let ident = |i: usize| match toks.get(i) {
        Some((Tok::Ident(w), _)) => Some(w.as_str()),
        _ => None,
    };
    let is = |i: usize, t: &Tok| toks.get(i).is_some_and(|(x, _)| x == t);
    let sep = |i: usize| is(i, &Tok::PathSep);
    let punct = |i: usize, c: char| is(i, &Tok::Punct(c));
    let mut out = Scan::default();
    let mut depth = 0usize;
    // Open inline modules: name and the brace depth inside them.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let names = |inline: &[(String, usize)]| -> Vec<String> {
        inline.iter().map(|(n, _)| n.clone()).collect()
    };
    let mut i = 0;
    while i < toks.len() {
        let line = toks[i].1;
        match &toks[i].0 {
            Tok::Punct('{') => depth += 1,
            Tok::Punct('}') => {
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
            }
            Tok::Punct('#') if punct(i + 1, '[') && ident(i + 2) == Some("path") => {
                out.path_attribute.get_or_insert(line);
            }
            Tok::Ident(w) if w == "mod" => {
                if let Some(name) = ident(i + 1) {
                    if punct(i + 2, ';') {
                        out.mod_decls.push((names(&inline), name.to_string()));
                    }
                    if inline.is_empty() {
                        out.top_level_mods.push(name.to_string());
                    }
                    if punct(i + 2, '{') {
                        depth += 1;
                        inline.push((name.to_string(), depth));
                        i += 3;
                        continue;
                    }
                }
            }
            Tok::Ident(w) if w == "use" && inline.is_empty() => {
                if let Some(used) = use_leaves(&toks, i + 1) {
                    out.root_uses.extend(used);
                }
            }
            Tok::Ident(w) if (w == "crate" || w == "super") && sep(i + 1) => {
                let after_dollar = i > 0 && punct(i - 1, '$');
                let after_sep = i > 0 && sep(i - 1);
                let restriction = i > 1 && ident(i - 1) == Some("in") && punct(i - 2, '(');
                if !(after_dollar || after_sep || restriction) {
                    let mut supers = None;
                    let mut j = i;
                    if w == "super" {
                        while ident(j) == Some("super") && sep(j + 1) {
                            *supers.get_or_insert(0) += 1;
                            j += 2;
                        }
                    } else {
                        j += 2;
                    }
                    out.refs.push(Ref {
                        at: names(&inline),
                        supers,
                        names: heads(&toks, j),
                        line,
                    });
                    i = j;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// The first names of a path tail starting at `j`: `x` for `x::…`, and
/// `x`, `y` for `{x, y::z}`.
fn heads(toks: &[(Tok, usize)], j: usize) -> Vec<String> {
    match toks.get(j) {
        Some((Tok::Ident(w), _)) => vec![w.clone()],
        Some((Tok::Punct('{'), _)) => {
            let mut names = Vec::new();
            let mut depth = 0;
            let mut item_start = true;
            for (t, _) in &toks[j..] {
                match t {
                    Tok::Punct('{') => {
                        depth += 1;
                        item_start = depth == 1;
                    }
                    Tok::Punct('}') => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    Tok::Punct(',') if depth == 1 => item_start = true,
                    Tok::Ident(w) if depth == 1 && item_start => {
                        names.push(w.clone());
                        item_start = false;
                    }
                    _ => item_start = false,
                }
            }
            names
        }
        _ => Vec::new(),
    }
}

/// A `use` tree starting at `j` (after `use`): its first module and every
/// name it brings in (the alias where there is one), for `module::…` trees
/// (optionally `crate::`, `self::` or `::` first).
fn use_leaves(toks: &[(Tok, usize)], mut j: usize) -> Option<Vec<(String, String)>> {
    while matches!(&toks.get(j)?.0, Tok::Ident(w) if w == "crate" || w == "self")
        || toks.get(j)?.0 == Tok::PathSep
    {
        j += 1;
    }
    let Tok::Ident(module) = &toks.get(j)?.0 else {
        return None;
    };
    let mut leaves = Vec::new();
    for k in j + 1.. {
        let (t, _) = toks.get(k)?;
        if *t == Tok::Punct(';') {
            break;
        }
        let ends_item = matches!(
            toks.get(k + 1).map(|(t, _)| t),
            Some(Tok::Punct(',' | '}' | ';'))
        );
        if let Tok::Ident(w) = t
            && ends_item
            && w != "self"
        {
            leaves.push((module.clone(), w.clone()));
        }
    }
    Some(leaves)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(src: &str) -> Vec<(Vec<String>, Option<usize>, Vec<String>)> {
        scan(src)
            .refs
            .into_iter()
            .map(|r| (r.at, r.supers, r.names))
            .collect()
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn paths_in_code_and_use_trees() {
        let src = r#"
            use crate::links::{self, Link};
            use crate::{model::Ticket, ids, keys::{self, x}};
            fn f() { crate::inbox::change(); super::time::now(); }
            macro_rules! m { () => { $crate::error::Error } }
            pub(crate) fn g() {}
            pub(in crate::store) fn h() {}
        "#;
        assert_eq!(
            refs(src),
            vec![
                (vec![], None, s(&["links"])),
                (vec![], None, s(&["model", "ids", "keys"])),
                (vec![], None, s(&["inbox"])),
                (vec![], Some(1), s(&["time"])),
            ]
        );
    }

    #[test]
    fn comments_and_literals_are_not_code() {
        let src = r####"
            // crate::a::b
            /// [`crate::b`]
            /* crate::c /* nested crate::d */ crate::e */
            const S: &str = "crate::f \" crate::g";
            const R: &str = r#"crate::h " crate::i"#;
            const B: &[u8] = b"crate::j";
            const C: char = '"'; const D: char = '\'';
            fn k<'a>(x: &'a str) -> &'a str { crate::real::x(); x }
        "####;
        assert_eq!(refs(src), vec![(vec![], None, s(&["real"]))]);
    }

    #[test]
    fn nested_test_modules_climb_with_super() {
        let src = "
            mod tests {
                use super::*;
                use super::super::inbox::Page;
                mod deeper { use super::super::super::model; }
            }
            mod decl;
        ";
        let scan = scan(src);
        assert_eq!(
            scan.refs
                .iter()
                .map(|r| (r.at.clone(), r.supers, r.names.clone()))
                .collect::<Vec<_>>(),
            vec![
                (s(&["tests"]), Some(1), vec![]),
                (s(&["tests"]), Some(2), s(&["inbox"])),
                (s(&["tests", "deeper"]), Some(3), s(&["model"])),
            ]
        );
        assert_eq!(scan.mod_decls, vec![(vec![], "decl".to_string())]);
        assert_eq!(scan.top_level_mods, s(&["tests", "decl"]));
    }

    #[test]
    fn a_crate_root_re_exports_resolve_to_their_module() {
        let scan = scan("pub use error::{Error, Result as R}; pub use crate::ids::Id;");
        assert_eq!(
            scan.root_uses,
            vec![
                ("error".to_string(), "Error".to_string()),
                ("error".to_string(), "R".to_string()),
                ("ids".to_string(), "Id".to_string()),
            ]
        );
    }

    #[test]
    fn cycles_are_the_strongly_connected_components() {
        let mut g = CrateGraph::default();
        for m in ["a", "b", "c", "d", "e"] {
            g.modules.insert(m.into());
        }
        for (f, t) in [
            ("a", "b"),
            ("b", "c"),
            ("c", "a"),
            ("c", "d"),
            ("d", "e"),
            ("e", "d"),
        ] {
            g.edges.insert((f.into(), t.into()), Vec::new());
        }
        assert_eq!(g.cycles(), vec![s(&["a", "b", "c"]), s(&["d", "e"])]);
        assert_eq!(
            g.shortest_cycle("a", &s(&["a", "b", "c"])),
            s(&["a", "b", "c", "a"])
        );
    }

    /// The repository itself: no crate may have a module cycle.
    #[test]
    fn no_module_cycles_in_the_workspace() {
        let graphs = workspace_graphs(&testkit::root()).expect("the workspace scans");
        assert!(
            graphs
                .iter()
                .any(|g| g.root.ends_with("crates/domain/src/lib.rs") && g.modules.len() > 10),
            "the scan found the domain crate's modules"
        );
        let report: String = graphs
            .iter()
            .filter(|g| !g.cycles().is_empty())
            .map(CrateGraph::render_cycles)
            .collect();
        assert!(
            report.is_empty(),
            "module cycles (see `cargo xtask cycles --graph`):\n{report}"
        );
    }
}
