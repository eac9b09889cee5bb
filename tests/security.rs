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
        if c.keys == Keys::None || c.has(flag::BINARY_ONLY) || !c.subcommands.is_empty() {
            continue;
        }
        let words = c.arity.unsigned_abs() as usize;
        // Movable keys: one key after the count.
        let probes: Vec<Vec<String>> = ["r1", "w1", "b1", "mixed", "mixed2"]
            .iter()
            .map(|p| {
                let mut v = vec![c.name.to_string()];
                let fixed = match c.keys {
                    Keys::NumKeys { fixed } => fixed as usize,
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
    let py = common::python::python();
    let script = format!(
        "import redis\nr = redis.Redis(port={}, username='reader', password='rpw')\nassert r.get('k') == b'v'\ntry:\n    r.set('k', 'x')\n    raise SystemExit('SET passed')\nexcept redis.exceptions.NoPermissionError:\n    pass\ntry:\n    redis.Redis(port={}).get('k')\n    raise SystemExit('no password passed')\nexcept redis.exceptions.AuthenticationError:\n    pass\nprint('ok')\n",
        resp.port(),
        resp.port()
    );
    let o = Command::new(&py).args(["-c", &script]).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "ok",
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
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
    assert!(!data.join("users.acl.tmp").exists());
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

/// Each listener's `allow-from` list refuses other addresses with DENIED
/// on every front end (a loopback client is outside 10.0.0.0/8), while
/// another listener without a list serves them; a bad network stops the
/// start. (Protected mode refuses only non-loopback clients, which the
/// unit tests of `net::admit` inject.)
#[test]
fn allow_from_refuses_other_addresses() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let p = Proc::start(
        &dir.path().join("d"),
        &[
            "--cores",
            "1",
            "--resp-allow-from",
            "10.0.0.0/8",
            "--http-allow-from",
            "10.0.0.0/8,2001:db8::/32",
        ],
    )
    .unwrap();
    let mut s = std::net::TcpStream::connect(p.resp.unwrap()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut got = String::new();
    s.read_to_string(&mut got).unwrap();
    assert!(
        got.starts_with("-DENIED this listener does not accept connections from your address"),
        "{got:?}"
    );
    let o = Command::new("curl")
        .args([
            "-s",
            "-w",
            " %{http_code}",
            &format!("http://{}/healthz", p.http.unwrap()),
        ])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.ends_with(" 403") && out.contains("DENIED"), "{out}");
    // The binary listener (no list, no password) serves a loopback
    // client: protected mode leaves it alone.
    let addr = p.addr.to_string();
    let o = Command::new(common::binary())
        .args(["cli", "--addr", &addr, "ping"])
        .env_remove("TESSERA_PASSWORD")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    drop(p);
    let e = Proc::start(&dir.path().join("e"), &["--resp-allow-from", "10.0.0.0/33"])
        .err()
        .unwrap();
    assert!(
        e.contains("resp-allow-from") && e.contains("10.0.0.0/33"),
        "{e}"
    );
}

/// Slowloris: clients that announce large commands (RESP bulks and binary
/// frames), send part of them and stall hold the memory budget only until
/// an active client needs it: they are evicted and the active client's
/// large writes go through. The node's memory stays bounded by the budget.
#[test]
fn stalled_clients_give_the_budget_to_active_ones() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let budget = 64usize << 20;
    let p = Proc::start(
        &dir.path().join("d"),
        &[
            "--cores",
            "2",
            "--memory-budget-bytes",
            &budget.to_string(),
            // Long: only the pressure of an active client evicts here.
            "--stalled-frame-timeout-ms",
            "600000",
        ],
    )
    .unwrap();
    let resp = p.resp.unwrap();
    let part = vec![b'x'; 2 << 20];
    let mut stalled = Vec::new();
    for i in 0..40 {
        let part = part.clone();
        let (binary, addr) = (i % 2 == 0, if i % 2 == 0 { p.addr } else { resp });
        stalled.push(std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            let head = if binary {
                // A 16 MiB SET frame, cut after its first 2 MiB.
                let mut f = Vec::new();
                let big = vec![b'y'; 16 << 20];
                tessera::proto::Request::Set {
                    key: format!("stall{i}").as_bytes(),
                    value: &big,
                    args: Default::default(),
                }
                .encode(1, &mut f);
                f.truncate(64);
                f
            } else {
                format!("*3\r\n$3\r\nSET\r\n$7\r\nstall{i:02}\r\n$16777216\r\n").into_bytes()
            };
            let _ = s.write_all(&head);
            // The server may stop reading (and evict): a failed write ends it.
            let _ = s.write_all(&part);
            s
        }));
    }
    std::thread::sleep(Duration::from_millis(1500));
    // An active client writes 1 MiB values, on RESP and binary.
    let mut c = Conn::connect(resp);
    let value = "v".repeat(1 << 20);
    for k in 0..8 {
        assert_eq!(
            c.cmd(&["SET", &format!("big{k}"), &value]),
            R::ok(),
            "SET big{k}"
        );
    }
    assert_eq!(c.cmd(&["STRLEN", "big7"]), R::Int(1 << 20));
    // The same through the binary protocol: a 1 MiB SET frame.
    {
        use std::io::Read;
        let mut s = std::net::TcpStream::connect(p.addr).unwrap();
        let mut f = Vec::new();
        tessera::proto::Request::Set {
            key: b"bigbin",
            value: value.as_bytes(),
            args: Default::default(),
        }
        .encode(9, &mut f);
        s.write_all(&f).unwrap();
        let mut reply = Vec::new();
        let mut chunk = [0u8; 4096];
        let info = loop {
            if let Some(i) = tessera::proto::frame::check(&reply, usize::MAX).unwrap() {
                break i;
            }
            let n = s.read(&mut chunk).unwrap();
            assert!(n > 0, "the binary connection closed");
            reply.extend_from_slice(&chunk[..n]);
        };
        assert_eq!(info.kind, tessera::proto::frame::STATUS_OK, "{reply:?}");
    }
    let info = common::replication::info(&mut c);
    let evicted: u64 = info
        .lines()
        .filter_map(|l| l.split_once("_evicted_stalled:"))
        .map(|(_, v)| v.trim().parse::<u64>().unwrap())
        .sum();
    assert!(evicted > 0, "no stalled client was evicted:\n{info}");
    // RSS: the budget plus the node's own memory (caches, memtables,
    // reactors), measured at about 150 MiB on this build.
    let status = std::fs::read_to_string(format!("/proc/{}/status", p.child.id())).unwrap();
    let rss_kib: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(rss_kib * 1024 < budget + (384 << 20), "RSS {rss_kib} KiB");
    drop(stalled);
}

/// A client that holds budget for a partial command and sends nothing for
/// `stalled-frame-timeout-ms` is disconnected even without pressure; one
/// that stalls inside its base buffer is not.
#[test]
fn a_stalled_partial_frame_times_out() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let p = Proc::start(
        &dir.path().join("d"),
        &["--cores", "1", "--stalled-frame-timeout-ms", "300"],
    )
    .unwrap();
    let resp = p.resp.unwrap();
    let mut small = std::net::TcpStream::connect(resp).unwrap();
    small
        .write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\nabc")
        .unwrap();
    let mut big = std::net::TcpStream::connect(resp).unwrap();
    big.write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1000000\r\n")
        .unwrap();
    big.write_all(&vec![b'x'; 200 << 10]).unwrap();
    big.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut rest = Vec::new();
    let n = big.read_to_end(&mut rest).unwrap();
    assert_eq!(n, 0, "the stalled holder is closed without a reply");
    let mut c = Conn::connect(resp);
    let info = common::replication::info(&mut c);
    assert!(info.contains("core0_evicted_stalled:1"), "{info}");
    // The small one is still there and can finish its command.
    small.write_all(&[b'x'; 97]).unwrap();
    small.write_all(b"\r\n").unwrap();
    let mut reply = [0u8; 5];
    small
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    small.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"+OK\r\n");
}

/// `maxclients` counts every listener's clients: past it a client gets
/// Redis's error and is closed, and a freed place is taken again. With
/// `timeout`, a silent client is closed while a subscriber stays.
#[test]
fn maxclients_and_the_idle_timeout() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let p = Proc::start(
        &dir.path().join("d"),
        &["--cores", "2", "--maxclients", "3"],
    )
    .unwrap();
    let resp = p.resp.unwrap();
    let mut held: Vec<Conn> = (0..2).map(|_| Conn::connect(resp)).collect();
    for c in held.iter_mut() {
        assert_eq!(c.cmd(&["PING"]), R::Simple("PONG".into()));
    }
    let mut third = std::net::TcpStream::connect(p.addr).unwrap();
    let mut f = Vec::new();
    tessera::proto::Request::Ping(b"x").encode(1, &mut f);
    third.write_all(&f).unwrap();
    let mut head = [0u8; 64];
    let n = third.read(&mut head).unwrap();
    assert!(n > 0, "the third client (binary) is served");
    let mut fourth = std::net::TcpStream::connect(resp).unwrap();
    fourth
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut got = String::new();
    fourth.read_to_string(&mut got).unwrap();
    assert_eq!(got, "-ERR max number of clients reached\r\n");
    drop(held.pop());
    wait_until("a freed place", Duration::from_secs(30), || {
        Conn::try_connect(resp)
            .and_then(|mut c| c.try_cmd(&["PING"]))
            .is_some_and(|r| r == R::Simple("PONG".into()))
    });
    drop((held, third, p));
    // The idle timeout.
    let p = Proc::start(&dir.path().join("e"), &["--cores", "1", "--timeout", "1"]).unwrap();
    let resp = p.resp.unwrap();
    let mut sub = Conn::connect(resp);
    assert_eq!(
        sub.cmd(&["SUBSCRIBE", "ch"]),
        R::Array(vec![R::bulk("subscribe"), R::bulk("ch"), R::Int(1)])
    );
    let mut idle = std::net::TcpStream::connect(resp).unwrap();
    idle.write_all(b"*1\r\n$4\r\nPING\r\n").unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut got = Vec::new();
    idle.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"+PONG\r\n", "answered, then closed once silent");
    // The subscriber, silent for longer, still gets messages.
    let mut c = Conn::connect(resp);
    assert_eq!(c.cmd(&["PUBLISH", "ch", "m"]), R::Int(1));
    assert_eq!(
        sub.read(),
        R::Array(vec![R::bulk("message"), R::bulk("ch"), R::bulk("m")])
    );
}
