//! The differential run: the same seeded random command sequences (10,000
//! commands over strings, keys, hashes, sets, sorted sets and lists) to a
//! real redis-server and to Tessera's RESP port, with identical replies
//! required, error messages included (moved from tests/resp.rs). A second
//! stream does the same for bitmaps and LCS, with offsets, ranges, field
//! types and overflow rules drawn around their edges. A third does it for
//! HyperLogLogs: sparse and dense values, merges, cached cardinalities and
//! corrupted strings, with the stored bytes compared after each seed. A
//! fourth does SORT and SORT_RO over lists, sets and sorted sets, with BY
//! and GET patterns, LIMIT, DESC, ALPHA and STORE. A fifth does GEOADD,
//! GEOPOS, GEODIST and GEOHASH over random and edge coordinates; more are
//! in `resp_differential/` (MULTI blocks, GEORADIUS).

mod common;
#[path = "resp_differential/mod.rs"]
mod more;

use common::resp::{Conn, R};
use common::Node;

fn node() -> Node {
    Node::start(2)
}

/// A seeded generator (xorshift), so a failure names its seed.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }
    fn int(&mut self, lo: i64, hi: i64) -> String {
        (lo + self.below((hi - lo + 1) as u64) as i64).to_string()
    }
}

const KEYS: &[&str] = &["{k}1", "{k}2", "{k}3", "{k}4"];
const MEMBERS: &[&str] = &["a", "b", "c", "d", "e", "10", "-3", "01", "-0"];

fn random_command(g: &mut Gen) -> Vec<String> {
    let k = g.pick(KEYS).to_string();
    let k2 = g.pick(KEYS).to_string();
    let m = g.pick(MEMBERS).to_string();
    let m2 = g.pick(MEMBERS).to_string();
    let score = format!("{}", g.below(13) as f64 / 2.0 - 3.0);
    let i = g.int(-4, 4);
    let j = g.int(-4, 4);
    let w = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let db = g.pick(&["0", "1", "2", "16", "x"]);
    match g.below(79) {
        0 => w(&["SET", &k, &m]),
        1 => w(&["GET", &k]),
        2 => w(&["INCR", &k]),
        3 => w(&["INCRBY", &k, &i]),
        4 => w(&["APPEND", &k, &m]),
        5 => w(&["STRLEN", &k]),
        6 => w(&["GETRANGE", &k, &i, &j]),
        7 => w(&["MGET", &k, &k2]),
        8 => w(&["DEL", &k]),
        9 => w(&["EXISTS", &k, &k2]),
        10 => w(&["TYPE", &k]),
        11 => w(&["RENAME", &k, &k2]),
        12 => w(&["SETNX", &k, &m]),
        13 => w(&["GETSET", &k, &m]),
        14 => w(&["HSET", &k, &m, &m2]),
        15 => w(&["HGET", &k, &m]),
        16 => w(&["HDEL", &k, &m, &m2]),
        17 => w(&["HLEN", &k]),
        18 => w(&["HEXISTS", &k, &m]),
        19 => w(&["HINCRBY", &k, &m, &i]),
        20 => w(&["HGETALL", &k]),
        21 => w(&["HKEYS", &k]),
        22 => w(&["HMGET", &k, &m, &m2]),
        23 => w(&["HSETNX", &k, &m, &m2]),
        24 => w(&["SADD", &k, &m, &m2]),
        25 => w(&["SREM", &k, &m]),
        26 => w(&["SISMEMBER", &k, &m]),
        27 => w(&["SCARD", &k]),
        28 => w(&["SMEMBERS", &k]),
        29 => w(&["SINTER", &k, &k2]),
        30 => w(&["SUNIONSTORE", &k, &k2, &k]),
        31 => w(&["SDIFF", &k, &k2]),
        32 => w(&["ZADD", &k, &score, &m]),
        33 => w(&[
            "ZADD",
            &k,
            g.pick(&["NX", "XX", "GT", "LT"]),
            "CH",
            &score,
            &m,
        ]),
        34 => w(&["ZREM", &k, &m]),
        35 => w(&["ZSCORE", &k, &m]),
        36 => w(&["ZINCRBY", &k, &score, &m]),
        37 => w(&["ZCARD", &k]),
        38 => w(&["ZRANGE", &k, &i, &j, "WITHSCORES"]),
        39 => w(&["ZRANGEBYSCORE", &k, "-inf", &score]),
        40 => w(&["ZRANK", &k, &m]),
        41 => w(&["ZCOUNT", &k, &format!("({score}"), "+inf"]),
        42 => w(&["ZPOPMIN", &k]),
        43 => w(&["ZREMRANGEBYRANK", &k, &i, &j]),
        44 => w(&["ZRANGE", &k, "0", "-1", "REV"]),
        45 => w(&["LPUSH", &k, &m, &m2]),
        46 => w(&["RPUSH", &k, &m]),
        47 => w(&["LPOP", &k]),
        48 => w(&["RPOP", &k, "2"]),
        49 => w(&["LRANGE", &k, &i, &j]),
        50 => w(&["LLEN", &k]),
        51 => w(&["LINDEX", &k, &i]),
        52 => w(&["LSET", &k, &i, &m]),
        53 => w(&["LINSERT", &k, g.pick(&["BEFORE", "AFTER"]), &m, &m2]),
        54 => w(&["LREM", &k, &i, &m]),
        55 => w(&["LTRIM", &k, &i, &j]),
        56 => w(&["LPOS", &k, &m]),
        57 => w(&[
            "LMOVE",
            &k,
            &k2,
            g.pick(&["LEFT", "RIGHT"]),
            g.pick(&["LEFT", "RIGHT"]),
        ]),
        58 => w(&["EXPIRE", &k, "1000"]),
        59 => w(&["PERSIST", &k]),
        60 => w(&["HINCRBYFLOAT", &k, &m, &score]),
        61 => w(&["INCRBYFLOAT", &k, &score]),
        62 => w(&["SETRANGE", &k, &g.int(0, 6), &m]),
        63 => w(&["GETDEL", &k]),
        64 => w(&["LPUSHX", &k, &m]),
        65 => w(&["SMISMEMBER", &k, &m, &m2]),
        66 => w(&["ZMSCORE", &k, &m, &m2]),
        67 => w(&["ZREVRANK", &k, &m]),
        // Absolute times: GT and LT compare the same numbers on both servers.
        68 => w(&[
            "EXPIREAT",
            &k,
            g.pick(&["4102444800", "4102444900", "4102445000"]),
            g.pick(&["NX", "XX", "GT", "LT"]),
        ]),
        69 => w(&["SDIFFSTORE", &k2, &k, &k2]),
        70 => w(&["ZPOPMAX", &k, "2"]),
        71 => w(&["HVALS", &k]),
        72 => w(&["ZADD", &k, "INCR", &score, &m]),
        // Lex ranges are defined only when every score is equal: one key for them.
        73 => match g.below(2) {
            0 => w(&["ZADD", "{k}lex", "0", &m]),
            _ => w(&["ZRANGEBYLEX", "{k}lex", "-", &format!("[{m}")]),
        },
        74 => w(&["ZREMRANGEBYSCORE", &k, &score, "+inf"]),
        76 => match g.below(5) {
            0 => w(&["ZRANGESTORE", &k2, &k, &i, &j]),
            1 => w(&[
                "ZRANGESTORE",
                &k2,
                &k,
                "-inf",
                &score,
                "BYSCORE",
                "LIMIT",
                "0",
                "2",
            ]),
            2 => w(&["ZRANGESTORE", &k2, &k, &score, "-inf", "BYSCORE", "REV"]),
            3 => w(&[
                "ZRANGESTORE",
                &k2,
                &k,
                "0",
                "-1",
                "BYSCORE",
                "LIMIT",
                "-1",
                "1",
            ]),
            _ => w(&["ZRANGE", &k, "0", "-1", "BYSCORE", "LIMIT", "-1", "1"]),
        },
        75 => match g.below(3) {
            0 => w(&["COPY", &k, &k2]),
            1 => w(&["COPY", &k, &k2, "REPLACE"]),
            _ => w(&["COPY", &k, &k2, "DB", db, "REPLACE"]),
        },
        77 => w(&["MOVE", &k, db]),
        _ => w(&["RPOPLPUSH", &k, &k2]),
    }
}

/// Replies whose order Redis does not define are compared sorted; error
/// messages must match to the letter.
fn normalize(cmd: &str, r: R) -> R {
    let unordered = ["SMEMBERS", "SINTER", "SDIFF", "HKEYS", "HVALS", "HGETALL"];
    match r {
        R::Array(mut items) if unordered.contains(&cmd) => {
            if cmd == "HGETALL" {
                let mut pairs: Vec<Vec<R>> = items.chunks(2).map(|c| c.to_vec()).collect();
                pairs.sort_by_key(|p| format!("{p:?}"));
                R::Array(pairs.concat())
            } else {
                items.sort_by_key(|i| format!("{i:?}"));
                R::Array(items)
            }
        }
        other => other,
    }
}

/// One seeded stream per seed: `reset` first on both servers, then `steps`
/// commands of `gen`, whose replies (after `normalize`) must be equal and
/// fit the shape the command table declares for Redis's own answer; then
/// `after_seed`. Returns the commands redis-server answered without an
/// error.
fn compare_streams(
    seeds: &[u64],
    reset: &[&[&str]],
    gen: fn(&mut Gen) -> Vec<String>,
    mut after_seed: impl FnMut(&mut Conn, &mut Conn),
) -> std::collections::BTreeSet<&'static str> {
    let (_redis, raddr) = common::redis_server::redis_server();
    let n = node();
    let mut ours = Conn::connect(n.resp_addr());
    let mut theirs = Conn::connect(raddr);
    let mut answered = std::collections::BTreeSet::new();
    for &seed in seeds {
        let mut g = Gen(seed);
        for c in [&mut ours, &mut theirs] {
            for cmd in reset {
                c.cmd(cmd);
            }
        }
        for step in 0..2000 {
            let cmd = gen(&mut g);
            let words: Vec<&str> = cmd.iter().map(|s| s.as_str()).collect();
            let a = normalize(words[0], ours.cmd(&words));
            let b = normalize(words[0], theirs.cmd(&words));
            let row = tessera::proto::table::get(words[0].as_bytes()).expect("a row");
            assert!(
                b.fits(row.reply_shape()),
                "{words:?}: redis-server answered {b:?}, the table says {:?}",
                row.reply_shape()
            );
            if !matches!(b, R::Err(_)) {
                answered.insert(row.name);
            }
            assert_eq!(a, b, "seed {seed}, step {step}: {words:?}");
        }
        after_seed(&mut ours, &mut theirs);
    }
    answered
}

#[test]
fn same_replies_as_redis_server() {
    let reset: &[&[&str]] = &[&["DEL", "{k}1", "{k}2", "{k}3", "{k}4", "{k}lex"]];
    let shapes_checked = compare_streams(
        &[7, 1234, 99991, 31337, 4242],
        reset,
        random_command,
        |_, _| {},
    );
    assert!(
        shapes_checked.len() >= 70,
        "only {} commands' reply shapes were checked",
        shapes_checked.len()
    );
}

const BIT_KEYS: &[&str] = &["{b}1", "{b}2", "{b}3", "{b}missing"];

/// A bitmap or LCS command, or a write that gives them something to read.
fn random_bit_command(g: &mut Gen) -> Vec<String> {
    let k = g.pick(BIT_KEYS).to_string();
    let k2 = g.pick(BIT_KEYS).to_string();
    // Now and then a key of another type, for WRONGTYPE and LCS's error.
    let k = if g.below(25) == 0 {
        "{b}hash".to_string()
    } else {
        k
    };
    // Bad offsets now and then (4294967295, the last valid one, would make
    // both servers build a 512 MB string).
    let off = match g.below(20) {
        0 => g.pick(&["-1", "4294967296", "x"]).to_string(),
        _ => g.int(0, 90),
    };
    let mut w: Vec<String> = Vec::new();
    let mut push = |v: &[&str]| w.extend(v.iter().map(|s| s.to_string()));
    match g.below(14) {
        0 => push(&[
            "SET",
            &k,
            g.pick(&[
                "foobar",
                "\u{7f}",
                "ohmytext",
                "mynewtext",
                "",
                "a",
                "zzzzzzzzzz",
            ]),
        ]),
        1 => push(&["SETBIT", &k, &off, g.pick(&["0", "1", "1", "2", "-1"])]),
        2 => push(&["GETBIT", &k, &off]),
        3 => {
            push(&["BITCOUNT", &k]);
            let n = g.below(5);
            for _ in 0..n.min(2) {
                let v = g.int(-20, 20);
                push(&[&v]);
            }
            if n >= 3 {
                push(&[g.pick(&["BIT", "BYTE", "bit", "nibble"])]);
            }
        }
        4 => {
            push(&["BITPOS", &k, g.pick(&["0", "1", "1", "0", "2"])]);
            let n = g.below(5);
            for _ in 0..n.min(2) {
                let v = g.int(-30, 30);
                push(&[&v]);
            }
            if n >= 3 {
                push(&[g.pick(&["BIT", "BYTE", "bits"])]);
            }
            if n == 4 && g.below(3) == 0 {
                push(&["extra"]);
            }
        }
        5 => {
            let op = g.pick(&["AND", "OR", "XOR", "NOT", "not", "NAND"]);
            push(&["BITOP", op, &k2, &k]);
            if g.below(2) == 0 {
                let k3 = g.pick(BIT_KEYS);
                push(&[k3]);
            }
        }
        6 | 7 => {
            push(&[
                if g.below(4) == 0 {
                    "BITFIELD_RO"
                } else {
                    "BITFIELD"
                },
                &k,
            ]);
            for _ in 0..=g.below(3) {
                let ty = match g.below(12) {
                    0 => g.pick(&["u64", "i65", "U8", "i0", "x"]).to_string(),
                    _ => format!("{}{}", g.pick(&["i", "u"]), g.int(1, 63)),
                };
                let at = match g.below(4) {
                    0 => format!("#{}", g.int(0, 5)),
                    _ => g.int(0, 40),
                };
                let v = match g.below(4) {
                    0 => g
                        .pick(&["9223372036854775807", "-9223372036854775808", "x"])
                        .to_string(),
                    1 => g.int(-300, 300),
                    _ => g.int(-3, 3),
                };
                match g.below(5) {
                    0 => push(&["GET", &ty, &at]),
                    1 => push(&["SET", &ty, &at, &v]),
                    2 => push(&["INCRBY", &ty, &at, &v]),
                    3 => push(&[
                        "OVERFLOW",
                        g.pick(&["WRAP", "SAT", "FAIL", "fail", "MAYBE"]),
                    ]),
                    _ => push(&["GET", &ty]),
                }
            }
        }
        8 => push(&["GET", &k]),
        9 => push(&["DEL", &k]),
        10 => push(&["APPEND", &k, g.pick(&["\u{1}", "xyz", "text"])]),
        11 | 12 => {
            push(&["LCS", &k, &k2]);
            for _ in 0..g.below(4) {
                match g.below(5) {
                    0 => push(&["LEN"]),
                    1 => push(&["IDX"]),
                    2 => push(&["WITHMATCHLEN"]),
                    3 => {
                        let v = g.int(-1, 4);
                        push(&["MINMATCHLEN", &v]);
                    }
                    _ => push(&[g.pick(&["MINMATCHLEN", "SOME"])]),
                }
            }
        }
        _ => push(&["STRLEN", &k]),
    }
    w
}

#[test]
fn bitmaps_and_lcs_as_redis_server() {
    let reset: &[&[&str]] = &[
        &["DEL", "{b}1", "{b}2", "{b}3", "{b}hash"],
        &["HSET", "{b}hash", "f", "v"],
    ];
    // After each seed, the values themselves, byte for byte.
    let answered = compare_streams(&[11, 2024, 77777], reset, random_bit_command, |o, t| {
        for k in BIT_KEYS {
            assert_eq!(o.cmd(&["GET", k]), t.cmd(&["GET", k]), "{k}");
        }
    });
    for name in [
        "setbit",
        "getbit",
        "bitcount",
        "bitpos",
        "bitop",
        "bitfield",
        "bitfield_ro",
        "lcs",
    ] {
        assert!(
            answered.contains(name),
            "{name} never answered without an error"
        );
    }
}

const HLL_KEYS: &[&str] = &["{h}1", "{h}2", "{h}3", "{h}missing"];

/// A HyperLogLog command, or a write that corrupts or replaces one.
///
/// Damaged values live under `{h}bad` (a copy of another key, then bytes
/// overwritten) and get one element per PFADD: a PFADD that finds a value
/// corrupted changes nothing on Tessera, where Redis keeps the registers
/// it set before finding it (docs/redis-compat.md).
fn random_hll_command(g: &mut Gen) -> Vec<String> {
    let k = match g.below(30) {
        0 => "{h}hash".to_string(),
        1 => "{h}str".to_string(),
        _ => g.pick(HLL_KEYS).to_string(),
    };
    let any = |g: &mut Gen| {
        g.pick(&["{h}1", "{h}2", "{h}3", "{h}missing", "{h}bad"])
            .to_string()
    };
    let mut w: Vec<String> = Vec::new();
    match g.below(44) {
        // Mostly adds: a few elements (sparse runs split and merge) or
        // many (the values turn dense), from pools that overlap.
        0..=19 => {
            w.extend(["PFADD".to_string(), k]);
            let n = match g.below(6) {
                0 => 0,
                1 => 300,
                _ => g.below(12) + 1,
            };
            let pool = g.below(4) * 5_000 + 1;
            for _ in 0..n {
                w.push(format!("e{}", g.below(pool * 20)));
            }
        }
        20..=27 => {
            w.push("PFCOUNT".to_string());
            for _ in 0..=g.below(3) {
                w.push(any(g));
            }
            if g.below(10) == 0 {
                w[1] = k;
            }
        }
        28..=32 => {
            w.push("PFMERGE".to_string());
            w.push(if g.below(5) == 0 { any(g) } else { k });
            for _ in 0..g.below(3) {
                w.push(any(g));
            }
        }
        33 => {
            let src = g.pick(&["{h}1", "{h}2", "{h}3"]).to_string();
            w.extend(["COPY".to_string(), src, "{h}bad".into(), "REPLACE".into()]);
        }
        // Damage: a header byte changed, a run cut short or replaced, an
        // extra byte.
        34 | 35 => {
            let at = g
                .pick(&["4", "15", "16", "17", "18", "40", "100", "12303"])
                .to_string();
            let byte = g
                .pick(&["\u{7f}", "\u{1}", "x", "\u{0}", "\u{40}"])
                .to_string();
            w.extend(["SETRANGE".to_string(), "{h}bad".into(), at, byte]);
        }
        36 | 37 => {
            let e = format!("e{}", g.below(100_000));
            w.extend(["PFADD".to_string(), "{h}bad".into(), e]);
        }
        38 => w.extend(["DEL".to_string(), k]),
        39..=41 => w.extend(["GET".to_string(), any(g)]),
        _ => w.extend(["STRLEN".to_string(), k]),
    }
    w
}

#[test]
fn hyperloglogs_as_redis_server() {
    let reset: &[&[&str]] = &[
        &["DEL", "{h}1", "{h}2", "{h}3", "{h}hash", "{h}str", "{h}bad"],
        &["HSET", "{h}hash", "f", "v"],
        &["SET", "{h}str", "HYLL is not enough"],
    ];
    // After each seed, the values byte for byte, and 50,000 more distinct
    // elements in `{h}big` (150,000 at the end): the same estimates.
    let mut next = 0;
    let answered = compare_streams(&[5, 808, 65537], reset, random_hll_command, |o, t| {
        for k in HLL_KEYS.iter().chain(&["{h}bad"]) {
            assert_eq!(o.cmd(&["GET", k]), t.cmd(&["GET", k]), "{k}");
        }
        for _ in 0..50 {
            let mut w = vec!["PFADD".to_string(), "{h}big".to_string()];
            w.extend((next..next + 1000).map(|i| format!("big:{i}")));
            next += 1000;
            let w: Vec<&str> = w.iter().map(|s| s.as_str()).collect();
            assert_eq!(o.cmd(&w), t.cmd(&w));
        }
        let count = o.cmd(&["PFCOUNT", "{h}big"]);
        assert_eq!(count, t.cmd(&["PFCOUNT", "{h}big"]));
        let R::Int(n) = count else {
            panic!("{count:?}")
        };
        assert!((n - next).abs() < next / 50, "{n} for {next}");
        let union = ["PFCOUNT", "{h}big", "{h}1", "{h}2"];
        assert_eq!(o.cmd(&union), t.cmd(&union));
        assert_eq!(o.cmd(&["GET", "{h}big"]), t.cmd(&["GET", "{h}big"]));
    });
    for name in ["pfadd", "pfcount", "pfmerge"] {
        assert!(
            answered.contains(name),
            "{name} never answered without an error"
        );
    }
}

const SORT_POOL: &[&str] = &["3", "10", "-1", "2.5", "7", "a", "b", "x", "0", "1e2"];

/// A SORT of `{s}l`, `{s}s` or `{s}z`, or a write to them. Each pool
/// element has a distinct `{s}w_<e>` (a number) and `{s}h_<e>` field `f`
/// (a word), so ALPHA by a pattern never ties (Redis's order of ties is
/// not defined there); sets are not read unsorted (their order is the
/// server's own) except into a STORE, which Redis sorts.
fn random_sort_command(g: &mut Gen) -> Vec<String> {
    let mut w: Vec<String> = Vec::new();
    let e = g.pick(SORT_POOL).to_string();
    match g.below(10) {
        0 => w.extend(["RPUSH".into(), "{s}l".into(), e]),
        1 => w.extend(["SADD".into(), "{s}s".into(), e]),
        2 => {
            let score = g.int(-3, 3);
            w.extend(["ZADD".into(), "{s}z".into(), score, e]);
        }
        3 => w.extend(["LRANGE".into(), "{s}dest".into(), "0".into(), "-1".into()]),
        _ => {
            let key = g.pick(&["{s}l", "{s}s", "{s}z", "{s}str", "{s}none"]);
            let ro = g.below(4) == 0;
            w.push(if ro { "SORT_RO" } else { "SORT" }.into());
            w.push(key.into());
            let alpha = g.below(3) == 0;
            let mut nosort = false;
            match g.below(5) {
                0 => w.extend(["BY".into(), "{s}w_*".into()]),
                1 => w.extend(["BY".into(), "{s}h_*->f".into()]),
                2 if !alpha => w.extend(["BY".into(), "{s}missing_*".into()]),
                3 => {
                    w.extend(["BY".into(), "nosort".into()]);
                    nosort = true;
                }
                _ => {}
            }
            if g.below(3) == 0 {
                let (o, c) = (g.int(-1, 4), g.int(-1, 5));
                w.extend(["LIMIT".into(), o, c]);
            }
            for _ in 0..g.below(3) {
                let p = g.pick(&[
                    "#",
                    "{s}w_*",
                    "{s}h_*->f",
                    "{s}h_*->",
                    "nostar",
                    "{s}none_*",
                ]);
                w.extend(["GET".into(), p.into()]);
            }
            if g.below(2) == 0 {
                w.push(g.pick(&["ASC", "DESC", "desc"]).into());
            }
            if alpha {
                w.push("ALPHA".into());
            }
            let store = !ro && g.below(3) == 0;
            if store {
                w.extend(["STORE".into(), "{s}dest".into()]);
            }
            // A set read unsorted comes in the server's own order.
            if nosort && key == "{s}s" && !store {
                w[1] = "{s}l".into();
            }
        }
    }
    w
}

#[test]
fn sort_as_redis_server() {
    let mut reset: Vec<Vec<String>> = vec![vec![
        "DEL".into(),
        "{s}l".into(),
        "{s}s".into(),
        "{s}z".into(),
        "{s}dest".into(),
    ]];
    reset.push(vec!["SET".into(), "{s}str".into(), "x".into()]);
    for (i, e) in SORT_POOL.iter().enumerate() {
        let n = (i * 7 % SORT_POOL.len()).to_string();
        reset.push(vec!["SET".into(), format!("{{s}}w_{e}"), n]);
        let word = format!("{}{e}", (b'a' + (i * 3 % SORT_POOL.len()) as u8) as char);
        reset.push(vec!["HSET".into(), format!("{{s}}h_{e}"), "f".into(), word]);
    }
    let words: Vec<Vec<&str>> = reset
        .iter()
        .map(|c| c.iter().map(|s| s.as_str()).collect())
        .collect();
    let reset: Vec<&[&str]> = words.iter().map(|c| c.as_slice()).collect();
    let answered = compare_streams(&[3, 4040, 90001], &reset, random_sort_command, |o, t| {
        for k in ["{s}dest", "{s}l"] {
            let w = ["LRANGE", k, "0", "-1"];
            assert_eq!(o.cmd(&w), t.cmd(&w), "{k}");
        }
        // A pattern whose keys leave the sorted key's slot is refused on
        // Tessera (redis-server, one keyspace, reads them).
        o.cmd(&["RPUSH", "{s}l", "1"]);
        let e = o.cmd(&["SORT", "{s}l", "BY", "w_*"]);
        assert!(
            matches!(&e, R::Err(m) if m.contains("outside the sorted key's slot")),
            "{e:?}"
        );
    });
    for name in ["sort", "sort_ro"] {
        assert!(
            answered.contains(name),
            "{name} never answered without an error"
        );
    }
}

const GEO_MEMBERS: &[&str] = &["a", "b", "c", "d", "pole", "none"];

/// A geo command over `{g}1` (or a key of another type), with random
/// coordinates, the edges of the geohash's ranges and bad ones.
fn random_geo_command(g: &mut Gen) -> Vec<String> {
    let key = if g.below(20) == 0 { "{g}str" } else { "{g}1" }.to_string();
    let coord = |g: &mut Gen, max: f64| -> String {
        match g.below(12) {
            0 => format!("{max}"),
            1 => format!("-{max}"),
            2 => g.pick(&["200", "-85.06", "x", "inf", "0"]).to_string(),
            _ => format!(
                "{:.6}",
                (g.below(2_000_001) as f64 / 1_000_000.0 - 1.0) * max
            ),
        }
    };
    let mut w: Vec<String> = Vec::new();
    match g.below(14) {
        0..=2 => {
            w.extend(["GEOADD".into(), key]);
            if g.below(5) == 0 {
                w.push(g.pick(&["NX", "XX", "CH", "xx"]).into());
            }
            for _ in 0..=g.below(3) {
                let lon = coord(g, 180.0);
                let lat = coord(g, 85.05112878);
                w.extend([lon, lat, g.pick(GEO_MEMBERS).into()]);
            }
            if g.below(15) == 0 {
                w.pop();
            }
        }
        3 | 4 => {
            w.extend(["GEOPOS".into(), key]);
            for _ in 0..=g.below(3) {
                w.push(g.pick(GEO_MEMBERS).into());
            }
        }
        5 | 6 => {
            w.extend([
                "GEODIST".into(),
                key,
                g.pick(GEO_MEMBERS).into(),
                g.pick(GEO_MEMBERS).into(),
            ]);
            if g.below(2) == 0 {
                w.push(g.pick(&["m", "KM", "ft", "mi", "parsec"]).into());
            }
        }
        7 => {
            w.extend(["GEOHASH".into(), key]);
            for _ in 0..=g.below(3) {
                w.push(g.pick(GEO_MEMBERS).into());
            }
        }
        // A cluster of points near Palermo, so searches find several.
        8..=10 => {
            w.extend(["GEOADD".into(), "{g}1".into()]);
            for _ in 0..5 {
                let lon = format!("{:.6}", 13.0 + g.below(2_000_000) as f64 / 1_000_000.0);
                let lat = format!("{:.6}", 38.0 + g.below(1_000_000) as f64 / 1_000_000.0);
                w.extend([lon, lat, format!("p{}", g.below(60))]);
            }
        }
        // Searches (lower-case names: Redis's errors quote the name as typed).
        _ => {
            let store = g.below(4) == 0;
            if store {
                w.extend(["geosearchstore".into(), "{g}dest".into(), key]);
            } else {
                w.extend(["geosearch".into(), key]);
            }
            let mut opts: Vec<Vec<String>> = Vec::new();
            let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<String>>();
            match g.below(6) {
                0 => opts.push(s(&["FROMMEMBER", g.pick(&["p1", "p2", "a", "nope"])])),
                1 => opts.push(s(&["FROMLONLAT", "200", "1"])),
                5 => {}
                _ => {
                    let lon = format!("{:.4}", 13.0 + g.below(20_000) as f64 / 10_000.0);
                    let lat = format!("{:.4}", 38.0 + g.below(10_000) as f64 / 10_000.0);
                    opts.push(vec!["FROMLONLAT".into(), lon, lat]);
                }
            }
            let unit = g.pick(&["km", "m", "mi", "ft", "km", "parsec"]).to_string();
            match g.below(7) {
                0 => opts.push(vec!["BYBOX".into(), g.int(1, 150), g.int(1, 150), unit]),
                1 => opts.push(s(&["BYRADIUS", "-1", "km"])),
                2 => {}
                3 => opts.push(vec!["BYRADIUS".into(), g.int(0, 3000), "km".into()]),
                _ => opts.push(vec!["BYRADIUS".into(), g.int(1, 120), unit]),
            }
            if g.below(2) == 0 {
                opts.push(s(&[g.pick(&["ASC", "DESC"])]));
            }
            if g.below(3) == 0 {
                opts.push(vec!["COUNT".into(), g.int(-1, 8)]);
                if g.below(3) == 0 {
                    opts.push(s(&["ANY"]));
                }
            } else if g.below(20) == 0 {
                opts.push(s(&["ANY"]));
            }
            for o in ["WITHDIST", "WITHHASH", "WITHCOORD", "STOREDIST"] {
                if g.below(4) == 0 {
                    opts.push(s(&[o]));
                }
            }
            // Options in any order.
            for i in (1..opts.len()).rev() {
                opts.swap(i, g.below(i as u64 + 1) as usize);
            }
            w.extend(opts.into_iter().flatten());
        }
    }
    w
}

#[test]
fn geo_as_redis_server() {
    let reset: &[&[&str]] = &[&["DEL", "{g}1", "{g}dest"], &["SET", "{g}str", "x"]];
    let answered = compare_streams(&[17, 2718, 31415], reset, random_geo_command, |o, t| {
        for k in ["{g}1", "{g}dest"] {
            let w = ["ZRANGE", k, "0", "-1", "WITHSCORES"];
            assert_eq!(o.cmd(&w), t.cmd(&w));
        }
    });
    for name in [
        "geoadd",
        "geopos",
        "geodist",
        "geohash",
        "geosearch",
        "geosearchstore",
    ] {
        assert!(
            answered.contains(name),
            "{name} never answered without an error"
        );
    }
}
