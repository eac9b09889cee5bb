//! Primitive body fields, all big endian: `u8`, `u16`, `u32`, `u64`, `i64`,
//! and `bytes` = u32 length then the bytes.

use super::Error;

/// Moves the unread bytes `buf[*start..*filled]` of a read buffer to its
/// front, so the next read appends after them.
pub fn compact(buf: &mut [u8], start: &mut usize, filled: &mut usize) {
    if *start == *filled {
        *filled = 0;
    } else if *start > 0 {
        buf.copy_within(*start..*filled, 0);
        *filled -= *start;
    }
    *start = 0;
}

/// Reads fields from a body, borrowing byte strings from it.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], Error> {
        if self.buf.len() - self.pos < n {
            return Err(Error::BadArguments(format!(
                "body ends inside {what} (needs {n} more bytes, has {})",
                self.buf.len() - self.pos
            )));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub fn u8(&mut self, what: &str) -> Result<u8, Error> {
        Ok(self.take(1, what)?[0])
    }

    pub fn u16(&mut self, what: &str) -> Result<u16, Error> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub fn u32(&mut self, what: &str) -> Result<u32, Error> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn u64(&mut self, what: &str) -> Result<u64, Error> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    pub fn i64(&mut self, what: &str) -> Result<i64, Error> {
        Ok(self.u64(what)? as i64)
    }

    pub fn bytes(&mut self, what: &str) -> Result<&'a [u8], Error> {
        let n = self.u32(what)? as usize;
        self.take(n, what)
    }

    /// A count of items each at least `min_item_bytes` long, checked against
    /// what is left so a forged count cannot make the decoder allocate.
    pub fn count(&mut self, what: &str, min_item_bytes: usize) -> Result<usize, Error> {
        let n = self.u32(what)? as usize;
        if n.saturating_mul(min_item_bytes) > self.remaining() {
            return Err(Error::BadArguments(format!(
                "{what} count {n} does not fit in the {} bytes left",
                self.remaining()
            )));
        }
        Ok(n)
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn rest(&mut self) -> &'a [u8] {
        let s = &self.buf[self.pos..];
        self.pos = self.buf.len();
        s
    }

    /// Fails when bytes are left over: a body must hold exactly its fields.
    pub fn end(&self) -> Result<(), Error> {
        if self.remaining() != 0 {
            return Err(Error::BadArguments(format!(
                "{} unexpected bytes after the arguments",
                self.remaining()
            )));
        }
        Ok(())
    }
}

pub fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

pub fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

pub fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_be_bytes());
}

pub fn put_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(&v.to_be_bytes());
}

pub fn put_bytes(out: &mut Vec<u8>, v: &[u8]) {
    put_u32(out, v.len() as u32);
    out.extend_from_slice(v);
}

#[cfg(test)]
mod tests {
    use super::compact;

    #[test]
    fn compact_moves_unread_bytes_to_the_front() {
        let mut buf = *b"abcdef";
        let (mut start, mut filled) = (2, 5);
        compact(&mut buf, &mut start, &mut filled);
        assert_eq!((start, filled), (0, 3));
        assert_eq!(&buf[..3], b"cde");
        let (mut start, mut filled) = (3, 3);
        compact(&mut buf, &mut start, &mut filled);
        assert_eq!((start, filled), (0, 0));
        let (mut start, mut filled) = (0, 4);
        compact(&mut buf, &mut start, &mut filled);
        assert_eq!((start, filled), (0, 4));
        assert_eq!(&buf[..4], b"cded");
    }
}
