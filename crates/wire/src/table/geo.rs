//! Geo: rows of the command table (Redis 7.0's arity, flags, keys,
//! categories and summaries). A geo index is a sorted set whose scores are
//! Redis's 52-bit geohashes.

use super::flag::*;
use super::{acl, c, k, Command, Group, Keys, Reply};

const G: Group = Group::Geo;

#[rustfmt::skip]
pub(super) const COMMANDS: &[Command] = &[
    c(G, "geoadd", -5, DENYOOM | WRITE | STORED | NOACCESS, k(1, 1, 1), acl::GEO, "3.2.0", "Add one or more geospatial items in the geospatial index represented using a sorted set").reply(Reply::Int),
    c(G, "geodist", -4, READONLY | STORED, k(1, 1, 1), acl::GEO, "3.2.0", "Returns the distance between two members of a geospatial index").reply(Reply::BulkOrNil),
    c(G, "geohash", -2, READONLY | STORED, k(1, 1, 1), acl::GEO, "3.2.0", "Returns members of a geospatial index as standard geohash strings").reply(Reply::Array),
    c(G, "geosearch", -7, READONLY | STORED, k(1, 1, 1), acl::GEO, "6.2.0", "Query a sorted set representing a geospatial index to fetch members inside an area of a box or a circle.").reply(Reply::Array),
    c(G, "geosearchstore", -8, DENYOOM | WRITE | STORED | DEST_FIRST, k(1, 2, 1), acl::GEO, "6.2.0", "Query a sorted set representing a geospatial index to fetch members inside an area of a box or a circle, and store the result in another key.").reply(Reply::Int),
    c(G, "georadius", -6, DENYOOM | WRITE | STORED | SOURCE_FIRST, Keys::GeoStore, acl::GEO, "3.2.0", "Query a sorted set representing a geospatial index to fetch members matching a given maximum distance from a point").reply(Reply::Varies),
    c(G, "georadius_ro", -6, READONLY | STORED, k(1, 1, 1), acl::GEO, "3.2.10", "A read-only variant for GEORADIUS").reply(Reply::Array),
    c(G, "georadiusbymember", -5, DENYOOM | WRITE | STORED | SOURCE_FIRST, Keys::GeoStore, acl::GEO, "3.2.0", "Query a sorted set representing a geospatial index to fetch members matching a given maximum distance from a member").reply(Reply::Varies),
    c(G, "georadiusbymember_ro", -5, READONLY | STORED, k(1, 1, 1), acl::GEO, "3.2.10", "A read-only variant for GEORADIUSBYMEMBER").reply(Reply::Array),
    c(G, "geopos", -2, READONLY | STORED, k(1, 1, 1), acl::GEO, "3.2.0", "Returns longitude and latitude of members of a geospatial index").reply(Reply::Array),
];

/// GEORADIUS's and GEORADIUSBYMEMBER's key positions (`Keys::GeoStore`):
/// word 1, then the words after the first STORE and the first STOREDIST
/// among the options, which start after the centre, radius and unit.
pub(super) fn store_keys(name: &str, args: &[&[u8]]) -> Vec<usize> {
    let n = args.len();
    let from = if name.starts_with("georadiusbymember") {
        5
    } else {
        6
    };
    let after = |word: &[u8]| {
        (from..n)
            .find(|&i| args[i].eq_ignore_ascii_case(word))
            .map(|i| i + 1)
    };
    [Some(1), after(b"store"), after(b"storedist")]
        .into_iter()
        .flatten()
        .filter(|&k| k < n)
        .collect()
}
