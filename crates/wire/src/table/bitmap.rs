//! Bitmaps: rows of the command table (Redis 7.0's arity, flags, keys,
//! categories and summaries). Bitmaps are strings, with Redis's bit order:
//! bit 0 is the most significant bit of the first byte.

use super::flag::*;
use super::{acl, c, k, Command, Group, Reply};

const G: Group = Group::Bitmap;

#[rustfmt::skip]
pub(super) const COMMANDS: &[Command] = &[
    c(G, "bitcount", -2, READONLY | STORED, k(1, 1, 1), acl::BITMAP, "2.6.0", "Count set bits in a string").reply(Reply::Int),
    c(G, "bitfield", -2, DENYOOM | WRITE | STORED, k(1, 1, 1), acl::BITMAP, "3.2.0", "Perform arbitrary bitfield integer operations on strings").reply(Reply::Array),
    c(G, "bitfield_ro", -2, FAST | READONLY | STORED, k(1, 1, 1), acl::BITMAP, "6.0.0", "Perform arbitrary bitfield integer operations on strings. Read-only variant of BITFIELD").reply(Reply::Array),
    c(G, "bitop", -4, DENYOOM | WRITE | STORED | DEST_FIRST, k(2, -1, 1), acl::BITMAP, "2.6.0", "Perform bitwise operations between strings").reply(Reply::Int),
    c(G, "bitpos", -3, READONLY | STORED, k(1, 1, 1), acl::BITMAP, "2.8.7", "Find first bit set or clear in a string").reply(Reply::Int),
    c(G, "getbit", 3, FAST | READONLY | STORED, k(1, 1, 1), acl::BITMAP, "2.2.0", "Returns the bit value at offset in the string value stored at key").reply(Reply::Int),
    c(G, "setbit", 4, DENYOOM | WRITE | STORED, k(1, 1, 1), acl::BITMAP, "2.2.0", "Sets or clears the bit at offset in the string value stored at key").reply(Reply::Int),
];
