//! The RESP connection's own commands: QUIT, RESET, MULTI/EXEC/DISCARD,
//! WATCH/UNWATCH, HELLO, CLIENT (and CLIENT REPLY's state), KEYS,
//! RANDOMKEY, SCAN with TYPE, and (P)SUBSCRIBE/(P)UNSUBSCRIBE.

use std::rc::Rc;

use super::keyspace::{keys, random_key, scan_type};
use super::messages::push;
use super::{bad, ok_or_error, run_frames, run_request, State};
use crate::codes::{ErrorCode, WireError};
use crate::net::core::Core;
use crate::net::pubsub::Mailbox;
use crate::proto::command::NamedCommand;
use crate::proto::redis::ConnCmd;
use crate::proto::resp;
use crate::proto::value::Value;
use crate::proto::Request;

pub(super) async fn conn_command(
    core: &Rc<Core>,
    st: &mut State,
    out: &mut Vec<u8>,
    c: ConnCmd,
    args: &[&[u8]],
) -> bool {
    let r3 = st.resp3;
    match c {
        ConnCmd::Auth => ok_or_error(out, super::auth::auth(core, st, args), r3),
        ConnCmd::Acl => {
            let r = super::auth::acl_command(core, st, args).await;
            ok_or_error(out, r, r3);
        }
        ConnCmd::Cluster => ok_or_error(out, super::cluster_cmds::cluster(core, args).await, r3),
        ConnCmd::SlowLog => ok_or_error(out, super::slowlog::slowlog(core, args).await, r3),
        ConnCmd::Config => ok_or_error(out, super::config::config(core, args), r3),
        ConnCmd::Script => ok_or_error(out, script(args), r3),
        ConnCmd::Function => ok_or_error(out, crate::cmd::function::command(args).await, r3),
        ConnCmd::ReadOnly | ConnCmd::ReadWrite | ConnCmd::Asking => {
            if core.cluster().is_none() {
                resp::encode_error(out, &bad("This instance has cluster support disabled"));
                return false;
            }
            match c {
                ConnCmd::ReadOnly => st.readonly = true,
                ConnCmd::ReadWrite => st.readonly = false,
                _ => st.asking = true,
            }
            resp::encode(out, &Value::ok(), r3);
        }
        ConnCmd::Select => match select(core, args[1]) {
            Ok(db) => {
                st.db = db;
                resp::encode(out, &Value::ok(), r3);
            }
            Err(e) => resp::encode_error(out, &e),
        },
        ConnCmd::Quit => {
            resp::encode(out, &Value::ok(), r3);
            return true;
        }
        ConnCmd::Reset => {
            st.replies = Replies::reset();
            core.waiters().forget(st.id);
            st.channels.clear();
            st.patterns.clear();
            st.multi = None;
            st.multi_failed = false;
            st.watched.clear();
            st.resp3 = false;
            st.name = None;
            st.readonly = false;
            st.asking = false;
            st.db = 0;
            st.session.reset(&core.config().acl);
            resp::encode(out, &Value::Status("RESET".into()), false);
        }
        ConnCmd::Multi => {
            if st.multi.is_some() {
                resp::encode_error(out, &bad("MULTI calls can not be nested"));
            } else {
                st.multi = Some(Vec::new());
                st.multi_failed = false;
                resp::encode(out, &Value::ok(), r3);
            }
        }
        ConnCmd::Discard => {
            if st.multi.take().is_some() {
                st.watched.clear();
                resp::encode(out, &Value::ok(), r3);
            } else {
                resp::encode_error(out, &bad("DISCARD without MULTI"));
            }
        }
        ConnCmd::Watch => {
            if st.multi.is_some() {
                resp::encode_error(out, &bad("WATCH inside MULTI is not allowed"));
                return false;
            }
            for key in &args[1..] {
                let req = Request::Command(NamedCommand::new(vec![b"TYPE", key])).in_db(st.db);
                let mut f = Vec::new();
                req.encode(1, &mut f);
                match run_frames(core, f).await.pop() {
                    Some(Ok(body)) if body.len() >= 8 => {
                        let mut v = [0u8; 8];
                        v.copy_from_slice(&body[..8]);
                        st.watched
                            .push((st.db, key.to_vec(), u64::from_be_bytes(v)));
                    }
                    Some(Err(e)) => {
                        resp::encode_error(out, &e);
                        return false;
                    }
                    _ => {
                        resp::encode_error(
                            out,
                            &WireError::new(ErrorCode::Internal, "WATCH got no version"),
                        );
                        return false;
                    }
                }
            }
            resp::encode(out, &Value::ok(), r3);
        }
        ConnCmd::Unwatch => {
            st.watched.clear();
            resp::encode(out, &Value::ok(), r3);
        }
        ConnCmd::Exec => super::multi::exec(core, st, out).await,
        ConnCmd::Hello => {
            let mut proto = if st.resp3 { 3 } else { 2 };
            let mut i = 1;
            if let Some(v) = args.get(1) {
                match crate::shard::hash::parse_int(v) {
                    Some(2) => proto = 2,
                    Some(3) => proto = 3,
                    Some(_) => {
                        resp::encode_error(
                            out,
                            &WireError::new(
                                ErrorCode::BadArguments,
                                "NOPROTO unsupported protocol version",
                            ),
                        );
                        return false;
                    }
                    None => {
                        resp::encode_error(
                            out,
                            &bad("Protocol version is not an integer or out of range"),
                        );
                        return false;
                    }
                }
                i = 2;
            }
            let mut setname = None;
            let mut credentials = None;
            while i < args.len() {
                let opt = args[i].to_ascii_lowercase();
                if opt == b"setname" && i + 1 < args.len() {
                    setname = Some(args[i + 1].to_vec());
                    i += 2;
                } else if opt == b"auth" && i + 2 < args.len() {
                    credentials = Some((args[i + 1], args[i + 2]));
                    i += 3;
                } else {
                    resp::encode_error(
                        out,
                        &bad(format!(
                            "Syntax error in HELLO option '{}'",
                            String::from_utf8_lossy(args[i])
                        )),
                    );
                    return false;
                }
            }
            // AUTH first: a failed HELLO changes nothing.
            match credentials {
                Some((user, pass)) => {
                    if let Err(e) = super::auth::authenticate(core, st, user, pass) {
                        resp::encode_error(out, &e);
                        return false;
                    }
                }
                None if st.session.user().is_none() => {
                    resp::encode_error(out, &WireError::new(ErrorCode::NoAuth, "HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"));
                    return false;
                }
                None => {}
            }
            if setname.is_some() {
                st.name = setname;
            }
            st.resp3 = proto == 3;
            let s = |x: &str| Value::bytes(x.as_bytes().to_vec());
            let info = Value::Map(vec![
                (s("server"), s("redis")),
                (s("version"), s("7.0.0")),
                (s("proto"), Value::Int(proto)),
                (s("id"), Value::Int(st.id as i64)),
                (s("mode"), s("standalone")),
                (s("role"), s("master")),
                (s("modules"), Value::Array(vec![])),
                (s("tessera"), s(env!("CARGO_PKG_VERSION"))),
            ]);
            resp::encode(out, &info, st.resp3);
        }
        ConnCmd::Client => {
            client(core, st, out, args).await;
            // CLIENT KILL ... SKIPME no picked this connection: reply, then close.
            return st.entry.killed.get();
        }
        ConnCmd::Keys => {
            let r = keys(core, st.db, args[1])
                .await
                .map(|ks| Value::Array(ks.into_iter().map(Value::Bytes).collect()));
            ok_or_error(out, r, r3);
        }
        ConnCmd::ScanType => {
            let r = scan_type(core, st.db, args).await;
            ok_or_error(out, r, r3);
        }
        ConnCmd::RandomKey => {
            let r = random_key(core, st.db).await.map(Value::opt);
            ok_or_error(out, r, r3);
        }
        ConnCmd::Subscribe | ConnCmd::PSubscribe => {
            let pattern = c == ConnCmd::PSubscribe;
            let mb = st
                .mailbox
                .get_or_insert_with(|| Rc::new(Mailbox::new(core.config().output_limits.pubsub)))
                .clone();
            for name in &args[1..] {
                let list = if pattern {
                    &mut st.patterns
                } else {
                    &mut st.channels
                };
                if !list.iter().any(|x| x == name) {
                    list.push(name.to_vec());
                }
                if pattern {
                    core.waiters().psubscribe(st.id, &mb, name);
                } else {
                    core.waiters().subscribe(st.id, &mb, name);
                }
                let kind: &[u8] = if pattern { b"psubscribe" } else { b"subscribe" };
                push(
                    out,
                    &[
                        Value::bytes(kind.to_vec()),
                        Value::Bytes(name.to_vec()),
                        Value::Int(st.subscriptions() as i64),
                    ],
                    r3,
                );
            }
        }
        ConnCmd::Unsubscribe | ConnCmd::PUnsubscribe => {
            let pattern = c == ConnCmd::PUnsubscribe;
            let kind: &[u8] = if pattern {
                b"punsubscribe"
            } else {
                b"unsubscribe"
            };
            let names: Vec<Vec<u8>> = if args.len() > 1 {
                args[1..].iter().map(|a| a.to_vec()).collect()
            } else if pattern {
                st.patterns.clone()
            } else {
                st.channels.clone()
            };
            if names.is_empty() {
                push(
                    out,
                    &[
                        Value::bytes(kind.to_vec()),
                        Value::Nil,
                        Value::Int(st.subscriptions() as i64),
                    ],
                    r3,
                );
            }
            for name in names {
                if pattern {
                    st.patterns.retain(|x| *x != name);
                    core.waiters().punsubscribe(st.id, &name);
                } else {
                    st.channels.retain(|x| *x != name);
                    core.waiters().unsubscribe(st.id, &name);
                }
                push(
                    out,
                    &[
                        Value::bytes(kind.to_vec()),
                        Value::Bytes(name),
                        Value::Int(st.subscriptions() as i64),
                    ],
                    r3,
                );
            }
        }
    }
    false
}

/// CLIENT REPLY: OFF drops every reply until ON, SKIP the next command's.
/// Pub/sub messages still arrive (as in Redis 7.2).
#[derive(Debug, Default)]
pub(super) struct Replies {
    off: bool,
    skip_next: bool,
    /// The command that ran turned replies back on (CLIENT REPLY ON,
    /// RESET): it answers although it started muted.
    back_on: bool,
}

impl Replies {
    /// Whether the reply of the command about to run is dropped.
    pub(super) fn mute_next(&mut self) -> bool {
        self.back_on = false;
        self.off || std::mem::take(&mut self.skip_next)
    }

    /// Whether a muted connection command's reply goes out after all.
    pub(super) fn back_on(&self) -> bool {
        self.back_on
    }

    /// After RESET: replies on.
    fn reset() -> Replies {
        Replies {
            back_on: true,
            ..Replies::default()
        }
    }

    /// CLIENT REPLY ON|OFF|SKIP; whether it answers (only ON does).
    fn set(&mut self, mode: &[u8]) -> Result<bool, WireError> {
        match mode.to_ascii_lowercase().as_slice() {
            b"on" => *self = Replies::reset(),
            b"off" => self.off = true,
            b"skip" => self.skip_next = !self.off,
            _ => return Err(bad("syntax error")),
        }
        Ok(self.back_on)
    }
}

pub(super) async fn client(core: &Rc<Core>, st: &mut State, out: &mut Vec<u8>, args: &[&[u8]]) {
    let r3 = st.resp3;
    let sub = args
        .get(1)
        .map(|s| s.to_ascii_lowercase())
        .unwrap_or_default();
    match sub.as_slice() {
        b"id" => resp::encode(out, &Value::Int(st.id as i64), r3),
        b"setname" if args.len() == 3 => {
            if args[2].iter().any(|b| *b <= b' ' || *b > b'~') {
                resp::encode_error(out, &bad("Client names cannot contain spaces, newlines or special characters."));
            } else {
                st.name = (!args[2].is_empty()).then(|| args[2].to_vec());
                resp::encode(out, &Value::ok(), r3);
            }
        }
        b"getname" => resp::encode(out, &Value::opt(st.name.clone()), r3),
        b"reply" if args.len() == 3 => match st.replies.set(args[2]) {
            Ok(true) => resp::encode(out, &Value::ok(), r3),
            Ok(false) => {}
            Err(e) => resp::encode_error(out, &e),
        },
        b"setinfo" | b"no-evict" | b"no-touch" => resp::encode(out, &Value::ok(), r3),
        b"info" => {
            st.last_cmd = "client|info".into();
            let line = format!("{}\n", st.client_info());
            resp::encode(out, &Value::Bytes(line.into_bytes()), r3);
        }
        b"list" | b"kill" => {
            st.last_cmd = format!("client|{}", String::from_utf8_lossy(&sub));
            // This connection's own line is current in the listing.
            st.show();
            let r = every_core_clients(core, st, sub == b"kill", &args[2..]).await;
            ok_or_error(out, r, r3);
        }
        _ => resp::encode_error(
            out,
            &bad(format!(
                "unknown subcommand or wrong number of arguments for 'client|{}' (Tessera supports ID, SETNAME, GETNAME, INFO, LIST, KILL, REPLY, SETINFO)",
                String::from_utf8_lossy(&sub)
            )),
        ),
    }
}

/// CLIENT LIST's and CLIENT KILL's filters, checked with Redis's errors,
/// as the CLIENTS request carries them (field and value pairs).
fn client_filter(
    core: &Core,
    st: &State,
    kill: bool,
    args: &[&[u8]],
) -> Result<Vec<Vec<u8>>, WireError> {
    let mut f: Vec<Vec<u8>> = Vec::new();
    let kind = |t: &[u8]| {
        let t = t.to_ascii_lowercase();
        match t.as_slice() {
            b"normal" | b"pubsub" | b"master" | b"replica" | b"slave" => Ok(t),
            _ => Err(bad(format!(
                "Unknown client type '{}'",
                String::from_utf8_lossy(&t)
            ))),
        }
    };
    if !kill {
        // [TYPE t] [ID id ...]
        let mut i = 0;
        while i < args.len() {
            match args[i].to_ascii_lowercase().as_slice() {
                b"type" if i + 1 < args.len() => {
                    f.extend([b"type".to_vec(), kind(args[i + 1])?]);
                    i += 2;
                }
                b"id" if i + 1 < args.len() => {
                    for w in &args[i + 1..] {
                        let id = std::str::from_utf8(w)
                            .ok()
                            .and_then(|s| s.parse::<u64>().ok())
                            .ok_or_else(|| bad("Invalid client ID"))?;
                        f.extend([b"id".to_vec(), id.to_string().into_bytes()]);
                    }
                    i = args.len();
                }
                _ => return Err(bad("syntax error")),
            }
        }
        return Ok(f);
    }
    // The old form: CLIENT KILL addr.
    if args.len() == 1 {
        return Ok(vec![b"addr".to_vec(), args[0].to_vec()]);
    }
    if !args.len().is_multiple_of(2) {
        return Err(bad("syntax error"));
    }
    let mut skipme = true;
    for pair in args.chunks(2) {
        let (field, v) = (pair[0].to_ascii_lowercase(), pair[1]);
        match field.as_slice() {
            b"id" => {
                let id = std::str::from_utf8(v)
                    .ok()
                    .and_then(|s| s.parse::<u64>().ok())
                    .filter(|&id| id > 0)
                    .ok_or_else(|| bad("client-id should be greater than 0"))?;
                // As in Redis, the last ID given is the one used.
                if let Some(at) = f.chunks(2).position(|p| p[0] == b"id") {
                    f.drain(at * 2..at * 2 + 2);
                }
                f.extend([b"id".to_vec(), id.to_string().into_bytes()]);
            }
            b"type" => f.extend([b"type".to_vec(), kind(v)?]),
            b"user" => {
                if core
                    .config()
                    .acl
                    .user(&String::from_utf8_lossy(v))
                    .is_none()
                {
                    return Err(bad(format!(
                        "No such user '{}'",
                        String::from_utf8_lossy(v)
                    )));
                }
                f.extend([b"user".to_vec(), v.to_vec()]);
            }
            b"addr" | b"laddr" => f.extend([field.clone(), v.to_vec()]),
            b"skipme" => match v.to_ascii_lowercase().as_slice() {
                b"yes" => skipme = true,
                b"no" => skipme = false,
                _ => return Err(bad("syntax error")),
            },
            _ => return Err(bad("syntax error")),
        }
    }
    if skipme {
        f.extend([b"skipme".to_vec(), st.id.to_string().into_bytes()]);
    }
    // The caller's own connection closes itself after its reply.
    f.extend([b"caller".to_vec(), st.id.to_string().into_bytes()]);
    Ok(f)
}

/// CLIENT LIST (every core's connections, by id) or CLIENT KILL (the
/// count closed; the old form answers OK or "No such client").
async fn every_core_clients(
    core: &Rc<Core>,
    st: &State,
    kill: bool,
    args: &[&[u8]],
) -> Result<Value, WireError> {
    let filter = client_filter(core, st, kill, args)?;
    let words: Vec<&[u8]> = filter.iter().map(|w| w.as_slice()).collect();
    let req = Request::Clients {
        kill,
        filter: words,
    };
    let body = run_request(core, &req).await?;
    if !kill {
        // Each core's lines, by id within a core: sort them all by id.
        let text = String::from_utf8_lossy(&body);
        let mut lines: Vec<&str> = text.lines().collect();
        lines.sort_by_key(|l| {
            l.strip_prefix("id=")
                .and_then(|r| r.split(' ').next())
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0)
        });
        let mut all = lines.join("\n");
        all.push('\n');
        if lines.is_empty() {
            all.clear();
        }
        return Ok(Value::Bytes(all.into_bytes()));
    }
    let n = crate::proto::codec::Reader::new(&body)
        .u64("killed")
        .map_err(|e| WireError::new(ErrorCode::Internal, e.to_string()))?;
    if args.len() == 1 {
        return match n {
            0 => Err(bad("No such client")),
            _ => Ok(Value::ok()),
        };
    }
    Ok(Value::Int(n as i64))
}

/// SCRIPT LOAD, EXISTS, FLUSH [ASYNC|SYNC] and KILL: the node's script
/// cache (`cmd::script`), with Redis's replies and errors.
fn script(args: &[&[u8]]) -> Result<Value, WireError> {
    use crate::cmd::script;
    let sub = args
        .get(1)
        .map(|s| s.to_ascii_lowercase())
        .unwrap_or_default();
    match (sub.as_slice(), &args[2..]) {
        (b"load", [body]) => Ok(Value::bytes(script::load(body)?)),
        (b"exists", shas) => Ok(Value::list(script::exists(shas), |b| Value::Int(b as i64))),
        (b"flush", mode) => {
            match mode {
                [] => {}
                [m] if m.eq_ignore_ascii_case(b"async") || m.eq_ignore_ascii_case(b"sync") => {}
                _ => return Err(bad("SCRIPT FLUSH only support SYNC|ASYNC option")),
            }
            script::flush();
            Ok(Value::ok())
        }
        (b"kill", []) if script::kill() => Ok(Value::ok()),
        (b"kill", []) => Err(WireError::new(
            ErrorCode::NotBusy,
            "No scripts in execution right now.",
        )),
        _ => Err(bad(format!(
            "unknown subcommand '{}'. Try SCRIPT HELP.",
            String::from_utf8_lossy(args.get(1).copied().unwrap_or_default())
        ))),
    }
}

/// SELECT's database, with Redis's errors.
fn select(core: &Rc<Core>, word: &[u8]) -> Result<u16, WireError> {
    let n =
        crate::proto::num::db_index(word).ok_or_else(|| WireError::of(ErrorCode::NotInteger))?;
    if core.cluster().is_some() && n != 0 {
        return Err(bad("SELECT is not allowed in cluster mode"));
    }
    crate::shard::space::checked(n).ok_or_else(|| bad("DB index is out of range"))
}
