//! RESP, the Redis protocol: requests (arrays of bulk strings, and inline
//! commands as typed into telnet) and replies (RESP2, or RESP3 after
//! `HELLO 3`). A second codec beside protocol v1; the connection loop in
//! `net::resp` turns commands into the same requests a binary client sends.
//!
//! Decoding has two steps like the binary codec: `parse` returns
//! `Ok(None)` while a command is incomplete, an error when the bytes can
//! never be a command (the connection answers it and closes), and the word
//! ranges of a complete command otherwise. Lengths are checked before
//! anything is buffered, so a forged length cannot make the server allocate.

use std::ops::Range;

use super::value::Value;
use crate::codes::WireError;

/// Longest inline command, and longest `*`/`$` header line (Redis's limit).
pub const MAX_INLINE: usize = 64 << 10;
/// Most words in one command.
pub const MAX_WORDS: usize = 1 << 20;

/// A complete command at the start of a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// Byte ranges of the words, in the buffer (inline words are copied
    /// into `owned` instead when they had quotes or escapes).
    pub words: Vec<Range<usize>>,
    /// Inline words rebuilt from quotes/escapes (then `words` is empty).
    pub owned: Option<Vec<Vec<u8>>>,
    /// Bytes the command used.
    pub len: usize,
}

impl Parsed {
    /// The words, borrowed from `buf` (or from `owned`).
    pub fn args<'a>(&'a self, buf: &'a [u8]) -> Vec<&'a [u8]> {
        match &self.owned {
            Some(o) => o.iter().map(|w| w.as_slice()).collect(),
            None => self.words.iter().map(|r| &buf[r.clone()]).collect(),
        }
    }
}

/// A request that can never be parsed: answered with `-ERR Protocol error:
/// ...`, then the connection closes (as Redis does).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Protocol error: {0}")]
pub struct ProtocolError(pub String);

fn line_end(buf: &[u8], from: usize) -> Option<usize> {
    buf[from..]
        .windows(2)
        .position(|w| w == b"\r\n")
        .map(|p| from + p)
}

/// A length line's number, as `str::parse::<i64>` reads it (an optional
/// sign, then at least one digit; overflow is no number), straight from
/// the bytes: every command carries several of these.
fn number(b: &[u8]) -> Option<i64> {
    let (negative, digits) = match b {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, b),
    };
    if digits.is_empty() {
        return None;
    }
    let mut n: i64 = 0;
    for &d in digits {
        let v = d.wrapping_sub(b'0');
        if v > 9 {
            return None;
        }
        n = n.checked_mul(10)?;
        n = if negative {
            n.checked_sub(i64::from(v))?
        } else {
            n.checked_add(i64::from(v))?
        };
    }
    Some(n)
}

/// Parses one command from the start of `buf`. `max_bulk` bounds one word.
pub fn parse(buf: &[u8], max_bulk: usize) -> Result<Option<Parsed>, ProtocolError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    if first != b'*' {
        return parse_inline(buf);
    }
    let Some(end) = line_end(buf, 1) else {
        if buf.len() > MAX_INLINE {
            return Err(ProtocolError("too big mbulk count string".into()));
        }
        return Ok(None);
    };
    let n = number(&buf[1..end])
        .filter(|n| *n <= MAX_WORDS as i64)
        .ok_or_else(|| ProtocolError("invalid multibulk length".into()))?;
    let mut pos = end + 2;
    let mut words = Vec::with_capacity(n.clamp(0, 64) as usize);
    for _ in 0..n.max(0) {
        if pos >= buf.len() {
            return Ok(None);
        }
        if buf[pos] != b'$' {
            return Err(ProtocolError(format!(
                "expected '$', got '{}'",
                buf[pos] as char
            )));
        }
        let Some(end) = line_end(buf, pos + 1) else {
            if buf.len() - pos > MAX_INLINE {
                return Err(ProtocolError("too big bulk count string".into()));
            }
            return Ok(None);
        };
        let len = number(&buf[pos + 1..end])
            .filter(|l| *l >= 0 && *l as usize <= max_bulk)
            .ok_or_else(|| ProtocolError("invalid bulk length".into()))? as usize;
        let start = end + 2;
        if buf.len() < start + len + 2 {
            return Ok(None);
        }
        if &buf[start + len..start + len + 2] != b"\r\n" {
            return Err(ProtocolError("bulk string not terminated by CRLF".into()));
        }
        words.push(start..start + len);
        pos = start + len + 2;
    }
    Ok(Some(Parsed {
        words,
        owned: None,
        len: pos,
    }))
}

fn parse_inline(buf: &[u8]) -> Result<Option<Parsed>, ProtocolError> {
    let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
        if buf.len() > MAX_INLINE {
            return Err(ProtocolError("too big inline request".into()));
        }
        return Ok(None);
    };
    let line = buf[..nl].strip_suffix(b"\r").unwrap_or(&buf[..nl]);
    let words =
        split_args(line).ok_or_else(|| ProtocolError("unbalanced quotes in request".into()))?;
    Ok(Some(Parsed {
        words: Vec::new(),
        owned: Some(words),
        len: nl + 1,
    }))
}

/// Splits an inline command into words the way redis-cli and Redis do
/// (sdssplitargs): spaces separate, `"..."` takes `\n \r \t \b \a \xHH` and
/// `\"` escapes, `'...'` takes `\'`; a closing quote must be followed by a
/// space or the end. `None` when quotes do not balance.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        while i < line.len() && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= line.len() {
            return Some(out);
        }
        let mut w = Vec::new();
        let (mut dq, mut sq) = (false, false);
        loop {
            let c = line.get(i).copied();
            if dq {
                match c {
                    None => return None,
                    Some(b'\\')
                        if line.get(i + 1) == Some(&b'x')
                            && hex2(line.get(i + 2..i + 4)).is_some() =>
                    {
                        w.push(hex2(line.get(i + 2..i + 4))?);
                        i += 3;
                    }
                    Some(b'\\') if i + 1 < line.len() => {
                        i += 1;
                        w.push(match line[i] {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => 8,
                            b'a' => 7,
                            other => other,
                        });
                    }
                    Some(b'"') => {
                        if line.get(i + 1).is_some_and(|b| !b.is_ascii_whitespace()) {
                            return None;
                        }
                        dq = false;
                        i += 1;
                        break;
                    }
                    Some(b) => w.push(b),
                }
            } else if sq {
                match c {
                    None => return None,
                    Some(b'\\') if line.get(i + 1) == Some(&b'\'') => {
                        i += 1;
                        w.push(b'\'');
                    }
                    Some(b'\'') => {
                        if line.get(i + 1).is_some_and(|b| !b.is_ascii_whitespace()) {
                            return None;
                        }
                        sq = false;
                        i += 1;
                        break;
                    }
                    Some(b) => w.push(b),
                }
            } else {
                match c {
                    None => break,
                    Some(b) if b.is_ascii_whitespace() => break,
                    Some(b'"') => dq = true,
                    Some(b'\'') => sq = true,
                    Some(b) => w.push(b),
                }
            }
            i += 1;
        }
        debug_assert!(!dq && !sq);
        out.push(w);
    }
}

fn hex2(b: Option<&[u8]>) -> Option<u8> {
    let b = b?;
    u8::from_str_radix(std::str::from_utf8(b).ok()?, 16).ok()
}

// ---- replies --------------------------------------------------------------------

/// Formats a double as Redis 7.0 replies it (`%.17g`; `inf`, `-inf`).
pub fn format_double(d: f64) -> String {
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if d == 0.0 {
        return if d.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    // An integer %.17g prints exactly, as an integer (most scores).
    if d.fract() == 0.0 && d.abs() < 1e15 {
        return (d as i64).to_string();
    }
    // 17 significant digits in scientific form, then %g's choice of form.
    let sci = format!("{:.16e}", d);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..17).contains(&exp) {
        let m = trim_zeros(mantissa);
        return format!("{m}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    }
    let decimals = (16 - exp).max(0) as usize;
    trim_zeros(&format!("{:.*}", decimals, d)).to_string()
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

fn bulk(out: &mut Vec<u8>, b: &[u8]) {
    out.push(b'$');
    out.extend_from_slice(b.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(b);
    out.extend_from_slice(b"\r\n");
}

/// Appends a command as clients send it: an array of bulk strings.
pub fn encode_command(out: &mut Vec<u8>, args: &[&[u8]]) {
    header(out, b'*', args.len());
    for a in args {
        bulk(out, a);
    }
}

fn header(out: &mut Vec<u8>, kind: u8, n: usize) {
    out.push(kind);
    out.extend_from_slice(n.to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Appends `v` as RESP2 (`resp3 = false`) or RESP3.
pub fn encode(out: &mut Vec<u8>, v: &Value, resp3: bool) {
    match v {
        Value::Nil if resp3 => out.extend_from_slice(b"_\r\n"),
        Value::Nil => out.extend_from_slice(b"$-1\r\n"),
        Value::Int(n) => {
            out.push(b':');
            out.extend_from_slice(n.to_string().as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        Value::Bytes(b) => bulk(out, b),
        Value::Double(d) if resp3 => {
            out.push(b',');
            out.extend_from_slice(format_double(*d).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        Value::Double(d) => bulk(out, format_double(*d).as_bytes()),
        Value::Array(items) => {
            header(out, b'*', items.len());
            for i in items {
                encode(out, i, resp3);
            }
        }
        Value::Map(pairs) => {
            if resp3 {
                header(out, b'%', pairs.len());
            } else {
                header(out, b'*', pairs.len() * 2);
            }
            for (k, v) in pairs {
                encode(out, k, resp3);
                encode(out, v, resp3);
            }
        }
        Value::Error(e) => encode_error(out, e),
        Value::Pairs(pairs) => {
            header(out, b'*', pairs.len() * if resp3 { 1 } else { 2 });
            for (k, v) in pairs {
                if resp3 {
                    header(out, b'*', 2);
                }
                encode(out, k, resp3);
                encode(out, v, resp3);
            }
        }
        Value::Status(s) => {
            out.push(b'+');
            out.extend_from_slice(s.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// A null array (`*-1` in RESP2): EXEC aborted by WATCH, a blocking pop
/// that timed out.
pub fn encode_null_array(out: &mut Vec<u8>, resp3: bool) {
    out.extend_from_slice(if resp3 { b"_\r\n" } else { b"*-1\r\n" });
}

/// Appends an error reply: the registry's RESP prefix, then the message
/// (line breaks replaced, as they would end the reply).
pub fn encode_error(out: &mut Vec<u8>, e: &WireError) {
    out.push(b'-');
    for b in e.resp_text().bytes() {
        out.push(if b == b'\r' || b == b'\n' { b' ' } else { b });
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_numbers_read_as_str_parse_reads_them() {
        for w in [
            "0",
            "7",
            "-1",
            "+3",
            "007",
            "-0",
            "",
            "-",
            "+",
            " 1",
            "1 ",
            "1a",
            "0x10",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "-9223372036854775809",
            "99999999999999999999",
            "\u{e9}",
        ] {
            assert_eq!(number(w.as_bytes()), w.parse::<i64>().ok(), "{w:?}");
        }
        assert_eq!(number(&[0xff, b'1']), None);
    }

    fn words(buf: &[u8]) -> Vec<Vec<u8>> {
        let p = parse(buf, 1 << 20).unwrap().unwrap();
        p.args(buf).into_iter().map(|w| w.to_vec()).collect()
    }

    #[test]
    fn multibulk_incomplete_complete_and_bad() {
        let cmd = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
        for cut in 0..cmd.len() {
            assert_eq!(parse(&cmd[..cut], 1 << 20).unwrap(), None, "cut {cut}");
        }
        assert_eq!(words(cmd), vec![b"GET".to_vec(), b"k".to_vec()]);
        assert_eq!(parse(cmd, 1 << 20).unwrap().unwrap().len, cmd.len());
        assert!(parse(b"*1\r\n+x\r\n", 100).is_err());
        assert!(parse(b"*1\r\n$-5\r\n", 100).is_err());
        assert!(parse(b"*1\r\n$999\r\n", 100).is_err(), "above max_bulk");
        assert!(parse(b"*x\r\n", 100).is_err());
        assert!(parse(b"*99999999999\r\n", 100).is_err());
        assert!(parse(b"*1\r\n$1\r\nab\r\n", 100).is_err());
        // An empty multibulk is a no-op command of no words.
        assert_eq!(parse(b"*0\r\n", 100).unwrap().unwrap().words.len(), 0);
    }

    #[test]
    fn inline_commands_split_like_redis() {
        assert_eq!(
            words(b"set k v\r\n"),
            vec![b"set".to_vec(), b"k".to_vec(), b"v".to_vec()]
        );
        assert_eq!(words(b"  ping  \n"), vec![b"ping".to_vec()]);
        assert_eq!(
            words(b"set \"a b\" 'c\\'d' \"\\x41\\n\"\r\n"),
            vec![
                b"set".to_vec(),
                b"a b".to_vec(),
                b"c'd".to_vec(),
                b"A\n".to_vec()
            ]
        );
        assert!(parse(b"set \"open\r\n", 100).is_err());
        assert!(parse(b"set \"a\"b\r\n", 100).is_err());
        assert_eq!(parse(b"no newline yet", 100).unwrap(), None);
        assert!(parse(&vec![b'a'; MAX_INLINE + 1], 100).is_err());
    }

    #[test]
    fn doubles_format_like_redis_7_0() {
        for (d, s) in [
            (1.5, "1.5"),
            (3.0, "3"),
            (0.1, "0.10000000000000001"),
            (-2.5, "-2.5"),
            (1e20, "1e+20"),
            (1e-5, "1.0000000000000001e-05"),
            (123456.0, "123456"),
            (-42.0, "-42"),
            (999999999999999.0, "999999999999999"),
            (1e15, "1000000000000000"),
            (1e16, "10000000000000000"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
        ] {
            assert_eq!(format_double(d), s, "{d}");
        }
    }

    #[test]
    fn replies_in_both_versions() {
        let v = Value::Map(vec![(Value::bytes(b"f".to_vec()), Value::Double(1.5))]);
        let mut o = Vec::new();
        encode(&mut o, &v, false);
        assert_eq!(o, b"*2\r\n$1\r\nf\r\n$3\r\n1.5\r\n");
        o.clear();
        encode(&mut o, &v, true);
        assert_eq!(o, b"%1\r\n$1\r\nf\r\n,1.5\r\n");
        o.clear();
        encode(&mut o, &Value::Nil, false);
        encode(&mut o, &Value::Nil, true);
        encode(&mut o, &Value::ok(), false);
        assert_eq!(o, b"$-1\r\n_\r\n+OK\r\n");
    }
}
