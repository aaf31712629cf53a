//! The core's layers (`../shared/ARCHITECTURE.md`, and `src/lib.rs`): each folder imports
//! only the folders below it, and SQL lives in `store/`. Read from the source, so a change
//! that adds an import running back up fails here, naming the file and the import.

use std::path::{Path, PathBuf};

/// Lowest first. `error` is the one error type every layer returns.
const LAYERS: &[&str] = &["error", "domain", "store", "live", "console"];

/// What the crate root re-exports, and the layer each name lives in.
const ROOT_NAMES: &[(&str, &str)] = &[
    ("ConsoleError", "error"),
    ("ErrorBody", "error"),
    ("Ctx", "domain"),
    ("Command", "console"),
    ("CommandVisitor", "console"),
    ("Console", "console"),
];

fn rank(layer: &str) -> usize {
    LAYERS.iter().position(|l| *l == layer).unwrap_or_else(|| panic!("unknown layer {layer}"))
}

/// The layer a source file belongs to: its top folder, or `error` for `error.rs`.
fn layer_of(rel: &Path) -> Option<&'static str> {
    let first = rel.components().next()?.as_os_str().to_str()?;
    let first = first.strip_suffix(".rs").unwrap_or(first);
    LAYERS.iter().copied().find(|l| *l == first)
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of `src` without comments, string literals and `#[cfg(test)]` items (tests may
/// drive a lower layer through a higher one).
fn code(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let b = src.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if src[i..].starts_with("//") {
            i += src[i..].find('\n').unwrap_or(src.len() - i);
        } else if src[i..].starts_with("/*") {
            i += src[i..].find("*/").map_or(src.len() - i, |e| e + 2);
        } else if let Some(len) = char_literal(src, i) {
            i += len;
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if src[i..].starts_with("#[cfg(test)]") {
            // Skip the attribute and the item it guards: up to its `;` or its closing brace.
            i += "#[cfg(test)]".len();
            let mut depth = 0;
            while i < b.len() {
                match b[i] {
                    b'{' => depth += 1,
                    b'}' => {
                        depth -= 1;
                        if depth == 0 {
                            i += 1;
                            break;
                        }
                    }
                    b';' if depth == 0 => {
                        i += 1;
                        break;
                    }
                    _ => {}
                }
                i += 1;
            }
        } else {
            let c = src[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// The length of the char literal at `i` (such as `'"'`, which must not open a string), if
/// one starts there; a lifetime (`'a`) is not one.
fn char_literal(src: &str, i: usize) -> Option<usize> {
    let b = src.as_bytes();
    if b[i] != b'\'' || i + 2 >= b.len() {
        return None;
    }
    if b[i + 1] == b'\\' {
        // `'\''`, `'\\'`, `'\n'`, `'\u{…}'`: the escaped character is never the end.
        return src.get(i + 3..)?.find('\'').map(|e| e + 4);
    }
    let c = src[i + 1..].chars().next()?;
    (src.as_bytes().get(i + 1 + c.len_utf8()) == Some(&b'\'')).then_some(c.len_utf8() + 2)
}

/// The first path segment after every `crate::` in `code`, and every top-level name of a
/// `crate::{…}` group.
fn crate_paths(code: &str) -> Vec<String> {
    let mut names = Vec::new();
    let ident = |s: &str| s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>();
    for (at, _) in code.match_indices("crate::") {
        if at > 0 && code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if c.is_whitespace() => {}
                    _ if start && depth == 0 => {
                        names.push(ident(&group[i..]));
                        start = false;
                    }
                    _ => {}
                }
            }
        } else {
            names.push(ident(rest));
        }
    }
    names
}

/// The layer `name` (the segment after `crate::`) lives in, if it is one of the core's.
fn target_layer(name: &str) -> Option<&'static str> {
    LAYERS.iter().copied().find(|l| *l == name).or_else(|| ROOT_NAMES.iter().find(|(n, _)| *n == name).map(|(_, l)| *l))
}

fn read_sources() -> Vec<(String, &'static str, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    files.sort();
    files
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n != "tests.rs"))
        .filter_map(|p| {
            let rel = p.strip_prefix(&root).unwrap().to_path_buf();
            let layer = layer_of(&rel)?;
            Some((rel.display().to_string(), layer, code(&std::fs::read_to_string(&p).unwrap())))
        })
        .collect()
}

#[test]
fn no_import_runs_back_up() {
    let mut upward = Vec::new();
    for (file, layer, code) in read_sources() {
        for name in crate_paths(&code) {
            if let Some(target) = target_layer(&name)
                && rank(target) > rank(layer)
            {
                upward.push(format!("{file} ({layer}) imports crate::{name} ({target})"));
            }
        }
    }
    upward.sort();
    upward.dedup();
    assert!(upward.is_empty(), "imports running back up:\n{}", upward.join("\n"));
}

#[test]
fn every_source_file_is_in_a_layer() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    let loose: Vec<_> = files
        .iter()
        .map(|p| p.strip_prefix(&root).unwrap().to_path_buf())
        .filter(|rel| rel != Path::new("lib.rs") && layer_of(rel).is_none())
        .collect();
    assert!(loose.is_empty(), "files outside every layer: {loose:?}");
}

#[test]
fn the_domain_does_no_io() {
    let mut found = Vec::new();
    for (file, layer, code) in read_sources() {
        if layer != "domain" {
            continue;
        }
        for banned in ["sqlx::query", "SqliteConnection", "tokio::", "std::fs", "TcpStream", "TcpListener", "UdpSocket"]
        {
            if code.contains(banned) {
                found.push(format!("{file} uses {banned}"));
            }
        }
    }
    assert!(found.is_empty(), "I/O in the domain:\n{}", found.join("\n"));
}

#[test]
fn only_the_store_names_the_database_engine() {
    let mut found = Vec::new();
    for (file, layer, code) in read_sources() {
        for engine in ["SqliteConnection", "SqlitePool", "sqlx::Sqlite", "sqlx::sqlite"] {
            if layer != "store" && code.contains(engine) {
                found.push(format!("{file} names {engine}"));
            }
        }
    }
    assert!(found.is_empty(), "the database engine named outside the store:\n{}", found.join("\n"));
}

#[test]
fn sql_stays_in_the_store() {
    let mut outside = Vec::new();
    for (file, layer, code) in read_sources() {
        let queries = code.matches("sqlx::query").count() + code.matches("sqlx::raw_sql").count();
        if layer != "store" && queries > 0 {
            outside.push(format!("{file}: {queries} queries"));
        }
    }
    assert!(outside.is_empty(), "SQL outside the store (move it into a store function):\n{}", outside.join("\n"));
}

/// The string literals of `src`, as written (escapes left as they are).
fn literals(src: &str) -> Vec<&str> {
    let b = src.as_bytes();
    let (mut out, mut i) = (Vec::new(), 0);
    while i < b.len() {
        if src[i..].starts_with("//") {
            i += src[i..].find('\n').unwrap_or(src.len() - i);
        } else if let Some(len) = char_literal(src, i) {
            i += len;
        } else if b[i] == b'"' {
            let start = i + 1;
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            out.push(&src[start..i.min(src.len())]);
            i += 1;
        } else {
            i += 1;
        }
    }
    out
}

/// The store's SQL numbers its parameters (`$1`), which SQLite and PostgreSQL both read, so
/// one statement can serve both engines; a bare `?` is SQLite's alone.
#[test]
fn store_sql_numbers_its_parameters() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store");
    let mut files = Vec::new();
    sources(&root, &mut files);
    let mut bare = Vec::new();
    for file in files {
        let src = std::fs::read_to_string(&file).unwrap();
        for sql in literals(&src) {
            let statement = ["SELECT ", "INSERT ", "UPDATE ", "DELETE ", "WHERE "].iter().any(|k| sql.contains(k));
            if statement && sql.contains('?') {
                bare.push(format!("{}: {}", file.display(), sql.lines().next().unwrap_or_default()));
            }
        }
    }
    assert!(bare.is_empty(), "SQL with `?` parameters (write $1, $2, …):\n{}", bare.join("\n"));
}
