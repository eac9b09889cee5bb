//! Functions (FUNCTION, FCALL, FCALL_RO): replies and errors against
//! redis-server's, to the letter; libraries moving both ways with FUNCTION
//! DUMP and RESTORE; libraries surviving a restart; functions on every
//! core, FUNCTION KILL and STATS of a busy one; and nodes in one process
//! keeping their libraries (and SCRIPT KILL) apart.

mod common;

use std::time::{Duration, Instant};

use common::replication::replica_of;
use common::resp::{conn_on_core, Conn, R};
use common::Node;

/// A library of one function per kind of reply and error.
const LIB: &str = "#!lua name=mylib
redis.register_function('f1', function(keys, args) return redis.call('set', keys[1], args[1]) end)
redis.register_function('bad', function(keys, args)
    return redis.call('incr', keys[1]) end)
redis.register_function{function_name='ro', callback=function(keys, args) return redis.call('set', keys[1], 'x') end, flags={'no-writes'}}
redis.register_function('e', function(k, a) error('boom') end)
redis.register_function('kv', function(k, a) return {#k, #a, k[1], a[1]} end)
redis.register_function{function_name='rd', callback=function(keys, args) return redis.call('get', keys[1]) end, flags={'no-writes', 'allow-stale'}, description='reads'}
redis.register_function('g', function() return type(redis.call) .. type(error) .. type(cjson) end)
redis.register_function('h', function(k, a) y = 1 end)
redis.register_function('nokeys', function(k, a) return KEYS end)";

/// Commands whose replies must equal redis-server's, error texts included
/// (`LIB` is loaded first; FUNCTION LIST is compared on libraries of one
/// function, since Redis lists a library's functions in hash order).
const SAME: &[&[&str]] = &[
    &["SET", "{f}s", "abc"],
    &["FCALL", "f1", "1", "{f}k", "v"],
    &["FCALL_RO", "rd", "1", "{f}k"],
    &["FCALL_RO", "f1", "1", "{f}k", "v"],
    &["FCALL", "nope", "0"],
    &["FCALL", "bad", "1", "{f}s"],
    &["FCALL", "ro", "1", "{f}s"],
    &["FCALL", "e", "0"],
    &["FCALL", "kv", "2", "{f}a", "{f}b", "c"],
    &["FCALL", "g", "0"],
    &["FCALL", "h", "0"],
    &["FCALL", "nokeys", "0"],
    &["FCALL"],
    &["FCALL", "kv"],
    &["FCALL", "kv", "x"],
    &["FCALL", "kv", "5", "a"],
    &["FCALL", "kv", "-1", "a"],
    &["FUNCTION", "LOAD", "return 1"],
    &["FUNCTION", "LOAD", "#!lua name=mylib\nreturn 1"],
    &["FUNCTION", "LOAD", "#!lua name=x\nreturn 1"],
    &["FUNCTION", "LOAD", "#!foo name=x\nreturn 1"],
    &["FUNCTION", "LOAD", "#!lua name=x-y\nreturn 1"],
    &["FUNCTION", "LOAD", "#!lua name=l2 foo=bar\nreturn 1"],
    &["FUNCTION", "LOAD", "#!lua name=l2 name=l3\nreturn 1"],
    &["FUNCTION", "LOAD", "#!lua\nreturn 1"],
    &["FUNCTION", "LOAD", "#!lua name=l2\nredis.register_function('f1', function() return 1 end)"],
    &["FUNCTION", "LOAD", "#!lua name=l2\nredis.call('ping')"],
    &["FUNCTION", "LOAD", "#!lua name=l2\nlocal x = ("],
    &["FUNCTION", "LOAD", "#!lua name=l2\nerror('x')"],
    &["FUNCTION", "LOAD", "#!lua name=l2\nlocal t = redis.setresp"],
    &["FUNCTION", "LOAD", "#!lua name=l2\nx = 1"],
    &["FUNCTION", "LOAD", "#!lua name=l2\nredis.register_function('a-b', function() return 1 end)"],
    &["FUNCTION", "LOAD", "#!lua name=l2\nredis.register_function{function_name='z', callback=function() return 1 end, flags={'bogus'}}"],
    &["FUNCTION", "LOAD", "#!lua name=l2\nredis.register_function{function_name='z', callback=function() return 1 end, foo=1}"],
    &["FUNCTION", "LOAD", "#!lua name=l2\nredis.register_function('z')"],
    &["FUNCTION", "LOAD", "#!lua name=l2\nredis.register_function('z', 1)"],
    &["FUNCTION", "LOAD", "#!lua name=l2\nredis.register_function{function_name='z'}"],
    &["FUNCTION", "LOAD", "#!lua name=l2\nredis.register_function{callback=function() return 1 end}"],
    &["FUNCTION", "LOAD", "#!lua name=l2\nredis.register_function()"],
    &["FUNCTION", "LOAD", "#!lua name=l2\nredis.register_function('z', function() end)\nredis.register_function('z', function() end)"],
    &["FUNCTION", "LOAD", "#!lua name=l2\nwhile true do end"],
    &["FUNCTION", "LOAD", "#!lua name=l2\nlocal function helper() return 5 end\nredis.register_function{function_name='z', callback=function() return helper() end, description='five'}"],
    &["FCALL", "z", "0"],
    &["FUNCTION", "LIST", "LIBRARYNAME", "l2", "WITHCODE"],
    &["FUNCTION", "LIST", "LIBRARYNAME", "zz"],
    &["FUNCTION", "LIST", "LIBRARYNAME"],
    &["FUNCTION", "LIST", "BOGUS"],
    &["FUNCTION", "LIST", "WITHCODE", "WITHCODE"],
    &["FUNCTION", "LOAD", "#!lua name=l2\nredis.register_function('z', function() return 1 end)"],
    &["FUNCTION", "LOAD", "REPLACE", "#!lua name=l2\nredis.register_function('z', function() return 'replaced' end)"],
    &["FCALL", "z", "0"],
    &["FUNCTION", "LOAD", "REPLACE", "#!lua name=l3\nredis.register_function('z', function() return 2 end)"],
    &["FUNCTION", "LOAD", "BOGUS", "#!lua name=l3"],
    &["FUNCTION", "STATS"],
    &["FUNCTION", "DELETE", "nope"],
    &["FUNCTION", "DELETE", "l2"],
    &["FCALL", "z", "0"],
    &["FUNCTION", "RESTORE", "abc"],
    &["FUNCTION", "RESTORE", "abc", "BOGUS"],
    &["FUNCTION", "FLUSH", "BOGUS"],
    &["FUNCTION", "KILL"],
    &["FUNCTION", "BOGUS"],
    &["FUNCTION", "FLUSH"],
    &["FUNCTION", "LIST"],
    &["FCALL", "f1", "0"],
    &["FUNCTION", "STATS"],
];

#[test]
fn functions_answer_as_redis_server_does() {
    let (_servers, mut ours, mut theirs) = common::beside_redis();
    for c in [&mut ours, &mut theirs] {
        assert_eq!(c.cmd(&["FUNCTION", "LOAD", LIB]), R::bulk("mylib"));
    }
    for words in SAME {
        let (a, b) = (ours.cmd(words), theirs.cmd(words));
        assert_eq!(a, b, "{words:?}");
    }
    // FCALL inside MULTI, with other commands.
    for c in [&mut ours, &mut theirs] {
        c.cmd(&["FUNCTION", "LOAD", LIB]);
        assert_eq!(c.cmd(&["MULTI"]), R::ok());
        c.cmd(&["INCR", "{f}m"]);
        c.cmd(&["FCALL", "bad", "1", "{f}m"]);
        c.cmd(&["FCALL", "e", "0"]);
    }
    assert_eq!(ours.cmd(&["EXEC"]), theirs.cmd(&["EXEC"]));
}

/// FUNCTION DUMP's payload moves libraries from redis-server to Tessera
/// and back, with each RESTORE policy and Redis's errors.
#[test]
fn function_dumps_move_both_ways() {
    let (_servers, mut ours, mut theirs) = common::beside_redis();
    let second = "#!lua name=other\nredis.register_function('o', function() return 'other' end)";
    assert_eq!(theirs.cmd(&["FUNCTION", "LOAD", LIB]), R::bulk("mylib"));
    assert_eq!(theirs.cmd(&["FUNCTION", "LOAD", second]), R::bulk("other"));
    let R::Bulk(from_redis) = theirs.cmd(&["FUNCTION", "DUMP"]) else {
        panic!("no dump")
    };
    let restore = |c: &mut Conn, payload: &[u8], policy: &str| {
        let mut args: Vec<&[u8]> = vec![b"FUNCTION", b"RESTORE", payload];
        if !policy.is_empty() {
            args.push(policy.as_bytes());
        }
        c.cmd_bytes(&args)
    };
    assert_eq!(restore(&mut ours, &from_redis, ""), R::ok());
    assert_eq!(ours.cmd(&["FCALL", "o", "0"]), R::bulk("other"));
    assert_eq!(
        ours.cmd(&["FCALL", "kv", "1", "a", "b"]),
        theirs.cmd(&["FCALL", "kv", "1", "a", "b"])
    );
    // APPEND (the default) refuses a library that exists (either of the
    // two: the servers check them in different orders).
    for c in [&mut ours, &mut theirs] {
        let r = restore(c, &from_redis, "APPEND");
        assert!(
            [
                R::Err("ERR Library mylib already exists".into()),
                R::Err("ERR Library other already exists".into())
            ]
            .contains(&r),
            "{r:?}"
        );
    }
    let R::Bulk(from_us) = ours.cmd(&["FUNCTION", "DUMP"]) else {
        panic!("no dump")
    };
    for c in [&mut ours, &mut theirs] {
        assert_eq!(restore(c, &from_us, "REPLACE"), R::ok());
        assert_eq!(c.cmd(&["FUNCTION", "FLUSH"]), R::ok());
        assert_eq!(c.cmd(&["FCALL", "o", "0"]).err_word(), Some("ERR"));
        assert_eq!(restore(c, &from_us, ""), R::ok());
        assert_eq!(c.cmd(&["FCALL", "o", "0"]), R::bulk("other"));
        // FLUSH drops what was there first.
        c.cmd(&[
            "FUNCTION",
            "LOAD",
            "#!lua name=gone\nredis.register_function('gone', function() return 1 end)",
        ]);
        assert_eq!(restore(c, &from_us, "FLUSH"), R::ok());
        assert_eq!(
            c.cmd(&["FCALL", "gone", "0"]),
            R::Err("ERR Function not found".into())
        );
    }
    // A damaged payload, and a key's payload.
    let mut damaged = from_us.clone();
    damaged[3] ^= 1;
    let key_payload = {
        theirs.cmd(&["SET", "k", "v"]);
        let R::Bulk(p) = theirs.cmd(&["DUMP", "k"]) else {
            panic!()
        };
        p
    };
    for c in [&mut ours, &mut theirs] {
        assert_eq!(
            restore(c, &damaged, ""),
            R::Err("ERR DUMP payload version or checksum are wrong".into())
        );
        assert_eq!(
            restore(c, &key_payload, "REPLACE"),
            R::Err("ERR given type is not a function".into())
        );
    }
}

fn lib_with(name: &str, body: &str) -> String {
    format!("#!lua name={name}\nredis.register_function('{name}', function(keys, args) {body} end)")
}

/// Libraries persist in the data directory: they survive a restart, a
/// FLUSH is persisted too, and a damaged file stops the node with an error
/// instead of starting it without them.
#[test]
fn functions_survive_a_restart() {
    let node = Node::start_in(tempfile::tempdir().unwrap(), |c| c.cores = Some(2));
    let mut c = Conn::connect(node.resp_addr());
    let counter = lib_with("counter", "return redis.call('incrby', keys[1], args[1])");
    assert_eq!(c.cmd(&["FUNCTION", "LOAD", &counter]), R::bulk("counter"));
    let keep = lib_with("keep", "return 'kept'");
    assert_eq!(c.cmd(&["FUNCTION", "LOAD", &keep]), R::bulk("keep"));
    assert_eq!(c.cmd(&["FUNCTION", "DELETE", "keep"]), R::ok());
    assert_eq!(c.cmd(&["FCALL", "counter", "1", "n", "5"]), R::Int(5));
    let listed = c.cmd(&["FUNCTION", "LIST", "WITHCODE"]);
    drop(c);
    let dir = node.stop();
    let node = Node::start_in(dir, |c| c.cores = Some(2));
    let mut c = Conn::connect(node.resp_addr());
    assert_eq!(c.cmd(&["FUNCTION", "LIST", "WITHCODE"]), listed);
    // On both cores (keys of both partitions).
    for key in ["a", "b", "c", "d"] {
        assert_eq!(c.cmd(&["FCALL", "counter", "1", key, "2"]), R::Int(2));
    }
    assert_eq!(
        c.cmd(&["FCALL", "keep", "0"]),
        R::Err("ERR Function not found".into())
    );
    assert_eq!(c.cmd(&["FUNCTION", "FLUSH"]), R::ok());
    drop(c);
    let dir = node.stop();
    let node = Node::start_in(dir, |_| {});
    let mut c = Conn::connect(node.resp_addr());
    assert_eq!(c.cmd(&["FUNCTION", "LIST"]), R::Array(vec![]));
    c.cmd(&["FUNCTION", "LOAD", &counter]);
    drop(c);
    let dir = node.stop();
    let path = dir.path().join("functions");
    let mut raw = std::fs::read(&path).unwrap();
    let last = raw.len() - 1;
    raw[last] ^= 0xff;
    std::fs::write(&path, &raw).unwrap();
    let err = match tessera::start(common::config(dir.path(), 1)) {
        Ok(_) => panic!("started with a damaged functions file"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("functions") && err.contains("checksum"),
        "{err}"
    );
}

/// A function that never ends holds its core; FUNCTION STATS on the other
/// core names it, FUNCTION KILL stops it, and the core answers again.
#[test]
fn function_kill_stops_a_busy_function() {
    let n = Node::start(2);
    let addr = n.resp_addr();
    let mut other = conn_on_core(addr, 1);
    let spin = lib_with("spin", "local n = 0 while true do n = n + 1 end");
    assert_eq!(other.cmd(&["FUNCTION", "LOAD", &spin]), R::bulk("spin"));
    assert_eq!(other.cmd(&["FUNCTION", "KILL"]).err_word(), Some("NOTBUSY"));
    let busy = std::thread::spawn(move || {
        let mut c = conn_on_core(addr, 0);
        let r = c.cmd(&["FCALL", "spin", "0", "arg"]);
        (r, c.cmd(&["PING"]))
    });
    let running = wait_running(&mut other);
    let R::Array(fields) = running else {
        panic!("{running:?}")
    };
    assert_eq!(
        fields[..3],
        [R::bulk("name"), R::bulk("spin"), R::bulk("command")]
    );
    assert_eq!(fields[3], R::arr(&["FCALL", "spin", "0", "arg"]));
    assert_eq!(other.cmd(&["FUNCTION", "KILL"]), R::ok());
    let (r, ping) = busy.join().unwrap();
    assert_eq!(
        r,
        R::Err("ERR Script killed by user with SCRIPT KILL...".into())
    );
    assert_eq!(ping, R::Simple("PONG".into()));
    assert_eq!(other.cmd(&["FUNCTION", "KILL"]).err_word(), Some("NOTBUSY"));
}

/// Waits until FUNCTION STATS (asked on `c`) shows a running function;
/// its `running_script` entry.
fn wait_running(c: &mut Conn) -> R {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let R::Array(stats) = c.cmd(&["FUNCTION", "STATS"]) else {
            panic!("FUNCTION STATS is not an array")
        };
        if stats[1] != R::Nil {
            return stats[1].clone();
        }
        assert!(Instant::now() < deadline, "the function never ran");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Two nodes in one process: each has its own libraries, script cache and
/// running scripts (a busy function on one is not the other's to kill).
#[test]
fn nodes_in_one_process_keep_their_scripts_apart() {
    let a = Node::start(1);
    let b = Node::start(2);
    let mut ca = Conn::connect(a.resp_addr());
    let b_addr = b.resp_addr();
    let mut cb = conn_on_core(b_addr, 1);
    let only = lib_with("only_a", "return 'a'");
    assert_eq!(ca.cmd(&["FUNCTION", "LOAD", &only]), R::bulk("only_a"));
    assert_eq!(ca.cmd(&["FCALL", "only_a", "0"]), R::bulk("a"));
    assert_eq!(
        cb.cmd(&["FCALL", "only_a", "0"]),
        R::Err("ERR Function not found".into())
    );
    let R::Bulk(sha) = ca.cmd(&["SCRIPT", "LOAD", "return 7"]) else {
        panic!("SCRIPT LOAD")
    };
    let sha = String::from_utf8(sha).unwrap();
    assert_eq!(ca.cmd(&["EVALSHA", &sha, "0"]), R::Int(7));
    assert_eq!(cb.cmd(&["EVALSHA", &sha, "0"]).err_word(), Some("NOSCRIPT"));
    let spin = lib_with("spin", "local n = 0 while true do n = n + 1 end");
    assert_eq!(cb.cmd(&["FUNCTION", "LOAD", &spin]), R::bulk("spin"));
    let busy = std::thread::spawn(move || conn_on_core(b_addr, 0).cmd(&["FCALL", "spin", "0"]));
    wait_running(&mut cb);
    assert_eq!(ca.cmd(&["SCRIPT", "KILL"]).err_word(), Some("NOTBUSY"));
    assert_eq!(ca.cmd(&["FUNCTION", "KILL"]).err_word(), Some("NOTBUSY"));
    let R::Array(stats_a) = ca.cmd(&["FUNCTION", "STATS"]) else {
        panic!("FUNCTION STATS is not an array")
    };
    assert_eq!(stats_a[1], R::Nil, "node a runs no function");
    assert_eq!(cb.cmd(&["FUNCTION", "KILL"]), R::ok());
    assert_eq!(
        busy.join().unwrap(),
        R::Err("ERR Script killed by user with SCRIPT KILL...".into())
    );
}

/// Libraries do not replicate: a replica takes FUNCTION LOAD itself, runs
/// FCALL_RO and FCALL of `no-writes` functions on its copy of the data,
/// and refuses FCALL of the others (which may write).
#[test]
fn a_replica_loads_its_own_libraries() {
    let primary = Node::start_in(tempfile::tempdir().unwrap(), |c| c.cores = Some(2));
    let mut p = Conn::connect(primary.resp_addr());
    let replica = replica_of(&primary, tempfile::tempdir().unwrap());
    let mut r = Conn::connect(replica.resp_addr());
    let code = "#!lua name=both\n\
                redis.register_function{function_name='read', callback=function(k) return redis.call('get', k[1]) end, flags={'no-writes'}}\n\
                redis.register_function('write', function(k, a) return redis.call('set', k[1], a[1]) end)";
    for c in [&mut p, &mut r] {
        assert_eq!(c.cmd(&["FUNCTION", "LOAD", code]), R::bulk("both"));
    }
    assert_eq!(p.cmd(&["FCALL", "write", "1", "k", "v"]), R::ok());
    let deadline = Instant::now() + Duration::from_secs(30);
    while r.cmd(&["FCALL_RO", "read", "1", "k"]) != R::bulk("v") {
        assert!(Instant::now() < deadline, "the replica never got the write");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        r.cmd(&["FCALL", "write", "1", "k", "w"]).err_word(),
        Some("READONLY")
    );
    // FCALL of a `no-writes` function reads only: a replica runs it, as
    // Redis does.
    assert_eq!(r.cmd(&["FCALL", "read", "1", "k"]), R::bulk("v"));
    assert_eq!(p.cmd(&["GET", "k"]), R::bulk("v"));
}

/// A change that cannot be saved changes nothing: FUNCTION LOAD answers
/// the error and the node keeps the libraries it had (the temporary file's
/// path is taken by a directory, so writing it fails).
#[test]
fn a_change_that_cannot_be_saved_changes_nothing() {
    let node = Node::start_in(tempfile::tempdir().unwrap(), |_| {});
    let mut c = Conn::connect(node.resp_addr());
    let first = lib_with("first", "return 1");
    assert_eq!(c.cmd(&["FUNCTION", "LOAD", &first]), R::bulk("first"));
    let before = c.cmd(&["FUNCTION", "LIST", "WITHCODE"]);
    let blocker = node.dir.path().join("functions.tmp");
    std::fs::create_dir(&blocker).unwrap();
    let second = lib_with("second", "return 2");
    let r = c.cmd(&["FUNCTION", "LOAD", &second]);
    assert!(
        matches!(&r, R::Err(e) if e.contains("cannot save the functions")),
        "{r:?}"
    );
    assert_eq!(c.cmd(&["FUNCTION", "FLUSH"]).err_word(), r.err_word());
    assert_eq!(c.cmd(&["FUNCTION", "LIST", "WITHCODE"]), before);
    assert_eq!(
        c.cmd(&["FCALL", "second", "0"]),
        R::Err("ERR Function not found".into())
    );
    assert_eq!(c.cmd(&["FCALL", "first", "0"]), R::Int(1));
    std::fs::remove_dir(&blocker).unwrap();
    assert_eq!(c.cmd(&["FUNCTION", "LOAD", &second]), R::bulk("second"));
    assert_eq!(c.cmd(&["FCALL", "second", "0"]), R::Int(2));
}
