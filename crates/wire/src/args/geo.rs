//! Geo: GEOADD, GEOPOS, GEODIST and GEOHASH (the apply, with Redis's
//! 52-bit geohash scores: the server's `cmd::geo`).

use super::{bad, syntax, Args};
use crate::codes::{ErrorCode, WireError};
use crate::num::parse_float;

type Key<'a> = &'a [u8];

/// A geo command's typed arguments.
#[derive(Debug, Clone, PartialEq)]
pub enum GeoCmd<'a> {
    /// GEOADD: (longitude, latitude, member) triples, checked in range.
    Add {
        key: Key<'a>,
        nx: bool,
        xx: bool,
        ch: bool,
        points: Vec<(f64, f64, &'a [u8])>,
    },
    Pos {
        key: Key<'a>,
        members: &'a [&'a [u8]],
    },
    /// GEODIST in `unit` meters per unit.
    Dist {
        key: Key<'a>,
        from: &'a [u8],
        to: &'a [u8],
        unit: f64,
    },
    Hash {
        key: Key<'a>,
        members: &'a [&'a [u8]],
    },
}

/// The longitudes and latitudes Redis's geohash covers (EPSG:3857).
pub const LONG_MIN: f64 = -180.0;
pub const LONG_MAX: f64 = 180.0;
pub const LAT_MIN: f64 = -85.051_128_78;
pub const LAT_MAX: f64 = 85.051_128_78;

impl<'a> GeoCmd<'a> {
    pub fn parse(name: &str, a: &mut Args<'a>) -> Result<GeoCmd<'a>, WireError> {
        let key = a.word()?;
        Ok(match name {
            "geoadd" => {
                let (mut nx, mut xx, mut ch) = (false, false, false);
                loop {
                    if a.eat("nx") {
                        nx = true;
                    } else if a.eat("xx") {
                        xx = true;
                    } else if a.eat("ch") {
                        ch = true;
                    } else {
                        break;
                    }
                }
                let rest = a.rest();
                if !rest.len().is_multiple_of(3) || (nx && xx) {
                    return Err(syntax());
                }
                let mut points = Vec::with_capacity(rest.len() / 3);
                for t in rest.chunks(3) {
                    let float =
                        |w| parse_float(w).ok_or_else(|| WireError::of(ErrorCode::NotFloat));
                    let (lon, lat) = (float(t[0])?, float(t[1])?);
                    if !(LONG_MIN..=LONG_MAX).contains(&lon) || !(LAT_MIN..=LAT_MAX).contains(&lat)
                    {
                        return Err(bad(format!(
                            "invalid longitude,latitude pair {lon:.6},{lat:.6}"
                        )));
                    }
                    points.push((lon, lat, t[2]));
                }
                GeoCmd::Add {
                    key,
                    nx,
                    xx,
                    ch,
                    points,
                }
            }
            "geopos" => GeoCmd::Pos {
                key,
                members: a.rest(),
            },
            "geohash" => GeoCmd::Hash {
                key,
                members: a.rest(),
            },
            "geodist" => {
                let (from, to) = (a.word()?, a.word()?);
                let unit = match a.maybe() {
                    None => 1.0,
                    Some(u) => unit(u)?,
                };
                a.end()?;
                GeoCmd::Dist {
                    key,
                    from,
                    to,
                    unit,
                }
            }
            _ => return Err(super::not_named(name)),
        })
    }
}

/// Meters per M, KM, FT or MI.
fn unit(w: &[u8]) -> Result<f64, WireError> {
    Ok(match w.to_ascii_lowercase().as_slice() {
        b"m" => 1.0,
        b"km" => 1000.0,
        b"ft" => 0.3048,
        b"mi" => 1609.34,
        _ => return Err(bad("unsupported unit provided. please use M, KM, FT, MI")),
    })
}
