//! CLIENT LIST and CLIENT KILL over every core (docs/redis-compat.md) on
//! the real binary: connections on both cores (binary ones pinned through
//! each core's own port) are listed and killed wherever the command runs;
//! filters and errors answer as redis-server 7.0 does. CLIENT REPLY drops
//! exactly the replies redis-server drops.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::resp::{admin_only, same_as_redis, Conn, R};
use common::{wait_until, Proc};

fn text(r: R) -> String {
    match r {
        R::Bulk(b) => String::from_utf8(b).unwrap(),
        other => panic!("not a bulk string: {other:?}"),
    }
}

/// `field=` of a CLIENT LIST line.
fn field<'a>(line: &'a str, name: &str) -> &'a str {
    line.split(' ')
        .find_map(|w| w.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} in {line}"))
}

/// A binary connection to `addr` that has sent one PING and read its answer.
fn binary_client(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut f = Vec::new();
    tessera::proto::Request::Ping(b"x").encode(1, &mut f);
    s.write_all(&f).unwrap();
    let mut got = Vec::new();
    let mut b = [0u8; 256];
    while tessera::proto::frame::check(&got, usize::MAX)
        .unwrap()
        .is_none()
    {
        let n = s.read(&mut b).unwrap();
        assert!(n > 0);
        got.extend_from_slice(&b[..n]);
    }
    s
}

/// Whether the server closed `s` (a read returns end of stream).
fn closed(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 64];
    matches!(s.read(&mut b), Ok(0) | Err(_))
}

#[test]
fn list_and_kill_reach_every_core() {
    let dir = tempfile::tempdir().unwrap();
    let p = Proc::start(&dir.path().join("d"), &["--cores", "2"]).unwrap();
    let resp = p.resp.unwrap();
    // One binary client on each core's own port (ephemeral here: read
    // from HELLO through tessera cli).
    let cores: Vec<SocketAddr> = {
        let o = std::process::Command::new(common::binary())
            .args(["cli", "--addr", &p.addr.to_string(), "hello"])
            .output()
            .unwrap();
        let t = String::from_utf8_lossy(&o.stdout).into_owned();
        let ports = t
            .split("core_ports: [")
            .nth(1)
            .and_then(|r| r.split(']').next())
            .unwrap_or_else(|| panic!("{t}"));
        ports
            .split(',')
            .filter_map(|n| n.trim().parse::<u16>().ok())
            .map(|n| SocketAddr::from(([127, 0, 0, 1], n)))
            .collect()
    };
    assert_eq!(cores.len(), 2);
    let mut b0 = binary_client(cores[0]);
    let mut b1 = binary_client(cores[1]);
    let mut named = Conn::connect(resp);
    assert_eq!(named.cmd(&["CLIENT", "SETNAME", "worker-7"]), R::ok());
    let mut c = Conn::connect(resp);

    let list = text(c.cmd(&["CLIENT", "LIST"]));
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 4, "{list}");
    // Ordered by id, every core's connections.
    let ids: Vec<u64> = lines
        .iter()
        .map(|l| field(l, "id").parse().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{list}");
    let binaries: Vec<&&str> = lines
        .iter()
        .filter(|l| field(l, "tessera-proto") == "binary")
        .collect();
    let mut on: Vec<&str> = binaries.iter().map(|l| field(l, "tessera-core")).collect();
    on.sort();
    assert_eq!(on, ["0", "1"], "{list}");
    let me = text(c.cmd(&["CLIENT", "INFO"]));
    let my_id = field(&me, "id").to_string();
    assert!(list.contains("name=worker-7"), "{list}");
    assert_eq!(field(&me, "cmd"), "client|info");
    assert_eq!(field(&me, "user"), "default");

    // TYPE and ID filters.
    assert_eq!(text(c.cmd(&["CLIENT", "LIST", "TYPE", "pubsub"])), "");
    let only = text(c.cmd(&["CLIENT", "LIST", "ID", &my_id, "999999"]));
    assert_eq!(only.lines().count(), 1);
    assert_eq!(field(only.trim_end(), "id"), my_id);

    // KILL by id reaches the binary client of each core, wherever this
    // connection runs.
    for l in &binaries {
        let id = field(l, "id");
        assert_eq!(c.cmd(&["CLIENT", "KILL", "ID", id]), R::Int(1), "{l}");
    }
    assert!(closed(&mut b0) && closed(&mut b1));
    // The old form: an address.
    let named_addr = lines
        .iter()
        .find(|l| l.contains("name=worker-7"))
        .map(|l| field(l, "addr").to_string())
        .unwrap();
    assert_eq!(c.cmd(&["CLIENT", "KILL", &named_addr]), R::ok());
    assert_eq!(named.try_cmd(&["PING"]), None, "killed");
    assert_eq!(
        c.cmd(&["CLIENT", "KILL", &named_addr]),
        R::Err("ERR No such client".into())
    );
    // TYPE pubsub takes only subscribers; SKIPME yes (the default) spares
    // the caller, SKIPME no does not.
    let mut sub = Conn::connect(resp);
    assert!(matches!(sub.cmd(&["SUBSCRIBE", "ch"]), R::Array(_)));
    assert_eq!(c.cmd(&["CLIENT", "KILL", "TYPE", "pubsub"]), R::Int(1));
    assert_eq!(sub.try_cmd(&["PING"]), None);
    assert_eq!(c.cmd(&["CLIENT", "KILL", "TYPE", "normal"]), R::Int(0));
    assert_eq!(
        c.cmd(&["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "no"]),
        R::Int(1)
    );
    assert_eq!(c.try_cmd(&["PING"]), None, "killed itself");
}

#[test]
fn client_errors_match_redis_server() {
    let dir = tempfile::tempdir().unwrap();
    let p = Proc::start(&dir.path().join("d"), &["--cores", "2"]).unwrap();
    let (_redis, raddr) = common::redis_server::redis_server();
    let mut t = Conn::connect(p.resp.unwrap());
    let mut r = Conn::connect(raddr);
    same_as_redis(
        &mut t,
        &mut r,
        &[
            "CLIENT LIST TYPE foo",
            "CLIENT LIST ID x",
            "CLIENT LIST ID 0",
            "CLIENT LIST foo",
            "CLIENT LIST ID 99999",
            "CLIENT KILL 1.2.3.4:5",
            "CLIENT KILL ID x",
            "CLIENT KILL ID 0",
            "CLIENT KILL TYPE foo",
            "CLIENT KILL USER nobody",
            "CLIENT KILL SKIPME maybe",
            "CLIENT KILL ID",
            "CLIENT KILL foo bar",
            "CLIENT KILL ADDR 1.2.3.4:5",
            "CLIENT KILL ID 99998 ID 99999",
            "CLIENT KILL TYPE master",
            "CLIENT KILL",
        ],
    );
    // Only an admin may list or kill.
    admin_only(
        &mut t,
        p.resp.unwrap(),
        &[
            &["CLIENT", "LIST", "ID", "1"],
            &["CLIENT", "KILL", "ID", "1"],
        ],
    );
    let mut app = Conn::connect(p.resp.unwrap());
    assert_eq!(app.cmd(&["AUTH", "app", "pw"]), R::ok());
    assert!(matches!(app.cmd(&["CLIENT", "INFO"]), R::Bulk(_)));
}

/// A client the node is blocked writing to (it pipelines large GETs and
/// never reads) is killed all the same: the shut-down socket fails the
/// blocked write, the connection ends and leaves CLIENT LIST, and the node
/// keeps serving.
#[test]
fn kill_reaches_a_client_the_node_is_blocked_writing_to() {
    let dir = tempfile::tempdir().unwrap();
    let p = Proc::start(&dir.path().join("d"), &["--cores", "1"]).unwrap();
    let resp = p.resp.unwrap();
    let mut c = Conn::connect(resp);
    let value = "v".repeat(8 << 20);
    assert_eq!(c.cmd(&["SET", "big", &value]), R::ok());
    let mut stuck = TcpStream::connect(resp).unwrap();
    stuck.write_all(b"CLIENT ID\r\n").unwrap();
    let mut b = [0u8; 64];
    let n = stuck.read(&mut b).unwrap();
    let id: u64 = String::from_utf8_lossy(&b[1..n]).trim().parse().unwrap();
    // 40 × 8 MiB of replies: far more than the sockets' buffers hold.
    stuck.write_all(&b"GET big\r\n".repeat(40)).unwrap();
    // The replies fill both ends' queues (tx_queue and rx_queue in
    // /proc/net/tcp, summed over the connection's two sockets): the node
    // is blocked writing the rest.
    let port = format!(":{:04X}", stuck.local_addr().unwrap().port());
    let queued = || -> u64 {
        std::fs::read_to_string("/proc/net/tcp")
            .unwrap()
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .filter(|f| f.len() > 4 && (f[1].ends_with(&port) || f[2].ends_with(&port)))
            .flat_map(|f| {
                f[4].split(':')
                    .map(|q| u64::from_str_radix(q, 16).unwrap_or(0))
                    .collect::<Vec<_>>()
            })
            .sum()
    };
    wait_until(
        "the node blocks writing to the client",
        Duration::from_secs(30),
        || queued() > 1 << 20,
    );
    assert_eq!(c.cmd(&["CLIENT", "KILL", "ID", &id.to_string()]), R::Int(1));
    wait_until(
        "the killed client leaves CLIENT LIST",
        Duration::from_secs(30),
        || !text(c.cmd(&["CLIENT", "LIST"])).contains(&format!("id={id} ")),
    );
    // Its stream ends (after what was already queued for it).
    let mut sink = vec![0u8; 1 << 20];
    let mut total = 0usize;
    loop {
        match stuck.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => total += n,
        }
    }
    assert!(
        total < 40 * (8 << 20),
        "{total} bytes: every reply was sent"
    );
    assert_eq!(c.cmd(&["STRLEN", "big"]), R::Int(8 << 20));
}

/// The bytes a server answers to `script` (inline commands, one per line),
/// read until the reply of a final `ECHO end-of-script`.
fn raw_replies(addr: SocketAddr, script: &str) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(format!("{script}ECHO end-of-script\r\n").as_bytes())
        .unwrap();
    let marker = b"$13\r\nend-of-script\r\n";
    let mut got = Vec::new();
    let mut b = [0u8; 4096];
    while !got.ends_with(marker) {
        let n = s.read(&mut b).unwrap();
        assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&b[..n]);
    }
    got
}

/// CLIENT REPLY OFF, ON and SKIP, in pipelines that mix local commands,
/// other cores' keys, connection commands, errors, MULTI and RESET: the
/// same bytes as redis-server, with replies dropped exactly where its are.
#[test]
fn client_reply_drops_what_redis_drops() {
    let dir = tempfile::tempdir().unwrap();
    let p = Proc::start(&dir.path().join("d"), &["--cores", "2"]).unwrap();
    let (_redis, raddr) = common::redis_server::redis_server();
    let scripts = [
        "CLIENT REPLY SKIP\r\nCLIENT REPLY SKIP\r\nPING a\r\nPING b\r\nCLIENT REPLY OFF\r\nPING c\r\n\
         CLIENT REPLY FOO\r\nCLIENT REPLY SKIP\r\nCLIENT REPLY ON\r\nPING d\r\nCLIENT REPLY\r\n\
         CLIENT REPLY SKIP\r\nCLIENT REPLY ON\r\n",
        // Writes to keys on both cores while off: they apply, silently.
        "DEL k1 k2 k3 k4\r\nCLIENT REPLY OFF\r\nSET k1 a\r\nSET k2 b\r\nINCR k3\r\nHSET k4 f v\r\n\
         GET k1\r\nNOSUCHCOMMAND\r\nCLIENT REPLY ON\r\nMGET k1 k2 k3\r\nCLIENT REPLY SKIP\r\n\
         HGET k4 f\r\nHGET k4 f\r\n",
        "CLIENT REPLY SKIP\r\nMULTI\r\nINCR k5\r\nEXEC\r\nCLIENT REPLY SKIP\r\nCLIENT ID\r\n\
         CLIENT REPLY OFF\r\nRESET\r\nPING after-reset\r\nGET k5\r\n",
    ];
    for script in scripts {
        let ours = raw_replies(p.resp.unwrap(), script);
        let theirs = raw_replies(raddr, script);
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&theirs),
            "{script}"
        );
    }
}
