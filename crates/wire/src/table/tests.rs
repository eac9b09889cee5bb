//! The command table's own consistency checks.

use super::*;

#[test]
fn rows_are_consistent() {
    let mut names = std::collections::HashSet::new();
    for c in rows() {
        assert!(names.insert(c.name), "{} is declared twice", c.name);
        assert_eq!(c.name, c.name.to_ascii_lowercase());
        assert!(c.arity != 0, "{}", c.name);
        assert!(!c.summary.is_empty() && !c.since.is_empty(), "{}", c.name);
        assert!(
            !(c.has(flag::WRITE) && c.has(flag::READONLY)),
            "{} is write and readonly",
            c.name
        );
        assert!(c.reply.is_some(), "{} declares no reply shape", c.name);
        assert_eq!(
            c.has(flag::BINARY_ONLY),
            c.reply == Some(Reply::Binary),
            "{}: binary-only rows, and only they, answer binary bodies",
            c.name
        );
        for s in c.subcommands {
            assert!(s.name.starts_with(&format!("{}|", c.name)), "{}", s.name);
            assert!(s.reply.is_some(), "{} declares no reply shape", s.name);
        }
        if c.has(flag::BINARY_ONLY) {
            assert_eq!(c.exec, Exec::Binary, "{}", c.name);
        }
        if c.has(flag::STORED) {
            assert_ne!(c.keys, Keys::None, "{} is stored but names no key", c.name);
        }
    }
}

#[test]
fn every_opcode_has_its_row() {
    for b in 0..=255u8 {
        if let Ok(op) = Opcode::try_from(b) {
            if !matches!(op, Opcode::Command | Opcode::Batch | Opcode::Db) {
                assert!(by_opcode(op).is_some(), "{op:?} has no row");
            }
        }
    }
    assert!(by_opcode(Opcode::Set).unwrap().is_write());
    assert!(!by_opcode(Opcode::Get).unwrap().is_write());
}

#[test]
fn keys_by_position_and_by_count() {
    let mset = get(b"MSET").unwrap();
    assert_eq!(
        mset.keys_of(&[b"mset", b"a", b"1", b"b", b"2"]).unwrap(),
        vec![&b"a"[..], b"b"]
    );
    let blpop = get(b"blpop").unwrap();
    assert_eq!(
        blpop.keys_of(&[b"blpop", b"a", b"b", b"0"]).unwrap(),
        vec![&b"a"[..], b"b"]
    );
    let zu = get(b"zunionstore").unwrap();
    assert_eq!(
        zu.keys_of(&[
            b"zunionstore",
            b"d",
            b"2",
            b"a",
            b"b",
            b"WEIGHTS",
            b"1",
            b"2"
        ])
        .unwrap(),
        vec![&b"d"[..], b"a", b"b"]
    );
    assert!(zu
        .keys_of(&[b"zunionstore", b"d", b"3", b"a", b"b"])
        .is_err());
    assert!(zu.keys_of(&[b"zunionstore", b"d", b"x", b"a"]).is_err());
    assert!(zu.keys_of(&[b"zunionstore", b"d", b"0", b"a"]).is_err());
    assert_eq!(zu.legacy_keys(), (1, 1, 1));
    let z = get(b"zunion").unwrap();
    assert_eq!(
        z.keys_of(&[b"zunion", b"1", b"a"]).unwrap(),
        vec![&b"a"[..]]
    );
    assert_eq!(z.legacy_keys(), (0, 0, 0));
}

#[test]
fn lookup_checks_arity_and_names() {
    assert!(lookup(&[b"HSET", b"k"]).is_err());
    assert_eq!(
        lookup(&[b"nosuch"]).unwrap_err().code,
        ErrorCode::UnknownCommand
    );
    assert_eq!(lookup(&[b"hset", b"k", b"f", b"v"]).unwrap().name, "hset");
    assert!(get(&[b'a'; 40]).is_none());
}

#[test]
fn the_last_row_found_answers_only_its_own_name() {
    assert_eq!(get(b"HSet").unwrap().name, "hset");
    assert_eq!(get(b"hset").unwrap().name, "hset");
    for (name, row) in [
        (&b"hse"[..], None),
        (b"hsetnx", Some("hsetnx")),
        (b"hsetnx\0", None),
        (b"nosuch", None),
        (b"HSET", Some("hset")),
        (b"set", Some("set")),
        (b"hset", Some("hset")),
    ] {
        assert_eq!(get(name).map(|c| c.name), row, "{name:?}");
    }
}

#[test]
fn category_names_follow_their_bits() {
    for (name, bit) in acl::ORDERED {
        assert_eq!(acl::NAMES[bit.trailing_zeros() as usize], name);
    }
    assert_eq!(acl::NAMES.len(), acl::ORDERED.len());
}
