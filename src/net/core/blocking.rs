//! Blocking pops on the core owning their keys: BLPOP, BRPOP, BLMOVE and
//! BRPOPLPUSH (the BPOP opcode), and BLMPOP, BZMPOP, BZPOPMIN and
//! BZPOPMAX (the BLOCK opcode, which carries the command's own words).
//! Each is registered on its keys (`waiters.rs`) and woken by writes to
//! them; the pop itself is the non-blocking command (LPOP, LMOVE, LMPOP,
//! ZMPOP), so it answers and fails exactly as that one does.

use std::rc::Rc;
use std::time::Instant;

use super::Core;
use crate::cmd::{self, Value};
use crate::codes::{ErrorCode, WireError};
use crate::proto::command::NamedCommand;
use crate::proto::redis::timeout_ms;
use crate::proto::table;
use crate::shard::clock::now_ms;
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
        let slot = cmd::common_slot(&all)?;
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
        let slot = cmd::common_slot(&keys)?;
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
            other => {
                return Err(WireError::new(
                    ErrorCode::UnknownCommand,
                    format!(
                    "'{other}' is not a command BLOCK runs (BLMPOP, BZMPOP, BZPOPMIN, BZPOPMAX)"
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
