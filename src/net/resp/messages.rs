//! Pub/sub messages waiting for a RESP connection, written as pushes
//! (`>` in RESP3, arrays in RESP2).

use super::State;
use crate::proto::resp;
use crate::proto::value::Value;

/// Appends a pub/sub push (`>` in RESP3, an array in RESP2).
pub(super) fn push(out: &mut Vec<u8>, items: &[Value], resp3: bool) {
    out.push(if resp3 { b'>' } else { b'*' });
    out.extend_from_slice(items.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    for i in items {
        resp::encode(out, i, resp3);
    }
}

/// Appends every waiting pub/sub message.
pub(super) fn deliver(st: &State, out: &mut Vec<u8>) {
    let Some(mb) = &st.mailbox else {
        return;
    };
    for d in mb.take() {
        let items = match d.pattern {
            None => vec![
                Value::bytes(b"message".to_vec()),
                Value::Bytes(d.channel),
                Value::Bytes(d.payload),
            ],
            Some(p) => vec![
                Value::bytes(b"pmessage".to_vec()),
                Value::Bytes(p),
                Value::Bytes(d.channel),
                Value::Bytes(d.payload),
            ],
        };
        push(out, &items, st.resp3);
    }
}
