//! ACL rules: applying `ACL SETUSER`'s words to a user, describing a user
//! as `ACL LIST` and `ACL GETUSER` do, and reading an ACL file (one
//! `user <name> <rules...>` line per user, what `ACL SAVE` writes).

use super::{hash_password, hex, leaves, KeyPattern, User};
use crate::table::{self, Command};
use crate::value::Value;

/// A rule that cannot be applied: Redis's text for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError(pub String);

impl std::fmt::Display for RuleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn err(m: &str) -> RuleError {
    RuleError(m.to_string())
}

const UNKNOWN: &str = "Unknown command or category name in ACL";
const AFTER_ALL_KEYS: &str = "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns";
const AFTER_ALL_CHANNELS: &str = "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels";
const NO_SUCH_PASSWORD: &str = "The password you are trying to remove from the user does not exist";

/// Whether `name` can name a user.
pub fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && !name.iter().any(|b| b.is_ascii_whitespace() || *b == 0)
}

impl User {
    /// Applies one rule (case-insensitive keywords, as Redis).
    pub fn apply(&mut self, rule: &[u8]) -> Result<(), RuleError> {
        let r = std::str::from_utf8(rule).map_err(|_| err("Syntax error"))?;
        let lower = r.to_ascii_lowercase();
        match lower.as_str() {
            "on" => self.enabled = true,
            "off" => self.enabled = false,
            "nopass" => {
                self.nopass = true;
                self.passwords.clear();
            }
            "resetpass" => {
                self.nopass = false;
                self.passwords.clear();
            }
            "allkeys" => self.set_all_keys(),
            "resetkeys" => {
                self.all_keys = false;
                self.keys.clear();
            }
            "allchannels" => self.set_all_channels(),
            "resetchannels" => {
                self.all_channels = false;
                self.channels.clear();
            }
            "allcommands" | "+@all" => self.set_all_commands(true),
            "nocommands" | "-@all" => self.set_all_commands(false),
            "sanitize-payload" | "skip-sanitize-payload" => {}
            "reset" => {
                for r in ["resetpass", "resetkeys", "resetchannels", "off", "-@all"] {
                    self.apply(r.as_bytes())?;
                }
            }
            _ => return self.apply_valued(rule),
        }
        self.recompute();
        Ok(())
    }

    fn apply_valued(&mut self, rule: &[u8]) -> Result<(), RuleError> {
        let (first, rest) = (rule[0], &rule[1..]);
        // Patterns are words of the ACL file: no space in them (Redis's
        // rule; passwords are stored hashed, so they may have spaces).
        if matches!(first, b'~' | b'%' | b'&')
            && rule.iter().any(|b| b.is_ascii_whitespace() || *b == 0)
        {
            return Err(err("Syntax error"));
        }
        match first {
            b'>' => self.add_password(hash_password(rest)),
            b'<' => self.remove_password(&hash_password(rest))?,
            b'#' => self.add_password(parse_hash(rest)?),
            b'!' => self.remove_password(&parse_hash(rest)?)?,
            b'~' => self.add_key_pattern(true, true, rest)?,
            b'%' => {
                let tilde = rest
                    .iter()
                    .position(|&b| b == b'~')
                    .ok_or_else(|| err("Syntax error"))?;
                let (mut read, mut write) = (false, false);
                for b in &rest[..tilde] {
                    match b.to_ascii_uppercase() {
                        b'R' => read = true,
                        b'W' => write = true,
                        _ => return Err(err("Syntax error")),
                    }
                }
                if !read && !write {
                    return Err(err("Syntax error"));
                }
                self.add_key_pattern(read, write, &rest[tilde + 1..])?;
            }
            b'&' => {
                if self.all_channels {
                    return Err(err(AFTER_ALL_CHANNELS));
                }
                if rest == b"*" {
                    self.set_all_channels();
                } else if !self.channels.iter().any(|c| c == rest) {
                    self.channels.push(rest.to_vec());
                }
            }
            b'+' | b'-' => self.apply_command_rule(first == b'+', rest)?,
            b'(' => return Err(err("Selectors are not supported by Tessera")),
            _ => return Err(err("Syntax error")),
        }
        self.recompute();
        Ok(())
    }

    fn add_password(&mut self, h: [u8; 32]) {
        self.nopass = false;
        if !self.passwords.contains(&h) {
            self.passwords.push(h);
        }
    }

    fn remove_password(&mut self, h: &[u8; 32]) -> Result<(), RuleError> {
        let before = self.passwords.len();
        self.passwords.retain(|p| p != h);
        if self.passwords.len() == before {
            return Err(err(NO_SUCH_PASSWORD));
        }
        Ok(())
    }

    fn add_key_pattern(&mut self, read: bool, write: bool, pat: &[u8]) -> Result<(), RuleError> {
        if self.all_keys {
            return Err(err(AFTER_ALL_KEYS));
        }
        if pat == b"*" && read && write {
            self.set_all_keys();
            return Ok(());
        }
        match self.keys.iter_mut().find(|p| p.pattern == pat) {
            Some(p) => {
                p.read |= read;
                p.write |= write;
            }
            None => self.keys.push(KeyPattern {
                read,
                write,
                pattern: pat.to_vec(),
            }),
        }
        Ok(())
    }

    fn set_all_keys(&mut self) {
        self.all_keys = true;
        self.keys = vec![KeyPattern {
            read: true,
            write: true,
            pattern: b"*".to_vec(),
        }];
    }

    fn set_all_channels(&mut self) {
        self.all_channels = true;
        self.channels = vec![b"*".to_vec()];
    }

    fn set_all_commands(&mut self, allow: bool) {
        self.allowed.fill(if allow { u64::MAX } else { 0 });
        self.from_all = allow;
        self.command_rules.clear();
    }

    fn set_bit(&mut self, c: &Command, allow: bool) {
        if let Some(&i) = leaves().index.get(c.name) {
            let m = 1u64 << (i % 64);
            if allow {
                self.allowed[i / 64] |= m;
            } else {
                self.allowed[i / 64] &= !m;
            }
        }
    }

    /// `+cmd`, `-cmd`, `+cmd|sub`, `+@cat`, `-@cat`.
    fn apply_command_rule(&mut self, allow: bool, what: &[u8]) -> Result<(), RuleError> {
        let what = std::str::from_utf8(what)
            .map_err(|_| err(UNKNOWN))?
            .to_ascii_lowercase();
        let sign = if allow { '+' } else { '-' };
        if let Some(cat) = what.strip_prefix('@') {
            let bit = table::acl::by_name(cat).ok_or_else(|| err(UNKNOWN))?;
            for c in leaves()
                .rows
                .iter()
                .filter(|c| c.acl_categories() & bit != 0)
            {
                self.set_bit(c, allow);
            }
            self.command_rules.push(format!("{sign}@{cat}"));
            return Ok(());
        }
        let (parent, sub) = match what.split_once('|') {
            Some((p, s)) => (p, Some(s)),
            None => (what.as_str(), None),
        };
        let row = table::get(parent.as_bytes()).ok_or_else(|| err(UNKNOWN))?;
        match sub {
            Some(s) => {
                let sc = row.subcommand(s.as_bytes()).ok_or_else(|| err(UNKNOWN))?;
                self.set_bit(sc, allow);
            }
            None => {
                self.set_bit(row, allow);
                for sc in row.subcommands {
                    self.set_bit(sc, allow);
                }
            }
        }
        // A later rule for the same command replaces the earlier ones (as
        // Redis compacts its rule string); a whole command also replaces
        // its subcommands' rules.
        self.command_rules.retain(|r| {
            let name = &r[1..];
            name != what && !(sub.is_none() && name.starts_with(&format!("{parent}|")))
        });
        self.command_rules.push(format!("{sign}{what}"));
        Ok(())
    }

    fn flags(&self) -> Vec<&'static str> {
        let mut f = vec![if self.enabled { "on" } else { "off" }];
        if self.nopass {
            f.push("nopass");
        }
        f
    }

    fn keys_text(&self) -> String {
        let words: Vec<String> = self
            .keys
            .iter()
            .map(|p| {
                let pat = String::from_utf8_lossy(&p.pattern);
                match (p.read, p.write) {
                    (true, true) => format!("~{pat}"),
                    (true, false) => format!("%R~{pat}"),
                    _ => format!("%W~{pat}"),
                }
            })
            .collect();
        words.join(" ")
    }

    fn channels_text(&self) -> String {
        let words: Vec<String> = self
            .channels
            .iter()
            .map(|c| format!("&{}", String::from_utf8_lossy(c)))
            .collect();
        words.join(" ")
    }

    fn commands_text(&self) -> String {
        let mut s = String::from(if self.from_all { "+@all" } else { "-@all" });
        for r in &self.command_rules {
            s.push(' ');
            s.push_str(r);
        }
        s
    }

    /// The user as one `ACL LIST` line (also an ACL file line).
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = vec!["user".into(), self.name.clone()];
        parts.extend(self.flags().iter().map(|f| f.to_string()));
        parts.extend(self.passwords.iter().map(|p| format!("#{}", hex(p))));
        let keys = self.keys_text();
        if !keys.is_empty() {
            parts.push(keys);
        }
        if !self.all_channels {
            parts.push("resetchannels".into());
        }
        let channels = self.channels_text();
        if !channels.is_empty() {
            parts.push(channels);
        }
        parts.push(self.commands_text());
        parts.join(" ")
    }

    /// `ACL GETUSER`'s reply.
    pub fn getuser(&self) -> Value {
        let s = |x: &str| Value::bytes(x.as_bytes().to_vec());
        Value::Map(vec![
            (
                s("flags"),
                Value::Array(self.flags().into_iter().map(s).collect()),
            ),
            (
                s("passwords"),
                Value::Array(self.passwords.iter().map(|p| s(&hex(p))).collect()),
            ),
            (s("commands"), s(&self.commands_text())),
            (s("keys"), s(&self.keys_text())),
            (s("channels"), s(&self.channels_text())),
            (s("selectors"), Value::Array(Vec::new())),
        ])
    }
}

/// A `#` password hash: 64 lower-case hex digits.
fn parse_hash(h: &[u8]) -> Result<[u8; 32], RuleError> {
    let bad = || {
        err("The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters")
    };
    if h.len() != 64
        || !h
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
    {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (i, pair) in h.chunks(2).enumerate() {
        let s = std::str::from_utf8(pair).map_err(|_| bad())?;
        out[i] = u8::from_str_radix(s, 16).map_err(|_| bad())?;
    }
    Ok(out)
}

/// Reads an ACL file: one `user <name> <rules...>` line per user; blank
/// lines and lines starting with `#` are skipped. A missing `default`
/// user is the open default. Errors name the line.
pub fn parse_file(text: &str) -> Result<Vec<User>, RuleError> {
    let mut users: Vec<User> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = |m: String| RuleError(format!("line {}: {m}", n + 1));
        let mut words = line.split_ascii_whitespace();
        if words.next() != Some("user") {
            return Err(at("a line must start with 'user'".into()));
        }
        let Some(name) = words.next() else {
            return Err(at("a user line needs a name".into()));
        };
        if users.iter().any(|u| u.name == name) {
            return Err(at(format!("duplicate user '{name}'")));
        }
        let mut u = User::new(name);
        for w in words {
            u.apply(w.as_bytes())
                .map_err(|e| at(format!("error in user declaration '{name}' at '{w}': {e}")))?;
        }
        users.push(u);
    }
    if !users.iter().any(|u| u.name == "default") {
        users.insert(0, User::default_user());
    }
    Ok(users)
}
