//! Raw bytes against the real server: exact reply bytes for good and
//! malformed frames, and the connection's fate after each.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::Node;
use tessera::codes::ErrorCode;

fn connect(node: &Node) -> TcpStream {
    let s = TcpStream::connect(node.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s
}

/// Reads one reply frame: (id, status, body).
fn read_reply(s: &mut TcpStream) -> (u32, u8, Vec<u8>) {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).unwrap();
    let len = u32::from_be_bytes(len) as usize;
    let mut rest = vec![0u8; len];
    s.read_exact(&mut rest).unwrap();
    let id = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
    (id, rest[4], rest[6..].to_vec())
}

fn error_code(body: &[u8]) -> ErrorCode {
    ErrorCode::try_from(u16::from_be_bytes([body[0], body[1]])).unwrap()
}

/// Whether the server closed the connection (EOF on read).
fn closed(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 1];
    matches!(s.read(&mut b), Ok(0) | Err(_))
}

#[test]
fn ping_exact_bytes() {
    let node = Node::start(1);
    let mut s = connect(&node);
    // len=8, id=7, opcode PING, flags 0, body "hi"
    s.write_all(&[0, 0, 0, 8, 0, 0, 0, 7, 0x01, 0, b'h', b'i'])
        .unwrap();
    let mut reply = [0u8; 12];
    s.read_exact(&mut reply).unwrap();
    assert_eq!(reply, [0, 0, 0, 8, 0, 0, 0, 7, 0, 0, b'h', b'i']);
}

#[test]
fn set_then_get_exact_bytes_split_across_writes() {
    let node = Node::start(1);
    let mut s = connect(&node);
    // SET "k" = "v": body = len(1) 'k' len(1) 'v'
    let set = [
        0, 0, 0, 16, 0, 0, 0, 1, 0x11, 0, 0, 0, 0, 1, b'k', 0, 0, 0, 1, b'v',
    ];
    // Sent one byte at a time: frames may arrive in any pieces.
    for b in set {
        s.write_all(&[b]).unwrap();
    }
    let (id, status, body) = read_reply(&mut s);
    assert_eq!((id, status, body.len()), (1, 0, 9));
    assert_eq!(body[0], 1, "applied");
    let version = &body[1..9];
    // GET "k" → found, version, "v"
    s.write_all(&[0, 0, 0, 11, 0, 0, 0, 2, 0x10, 0, 0, 0, 0, 1, b'k'])
        .unwrap();
    let (id, status, body) = read_reply(&mut s);
    assert_eq!((id, status), (2, 0));
    let mut want = vec![1];
    want.extend_from_slice(version);
    want.extend_from_slice(&[0, 0, 0, 1, b'v']);
    assert_eq!(body, want);
}

#[test]
fn unknown_opcode_and_bad_arguments_keep_the_connection() {
    let node = Node::start(1);
    let mut s = connect(&node);
    s.write_all(&[0, 0, 0, 6, 0, 0, 0, 3, 0xEE, 0]).unwrap();
    let (id, status, body) = read_reply(&mut s);
    assert_eq!((id, status), (3, 1));
    assert_eq!(error_code(&body), ErrorCode::UnknownCommand);
    assert!(String::from_utf8_lossy(&body[2..]).contains("0xee"));
    // GET with a key length running past the body.
    s.write_all(&[0, 0, 0, 11, 0, 0, 0, 4, 0x10, 0, 0, 0, 0, 9, b'k'])
        .unwrap();
    let (id, status, body) = read_reply(&mut s);
    assert_eq!(
        (id, status, error_code(&body)),
        (4, 1, ErrorCode::BadArguments)
    );
    // DEL with no keys (wrong argument count).
    s.write_all(&[0, 0, 0, 10, 0, 0, 0, 5, 0x12, 0, 0, 0, 0, 0])
        .unwrap();
    let (id, _, body) = read_reply(&mut s);
    assert_eq!((id, error_code(&body)), (5, ErrorCode::BadArguments));
    // Flags a command does not take.
    s.write_all(&[0, 0, 0, 11, 0, 0, 0, 6, 0x10, 0x80, 0, 0, 0, 1, b'k'])
        .unwrap();
    let (id, _, body) = read_reply(&mut s);
    assert_eq!((id, error_code(&body)), (6, ErrorCode::BadArguments));
    // The connection still works.
    s.write_all(&[0, 0, 0, 6, 0, 0, 0, 9, 0x01, 0]).unwrap();
    assert_eq!(read_reply(&mut s), (9, 0, vec![]));
}

#[test]
fn garbage_gets_an_error_then_a_close() {
    let node = Node::start(1);
    let mut s = connect(&node);
    // A length field below the minimum: the stream cannot be parsed further.
    s.write_all(&[0, 0, 0, 1, 0xde, 0xad]).unwrap();
    let (id, status, body) = read_reply(&mut s);
    assert_eq!((id, status, error_code(&body)), (0, 1, ErrorCode::BadFrame));
    assert!(closed(&mut s));
    // The server is fine.
    let mut s = connect(&node);
    s.write_all(&[0, 0, 0, 6, 0, 0, 0, 1, 0x01, 0]).unwrap();
    assert_eq!(read_reply(&mut s), (1, 0, vec![]));
}

#[test]
fn oversized_frame_is_refused_with_its_id_then_closed() {
    let node = Node::start(1);
    let mut s = connect(&node);
    // 1 MiB limit in tests; announce 16 MiB.
    s.write_all(&[0x01, 0, 0, 0, 0, 0, 0, 42, 0x11, 0]).unwrap();
    let (id, status, body) = read_reply(&mut s);
    assert_eq!(
        (id, status, error_code(&body)),
        (42, 1, ErrorCode::FrameTooLarge)
    );
    assert!(closed(&mut s));
}

#[test]
fn truncated_frame_then_disconnect_leaves_the_server_serving() {
    let node = Node::start(1);
    {
        let mut s = connect(&node);
        // Half a SET, then the client goes away.
        s.write_all(&[0, 0, 0, 16, 0, 0, 0, 1, 0x11, 0, 0, 0])
            .unwrap();
    }
    let mut s = connect(&node);
    s.write_all(&[0, 0, 0, 11, 0, 0, 0, 2, 0x10, 0, 0, 0, 0, 1, b'k'])
        .unwrap();
    let (id, status, body) = read_reply(&mut s);
    assert_eq!(
        (id, status, body),
        (2, 0, vec![0]),
        "the half SET wrote nothing"
    );
}

#[test]
fn large_frames_within_the_limit_work() {
    let node = Node::start(1);
    let mut s = connect(&node);
    let value = vec![0xAB; 900 << 10];
    let mut f = Vec::new();
    let body_len = 4 + 1 + 4 + value.len();
    f.extend_from_slice(&((6 + body_len) as u32).to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 1, 0x11, 0, 0, 0, 0, 1, b'b']);
    f.extend_from_slice(&(value.len() as u32).to_be_bytes());
    f.extend_from_slice(&value);
    s.write_all(&f).unwrap();
    let (_, status, _) = read_reply(&mut s);
    assert_eq!(status, 0);
    s.write_all(&[0, 0, 0, 11, 0, 0, 0, 2, 0x10, 0, 0, 0, 0, 1, b'b'])
        .unwrap();
    let (_, status, body) = read_reply(&mut s);
    assert_eq!(status, 0);
    assert_eq!(&body[13..], &value[..]);
}

#[test]
fn exhausted_memory_budget_refuses_big_frames_but_serves_small_ones() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_in(dir, |c| {
        c.max_frame_bytes = 8 << 20;
        c.memory_budget_bytes = 1 << 20;
    });
    let mut s = connect(&node);
    // A 4 MiB SET: more than the whole budget above the 64 KiB base buffer.
    let value_len = 4usize << 20;
    let mut head = Vec::new();
    head.extend_from_slice(&((6 + 4 + 1 + 4 + value_len) as u32).to_be_bytes());
    head.extend_from_slice(&[0, 0, 0, 77, 0x11, 0, 0, 0, 0, 1, b'x']);
    head.extend_from_slice(&(value_len as u32).to_be_bytes());
    s.write_all(&head).unwrap();
    let (id, status, body) = read_reply(&mut s);
    assert_eq!(
        (id, status, error_code(&body)),
        (77, 1, ErrorCode::OutOfMemory)
    );
    assert!(closed(&mut s));
    // Small requests still work, and the budget was given back.
    let mut s = connect(&node);
    s.write_all(&[0, 0, 0, 6, 0, 0, 0, 1, 0x01, 0]).unwrap();
    assert_eq!(read_reply(&mut s), (1, 0, vec![]));
}
