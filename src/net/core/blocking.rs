//! Blocking pops on the core owning their keys: BLPOP, BRPOP, BLMOVE and
//! BRPOPLPUSH (the BPOP opcode), and BLMPOP, BZMPOP, BZPOPMIN and
//! BZPOPMAX (the BLOCK opcode, which carries the command's own words).
//! Each is registered on its keys (`waiters.rs`) and woken by writes to
//! them; the pop itself is the non-blocking command (LPOP, LMOVE, LMPOP,
//! ZMPOP), so it answers and fails exactly as that one does.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Instant;

use futures::channel::oneshot;

use super::Core;
use crate::cmd::{self, Value};
use crate::codes::{ErrorCode, WireError};
use crate::net::mesh::CrossMsg;
use crate::proto::args::stream as stream_args;
use crate::proto::command::NamedCommand;
use crate::proto::redis::timeout_ms;
use crate::proto::table;
use crate::shard::clock::now_ms;
use crate::slot::key_slot;
use crate::sync::Notify;

/// What a blocking pop returns: the attempt that found something and its
/// answer (or nothing when the time ran out), and the write to wait for.
type Found = (Option<(usize, Value)>, Option<(u32, u64)>);

impl Core {
    /// BLPOP/BRPOP/BLMOVE on the core owning the keys: pops now if any list
    /// has an element, else waits for a write to one of the keys, the
    /// timeout (0 = none) or shutdown. The pop and the timeout are decided
    /// here, so an element is either returned or left in the list.
    pub(super) async fn blocking_pop(
        &self,
        db: u16,
        timeout_ms: u64,
        left: bool,
        keys: &[&[u8]],
        dest: Option<(&[u8], bool)>,
    ) -> Result<(Option<(Vec<u8>, Vec<u8>)>, Option<(u32, u64)>), WireError> {
        let mut all: Vec<&[u8]> = keys.to_vec();
        all.extend(dest.map(|d| d.0));
        let slot = self.wait_slot(&all)?;
        let end = |left: bool| -> &'static [u8] {
            if left {
                b"LEFT"
            } else {
                b"RIGHT"
            }
        };
        let attempts: Vec<Vec<&[u8]>> = keys
            .iter()
            .map(|&key| match dest {
                None => vec![if left { b"LPOP" } else { b"RPOP" }, key],
                Some((d, to_left)) => vec![b"LMOVE", key, d, end(left), end(to_left)],
            })
            .collect();
        let (found, group) = self
            .pop_or_wait(db, timeout_ms, keys, slot, &attempts)
            .await?;
        Ok(match found {
            Some((i, Value::Bytes(v))) => (Some((keys[i].to_vec(), v)), group),
            _ => (None, None),
        })
    }

    /// BLMPOP, BZMPOP, BZPOPMIN and BZPOPMAX, given as Redis words: the
    /// keys from the command table, the timeout parsed after them (Redis's
    /// order of errors), then LMPOP or ZMPOP until it pops something.
    /// Nil when the time runs out.
    pub(super) async fn blocking_command(
        &self,
        db: u16,
        args: &[&[u8]],
    ) -> Result<(Value, Option<(u32, u64)>), WireError> {
        let row = table::lookup(args)?;
        let keys = row.keys_of(args)?;
        let slot = self.wait_slot(&keys)?;
        let n = args.len();
        let count = keys.len().to_string();
        let (timeout, inner): (&[u8], Vec<&[u8]>) = match row.name {
            "blmpop" | "bzmpop" => {
                let name: &[u8] = if row.name == "blmpop" {
                    b"LMPOP"
                } else {
                    b"ZMPOP"
                };
                let words = std::iter::once(name).chain(args[2..].iter().copied());
                (args[1], words.collect())
            }
            // BZPOPMIN k1 k2 t: ZMPOP 2 k1 k2 MIN, one member.
            "bzpopmin" | "bzpopmax" => {
                let end: &[u8] = if row.name == "bzpopmin" {
                    b"MIN"
                } else {
                    b"MAX"
                };
                let mut words: Vec<&[u8]> = vec![b"ZMPOP", count.as_bytes()];
                words.extend(&keys);
                words.push(end);
                (args[n - 1], words)
            }
            "xread" | "xreadgroup" => return self.blocking_read(db, row.name, args, &keys, slot).await,
            other => {
                return Err(WireError::new(
                    ErrorCode::UnknownCommand,
                    format!(
                    "'{other}' is not a command BLOCK runs (BLMPOP, BZMPOP, BZPOPMIN, BZPOPMAX, XREAD, XREADGROUP)"
                ),
                ))
            }
        };
        let timeout = timeout_ms(timeout)?;
        let (found, group) = self
            .pop_or_wait(db, timeout, &keys, slot, std::slice::from_ref(&inner))
            .await?;
        Ok(match found {
            None => (Value::Nil, None),
            Some((_, v)) if row.name.starts_with("bzpop") => (one_member(v), group),
            Some((_, v)) => (v, group),
        })
    }

    /// XREAD and XREADGROUP with BLOCK: the command without its BLOCK
    /// option until it answers something other than nil. XREAD's `$`
    /// becomes the stream's last entry's id first (0-0 when empty or
    /// missing): later entries are exactly those after it, as with the
    /// stream's last id, since an id below that is never added again.
    async fn blocking_read(
        &self,
        db: u16,
        name: &str,
        args: &[&[u8]],
        keys: &[&[u8]],
        slot: u16,
    ) -> Result<(Value, Option<(u32, u64)>), WireError> {
        let Some((timeout, at)) = stream_args::block_option(args) else {
            return Err(WireError::new(ErrorCode::BadArguments, "BLOCK is missing"));
        };
        let timeout = timeout?;
        let mut words: Vec<Vec<u8>> = args
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != at && i != at + 1)
            .map(|(_, w)| w.to_vec())
            .collect();
        if name == "xread" {
            let n = words.len();
            for (i, key) in keys.iter().enumerate() {
                let id_at = n - keys.len() + i;
                if words[id_at] != b"$" {
                    continue;
                }
                let last: Vec<&[u8]> = vec![b"XREVRANGE", key, b"+", b"-", b"COUNT", b"1"];
                let (mut r, _) = self
                    .run_named(&[NamedCommand::new(last)], db, now_ms())
                    .await?;
                words[id_at] = match r.pop() {
                    Some((_, Value::Array(found))) => match found.first() {
                        Some(Value::Array(e)) => match e.first() {
                            Some(Value::Bytes(id)) => id.clone(),
                            _ => b"0-0".to_vec(),
                        },
                        _ => b"0-0".to_vec(),
                    },
                    _ => b"0-0".to_vec(),
                };
            }
        }
        let inner: Vec<&[u8]> = words.iter().map(Vec::as_slice).collect();
        let (found, group) = self
            .pop_or_wait(db, timeout, keys, slot, std::slice::from_ref(&inner))
            .await?;
        Ok(match found {
            None => (Value::Nil, None),
            Some((_, v)) => (v, group),
        })
    }

    /// The slot a blocking pop waits in: in cluster mode its keys' one
    /// slot (CROSSSLOT otherwise, as Redis Cluster answers); on one node
    /// its first key's, the others watched where they live
    /// (`watch_remote`) and popped by commits across partitions.
    fn wait_slot(&self, keys: &[&[u8]]) -> Result<u16, WireError> {
        match self.cluster {
            Some(_) => cmd::common_slot(keys),
            None => cmd::common_slot(keys.get(..1).unwrap_or_default()),
        }
    }

    /// Has the cores owning `keys` (other than this one) wake `me` at each
    /// write to one of them, until the returned guard drops; returns once
    /// every one is registered, so no write after the first attempt is
    /// missed.
    async fn watch_remote(&self, keys: &[&[u8]], me: &Rc<Notify>) -> Option<RemoteWatch> {
        let mut by_core: BTreeMap<usize, Vec<Vec<u8>>> = BTreeMap::new();
        for k in keys {
            let c = self
                .topo
                .core_of_partition(self.topo.partition_of_slot(key_slot(k)));
            if c != self.id {
                by_core.entry(c).or_default().push(k.to_vec());
            }
        }
        if by_core.is_empty() {
            return None;
        }
        let (wake, woken) = flume::unbounded();
        let (mut gone, mut registered) = (Vec::new(), Vec::new());
        for (c, keys) in by_core {
            let (ready, done) = oneshot::channel();
            let (tx, rx) = oneshot::channel();
            let msg = CrossMsg::Watch {
                keys,
                ready,
                wake: wake.clone(),
                gone: rx,
            };
            self.mesh.send_cross(c, msg);
            registered.push(done);
            gone.push(tx);
        }
        // Every core registers at once; the pop waits for all of them.
        futures::future::join_all(registered).await;
        // Woken from there, this pop tries again.
        let me = me.clone();
        let forward = glommio::spawn_local(async move {
            while woken.recv_async().await.is_ok() {
                me.notify();
            }
        });
        Some(RemoteWatch {
            _gone: gone,
            _forward: forward,
        })
    }

    /// Runs `attempts` (named commands, in order) until one answers
    /// something other than nil; while none does, waits for a write to one
    /// of `keys`, the timeout (0 = none) or shutdown.
    async fn pop_or_wait(
        &self,
        db: u16,
        timeout_ms: u64,
        keys: &[&[u8]],
        slot: u16,
        attempts: &[Vec<&[u8]>],
    ) -> Result<Found, WireError> {
        let deadline =
            (timeout_ms > 0).then(|| Instant::now() + std::time::Duration::from_millis(timeout_ms));
        let me = Rc::new(Notify::default());
        let _registered = self.waiters.block_on(keys, &me);
        let _remote = match self.cluster {
            Some(_) => None,
            None => self.watch_remote(keys, &me).await,
        };
        loop {
            // Cluster mode: the slot moved away while this pop waited (a
            // migration's flip, a failover): the client goes to the owner.
            if let Some(e) = self.cluster.as_ref().and_then(|cl| cl.moved_away(slot)) {
                return Err(e);
            }
            for (i, words) in attempts.iter().enumerate() {
                let (mut r, group) = self
                    .run_named(&[NamedCommand::new(words.clone())], db, now_ms())
                    .await?;
                match r.pop() {
                    None | Some((_, Value::Nil)) => {}
                    Some((_, v)) => return Ok((Some((i, v)), group)),
                }
            }
            let wait = me.wait(true);
            let stop = self.shutdown.wait(false);
            let timer = async {
                match deadline {
                    Some(d) => {
                        glommio::timer::sleep(d.saturating_duration_since(Instant::now())).await
                    }
                    None => futures::future::pending::<()>().await,
                }
            };
            use futures::future::{select, Either};
            let woke = {
                let wait = std::pin::pin!(wait);
                let stop = std::pin::pin!(stop);
                let timer = std::pin::pin!(timer);
                match select(wait, select(stop, timer)).await {
                    Either::Left(_) => true,
                    Either::Right(_) => false,
                }
            };
            if !woke {
                return Ok((None, None));
            }
        }
    }
}

/// A pop's registrations on other cores: dropped, they end (and the task
/// that forwards their wake-ups with them).
struct RemoteWatch {
    _gone: Vec<oneshot::Sender<()>>,
    _forward: glommio::Task<()>,
}

/// ZMPOP's `[key, [[member, score]]]` as BZPOPMIN's `[key, member, score]`.
fn one_member(v: Value) -> Value {
    if let Value::Array(kv) = &v {
        if let [key, Value::Array(pairs)] = kv.as_slice() {
            if let [Value::Array(ms)] = pairs.as_slice() {
                let mut out = vec![key.clone()];
                out.extend(ms.iter().cloned());
                return Value::Array(out);
            }
        }
    }
    v
}
