//! Redis's packed encodings inside a DUMP payload, decoded into their
//! elements (integers as their decimal text, as Redis answers them):
//! listpacks (Redis 7), ziplists (Redis 2.6–6.2) and intsets.

use super::{DumpError, Result};

fn bad<T>() -> Result<T> {
    Err(DumpError::BadFormat)
}

fn int_text(v: i64) -> Vec<u8> {
    v.to_string().into_bytes()
}

fn le_int(b: &[u8]) -> i64 {
    // Sign-extends a little-endian integer of 1 to 8 bytes.
    let mut a = [if b.last().is_some_and(|x| x & 0x80 != 0) {
        0xff
    } else {
        0
    }; 8];
    a[..b.len()].copy_from_slice(b);
    i64::from_le_bytes(a)
}

fn slice(b: &[u8], from: usize, len: usize) -> Result<&[u8]> {
    from.checked_add(len)
        .and_then(|end| b.get(from..end))
        .ok_or(DumpError::BadFormat)
}

/// A listpack: total bytes (u32 LE), element count (u16 LE), the entries
/// (each an encoding, its data and a back-length), and 0xFF.
pub(super) fn listpack(b: &[u8]) -> Result<Vec<Vec<u8>>> {
    if b.len() < 7 || u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize != b.len() {
        return bad();
    }
    let mut items = Vec::new();
    let mut pos = 6;
    loop {
        let e = *b.get(pos).ok_or(DumpError::BadFormat)?;
        if e == 0xff {
            break;
        }
        let (item, len) = match e {
            0x00..=0x7f => (int_text(i64::from(e)), 1),
            0x80..=0xbf => {
                let n = usize::from(e & 0x3f);
                (slice(b, pos + 1, n)?.to_vec(), 1 + n)
            }
            0xc0..=0xdf => {
                // 13-bit two's complement.
                let v = (i64::from(e & 0x1f) << 8) | i64::from(slice(b, pos + 1, 1)?[0]);
                (int_text(if v >= 1 << 12 { v - (1 << 13) } else { v }), 2)
            }
            0xe0..=0xef => {
                let n = (usize::from(e & 0x0f) << 8) | usize::from(slice(b, pos + 1, 1)?[0]);
                (slice(b, pos + 2, n)?.to_vec(), 2 + n)
            }
            0xf0 => {
                let n = le_int(slice(b, pos + 1, 4)?) as u32 as usize;
                (slice(b, pos + 5, n)?.to_vec(), 5 + n)
            }
            0xf1..=0xf4 => {
                let width = [2, 3, 4, 8][usize::from(e - 0xf1)];
                (int_text(le_int(slice(b, pos + 1, width)?)), 1 + width)
            }
            _ => return bad(),
        };
        // The back-length: 7 bits per byte of the entry's length.
        let back = match len {
            0..=127 => 1,
            128..=16382 => 2,
            16383..=2097150 => 3,
            2097151..=268435454 => 4,
            _ => 5,
        };
        pos += len + back;
        items.push(item);
    }
    if pos + 1 != b.len() {
        return bad();
    }
    Ok(items)
}

/// A ziplist: total bytes (u32 LE), the offset of the tail (u32 LE), the
/// count (u16 LE), the entries (each the previous entry's length, an
/// encoding and its data), and 0xFF.
pub(super) fn ziplist(b: &[u8]) -> Result<Vec<Vec<u8>>> {
    if b.len() < 11 || u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize != b.len() {
        return bad();
    }
    let mut items = Vec::new();
    let mut pos = 10;
    loop {
        let first = *b.get(pos).ok_or(DumpError::BadFormat)?;
        if first == 0xff {
            break;
        }
        pos += if first < 254 { 1 } else { 5 };
        let e = *b.get(pos).ok_or(DumpError::BadFormat)?;
        let (item, len) = match e >> 6 {
            0 => {
                let n = usize::from(e & 0x3f);
                (slice(b, pos + 1, n)?.to_vec(), 1 + n)
            }
            1 => {
                let n = (usize::from(e & 0x3f) << 8) | usize::from(slice(b, pos + 1, 1)?[0]);
                (slice(b, pos + 2, n)?.to_vec(), 2 + n)
            }
            2 if e == 0x80 => {
                let s = slice(b, pos + 1, 4)?;
                let n = u32::from_be_bytes([s[0], s[1], s[2], s[3]]) as usize;
                (slice(b, pos + 5, n)?.to_vec(), 5 + n)
            }
            2 => return bad(),
            _ => {
                let width = match e {
                    0xc0 => 2,
                    0xd0 => 4,
                    0xe0 => 8,
                    0xf0 => 3,
                    0xfe => 1,
                    0xf1..=0xfd => 0,
                    _ => return bad(),
                };
                let v = if width == 0 {
                    i64::from(e & 0x0f) - 1
                } else {
                    le_int(slice(b, pos + 1, width)?)
                };
                (int_text(v), 1 + width)
            }
        };
        pos += len;
        items.push(item);
    }
    if pos + 1 != b.len() {
        return bad();
    }
    Ok(items)
}

/// An intset: the width of its integers (u32 LE: 2, 4 or 8), their count
/// (u32 LE), and the integers (little-endian, ascending).
pub(super) fn intset(b: &[u8]) -> Result<Vec<Vec<u8>>> {
    let head = slice(b, 0, 8)?;
    let width = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let count = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
    if !matches!(width, 2 | 4 | 8) || count.checked_mul(width) != Some(b.len() - 8) {
        return bad();
    }
    Ok(b[8..]
        .chunks_exact(width)
        .map(|c| int_text(le_int(c)))
        .collect())
}
