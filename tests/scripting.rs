//! Lua scripting (EVAL, EVALSHA, EVAL_RO, SCRIPT): replies and errors
//! against redis-server's, to the letter; atomicity under concurrent
//! clients on every core; SCRIPT KILL of a busy script; script effects on
//! a replica.

mod common;

use std::time::{Duration, Instant};

use common::replication::{converge, replica_of};
use common::resp::{conn_on_core, Conn, R};
use common::Node;

/// Scripts (with their keys and arguments) whose replies must equal
/// redis-server's, error texts included.
const SAME: &[&[&str]] = &[
    &["EVAL", "return 1", "0"],
    &["EVAL", "return 'a'", "0"],
    &["EVAL", "return {1, 2, {3, 'x'}}", "0"],
    &["EVAL", "return {1, 2.7, 'a', true, false, nil, 3}", "0"],
    &["EVAL", "return 3.99", "0"],
    &["EVAL", "return -3.99", "0"],
    &["EVAL", "return nil", "0"],
    &["EVAL", "return true", "0"],
    &["EVAL", "return false", "0"],
    &["EVAL", "return {KEYS[1], KEYS[2], ARGV[1], ARGV[2], #ARGV}", "2", "{s}a", "{s}b", "x", "y"],
    &["EVAL", "return redis.call('set', KEYS[1], ARGV[1])", "1", "{s}k", "v"],
    &["EVAL", "return redis.call('get', KEYS[1])", "1", "{s}k"],
    &["EVAL", "return redis.call('get', KEYS[1])", "1", "{s}missing"],
    &["EVAL", "return redis.call('incr', KEYS[1])", "1", "{s}k"],
    &["EVAL", "local a = 1\nlocal b = 2\nreturn redis.call('incr', KEYS[1])", "1", "{s}k"],
    &["EVAL", "return redis.pcall('incr', KEYS[1])", "1", "{s}k"],
    &["EVAL", "local r = redis.pcall('incr', KEYS[1]); return r.err", "1", "{s}k"],
    &["EVAL", "return redis.pcall('lpush', KEYS[1], 'x')", "1", "{s}k"],
    &["EVAL", "redis.call('hset', KEYS[1], 'f', 'v', 'g', 'w'); return redis.call('hgetall', KEYS[1])", "1", "{s}h"],
    &["EVAL", "redis.call('zadd', KEYS[1], 1.5, 'a', 2, 'b'); return redis.call('zrange', KEYS[1], 0, -1, 'withscores')", "1", "{s}z"],
    &["EVAL", "return redis.call('set', KEYS[1], 42)", "1", "{s}n"],
    &["EVAL", "return redis.call('incrby', KEYS[1], 8)", "1", "{s}n"],
    &["EVAL", "return redis.call('type', KEYS[1])", "1", "{s}n"],
    &["EVAL", "return redis.call('set', KEYS[1], {})", "1", "{s}n"],
    &["EVAL", "return redis.call('rpush', KEYS[1], 'a', 'b') + redis.call('llen', KEYS[1])", "1", "{s}l"],
    &["EVAL", "return x", "0"],
    &["EVAL", "x = 1", "0"],
    &["EVAL", "error('boom')", "0"],
    &["EVAL", "\n\nerror('on line three')", "0"],
    &["EVAL", "return redis.error_reply('MY bad')", "0"],
    &["EVAL", "return redis.status_reply('X')", "0"],
    &["EVAL", "return {err='XX y'}", "0"],
    &["EVAL", "return {ok='FINE'}", "0"],
    &["EVAL", "return redis.call('nosuch')", "0"],
    &["EVAL", "return redis.call('get')", "0"],
    &["EVAL", "return redis.call('blpop', 'x', 0)", "0"],
    &["EVAL", "return redis.sha1hex('')", "0"],
    &["EVAL", "return redis.sha1hex('abc')", "0"],
    &["EVAL", "return redis.call('ping')", "0"],
    &["EVAL", "return pcall(function() error({err='E1'}) end)", "0"],
    &["EVAL", "return type(redis)", "0"],
    &["EVAL", "return cjson.encode({1, 2, {a = 1}})", "0"],
    &["EVAL", "return cjson.encode({})", "0"],
    &["EVAL", "return cjson.decode('[1, 2, \"x\"]')[3]", "0"],
    &["EVAL", "return cjson.encode(cjson.decode('{\"a\":[1,2.5,null]}'))", "0"],
    &["EVAL", "return cjson.decode('[null]')[1] == cjson.null", "0"],
    &["EVAL", "return string.format('%d-%s', 7, 'x') .. table.concat({1, 2}, ',') .. math.floor(2.5)", "0"],
    &["EVAL", "return cmsgpack.pack(1, -1, 300, -40000, 2^40, 1.5, 0.1, '', 'abc', true, false)", "0"],
    &["EVAL", "return cmsgpack.pack({1, 2, {3, 'x'}}, {a = 1}, {})", "0"],
    &["EVAL", "return {cmsgpack.unpack(cmsgpack.pack(7, 'x', {1, 2, {3}}, true, 2.5))}", "0"],
    &["EVAL", "return cmsgpack.unpack(cmsgpack.pack({k = 'v'})).k", "0"],
    &["EVAL", "return {cmsgpack.unpack(ARGV[1])}", "0", "\u{93}\u{1}\u{2}\u{a1}x"],
    &["EVAL", "return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3))}", "0"],
    &["EVAL", "return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 2)}", "0"],
    &["EVAL", "return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2)}", "0"],
    &["EVAL", "return {cmsgpack.unpack_one(cmsgpack.pack(1))}", "0"],
    &["EVAL", "return cmsgpack.unpack(string.char(0x93, 1))", "0"],
    &["EVAL", "return cmsgpack.unpack_one(cmsgpack.pack(1), 5)", "0"],
    &["EVAL", "return cmsgpack.pack()", "0"],
    &["EVAL", "return {bit.band(0xff, 0x0f, 0x3c), bit.bor(1, 2, 4), bit.bxor(5, 3), bit.bnot(0)}", "0"],
    &["EVAL", "return {bit.lshift(1, 31), bit.rshift(-1, 28), bit.arshift(-256, 4), bit.lshift(1, 33)}", "0"],
    &["EVAL", "return {bit.rol(0x12345678, 8), bit.ror(0x12345678, 8), bit.bswap(0x12345678)}", "0"],
    &["EVAL", "return {bit.tobit(0xffffffff), bit.tobit(2^32 + 5), bit.tobit(-1)}", "0"],
    &["EVAL", "return {bit.tohex(255), bit.tohex(-1, -4), bit.tohex(0x1234, 2), bit.tohex(1, 12)}", "0"],
    &["EVAL", "return struct.pack('>bBhHlLTiI2i8', -1, 255, -2, 65535, -3, 4, 5, -6, 7, -8)", "0"],
    &["EVAL", "return struct.pack('<i3 I5 x c3 s c0 f d', -70000, 2^33, 'abcdef', 'zz', 'whole', 1.5, -0.25)", "0"],
    &["EVAL", "return struct.pack('!4 b i !2 b h !8 b d', 1, 2, 3, 4, 5, 6)", "0"],
    &["EVAL", "return {struct.unpack('>bBhHi3I5', struct.pack('>bBhHi3I5', -1, 255, -2, 65535, -70000, 2^33))}", "0"],
    &["EVAL", "return {struct.unpack('<s c2 b c0 x', struct.pack('<s c2 b c0 x', 'hi', 'xy', 3, 'abc'))}", "0"],
    &["EVAL", "return {struct.unpack('>b', struct.pack('>bb', 1, 2), 2)}", "0"],
    &["EVAL", "return {struct.unpack('!8 b d', struct.pack('!8 b d', 1, 2.5))}", "0"],
    &["EVAL", "return {struct.unpack('<f', struct.pack('<f', 1.5))}", "0"],
    &["EVAL", "return {struct.size('>bhi'), struct.size('!8 b d'), struct.size('c5 z')}", "0"],
    &["EVAL", "return struct.pack('q', 1)", "0"],
    &["EVAL", "return struct.pack('i33', 1)", "0"],
    &["EVAL", "return struct.pack('!3 i', 1)", "0"],
    &["EVAL", "return struct.pack('i')", "0"],
    &["EVAL", "return struct.pack('i', 'x')", "0"],
    &["EVAL", "return struct.pack('c5', 'ab')", "0"],
    &["EVAL", "return struct.unpack('i', 'ab')", "0"],
    &["EVAL", "return struct.unpack('s', 'abc')", "0"],
    &["EVAL", "return struct.unpack('c0', 'abc')", "0"],
    &["EVAL", "return struct.unpack('b', 'abc', 0)", "0"],
    &["EVAL", "return struct.size('s')", "0"],
    &["EVAL", "return struct.size('c0')", "0"],
    &["EVAL", "return struct.pack('i99999999999', 1)", "0"],
    &["EVAL", "#!lua\nreturn redis.call('set', KEYS[1], 'x')", "1", "{s}sb"],
    &["EVAL", "#!lua flags=no-writes\nreturn redis.call('get', KEYS[1])", "1", "{s}sb"],
    &["EVAL", "#!lua flags=no-writes\nreturn redis.call('set', KEYS[1], 'y')", "1", "{s}sb"],
    &["EVAL", "#!lua flags=no-writes,allow-stale\nreturn 2", "0"],
    &["EVAL", "#!lua   flags=allow-oom  \nreturn 3", "0"],
    &["EVAL", "#!lua flags=\nreturn 4", "0"],
    &["EVAL_RO", "#!lua\nreturn 1", "0"],
    &["EVAL_RO", "#!lua flags=no-writes\nreturn redis.call('get', KEYS[1])", "1", "{s}sb"],
    &["EVAL", "#!python\nreturn 1", "0"],
    &["EVAL", "#!lua flags=bogus\nreturn 1", "0"],
    &["EVAL", "#!lua flags=no-writes,bogus\nreturn 1", "0"],
    &["EVAL", "#!lua foo=bar\nreturn 1", "0"],
    &["EVAL", "#!lua", "0"],
    &["EVAL", "#!\nreturn 1", "0"],
    &["EVAL", "#!lua\n\nerror('on line three')", "0"],
    &["SCRIPT", "LOAD", "#!lua flags=bogus\nreturn 1"],
    &["EVAL_RO", "return redis.call('set', KEYS[1], 1)", "1", "{s}k"],
    &["EVAL_RO", "return redis.call('get', KEYS[1])", "1", "{s}k"],
    &["EVAL", "return 1", "-1"],
    &["EVAL", "return 1", "3", "a"],
    &["EVAL", "return 1", "x"],
    &["EVAL", "retur 1", "0"],
    &["EVALSHA", "ffffffffffffffffffffffffffffffffffffffff", "0"],
    &["SCRIPT", "LOAD", "return 'loaded'"],
    &["EVALSHA", "b534286061d4b9e4026607613b95c06c06015ae8", "0"],
    &["SCRIPT", "EXISTS", "b534286061d4b9e4026607613b95c06c06015ae8", "ffff"],
    &["SCRIPT", "LOAD", "retur 1"],
    &["SCRIPT", "FLUSH", "BOGUS"],
    &["SCRIPT", "FLUSH"],
    &["SCRIPT", "EXISTS", "b534286061d4b9e4026607613b95c06c06015ae8"],
    &["EVALSHA", "b534286061d4b9e4026607613b95c06c06015ae8", "0"],
    &["SCRIPT", "KILL"],
];

#[test]
fn scripts_answer_as_redis_server_does() {
    let (_servers, mut ours, mut theirs) = common::beside_redis();
    // The SHA-1 of `return 'loaded'`, which SCRIPT LOAD answers.
    assert_eq!(
        theirs.cmd(&["SCRIPT", "LOAD", "return 'loaded'"]),
        R::bulk("b534286061d4b9e4026607613b95c06c06015ae8")
    );
    theirs.cmd(&["SCRIPT", "FLUSH"]);
    for words in SAME {
        let (a, b) = (ours.cmd(words), theirs.cmd(words));
        assert_eq!(a, b, "{words:?}");
    }
    // EVAL inside MULTI, with other commands.
    for c in [&mut ours, &mut theirs] {
        assert_eq!(c.cmd(&["MULTI"]), R::ok());
        c.cmd(&["INCR", "{s}m"]);
        c.cmd(&[
            "EVAL",
            "return redis.call('incrby', KEYS[1], 10)",
            "1",
            "{s}m",
        ]);
        c.cmd(&["EVAL", "return redis.call('incr', KEYS[1])", "1", "{s}k"]);
    }
    assert_eq!(ours.cmd(&["EXEC"]), theirs.cmd(&["EXEC"]));
}

#[test]
fn scripts_refuse_keys_outside_their_slot() {
    let n = Node::start(2);
    let mut c = Conn::connect(n.resp_addr());
    // Declared keys in two slots (`a` and `b` on both cores): one commit
    // across them, which may touch the declared keys and those of the
    // first key's partition, but not an undeclared key elsewhere (`c`).
    assert_eq!(c.cmd(&["EVAL", "return 1", "2", "a", "b"]), R::Int(1));
    let r = c.cmd(&[
        "EVAL",
        "redis.call('set', KEYS[2], 1); return redis.call('set', 'c', 1)",
        "2",
        "a",
        "b",
    ]);
    assert!(
        matches!(&r, R::Err(e) if e.starts_with("ERR Script attempted to access a non local key")),
        "{r:?}"
    );
    assert_eq!(c.cmd(&["EXISTS", "c"]), R::Int(0));
    // An undeclared key of another slot: refused, and the script's error.
    let r = c.cmd(&["EVAL", "return redis.call('set', 'other', 1)", "1", "{s}k"]);
    assert!(
        matches!(&r, R::Err(e) if e.starts_with("ERR Script attempted to access a non local key")),
        "{r:?}"
    );
    assert_eq!(c.cmd(&["EXISTS", "other"]), R::Int(0));
    // A script that declares no keys touches none.
    let r = c.cmd(&["EVAL", "return redis.call('get', 'any')", "0"]);
    assert!(
        matches!(&r, R::Err(e) if e.starts_with("ERR Script attempted to access a non local key")),
        "{r:?}"
    );
    // A failed script keeps the writes made before the error, as Redis.
    let r = c.cmd(&[
        "EVAL",
        "redis.call('set', KEYS[1], 'kept'); redis.call('incr', KEYS[1])",
        "1",
        "{s}k",
    ]);
    assert!(matches!(r, R::Err(_)));
    assert_eq!(c.cmd(&["GET", "{s}k"]), R::bulk("kept"));
}

/// Scripts moving units between two counters on both cores, with readers
/// checking that the sum never moves: every script is atomic.
#[test]
fn scripts_are_atomic_under_concurrent_clients() {
    let n = Node::start(2);
    let addr = n.resp_addr();
    let pairs = [("{p}a", "{p}b"), ("{q}a", "{q}b")];
    let mut c = Conn::connect(addr);
    for (a, b) in pairs {
        assert_eq!(c.cmd(&["MSET", a, "1000", b, "0"]), R::ok());
    }
    let mover = "local n = tonumber(ARGV[1])\n\
                 redis.call('decrby', KEYS[1], n)\n\
                 redis.call('incrby', KEYS[2], n)\n\
                 return redis.call('get', KEYS[1])";
    let sum = "return tonumber(redis.call('get', KEYS[1])) + tonumber(redis.call('get', KEYS[2]))";
    let threads: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                let mut c = Conn::connect(addr);
                let (a, b) = pairs[t % 2];
                let mut checked = 0;
                for i in 0..400 {
                    if t >= 2 {
                        // Readers: the sum is 1000 whenever they look.
                        assert_eq!(c.cmd(&["EVAL", sum, "2", a, b]), R::Int(1000));
                        checked += 1;
                    } else {
                        let (from, to) = if i % 3 == 0 { (b, a) } else { (a, b) };
                        let r = c.cmd(&["EVAL", mover, "2", from, to, "1"]);
                        assert!(matches!(r, R::Bulk(_)), "{r:?}");
                    }
                }
                checked
            })
        })
        .collect();
    let checked: i32 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(checked, 800);
    for (a, b) in pairs {
        let R::Array(v) = c.cmd(&["MGET", a, b]) else {
            panic!()
        };
        let total: i64 = v
            .iter()
            .map(|x| match x {
                R::Bulk(b) => String::from_utf8_lossy(b).parse::<i64>().unwrap(),
                other => panic!("{other:?}"),
            })
            .sum();
        assert_eq!(total, 1000);
    }
}

/// SCRIPT KILL from a connection on the other core stops a script that
/// never ends (one without keys runs on its connection's core), and that
/// core answers again.
#[test]
fn script_kill_stops_a_busy_script() {
    let n = Node::start(2);
    let addr = n.resp_addr();
    let mut killer = conn_on_core(addr, 1);
    assert_eq!(killer.cmd(&["SCRIPT", "KILL"]).err_word(), Some("NOTBUSY"));
    let busy = std::thread::spawn(move || {
        let mut c = conn_on_core(addr, 0);
        let r = c.cmd(&["EVAL", "local n = 0 while true do n = n + 1 end", "0"]);
        (r, c.cmd(&["PING"]))
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match killer.cmd(&["SCRIPT", "KILL"]) {
            R::Simple(s) if s == "OK" => break,
            R::Err(e) if e.starts_with("NOTBUSY") => {
                assert!(Instant::now() < deadline, "the script never ran");
                std::thread::sleep(Duration::from_millis(5));
            }
            other => panic!("{other:?}"),
        }
    }
    let (r, ping) = busy.join().unwrap();
    assert_eq!(
        r,
        R::Err("ERR Script killed by user with SCRIPT KILL...".into())
    );
    assert_eq!(ping, R::Simple("PONG".into()));
    assert_eq!(killer.cmd(&["SCRIPT", "KILL"]).err_word(), Some("NOTBUSY"));
}

/// A replica gets a script's effects, runs EVAL_RO, and refuses EVAL
/// (which may write).
#[test]
fn a_replica_applies_script_effects() {
    let primary = Node::start_in(tempfile::tempdir().unwrap(), |c| {
        c.cores = Some(2);
        c.partitions = Some(2);
    });
    let mut p = Conn::connect(primary.resp_addr());
    let replica = replica_of(&primary, tempfile::tempdir().unwrap());
    let mut r = Conn::connect(replica.resp_addr());
    let script = "for i = 1, tonumber(ARGV[1]) do redis.call('rpush', KEYS[1], i) end\n\
                  redis.call('hset', KEYS[2], 'n', redis.call('llen', KEYS[1]))\n\
                  return redis.call('lrange', KEYS[1], 0, -1)";
    let want = R::arr(&["1", "2", "3"]);
    assert_eq!(p.cmd(&["EVAL", script, "2", "{e}l", "{e}h", "3"]), want);
    converge(&mut r, &["LRANGE", "{e}l", "0", "-1"], &want);
    converge(&mut r, &["HGET", "{e}h", "n"], &R::bulk("3"));
    assert_eq!(
        r.cmd(&[
            "EVAL_RO",
            "return redis.call('hget', KEYS[1], 'n')",
            "1",
            "{e}h"
        ]),
        R::bulk("3")
    );
    let refused = r.cmd(&["EVAL", "return redis.call('get', KEYS[1])", "1", "{e}x"]);
    assert!(
        matches!(&refused, R::Err(e) if e.starts_with("READONLY")),
        "{refused:?}"
    );
    // A script whose shebang declares `no-writes` reads only: the replica
    // runs it with EVAL and (once cached) EVALSHA, as Redis does; a
    // shebang without it is a write there.
    let reader = "#!lua flags=no-writes\nreturn redis.call('hget', KEYS[1], 'n')";
    assert_eq!(r.cmd(&["EVAL", reader, "1", "{e}h"]), R::bulk("3"));
    let sha = match r.cmd(&["SCRIPT", "LOAD", reader]) {
        R::Bulk(b) => String::from_utf8(b).unwrap(),
        other => panic!("SCRIPT LOAD: {other:?}"),
    };
    assert_eq!(r.cmd(&["EVALSHA", &sha, "1", "{e}h"]), R::bulk("3"));
    let writer = r.cmd(&["EVAL", "#!lua\nreturn 1", "0"]);
    assert!(
        matches!(&writer, R::Err(e) if e.starts_with("READONLY")),
        "{writer:?}"
    );
    drop(replica);
}

/// Keys whose slots are on core 0 and on core 1 of a 2-partition node.
fn keys_of_both_cores() -> (String, String) {
    let on = |half: bool| {
        (0..)
            .map(|i| format!("k{i}"))
            .find(|k| (tessera::slot::key_slot(k.as_bytes()) >= 8192) == half)
            .unwrap()
    };
    (on(false), on(true))
}

/// Past `busy-reply-threshold`, requests for the core running a script
/// are answered BUSY at once by the other cores (whose own keys are still
/// served); SCRIPT KILL ends the script and the core's keys are served
/// again.
#[test]
fn a_busy_core_is_answered_with_busy() {
    let n = Node::start(2);
    let addr = n.resp_addr();
    let (k0, k1) = keys_of_both_cores();
    let mut other = conn_on_core(addr, 1);
    assert_eq!(
        other.cmd(&["CONFIG", "GET", "busy-reply-threshold"]),
        R::arr(&["busy-reply-threshold", "5000"])
    );
    assert_eq!(
        other.cmd(&["CONFIG", "SET", "busy-reply-threshold", "0"]),
        R::ok()
    );
    assert_eq!(
        other.cmd(&["CONFIG", "GET", "lua-time-limit"]),
        R::arr(&["lua-time-limit", "0"])
    );
    assert_eq!(other.cmd(&["GET", &k0]), R::Nil, "core 0 is free");
    // Probes on core 1, opened while core 0 still accepts. A probe whose
    // GET reached core 0 just before the script started waits there until
    // the script ends (only requests arriving later are answered BUSY), so
    // it is left behind and the next one is used.
    let mut probes: Vec<Conn> = (0..4).map(|_| conn_on_core(addr, 1)).collect();
    for p in &probes {
        p.set_read_timeout(Duration::from_millis(500));
    }
    let busy = std::thread::spawn(move || {
        let mut c = conn_on_core(addr, 0);
        c.cmd(&["EVAL", "local n = 0 while true do n = n + 1 end", "0"])
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < deadline, "the script never ran");
        let probe = probes.last_mut().expect("a probe left");
        match probe.try_cmd(&["GET", &k0]) {
            Some(R::Nil) => std::thread::sleep(Duration::from_millis(5)),
            None => drop(probes.pop()),
            Some(R::Err(e)) => {
                assert_eq!(
                    e,
                    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
                );
                break;
            }
            Some(r) => panic!("{r:?}"),
        }
    }
    assert_eq!(other.cmd(&["MGET", &k0, &k1]).err_word(), Some("BUSY"));
    assert_eq!(other.cmd(&["SET", &k1, "v"]), R::ok());
    assert_eq!(other.cmd(&["GET", &k1]), R::bulk("v"));
    assert_eq!(other.cmd(&["SCRIPT", "KILL"]), R::ok());
    assert_eq!(
        busy.join().unwrap(),
        R::Err("ERR Script killed by user with SCRIPT KILL...".into())
    );
    assert_eq!(other.cmd(&["GET", &k0]), R::Nil);
}
