//! Every decoder of untrusted bytes, fed arbitrary and mutated inputs
//! (docs/security.md, "Fuzzing"): binary frames and every request body,
//! RESP and inline commands with their dispatch and every named command's
//! parse, HTTP request heads, HELLO, cluster slots, typed values, the ACL
//! file and rules, the manifest, value envelopes, replication position
//! records and PULL replies, and the TLS connection loop. Each must answer (an error is an answer) and
//! never panic. Seeds are valid encodings, mutated by flips, cuts and
//! splices; the committed corpus (`tests/fuzz_corpus/<target>/`) runs
//! first, each file as one input. `fuzz/` has the same targets for
//! cargo-fuzz on nightly.

use proptest::collection::vec;
use proptest::prelude::*;

use tessera::proto::Request;

const CASES: u32 = 4000;

/// A target: what the server does with one input.
type Target = fn(&[u8]);

/// Valid inputs to start mutating from.
fn frame_seeds() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    let set = Request::Set {
        key: b"k",
        value: b"v",
        args: Default::default(),
    };
    let cmd = Request::Command(tessera::proto::command::NamedCommand::new(vec![
        b"HSET", b"h", b"f", b"v",
    ]));
    let auth = Request::Auth {
        user: b"u",
        pass: b"p",
    };
    for r in [
        &set,
        &cmd,
        &auth,
        &Request::Get { key: b"k" },
        &Request::Ping(b"x"),
    ] {
        let mut f = Vec::new();
        r.encode(7, &mut f);
        seeds.push(f);
    }
    seeds
}

fn resp_seeds() -> Vec<Vec<u8>> {
    [
        &b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"[..],
        b"*5\r\n$4\r\nZADD\r\n$1\r\nz\r\n$1\r\n1\r\n$1\r\na\r\n$2\r\nCH\r\n",
        b"PING \"a\\x41\" 'b'\r\n",
        b"*4\r\n$3\r\nACL\r\n$7\r\nSETUSER\r\n$1\r\nu\r\n$5\r\n%R~a*\r\n",
        b"*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n",
    ]
    .iter()
    .map(|s| s.to_vec())
    .collect()
}

fn http_seeds() -> Vec<Vec<u8>> {
    [
        &b"GET /v1/kv/a HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        b"PUT /v1/kv/a?ttl_ms=5 HTTP/1.1\r\nContent-Length: 2\r\nAuthorization: Basic OnB3\r\n\r\nhi",
    ]
    .iter()
    .map(|s| s.to_vec())
    .collect()
}

/// A seed with some bytes flipped, a cut, or a splice of random bytes.
fn mutated(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let n = seeds.len();
    (
        0..n,
        vec((any::<usize>(), any::<u8>()), 0..6),
        any::<Option<usize>>(),
        vec(any::<u8>(), 0..16),
        any::<usize>(),
    )
        .prop_map(move |(i, flips, cut, splice, at)| {
            let mut b = seeds[i].clone();
            for (pos, byte) in flips {
                if !b.is_empty() {
                    let l = b.len();
                    b[pos % l] = byte;
                }
            }
            if let Some(c) = cut {
                b.truncate(c % (b.len() + 1));
            }
            let at = at % (b.len() + 1);
            b.splice(at..at, splice);
            b
        })
}

fn inputs(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![vec(any::<u8>(), 0..300), mutated(seeds)]
}

/// The corpus files of `target`, each one input.
fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

use tessera::proto::fuzz::{
    acl_text, binary_frames, resp_commands, tls_client_hello, tls_connection,
};

/// The wire crate's bodies, and a replica's PULL and SYNC replies.
fn wire_bodies(bytes: &[u8]) {
    tessera::proto::fuzz::wire_bodies(bytes);
    tessera::repl::fuzz::replies(bytes);
}

fn storage_records(bytes: &[u8]) {
    tessera::shard::fuzz::records(bytes);
}

fn http_heads(bytes: &[u8]) {
    let _ = tessera::proto::fuzz::http_heads(bytes);
}

/// `TESSERA_WRITE_CORPUS=1 cargo test --test fuzz corpus` writes the seeds
/// into the corpus (what cargo-fuzz starts from too).
fn write_corpus() {
    let hello = {
        let mut v = Vec::new();
        for core in [0u16, 1] {
            v.extend_from_slice(&core.to_be_bytes());
        }
        v
    };
    let manifest = tessera::shard::manifest::Manifest::new(7, 4, 1)
        .to_file_bytes()
        .unwrap();
    let hello_then_junk = {
        let mut v = tls_client_hello();
        v.extend_from_slice(&[0x17, 0x03, 0x03, 0x00, 0x05, 1, 2, 3, 4, 5]);
        v
    };
    let sets: [(&str, Vec<Vec<u8>>); 7] = [
        ("tls", vec![tls_client_hello(), hello_then_junk]),
        ("binary", frame_seeds()),
        ("resp", resp_seeds()),
        ("http", http_seeds()),
        (
            "acl",
            vec![
                b"user a on >pw ~k* %R~r* &c* +@read -get\n".to_vec(),
                b"user default on nopass ~* &* +@all\n".to_vec(),
            ],
        ),
        ("bodies", vec![hello, vec![0, 0, 0, 1, 0, 0, 0, 0]]),
        ("storage", vec![manifest, vec![1; 33]]),
    ];
    for (name, seeds) in sets {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fuzz_corpus")
            .join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for (i, s) in seeds.iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i}")), s).unwrap();
        }
    }
}

#[test]
fn corpus_inputs_are_answered() {
    if std::env::var_os("TESSERA_WRITE_CORPUS").is_some() {
        write_corpus();
    }
    let targets: [(&str, Target); 7] = [
        ("tls", |b| {
            tls_connection(b);
        }),
        ("binary", binary_frames),
        ("resp", resp_commands),
        ("acl", acl_text),
        ("bodies", wire_bodies),
        ("storage", storage_records),
        ("http", http_heads),
    ];
    let mut ran = 0;
    for (name, f) in targets {
        for input in corpus(name) {
            f(&input);
            ran += 1;
        }
    }
    assert!(ran >= 12, "the committed corpus has only {ran} inputs");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn binary_frames_and_bodies(bytes in inputs(frame_seeds())) {
        binary_frames(&bytes);
    }

    #[test]
    fn every_opcode_body(op in 0u8..0x30, flags in any::<u8>(), body in vec(any::<u8>(), 0..200)) {
        let _ = Request::decode(op, flags, &body);
    }

    #[test]
    fn resp_and_inline_commands(bytes in inputs(resp_seeds())) {
        resp_commands(&bytes);
    }

    #[test]
    fn every_named_command_parse(
        row in 0usize..400,
        words in vec(prop_oneof![
            vec(any::<u8>(), 0..12),
            prop::sample::select(vec![
                b"1".to_vec(), b"-1".to_vec(), b"0".to_vec(), b"inf".to_vec(), b"(1".to_vec(),
                b"[a".to_vec(), b"+".to_vec(), b"LIMIT".to_vec(), b"COUNT".to_vec(),
                b"WITHSCORES".to_vec(), b"BYSCORE".to_vec(), b"REV".to_vec(), b"GET".to_vec(),
                b"EX".to_vec(), b"NX".to_vec(), b"LEFT".to_vec(), b"9999999999999999999".to_vec(),
            ]),
        ], 0..9),
    ) {
        let rows = tessera::proto::table::all();
        let row = rows[row % rows.len()];
        let mut args: Vec<&[u8]> = vec![row.name.as_bytes()];
        args.extend(words.iter().map(|w| w.as_slice()));
        let _ = tessera::proto::redis::plan(&args);
        if row.arity_fits(args.len()) {
            let _ = row.key_positions(&args);
            let _ = tessera::proto::args::parse(row, &args);
        }
    }

    #[test]
    fn acl_rules_and_files(bytes in inputs(vec![
        b"user a on >pw ~k* %R~r* &c* +@read -get".to_vec(),
        b"user default on nopass ~* &* +@all\nuser b off #0000000000000000000000000000000000000000000000000000000000000000".to_vec(),
    ])) {
        acl_text(&bytes);
    }

    #[test]
    fn wire_and_replication_bodies(bytes in vec(any::<u8>(), 0..300)) {
        wire_bodies(&bytes);
    }

    #[test]
    fn storage_records_and_manifests(bytes in vec(any::<u8>(), 0..300)) {
        storage_records(&bytes);
    }

    #[test]
    fn tls_connection_loop(bytes in inputs(vec![tls_client_hello()])) {
        tls_connection(&bytes);
    }

    #[test]
    fn http_request_heads(bytes in inputs(http_seeds())) {
        http_heads(&bytes);
    }
}
