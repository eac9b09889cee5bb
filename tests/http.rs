//! The HTTP interface of a real node (127.0.0.1:0), spoken raw over TCP so
//! bad requests can be sent too.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use common::Node;

/// Status, lower-cased headers and body of one response.
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

fn read_response(s: &mut TcpStream) -> Resp {
    read_responses(s, 1).remove(0)
}

/// Reads `n` responses (pipelined replies may arrive in one read).
fn read_responses(s: &mut TcpStream, n: usize) -> Vec<Resp> {
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let mut out = Vec::new();
    while out.len() < n {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let mut lines = head.split("\r\n");
            let status: u16 = lines
                .next()
                .unwrap()
                .split(' ')
                .nth(1)
                .unwrap()
                .parse()
                .unwrap();
            let headers: Vec<(String, String)> = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                .collect();
            let len: usize = headers
                .iter()
                .find(|(k, _)| k == "content-length")
                .map(|(_, v)| v.parse().unwrap())
                .unwrap();
            if buf.len() >= end + 4 + len {
                let body = buf[end + 4..end + 4 + len].to_vec();
                buf.drain(..end + 4 + len);
                out.push(Resp {
                    status,
                    headers,
                    body,
                });
                continue;
            }
        }
        let got = match s.read(&mut chunk) {
            Ok(n) => n,
            // A signal (the glommio executor of this test thread) is not an error.
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => panic!("read: {e}"),
        };
        assert!(got > 0, "connection closed before {n} responses");
        buf.extend_from_slice(&chunk[..got]);
    }
    out
}

fn request(addr: SocketAddr, method: &str, target: &str, body: &[u8]) -> Resp {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let head = format!(
        "{method} {target} HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    read_response(&mut s)
}

fn http_node(cores: usize) -> (Node, SocketAddr) {
    let node = Node::start(cores);
    let addr = node.handle.as_ref().unwrap().http_addr.expect("http is on");
    (node, addr)
}

#[test]
fn health_ready_and_info() {
    let (node, addr) = http_node(2);
    let r = request(addr, "GET", "/healthz", b"");
    assert_eq!((r.status, &r.body[..]), (200, &b"ok\n"[..]));
    let r = request(addr, "GET", "/readyz", b"");
    assert_eq!((r.status, &r.body[..]), (200, &b"ready\n"[..]));
    let r = request(addr, "GET", "/v1/info", b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let info = r.json();
    assert_eq!(info["cores"], 2, "{info}");
    let r = request(addr, "POST", "/healthz", b"");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET"));
    let r = request(addr, "GET", "/nope", b"");
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"], "NOT_FOUND");
    // The ready line names the HTTP address.
    assert!(node
        .handle
        .as_ref()
        .unwrap()
        .ready_line()
        .contains(&format!("http={addr}")));
}

#[test]
fn kv_put_get_delete_with_versions_and_ttl() {
    let (_node, addr) = http_node(2);
    // Binary key and value; the key is percent-encoded in the path.
    let r = request(addr, "PUT", "/v1/kv/user%2F1%00x", b"\x00\xffvalue");
    assert_eq!(r.status, 200);
    let v1: u64 = r.header("x-tessera-version").unwrap().parse().unwrap();
    assert_eq!(r.json()["version"], v1);
    let r = request(addr, "GET", "/v1/kv/user%2F1%00x", b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"\x00\xffvalue");
    assert_eq!(r.header("x-tessera-version"), Some(v1.to_string().as_str()));
    // CAS: a stale version is a 409 and changes nothing.
    let r = request(addr, "PUT", "/v1/kv/user%2F1%00x?version=1", b"other");
    assert_eq!(r.status, 409, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["error"], "VERSION_CONFLICT");
    let r = request(
        addr,
        "PUT",
        &format!("/v1/kv/user%2F1%00x?version={v1}"),
        b"new",
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        request(addr, "GET", "/v1/kv/user%2F1%00x", b"").body,
        b"new"
    );
    // TTL.
    let r = request(addr, "PUT", "/v1/kv/temp?ttl_ms=60000", b"t");
    assert_eq!(r.status, 200);
    let r = request(addr, "PUT", "/v1/kv/temp?ttl_ms=soon", b"t");
    assert_eq!(r.status, 400);
    // DELETE, then 404s.
    let r = request(addr, "DELETE", "/v1/kv/user%2F1%00x", b"");
    assert_eq!((r.status, r.json()["deleted"].as_u64()), (200, Some(1)));
    assert_eq!(request(addr, "GET", "/v1/kv/user%2F1%00x", b"").status, 404);
    assert_eq!(
        request(addr, "DELETE", "/v1/kv/user%2F1%00x", b"").status,
        404
    );
    assert_eq!(request(addr, "PATCH", "/v1/kv/a", b"").status, 405);
    assert_eq!(request(addr, "GET", "/v1/kv/", b"").status, 400);
}

#[test]
fn mset_and_mget_with_base64_json() {
    let (_node, addr) = http_node(2);
    let pairs: Vec<serde_json::Value> = (0..20u8)
        .map(|i| serde_json::json!({"key": B64.encode([b'k', i]), "value": B64.encode([i, 0xff])}))
        .collect();
    let body = serde_json::json!({ "pairs": pairs }).to_string();
    let r = request(addr, "POST", "/v1/mset", body.as_bytes());
    assert_eq!((r.status, r.json()["written"].as_u64()), (200, Some(20)));
    let keys: Vec<String> = (0..21u8).map(|i| B64.encode([b'k', i])).collect();
    let body = serde_json::json!({ "keys": keys }).to_string();
    let r = request(addr, "POST", "/v1/mget", body.as_bytes());
    assert_eq!(r.status, 200);
    let values = r.json()["values"].as_array().unwrap().clone();
    assert_eq!(values.len(), 21);
    for (i, v) in values.iter().take(20).enumerate() {
        assert_eq!(v["value"], B64.encode([i as u8, 0xff]));
        assert!(v["version"].as_u64().unwrap() > 0);
    }
    assert!(values[20].is_null());
    // Bad bodies.
    for bad in [
        &b"not json"[..],
        b"{}",
        b"{\"keys\": [1]}",
        b"{\"keys\": []}",
    ] {
        let r = request(addr, "POST", "/v1/mget", bad);
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(bad));
        assert_eq!(r.json()["error"], "BAD_ARGUMENTS");
    }
    let r = request(addr, "POST", "/v1/mset", b"{\"pairs\": [{\"key\": \"a\"}]}");
    assert_eq!(r.status, 400);
}

#[test]
fn bad_requests_get_clear_errors_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_in(dir, |c| {
        c.cores = Some(1);
        c.max_frame_bytes = 64 << 10;
    });
    let addr = node.handle.as_ref().unwrap().http_addr.unwrap();
    // Garbage instead of a request line.
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"\x00\x01\x02 nonsense\r\n\r\n").unwrap();
    let r = read_response(&mut s);
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "BAD_FRAME");
    // A body over the limit: 413 before the body is read.
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"PUT /v1/kv/big HTTP/1.1\r\nContent-Length: 10000000\r\n\r\n")
        .unwrap();
    let r = read_response(&mut s);
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["error"], "FRAME_TOO_LARGE");
    // Chunked bodies are refused with 411.
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"PUT /v1/kv/c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut s).status, 411);
    // Keep-alive: two requests on one connection, pipelined.
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(
        b"PUT /v1/kv/ka HTTP/1.1\r\nContent-Length: 2\r\n\r\nv1GET /v1/kv/ka HTTP/1.1\r\n\r\n",
    )
    .unwrap();
    let rs = read_responses(&mut s, 2);
    assert_eq!(rs[0].status, 200);
    assert_eq!((rs[1].status, &rs[1].body[..]), (200, &b"v1"[..]));
    // Still serving.
    assert_eq!(request(addr, "GET", "/healthz", b"").status, 200);
}

#[test]
fn http_can_be_turned_off() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_in(dir, |c| c.http_listen = "off".into());
    let h = node.handle.as_ref().unwrap();
    assert!(h.http_addr.is_none());
    assert!(h.ready_line().contains("http=off"));
    let bad = tessera::Config {
        http_listen: "sometimes".into(),
        ..Default::default()
    };
    assert!(bad
        .validate()
        .unwrap_err()
        .to_string()
        .contains("http-listen"));
}

#[test]
fn metrics_count_requests_by_command_and_cover_every_family() {
    let (node, addr) = http_node(2);
    let bin = node.addr();
    common::block_on(async move {
        let c = tessera::client::Client::connect(bin).await.unwrap();
        for i in 0..50u32 {
            c.set(format!("m{i}").as_bytes(), b"v").await.unwrap();
            c.get(format!("m{i}").as_bytes()).await.unwrap();
        }
        // An error reply is counted as one.
        assert!(c.incr_by(b"m0", 1).await.is_err());
    });
    // An HTTP request counts as the command it runs.
    assert_eq!(request(addr, "PUT", "/v1/kv/via-http", b"x").status, 200);
    // So do RESP commands, on whichever core runs them, errors included.
    let mut rc = common::resp::Conn::connect(node.resp_addr());
    for i in 0..20u32 {
        assert_eq!(
            rc.cmd(&["SET", &format!("r{i}"), "v"]),
            common::resp::R::ok()
        );
    }
    assert_eq!(rc.cmd(&["INCR", "r0"]).err_word(), Some("ERR"));
    let r = request(addr, "GET", "/metrics", b"");
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let text = String::from_utf8(r.body).unwrap();
    let sum = |prefix: &str| -> f64 {
        text.lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    // The two cores' counts add up to what was sent.
    assert!(
        sum(r#"tessera_requests_total{core=""#) as u64 >= 122,
        "{text}"
    );
    let gets: f64 = text
        .lines()
        .filter(|l| {
            l.starts_with("tessera_requests_total") && l.contains(r#"command="GET",result="ok""#)
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(gets, 50.0, "{text}");
    let sets: f64 = text
        .lines()
        .filter(|l| {
            l.starts_with("tessera_requests_total") && l.contains(r#"command="SET",result="ok""#)
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(
        sets, 71.0,
        "50 over the binary protocol, 1 over HTTP, 20 over RESP: {text}"
    );
    let incr_err: f64 = text
        .lines()
        .filter(|l| l.contains(r#"command="INCRBY",result="error""#))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(
        incr_err, 2.0,
        "one over the binary protocol, one over RESP: {text}"
    );
    assert!(
        text.contains("tessera_request_duration_seconds_bucket{"),
        "{text}"
    );
    assert!(text.trim_end().ends_with("# EOF"));
    // Every documented family is exported.
    for (family, _) in tessera::net::metrics::FAMILIES {
        let base = family.strip_suffix("_total").unwrap_or(family);
        assert!(
            text.contains(&format!("# TYPE {base} ")),
            "{family} is missing from /metrics"
        );
    }
}

/// Every metric the Grafana dashboard queries exists in /metrics.
#[test]
fn grafana_dashboard_queries_only_exported_metrics() {
    let (node, addr) = http_node(1);
    // Request series exist once a command has been served.
    let bin = node.addr();
    common::block_on(async move {
        let c = tessera::client::Client::connect(bin).await.unwrap();
        c.set(b"k", b"v").await.unwrap();
    });
    let text = String::from_utf8(request(addr, "GET", "/metrics", b"").body).unwrap();
    let dash: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tools/grafana-dashboard.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let mut checked = 0;
    for panel in dash["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            for (i, _) in expr.match_indices("tessera_") {
                let name: String = expr[i..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                // Series names of a family: NAME, NAME_total, NAME_bucket/_sum/_count.
                let found = text.lines().any(|l| {
                    l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} "))
                });
                assert!(found, "the dashboard queries {name}, which /metrics lacks");
                checked += 1;
            }
        }
    }
    assert!(checked >= 20, "only {checked} metric references found");
}
