use super::*;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

/// `body` (type byte and value) with a version and a good checksum.
fn stamp(body: &[u8], version: u16) -> Vec<u8> {
    let mut p = body.to_vec();
    p.extend_from_slice(&version.to_le_bytes());
    let crc = crc64::crc64(0, &p);
    p.extend_from_slice(&crc.to_le_bytes());
    p
}

/// What redis-server 7.0.15 answered to DUMP for each value.
fn redis_payloads() -> Vec<(&'static str, Object)> {
    vec![
        ("000568656c6c6f0a006372df766534200a", Object::String(b("hello"))),
        // An integer-encoded string.
        ("00c139300a009d94ea2793fc08b9", Object::String(b("12345"))),
        ("00c290eefeff0a002875de7b13eb2800", Object::String(b("-70000"))),
        // "ab" * 40, LZF-compressed.
        (
            "00c30a405002616261e042010161620a00949d5f0eb1dea445",
            Object::String(b(&"ab".repeat(40))),
        ),
        // RPUSH l a 1 300 -5000 70000 5000000000 x*70: a quicklist of one
        // LZF-compressed listpack with every integer width.
        (
            "120102c32b406b1c6b00000007008161020101c12c02f178ec03f270110104f400f2052a01201b0309e04678e03c000148ff0a009fbd3df22989a11c",
            Object::List(vec![
                b("a"),
                b("1"),
                b("300"),
                b("-5000"),
                b("70000"),
                b("5000000000"),
                b(&"x".repeat(70)),
            ]),
        ),
        (
            "0b0e0200000003000000fdff010002000a00d1b78ed9bc07c27f",
            Object::Set(vec![b("-3"), b("1"), b("2")]),
        ),
        ("02030163016201610a005ea67e5623750bab", Object::Set(vec![b("c"), b("b"), b("a")])),
        (
            "1012120000000400816602817602816e020701ff0a00b82adea8407ffaa8",
            Object::Hash(vec![(b("f"), b("v")), (b("n"), b("7"))]),
        ),
        (
            "111414000000040081610283312e35048162020201ff0a00fa02b425af188763",
            Object::ZSet(vec![(b("a"), 1.5), (b("b"), 2.0)]),
        ),
    ]
}

#[test]
fn reads_what_redis_dumps() {
    for (payload, want) in redis_payloads() {
        assert_eq!(decode(&hex(payload)), Ok(want), "{payload}");
    }
}

#[test]
fn crc_is_redis_crc64() {
    assert_eq!(crc64::crc64(0, b"123456789"), 0xe9c6d914c4b8d9ca);
}

#[test]
fn round_trips_every_type() {
    let long = vec![7u8; 20_000];
    let many: Vec<Vec<u8>> = (0..20_000).map(|i| format!("m{i}").into_bytes()).collect();
    for o in [
        Object::String(Vec::new()),
        Object::String(long.clone()),
        Object::List(vec![b(""), long.clone(), b("x")]),
        Object::List(many.clone()),
        Object::Set(many.clone()),
        Object::Hash(vec![(b("f"), long.clone()), (b("g"), b(""))]),
        Object::ZSet(vec![
            (b("a"), f64::NEG_INFINITY),
            (b("b"), -0.5),
            (b("c"), 1e300),
            (b("d"), f64::INFINITY),
        ]),
    ] {
        let p = encode(&o);
        assert_eq!(&p[p.len() - 10..p.len() - 8], &RDB_VERSION.to_le_bytes());
        assert_eq!(decode(&p), Ok(o));
    }
}

#[test]
fn refuses_wrong_versions_and_checksums() {
    let good = encode(&Object::String(b("v")));
    let mut flipped = good.clone();
    flipped[2] ^= 1;
    let body = &good[..good.len() - 10];
    for p in [
        flipped,
        good[..9].to_vec(),
        Vec::new(),
        stamp(body, MAX_RDB_VERSION + 1),
    ] {
        assert_eq!(decode(&p), Err(DumpError::VersionOrChecksum));
    }
    // Redis 7.2's version is read.
    assert_eq!(decode(&stamp(body, 11)), Ok(Object::String(b("v"))));
}

#[test]
fn refuses_what_redis_refuses() {
    let bad = [
        // Empty collections.
        vec![1, 0],
        vec![2, 0],
        vec![4, 0],
        vec![5, 0],
        // A repeated member or field.
        vec![2, 2, 1, b'a', 1, b'a'],
        vec![4, 2, 1, b'f', 1, b'1', 1, b'f', 1, b'2'],
        // A NaN score (type 3 writes NaN as 253).
        vec![3, 1, 1, b'a', 253],
        // A bad text score.
        vec![3, 1, 1, b'a', 1, b'x'],
        // Trailing bytes.
        vec![0, 1, b'a', 0],
        // Unknown type and string encodings.
        vec![99],
        vec![0, 0xc4],
    ];
    for body in bad {
        assert_eq!(
            decode(&stamp(&body, 10)),
            Err(DumpError::BadFormat),
            "{body:?}"
        );
    }
    assert_eq!(
        decode(&stamp(&[15, 0], 10)),
        Err(DumpError::Unsupported("streams"))
    );
}

#[test]
fn hostile_lengths_allocate_nothing() {
    // A list of 2^40 elements in a few bytes.
    let mut body = vec![1, 0x81];
    body.extend_from_slice(&(1u64 << 40).to_be_bytes());
    assert_eq!(decode(&stamp(&body, 10)), Err(DumpError::BadFormat));
    // An LZF string of 3 bytes that claims 400 MB.
    let mut body = vec![0, 0xc3, 3, 0x80];
    body.extend_from_slice(&(400u32 << 20).to_be_bytes());
    body.extend_from_slice(&[0, b'a', 0]);
    assert_eq!(decode(&stamp(&body, 10)), Err(DumpError::BadFormat));
}

/// A ziplist (Redis 6.2's small hashes, lists and sorted sets) of `items`,
/// built by the layout: strings, and integers of every width.
fn ziplist(items: &[std::result::Result<&str, i64>]) -> Vec<u8> {
    let mut entries = Vec::new();
    let mut prev = 0usize;
    for it in items {
        let start = entries.len();
        if prev < 254 {
            entries.push(prev as u8);
        } else {
            entries.push(254);
            entries.extend_from_slice(&(prev as u32).to_le_bytes());
        }
        match *it {
            Ok(s) if s.len() < 64 => entries.push(s.len() as u8),
            Ok(s) => entries.extend_from_slice(&[0x40 | (s.len() >> 8) as u8, s.len() as u8]),
            Err(n @ 0..=12) => entries.push(0xf1 + n as u8),
            Err(n) if i8::try_from(n).is_ok() => entries.extend_from_slice(&[0xfe, n as u8]),
            Err(n) if i16::try_from(n).is_ok() => {
                entries.push(0xc0);
                entries.extend_from_slice(&(n as i16).to_le_bytes());
            }
            Err(n) if (-(1 << 23)..1 << 23).contains(&n) => {
                entries.push(0xf0);
                entries.extend_from_slice(&(n as i32).to_le_bytes()[..3]);
            }
            Err(n) if i32::try_from(n).is_ok() => {
                entries.push(0xd0);
                entries.extend_from_slice(&(n as i32).to_le_bytes());
            }
            Err(n) => {
                entries.push(0xe0);
                entries.extend_from_slice(&n.to_le_bytes());
            }
        }
        if let Ok(s) = it {
            entries.extend_from_slice(s.as_bytes());
        }
        prev = entries.len() - start;
    }
    let total = 10 + entries.len() + 1;
    let mut z = (total as u32).to_le_bytes().to_vec();
    z.extend_from_slice(&((total - 1 - prev) as u32).to_le_bytes());
    z.extend_from_slice(&(items.len() as u16).to_le_bytes());
    z.extend_from_slice(&entries);
    z.push(0xff);
    z
}

fn with_blob(t: u8, blob: &[u8]) -> Vec<u8> {
    let mut body = vec![t];
    put_string(&mut body, blob);
    stamp(&body, 9)
}

#[test]
fn reads_redis_6_ziplists() {
    let long = "y".repeat(300);
    let items: Vec<std::result::Result<&str, i64>> = vec![
        Ok("a"),
        Err(0),
        Err(12),
        Err(-100),
        Err(30000),
        Err(-8_000_000),
        Err(2_000_000_000),
        Err(-9_000_000_000),
        Ok(&long),
    ];
    let want: Vec<Vec<u8>> = [
        "a",
        "0",
        "12",
        "-100",
        "30000",
        "-8000000",
        "2000000000",
        "-9000000000",
        &long,
    ]
    .iter()
    .map(|s| b(s))
    .collect();
    let z = ziplist(&items);
    assert_eq!(decode(&with_blob(10, &z)), Ok(Object::List(want.clone())));
    // A quicklist of two ziplist nodes.
    let mut body = vec![14, 2];
    put_string(&mut body, &z);
    put_string(&mut body, &ziplist(&[Ok("tail")]));
    let mut both = want.clone();
    both.push(b("tail"));
    assert_eq!(decode(&stamp(&body, 9)), Ok(Object::List(both)));
    assert_eq!(
        decode(&with_blob(13, &ziplist(&[Ok("f"), Err(5)]))),
        Ok(Object::Hash(vec![(b("f"), b("5"))]))
    );
    assert_eq!(
        decode(&with_blob(12, &ziplist(&[Ok("m"), Ok("2.5")]))),
        Ok(Object::ZSet(vec![(b("m"), 2.5)]))
    );
    // An odd count in a hash.
    assert_eq!(
        decode(&with_blob(13, &ziplist(&[Ok("f")]))),
        Err(DumpError::BadFormat)
    );
}

/// Corrupting any byte of a value (with a good checksum again) or cutting
/// it short answers an error or another value; it never panics.
#[test]
fn corrupt_values_never_panic() {
    let mut payloads: Vec<Vec<u8>> = redis_payloads().iter().map(|(p, _)| hex(p)).collect();
    let z = ziplist(&[Ok("a"), Err(-100), Err(2_000_000_000), Ok("bb")]);
    payloads.push(with_blob(10, &z));
    payloads.push(with_blob(11, &hex("0200000003000000fdff01000200")));
    for p in payloads {
        let body = &p[..p.len() - 10];
        for cut in 0..body.len() {
            let _ = decode(&stamp(&body[..cut], 10));
        }
        for i in 0..body.len() {
            for v in [
                0x00, 0x01, 0x3f, 0x40, 0x7f, 0x80, 0x81, 0xc0, 0xf0, 0xfe, 0xff,
            ] {
                let mut c = body.to_vec();
                c[i] = v;
                let _ = decode(&stamp(&c, 10));
            }
        }
    }
}

/// FUNCTION DUMP: redis-server 7.0.15's payload for one library, byte for
/// byte, and its LZF-compressed form; anything but libraries is refused.
#[test]
fn function_payloads_are_redis_s() {
    let code = b"#!lua name=t\nredis.register_function('t1', function() return 1 end)";
    let mut redis = vec![0xf5, 0x40, 0x43];
    redis.extend_from_slice(code);
    redis.extend_from_slice(&hex("0a00e5a1966603a925a8"));
    assert_eq!(encode_functions([&code[..]]), redis);
    assert_eq!(decode_functions(&redis).unwrap(), vec![code.to_vec()]);
    assert_eq!(decode_functions(&encode_functions([])).unwrap().len(), 0);
    let two = encode_functions([&b"a"[..], b"bb"]);
    assert_eq!(decode_functions(&two).unwrap(), vec![b("a"), b("bb")]);
    // An LZF string (a literal run of 3 bytes: control byte 2).
    let lzf = stamp(&hex("f5c30403026c7561"), 10);
    assert_eq!(decode_functions(&lzf).unwrap(), vec![b("lua")]);
    let mut bad = redis.clone();
    bad[5] ^= 1;
    assert_eq!(decode_functions(&bad), Err(DumpError::VersionOrChecksum));
    // A key's payload is not a library.
    let key = encode(&Object::String(b("x")));
    assert_eq!(decode_functions(&key), Err(DumpError::BadFormat));
    assert_eq!(
        decode_functions(&stamp(&hex("f5"), 10)),
        Err(DumpError::BadFormat)
    );
}
