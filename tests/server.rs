//! The real server on 127.0.0.1:0 with the real client: every command,
//! its errors, pipelining, forwarding and shard-aware routing.

mod common;

use std::rc::Rc;

use common::{block_on, server_code, Node};
use tessera::client::Client;
use tessera::codes::ErrorCode;
use tessera::proto::command::NamedCommand;
use tessera::proto::value::Value;
use tessera::proto::SetArgs;

#[test]
fn every_command_and_its_errors() {
    let node = Node::start(2);
    let addr = node.addr();
    block_on(async move {
        let c = Client::connect(addr).await.unwrap();
        assert_eq!(c.hello().cores, 2);
        assert_eq!(c.hello().partitions(), 2);
        assert_eq!(c.ping(b"").await.unwrap(), b"");
        assert_eq!(c.ping(b"echo").await.unwrap(), b"echo");

        // GET / SET and versions.
        assert_eq!(c.get(b"missing").await.unwrap(), None);
        let v1 = c.set(b"k", b"v1").await.unwrap();
        let got = c.get(b"k").await.unwrap().unwrap();
        assert_eq!((got.value.as_slice(), got.version), (&b"v1"[..], v1));
        let v2 = c.set(b"k", b"\x00binary\xff").await.unwrap();
        assert!(v2 > v1, "versions grow: {v1} then {v2}");
        assert_eq!(c.get(b"k").await.unwrap().unwrap().value, b"\x00binary\xff");

        // NX / XX.
        let nx = SetArgs {
            nx: true,
            ..Default::default()
        };
        let r = c.set_with(b"k", b"no", nx).await.unwrap();
        assert!(!r.applied);
        assert_eq!(r.version, v2);
        assert!(c.set_with(b"fresh", b"yes", nx).await.unwrap().applied);
        let xx = SetArgs {
            xx: true,
            ..Default::default()
        };
        assert!(!c.set_with(b"absent", b"x", xx).await.unwrap().applied);
        assert_eq!(c.get(b"absent").await.unwrap(), None);
        assert!(c.set_with(b"fresh", b"again", xx).await.unwrap().applied);

        // CAS.
        let cur = c.get(b"k").await.unwrap().unwrap().version;
        let cas = |v| SetArgs {
            expected_version: Some(v),
            ..Default::default()
        };
        let err = c.set_with(b"k", b"stale", cas(cur - 1)).await;
        assert_eq!(server_code(err), ErrorCode::VersionConflict);
        assert_eq!(
            c.get(b"k").await.unwrap().unwrap().version,
            cur,
            "a refused CAS changes nothing"
        );
        let ok = c.set_with(b"k", b"cas", cas(cur)).await.unwrap();
        assert!(ok.applied && ok.version > cur);
        assert_eq!(
            server_code(c.set_with(b"nokey", b"x", cas(5)).await),
            ErrorCode::VersionConflict
        );
        assert!(
            c.set_with(b"nokey", b"x", cas(0)).await.unwrap().applied,
            "version 0 = must not exist"
        );

        // DEL / EXISTS over keys on both cores.
        let keys: Vec<Vec<u8>> = (0..20).map(|i| format!("key:{i}").into_bytes()).collect();
        let refs: Vec<&[u8]> = keys.iter().map(|k| k.as_slice()).collect();
        let pairs: Vec<(&[u8], &[u8])> = refs.iter().map(|k| (*k, *k)).collect();
        assert_eq!(c.mset(&pairs).await.unwrap(), 20);
        assert_eq!(c.exists(&refs).await.unwrap(), 20);
        let mut with_missing = refs.clone();
        with_missing.push(b"nope");
        let got = c.mget(&with_missing).await.unwrap();
        assert_eq!(got.len(), 21);
        for (i, v) in got.iter().take(20).enumerate() {
            assert_eq!(
                v.as_ref().unwrap().value,
                keys[i],
                "MGET keeps request order"
            );
        }
        assert_eq!(got[20], None);
        assert_eq!(c.del(&with_missing).await.unwrap(), 20);
        assert_eq!(c.exists(&refs).await.unwrap(), 0);

        // INCRBY.
        assert_eq!(c.incr_by(b"n", 5).await.unwrap().0, 5);
        assert_eq!(c.incr_by(b"n", -7).await.unwrap().0, -2);
        c.set(b"big", i64::MAX.to_string().as_bytes())
            .await
            .unwrap();
        assert_eq!(server_code(c.incr_by(b"big", 1).await), ErrorCode::Overflow);
        c.set(b"text", b"12abc").await.unwrap();
        assert_eq!(
            server_code(c.incr_by(b"text", 1).await),
            ErrorCode::NotInteger
        );
        c.set(b"spaced", b" 12").await.unwrap();
        assert_eq!(
            server_code(c.incr_by(b"spaced", 1).await),
            ErrorCode::NotInteger
        );

        // EXPIRE / TTL / PERSIST.
        assert_eq!(c.ttl_ms(b"nothing").await.unwrap(), -2);
        assert_eq!(c.ttl_ms(b"n").await.unwrap(), -1);
        assert!(c.expire_ms(b"n", 100_000).await.unwrap());
        let t = c.ttl_ms(b"n").await.unwrap();
        assert!(t > 90_000 && t <= 100_000, "ttl {t}");
        assert_eq!(c.incr_by(b"n", 1).await.unwrap().0, -1);
        assert!(c.ttl_ms(b"n").await.unwrap() > 0, "INCR keeps the TTL");
        assert!(c.persist(b"n").await.unwrap());
        assert!(!c.persist(b"n").await.unwrap());
        assert_eq!(c.ttl_ms(b"n").await.unwrap(), -1);
        assert!(!c.expire_ms(b"nothing", 10).await.unwrap());
        assert!(c.expire_ms(b"n", 0).await.unwrap(), "TTL 0 deletes");
        assert_eq!(c.get(b"n").await.unwrap(), None);
        let ttl = SetArgs {
            ttl_ms: Some(50_000),
            ..Default::default()
        };
        c.set_with(b"t", b"v", ttl).await.unwrap();
        let keep = SetArgs {
            keep_ttl: true,
            ..Default::default()
        };
        c.set_with(b"t", b"v2", keep).await.unwrap();
        assert!(c.ttl_ms(b"t").await.unwrap() > 0, "KEEPTTL keeps it");
        c.set(b"t", b"v3").await.unwrap();
        assert_eq!(c.ttl_ms(b"t").await.unwrap(), -1, "a plain SET clears it");

        // DBSIZE is an estimate; INFO has every core and partition.
        let _ = c.dbsize().await.unwrap();
        let info = c.info().await.unwrap();
        for needle in [
            "durability:wal",
            "# core 0",
            "# core 1",
            "partition0_writes:",
            "partition1_wal_synced:",
        ] {
            assert!(info.contains(needle), "INFO lacks {needle}:\n{info}");
        }
    });
}

#[test]
fn ten_thousand_pipelined_requests_on_one_connection() {
    let node = Node::start(1);
    let addr = node.addr();
    block_on(async move {
        let c = Rc::new(Client::connect_direct(addr).await.unwrap());
        let futs = (0..10_000u32).map(|i| {
            let c = c.clone();
            async move {
                let k = format!("p{i}");
                if i % 2 == 0 {
                    c.set(k.as_bytes(), &i.to_be_bytes()).await.map(|_| ())
                } else {
                    c.incr_by(b"pipelined-counter", 1).await.map(|_| ())
                }
            }
        });
        for r in futures::future::join_all(futs).await {
            r.unwrap();
        }
        assert_eq!(
            c.get(b"pipelined-counter").await.unwrap().unwrap().value,
            b"5000"
        );
        assert_eq!(
            c.get(b"p9998").await.unwrap().unwrap().value,
            9998u32.to_be_bytes()
        );
    });
}

#[test]
fn forwarding_through_the_shared_port_and_direct_core_ports() {
    let node = Node::start(2);
    let addr = node.addr();
    let core_addrs = node.core_addrs();
    assert_eq!(core_addrs.len(), 2);
    assert_ne!(core_addrs[0].port(), addr.port());
    block_on(async move {
        // Through the shared port, with no routing on the client: half the
        // keys live on the other core and are forwarded.
        let direct = Client::connect_direct(addr).await.unwrap();
        for i in 0..200 {
            direct.set(format!("f{i}").as_bytes(), b"x").await.unwrap();
        }
        let keys: Vec<Vec<u8>> = (0..200).map(|i| format!("f{i}").into_bytes()).collect();
        let refs: Vec<&[u8]> = keys.iter().map(|k| k.as_slice()).collect();
        assert_eq!(direct.exists(&refs).await.unwrap(), 200);
        // Every core's own port answers too, forwarding what is not its own.
        for a in &core_addrs {
            let one = Client::connect_direct(*a).await.unwrap();
            assert_eq!(one.mget(&refs).await.unwrap().iter().flatten().count(), 200);
        }
        // The shard-aware client reaches the same data without forwarding.
        let aware = Client::connect(addr).await.unwrap();
        let before = aware.info().await.unwrap();
        for k in &refs {
            assert!(aware.get(k).await.unwrap().is_some());
        }
        let after = aware.info().await.unwrap();
        assert_eq!(
            forwarded(&before),
            forwarded(&after) - forwarded_by_info(),
            "a shard-aware client causes no forwarding"
        );
        let info = direct.info().await.unwrap();
        assert!(
            forwarded(&info) > 0,
            "the direct client was forwarded:\n{info}"
        );
    });
}

/// Requests the cores forwarded, from an INFO text.
fn forwarded(info: &str) -> u64 {
    common::info_sum(info, "core", "forwarded_out")
}

/// Forwards caused by one INFO: the core that answers asks the other one.
fn forwarded_by_info() -> u64 {
    1
}

#[test]
fn concurrent_incr_from_many_connections_is_exact() {
    let node = Node::start(2);
    let addr = node.addr();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                block_on(async move {
                    let mut clients = Vec::new();
                    for _ in 0..8 {
                        clients.push(Rc::new(Client::connect_direct(addr).await.unwrap()));
                    }
                    let futs = clients.iter().flat_map(|c| {
                        (0..250).map(move |_| {
                            let c = c.clone();
                            async move { c.incr_by(b"{counter}", 1).await.unwrap() }
                        })
                    });
                    futures::future::join_all(futs).await;
                })
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    block_on(async move {
        let c = Client::connect(addr).await.unwrap();
        assert_eq!(c.get(b"{counter}").await.unwrap().unwrap().value, b"8000");
    });
}

#[test]
fn scan_returns_every_key_while_writes_go_on() {
    let node = Node::start(2);
    let addr = node.addr();
    block_on(async move {
        let c = Rc::new(Client::connect(addr).await.unwrap());
        let stable: Vec<Vec<u8>> = (0..3000)
            .map(|i| format!("stable:{i:05}").into_bytes())
            .collect();
        for chunk in stable.chunks(500) {
            let pairs: Vec<(&[u8], &[u8])> =
                chunk.iter().map(|k| (k.as_slice(), &b"v"[..])).collect();
            c.mset(&pairs).await.unwrap();
        }
        // Churn: other keys are created and deleted during the scan.
        let churn = {
            let c = c.clone();
            glommio::spawn_local(async move {
                for i in 0..3000 {
                    let k = format!("churn:{i}");
                    c.set(k.as_bytes(), b"x").await.unwrap();
                    if i % 2 == 0 {
                        c.del(&[k.as_bytes()]).await.unwrap();
                    }
                }
            })
        };
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        let mut pages = 0;
        loop {
            let (next, keys) = c.scan(cursor, 97, b"").await.unwrap();
            seen.extend(keys);
            pages += 1;
            if next == 0 {
                break;
            }
            cursor = next;
        }
        churn.await;
        assert!(pages > 10, "small pages: {pages}");
        for k in &stable {
            assert!(
                seen.contains(k),
                "SCAN missed {}",
                String::from_utf8_lossy(k)
            );
        }
        // MATCH prefix.
        let only = c.scan_all(b"stable:001").await.unwrap();
        assert_eq!(only.len(), 100);
        assert!(only.iter().all(|k| k.starts_with(b"stable:001")));
    });
}

#[test]
fn expired_keys_vanish() {
    let node = Node::start(1);
    let addr = node.addr();
    block_on(async move {
        let c = Client::connect(addr).await.unwrap();
        let ttl = SetArgs {
            ttl_ms: Some(30),
            ..Default::default()
        };
        c.set_with(b"soon", b"gone", ttl).await.unwrap();
        c.set(b"kept", b"here").await.unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while c.get(b"soon").await.unwrap().is_some() {
            assert!(std::time::Instant::now() < deadline, "key did not expire");
            glommio::timer::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert_eq!(c.ttl_ms(b"soon").await.unwrap(), -2);
        assert_eq!(c.exists(&[b"soon", b"kept"]).await.unwrap(), 1);
        assert!(!c.scan_all(b"").await.unwrap().contains(&b"soon".to_vec()));
        // Expired keys can be created again.
        let nx = SetArgs {
            nx: true,
            ..Default::default()
        };
        assert!(c.set_with(b"soon", b"back", nx).await.unwrap().applied);
    });
}

/// BATCH's KEEP_GOING flag (what RESP's EXEC sends): a flagged command that
/// fails answers its error as its value while the rest applies.
#[test]
fn batched_commands_flagged_keep_going_fail_alone() {
    let node = Node::start(2);
    let addr = node.addr();
    block_on(async move {
        let c = Client::connect(addr).await.unwrap();
        let cmd = |w: &'static [&'static str]| {
            NamedCommand::new(w.iter().map(|s| s.as_bytes()).collect())
        };
        let ok = |words: &'static [&'static str]| {
            let c = &c;
            async move {
                let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
                c.command(&args).await.unwrap().1
            }
        };
        ok(&["SET", "{u1}name", "ann"]).await;
        // KEEP_GOING: a flagged command that fails (a wrong type, a bad
        // argument, an unknown name) answers its error as its value and
        // the rest of the batch applies.
        let r = c
            .batch(&[
                cmd(&["SADD", "{u1}tags", "kept"]),
                cmd(&["INCR", "{u1}name"]).keep_going(),
                cmd(&["HSET", "{u1}profile", "odd"]).keep_going(),
                cmd(&["NOPE", "{u1}a"]).keep_going(),
                cmd(&["HSET", "{u1}profile", "city", "Rome"]).keep_going(),
            ])
            .await
            .unwrap();
        let codes: Vec<Option<ErrorCode>> = r
            .iter()
            .map(|(_, v)| match v {
                Value::Error(e) => Some(e.code),
                _ => None,
            })
            .collect();
        assert_eq!(
            codes,
            [
                None,
                Some(ErrorCode::NotInteger),
                Some(ErrorCode::BadArguments),
                Some(ErrorCode::UnknownCommand),
                None
            ]
        );
        assert_eq!(r[1].0, 0, "a failed command answers version 0");
        assert_eq!(
            ok(&["HGET", "{u1}profile", "city"]).await,
            Value::Bytes(b"Rome".to_vec())
        );
        assert_eq!(ok(&["SISMEMBER", "{u1}tags", "kept"]).await, Value::Int(1));
        // Only failures: each answers its error, nothing runs.
        let r = c
            .batch(&[
                cmd(&["SET", "{u1}x", "v", "EX", "nope"]).keep_going(),
                cmd(&["NOPE"]).keep_going(),
            ])
            .await
            .unwrap();
        assert!(r.iter().all(|(_, v)| matches!(v, Value::Error(_))), "{r:?}");
        // An unflagged failure still stops the whole batch.
        let e = c
            .batch(&[
                cmd(&["SADD", "{u1}tags", "never"]).keep_going(),
                cmd(&["INCR", "{u1}name"]),
            ])
            .await;
        assert_eq!(server_code(e), ErrorCode::NotInteger);
        assert_eq!(ok(&["SISMEMBER", "{u1}tags", "never"]).await, Value::Int(0));
    });
}
