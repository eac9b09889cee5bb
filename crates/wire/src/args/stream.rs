//! Streams: XADD, XLEN, XRANGE, XREVRANGE, XDEL, XTRIM, XSETID, XREAD,
//! XREADGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM, XGROUP's and XINFO's
//! subcommands, parsed in Redis 7.0's order with its errors (the apply:
//! the server's `cmd::stream`).

use super::stream_id::{interval, parse_id};
pub use super::stream_id::{invalid_id, strict_id, Id};
use super::{arity, bad, not_named, syntax, Args, WordPairs};
use crate::codes::WireError;
use crate::num::{int_arg, parse_int};

type Key<'a> = &'a [u8];

/// The longest consumer group or consumer name stored (Redis has no
/// limit; a name is part of every pending entry's key here).
pub const MAX_NAME: usize = 1024;

/// Refuses a group or consumer name longer than `MAX_NAME`.
fn name<'a>(what: &str, w: &'a [u8]) -> Result<&'a [u8], WireError> {
    if w.len() > MAX_NAME {
        return Err(bad(format!(
            "{what} name is longer than {MAX_NAME} bytes (docs/queues.md)"
        )));
    }
    Ok(w)
}

/// XADD's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewId {
    Auto,
    Seq(u64),
    Exact(Id),
}

/// XADD's and XTRIM's trimming.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trim {
    /// MAXLEN's length, or MINID's id.
    pub to: TrimTo,
    pub approx: bool,
    /// 0: none.
    pub limit: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrimTo {
    MaxLen(u64),
    MinId(Id),
}

/// XCLAIM's options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClaimOpts {
    /// IDLE (relative) or TIME (absolute), as given.
    pub idle: Option<i64>,
    pub time: Option<i64>,
    pub retry_count: Option<u64>,
    pub force: bool,
    pub just_id: bool,
    pub last_id: Option<Id>,
}

/// XREADGROUP's id for one stream: `>` or a history id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupId {
    New,
    After(Id),
}

/// XPENDING's extended form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingRange<'a> {
    pub min_idle: u64,
    pub from: Id,
    pub to: Id,
    pub count: u64,
    pub consumer: Option<&'a [u8]>,
}

/// XREAD's and XREADGROUP's options, then their keys and ids.
struct ReadArgs<'a> {
    count: Option<u64>,
    who: Option<(&'a [u8], &'a [u8])>,
    noack: bool,
    keys: &'a [&'a [u8]],
    ids: &'a [&'a [u8]],
}

/// XINFO STREAM's FULL form, with its COUNT (0: every entry).
pub type Full = Option<u64>;

/// A stream command's typed arguments.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamCmd<'a> {
    Add {
        key: Key<'a>,
        create: bool,
        trim: Option<Trim>,
        id: NewId,
        fields: WordPairs<'a>,
    },
    Len(Key<'a>),
    Range {
        key: Key<'a>,
        from: Id,
        to: Id,
        count: Option<u64>,
        reverse: bool,
    },
    Del {
        key: Key<'a>,
        ids: Vec<Id>,
    },
    Trim {
        key: Key<'a>,
        trim: Trim,
    },
    SetId {
        key: Key<'a>,
        last: Id,
        entries_added: Option<u64>,
        max_deleted: Option<Id>,
    },
    /// `None` id: `$`. BLOCK is parsed (the server's blocking path reads
    /// it) and ignored here: a read inside MULTI or a script never blocks.
    Read {
        count: Option<u64>,
        streams: Vec<(Key<'a>, Option<Id>)>,
    },
    ReadGroup {
        group: &'a [u8],
        consumer: &'a [u8],
        count: Option<u64>,
        noack: bool,
        streams: Vec<(Key<'a>, GroupId)>,
    },
    Ack {
        key: Key<'a>,
        group: &'a [u8],
        ids: Vec<Id>,
    },
    /// The summary without a range; the extended form with one.
    Pending {
        key: Key<'a>,
        group: &'a [u8],
        range: Option<PendingRange<'a>>,
    },
    Claim {
        key: Key<'a>,
        group: &'a [u8],
        consumer: &'a [u8],
        min_idle: u64,
        ids: Vec<Id>,
        opts: ClaimOpts,
    },
    AutoClaim {
        key: Key<'a>,
        group: &'a [u8],
        consumer: &'a [u8],
        min_idle: u64,
        start: Id,
        count: u64,
        just_id: bool,
    },
    /// `None` id: `$`.
    GroupCreate {
        key: Key<'a>,
        group: &'a [u8],
        id: Option<Id>,
        mkstream: bool,
        entries_read: Option<i64>,
    },
    GroupSetId {
        key: Key<'a>,
        group: &'a [u8],
        id: Option<Id>,
        entries_read: Option<i64>,
    },
    GroupDestroy {
        key: Key<'a>,
        group: &'a [u8],
    },
    GroupCreateConsumer {
        key: Key<'a>,
        group: &'a [u8],
        consumer: &'a [u8],
    },
    GroupDelConsumer {
        key: Key<'a>,
        group: &'a [u8],
        consumer: &'a [u8],
    },
    InfoStream {
        key: Key<'a>,
        full: Full,
    },
    InfoGroups(Key<'a>),
    InfoConsumers {
        key: Key<'a>,
        group: &'a [u8],
    },
}

/// A COUNT of XREAD, XREADGROUP, XRANGE: negative is 0.
fn count_word(w: &[u8]) -> Result<u64, WireError> {
    Ok(int_arg(w)?.max(0) as u64)
}

/// XADD's and XTRIM's options (Redis's `streamParseAddOrTrimArgsOrReply`):
/// the trimming and, for XADD, NOMKSTREAM and the id.
fn add_or_trim(a: &mut Args<'_>, xadd: bool) -> Result<(Option<Trim>, bool, NewId), WireError> {
    let (mut trim, mut limit, mut create, mut id): (Option<(TrimTo, bool)>, Option<u64>, bool, _) =
        (None, None, true, NewId::Auto);
    while let Some(w) = a.maybe() {
        let more = a.left();
        let lower = w.to_ascii_lowercase();
        match lower.as_slice() {
            b"*" if xadd => break,
            b"maxlen" | b"minid" if more > 0 => {
                if trim.is_some() {
                    return Err(bad("syntax error, MAXLEN and MINID options at the same time are not compatible"));
                }
                let mut approx = false;
                if more >= 2 {
                    if a.eat("~") {
                        approx = true;
                    } else {
                        a.eat("=");
                    }
                }
                let arg = a.word()?;
                let to = if lower == b"maxlen" {
                    let n = int_arg(arg)?;
                    TrimTo::MaxLen(
                        u64::try_from(n).map_err(|_| bad("The MAXLEN argument must be >= 0."))?,
                    )
                } else {
                    TrimTo::MinId(strict_id(arg)?)
                };
                trim = Some((to, approx));
            }
            b"limit" if more > 0 => {
                let n = int_arg(a.word()?)?;
                limit =
                    Some(u64::try_from(n).map_err(|_| bad("The LIMIT argument must be >= 0."))?);
            }
            b"nomkstream" if xadd => create = false,
            _ if xadd => {
                id = match parse_id(w, 0, true, true)? {
                    None => NewId::Seq(strict_id(&w[..w.len() - 2])?.ms),
                    Some(i) => NewId::Exact(i),
                };
                break;
            }
            _ => return Err(syntax()),
        }
    }
    if limit.is_some_and(|l| l > 0) && trim.is_none() {
        return Err(bad(
            "syntax error, LIMIT cannot be used without specifying a trimming strategy",
        ));
    }
    if !xadd && trim.is_none() {
        return Err(bad(
            "syntax error, XTRIM must be called with a trimming strategy",
        ));
    }
    let trim = match (trim, limit) {
        (None, _) => None,
        (Some((_, false)), Some(_)) => {
            return Err(bad(
                "syntax error, LIMIT cannot be used without the special ~ option",
            ))
        }
        (Some((to, approx)), limit) => Some(Trim {
            to,
            approx,
            // Redis's default for `~`: 100 × stream-node-max-entries.
            limit: limit.unwrap_or(if approx { 10_000 } else { 0 }),
        }),
    };
    Ok((trim, create, id))
}

/// XREAD's and XREADGROUP's options up to STREAMS, then the keys and ids.
fn read_args<'a>(a: &mut Args<'a>, group: bool) -> Result<ReadArgs<'a>, WireError> {
    let cmd_name = if group { "xreadgroup" } else { "xread" };
    let (mut count, mut who, mut noack) = (None, None, false);
    loop {
        let Some(w) = a.maybe() else {
            return Err(syntax());
        };
        let more = a.left();
        match w.to_ascii_lowercase().as_slice() {
            b"block" if more > 0 => {
                block_ms(a.word()?)?;
            }
            b"count" if more > 0 => count = Some(count_word(a.word()?)?),
            b"streams" if more > 0 => {
                let rest = a.rest();
                if !rest.len().is_multiple_of(2) {
                    let symbol = if group { '>' } else { '$' };
                    return Err(bad(format!(
                        "Unbalanced '{cmd_name}' list of streams: for each stream key an ID or '{symbol}' must be specified."
                    )));
                }
                if group && who.is_none() {
                    return Err(bad("Missing GROUP option for XREADGROUP"));
                }
                let (keys, ids) = rest.split_at(rest.len() / 2);
                return Ok(ReadArgs {
                    count,
                    who,
                    noack,
                    keys,
                    ids,
                });
            }
            b"group" if more >= 2 => {
                if !group {
                    return Err(bad("The GROUP option is only supported by XREADGROUP. You called XREAD instead."));
                }
                who = Some((
                    name("consumer group", a.word()?)?,
                    name("consumer", a.word()?)?,
                ));
            }
            b"noack" => {
                if !group {
                    return Err(bad("The NOACK option is only supported by XREADGROUP. You called XREAD instead."));
                }
                noack = true;
            }
            _ => return Err(syntax()),
        }
    }
}

/// BLOCK's milliseconds (0: forever), with Redis's errors.
pub fn block_ms(w: &[u8]) -> Result<u64, WireError> {
    let n = parse_int(w).ok_or_else(|| bad("timeout is not an integer or out of range"))?;
    u64::try_from(n).map_err(|_| bad("timeout is negative"))
}

/// The BLOCK option of XREAD or XREADGROUP words (the name first), if any:
/// its milliseconds and where the option's two words are. Words after
/// STREAMS are keys and ids, never options.
pub fn block_option(args: &[&[u8]]) -> Option<(Result<u64, WireError>, usize)> {
    let mut i = 1;
    while i + 1 < args.len() {
        match args[i].to_ascii_lowercase().as_slice() {
            b"block" => return Some((block_ms(args[i + 1]), i)),
            b"count" => i += 2,
            b"group" => i += 3,
            b"streams" => return None,
            _ => i += 1,
        }
    }
    None
}

/// `ENTRIESREAD n` of XGROUP CREATE and SETID from word 5 on; MKSTREAM
/// too for CREATE.
fn group_opts(
    a: &mut Args<'_>,
    sub: &[u8],
    create: bool,
) -> Result<(bool, Option<i64>), WireError> {
    let (mut mkstream, mut entries_read) = (false, None);
    while let Some(w) = a.maybe() {
        if create && w.eq_ignore_ascii_case(b"mkstream") {
            mkstream = true;
        } else if w.eq_ignore_ascii_case(b"entriesread") && a.left() > 0 {
            let n = int_arg(a.word()?)?;
            if n < -1 {
                return Err(bad("value for ENTRIESREAD must be positive or -1"));
            }
            entries_read = Some(n);
        } else {
            return Err(bad(format!(
                "unknown subcommand or wrong number of arguments for '{}'. Try XGROUP HELP.",
                String::from_utf8_lossy(sub)
            )));
        }
    }
    Ok((mkstream, entries_read))
}

/// `$` or a strict id.
fn id_or_last(w: &[u8]) -> Result<Option<Id>, WireError> {
    match w {
        b"$" => Ok(None),
        w => strict_id(w).map(Some),
    }
}

impl<'a> StreamCmd<'a> {
    pub fn parse(cmd: &str, a: &mut Args<'a>) -> Result<StreamCmd<'a>, WireError> {
        Ok(match cmd {
            "xadd" => {
                let key = a.word()?;
                let (trim, create, id) = add_or_trim(a, true)?;
                let fields = a.rest();
                if fields.is_empty() || !fields.len().is_multiple_of(2) {
                    return Err(arity(cmd));
                }
                if id == NewId::Exact(Id::default()) {
                    return Err(bad("The ID specified in XADD must be greater than 0-0"));
                }
                StreamCmd::Add {
                    key,
                    create,
                    trim,
                    id,
                    fields: fields.chunks(2).map(|c| (c[0], c[1])).collect(),
                }
            }
            "xtrim" => {
                let key = a.word()?;
                let (trim, _, _) = add_or_trim(a, false)?;
                StreamCmd::Trim {
                    key,
                    trim: trim.ok_or_else(syntax)?,
                }
            }
            "xlen" => StreamCmd::Len(a.word()?),
            "xrange" | "xrevrange" => {
                let key = a.word()?;
                let reverse = cmd == "xrevrange";
                let (w1, w2) = (a.word()?, a.word()?);
                let (from, to) = match reverse {
                    false => (interval(w1, true)?, interval(w2, false)?),
                    true => (interval(w2, true)?, interval(w1, false)?),
                };
                let mut count = None;
                while a.left() > 0 {
                    if a.eat("count") && a.left() > 0 {
                        count = Some(count_word(a.word()?)?);
                    } else {
                        return Err(syntax());
                    }
                }
                StreamCmd::Range {
                    key,
                    from,
                    to,
                    count,
                    reverse,
                }
            }
            "xdel" => StreamCmd::Del {
                key: a.word()?,
                ids: a
                    .rest()
                    .iter()
                    .map(|w| strict_id(w))
                    .collect::<Result<_, _>>()?,
            },
            "xsetid" => {
                let key = a.word()?;
                let last = strict_id(a.word()?)?;
                let (mut entries_added, mut max_deleted) = (None, None);
                while let Some(w) = a.maybe() {
                    if w.eq_ignore_ascii_case(b"entriesadded") && a.left() > 0 {
                        let n = int_arg(a.word()?)?;
                        entries_added = Some(
                            u64::try_from(n).map_err(|_| bad("entries_added must be positive"))?,
                        );
                    } else if w.eq_ignore_ascii_case(b"maxdeletedid") && a.left() > 0 {
                        let id = strict_id(a.word()?)?;
                        if last < id {
                            return Err(bad("The ID specified in XSETID is smaller than the provided max_deleted_entry_id"));
                        }
                        max_deleted = Some(id);
                    } else {
                        return Err(syntax());
                    }
                }
                StreamCmd::SetId {
                    key,
                    last,
                    entries_added,
                    max_deleted,
                }
            }
            "xread" => {
                let ReadArgs {
                    count, keys, ids, ..
                } = read_args(a, false)?;
                let mut streams = Vec::with_capacity(keys.len());
                for (k, w) in keys.iter().zip(ids) {
                    let id = match *w {
                        b"$" => None,
                        b">" => return Err(bad("The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.")),
                        w => Some(strict_id(w)?),
                    };
                    streams.push((*k, id));
                }
                StreamCmd::Read { count, streams }
            }
            "xreadgroup" => {
                let ReadArgs {
                    count,
                    who,
                    noack,
                    keys,
                    ids,
                } = read_args(a, true)?;
                let (group, consumer) = who.ok_or_else(syntax)?;
                let mut streams = Vec::with_capacity(keys.len());
                for (k, w) in keys.iter().zip(ids) {
                    let id = match *w {
                        b">" => GroupId::New,
                        b"$" => return Err(bad("The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.")),
                        w => GroupId::After(strict_id(w)?),
                    };
                    streams.push((*k, id));
                }
                StreamCmd::ReadGroup {
                    group,
                    consumer,
                    count,
                    noack,
                    streams,
                }
            }
            "xack" => StreamCmd::Ack {
                key: a.word()?,
                group: a.word()?,
                ids: a
                    .rest()
                    .iter()
                    .map(|w| strict_id(w))
                    .collect::<Result<_, _>>()?,
            },
            "xpending" => {
                let (key, group) = (a.word()?, a.word()?);
                let range = match a.left() {
                    0 => None,
                    1 | 2 => return Err(syntax()),
                    _ => {
                        let mut min_idle = 0;
                        if a.eat("idle") {
                            min_idle = int_arg(a.word()?)?.max(0) as u64;
                            if a.left() < 3 {
                                return Err(syntax());
                            }
                        }
                        let (w1, w2, w3) = (a.word()?, a.word()?, a.word()?);
                        let count = count_word(w3)?;
                        let from = interval(w1, true)?;
                        let to = interval(w2, false)?;
                        Some(PendingRange {
                            min_idle,
                            from,
                            to,
                            count,
                            consumer: a.maybe(),
                        })
                    }
                };
                StreamCmd::Pending { key, group, range }
            }
            "xclaim" => {
                let (key, group) = (a.word()?, a.word()?);
                let consumer = name("consumer", a.word()?)?;
                let min_idle = parse_int(a.word()?)
                    .ok_or_else(|| bad("Invalid min-idle-time argument for XCLAIM"))?
                    .max(0) as u64;
                let rest = a.rest();
                let n_ids = rest.iter().take_while(|w| strict_id(w).is_ok()).count();
                let ids = rest[..n_ids]
                    .iter()
                    .map(|w| strict_id(w))
                    .collect::<Result<_, _>>()?;
                let mut o = ClaimOpts::default();
                let a = &mut Args::new(&rest[n_ids..]);
                while let Some(w) = a.maybe() {
                    let more = a.left() > 0;
                    let int = |a: &mut Args<'_>, what: &str| {
                        parse_int(a.word()?).ok_or_else(|| {
                            bad(format!("Invalid {what} option argument for XCLAIM"))
                        })
                    };
                    match w.to_ascii_lowercase().as_slice() {
                        b"force" => o.force = true,
                        b"justid" => o.just_id = true,
                        b"idle" if more => o.idle = Some(int(a, "IDLE")?),
                        b"time" if more => o.time = Some(int(a, "TIME")?),
                        b"retrycount" if more => {
                            o.retry_count = Some(int(a, "RETRYCOUNT")?.max(0) as u64)
                        }
                        b"lastid" if more => o.last_id = Some(strict_id(a.word()?)?),
                        _ => {
                            return Err(bad(format!(
                                "Unrecognized XCLAIM option '{}'",
                                String::from_utf8_lossy(w)
                            )))
                        }
                    }
                }
                StreamCmd::Claim {
                    key,
                    group,
                    consumer,
                    min_idle,
                    ids,
                    opts: o,
                }
            }
            "xautoclaim" => {
                let (key, group) = (a.word()?, a.word()?);
                let consumer = name("consumer", a.word()?)?;
                let min_idle = parse_int(a.word()?)
                    .ok_or_else(|| bad("Invalid min-idle-time argument for XAUTOCLAIM"))?
                    .max(0) as u64;
                let start = interval(a.word()?, true)?;
                let (mut count, mut just_id) = (100, false);
                while let Some(w) = a.maybe() {
                    if w.eq_ignore_ascii_case(b"count") && a.left() > 0 {
                        count = parse_int(a.word()?)
                            .filter(|c| (1..=i64::MAX / 16).contains(c))
                            .ok_or_else(|| bad("COUNT must be > 0"))?
                            as u64;
                    } else if w.eq_ignore_ascii_case(b"justid") {
                        just_id = true;
                    } else {
                        return Err(syntax());
                    }
                }
                StreamCmd::AutoClaim {
                    key,
                    group,
                    consumer,
                    min_idle,
                    start,
                    count,
                    just_id,
                }
            }
            "xgroup|create" | "xgroup|setid" => {
                let sub = a.word()?;
                let (key, group) = (a.word()?, name("consumer group", a.word()?)?);
                let id = a.word()?;
                let create = cmd == "xgroup|create";
                let (mkstream, entries_read) = group_opts(a, sub, create)?;
                let id = id_or_last(id)?;
                match create {
                    true => StreamCmd::GroupCreate {
                        key,
                        group,
                        id,
                        mkstream,
                        entries_read,
                    },
                    false => StreamCmd::GroupSetId {
                        key,
                        group,
                        id,
                        entries_read,
                    },
                }
            }
            "xgroup|destroy" => {
                a.word()?;
                StreamCmd::GroupDestroy {
                    key: a.word()?,
                    group: a.word()?,
                }
            }
            "xgroup|createconsumer" | "xgroup|delconsumer" => {
                a.word()?;
                let (key, group) = (a.word()?, a.word()?);
                let consumer = name("consumer", a.word()?)?;
                match cmd == "xgroup|createconsumer" {
                    true => StreamCmd::GroupCreateConsumer {
                        key,
                        group,
                        consumer,
                    },
                    false => StreamCmd::GroupDelConsumer {
                        key,
                        group,
                        consumer,
                    },
                }
            }
            "xinfo|stream" => {
                let sub = a.word()?;
                let key = a.word()?;
                let wrong = || {
                    bad(format!(
                        "unknown subcommand or wrong number of arguments for '{}'. Try XINFO HELP.",
                        String::from_utf8_lossy(sub)
                    ))
                };
                let full = if a.left() == 0 {
                    None
                } else if !a.eat("full") {
                    return Err(wrong());
                } else if a.left() == 0 {
                    Some(10)
                } else if a.left() == 2 && a.eat("count") {
                    Some(count_word(a.word()?)?)
                } else {
                    return Err(wrong());
                };
                StreamCmd::InfoStream { key, full }
            }
            "xinfo|groups" => {
                a.word()?;
                StreamCmd::InfoGroups(a.word()?)
            }
            "xinfo|consumers" => {
                a.word()?;
                StreamCmd::InfoConsumers {
                    key: a.word()?,
                    group: a.word()?,
                }
            }
            _ => return Err(not_named(cmd)),
        })
    }
}
