//! docs/protocol.md must match the code: every registry code and opcode.

use tessera::codes::ErrorCode;
use tessera::proto::Opcode;

fn doc() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/protocol.md")).unwrap()
}

#[test]
fn every_error_code_is_documented_exactly() {
    let doc = doc();
    for code in ErrorCode::ALL {
        let row = format!(
            "| {} | {} | {} | {} |",
            code.number(),
            code.name(),
            code.resp_prefix(),
            code.http_status()
        );
        assert!(
            doc.contains(&row),
            "docs/protocol.md lacks the row starting {row}"
        );
    }
}

#[test]
fn every_opcode_is_documented() {
    let doc = doc();
    for b in 0..=255u8 {
        if let Ok(op) = Opcode::try_from(b) {
            let row = format!("| 0x{:02X} | {} |", b, op.name());
            assert!(doc.contains(&row), "docs/protocol.md lacks opcode {row}");
        }
    }
}
