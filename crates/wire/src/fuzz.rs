//! What the server does with untrusted bytes, one function per decoder,
//! for the fuzz tests (tests/fuzz.rs, proptest on stable) and the
//! cargo-fuzz targets (`fuzz/`, nightly). Each must return for any input:
//! an error is an answer, a panic is a bug.

use crate::acl::{parse_file, User};
use crate::codec::Reader;
use crate::{frame, resp, Request};

/// Binary frames as a connection reads them: checked, decoded, then what
/// the server asks of a request before it runs (its slot, its ACL check)
/// and its encoding again.
pub fn binary_frames(bytes: &[u8]) {
    let user = User::new("u");
    let mut at = 0;
    while at < bytes.len() {
        let Ok(Some(info)) = frame::check(&bytes[at..], 1 << 20) else {
            break;
        };
        let f = &bytes[at..at + info.total_len];
        if let Ok(req) = Request::decode(info.kind, info.flags, info.body(f)) {
            let _ = crate::route::request_slot(&req);
            let _ = user.check_request(&req);
            let mut again = Vec::new();
            req.encode(info.id, &mut again);
        }
        at += info.total_len;
    }
}

/// RESP and inline commands as a RESP connection reads them: parsed, then
/// planned (RESP dispatch), their keys found, their arguments parsed and
/// checked against an ACL user.
pub fn resp_commands(bytes: &[u8]) {
    let user = User::new("u");
    let mut at = 0;
    while at < bytes.len() {
        let Ok(Some(p)) = resp::parse(&bytes[at..], 1 << 20) else {
            break;
        };
        let args = p.args(&bytes[at..]);
        if !args.is_empty() {
            let _ = crate::redis::plan(&args);
            if let Ok(row) = crate::table::lookup(&args) {
                let _ = row.key_positions(&args);
                let _ = crate::args::parse(row, &args);
                let _ = user.check(row, &args);
            }
        }
        at += p.len.max(1);
    }
}

/// An ACL file, and the same bytes as rules; a user described reads back.
pub fn acl_text(bytes: &[u8]) {
    let _ = parse_file(&String::from_utf8_lossy(bytes));
    let mut u = User::new("u");
    for w in bytes.split(|b| *b == b' ') {
        if !w.is_empty() {
            let _ = u.apply(w);
        }
    }
    if let Err(e) = parse_file(&u.describe()) {
        panic!(
            "a described user does not read back: {e} ({})",
            u.describe()
        );
    }
}

/// Bodies a client or a peer decodes: HELLO, the cluster slots, a typed
/// value.
pub fn wire_bodies(bytes: &[u8]) {
    let _ = crate::Hello::decode(bytes);
    let _ = crate::cluster_slots::ClusterSlots::decode(bytes);
    let _ = crate::value::Value::decode(&mut Reader::new(bytes), 0);
}
