//! Numbers as Redis writes them in arguments: the strict integer and float
//! forms that SELECT, INCRBY, COUNT and blocking timeouts accept.
//!
//! Storage parses the numbers it stores with the same rules
//! (`shard::hash::parse_int`, which cannot depend on this crate); a server
//! test checks that both accept and reject the same words.

/// An integer argument, or Redis's `value is not an integer or out of
/// range`.
pub fn int_arg(w: &[u8]) -> Result<i64, crate::codes::WireError> {
    parse_int(w).ok_or_else(|| crate::codes::WireError::of(crate::codes::ErrorCode::NotInteger))
}

/// Parses an integer strictly, as Redis does: `0`, or an optional `-`
/// then digits without a leading zero, within i64.
pub fn parse_int(b: &[u8]) -> Option<i64> {
    if b == b"0" {
        return Some(0);
    }
    let digits = b.strip_prefix(b"-").unwrap_or(b);
    match digits.first() {
        Some(b'1'..=b'9') if digits.iter().all(u8::is_ascii_digit) => {}
        _ => return None,
    }
    std::str::from_utf8(b).ok()?.parse::<i64>().ok()
}

/// A database index as SELECT, MOVE, COPY ... DB and SWAPDB read it: a
/// strict integer (`parse_int`) within 32 bits; its range is the server's
/// to check.
pub fn db_index(b: &[u8]) -> Option<i64> {
    parse_int(b).filter(|n| i32::try_from(*n).is_ok())
}

/// Parses a float as Redis does: no surrounding spaces, `inf` / `-inf`
/// spelled out, never NaN.
pub fn parse_float(b: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(b).ok()?;
    if s.is_empty() || s.trim() != s {
        return None;
    }
    let v = match s.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ => s.parse::<f64>().ok()?,
    };
    (!v.is_nan()).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_forms() {
        assert_eq!(parse_int(b"-12"), Some(-12));
        for bad in [
            &b"012"[..],
            b"+1",
            b" 1",
            b"",
            b"-",
            b"-0",
            b"99999999999999999999",
        ] {
            assert_eq!(parse_int(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(parse_float(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_float(b"1.5"), Some(1.5));
        assert_eq!(parse_float(b"nan"), None);
        assert_eq!(parse_float(b" 1"), None);
    }
}
