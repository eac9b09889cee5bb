//! One core's client connections, for CLIENT LIST and CLIENT KILL over
//! every core (the CLIENTCTL request, sent to every core and gathered).
//!
//! A connection registers an entry when it opens and drops it when it
//! closes; it copies what CLIENT LIST shows into the entry once per read
//! (not per command). CLIENT KILL shuts the socket down: the connection's
//! next read ends (and a write blocked on a client that does not read
//! fails), so the connection loops pay nothing per read for it. The
//! caller's own connection (`SKIPME no`) is only marked: it closes itself
//! once its reply is written.

// shutdown(2) on a connection's socket has no safe binding here.
#![allow(unsafe_code)]

use std::cell::{Cell, RefCell};
use std::fmt::Write;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use ahash::AHashMap;

/// Client ids, unique in the node (RESP and binary connections).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A new connection's id.
pub fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// The next id to be given (a source of variety for RANDOMKEY).
pub fn ids_given() -> u64 {
    NEXT_ID.load(Ordering::Relaxed)
}

/// What CLIENT LIST shows of one connection.
pub struct ClientEntry {
    pub id: u64,
    pub addr: String,
    pub laddr: String,
    /// `resp` or `binary`.
    pub proto: &'static str,
    pub tls: bool,
    created: Instant,
    pub name: RefCell<Option<Vec<u8>>>,
    pub user: RefCell<String>,
    pub cmd: RefCell<String>,
    pub active: Cell<Instant>,
    pub sub: Cell<usize>,
    pub psub: Cell<usize>,
    /// Commands queued in MULTI, or -1 outside one.
    pub multi: Cell<i64>,
    pub resp: Cell<u8>,
    /// The selected database (SELECT).
    pub db: Cell<u16>,
    /// Picked by CLIENT KILL.
    pub killed: Cell<bool>,
    /// The connection's socket (open while the entry is listed: the
    /// entry goes before the stream closes, on the same core).
    fd: RawFd,
}

impl ClientEntry {
    /// Redis's client type: `pubsub` with a subscription, else `normal`.
    fn kind(&self) -> &'static str {
        if self.sub.get() + self.psub.get() > 0 {
            "pubsub"
        } else {
            "normal"
        }
    }

    /// The CLIENT LIST / CLIENT INFO line (without its newline), Redis's
    /// fields first, then Tessera's.
    pub fn line(&self, core: usize) -> String {
        let now = Instant::now();
        let flags = match (self.kind(), self.multi.get() >= 0) {
            ("pubsub", _) => "P",
            (_, true) => "x",
            _ => "N",
        };
        format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={flags} db={} sub={} psub={} ssub=0 multi={} qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd={} user={} redir=-1 resp={} tessera-proto={} tls={} tessera-core={core}",
            self.id,
            self.addr,
            self.laddr,
            self.fd,
            String::from_utf8_lossy(self.name.borrow().as_deref().unwrap_or_default()),
            now.duration_since(self.created).as_secs(),
            now.duration_since(self.active.get()).as_secs(),
            self.db.get(),
            self.sub.get(),
            self.psub.get(),
            self.multi.get(),
            self.cmd.borrow(),
            self.user.borrow(),
            self.resp.get(),
            self.proto,
            if self.tls { "yes" } else { "no" },
        )
    }
}

/// A filter of CLIENT LIST or CLIENT KILL, as the CLIENTS request carries
/// it (field and value pairs, checked at the front end).
#[derive(Default)]
pub struct Filter {
    ids: Vec<u64>,
    addr: Option<String>,
    laddr: Option<String>,
    user: Option<String>,
    kind: Option<String>,
    skip: Option<u64>,
    /// The connection that asked (it closes itself after its reply).
    caller: Option<u64>,
}

impl Filter {
    pub fn parse(words: &[&[u8]]) -> Filter {
        let mut f = Filter::default();
        for pair in words.chunks(2) {
            let [field, value] = pair else { continue };
            let v = String::from_utf8_lossy(value).into_owned();
            match field.to_ascii_lowercase().as_slice() {
                b"id" => f.ids.extend(v.parse::<u64>().ok()),
                b"addr" => f.addr = Some(v),
                b"laddr" => f.laddr = Some(v),
                b"user" => f.user = Some(v),
                b"type" => f.kind = Some(v.to_ascii_lowercase()),
                b"skipme" => f.skip = v.parse().ok(),
                b"caller" => f.caller = v.parse().ok(),
                _ => {}
            }
        }
        f
    }

    fn picks(&self, e: &ClientEntry) -> bool {
        (self.ids.is_empty() || self.ids.contains(&e.id))
            && self.addr.as_ref().is_none_or(|a| *a == e.addr)
            && self.laddr.as_ref().is_none_or(|a| *a == e.laddr)
            && self.user.as_ref().is_none_or(|u| *u == *e.user.borrow())
            && self.kind.as_ref().is_none_or(|k| k == e.kind())
            && self.skip != Some(e.id)
    }
}

/// This core's connections.
#[derive(Default)]
pub struct Clients {
    map: RefCell<AHashMap<u64, Rc<ClientEntry>>>,
}

/// Keeps a connection listed; dropping it removes the entry.
pub struct Listed<'a> {
    clients: &'a Clients,
    pub entry: Rc<ClientEntry>,
}

impl Drop for Listed<'_> {
    fn drop(&mut self) {
        self.clients.map.borrow_mut().remove(&self.entry.id);
    }
}

impl Clients {
    /// Lists a new connection.
    pub fn open(&self, id: u64, stream: &super::epoll::Stream, proto: &'static str) -> Listed<'_> {
        let now = Instant::now();
        let show =
            |a: std::io::Result<std::net::SocketAddr>| a.map(|a| a.to_string()).unwrap_or_default();
        let entry = Rc::new(ClientEntry {
            id,
            addr: show(stream.peer_addr()),
            laddr: show(stream.local_addr()),
            proto,
            tls: stream.is_tls(),
            created: now,
            name: RefCell::new(None),
            user: RefCell::new(String::new()),
            cmd: RefCell::new("NULL".into()),
            active: Cell::new(now),
            sub: Cell::new(0),
            psub: Cell::new(0),
            multi: Cell::new(-1),
            resp: Cell::new(2),
            db: Cell::new(0),
            killed: Cell::new(false),
            fd: stream.raw_fd(),
        });
        self.map.borrow_mut().insert(id, entry.clone());
        Listed {
            clients: self,
            entry,
        }
    }

    /// CLIENT LIST lines of the connections `filter` picks, by id.
    pub fn list(&self, core: usize, filter: &Filter) -> String {
        let map = self.map.borrow();
        let mut picked: Vec<&Rc<ClientEntry>> = map.values().filter(|e| filter.picks(e)).collect();
        picked.sort_by_key(|e| e.id);
        let mut out = String::new();
        for e in picked {
            let _ = writeln!(out, "{}", e.line(core));
        }
        out
    }

    /// Closes the connections `filter` picks; returns how many.
    pub fn kill(&self, filter: &Filter) -> u64 {
        let map = self.map.borrow();
        let mut n = 0;
        for e in map.values().filter(|e| filter.picks(e)) {
            e.killed.set(true);
            if filter.caller != Some(e.id) {
                // SAFETY: `e.fd` is open while its entry is listed (see
                // `fd`); shutdown(2) only changes the socket's state.
                unsafe { libc::shutdown(e.fd, libc::SHUT_RDWR) };
            }
            n += 1;
        }
        n
    }
}
