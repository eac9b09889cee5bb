//! Bitmaps: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD and
//! BITFIELD_RO, with Redis 7.0's errors.
//!
//! Redis checks some arguments only after it has looked the key up
//! (BITCOUNT and BITPOS answer a missing key before reading their range),
//! so those parse into a `Result` the apply side opens after its lookup:
//! the errors come in Redis's order while the parse stays here.

use super::{bad, syntax, Args};
use crate::codes::{ErrorCode, WireError};
use crate::num::{int_arg, parse_int};

type Key<'a> = &'a [u8];

/// The longest string a command may build (APPEND, SETRANGE, SETBIT,
/// BITFIELD): Redis's default `proto-max-bulk-len`, 512 MB.
pub const MAX_STRING: usize = 512 << 20;

/// The highest bit a bitmap command may address, exclusive.
pub const MAX_BITS: u64 = MAX_STRING as u64 * 8;

/// A range of BITCOUNT or BITPOS: `start` and `end` (negative from the
/// end), in bytes or, with `bits`, in bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BitRange {
    pub start: i64,
    /// `None` when BITPOS was given only a start.
    pub end: Option<i64>,
    pub bits: bool,
}

/// BITOP's operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

/// What BITFIELD does when a SET or INCRBY leaves the field's range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    Wrap,
    Sat,
    Fail,
}

/// A BITFIELD field: its width and whether it is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldType {
    pub signed: bool,
    /// 1..=64 signed, 1..=63 unsigned.
    pub bits: u32,
}

/// One BITFIELD operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldOp {
    Get,
    Set(i64),
    IncrBy(i64),
}

/// A BITFIELD operation at a bit offset, with the overflow rule in force
/// where it stood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub ty: FieldType,
    pub offset: u64,
    pub op: FieldOp,
    pub overflow: Overflow,
}

/// A bitmap command's typed arguments.
#[derive(Debug, Clone, PartialEq)]
pub enum BitCmd<'a> {
    SetBit {
        key: Key<'a>,
        offset: u64,
        on: bool,
    },
    GetBit {
        key: Key<'a>,
        offset: u64,
    },
    /// The range is `None` for the whole string.
    BitCount {
        key: Key<'a>,
        range: Result<Option<BitRange>, WireError>,
    },
    BitPos {
        key: Key<'a>,
        bit: bool,
        range: Result<Option<BitRange>, WireError>,
    },
    BitOp {
        op: BitOp,
        dest: Key<'a>,
        sources: &'a [Key<'a>],
    },
    /// BITFIELD and (`read_only`) BITFIELD_RO.
    BitField {
        key: Key<'a>,
        fields: Vec<Field>,
        read_only: bool,
    },
}

impl<'a> BitCmd<'a> {
    pub fn parse(name: &str, a: &mut Args<'a>) -> Result<BitCmd<'a>, WireError> {
        Ok(match name {
            "setbit" => {
                let key = a.word()?;
                let offset = bit_offset(a.word()?, None)?;
                let on = match parse_int(a.word()?) {
                    Some(0) => false,
                    Some(1) => true,
                    _ => return Err(bad("bit is not an integer or out of range")),
                };
                BitCmd::SetBit { key, offset, on }
            }
            "getbit" => BitCmd::GetBit {
                key: a.word()?,
                offset: bit_offset(a.word()?, None)?,
            },
            "bitcount" => {
                let key = a.word()?;
                BitCmd::BitCount {
                    key,
                    range: count_range(a.rest()),
                }
            }
            "bitpos" => {
                let key = a.word()?;
                let bit = match parse_int(a.word()?) {
                    Some(b @ (0 | 1)) => b == 1,
                    Some(_) => return Err(bad("The bit argument must be 1 or 0.")),
                    None => return Err(WireError::of(ErrorCode::NotInteger)),
                };
                BitCmd::BitPos {
                    key,
                    bit,
                    range: pos_range(a.rest()),
                }
            }
            "bitop" => {
                let op = a.word()?;
                let op = match op.to_ascii_lowercase().as_slice() {
                    b"and" => BitOp::And,
                    b"or" => BitOp::Or,
                    b"xor" => BitOp::Xor,
                    b"not" => BitOp::Not,
                    _ => return Err(syntax()),
                };
                let dest = a.word()?;
                let sources = a.rest();
                if op == BitOp::Not && sources.len() != 1 {
                    return Err(bad("BITOP NOT must be called with a single source key."));
                }
                BitCmd::BitOp { op, dest, sources }
            }
            "bitfield" | "bitfield_ro" => {
                let key = a.word()?;
                let fields = fields(a)?;
                let read_only = name == "bitfield_ro";
                if read_only && fields.iter().any(|f| f.op != FieldOp::Get) {
                    return Err(bad("BITFIELD_RO only supports the GET subcommand"));
                }
                BitCmd::BitField {
                    key,
                    fields,
                    read_only,
                }
            }
            _ => return Err(super::not_named(name)),
        })
    }
}

/// A bit offset: a non-negative integer below [`MAX_BITS`]; with a field
/// width, `#n` means `n` fields in (BITFIELD).
fn bit_offset(w: &[u8], width: Option<u32>) -> Result<u64, WireError> {
    let err = || bad("bit offset is not an integer or out of range");
    let (digits, times) = match (w.strip_prefix(b"#"), width) {
        (Some(d), Some(bits)) => (d, bits as i64),
        _ => (w, 1),
    };
    let n = parse_int(digits)
        .and_then(|n| n.checked_mul(times))
        .ok_or_else(err)?;
    match u64::try_from(n) {
        Ok(n) if n < MAX_BITS => Ok(n),
        _ => Err(err()),
    }
}

/// BYTE or BIT.
fn unit(w: &[u8]) -> Result<bool, WireError> {
    match w.to_ascii_lowercase().as_slice() {
        b"bit" => Ok(true),
        b"byte" => Ok(false),
        _ => Err(syntax()),
    }
}

/// BITCOUNT's `[start end [BYTE|BIT]]`.
fn count_range(w: &[&[u8]]) -> Result<Option<BitRange>, WireError> {
    match w.len() {
        0 => Ok(None),
        2 | 3 => {
            let (start, end) = (int_arg(w[0])?, int_arg(w[1])?);
            // Redis answers 0 for this before it reads the unit.
            let bits = if start < 0 && end < 0 && start > end {
                false
            } else {
                w.get(2).map_or(Ok(false), |u| unit(u))?
            };
            Ok(Some(BitRange {
                start,
                end: Some(end),
                bits,
            }))
        }
        _ => Err(syntax()),
    }
}

/// BITPOS's `[start [end [BYTE|BIT]]]`.
fn pos_range(w: &[&[u8]]) -> Result<Option<BitRange>, WireError> {
    if w.is_empty() {
        return Ok(None);
    }
    if w.len() > 3 {
        return Err(syntax());
    }
    let start = int_arg(w[0])?;
    let bits = w.get(2).map_or(Ok(false), |u| unit(u))?;
    let end = w.get(1).map(|e| int_arg(e)).transpose()?;
    Ok(Some(BitRange { start, end, bits }))
}

/// BITFIELD's operations, in order, each with the OVERFLOW in force.
fn fields(a: &mut Args<'_>) -> Result<Vec<Field>, WireError> {
    let mut out = Vec::new();
    let mut overflow = Overflow::Wrap;
    while let Some(sub) = a.maybe() {
        let sub = sub.to_ascii_lowercase();
        let left = a.left();
        let needs = match sub.as_slice() {
            b"get" => 2,
            b"set" | b"incrby" => 3,
            b"overflow" if left >= 1 => {
                overflow = match a.word()?.to_ascii_lowercase().as_slice() {
                    b"wrap" => Overflow::Wrap,
                    b"sat" => Overflow::Sat,
                    b"fail" => Overflow::Fail,
                    _ => return Err(bad("Invalid OVERFLOW type specified")),
                };
                continue;
            }
            _ => return Err(syntax()),
        };
        if left < needs {
            return Err(syntax());
        }
        let ty = field_type(a.word()?)?;
        let offset = bit_offset(a.word()?, Some(ty.bits))?;
        let op = match sub.as_slice() {
            b"get" => FieldOp::Get,
            b"set" => FieldOp::Set(a.int()?),
            _ => FieldOp::IncrBy(a.int()?),
        };
        out.push(Field {
            ty,
            offset,
            op,
            overflow,
        });
    }
    Ok(out)
}

/// `i1`..`i64` or `u1`..`u63` (lower case, as Redis reads them).
fn field_type(w: &[u8]) -> Result<FieldType, WireError> {
    let err = || {
        bad("Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.")
    };
    let (signed, max) = match w.first() {
        Some(b'i') => (true, 64),
        Some(b'u') => (false, 63),
        _ => return Err(err()),
    };
    match parse_int(&w[1..]) {
        Some(n) if (1..=max).contains(&n) => Ok(FieldType {
            signed,
            bits: n as u32,
        }),
        _ => Err(err()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse<'a>(words: &'a [&'a [u8]]) -> Result<BitCmd<'a>, WireError> {
        super::super::parse_words(words, BitCmd::parse)
    }

    fn message(words: &[&[u8]]) -> String {
        parse(words).unwrap_err().message
    }

    #[test]
    fn offsets_values_and_types() {
        assert_eq!(
            parse(&[b"setbit", b"k", b"4294967295", b"1"]).unwrap(),
            BitCmd::SetBit {
                key: b"k",
                offset: MAX_BITS - 1,
                on: true
            }
        );
        let offset = "bit offset is not an integer or out of range";
        assert_eq!(message(&[b"setbit", b"k", b"4294967296", b"1"]), offset);
        assert_eq!(message(&[b"getbit", b"k", b"-1"]), offset);
        assert_eq!(
            message(&[b"setbit", b"k", b"1", b"2"]),
            "bit is not an integer or out of range"
        );
        assert_eq!(
            message(&[b"bitpos", b"k", b"2"]),
            "The bit argument must be 1 or 0."
        );
        let BitCmd::BitField { fields, .. } =
            parse(&[b"bitfield", b"k", b"incrby", b"i5", b"#3", b"-2"]).unwrap()
        else {
            panic!("a bitfield")
        };
        assert_eq!(fields[0].offset, 15);
        assert_eq!(fields[0].op, FieldOp::IncrBy(-2));
        for ty in [&b"u64"[..], b"i65", b"U8", b"i0", b"x8", b"i"] {
            assert!(
                message(&[b"bitfield", b"k", b"get", ty, b"0"])
                    .starts_with("Invalid bitfield type"),
                "{ty:?}"
            );
        }
        assert_eq!(message(&[b"bitfield", b"k", b"get", b"u8", b"#-1"]), offset);
        assert_eq!(
            message(&[b"bitfield", b"k", b"overflow", b"up"]),
            "Invalid OVERFLOW type specified"
        );
        assert_eq!(message(&[b"bitfield", b"k", b"overflow"]), "syntax error");
        assert_eq!(
            message(&[b"bitfield", b"k", b"set", b"u8", b"0"]),
            "syntax error"
        );
        assert_eq!(
            message(&[
                b"bitfield_ro",
                b"k",
                b"get",
                b"u8",
                b"0",
                b"set",
                b"u8",
                b"0",
                b"1"
            ]),
            "BITFIELD_RO only supports the GET subcommand"
        );
        assert_eq!(
            message(&[b"bitop", b"not", b"d", b"a", b"b"]),
            "BITOP NOT must be called with a single source key."
        );
        assert_eq!(message(&[b"bitop", b"nand", b"d", b"a"]), "syntax error");
    }

    #[test]
    fn ranges_keep_their_errors_for_after_the_lookup() {
        let BitCmd::BitCount { range, .. } = parse(&[b"bitcount", b"k", b"1"]).unwrap() else {
            panic!("a bitcount")
        };
        assert_eq!(range.unwrap_err().message, "syntax error");
        let BitCmd::BitCount { range, .. } =
            parse(&[b"bitcount", b"k", b"-1", b"-2", b"foo"]).unwrap()
        else {
            panic!("a bitcount")
        };
        assert!(range.is_ok(), "Redis answers 0 before reading the unit");
        let BitCmd::BitPos { range, .. } =
            parse(&[b"bitpos", b"k", b"1", b"x", b"1", b"foo"]).unwrap()
        else {
            panic!("a bitpos")
        };
        assert_eq!(range.unwrap_err().code, ErrorCode::NotInteger);
        let BitCmd::BitPos { range, .. } =
            parse(&[b"bitpos", b"k", b"0", b"2", b"-1", b"BIT"]).unwrap()
        else {
            panic!("a bitpos")
        };
        assert_eq!(
            range.unwrap(),
            Some(BitRange {
                start: 2,
                end: Some(-1),
                bits: true
            })
        );
    }
}
