//! Scenario names: `C<connections>-V<value bytes>`, and huststore's six.

use std::fmt;
use std::str::FromStr;

/// C = concurrent connections in all (sockets), V = value size in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Scenario {
    pub conns: usize,
    pub value: usize,
}

/// The table huststore published: C1000/C2000 × V256/V512/V1024.
pub const HUSTSTORE: [Scenario; 6] = [
    Scenario::new(1000, 256),
    Scenario::new(1000, 512),
    Scenario::new(1000, 1024),
    Scenario::new(2000, 256),
    Scenario::new(2000, 512),
    Scenario::new(2000, 1024),
];

impl Scenario {
    pub const fn new(conns: usize, value: usize) -> Scenario {
        Scenario { conns, value }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "C{}-V{}", self.conns, self.value)
    }
}

fn number(s: &str, what: &str, whole: &str) -> Result<usize, String> {
    let n: usize = s
        .parse()
        .map_err(|_| format!("scenario {whole:?}: {what} {s:?} is not a number"))?;
    if n == 0 {
        return Err(format!("scenario {whole:?}: {what} must be at least 1"));
    }
    Ok(n)
}

impl FromStr for Scenario {
    type Err = String;

    /// Parses `C1000-V256` (case-insensitive).
    fn from_str(s: &str) -> Result<Scenario, String> {
        let up = s.trim().to_ascii_uppercase();
        let (c, v) = up.split_once('-').ok_or_else(|| {
            format!("scenario {s:?}: expected C<connections>-V<bytes>, e.g. C1000-V256")
        })?;
        let c = c
            .strip_prefix('C')
            .ok_or_else(|| format!("scenario {s:?}: the first part must start with C"))?;
        let v = v
            .strip_prefix('V')
            .ok_or_else(|| format!("scenario {s:?}: the second part must start with V"))?;
        let conns = number(c, "connection count", s)?;
        let value = number(v, "value size", s)?;
        if value > 64 << 20 {
            return Err(format!(
                "scenario {s:?}: values above 64 MiB are not supported"
            ));
        }
        Ok(Scenario { conns, value })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let s: Scenario = "C1000-V256".parse().unwrap();
        assert_eq!(s, Scenario::new(1000, 256));
        assert_eq!(s.to_string(), "C1000-V256");
        assert_eq!("c2000-v1024".parse::<Scenario>().unwrap(), HUSTSTORE[5]);
        assert_eq!(" C7-V3 ".parse::<Scenario>().unwrap(), Scenario::new(7, 3));
    }

    #[test]
    fn refuses_bad_names() {
        for bad in [
            "", "C1000", "1000-256", "C-V1", "C10-Vx", "C0-V10", "C10-V0", "V10-C10",
        ] {
            let e = bad.parse::<Scenario>().unwrap_err();
            assert!(e.contains("scenario"), "{bad}: {e}");
        }
    }
}
