//! MULTI/EXEC on a RESP connection: what may be queued, and EXEC, which
//! runs the queued data commands as one atomic batch and answers the
//! other commands in their places.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use super::{bad, handle, run_frames, run_one, settle, Pending, State};
use crate::cmd;
use crate::codes::{ErrorCode, WireError};
use crate::net::core::Core;
use crate::proto::command::NamedCommand;
use crate::proto::redis::Shape;
use crate::proto::resp;
use crate::proto::table::{self, flag, Reply};
use crate::proto::unblocked::{self, unblocked, Reshape};
use crate::proto::value::Value;
use crate::proto::Request;

/// Whether `args` may be queued inside MULTI: the data commands (one
/// atomic batch at EXEC), the blocking pops (which run at EXEC without
/// blocking, as their non-blocking forms in the batch, as in Redis), and
/// commands that neither name keys, write, block nor subscribe (INFO, PUBLISH, TIME, CLIENT, CONFIG GET, ...: run
/// at EXEC after the batch, their replies in their places). The error is
/// the one the client gets now; EXEC then answers EXECABORT.
pub(super) fn queueable(args: &[&[u8]]) -> Result<(), WireError> {
    let row = table::lookup(args)?;
    if row.has(flag::STORED) || multi_keyless(args).is_some() || unblocked(args).is_some() {
        return Ok(());
    }
    let why = if row.name == "select" {
        "it would change the database of the commands queued after it"
    } else if row.has(flag::BLOCKING) {
        "it blocks"
    } else if row.has(flag::WRITE) {
        "it writes outside the transaction's batch"
    } else if row.has(flag::NO_MULTI)
        || row.name.ends_with("subscribe")
        || (row.name == "client"
            && args
                .get(1)
                .is_some_and(|s| s.eq_ignore_ascii_case(b"reply")))
    {
        "it changes what the connection receives"
    } else if !row.keys_of(args)?.is_empty() {
        "its keys would be read outside the transaction's batch"
    } else {
        return Ok(());
    };
    Err(bad(format!(
        "'{}' cannot run inside a transaction on Tessera: {why} (docs/redis-compat.md)",
        row.name
    )))
}

/// How EXEC answers one queued command.
enum Queued<'q> {
    /// PING and ECHO: answered at once.
    Keyless(Value),
    /// A data command: part of the atomic batch. A blocking pop is its
    /// non-blocking form, its reply reshaped; `null_array` when the
    /// command answers nothing with a null array (LMPOP, BLPOP, ...).
    Stored {
        words: Cow<'q, [Vec<u8>]>,
        reshape: Reshape,
        null_array: bool,
    },
    /// Anything else `queueable` let in: run after the batch.
    Other(&'q [Vec<u8>]),
}

/// EXEC: the queued data commands as one atomic batch, guarded by the
/// WATCHed versions (each becomes a `TYPE key` with an expected version in
/// front); a data command that fails answers its error in its place while
/// the others apply (KEEP_GOING). Then the other queued commands run in
/// their order, and every reply takes its place in EXEC's array.
pub(super) async fn exec(core: &Rc<Core>, st: &mut State, out: &mut Vec<u8>) {
    let Some(queued) = st.multi.take() else {
        resp::encode_error(out, &bad("EXEC without MULTI"));
        return;
    };
    let watched = std::mem::take(&mut st.watched);
    if std::mem::take(&mut st.multi_failed) {
        resp::encode_error(
            out,
            &WireError::new(
                ErrorCode::ExecAbort,
                "Transaction discarded because of previous errors.",
            ),
        );
        return;
    }
    let plan: Vec<Queued<'_>> = queued.iter().map(|q| plan_one(q)).collect();
    // Keys watched in another database are checked first, on their own.
    let (here, elsewhere): (Vec<_>, Vec<_>) = watched.iter().partition(|w| w.0 == st.db);
    for (db, k, v) in elsewhere {
        let req = Request::Batch(vec![watch_check(k, *v)]).in_db(*db);
        if let Err(e) = run_one(core, &req, &Shape::Count).await {
            if e.code == ErrorCode::VersionConflict {
                return resp::encode_null_array(out, st.resp3);
            }
        }
    }
    let mut cmds: Vec<NamedCommand<'_>> = here.iter().map(|(_, k, v)| watch_check(k, *v)).collect();
    // A queued command that fails leaves the others applied, as in Redis;
    // a changed WATCHed key still stops them all.
    for q in &plan {
        if let Queued::Stored { words, .. } = q {
            let words = words.iter().map(|w| w.as_slice()).collect();
            cmds.push(NamedCommand::new(words).keep_going());
        }
    }
    let stored = match batch(core, cmds, here.len(), st.db, !queued.is_empty()).await {
        Ok(values) => values,
        Err(Abort::Watched) => return resp::encode_null_array(out, st.resp3),
        Err(Abort::Failed(e)) => return resp::encode_error(out, &e),
    };
    let mut stored = stored.into_iter();
    let mut replies = Vec::with_capacity(plan.len());
    for q in &plan {
        let mut reply = Vec::new();
        match q {
            Queued::Keyless(v) => resp::encode(&mut reply, v, st.resp3),
            Queued::Stored {
                reshape,
                null_array,
                ..
            } => match stored.next() {
                Some(Value::Nil) if *null_array => resp::encode_null_array(&mut reply, st.resp3),
                Some(v) => resp::encode(&mut reply, &unblocked::reshape(*reshape, v), st.resp3),
                None => resp::encode_error(
                    &mut reply,
                    &WireError::new(ErrorCode::Internal, "a reply is missing"),
                ),
            },
            Queued::Other(q) => run_alone(core, st, &mut reply, q).await,
        }
        replies.push(reply);
    }
    out.extend_from_slice(format!("*{}\r\n", replies.len()).as_bytes());
    replies.iter().for_each(|r| out.extend_from_slice(r));
}

/// A WATCHed key's check: `TYPE key`, which fails unless the key still has
/// `version`.
fn watch_check(key: &[u8], version: u64) -> NamedCommand<'_> {
    NamedCommand {
        expected_version: Some(version),
        args: vec![b"TYPE".as_slice(), key],
        keep_going: false,
    }
}

/// How EXEC runs one queued command.
fn plan_one(q: &[Vec<u8>]) -> Queued<'_> {
    if let Some(v) = multi_keyless(q) {
        return Queued::Keyless(v);
    }
    let words: Vec<&[u8]> = q.iter().map(|w| w.as_slice()).collect();
    let null_array = table::lookup(&words).is_ok_and(|row| row.reply_shape() == Reply::ArrayOrNil);
    let (words, reshape) = match unblocked(&words) {
        Some(Ok((run, reshape))) => (Cow::Owned(run), reshape),
        Some(Err(e)) => return Queued::Keyless(Value::Error(e)),
        None if cmd::lookup(&words).is_ok() => (Cow::Borrowed(q), Reshape::Same),
        None => return Queued::Other(q),
    };
    Queued::Stored {
        words,
        reshape,
        null_array,
    }
}

/// Why EXEC answers no array.
enum Abort {
    /// A WATCHed key changed: the null reply.
    Watched,
    /// The batch was refused (CROSSSLOT, a full disk, ...).
    Failed(WireError),
}

/// Runs the batch (its first `watches` commands are the WATCH checks) and
/// returns the values of the others.
async fn batch(
    core: &Rc<Core>,
    cmds: Vec<NamedCommand<'_>>,
    watches: usize,
    db: u16,
    queued_any: bool,
) -> Result<Vec<Value>, Abort> {
    if cmds.is_empty() {
        return Ok(Vec::new());
    }
    if cmds.len() == watches {
        // Only the WATCH checks: an empty transaction answers an empty
        // array either way; the others answer unless a watched key changed.
        return match run_one(core, &Request::Batch(cmds).in_db(db), &Shape::Count).await {
            Err(e) if queued_any && e.code == ErrorCode::VersionConflict => Err(Abort::Watched),
            _ => Ok(Vec::new()),
        };
    }
    let mut f = Vec::new();
    Request::Batch(cmds).in_db(db).encode(1, &mut f);
    match run_frames(core, f).await.pop() {
        Some(Ok(body)) => {
            let mut r = crate::proto::codec::Reader::new(&body);
            let n = r.u32("n").unwrap_or(0) as usize;
            let mut values = Vec::with_capacity(n);
            for _ in 0..n {
                if r.u64("version").is_err() {
                    break;
                }
                match Value::decode(&mut r, 0) {
                    Ok(v) => values.push(v),
                    Err(_) => break,
                }
            }
            Ok(values.into_iter().skip(watches).collect())
        }
        Some(Err(e)) if e.code == ErrorCode::VersionConflict && watched_failed(&e, watches) => {
            Err(Abort::Watched)
        }
        Some(Err(e)) => Err(Abort::Failed(e)),
        None => Err(Abort::Failed(WireError::new(
            ErrorCode::Internal,
            "no reply from the core",
        ))),
    }
}

/// Runs one queued command that is not a data command as if it came alone,
/// appending its reply to `out`.
fn run_alone<'a>(
    core: &'a Rc<Core>,
    st: &'a mut State,
    out: &'a mut Vec<u8>,
    words: &'a [Vec<u8>],
) -> Pin<Box<dyn Future<Output = ()> + 'a>> {
    Box::pin(async move {
        let words: Vec<&[u8]> = words.iter().map(|w| w.as_slice()).collect();
        let name = std::mem::take(&mut st.last_cmd);
        let mut p = Pending::default();
        handle(core, st, &mut p, out, &words).await;
        settle(core, &mut p, st, out, None).await;
        st.last_cmd = name;
    })
}

/// PING and ECHO queued inside MULTI: their reply at EXEC (PING's error
/// for too many arguments too, which Redis also answers inside EXEC's
/// array), or `None` for any other command.
pub(super) fn multi_keyless(args: &[impl AsRef<[u8]>]) -> Option<Value> {
    let name = args.first()?.as_ref().to_ascii_lowercase();
    let wrong = |n: &str| Value::Error(bad(format!("wrong number of arguments for '{n}' command")));
    match name.as_slice() {
        b"ping" => Some(match args {
            [_] => Value::Status("PONG".into()),
            [_, m] => Value::Bytes(m.as_ref().to_vec()),
            _ => wrong("ping"),
        }),
        b"echo" => Some(match args {
            [_, m] => Value::Bytes(m.as_ref().to_vec()),
            _ => wrong("echo"),
        }),
        _ => None,
    }
}

/// Whether a batch's version conflict came from one of the WATCH checks
/// (the first `n` commands; the message starts `command i:`).
fn watched_failed(e: &WireError, n: usize) -> bool {
    e.message
        .strip_prefix("command ")
        .and_then(|m| m.split(':').next())
        .and_then(|i| i.parse::<usize>().ok())
        .is_some_and(|i| i < n)
}
