//! Users and ACLs (docs/security.md): checked against a real redis-server
//! 7.0 where Redis defines the answer, and on every front end of the real
//! binary (redis-cli, redis-py, `tessera cli`, curl) where Tessera does.

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use common::redis_server::redis_server;
use common::resp::{Conn, R};
use common::{wait_until, Node, Proc};

/// A reply with every string's words sorted.
fn words(r: R) -> R {
    match r {
        R::Array(items) => R::Array(items.into_iter().map(words).collect()),
        R::Bulk(b) => {
            let text = String::from_utf8_lossy(&b).into_owned();
            let mut w: Vec<&str> = text.split(' ').collect();
            w.sort();
            R::Bulk(w.join(" ").into_bytes())
        }
        other => other,
    }
}

/// ACL LOG entries as (count, reason, context, object, username).
fn log_fields(r: &R) -> Vec<Vec<R>> {
    let R::Array(entries) = r else {
        panic!("ACL LOG answered {r:?}");
    };
    entries
        .iter()
        .map(|e| {
            let R::Array(kv) = e else {
                panic!("an ACL LOG entry {e:?}")
            };
            let get = |name: &str| {
                kv.chunks(2)
                    .find(|p| p[0] == R::bulk(name))
                    .map(|p| p[1].clone())
                    .unwrap_or(R::Nil)
            };
            ["count", "reason", "context", "object", "username"]
                .iter()
                .map(|f| get(f))
                .collect()
        })
        .collect()
}

/// The same ACL session against redis-server and Tessera: rules and their
/// errors, GETUSER, LIST, AUTH, NOPERM for commands, keys and channels,
/// DRYRUN, the categories and the log.
#[test]
fn acl_matches_redis_server() {
    let (_redis, raddr) = redis_server();
    let node = Node::start(2);
    let mut ours = Conn::connect(node.resp_addr());
    let mut theirs = Conn::connect(raddr);
    let admin: &[&[&str]] = &[
        &[
            "ACL", "SETUSER", "alice", "on", ">pw", "~foo*", "%R~bar*", "&ch*", "+get", "+set",
            "+@hash", "-hdel",
        ],
        &["ACL", "GETUSER", "alice"],
        &[
            "ACL",
            "SETUSER",
            "carol",
            "on",
            "nopass",
            "+config|get",
            "allkeys",
            "allchannels",
        ],
        &["ACL", "SETUSER", "dave"],
        &["ACL", "GETUSER", "dave"],
        &["ACL", "GETUSER", "nobody"],
        &[
            "ACL", "SETUSER", "k", "on", ">p", "+@all", "~*", "-ping", "+ping", "-ping",
        ],
        &[
            "ACL", "SETUSER", "p", "on", "nopass", "+@all", "%R~r*", "%W~w*", "~rw*",
        ],
        &[
            "ACL",
            "SETUSER",
            "q",
            "on",
            "nopass",
            "+@all",
            "~*",
            "resetchannels",
            "&news.*",
        ],
        &["ACL", "LIST"],
        &["ACL", "USERS"],
        &["ACL", "SETUSER", "bob", "foo"],
        &["ACL", "SETUSER", "bob", "+@nope"],
        &["ACL", "SETUSER", "bob", "+nocmd"],
        &["ACL", "SETUSER", "bob", "%X~a"],
        &["ACL", "SETUSER", "bob", "#abc"],
        &["ACL", "SETUSER", "bob", "~a b"],
        &["ACL", "SETUSER", "bob", "+get x"],
        &["ACL", "SETUSER", "bob", ">a b"],
        &["ACL", "SETUSER", "bob", "<nothere"],
        &["ACL", "SETUSER", "bad name", "on"],
        &["ACL", "SETUSER", "bob", "allkeys", "~x"],
        &["ACL", "GETUSER", "bob"],
        &["ACL", "DELUSER", "default"],
        &["ACL", "DELUSER", "nobody", "dave"],
        &["ACL", "CAT"],
        &["ACL", "CAT", "nope"],
        &["ACL", "DRYRUN", "alice", "del", "foo"],
        &["ACL", "DRYRUN", "alice", "get", "zzz"],
        &["ACL", "DRYRUN", "alice", "get", "foo1"],
        &["ACL", "DRYRUN", "alice", "nosuchcmd"],
        &["ACL", "DRYRUN", "nobody", "get", "x"],
        &["ACL", "DRYRUN", "carol", "config", "set", "a", "b"],
        &["ACL", "DRYRUN", "q", "publish", "other", "m"],
        &["ACL", "WHOAMI"],
        &["ACL", "GENPASS", "0"],
        &["ACL", "LOG", "x"],
        &["ACL", "NOSUCH"],
        &["AUTH", "pw"],
        &["AUTH", "a", "b", "c"],
        &["ACL", "LOG", "RESET"],
    ];
    for w in admin {
        // Redis 7.0 lists command rules in an order of its own (its
        // dictionary's), so rule texts compare as sets of words.
        if w[1] == "GETUSER" || w[1] == "LIST" {
            assert_eq!(words(ours.cmd(w)), words(theirs.cmd(w)), "{w:?}");
        } else {
            assert_eq!(ours.cmd(w), theirs.cmd(w), "{w:?}");
        }
    }
    // As other users, each on its own connection on both servers.
    let as_user: &[(&str, &str, &[&[&str]])] = &[
        (
            "alice",
            "pw",
            &[
                &["GET", "x"],
                &["DEL", "foo"],
                &["SET", "foo1", "v"],
                &["GET", "foo1"],
                &["SET", "bar1", "v"],
                &["GET", "bar1"],
                &["HSET", "foo2", "f", "v"],
                &["HDEL", "foo2", "f"],
                &["PUBLISH", "ch1", "m"],
                &["ACL", "WHOAMI"],
            ],
        ),
        ("k", "p", &[&["PING"], &["GET", "a"], &["ACL", "WHOAMI"]]),
        (
            "p",
            "x",
            &[
                &["SET", "w1", "x"],
                &["GET", "w1"],
                &["GET", "r1"],
                &["SET", "r1", "x"],
                &["INCR", "w2"],
                &["INCR", "rw"],
                &["LPUSH", "w3", "a"],
                &["LPOP", "w3"],
                &["SINTERSTORE", "w4{t}", "r1{t}", "r2{t}"],
                &["SET", "w5", "x", "GET"],
                &["EXISTS", "r1"],
                &["EXISTS", "w1"],
                &["DEL", "w1"],
            ],
        ),
        (
            "q",
            "x",
            &[
                &["PUBLISH", "news.a", "m"],
                &["PUBLISH", "other", "m"],
                &["PSUBSCRIBE", "news.a"],
            ],
        ),
    ];
    for (user, pass, steps) in as_user {
        let mut o = Conn::connect(node.resp_addr());
        let mut t = Conn::connect(raddr);
        let auth = ["AUTH", user, pass];
        assert_eq!(o.cmd(&auth), t.cmd(&auth), "{user}");
        assert_eq!(o.cmd(&auth), R::ok(), "{user}");
        for w in *steps {
            assert_eq!(o.cmd(w), t.cmd(w), "{user}: {w:?}");
        }
    }
    let bad = ["AUTH", "alice", "wrong"];
    assert_eq!(ours.cmd(&bad), theirs.cmd(&bad));
    let log = ["ACL", "LOG"];
    let (ol, tl) = (ours.cmd(&log), theirs.cmd(&log));
    assert_eq!(log_fields(&ol), log_fields(&tl));
    assert!(log_fields(&ol).len() >= 5, "{ol:?}");
    assert_eq!(ours.cmd(&["ACL", "LOG", "RESET"]), R::ok());
    assert_eq!(ours.cmd(&log), R::Array(vec![]));
    // A removed user's connections close; a disabled user's stay.
    let mut gone = Conn::connect(node.resp_addr());
    assert_eq!(gone.cmd(&["AUTH", "k", "p"]), R::ok());
    assert_eq!(ours.cmd(&["ACL", "DELUSER", "k"]), R::Int(1));
    gone.send_raw(b"*1\r\n$4\r\nPING\r\n");
    assert_eq!(
        gone.try_read(),
        None,
        "the connection of a removed user closes"
    );
    // GENPASS: hex of the bits asked for.
    let R::Bulk(p) = ours.cmd(&["ACL", "GENPASS"]) else {
        panic!()
    };
    assert_eq!(p.len(), 64);
    let R::Bulk(p) = ours.cmd(&["ACL", "GENPASS", "5"]) else {
        panic!()
    };
    assert_eq!(p.len(), 2);
}

/// Which keys a user may touch follows Redis's key specs for every command
/// both servers know: ACL DRYRUN of each command, with its keys named from
/// read-only, write-only and read-write patterns, answers alike.
#[test]
fn key_permissions_follow_redis_key_specs() {
    use tessera::proto::table::{self, flag, Keys};
    let (_redis, raddr) = redis_server();
    let node = Node::start(1);
    let mut ours = Conn::connect(node.resp_addr());
    let mut theirs = Conn::connect(raddr);
    let setup = [
        "ACL", "SETUSER", "u", "on", "nopass", "+@all", "%R~r*", "%W~w*", "~b*",
    ];
    assert_eq!(ours.cmd(&setup), theirs.cmd(&setup));
    let mut compared = 0;
    for c in table::redis_commands() {
        // PFMERGE with a destination alone: Redis 7.0 finds no keys in it
        // (its sources' key spec starts past the end, which fails the whole
        // extraction), so it checks none; its probes with sources are below.
        if c.keys == Keys::None
            || c.has(flag::BINARY_ONLY)
            || !c.subcommands.is_empty()
            || c.name == "pfmerge"
        {
            continue;
        }
        let words = c.arity.unsigned_abs() as usize;
        // Movable keys: one key after the count.
        let probes: Vec<Vec<String>> = ["r1", "w1", "b1", "mixed", "mixed2"]
            .iter()
            .map(|p| {
                let mut v = vec![c.name.to_string()];
                // The word before the key count.
                let fixed = match c.keys {
                    Keys::NumKeys { fixed, skip } => (fixed + skip) as usize,
                    _ => 0,
                };
                for i in 1..words.max(2) {
                    let key = match *p {
                        "mixed" if i == 1 => "w1",
                        "mixed" => "r1",
                        "mixed2" if i == 1 => "r1",
                        "mixed2" => "w1",
                        k => k,
                    };
                    if matches!(c.keys, Keys::NumKeys { .. }) && i == fixed + 1 {
                        v.push("1".into());
                    } else {
                        v.push(key.into());
                    }
                }
                if matches!(c.keys, Keys::NumKeys { .. }) && v.len() <= fixed + 2 {
                    v.push("r1".into());
                }
                v
            })
            .collect();
        let exists = theirs.cmd(&["COMMAND", "INFO", c.name]);
        if exists == R::Array(vec![R::Nil]) {
            continue;
        }
        for p in probes {
            let mut w: Vec<&str> = vec!["ACL", "DRYRUN", "u"];
            w.extend(p.iter().map(|s| s.as_str()));
            assert_eq!(ours.cmd(&w), theirs.cmd(&w), "{w:?}");
            compared += 1;
        }
    }
    // Commands whose key access depends on their arguments.
    for probe in [
        "bitfield r1 get u8 0",
        "bitfield r1 overflow sat get u8 0",
        "bitfield r1 set u8 0 1",
        "bitfield b1 incrby u8 0 1",
        "bitfield w1 get u8 0",
        "bitfield w1 set u8 0 1",
        "bitfield r1 get u8",
        "bitfield_ro r1 get u8 0",
        "copy r1 w1",
        "copy w1 r1",
        "bitop and w1 r1 b1",
        "set r1 v get",
        "set w1 v",
        "pfmerge w1 r1",
        "pfmerge r1 r2",
        "pfmerge b1 r1",
        "pfmerge b1 w1",
        "pfmerge b1 b2 r1",
    ] {
        let mut w: Vec<&str> = vec!["ACL", "DRYRUN", "u"];
        w.extend(probe.split(' '));
        assert_eq!(ours.cmd(&w), theirs.cmd(&w), "{w:?}");
    }
    assert!(compared > 400, "only {compared} probes");
}

/// `--requirepass-file` closes every front end to clients without the
/// password, and opens it to those with it: RESP (redis-cli, redis-py),
/// the binary protocol (`tessera cli`, flags and environment), HTTP
/// (Basic). Probes stay open; admin operations need an admin user.
#[test]
fn a_password_gates_every_front_end() {
    let dir = tempfile::tempdir().unwrap();
    let pwfile = dir.path().join("pw");
    std::fs::write(&pwfile, "s3cret\n").unwrap();
    let data = dir.path().join("data");
    let backups = dir.path().join("backups");
    std::fs::create_dir_all(&backups).unwrap();
    let p = Proc::start(
        &data,
        &[
            "--cores",
            "2",
            "--requirepass-file",
            pwfile.to_str().unwrap(),
            "--backup-root",
            backups.to_str().unwrap(),
        ],
    )
    .unwrap();
    let resp = p.resp.unwrap();
    // RESP: NOAUTH, then AUTH.
    let mut c = Conn::connect(resp);
    assert_eq!(
        c.cmd(&["GET", "k"]),
        R::Err("NOAUTH Authentication required.".into())
    );
    assert_eq!(
        c.cmd(&["AUTH", "nope"]),
        R::Err("WRONGPASS invalid username-password pair or user is disabled.".into())
    );
    assert_eq!(
        c.cmd(&["HELLO", "3", "AUTH", "default", "s3cret"])
            .err_word(),
        None
    );
    assert_eq!(c.cmd(&["SET", "k", "v"]), R::ok());
    assert_eq!(
        c.cmd(&["ACL", "SETUSER", "reader", "on", ">rpw", "~*", "+@read"]),
        R::ok()
    );
    // redis-cli with and without the password.
    let cli = |args: &[&str]| {
        let o = Command::new("redis-cli")
            .args(["-p", &resp.port().to_string()])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    assert!(cli(&["GET", "k"]).contains("NOAUTH Authentication required."));
    assert_eq!(cli(&["-a", "s3cret", "--no-auth-warning", "GET", "k"]), "v");
    assert!(cli(&[
        "--user",
        "reader",
        "--pass",
        "rpw",
        "--no-auth-warning",
        "SET",
        "k",
        "x"
    ])
    .contains("NOPERM this user has no permissions to run the 'set' command"));
    // redis-py with a user name and password.
    common::python::assert_prints_ok(&format!(
        "import redis\nr = redis.Redis(port={}, username='reader', password='rpw')\nassert r.get('k') == b'v'\ntry:\n    r.set('k', 'x')\n    raise SystemExit('SET passed')\nexcept redis.exceptions.NoPermissionError:\n    pass\ntry:\n    redis.Redis(port={}).get('k')\n    raise SystemExit('no password passed')\nexcept redis.exceptions.AuthenticationError:\n    pass\nprint('ok')\n",
        resp.port(),
        resp.port()
    ));
    // The binary protocol through `tessera cli`.
    let tcli = |env: &[(&str, &str)], args: &[&str]| {
        let o = Command::new(common::binary())
            .args(["cli", "--addr", &p.addr.to_string()])
            .args(args)
            .env_remove("TESSERA_USER")
            .env_remove("TESSERA_PASSWORD")
            .envs(env.iter().copied())
            .output()
            .unwrap();
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).trim().to_string(),
            String::from_utf8_lossy(&o.stderr).trim().to_string(),
        )
    };
    let (ok, _, err) = tcli(&[], &["get", "k"]);
    assert!(!ok && err.contains("NOAUTH"), "{err}");
    let (ok, out, err) = tcli(&[], &["--pass", "s3cret", "get", "k"]);
    assert!(ok && out == "v", "{out} {err}");
    let (ok, out, _) = tcli(&[("TESSERA_PASSWORD", "s3cret")], &["get", "k"]);
    assert!(ok && out == "v");
    let (ok, _, err) = tcli(&[], &["--pass", "wrong", "get", "k"]);
    assert!(!ok && err.contains("WRONG_PASS"), "{err}");
    let (ok, _, err) = tcli(&[], &["--user", "reader", "--pass", "rpw", "set", "k", "x"]);
    assert!(!ok && err.contains("NOPERM"), "{err}");
    // Admin operations: none without credentials, none for a non-admin.
    let to = backups.join("b1");
    let to = to.to_str().unwrap();
    for args in [&["role"][..], &["promote"], &["replicaof", "127.0.0.1:1"]] {
        let (ok, _, err) = tcli(&[], args);
        assert!(!ok && err.contains("NOAUTH"), "{args:?}: {err}");
        let (ok, _, err) = tcli(
            &[],
            &[&["--user", "reader", "--pass", "rpw"][..], args].concat(),
        );
        assert!(!ok && err.contains("NOPERM"), "{args:?}: {err}");
    }
    let backup = |env: &[(&str, &str)], extra: &[&str]| {
        Command::new(common::binary())
            .args(extra)
            .args(["backup", "--addr", &p.addr.to_string(), "--to", to])
            .env_remove("TESSERA_USER")
            .env_remove("TESSERA_PASSWORD")
            .envs(env.iter().copied())
            .output()
            .unwrap()
    };
    let o = backup(&[], &[]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("NOAUTH"));
    let o = backup(&[], &["--user", "reader", "--pass", "rpw"]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("NOPERM"));
    assert!(
        !std::path::Path::new(to).exists(),
        "a refused BACKUP wrote nothing"
    );
    let o = backup(&[], &["--pass", "s3cret"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // SYNC (a replica's full copy) without credentials.
    let mut raw = std::net::TcpStream::connect(p.addr).unwrap();
    let mut f = Vec::new();
    tessera::proto::Request::Sync {
        partition: 0,
        session: 0,
        cf: 255,
        after: b"",
        max_bytes: 1 << 20,
    }
    .encode(7, &mut f);
    use std::io::{Read, Write};
    raw.write_all(&f).unwrap();
    let mut head = [0u8; 4096];
    let n = raw.read(&mut head).unwrap();
    let info = tessera::proto::frame::check(&head[..n], usize::MAX)
        .unwrap()
        .unwrap();
    let e = tessera::proto::decode_error(info.body(&head[..n]));
    assert_eq!(e.code, tessera::codes::ErrorCode::NoAuth);
    // HTTP: 401 with a challenge, Basic opens it, 403 beyond the user's
    // rules; the probes stay open.
    let http = http_addr(&p);
    let curl = |args: &[&str]| {
        let o = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    let url = |path: &str| format!("http://{http}{path}");
    assert_eq!(curl(&[&url("/v1/kv/k")]), "401");
    assert_eq!(curl(&[&url("/metrics")]), "401");
    assert_eq!(curl(&[&url("/healthz")]), "200");
    assert_eq!(curl(&[&url("/readyz")]), "200");
    assert_eq!(curl(&["-u", ":s3cret", &url("/v1/kv/k")]), "200");
    assert_eq!(curl(&["-u", "default:s3cret", &url("/metrics")]), "200");
    assert_eq!(curl(&["-u", "reader:rpw", &url("/v1/kv/k")]), "200");
    assert_eq!(
        curl(&[
            "-u",
            "reader:rpw",
            "-X",
            "PUT",
            "--data",
            "z",
            &url("/v1/kv/k")
        ]),
        "403"
    );
    assert_eq!(curl(&["-u", "reader:bad", &url("/v1/kv/k")]), "401");
    let o = Command::new("curl")
        .args(["-s", "-i", &url("/v1/kv/k")])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("WWW-Authenticate: Basic realm=\"tessera\"")
    );
    // Nothing the refused clients sent was written.
    assert_eq!(c.cmd(&["GET", "k"]), R::bulk("v"));
}

fn http_addr(p: &Proc) -> SocketAddr {
    p.http.expect("the HTTP listener is on")
}

/// ACL SAVE writes the file atomically, a restart loads it, ACL LOAD
/// replaces the users (or, for a bad file, changes nothing), and a node
/// whose ACL file is bad does not start.
#[test]
fn the_acl_file_persists_users() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let p = Proc::start(&data, &["--cores", "1"]).unwrap();
    let mut c = Conn::connect(p.resp.unwrap());
    assert_eq!(
        c.cmd(&["ACL", "SETUSER", "ann", "on", ">x", "~a*", "+get"]),
        R::ok()
    );
    assert_eq!(
        c.cmd(&["ACL", "SETUSER", "default", "resetpass", ">root"]),
        R::ok()
    );
    assert_eq!(c.cmd(&["ACL", "SAVE"]), R::ok());
    let file = data.join("users.acl");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("user ann on #") && !text.contains(">x"),
        "{text}"
    );
    assert!(!data.join("users.tmp").exists());
    drop(c);
    assert!(p.terminate().success());
    let p = Proc::start(&data, &["--cores", "1"]).unwrap();
    let mut c = Conn::connect(p.resp.unwrap());
    assert_eq!(
        c.cmd(&["PING"]).err_word(),
        Some("NOAUTH"),
        "the saved default password holds"
    );
    assert_eq!(c.cmd(&["AUTH", "ann", "x"]), R::ok());
    assert_eq!(c.cmd(&["GET", "a1"]), R::Nil);
    assert_eq!(c.cmd(&["GET", "b1"]).err_word(), Some("NOPERM"));
    let mut root = Conn::connect(p.resp.unwrap());
    assert_eq!(root.cmd(&["AUTH", "root"]), R::ok());
    // A bad file: ACL LOAD refuses it and the users stay.
    std::fs::write(
        &file,
        "user default on nopass ~* &* +@all\nuser ann on +nosuch\n",
    )
    .unwrap();
    let r = root.cmd(&["ACL", "LOAD"]);
    assert!(matches!(&r, R::Err(e) if e.contains("line 2")), "{r:?}");
    assert_eq!(root.cmd(&["ACL", "USERS"]), R::arr(&["ann", "default"]));
    // A good one replaces them: ann is gone (her connection closes).
    std::fs::write(
        &file,
        "user default on nopass ~* &* +@all\nuser bo on >y ~* +@all\n",
    )
    .unwrap();
    assert_eq!(root.cmd(&["ACL", "LOAD"]), R::ok());
    assert_eq!(root.cmd(&["ACL", "USERS"]), R::arr(&["bo", "default"]));
    c.send_raw(b"*1\r\n$4\r\nPING\r\n");
    assert_eq!(c.try_read(), None);
    assert_eq!(
        Conn::connect(p.resp.unwrap()).cmd(&["PING"]),
        R::Simple("PONG".into())
    );
    drop(root);
    assert!(p.terminate().success());
    // A node with a bad ACL file does not start, and says why.
    std::fs::write(&file, "user x on +nosuch\n").unwrap();
    let e = Proc::start(&data, &["--cores", "1"]).err().unwrap();
    assert!(e.contains("ACL file") && e.contains("line 1"), "{e}");
}

/// Cache mode (`--durability none`) wipes its data at every start, but
/// not the users saved in its ACL file.
#[test]
fn cache_mode_keeps_its_users() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let args = ["--cores", "1", "--durability", "none"];
    let p = Proc::start(&data, &args).unwrap();
    let mut c = Conn::connect(p.resp.unwrap());
    assert_eq!(c.cmd(&["SET", "k", "v"]), R::ok());
    assert_eq!(
        c.cmd(&["ACL", "SETUSER", "ann", "on", ">x", "~*", "+@all"]),
        R::ok()
    );
    assert_eq!(c.cmd(&["ACL", "SAVE"]), R::ok());
    drop(c);
    assert!(p.terminate().success());
    let p = Proc::start(&data, &args).unwrap();
    let mut c = Conn::connect(p.resp.unwrap());
    assert_eq!(c.cmd(&["GET", "k"]), R::Nil, "the cache starts empty");
    assert_eq!(
        c.cmd(&["AUTH", "ann", "x"]),
        R::ok(),
        "the saved user is back"
    );
    assert_eq!(c.cmd(&["ACL", "LOAD"]), R::ok(), "and so is its file");
}

/// A replica whose credentials the primary refuses does not follow it; with
/// the right ones (a user allowed the replication opcodes) it does.
#[test]
fn a_replica_with_wrong_credentials_cannot_follow() {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "primary-pw\n").unwrap();
    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, "nope\n").unwrap();
    let primary = Proc::start(
        &dir.path().join("p"),
        &["--cores", "1", "--requirepass-file", pw.to_str().unwrap()],
    )
    .unwrap();
    let mut pc = Conn::connect(primary.resp.unwrap());
    assert_eq!(pc.cmd(&["AUTH", "primary-pw"]), R::ok());
    assert_eq!(pc.cmd(&["SET", "k", "1"]), R::ok());
    let to = primary.addr.to_string();
    let bad = Proc::start(
        &dir.path().join("r1"),
        &[
            "--cores",
            "1",
            "--replica-of",
            &to,
            "--replica-pass-file",
            wrong.to_str().unwrap(),
        ],
    );
    // It may start (and retry) or refuse at start; either way it holds nothing.
    if let Ok(bad) = &bad {
        std::thread::sleep(Duration::from_millis(1500));
        let mut rc = Conn::connect(bad.resp.unwrap());
        assert_eq!(
            rc.cmd(&["GET", "k"]),
            R::Nil,
            "a refused replica copied data"
        );
        let log = std::fs::read_to_string(&bad.stderr_log).unwrap_or_default();
        assert!(
            log.contains("refused this replica") && log.contains("WRONG_PASS"),
            "{log}"
        );
    }
    let good = Proc::start(
        &dir.path().join("r2"),
        &[
            "--cores",
            "1",
            "--replica-of",
            &to,
            "--replica-pass-file",
            pw.to_str().unwrap(),
        ],
    )
    .unwrap();
    let mut rc = Conn::connect(good.resp.unwrap());
    wait_until("the replica copied k", Duration::from_secs(30), || {
        rc.cmd(&["GET", "k"]) == R::bulk("1")
    });
}
