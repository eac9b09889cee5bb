//! docs/protocol.md must match the code: every registry code and opcode.

use tessera::codes::ErrorCode;
use tessera::proto::Opcode;

fn doc() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/protocol.md")).unwrap()
}

#[test]
fn every_error_code_is_documented_exactly() {
    let doc = doc();
    for code in ErrorCode::ALL {
        let row = format!(
            "| {} | {} | {} | {} |",
            code.number(),
            code.name(),
            code.resp_prefix(),
            code.http_status()
        );
        assert!(
            doc.contains(&row),
            "docs/protocol.md lacks the row starting {row}"
        );
    }
}

#[test]
fn every_opcode_is_documented() {
    let doc = doc();
    for b in 0..=255u8 {
        if let Ok(op) = Opcode::try_from(b) {
            let row = format!("| 0x{:02X} | {} |", b, op.name());
            assert!(doc.contains(&row), "docs/protocol.md lacks opcode {row}");
        }
    }
}

/// The command table drives this check: every named (stored) command has
/// its row in docs/protocol.md, every command RESP serves is listed in
/// docs/redis-compat.md, and every binary-only row is an opcode of
/// docs/protocol.md.
#[test]
fn every_command_of_the_table_is_documented() {
    use tessera::proto::table::{self, flag};
    let protocol = doc();
    let compat =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/redis-compat.md"))
            .unwrap();
    let (mut seen, mut missing) = (0, Vec::new());
    for c in table::all() {
        let upper = format!("`{}`", c.name.to_ascii_uppercase());
        if c.has(flag::STORED) {
            assert!(
                protocol.contains(&upper),
                "docs/protocol.md does not document {upper}"
            );
        }
        if c.has(flag::BINARY_ONLY) {
            assert!(
                protocol.contains(&format!("| {} |", &upper[1..upper.len() - 1])),
                "docs/protocol.md has no opcode row for {upper}"
            );
        } else {
            if !compat.contains(&upper) {
                missing.push(upper);
            }
        }
        seen += 1;
    }
    assert!(
        missing.is_empty(),
        "docs/redis-compat.md does not list {missing:?}"
    );
    assert!(seen > 140, "the table has only {seen} rows");
}

/// Every shipped configuration file loads and validates: a renamed option
/// must not leave a profile behind that `tessera serve --config` refuses.
#[test]
fn shipped_profiles_load() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tools/profiles");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let c = tessera::Config::from_file(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            c.validate()
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            seen += 1;
        }
    }
    assert!(seen >= 1, "no profile found in {dir}");
}

/// No source file outside vendor/ grows past 800 lines: a file should
/// answer one question (CONVENTIONS.md).
#[test]
fn no_source_file_is_over_800_lines() {
    fn walk(dir: &std::path::Path, out: &mut Vec<(usize, String)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let n = std::fs::read_to_string(&p).unwrap().lines().count();
                out.push((n, p.display().to_string()));
            }
        }
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for d in ["src", "crates", "tests", "bench"] {
        walk(&root.join(d), &mut files);
    }
    assert!(files.len() > 50, "found only {} files", files.len());
    let long: Vec<_> = files.into_iter().filter(|(n, _)| *n > 800).collect();
    assert!(long.is_empty(), "over 800 lines: {long:?}");
}

/// The crates' arrows (CONTRIBUTING.md): the client, the load generator and
/// the wire crate compile no RocksDB, and storage and wire depend on no
/// other crate of ours. Read from cargo's own dependency tree.
#[test]
fn the_crates_keep_their_arrows() {
    let tree_at = |package: &str, depth: &str| {
        let out = std::process::Command::new(env!("CARGO"))
            .args(["tree", "--offline", "-e", "normal", "--prefix", "none"])
            .args(["--depth", depth, "-p", package])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("cargo tree runs");
        assert!(
            out.status.success(),
            "cargo tree -p {package}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.starts_with(package), "{package}: {text}");
        text
    };
    let tree = |package: &str| tree_at(package, "100");
    let ours = |text: &str| -> Vec<String> {
        let mut names: Vec<String> = text
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|n| n.starts_with("tessera"))
            .map(str::to_string)
            .collect();
        names.sort();
        names.dedup();
        names
    };
    for package in [
        "tessera-client",
        "tessera-bench",
        "tessera-wire",
        "tessera-cluster",
    ] {
        let text = tree(package);
        assert!(
            !text.contains("rocksdb"),
            "{package} links RocksDB:\n{text}"
        );
    }
    assert_eq!(
        ours(&tree("tessera-client")),
        ["tessera-client", "tessera-wire"]
    );
    assert_eq!(ours(&tree("tessera-wire")), ["tessera-wire"]);
    assert_eq!(
        ours(&tree("tessera-cluster")),
        ["tessera-cluster", "tessera-wire"]
    );
    let storage = tree("tessera-storage");
    assert_eq!(ours(&storage), ["tessera-storage"]);
    assert!(storage.contains("rocksdb"), "{storage}");
    assert_eq!(
        ours(&tree("tessera")),
        [
            "tessera",
            "tessera-client",
            "tessera-cluster",
            "tessera-storage",
            "tessera-wire"
        ]
    );
    // The server reaches RocksDB only through the storage crate's types.
    let direct = tree_at("tessera", "1");
    assert!(!direct.contains("rocksdb"), "{direct}");
}

/// Inside the server crate the modules point one way too (CONTRIBUTING.md):
/// `net → {cmd, repl, config, ...}`, `cmd` → the wire and storage crates,
/// `repl` → those and the client (it connects to its primary and peers),
/// and nothing points back at `net` or `cli` (replication reaches the core
/// through the `repl::Host` trait that `net` implements). `drain` (the
/// waits for a partition's drains on its core) is a leaf over `shard` that
/// the committer and replication share.
#[test]
fn the_server_modules_point_one_way() {
    fn uses(path: &std::path::Path, out: &mut std::collections::BTreeSet<String>) {
        if path.is_dir() {
            for e in std::fs::read_dir(path).unwrap() {
                uses(&e.unwrap().path(), out);
            }
            return;
        }
        let text = std::fs::read_to_string(path).unwrap();
        for (i, _) in text.match_indices("crate::") {
            let name: String = text[i + 7..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let leaves = ["codes", "errors", "proto", "shard", "slot"];
    let allowed: &[(&str, &[&str])] = &[
        ("cmd", &leaves),
        ("errors", &["codes", "shard"]),
        (
            "repl",
            &[
                "client", "codes", "drain", "errors", "proto", "shard", "slot", "sync",
            ],
        ),
        ("drain", &["shard"]),
        ("config", &["shard"]),
        ("cli", &["client", "cmd", "codes", "proto"]),
    ];
    for (module, may) in allowed {
        let dir = src.join(module);
        let path = if dir.is_dir() {
            dir
        } else {
            src.join(format!("{module}.rs"))
        };
        let mut found = std::collections::BTreeSet::new();
        uses(&path, &mut found);
        found.remove(*module);
        assert!(!found.is_empty(), "{module}: no uses found");
        let wrong: Vec<_> = found
            .iter()
            .filter(|m| !may.contains(&m.as_str()))
            .collect();
        assert!(
            wrong.is_empty(),
            "{module} uses {wrong:?}; it may use only {may:?}"
        );
    }
    // And net, which may use all of them, is used by none of them (checked
    // above: no module's list allows `net`).
}

/// The modules of each crate, and of the larger directory modules, reach
/// each other one way: no cycle of `super::x` / `crate::x` paths between
/// sibling modules (a directory module counts as one, with everything
/// under it). Method calls are not paths: `core_files_call_each_other_one_way`
/// checks those where one type's `impl` is split over files.
#[test]
fn modules_have_no_cycles() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dirs = [
        ("src", "crate::"),
        ("src/net", "crate::net::"),
        ("src/net/core", "crate::net::core::"),
        ("src/cmd", "crate::cmd::"),
        ("src/repl", "crate::repl::"),
        ("crates/wire/src", "crate::"),
        ("crates/wire/src/table", "crate::table::"),
        ("crates/storage/src", "crate::"),
        ("crates/storage/src/partition", "crate::partition::"),
        ("crates/client/src", "crate::"),
    ];
    let mut paths_seen = 0;
    for (dir, prefix) in dirs {
        paths_seen += assert_no_module_cycles(&root.join(dir), prefix);
    }
    assert!(paths_seen >= 60, "too few module paths found: {paths_seen}");
}

/// Fails on a cycle among `dir`'s modules; returns how many edges it saw.
fn assert_no_module_cycles(dir: &std::path::Path, crate_prefix: &str) -> usize {
    use std::collections::{BTreeMap, BTreeSet};
    /// Every `.rs` file under `path` with its module depth below the
    /// analysed directory (`x.rs` and `x/mod.rs` are 1, `x/y.rs` is 2).
    fn files(path: &std::path::Path, depth: usize, out: &mut Vec<(String, usize)>) {
        if path.is_dir() {
            for e in std::fs::read_dir(path).unwrap() {
                let p = e.unwrap().path();
                let d = if p.file_name().unwrap() == "mod.rs" {
                    depth
                } else {
                    depth + 1
                };
                files(&p, d, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push((std::fs::read_to_string(path).unwrap(), depth));
        }
    }
    let mut modules: BTreeMap<String, Vec<(String, usize)>> = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        if ["mod", "lib", "main"].contains(&name.as_str()) {
            continue;
        }
        files(&path, 1, modules.entry(name).or_default());
    }
    let names: BTreeSet<String> = modules.keys().cloned().collect();
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, texts) in &modules {
        let out = edges.entry(module.clone()).or_default();
        for (text, depth) in texts {
            let up = "super::".repeat(*depth);
            for p in [up.as_str(), crate_prefix] {
                for (i, _) in text.match_indices(p) {
                    let rest = &text[i + p.len()..];
                    // A longer `super::` chain names another level.
                    if p.starts_with("super::")
                        && (rest.starts_with("super::") || text[..i].ends_with("super::"))
                    {
                        continue;
                    }
                    // `tessera_wire::x` is not `crate::x` of this crate.
                    if p == "crate::"
                        && text[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_')
                    {
                        continue;
                    }
                    let named: Vec<String> = match rest.strip_prefix('{') {
                        Some(group) => group[..group.find('}').unwrap_or(0)]
                            .split(',')
                            .map(ident)
                            .collect(),
                        None => vec![ident(rest)],
                    };
                    out.extend(
                        named
                            .into_iter()
                            .filter(|n| names.contains(n) && n != module),
                    );
                }
            }
        }
    }
    assert_acyclic(&edges, &dir.display().to_string());
    edges.values().map(BTreeSet::len).sum()
}

/// Fails on a cycle in `edges` (module → the modules it reaches).
fn assert_acyclic(
    edges: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
    what: &str,
) {
    use std::collections::{BTreeMap, BTreeSet};
    // Depth-first search; a module met again on the current path closes a cycle.
    fn visit(
        m: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        what: &str,
    ) {
        if let Some(at) = path.iter().position(|x| x == m) {
            panic!("{what} form a cycle: {:?} -> {m}", &path[at..]);
        }
        if done.contains(m) {
            return;
        }
        path.push(m.to_string());
        for next in edges.get(m).into_iter().flatten() {
            visit(next, edges, path, done, what);
        }
        path.pop();
        done.insert(m.to_string());
    }
    let mut done = BTreeSet::new();
    for m in edges.keys() {
        visit(m, edges, &mut Vec::new(), &mut done, what);
    }
}

/// The core's `impl` is split over the files of `src/net/core` (running
/// transactions, blocking pops, group commit, reports, ...), and its
/// services are files there too. Calls between those files are method
/// calls, which the path check above cannot see: here a call `.name(` in
/// one file to a function only another sibling file defines is an edge,
/// and the edges form no cycle. `mod.rs`, which composes them, is left
/// out: it is the parent every file may reach.
#[test]
fn core_files_call_each_other_one_way() {
    use std::collections::{BTreeMap, BTreeSet};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/net/core");
    let mut texts = BTreeMap::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        // A module that is a directory (`migrate/`) counts as one file.
        let text = if path.is_dir() {
            let mut files: Vec<_> = std::fs::read_dir(&path)
                .unwrap()
                .map(|f| f.unwrap().path())
                .filter(|f| f.extension().is_some_and(|x| x == "rs"))
                .collect();
            files.sort();
            files
                .iter()
                .map(|f| std::fs::read_to_string(f).unwrap())
                .collect::<Vec<_>>()
                .join("\n")
        } else {
            std::fs::read_to_string(&path).unwrap()
        };
        texts.insert(name, text);
    }
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    // Function name → the files defining it.
    let mut defined: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (file, text) in &texts {
        for (i, _) in text.match_indices("fn ") {
            let name = ident(&text[i + 3..]);
            if !name.is_empty() {
                defined.entry(name).or_default().insert(file.clone());
            }
        }
    }
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (file, text) in texts.iter().filter(|(f, _)| *f != "mod") {
        let out = edges.entry(file.clone()).or_default();
        for (i, _) in text.match_indices('.') {
            let name = ident(&text[i + 1..]);
            if !text[i + 1 + name.len()..].starts_with('(') {
                continue;
            }
            // Only a name exactly one sibling (not mod.rs) defines.
            if let Some(files) = defined.get(&name) {
                if files.len() == 1 {
                    let to = files.iter().next().unwrap();
                    if to != file && to != "mod" {
                        out.insert(to.clone());
                    }
                }
            }
        }
    }
    let n: usize = edges.values().map(BTreeSet::len).sum();
    assert!(n >= 4, "too few calls between the core's files: {edges:?}");
    assert_acyclic(&edges, "the files of src/net/core");
}
