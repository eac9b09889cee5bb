//! Reading RocksDB's WriteBatch bytes (its `rep`: 8 bytes of sequence, 4
//! of count, then tagged records), for slot migration's replay
//! (`migrate.rs`), the journal's unwrapping (`journal.rs`) and the links
//! of commits across partitions (`xcommit.rs`).

use crate::Error;

/// RocksDB's record tags in a WriteBatch (`db/dbformat.h`).
pub(super) mod tag {
    pub(in crate::partition) const DELETE: u8 = 0x0;
    pub(in crate::partition) const PUT: u8 = 0x1;
    pub(in crate::partition) const LOG_DATA: u8 = 0x3;
    pub(in crate::partition) const CF_DELETE: u8 = 0x4;
    pub(in crate::partition) const CF_PUT: u8 = 0x5;
    pub(in crate::partition) const SINGLE_DELETE: u8 = 0x7;
    pub(in crate::partition) const CF_SINGLE_DELETE: u8 = 0x8;
    pub(in crate::partition) const NOOP: u8 = 0xD;
    pub(in crate::partition) const CF_RANGE_DELETE: u8 = 0xE;
    pub(in crate::partition) const RANGE_DELETE: u8 = 0xF;
}

pub(super) struct Cursor<'a> {
    pub(super) b: &'a [u8],
}

impl<'a> Cursor<'a> {
    pub(super) fn varint(&mut self) -> Result<u32, Error> {
        let mut v = 0u32;
        for shift in (0..35).step_by(7) {
            let (&byte, rest) = self.b.split_first().ok_or_else(truncated)?;
            self.b = rest;
            v |= u32::from(byte & 0x7F) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(Error::Corrupt(
            "a write batch has an overlong varint".into(),
        ))
    }

    pub(super) fn slice(&mut self) -> Result<&'a [u8], Error> {
        let n = self.varint()? as usize;
        if self.b.len() < n {
            return Err(truncated());
        }
        let (s, rest) = self.b.split_at(n);
        self.b = rest;
        Ok(s)
    }
}

pub(super) fn truncated() -> Error {
    Error::Corrupt("a replicated write batch is truncated".into())
}

/// What `default_puts` calls with each put's key and value.
pub(super) type OnPut<'f> = dyn FnMut(&[u8], &[u8]) -> Result<(), Error> + 'f;

/// Calls `f` with the key and value of every put of the `default` column
/// family in a WriteBatch's bytes, a record of column family `journal` (a
/// group's batch) read in place.
pub(super) fn default_puts(batch: &[u8], journal: u32, f: &mut OnPut<'_>) -> Result<(), Error> {
    if batch.len() < 12 {
        return Err(truncated());
    }
    let mut c = Cursor { b: &batch[12..] };
    while let Some((&t, rest)) = c.b.split_first() {
        c.b = rest;
        let cf = match t {
            tag::CF_DELETE | tag::CF_PUT | tag::CF_SINGLE_DELETE | tag::CF_RANGE_DELETE => {
                c.varint()?
            }
            _ => 0,
        };
        match t {
            tag::CF_PUT if cf == journal => {
                c.slice()?;
                default_puts(c.slice()?, journal, f)?;
            }
            tag::PUT => {
                let (k, v) = (c.slice()?, c.slice()?);
                f(k, v)?;
            }
            tag::CF_PUT | tag::RANGE_DELETE | tag::CF_RANGE_DELETE => {
                c.slice()?;
                c.slice()?;
            }
            tag::DELETE | tag::CF_DELETE | tag::SINGLE_DELETE | tag::CF_SINGLE_DELETE => {
                c.slice()?;
            }
            tag::LOG_DATA => {
                c.slice()?;
            }
            tag::NOOP => {}
            other => {
                return Err(Error::Corrupt(format!(
                    "a replicated write batch holds a record of type {other:#x}"
                )))
            }
        }
    }
    Ok(())
}
