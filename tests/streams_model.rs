//! A model test of a consumer group (issue 22): random puts, gets,
//! acknowledgements, redeliveries, claims, trims and deletions, sent to the
//! real server (restarted in the middle of every sequence) and to a plain
//! in-memory model, must give the same answers.

mod common;

use std::collections::BTreeMap;

use common::resp::{Conn, R};
use common::Node;
use proptest::prelude::*;

/// One queue operation; the harness turns it into a command (the ids it
/// names are picked from the model's state, so they are meaningful).
#[derive(Debug, Clone)]
enum Op {
    Put,
    /// XREADGROUP `>` for consumer `c` with a COUNT.
    Get(u8, u8),
    /// XACK of the k-th pending entry (or of an id never delivered).
    Ack(u8),
    /// XREADGROUP of consumer `c`'s history: a redelivery.
    Redeliver(u8),
    /// XCLAIM JUSTID of the k-th pending entry for consumer `c`.
    Claim(u8, u8),
    /// XAUTOCLAIM JUSTID for consumer `c` with a COUNT.
    AutoClaim(u8, u8),
    /// XTRIM MAXLEN = n.
    Trim(u8),
    /// XDEL of the k-th entry.
    Del(u8),
    Pending,
}

fn ops() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => Just(Op::Put),
        4 => (0u8..3, 1u8..4).prop_map(|(c, n)| Op::Get(c, n)),
        3 => any::<u8>().prop_map(Op::Ack),
        1 => (0u8..3).prop_map(Op::Redeliver),
        1 => (0u8..3, any::<u8>()).prop_map(|(c, k)| Op::Claim(c, k)),
        1 => (0u8..3, 1u8..3).prop_map(|(c, n)| Op::AutoClaim(c, n)),
        1 => (0u8..8).prop_map(Op::Trim),
        1 => any::<u8>().prop_map(Op::Del),
        2 => Just(Op::Pending),
    ]
}

/// The queue: entries by id, the group's last delivered id and its
/// pending entries (consumer, deliveries).
#[derive(Default)]
struct Model {
    next: u64,
    entries: BTreeMap<u64, String>,
    last_delivered: u64,
    pel: BTreeMap<u64, (String, u64)>,
}

fn id(n: u64) -> String {
    format!("{n}-0")
}

fn consumer(c: u8) -> String {
    format!("c{c}")
}

fn ids(v: impl IntoIterator<Item = u64>) -> R {
    R::Array(v.into_iter().map(|n| R::bulk(&id(n))).collect())
}

impl Model {
    /// The command for `op`, and the model's answer to it.
    fn step(&mut self, op: &Op) -> (Vec<String>, R) {
        let w = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        match *op {
            Op::Put => {
                self.next += 1;
                let n = self.next;
                self.entries.insert(n, format!("v{n}"));
                (
                    w(&["XADD", "q", &id(n), "v", &format!("v{n}")]),
                    R::bulk(&id(n)),
                )
            }
            Op::Get(c, count) => {
                let got: Vec<u64> = self
                    .entries
                    .range(self.last_delivered + 1..)
                    .take(count as usize)
                    .map(|(n, _)| *n)
                    .collect();
                for &n in &got {
                    self.last_delivered = n;
                    self.pel.insert(n, (consumer(c), 1));
                }
                let cmd = w(&[
                    "XREADGROUP",
                    "GROUP",
                    "g",
                    &consumer(c),
                    "COUNT",
                    &count.to_string(),
                    "STREAMS",
                    "q",
                    ">",
                ]);
                let reply = match got.is_empty() {
                    true => R::Nil,
                    false => R::Array(vec![R::Array(vec![
                        R::bulk("q"),
                        R::Array(got.iter().map(|n| self.entry(*n)).collect()),
                    ])]),
                };
                (cmd, reply)
            }
            Op::Ack(k) => {
                let target = self
                    .pel
                    .keys()
                    .nth(k as usize % (self.pel.len() + 1))
                    .copied();
                match target {
                    Some(n) => {
                        self.pel.remove(&n);
                        (w(&["XACK", "q", "g", &id(n)]), R::Int(1))
                    }
                    None => (w(&["XACK", "q", "g", &id(10_000)]), R::Int(0)),
                }
            }
            Op::Redeliver(c) => {
                let name = consumer(c);
                let mut items = Vec::new();
                for (n, (who, count)) in self.pel.iter_mut() {
                    if *who != name {
                        continue;
                    }
                    match self.entries.get(n) {
                        Some(v) => {
                            *count += 1;
                            items.push(R::Array(vec![
                                R::bulk(&id(*n)),
                                R::Array(vec![R::bulk("v"), R::bulk(v)]),
                            ]));
                        }
                        None => items.push(R::Array(vec![R::bulk(&id(*n)), R::Nil])),
                    }
                }
                let cmd = w(&["XREADGROUP", "GROUP", "g", &name, "STREAMS", "q", "0"]);
                (
                    cmd,
                    R::Array(vec![R::Array(vec![R::bulk("q"), R::Array(items)])]),
                )
            }
            Op::Claim(c, k) => {
                let target = self
                    .pel
                    .keys()
                    .nth(k as usize % (self.pel.len() + 1))
                    .copied();
                let n = target.unwrap_or(10_000);
                let cmd = w(&["XCLAIM", "q", "g", &consumer(c), "0", &id(n), "JUSTID"]);
                let mut claimed = Vec::new();
                if self.pel.contains_key(&n) {
                    if self.entries.contains_key(&n) {
                        self.pel.get_mut(&n).unwrap().0 = consumer(c);
                        claimed.push(n);
                    } else {
                        self.pel.remove(&n);
                    }
                }
                (cmd, ids(claimed))
            }
            Op::AutoClaim(c, count) => {
                let cmd = w(&[
                    "XAUTOCLAIM",
                    "q",
                    "g",
                    &consumer(c),
                    "0",
                    "0",
                    "COUNT",
                    &count.to_string(),
                    "JUSTID",
                ]);
                let seen: Vec<u64> = self.pel.keys().copied().collect();
                let (mut claimed, mut deleted, mut looked) = (Vec::new(), Vec::new(), 0);
                for &n in seen.iter().take(count as usize * 10) {
                    if claimed.len() == count as usize {
                        break;
                    }
                    looked += 1;
                    if !self.entries.contains_key(&n) {
                        self.pel.remove(&n);
                        deleted.push(n);
                        continue;
                    }
                    self.pel.get_mut(&n).unwrap().0 = consumer(c);
                    claimed.push(n);
                }
                let next = seen.get(looked).map_or("0-0".to_string(), |n| id(*n));
                (
                    cmd,
                    R::Array(vec![R::bulk(&next), ids(claimed), ids(deleted)]),
                )
            }
            Op::Trim(n) => {
                let mut removed = 0;
                while self.entries.len() > n as usize {
                    self.entries.pop_first();
                    removed += 1;
                }
                (
                    w(&["XTRIM", "q", "MAXLEN", "=", &n.to_string()]),
                    R::Int(removed),
                )
            }
            Op::Del(k) => {
                let target = self
                    .entries
                    .keys()
                    .nth(k as usize % (self.entries.len() + 1))
                    .copied();
                let n = target.unwrap_or(10_000);
                let removed = self.entries.remove(&n).is_some();
                (w(&["XDEL", "q", &id(n)]), R::Int(i64::from(removed)))
            }
            Op::Pending => {
                let items = self
                    .pel
                    .iter()
                    .map(|(n, (who, count))| {
                        R::Array(vec![
                            R::bulk(&id(*n)),
                            R::bulk(who),
                            R::Int(0),
                            R::Int(*count as i64),
                        ])
                    })
                    .collect();
                (
                    w(&["XPENDING", "q", "g", "-", "+", "1000"]),
                    R::Array(items),
                )
            }
        }
    }

    fn entry(&self, n: u64) -> R {
        R::Array(vec![
            R::bulk(&id(n)),
            R::Array(vec![R::bulk("v"), R::bulk(&self.entries[&n])]),
        ])
    }
}

/// XPENDING's idle times depend on the clock: blanked.
fn scrub(words: &[String], r: R) -> R {
    match (words[0].as_str(), r) {
        ("XPENDING", R::Array(items)) => R::Array(
            items
                .into_iter()
                .map(|i| match i {
                    R::Array(mut f) => {
                        f[2] = R::Int(0);
                        R::Array(f)
                    }
                    other => other,
                })
                .collect(),
        ),
        (_, r) => r,
    }
}

/// Runs `ops` against a fresh 2-core node, restarting it after `cut` ops,
/// and against the model; the first difference fails the case.
fn check(ops: Vec<Op>, cut: usize) -> Result<(), TestCaseError> {
    let cut = cut % (ops.len() + 1);
    let mut model = Model::default();
    let mut node = Node::start(2);
    let mut c = Conn::connect(node.resp_addr());
    prop_assert_eq!(
        c.cmd(&["XGROUP", "CREATE", "q", "g", "$", "MKSTREAM"]),
        R::ok()
    );
    for (i, op) in ops.iter().enumerate() {
        if i == cut {
            let dir = node.stop();
            node = Node::start_in(dir, |c| c.cores = Some(2));
            c = Conn::connect(node.resp_addr());
        }
        let (words, want) = model.step(op);
        let w: Vec<&str> = words.iter().map(String::as_str).collect();
        let got = scrub(&words, c.cmd(&w));
        prop_assert_eq!(
            &got,
            &want,
            "op {} {:?}: {:?} (restart after {})",
            i,
            op,
            words,
            cut
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, max_shrink_iters: 200, ..ProptestConfig::default() })]

    #[test]
    fn a_consumer_group_matches_the_model(ops in prop::collection::vec(ops(), 1..60), cut in any::<usize>()) {
        check(ops, cut)?;
    }
}
