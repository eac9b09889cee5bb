//! Frame layout of protocol v1 (requests and responses share it).
//!
//! ```text
//! offset size field
//! 0      4    length of the rest of the frame, u32 big endian (>= 6)
//! 4      4    request id, u32 big endian (a response repeats its request's id)
//! 8      1    request: opcode; response: status (0 = ok, 1 = error)
//! 9      1    flags (per opcode; 0 in responses)
//! 10     ..   body (length - 6 bytes)
//! ```
//!
//! Decoding has two steps: `check` looks at the bytes without allocating and
//! tells "incomplete" (`Ok(None)`) from "bad" (`Err`); only then is the body
//! parsed.

use super::Error;

/// Bytes before the body.
pub const HEADER_LEN: usize = 10;
/// Smallest valid value of the length field.
pub const MIN_LENGTH_FIELD: u32 = 6;

pub const STATUS_OK: u8 = 0;
pub const STATUS_ERROR: u8 = 1;

/// A complete frame found at the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameInfo {
    /// Bytes of the whole frame, header included.
    pub total_len: usize,
    pub id: u32,
    /// Opcode (requests) or status (responses).
    pub kind: u8,
    pub flags: u8,
}

impl FrameInfo {
    /// The body, given the buffer the frame starts.
    pub fn body<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        &buf[HEADER_LEN..self.total_len]
    }
}

/// Reads the header at the start of `buf`.
///
/// `Ok(None)`: more bytes are needed (`needed_len` tells how many in all
/// when the header is there). `Err(FrameTooLarge)` carries the request id so
/// the error can be answered before the connection closes.
pub fn check(buf: &[u8], max_frame_bytes: usize) -> Result<Option<FrameInfo>, Error> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    if len < MIN_LENGTH_FIELD {
        return Err(Error::BadFrame(format!(
            "length field {len} is below the minimum {MIN_LENGTH_FIELD}"
        )));
    }
    let total = len as usize + 4;
    if total > max_frame_bytes {
        let id = if buf.len() >= 8 {
            u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]])
        } else {
            0
        };
        return Err(Error::FrameTooLarge {
            id,
            len: total,
            max: max_frame_bytes,
        });
    }
    if buf.len() < total {
        return Ok(None);
    }
    Ok(Some(FrameInfo {
        total_len: total,
        id: u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
        kind: buf[8],
        flags: buf[9],
    }))
}

/// The total length announced by a header, once 4 bytes are there.
pub fn needed_len(buf: &[u8]) -> Option<usize> {
    (buf.len() >= 4).then(|| u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize + 4)
}

/// Starts a frame in `out`; returns its start for `finish`.
pub fn begin(out: &mut Vec<u8>, id: u32, kind: u8, flags: u8) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&id.to_be_bytes());
    out.push(kind);
    out.push(flags);
    start
}

/// Patches the length field of the frame begun at `start`.
pub fn finish(out: &mut [u8], start: usize) {
    let len = (out.len() - start - 4) as u32;
    out[start..start + 4].copy_from_slice(&len.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incomplete_complete_and_bad() {
        let mut out = Vec::new();
        let s = begin(&mut out, 7, 0x10, 3);
        out.extend_from_slice(b"body");
        finish(&mut out, s);
        assert_eq!(out.len(), 14);
        for cut in 0..out.len() {
            assert_eq!(check(&out[..cut], 1 << 20).unwrap(), None, "cut {cut}");
        }
        let f = check(&out, 1 << 20).unwrap().unwrap();
        assert_eq!(
            f,
            FrameInfo {
                total_len: 14,
                id: 7,
                kind: 0x10,
                flags: 3
            }
        );
        assert_eq!(f.body(&out), b"body");
        assert!(matches!(check(&[0, 0, 0, 2], 100), Err(Error::BadFrame(_))));
        assert!(matches!(
            check(&[0, 0, 1, 0, 0, 0, 0, 9], 100),
            Err(Error::FrameTooLarge { id: 9, .. })
        ));
    }
}
