//! ACL users, Redis 7.0's model: who may run which command, on which keys
//! and channels, with which passwords (docs/security.md).
//!
//! A [`User`] is built by applying rules (`ACL SETUSER`'s words, the ACL
//! file's lines: `rules.rs`) and checked against the command table: the
//! commands a user may run are a bit set over the table's rows and
//! subcommands, categories come from `Command::acl_categories`, and keys
//! from `Command::key_positions` with the read/write needs the table's
//! `NOACCESS`, `DEST_FIRST` and `SOURCE_FIRST` flags give (Redis's key specs). Everything
//! here is pure; the server keeps the users and the ACL file.

mod rules;

use std::sync::OnceLock;

use ahash::AHashMap;
use sha2::{Digest, Sha256};

use crate::codes::{ErrorCode, WireError};
use crate::command::Request;
use crate::table::{self, flag, Command};
use crate::value::glob_match;

pub use rules::{parse_file, valid_name, RuleError};

/// Every row and subcommand of the table, each with a bit number.
struct Leaves {
    rows: Vec<&'static Command>,
    index: AHashMap<&'static str, usize>,
}

fn leaves() -> &'static Leaves {
    static L: OnceLock<Leaves> = OnceLock::new();
    L.get_or_init(|| {
        let mut rows = Vec::new();
        for c in table::all() {
            rows.push(c);
            rows.extend(c.subcommands.iter());
        }
        let index = rows.iter().enumerate().map(|(i, c)| (c.name, i)).collect();
        Leaves { rows, index }
    })
}

/// A key pattern with the access it grants (`~` both, `%R~`, `%W~`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPattern {
    pub read: bool,
    pub write: bool,
    pub pattern: Vec<u8>,
}

/// One ACL user.
#[derive(Debug, Clone)]
pub struct User {
    name: String,
    enabled: bool,
    nopass: bool,
    /// SHA-256 of each password, in the order added.
    passwords: Vec<[u8; 32]>,
    /// Allowed commands: one bit per `Leaves` entry.
    allowed: Vec<u64>,
    /// Whether the command rules start from `+@all` (else `-@all`).
    from_all: bool,
    /// The command rules applied since, as `ACL LIST` shows them.
    command_rules: Vec<String>,
    keys: Vec<KeyPattern>,
    all_keys: bool,
    channels: Vec<Vec<u8>>,
    all_channels: bool,
    /// Every command, key and channel: checks can be skipped.
    unrestricted: bool,
}

/// Why a check failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// The command (named as `parent|sub` for a subcommand).
    Command(String),
    Key(Vec<u8>),
    Channel(Vec<u8>),
}

impl Denied {
    /// Redis 7.0's NOPERM reply.
    pub fn error(&self) -> WireError {
        let m = match self {
            Denied::Command(c) => {
                format!("this user has no permissions to run the '{c}' command")
            }
            Denied::Key(_) => {
                "this user has no permissions to access one of the keys used as arguments".into()
            }
            Denied::Channel(_) => {
                "this user has no permissions to access one of the channels used as arguments"
                    .into()
            }
        };
        WireError::new(ErrorCode::NoPerm, m)
    }

    /// ACL DRYRUN's wording.
    pub fn dry_run_text(&self) -> String {
        match self {
            Denied::Command(c) => format!("This user has no permissions to run the '{c}' command"),
            Denied::Key(k) => format!(
                "This user has no permissions to access the '{}' key",
                String::from_utf8_lossy(k)
            ),
            Denied::Channel(c) => format!(
                "This user has no permissions to access the '{}' channel",
                String::from_utf8_lossy(c)
            ),
        }
    }

    /// ACL LOG's `reason` and `object`.
    pub fn reason_and_object(&self) -> (&'static str, Vec<u8>) {
        match self {
            Denied::Command(c) => ("command", c.as_bytes().to_vec()),
            Denied::Key(k) => ("key", k.clone()),
            Denied::Channel(c) => ("channel", c.clone()),
        }
    }
}

/// SHA-256 of a password.
pub fn hash_password(pass: &[u8]) -> [u8; 32] {
    Sha256::digest(pass).into()
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl User {
    /// A user as `ACL SETUSER` creates it: off, no password, no command,
    /// key or channel.
    pub fn new(name: &str) -> User {
        User {
            name: name.to_string(),
            enabled: false,
            nopass: false,
            passwords: Vec::new(),
            allowed: vec![0; leaves().rows.len().div_ceil(64)],
            from_all: false,
            command_rules: Vec::new(),
            keys: Vec::new(),
            all_keys: false,
            channels: Vec::new(),
            all_channels: false,
            unrestricted: false,
        }
    }

    /// The `default` user of a server without ACL configuration: on,
    /// nopass, every command, key and channel.
    pub fn default_user() -> User {
        let mut u = User::new("default");
        for r in ["on", "nopass", "allkeys", "allchannels", "allcommands"] {
            u.apply(r.as_bytes())
                .expect("the default user's rules are valid");
        }
        u
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    pub fn nopass(&self) -> bool {
        self.nopass
    }

    /// May run everything on every key and channel (checks are skipped).
    pub fn unrestricted(&self) -> bool {
        self.unrestricted
    }

    /// Whether `pass` opens this user (it must also be enabled).
    pub fn password_ok(&self, pass: &[u8]) -> bool {
        self.enabled && (self.nopass || self.passwords.contains(&hash_password(pass)))
    }

    /// Whether this user may run `cmd` (the table row of `args[0]`) with
    /// `args`: the command (or its subcommand), its keys, its channels.
    pub fn check(&self, cmd: &'static Command, args: &[&[u8]]) -> Result<(), Denied> {
        if self.unrestricted {
            return Ok(());
        }
        let leaf = match args.get(1) {
            Some(w) if !cmd.subcommands.is_empty() => cmd.subcommand(w).unwrap_or(cmd),
            _ => cmd,
        };
        // AUTH and HELLO (NO_AUTH) are every user's, as in Redis.
        if !leaf.has(flag::NO_AUTH) && !self.may_run(leaf) {
            return Err(Denied::Command(leaf.name.to_string()));
        }
        if !self.all_keys {
            // A bad key count fails the command itself later.
            if let Ok(positions) = leaf.key_positions(args) {
                for (n, &i) in positions.iter().enumerate() {
                    let (read, write) = key_needs(leaf, args, n);
                    if !self.key_ok(args[i], read, write) {
                        return Err(Denied::Key(args[i].to_vec()));
                    }
                }
            }
        }
        if !self.all_channels {
            for (ch, literal) in channels_of(leaf.name, args) {
                if !self.channel_ok(ch, literal) {
                    return Err(Denied::Channel(ch.to_vec()));
                }
            }
        }
        Ok(())
    }

    /// Whether this user may send binary request `req`: its opcode's row
    /// (or each named command's), its keys and its channel.
    pub fn check_request(&self, req: &Request<'_>) -> Result<(), Denied> {
        if self.unrestricted {
            return Ok(());
        }
        let named = |args: &[&[u8]]| match table::lookup(args) {
            Ok(cmd) => self.check(cmd, args),
            // The core answers the unknown command or the bad arity.
            Err(_) => Ok(()),
        };
        match req {
            Request::InDb { inner, .. } => return self.check_request(inner),
            Request::Command(c) => return named(&c.args),
            Request::Block { args, .. } => return named(args),
            Request::Batch(cs) => return cs.iter().try_for_each(|c| named(&c.args)),
            _ => {}
        }
        let Some(row) = table::by_opcode(req.opcode()) else {
            return Ok(());
        };
        if !row.has(flag::NO_AUTH) && !self.may_run(row) {
            return Err(Denied::Command(row.name.to_string()));
        }
        let (read, write) = match req {
            // The fast SET has no GET option: it only writes.
            Request::Set { .. } => (false, true),
            _ => (!row.has(flag::NOACCESS), row.is_write()),
        };
        let one;
        let keys: &[&[u8]] = match req {
            Request::Get { key }
            | Request::Set { key, .. }
            | Request::IncrBy { key, .. }
            | Request::Expire { key, .. }
            | Request::Persist { key }
            | Request::Ttl { key } => {
                one = [*key];
                &one
            }
            Request::Del { keys }
            | Request::Exists { keys }
            | Request::MGet { keys }
            | Request::BlockingPop { keys, .. } => keys,
            Request::MSet { pairs } => {
                return match pairs.iter().find(|(k, _)| !self.key_ok(k, read, write)) {
                    Some((k, _)) => Err(Denied::Key(k.to_vec())),
                    None => Ok(()),
                }
            }
            Request::Publish { channel, .. } => {
                return match self.all_channels || self.channel_ok(channel, false) {
                    true => Ok(()),
                    false => Err(Denied::Channel(channel.to_vec())),
                }
            }
            _ => &[],
        };
        if !self.all_keys {
            if let Some(k) = keys.iter().find(|k| !self.key_ok(k, read, write)) {
                return Err(Denied::Key(k.to_vec()));
            }
            if let Request::BlockingPop {
                dest: Some((d, _)), ..
            } = req
            {
                if !self.key_ok(d, false, true) {
                    return Err(Denied::Key(d.to_vec()));
                }
            }
        }
        Ok(())
    }

    fn may_run(&self, leaf: &Command) -> bool {
        leaves()
            .index
            .get(leaf.name)
            .is_some_and(|&i| self.allowed[i / 64] & (1 << (i % 64)) != 0)
    }

    fn key_ok(&self, key: &[u8], read: bool, write: bool) -> bool {
        self.keys
            .iter()
            .any(|p| (p.read || !read) && (p.write || !write) && glob_match(&p.pattern, key))
    }

    /// A PSUBSCRIBE pattern must be one of the user's patterns, word for
    /// word (as in Redis); a channel must match one.
    fn channel_ok(&self, ch: &[u8], literal: bool) -> bool {
        self.channels.iter().any(|p| match literal {
            true => p == ch,
            false => glob_match(p, ch),
        })
    }

    fn recompute(&mut self) {
        let n = leaves().rows.len();
        let all_cmds = (0..n).all(|i| self.allowed[i / 64] & (1 << (i % 64)) != 0);
        self.unrestricted = all_cmds && self.all_keys && self.all_channels;
    }
}

/// What key number `n` of `cmd` needs: (read, write).
fn key_needs(cmd: &Command, args: &[&[u8]], n: usize) -> (bool, bool) {
    let write = cmd.is_write();
    // PFMERGE also reads its destination (key spec `RW access insert`).
    if cmd.name == "pfmerge" {
        return (true, n == 0);
    }
    if cmd.has(flag::DEST_FIRST) {
        return (n > 0, n == 0);
    }
    if cmd.has(flag::SOURCE_FIRST) {
        return (n == 0, n > 0);
    }
    // SET reads its key only with GET (Redis's variable key flags).
    if cmd.name == "set" {
        let get = args.iter().skip(3).any(|a| a.eq_ignore_ascii_case(b"get"));
        return (get, true);
    }
    // BITFIELD writes only with SET or INCRBY (Redis's bitfieldGetKeys,
    // which also counts a malformed argument list as a write).
    if cmd.name == "bitfield" {
        return (true, !bitfield_reads_only(args));
    }
    (!cmd.has(flag::NOACCESS), write)
}

/// Whether BITFIELD's arguments (`args[0]` the name) hold only GETs and
/// OVERFLOWs, well formed.
fn bitfield_reads_only(args: &[&[u8]]) -> bool {
    let mut i = 2;
    while i < args.len() {
        let left = args.len() - i - 1;
        let w = args[i];
        if w.eq_ignore_ascii_case(b"get") && left >= 2 {
            i += 3;
        } else if w.eq_ignore_ascii_case(b"overflow") && left >= 1 {
            i += 2;
        } else {
            return false;
        }
    }
    true
}

/// The channels a command names, each with whether it is a pattern taken
/// word for word (PSUBSCRIBE).
fn channels_of<'a>(name: &str, args: &[&'a [u8]]) -> Vec<(&'a [u8], bool)> {
    match name {
        "publish" => args.get(1).map(|c| vec![(*c, false)]).unwrap_or_default(),
        "subscribe" => args[1..].iter().map(|c| (*c, false)).collect(),
        "psubscribe" => args[1..].iter().map(|c| (*c, true)).collect(),
        _ => Vec::new(),
    }
}

/// The commands of category `cat` (`ACL CAT cat`), or `None` for an
/// unknown category.
pub fn category_commands(cat: &str) -> Option<Vec<&'static str>> {
    let bit = table::acl::by_name(cat)?;
    Some(
        leaves()
            .rows
            .iter()
            .filter(|c| c.acl_categories() & bit != 0 && !c.has(flag::BINARY_ONLY))
            .map(|c| c.name)
            .collect(),
    )
}

#[cfg(test)]
mod tests;
