//! Routing shared by the server and the client: which core a request goes
//! to, how multi-key requests split by core, and how the parts' replies
//! combine. MGET, MSET, DEL and EXISTS fan out and gather; they are not
//! atomic across cores.

use super::codec::{put_u32, put_u64, Reader};
use super::command::skip_found;
use super::hello::{cursor, Topology};
use super::{decode_error, encode_error, frame, Opcode, Request};
use crate::codes::{ErrorCode, WireError};

// ---- fan-out and gather -------------------------------------------------------

/// How the parts of a fanned-out request combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gather {
    /// Sum of u64 bodies (DEL, EXISTS, MSET, DBSIZE).
    Sum,
    /// Items placed back in request order (MGET).
    Items,
    /// Concatenated text after a node header (INFO).
    Text,
    /// Concatenated lines, no header (METRICS).
    Lines,
}

/// A part of a split request: its core, the sub-request and the indices
/// of the original keys it carries.
pub type SplitPart<'a> = (usize, Request<'a>, Vec<usize>);

/// Splits a multi-key request by owning core. Returns `None` when every key
/// lives on one core (then the request is run or forwarded whole).
pub fn split<'a>(topo: &Topology, req: &Request<'a>) -> Option<(Gather, Vec<SplitPart<'a>>)> {
    if let Request::InDb { db, inner } = req {
        let (gather, parts) = split(topo, inner)?;
        let parts = parts
            .into_iter()
            .map(|(core, sub, idx)| (core, sub.in_db(*db), idx))
            .collect();
        return Some((gather, parts));
    }
    let (gather, keys): (Gather, Vec<&[u8]>) = match req {
        Request::Del { keys } | Request::Exists { keys } => (Gather::Sum, keys.clone()),
        Request::MGet { keys } => (Gather::Items, keys.clone()),
        Request::MSet { pairs } => (Gather::Sum, pairs.iter().map(|p| p.0).collect()),
        _ => return None,
    };
    let groups = topo.group_by_core(keys.iter().copied());
    if groups.len() == 1 {
        return None;
    }
    let parts = groups
        .into_iter()
        .map(|(core, idx)| {
            let sub = match req {
                Request::Del { keys } => Request::Del {
                    keys: idx.iter().map(|&i| keys[i]).collect(),
                },
                Request::Exists { keys } => Request::Exists {
                    keys: idx.iter().map(|&i| keys[i]).collect(),
                },
                Request::MGet { keys } => Request::MGet {
                    keys: idx.iter().map(|&i| keys[i]).collect(),
                },
                Request::MSet { pairs } => Request::MSet {
                    pairs: idx.iter().map(|&i| pairs[i]).collect(),
                },
                _ => unreachable!("only multi-key requests are split"),
            };
            (core, sub, idx)
        })
        .collect();
    Some((gather, parts))
}

/// Combines part replies into one response frame with `id`.
pub fn combine(
    out: &mut Vec<u8>,
    id: u32,
    gather: Gather,
    total_items: usize,
    parts: &[(Vec<u8>, Vec<usize>)],
) {
    // The first failed part decides the reply.
    for (reply, _) in parts {
        match frame::check(reply, usize::MAX) {
            Ok(Some(info)) if info.kind == frame::STATUS_OK => {}
            Ok(Some(info)) => {
                encode_error(out, id, &decode_error(info.body(reply)));
                return;
            }
            _ => {
                encode_error(
                    out,
                    id,
                    &WireError::new(ErrorCode::Internal, "bad reply from core"),
                );
                return;
            }
        }
    }
    let body = |r: &[u8]| -> Vec<u8> { r[frame::HEADER_LEN..].to_vec() };
    let start = frame::begin(out, id, frame::STATUS_OK, 0);
    let mut failed = false;
    match gather {
        Gather::Sum => {
            let mut n = 0u64;
            for (reply, _) in parts {
                match Reader::new(&body(reply)).u64("count") {
                    Ok(v) => n += v,
                    Err(_) => failed = true,
                }
            }
            put_u64(out, n);
        }
        Gather::Text | Gather::Lines => {
            for (reply, _) in parts {
                out.extend_from_slice(&reply[frame::HEADER_LEN..]);
            }
        }
        Gather::Items => {
            let mut items: Vec<&[u8]> = vec![&[]; total_items];
            for (reply, idx) in parts {
                let b = &reply[frame::HEADER_LEN..];
                let mut r = Reader::new(b);
                if r.u32("n").map(|n| n as usize) != Ok(idx.len()) {
                    failed = true;
                    break;
                }
                for &i in idx {
                    match (skip_found(&mut r, b), items.get_mut(i)) {
                        (Ok(item), Some(slot)) => *slot = item,
                        _ => failed = true,
                    }
                }
            }
            put_u32(out, total_items as u32);
            for item in items {
                out.extend_from_slice(item);
            }
        }
    }
    if failed {
        out.truncate(start);
        encode_error(
            out,
            id,
            &WireError::new(ErrorCode::Internal, "malformed reply from core"),
        );
    } else {
        frame::finish(out, start);
    }
}

/// The opcode of a request that must reach every core (DBSIZE, INFO, BACKUP).
pub fn everywhere(req: &Request<'_>) -> Option<Gather> {
    match req.opcode() {
        Opcode::Db => everywhere(req.db_and_inner().1),
        Opcode::DbSize => Some(Gather::Sum),
        Opcode::Info => Some(Gather::Text),
        Opcode::Backup => Some(Gather::Sum),
        Opcode::Metrics => Some(Gather::Lines),
        Opcode::Publish => Some(Gather::Sum),
        Opcode::FlushAll | Opcode::FlushDb | Opcode::SwapDb => Some(Gather::Sum),
        Opcode::PubSub => Some(Gather::Lines),
        Opcode::Clients if matches!(req, Request::Clients { kill: true, .. }) => Some(Gather::Sum),
        Opcode::Clients => Some(Gather::Lines),
        Opcode::SlowLog if matches!(req, Request::SlowLog { action: 0, .. }) => Some(Gather::Lines),
        Opcode::SlowLog => Some(Gather::Sum),
        Opcode::Role if matches!(req, Request::Role { action: 0, .. }) => Some(Gather::Text),
        _ => None,
    }
}

/// The key of a fast single-key opcode (GET, SET, INCRBY, EXPIRE, PERSIST,
/// TTL).
fn single_key<'a>(req: &Request<'a>) -> Option<&'a [u8]> {
    match req {
        Request::Get { key }
        | Request::Set { key, .. }
        | Request::IncrBy { key, .. }
        | Request::Expire { key, .. }
        | Request::Persist { key }
        | Request::Ttl { key } => Some(key),
        _ => None,
    }
}

/// The core a request should run on, for requests not split by key.
pub fn home_core(topo: &Topology, req: &Request<'_>, here: usize) -> usize {
    match req {
        Request::InDb { inner, .. } => home_core(topo, inner, here),
        Request::Get { .. }
        | Request::Set { .. }
        | Request::IncrBy { .. }
        | Request::Expire { .. }
        | Request::Persist { .. }
        | Request::Ttl { .. } => single_key(req).map_or(here, |k| topo.core_of_key(k)),
        Request::Del { keys } | Request::Exists { keys } | Request::MGet { keys } => {
            topo.core_of_key(keys[0])
        }
        Request::MSet { pairs } => topo.core_of_key(pairs[0].0),
        Request::Command(c) => command_home(topo, &c.args).unwrap_or(here),
        Request::Block { args, .. } => command_home(topo, args).unwrap_or(here),
        Request::BlockingPop { keys, .. } => topo.core_of_key(keys[0]),
        Request::Pull { partition, .. } if *partition < topo.partitions() => {
            topo.core_of_partition(*partition)
        }
        Request::Sync { partition, .. } if *partition < topo.partitions() => {
            topo.core_of_partition(*partition)
        }
        Request::Pull { .. }
        | Request::Sync { .. }
        | Request::Role { .. }
        | Request::Cluster { .. } => here,
        Request::Batch(cmds) => cmds
            .first()
            .and_then(|c| command_home(topo, &c.args))
            .unwrap_or(here),
        Request::Scan { cursor: c, .. } => topo.core_of_slot(cursor::slot(*c)),
        Request::Ping(_)
        | Request::Hello { .. }
        | Request::Auth { .. }
        | Request::DbSize
        | Request::Info
        | Request::Metrics
        | Request::Backup { .. }
        | Request::Publish { .. }
        | Request::FlushAll
        | Request::FlushDb
        | Request::SwapDb { .. }
        | Request::PubSub { .. }
        | Request::Clients { .. }
        | Request::SlowLog { .. } => here,
    }
}

/// The core owning a named command's first key; `None` when the command is
/// unknown or names no key (the core that has it answers the error).
fn command_home(topo: &Topology, args: &[&[u8]]) -> Option<usize> {
    let cmd = super::table::lookup(args).ok()?;
    let keys = cmd.key_positions(args).ok()?;
    keys.first().map(|&i| topo.core_of_key(args[i]))
}

/// The one slot every key of a request lies in, as Redis Cluster decides
/// it: `Ok(None)` when the request names no key, CROSSSLOT when its keys lie
/// in different slots (MGET, MSET, DEL and EXISTS included). Cluster mode
/// asks this before running anything.
pub fn request_slot(req: &Request<'_>) -> Result<Option<u16>, WireError> {
    let req = req.db_and_inner().1;
    let mut slot: Option<u16> = None;
    let mut add = |k: &[u8]| -> Result<(), WireError> {
        let s = crate::slot::key_slot(k);
        match slot {
            Some(x) if x != s => Err(WireError::of(ErrorCode::CrossSlot)),
            _ => {
                slot = Some(s);
                Ok(())
            }
        }
    };
    let named = |args: &[&[u8]],
                 add: &mut dyn FnMut(&[u8]) -> Result<(), WireError>|
     -> Result<(), WireError> {
        // An unknown or malformed command names no key here; running it
        // answers the error.
        if let Ok(cmd) = super::table::lookup(args) {
            if let Ok(keys) = cmd.key_positions(args) {
                for i in keys {
                    add(args[i])?;
                }
            }
        }
        Ok(())
    };
    if let Some(key) = single_key(req) {
        add(key)?;
    }
    match req {
        Request::Del { keys } | Request::Exists { keys } | Request::MGet { keys } => {
            for k in keys {
                add(k)?;
            }
        }
        Request::MSet { pairs } => {
            for (k, _) in pairs {
                add(k)?;
            }
        }
        Request::BlockingPop { keys, dest, .. } => {
            for k in keys {
                add(k)?;
            }
            if let Some((d, _)) = dest {
                add(d)?;
            }
        }
        Request::Command(c) => named(&c.args, &mut add)?,
        Request::Block { args, .. } => named(args, &mut add)?,
        Request::Batch(cmds) => {
            for c in cmds {
                named(&c.args, &mut add)?;
            }
        }
        _ => {}
    }
    Ok(slot)
}

#[cfg(test)]
mod slot_tests {
    use super::*;
    use crate::command::NamedCommand;

    #[test]
    fn request_slot_follows_redis_clusters_rule() {
        let get = Request::Get { key: b"foo" };
        assert_eq!(request_slot(&get), Ok(Some(12182)));
        let tagged = Request::MGet {
            keys: vec![b"{user1}a", b"{user1}b"],
        };
        assert_eq!(
            request_slot(&tagged),
            Ok(Some(crate::slot::key_slot(b"user1")))
        );
        let apart = Request::Del {
            keys: vec![b"a", b"b"],
        };
        assert_eq!(request_slot(&apart).unwrap_err().code, ErrorCode::CrossSlot);
        let named = Request::Command(NamedCommand::new(vec![b"RENAME", b"a", b"b"]));
        assert_eq!(request_slot(&named).unwrap_err().code, ErrorCode::CrossSlot);
        let keyless = Request::Command(NamedCommand::new(vec![b"PING"]));
        assert_eq!(request_slot(&keyless), Ok(None));
        assert_eq!(request_slot(&Request::DbSize), Ok(None));
    }
}
