//! The generator over TLS (its own test binary: TLS is set for the whole
//! process): binary and RESP runs against a node's TLS listeners, every
//! request answered. Nothing here asserts speed.

#[path = "../../tests/common/certs.rs"]
#[allow(dead_code, unreachable_pub)]
mod certs;

use std::time::Duration;

use tessera::Config;
use tessera_bench::driver::Proto;
use tessera_bench::run::{run, RunSpec};
use tessera_bench::workload::{Dist, Mix, Op, ValueSize};

#[test]
fn runs_over_the_binary_and_resp_tls_listeners() {
    let dir = tempfile::tempdir().unwrap();
    let c = certs::make(dir.path(), "bench");
    let h = tessera::start(Config {
        data_dir: dir.path().join("data"),
        listen: "127.0.0.1:0".into(),
        cores: Some(2),
        block_cache_bytes: 8 << 20,
        write_buffer_bytes: 16 << 20,
        http_listen: "off".into(),
        resp_listen: "127.0.0.1:0".into(),
        tls_listen: "127.0.0.1:0".into(),
        resp_tls_listen: "127.0.0.1:0".into(),
        tls_cert_file: Some(c.server_cert.clone()),
        tls_key_file: Some(c.server_key.clone()),
        ..Config::default()
    })
    .expect("server starts");
    let [binary_tls, resp_tls, _] = h.tls_addrs;
    tessera::client::tls::set_tls(Some(&tessera::client::tls::TlsOptions {
        ca_file: c.ca.clone(),
        ..Default::default()
    }))
    .unwrap();
    for (proto, addr) in [
        (Proto::Binary, binary_tls.unwrap()),
        (Proto::Resp, resp_tls.unwrap()),
    ] {
        let spec = |op, preload| RunSpec {
            label: "tls".into(),
            proto,
            addr,
            conns: 8,
            pipeline: 8,
            keyspace: 500,
            dist: Dist::Uniform,
            mix: Mix::only(op),
            values: ValueSize {
                lo: 100,
                hi: 20_000,
            },
            duration: Duration::from_secs(60),
            requests: Some(3000),
            warmup: Duration::ZERO,
            rate: None,
            preload,
            seed: 5,
            cpus: vec![tessera::net::sys::affinity_cpus()[0]; 2],
            progress: false,
        };
        let w = run(&spec(Op::Set, false)).unwrap();
        assert_eq!(
            (w.ops, w.error_count()),
            (3000, 0),
            "{proto:?}: {:?}",
            w.errors
        );
        let r = run(&spec(Op::Get, true)).unwrap();
        assert_eq!(
            (r.ops, r.misses, r.error_count()),
            (3000, 0, 0),
            "{proto:?}"
        );
    }
    h.shutdown();
    h.join().unwrap();
}
