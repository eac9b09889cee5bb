//! `tls-cluster` (docs/security.md, "TLS"; docs/cluster.md): a cluster
//! whose nodes reach each other only over TLS. The map lists only TLS
//! addresses, the cluster forms, replicates, migrates and fails over with
//! `tessera cluster --tls`, and every node's CLIENT LIST shows its peers'
//! links on its TLS ports and none on its plaintext binary ports. Half the
//! nodes run with their plaintext binary listener `off`.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::certs::{self, Certs};
use common::cluster::*;
use common::resp::{Conn, R};

/// A node's certificate, key and CA flags.
fn files(c: &Certs) -> [&str; 6] {
    [
        "--tls-cert-file",
        c.server_cert.to_str().unwrap(),
        "--tls-key-file",
        c.server_key.to_str().unwrap(),
        "--tls-ca-cert-file",
        c.ca.to_str().unwrap(),
    ]
}

/// Node `i` on `ip`; the odd ones with their plaintext binary listener
/// `off`.
fn tls_cluster_node(root: &std::path::Path, i: usize, ip: &str, c: &Certs) -> ClusterNode {
    let any = format!("{ip}:0");
    let args = [&["--tls-cluster", "--tls-listen", &any][..], &files(c)].concat();
    let plain = if i % 2 == 1 { "off" } else { any.as_str() };
    start_node(&root.join(format!("n{i}")), ip, plain, &any, &args)
}

/// `tessera cluster ARGS` over TLS with the client certificate of `c`.
fn cluster_tls(c: &Certs, args: &[&str]) -> (bool, String, String) {
    let tls = [
        "--tls",
        "--cacert",
        c.ca.to_str().unwrap(),
        "--cert",
        c.client_cert.to_str().unwrap(),
        "--key",
        c.client_key.to_str().unwrap(),
    ];
    cluster_cmd(&[args, &tls].concat())
}

#[test]
fn a_tls_cluster_forms_migrates_and_fails_over_with_no_plaintext_link() {
    let root = tempfile::tempdir().unwrap();
    let ips: Vec<String> = (0..4).map(|i| format!("127.0.0.{}", 61 + i)).collect();
    let c = certs::make_for(root.path(), "cl", &ips);
    // Settings that cannot work stop the start, with the reason.
    let bad = root.path().join("bad");
    let files = files(&c);
    refuses_to_start(
        &[&["serve", "--cluster", "--tls-cluster"][..], &files].concat(),
        &bad,
        "tls-cluster lists this node under its tls-listen address",
    );
    refuses_to_start(
        &[
            &["serve", "--tls-cluster", "--tls-listen", "127.0.0.1:0"][..],
            &files,
        ]
        .concat(),
        &bad,
        "tls-cluster is for cluster mode",
    );
    refuses_to_start(
        &["serve", "--listen", "off", "--resp-listen", "off"],
        &bad,
        "listen off needs tls-listen",
    );
    refuses_to_start(
        &[
            &[
                "serve",
                "--cluster",
                "--listen",
                "off",
                "--tls-listen",
                "127.0.0.1:0",
            ][..],
            &files,
        ]
        .concat(),
        &bad,
        "listen off in cluster mode needs tls-cluster",
    );

    let mut nodes: Vec<Option<ClusterNode>> = ips
        .iter()
        .enumerate()
        .map(|(i, ip)| Some(tls_cluster_node(root.path(), i, ip, &c)))
        .collect();
    let tls_addr = |n: &ClusterNode| n.tls.expect("a binary-tls address").to_string();
    let addrs: Vec<String> = nodes.iter().flatten().map(tls_addr).collect();
    // The even nodes' plaintext binary addresses (the odd ones have none:
    // their `binary` is their TLS address).
    let plain: Vec<String> = nodes
        .iter()
        .flatten()
        .filter(|n| n.tls != Some(n.binary))
        .map(|n| n.binary.to_string())
        .collect();
    assert_eq!(plain.len(), 2);

    // Without --tls, a TLS port answers nothing a client can read.
    let (ok, _, _) = cluster_cmd(&["status", "--addr", &addrs[0]]);
    assert!(!ok);

    let create: Vec<&str> = ["create", "--replicas", "1"]
        .into_iter()
        .chain(addrs.iter().map(String::as_str))
        .collect();
    let (ok, out, err) = cluster_tls(&c, &create);
    assert!(ok, "create over TLS failed: {out}{err}");
    let first = nodes[0].as_ref().unwrap().resp;
    let mut s = Conn::connect(first);
    common::wait_until(
        "the cluster is ok",
        Duration::from_secs(60),
        || matches!(s.cmd(&["CLUSTER", "INFO"]), R::Bulk(i) if String::from_utf8_lossy(&i).contains("cluster_state:ok")),
    );
    // The map lists every node under its TLS address, none under its
    // plaintext one.
    let (ok, status, err) = cluster_tls(&c, &["status", "--addr", &addrs[1]]);
    assert!(ok, "{err}");
    assert!(status.contains("4 node(s), 2 shard(s)"), "{status}");
    for t in &addrs {
        assert!(status.contains(t.as_str()), "{status}");
    }
    for p in &plain {
        assert!(!status.contains(p.as_str()), "{status}");
    }

    // A key in slots 0-10, written on its primary.
    let (key, slot) = (0..)
        .map(|i| format!("k{i}"))
        .find_map(|k| match s.cmd(&["CLUSTER", "KEYSLOT", &k]) {
            R::Int(n) if n <= 10 => Some((k, n)),
            _ => None,
        })
        .unwrap();
    let owner = |s: &mut Conn| primary_of(s, slot).expect("an owner");
    let before = owner(&mut s);
    common::wait_until("the write is taken", Duration::from_secs(30), || {
        Conn::connect(owner(&mut s)).cmd(&["SET", &key, "v1"]) == R::ok()
    });

    // Slots 0-10 (shard 0's, as `create` deals them) move to shard 1:
    // the copy and the catch-up run over TLS between the two primaries.
    let (ok, out, err) = cluster_tls(
        &c,
        &["migrate-slots", "0-10", "--to", "1", "--addr", &addrs[0]],
    );
    assert!(ok && out.contains("done"), "migrate-slots: {out}{err}");
    let moved = owner(&mut s);
    assert_ne!(moved, before, "the slots did not move");
    assert_eq!(Conn::connect(moved).cmd(&["GET", &key]), R::bulk("v1"));

    // The new owner dies: its replica (which followed it over TLS) is
    // promoted by the controller (Raft over TLS), and has the key.
    let i = nodes
        .iter()
        .position(|n| n.as_ref().is_some_and(|n| n.resp == moved))
        .expect("the owner is one of the nodes");
    for n in nodes.iter().flatten() {
        links_are_tls(n);
    }
    let mut killed = nodes[i].take().unwrap();
    let _ = killed.child.kill();
    let _ = killed.child.wait();
    let watch: SocketAddr = nodes.iter().flatten().next().unwrap().resp;
    let mut w = Conn::connect(watch);
    common::wait_until("the shard fails over", Duration::from_secs(60), || {
        primary_of(&mut w, slot).is_some_and(|p| p != moved)
    });
    let promoted = owner(&mut w);
    assert_eq!(Conn::connect(promoted).cmd(&["GET", &key]), R::bulk("v1"));

    for n in nodes.iter().flatten() {
        links_are_tls(n);
    }
}

/// `n`'s binary connections (its peers' Raft, cluster, replication and
/// migration links; this test's own are closed by now) are all TLS, and
/// there are some.
fn links_are_tls(n: &ClusterNode) {
    let R::Bulk(list) = Conn::connect(n.resp).cmd(&["CLIENT", "LIST"]) else {
        panic!("CLIENT LIST failed")
    };
    let list = String::from_utf8_lossy(&list).into_owned();
    let binary: Vec<&str> = list
        .lines()
        .filter(|l| l.contains("tessera-proto=binary"))
        .collect();
    assert!(!binary.is_empty(), "no link to {}: {list}", n.resp);
    for l in binary {
        assert!(
            l.contains(" tls=yes "),
            "a plaintext link on {}: {l}",
            n.binary
        );
    }
}
