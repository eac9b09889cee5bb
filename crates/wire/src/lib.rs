//! # tessera-wire
//!
//! Tessera's wire formats: protocol v1 frames, request and response bodies,
//! HELLO, RESP, the typed command answer ([`value::Value`]), the command
//! table ([`table`]: every command declared once), the error registry
//! ([`codes`]) and the key → slot function ([`slot`]).
//!
//! Nothing here knows about sockets, reactors or storage: the codecs are
//! tested on byte slices, and both the server and the client
//! (`tessera-client`) build on this crate. `docs/protocol.md` documents
//! every byte.

pub mod acl;
pub mod args;
pub mod cluster_slots;
pub mod codec;
pub mod codes;
pub mod command;
pub mod dump;
pub mod frame;
pub mod fuzz;
pub mod hello;
pub mod http_head;
pub mod num;
pub mod opcode;
pub mod redis;
pub mod resp;
pub mod route;
pub mod set_opts;
pub mod slot;
pub mod slowlog;
pub mod table;
pub mod tls;
pub mod unblocked;
pub mod value;

use crate::codes::{ErrorCode, WireError};
pub use command::{Opcode, Request, SetArgs, Versioned};
pub use hello::{Hello, SlotLayout, Topology};

/// Errors of decoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The stream cannot be parsed any further; the connection closes.
    #[error("malformed frame: {0}")]
    BadFrame(String),
    /// The frame is larger than allowed; answered with its id, then the connection closes.
    #[error("frame of {len} bytes exceeds max-frame-bytes ({max})")]
    FrameTooLarge { id: u32, len: usize, max: usize },
    #[error("unknown opcode {0:#04x}")]
    UnknownOpcode(u8),
    #[error("bad arguments: {0}")]
    BadArguments(String),
}

impl Error {
    pub fn to_wire(&self) -> WireError {
        let code = match self {
            Error::BadFrame(_) => ErrorCode::BadFrame,
            Error::FrameTooLarge { .. } => ErrorCode::FrameTooLarge,
            Error::UnknownOpcode(_) => ErrorCode::UnknownCommand,
            Error::BadArguments(_) => ErrorCode::BadArguments,
        };
        WireError::new(code, self.to_string())
    }
}

/// Appends an error response frame.
pub fn encode_error(out: &mut Vec<u8>, id: u32, err: &WireError) {
    let start = frame::begin(out, id, frame::STATUS_ERROR, 0);
    codec::put_u16(out, err.code.number());
    out.extend_from_slice(err.message.as_bytes());
    frame::finish(out, start);
}

/// Decodes an error response body.
pub fn decode_error(body: &[u8]) -> WireError {
    if body.len() < 2 {
        return WireError::new(ErrorCode::Internal, "error reply without a code");
    }
    let n = u16::from_be_bytes([body[0], body[1]]);
    let code = ErrorCode::try_from(n).unwrap_or(ErrorCode::Internal);
    WireError::new(code, String::from_utf8_lossy(&body[2..]).into_owned())
}
