//! The library's modules form a layered graph: no module imports one that imports it back.
//!
//! The test reads `src/**/*.rs` (the library's files, from the `mod` lines of `src/lib.rs`;
//! the binary's own modules are not part of the graph), collects every `crate::…` and `super::…`
//! path outside comments and string literals (`use` trees included), and checks two graphs:
//!
//! - **top-level modules** (`settings`, `follower`, `transport`, …): an edge `a -> b` for every
//!   path that names `crate::b` in a file of `a`;
//! - **the submodules of `follower`, `transport` and `leader`**, among themselves: an edge
//!   `follower::engine -> follower::transfer` for `super::transfer::…` or
//!   `crate::follower::transfer::…`, and a path through the parent's re-exports
//!   (`super::Policy`, `crate::follower::Policy`) counts for the submodule it is re-exported
//!   from. The parent's `mod.rs` itself is not a node: it declares and re-exports its children
//!   and holds what they share, which in Rust always points both ways.
//!
//! On a cycle it fails naming the cycle and every edge among the modules on it, each with the
//! lines that make it (the edges to cut), and prints the whole graph. It only reads files: a parse of the source, not of the compiled crate, so a
//! path spelled through a `use` alias (`use crate::follower as f; f::…`) is not followed.

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt::Write as _,
    fs,
    path::{Path, PathBuf},
};

/// Module path from the crate root, e.g. `["follower", "engine"]`.
type ModPath = Vec<String>;

/// One reference: the absolute path it names, where it was written.
struct Reference {
    path: ModPath,
    line: usize,
}

/// One source file of the library.
struct SourceFile {
    /// The module the file is (`src/follower/engine.rs` is `follower::engine`).
    module: ModPath,
    /// Its path relative to the crate root, for messages.
    display: String,
    references: Vec<Reference>,
    /// `pub use` re-exports: item name to the absolute path it comes from.
    reexports: BTreeMap<String, ModPath>,
}

#[test]
fn top_level_modules_have_no_cycle() {
    let files = library_files();
    let modules: BTreeSet<String> = files.iter().map(|f| f.module[0].clone()).collect();
    let mut graph = Graph::default();
    for file in &files {
        let from = &file.module[0];
        graph.nodes.insert(from.clone());
        for r in &file.references {
            let Some(to) = r.path.first() else { continue };
            if to != from && modules.contains(to) {
                graph.add(from, to, format!("{}:{}", file.display, r.line));
            }
        }
    }
    // A rename must not make the check vacuous.
    for expected in [
        "follower",
        "transport",
        "settings",
        "protocol",
        "results",
        "campaign",
        "plot",
        "compare",
        "report",
        "index",
        "leader",
        "vocabulary",
        "agent",
        "agent_api",
    ] {
        assert!(graph.nodes.contains(expected), "no module {expected}");
    }
    graph.assert_acyclic("top-level modules");
}

/// Fails while `follower::engine` and `follower::transfer` import each other (`Ctx`, `Failure`
/// one way, `Fetcher`, `Link`, `run_attempt` the other); the follower's rewrite removes that.
#[test]
fn submodules_of_follower_have_no_cycle() {
    submodule_graph("follower").assert_acyclic("submodules of follower");
}

#[test]
fn submodules_of_transport_have_no_cycle() {
    submodule_graph("transport").assert_acyclic("submodules of transport");
}

#[test]
fn submodules_of_leader_have_no_cycle() {
    submodule_graph("leader").assert_acyclic("submodules of leader");
}

/// The graph among the children of `parent` (`follower::engine`, `follower::window`, ...).
fn submodule_graph(parent: &str) -> Graph {
    let files = library_files();
    let reexports: BTreeMap<ModPath, &BTreeMap<String, ModPath>> = files
        .iter()
        .map(|f| (f.module.clone(), &f.reexports))
        .collect();
    let children: BTreeSet<&str> = files
        .iter()
        .filter(|f| f.module.len() >= 2 && f.module[0] == parent)
        .map(|f| f.module[1].as_str())
        .collect();
    let mut graph = Graph::default();
    for file in files.iter().filter(|f| f.module[0] == parent) {
        let Some(from) = file.module.get(1) else {
            continue; // the parent's mod.rs
        };
        graph.nodes.insert(format!("{parent}::{from}"));
        for r in &file.references {
            let resolved = resolve(&r.path, &reexports);
            if resolved.len() < 2 || resolved[0] != parent {
                continue;
            }
            let to = &resolved[1];
            if to != from && children.contains(to.as_str()) {
                graph.add(
                    &format!("{parent}::{from}"),
                    &format!("{parent}::{to}"),
                    format!("{}:{}", file.display, r.line),
                );
            }
        }
    }
    assert!(graph.nodes.len() > 2, "{parent} has too few submodules");
    graph
}

#[test]
fn the_parser_sees_use_trees_super_paths_and_skips_comments_and_strings() {
    let source = r##"
        //! [`crate::doc::Link`] is a comment.
        use crate::{a::{self, B}, b, c::d::*};
        use super::{sibling::X, Y};
        fn f() -> crate::e::T { let s = "crate::f::g"; let r = r#"crate::h"#; 'x'; g::<'_>() }
        /* crate::i /* nested */ crate::j */
        mod tests { use super::*; use crate::k; }
        pub use crate::vocabulary::{Policy as P, Transport};
        pub use child::Item;
    "##;
    let module = vec!["m".to_string(), "n".to_string()];
    let (refs, reexports) = parse(source, &module);
    let paths: Vec<String> = refs.iter().map(|r| r.path.join("::")).collect();
    assert_eq!(
        paths,
        [
            "a",
            "a::B",
            "b",
            "c::d::*",
            "m::sibling::X",
            "m::Y",
            "e::T",
            "m::n::*",
            "k",
            "vocabulary::Policy",
            "vocabulary::Transport",
            "m::n::child::Item",
        ]
    );
    assert_eq!(refs[1].line, 3);
    assert_eq!(reexports["P"].join("::"), "vocabulary::Policy");
    assert_eq!(reexports["Item"].join("::"), "m::n::child::Item");
    assert_eq!(refs[4].line, 4);
    assert_eq!(refs[6].line, 5);
}

#[test]
fn a_cycle_is_found_and_named() {
    let mut g = Graph::default();
    g.add("a", "b", "x.rs:1".into());
    g.add("b", "c", "x.rs:2".into());
    g.add("c", "a", "x.rs:3".into());
    g.add("c", "d", "x.rs:4".into());
    let cycles = g.cycles();
    assert_eq!(cycles, vec![vec!["a", "b", "c"]]);
    let mut acyclic = Graph::default();
    acyclic.add("a", "b", "x.rs:1".into());
    acyclic.add("a", "c", "x.rs:2".into());
    acyclic.add("b", "c", "x.rs:3".into());
    assert!(acyclic.cycles().is_empty());
}

/// Follows `path` through the `pub use` re-exports of the modules it passes (a parent's
/// `pub use engine::recover` sends `follower::recover` to `follower::engine::recover`).
fn resolve(path: &ModPath, reexports: &BTreeMap<ModPath, &BTreeMap<String, ModPath>>) -> ModPath {
    let mut path = path.clone();
    for _ in 0..8 {
        // The longest prefix that is a file's module, and the item right after it.
        let Some(split) = (1..path.len())
            .rev()
            .find(|&n| reexports.contains_key(&path[..n].to_vec()))
        else {
            break;
        };
        let (module, item) = (&path[..split], &path[split]);
        if split >= 2 {
            break; // inside a submodule already: the edge is to it
        }
        match reexports[&module.to_vec()].get(item) {
            Some(source) => {
                let mut next = source.clone();
                next.extend_from_slice(&path[split + 1..]);
                path = next;
            }
            None => break,
        }
    }
    path
}

/// The library's files, with what each refers to.
fn library_files() -> Vec<SourceFile> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = root.join("src");
    let lib = fs::read_to_string(src.join("lib.rs")).expect("src/lib.rs");
    let code = strip(&lib);
    let tokens = tokenize(&code);
    let mut top = Vec::new();
    for w in tokens.windows(3) {
        if w[0].text == "mod" && w[2].text == ";" {
            top.push(w[1].text.clone());
        }
    }
    assert!(top.len() > 5, "found only {top:?} as modules in src/lib.rs");
    let mut files = Vec::new();
    for name in top {
        let single = src.join(format!("{name}.rs"));
        if single.is_file() {
            files.push(single);
        }
        let dir = src.join(&name);
        if dir.is_dir() {
            collect_rs(&dir, &mut files);
        }
    }
    files
        .into_iter()
        .map(|path| {
            let module = module_of(&src, &path);
            let text = fs::read_to_string(&path).expect("readable source");
            let (references, reexports) = parse(&text, &module);
            SourceFile {
                module,
                display: path
                    .strip_prefix(root)
                    .unwrap_or(&path)
                    .display()
                    .to_string(),
                references,
                reexports,
            }
        })
        .collect()
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .expect("readable directory")
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect_rs(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/follower/engine.rs` is `follower::engine`, `src/follower/mod.rs` is `follower`.
fn module_of(src: &Path, path: &Path) -> ModPath {
    let relative = path.strip_prefix(src).expect("under src/");
    let mut parts: ModPath = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("a file name");
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" {
        parts.push(stem.to_string());
    }
    parts
}

/// Every `crate::`, `super::` and `self::` path in `source` (a file of `module`), made absolute,
/// and the file's `pub use` re-exports (item name, or its `as` name, to its absolute path).
fn parse(source: &str, module: &ModPath) -> (Vec<Reference>, BTreeMap<String, ModPath>) {
    let code = strip(source);
    let tokens = tokenize(&code);
    let mut references = Vec::new();
    let mut reexports = BTreeMap::new();
    // Inline modules (`mod tests { .. }`) change what `super` and `self` mean.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < tokens.len() {
        let t = &tokens[i].text;
        match t.as_str() {
            "{" => depth += 1,
            "}" => {
                depth = depth.saturating_sub(1);
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
            }
            "mod" if tokens.get(i + 2).is_some_and(|t| t.text == "{") => {
                inline.push((tokens[i + 1].text.clone(), depth));
                depth += 1;
                i += 3;
                continue;
            }
            _ => {}
        }
        let after_colons = i > 0 && tokens[i - 1].text == "::";
        let is_start = matches!(t.as_str(), "crate" | "super" | "self")
            && !after_colons
            && tokens.get(i + 1).is_some_and(|t| t.text == "::");
        let is_use_of_child = i >= 1
            && tokens[i - 1].text == "use"
            && is_ident(t)
            && !matches!(
                t.as_str(),
                "crate" | "super" | "self" | "std" | "core" | "alloc"
            )
            && tokens.get(i + 1).is_some_and(|t| t.text == "::");
        if !(is_start || is_use_of_child) {
            i += 1;
            continue;
        }
        let mut here = module.clone();
        here.extend(inline.iter().map(|(name, _)| name.clone()));
        let mut base: ModPath = match t.as_str() {
            "crate" => Vec::new(),
            "self" => here.clone(),
            "super" => {
                let mut b = here.clone();
                b.pop();
                b
            }
            // `use engine::X` in `mod.rs`: a child, or an external crate (not a node anyway).
            _ => {
                let mut b = here.clone();
                b.push(t.clone());
                b
            }
        };
        let mut j = i + 2;
        // `super::super::`
        while tokens.get(j).is_some_and(|t| t.text == "super")
            && tokens.get(j + 1).is_some_and(|t| t.text == "::")
        {
            base.pop();
            j += 2;
        }
        // `pub use` and `pub(crate) use`
        let is_pub_use = i >= 2
            && tokens[i - 1].text == "use"
            && matches!(tokens[i - 2].text.as_str(), "pub" | ")");
        let mut leaves = Vec::new();
        j = tree(&tokens, j, base, &mut leaves);
        for (path, alias, line) in leaves {
            if is_pub_use
                && inline.is_empty()
                && let Some(name) = alias.or_else(|| path.last().cloned())
                && name != "*"
                && name != "self"
            {
                reexports.insert(name, path.clone());
            }
            references.push(Reference { path, line });
        }
        i = j.max(i + 1);
    }
    (references, reexports)
}

/// Parses a path or use tree starting at `tokens[i]` under `prefix`; pushes each leaf (with its
/// `as` name) and returns the index after the tree.
fn tree(
    tokens: &[Token],
    mut i: usize,
    mut prefix: ModPath,
    leaves: &mut Vec<(ModPath, Option<String>, usize)>,
) -> usize {
    loop {
        let Some(t) = tokens.get(i) else {
            let line = tokens.last().map_or(0, |t| t.line);
            leaves.push((prefix, None, line));
            return i;
        };
        match t.text.as_str() {
            "{" => {
                i += 1;
                while let Some(t) = tokens.get(i) {
                    match t.text.as_str() {
                        "}" => return i + 1,
                        "," => i += 1,
                        _ => i = tree(tokens, i, prefix.clone(), leaves),
                    }
                }
                return i;
            }
            "*" => {
                prefix.push("*".into());
                leaves.push((prefix, None, t.line));
                return i + 1;
            }
            "self" if tokens.get(i + 1).is_none_or(|t| t.text != "::") => {
                // `use crate::a::{self}` names `a` itself.
                leaves.push((prefix, alias(tokens, i + 1), t.line));
                return i + 1;
            }
            text if is_ident(text) => {
                prefix.push(text.to_string());
                if tokens.get(i + 1).is_some_and(|t| t.text == "::")
                    && tokens
                        .get(i + 2)
                        .is_some_and(|t| t.text == "{" || t.text == "*" || is_ident(&t.text))
                {
                    i += 2;
                    continue;
                }
                let name = alias(tokens, i + 1);
                let end = if name.is_some() { i + 3 } else { i + 1 };
                leaves.push((prefix, name, t.line));
                return end;
            }
            _ => {
                leaves.push((prefix, None, t.line));
                return i;
            }
        }
    }
}

fn alias(tokens: &[Token], i: usize) -> Option<String> {
    (tokens.get(i)?.text == "as").then(|| tokens.get(i + 1).map(|t| t.text.clone()))?
}

fn is_ident(s: &str) -> bool {
    s.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_alphanumeric() || c == '_')
}

struct Token {
    text: String,
    line: usize,
}

/// Identifiers, `::`, and single punctuation characters, with their line numbers.
fn tokenize(code: &str) -> Vec<Token> {
    let chars: Vec<char> = code.chars().collect();
    let mut tokens = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(Token {
                text: chars[start..i].iter().collect(),
                line,
            });
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            tokens.push(Token {
                text: "::".into(),
                line,
            });
            i += 2;
        } else {
            tokens.push(Token {
                text: c.to_string(),
                line,
            });
            i += 1;
        }
    }
    tokens
}

/// Blanks out comments, string and character literals (keeping line breaks, so line numbers
/// stay right).
fn strip(source: &str) -> String {
    let s: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    let blank = |c: char, out: &mut String| out.push(if c == '\n' { '\n' } else { ' ' });
    while i < s.len() {
        let c = s[i];
        let next = s.get(i + 1).copied();
        let prev_ident = i > 0 && (s[i - 1].is_alphanumeric() || s[i - 1] == '_');
        if c == '/' && next == Some('/') {
            while i < s.len() && s[i] != '\n' {
                i += 1;
                out.push(' ');
            }
        } else if c == '/' && next == Some('*') {
            let mut nesting = 0;
            while i < s.len() {
                if s[i] == '/' && s.get(i + 1) == Some(&'*') {
                    nesting += 1;
                    out.push_str("  ");
                    i += 2;
                } else if s[i] == '*' && s.get(i + 1) == Some(&'/') {
                    nesting -= 1;
                    out.push_str("  ");
                    i += 2;
                    if nesting == 0 {
                        break;
                    }
                } else {
                    blank(s[i], &mut out);
                    i += 1;
                }
            }
        } else if !prev_ident
            && (c == 'r' || (c == 'b' && next == Some('r')))
            && raw_string_hashes(&s, i).is_some()
        {
            let (open, hashes) = raw_string_hashes(&s, i).expect("checked");
            let closing: Vec<char> = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            for _ in i..open + 1 {
                out.push(' ');
            }
            i = open + 1;
            while i < s.len() && !s[i..].starts_with(&closing) {
                blank(s[i], &mut out);
                i += 1;
            }
            for _ in 0..closing.len().min(s.len() - i) {
                out.push(' ');
            }
            i += closing.len();
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < s.len() && s[i] != '"' {
                if s[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < s.len() {
                    blank(s[i], &mut out);
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' && next == Some('\\') {
            // '\n', '\'', '\u{1F600}'
            out.push_str("  ");
            i += 2;
            while i < s.len() && s[i] != '\'' {
                out.push(' ');
                i += 1;
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' && s.get(i + 2) == Some(&'\'') {
            out.push_str("   ");
            i += 3;
        } else {
            out.push(c); // a lifetime's quote stays: it is no identifier
            i += 1;
        }
    }
    out
}

/// For a raw string starting at `i` (`r"`, `r#"`, `br##"`): the index of its opening quote and
/// the number of `#`.
fn raw_string_hashes(s: &[char], i: usize) -> Option<(usize, usize)> {
    let mut j = if s[i] == 'b' { i + 2 } else { i + 1 };
    let mut hashes = 0;
    while s.get(j) == Some(&'#') {
        hashes += 1;
        j += 1;
    }
    (s.get(j) == Some(&'"')).then_some((j, hashes))
}

/// A directed graph with, for each edge, the lines that make it.
#[derive(Default)]
struct Graph {
    nodes: BTreeSet<String>,
    edges: BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
}

impl Graph {
    fn add(&mut self, from: &str, to: &str, witness: String) {
        self.nodes.insert(from.to_string());
        self.nodes.insert(to.to_string());
        self.edges
            .entry(from.to_string())
            .or_default()
            .entry(to.to_string())
            .or_default()
            .insert(witness);
    }

    fn successors(&self, node: &str) -> impl Iterator<Item = &String> {
        self.edges.get(node).into_iter().flat_map(|m| m.keys())
    }

    /// One cycle per strongly connected component of more than one node, each starting at its
    /// smallest node (Tarjan's algorithm, then a shortest cycle through that node).
    fn cycles(&self) -> Vec<Vec<String>> {
        self.components()
            .iter()
            .map(|c| self.shortest_cycle(c))
            .collect()
    }

    /// The strongly connected components of more than one node: every node in one reaches
    /// every other, so at least one edge inside each must go.
    fn components(&self) -> Vec<BTreeSet<String>> {
        let mut index = BTreeMap::new();
        let mut low = BTreeMap::new();
        let mut stack = Vec::new();
        let mut on_stack = BTreeSet::new();
        let mut components = Vec::new();
        let mut counter = 0;
        for node in &self.nodes {
            if !index.contains_key(node) {
                self.strongconnect(
                    node,
                    &mut counter,
                    &mut index,
                    &mut low,
                    &mut stack,
                    &mut on_stack,
                    &mut components,
                );
            }
        }
        let mut components: Vec<BTreeSet<String>> =
            components.into_iter().filter(|c| c.len() > 1).collect();
        components.sort();
        components
    }

    #[allow(clippy::too_many_arguments)]
    fn strongconnect(
        &self,
        v: &str,
        counter: &mut usize,
        index: &mut BTreeMap<String, usize>,
        low: &mut BTreeMap<String, usize>,
        stack: &mut Vec<String>,
        on_stack: &mut BTreeSet<String>,
        components: &mut Vec<BTreeSet<String>>,
    ) {
        index.insert(v.to_string(), *counter);
        low.insert(v.to_string(), *counter);
        *counter += 1;
        stack.push(v.to_string());
        on_stack.insert(v.to_string());
        for w in self.successors(v) {
            if !index.contains_key(w) {
                self.strongconnect(w, counter, index, low, stack, on_stack, components);
                let lw = low[w];
                let lv = low.get_mut(v).expect("visited");
                *lv = (*lv).min(lw);
            } else if on_stack.contains(w) {
                let iw = index[w];
                let lv = low.get_mut(v).expect("visited");
                *lv = (*lv).min(iw);
            }
        }
        if low[v] == index[v] {
            let mut component = BTreeSet::new();
            while let Some(w) = stack.pop() {
                on_stack.remove(&w);
                let done = w == v;
                component.insert(w);
                if done {
                    break;
                }
            }
            components.push(component);
        }
    }

    /// A shortest cycle through the smallest node of `component` (breadth-first, inside it).
    fn shortest_cycle(&self, component: &BTreeSet<String>) -> Vec<String> {
        let start = component.first().expect("non-empty").clone();
        let mut parent: BTreeMap<String, String> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([start.clone()]);
        while let Some(v) = queue.pop_front() {
            for w in self.successors(&v) {
                if !component.contains(w) {
                    continue;
                }
                if *w == start {
                    let mut cycle = vec![v.clone()];
                    let mut at = v.clone();
                    while let Some(p) = parent.get(&at) {
                        cycle.push(p.clone());
                        at = p.clone();
                    }
                    cycle.reverse();
                    return cycle;
                }
                if !parent.contains_key(w) && *w != start {
                    parent.insert(w.clone(), v.clone());
                    queue.push_back(w.clone());
                }
            }
        }
        vec![start]
    }

    /// Every edge, with the first line that makes it.
    fn render(&self) -> String {
        let mut out = String::new();
        for node in &self.nodes {
            let targets: Vec<&String> = self.successors(node).collect();
            let _ = writeln!(
                out,
                "  {node} -> {}",
                if targets.is_empty() {
                    "(nothing)".to_string()
                } else {
                    targets
                        .iter()
                        .map(|t| t.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            );
        }
        out
    }

    fn assert_acyclic(&self, what: &str) {
        let components = self.components();
        if components.is_empty() {
            println!("{what}: no cycle\n{}", self.render());
            return;
        }
        let mut message = format!("{what}: {} cycle(s)\n", components.len());
        for component in &components {
            let mut ring = self.shortest_cycle(component);
            ring.push(ring[0].clone());
            let _ = writeln!(message, "cycle: {}", ring.join(" -> "));
            let _ = writeln!(message, "  every edge among {component:?}:");
            for from in component {
                for (to, witnesses) in self.edges.get(from).into_iter().flatten() {
                    if component.contains(to) {
                        let lines: Vec<&str> = witnesses.iter().map(String::as_str).collect();
                        let _ = writeln!(message, "    {from} -> {to}: {}", lines.join(", "));
                    }
                }
            }
        }
        let _ = write!(message, "the whole graph:\n{}", self.render());
        panic!("{message}");
    }
}
