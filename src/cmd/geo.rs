//! Geo's apply: GEOADD, GEOPOS, GEODIST and GEOHASH (the parse:
//! `proto::args::geo`), over sorted sets with Redis's scores.
//!
//! A point's score is Redis's 52-bit geohash: the latitude (over
//! ±85.05112878) and longitude (over ±180) each scaled to 26 bits and
//! interleaved, latitude in the even bits. GEOPOS answers the centre of the
//! point's cell, GEODIST the haversine distance on Redis's Earth radius,
//! GEOHASH the standard 11-character geohash (latitude over ±90), each
//! computed in Redis's order of floating-point operations and printed as
//! Redis prints them, so the answers are redis-server's.

use super::{CmdResult, Value};
use crate::proto::args::geo::{GeoCmd, LAT_MAX, LAT_MIN, LONG_MAX, LONG_MIN};
use crate::shard::tx::Tx;
use crate::shard::zset::{ZAddFlags, ZAddResult};

const STEP: u32 = 26;
const EARTH_RADIUS_IN_METERS: f64 = 6_372_797.560_856;
const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";

pub fn apply(t: &mut Tx<'_>, c: &GeoCmd<'_>) -> CmdResult {
    Ok(match c {
        GeoCmd::Add {
            key,
            nx,
            xx,
            ch,
            points,
        } => {
            let pairs: Vec<(f64, &[u8])> = points
                .iter()
                .map(|&(lon, lat, m)| (encode(lon, lat, (LAT_MIN, LAT_MAX)) as f64, m))
                .collect();
            let flags = ZAddFlags {
                nx: *nx,
                xx: *xx,
                ch: *ch,
                ..ZAddFlags::default()
            };
            match t.zadd(key, flags, &pairs)? {
                ZAddResult::Count(n) => Value::Int(n as i64),
                ZAddResult::Score(_) => Value::Int(0),
            }
        }
        GeoCmd::Pos { key, members } => {
            let mut out = Vec::with_capacity(members.len());
            for m in members.iter() {
                out.push(match t.zscore(key, m)? {
                    None => Value::Nil,
                    Some(score) => {
                        let (lon, lat) = decode(score as u64);
                        Value::Array(vec![human(lon), human(lat)])
                    }
                });
            }
            Value::Array(out)
        }
        GeoCmd::Dist {
            key,
            from,
            to,
            unit,
        } => {
            let (Some(a), Some(b)) = (t.zscore(key, from)?, t.zscore(key, to)?) else {
                return Ok(Value::Nil);
            };
            let ((lon1, lat1), (lon2, lat2)) = (decode(a as u64), decode(b as u64));
            let d = distance(lon1, lat1, lon2, lat2) / unit;
            Value::bytes(format!("{d:.4}"))
        }
        GeoCmd::Hash { key, members } => {
            let mut out = Vec::with_capacity(members.len());
            for m in members.iter() {
                out.push(match t.zscore(key, m)? {
                    None => Value::Nil,
                    Some(score) => {
                        let (lon, lat) = decode(score as u64);
                        let bits = encode(lon, lat, (-90.0, 90.0));
                        let text: Vec<u8> = (0..11)
                            .map(|i| match i {
                                // 52 bits make ten characters; Redis pads
                                // the eleventh with '0'.
                                10 => ALPHABET[0],
                                _ => ALPHABET[((bits >> (52 - (i + 1) * 5)) & 0x1f) as usize],
                            })
                            .collect();
                        Value::Bytes(text)
                    }
                });
            }
            Value::Array(out)
        }
    })
}

/// Redis's `geohashEncode` at 26 bits a coordinate: the offsets in their
/// ranges, scaled and truncated, interleaved (latitude in the even bits).
fn encode(lon: f64, lat: f64, lat_range: (f64, f64)) -> u64 {
    let scale = (1u64 << STEP) as f64;
    let lat_offset = (lat - lat_range.0) / (lat_range.1 - lat_range.0) * scale;
    let long_offset = (lon - LONG_MIN) / (LONG_MAX - LONG_MIN) * scale;
    interleave(lat_offset as u32, long_offset as u32)
}

/// The centre of a 52-bit hash's cell (Redis's `geohashDecode` and
/// `geohashDecodeAreaToLongLat`), clamped to the ranges.
fn decode(bits: u64) -> (f64, f64) {
    let (ilat, ilon) = deinterleave(bits);
    let scale = (1u64 << STEP) as f64;
    let (lat_scale, long_scale) = (LAT_MAX - LAT_MIN, LONG_MAX - LONG_MIN);
    let lat_min = LAT_MIN + (f64::from(ilat) * 1.0 / scale) * lat_scale;
    let lat_max = LAT_MIN + ((f64::from(ilat) + 1.0) * 1.0 / scale) * lat_scale;
    let lon_min = LONG_MIN + (f64::from(ilon) * 1.0 / scale) * long_scale;
    let lon_max = LONG_MIN + ((f64::from(ilon) + 1.0) * 1.0 / scale) * long_scale;
    let lon = ((lon_min + lon_max) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let lat = ((lat_min + lat_max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    (lon, lat)
}

/// Spreads the bits of `x` to the even positions and those of `y` to the
/// odd ones.
fn interleave(x: u32, y: u32) -> u64 {
    let spread = |v: u32| {
        let mut v = u64::from(v);
        v = (v | (v << 16)) & 0x0000_FFFF_0000_FFFF;
        v = (v | (v << 8)) & 0x00FF_00FF_00FF_00FF;
        v = (v | (v << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
        v = (v | (v << 2)) & 0x3333_3333_3333_3333;
        (v | (v << 1)) & 0x5555_5555_5555_5555
    };
    spread(x) | (spread(y) << 1)
}

/// The even bits and the odd bits of `v`.
fn deinterleave(v: u64) -> (u32, u32) {
    let squash = |v: u64| {
        let mut v = v & 0x5555_5555_5555_5555;
        v = (v | (v >> 1)) & 0x3333_3333_3333_3333;
        v = (v | (v >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
        v = (v | (v >> 4)) & 0x00FF_00FF_00FF_00FF;
        v = (v | (v >> 8)) & 0x0000_FFFF_0000_FFFF;
        ((v | (v >> 16)) & 0x0000_0000_FFFF_FFFF) as u32
    };
    (squash(v), squash(v >> 1))
}

fn deg_rad(d: f64) -> f64 {
    d * (std::f64::consts::PI / 180.0)
}

/// Redis's `geohashGetDistance`: the haversine on its Earth radius, the
/// latitude difference alone when the longitudes agree.
fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let v = ((deg_rad(lon2) - deg_rad(lon1)) / 2.0).sin();
    if v == 0.0 {
        return EARTH_RADIUS_IN_METERS * (deg_rad(lat2) - deg_rad(lat1)).abs();
    }
    let (lat1r, lat2r) = (deg_rad(lat1), deg_rad(lat2));
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_IN_METERS * a.sqrt().asin()
}

/// A coordinate as Redis prints it (`%.17Lf`, trailing zeros cut).
fn human(x: f64) -> Value {
    let s = format!("{x:.17}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    Value::bytes(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleaving_round_trips() {
        for (x, y) in [
            (0, 0),
            (1, 0),
            (0, 1),
            (u32::MAX >> 6, 12345),
            (67108863, 67108863),
        ] {
            assert_eq!(deinterleave(interleave(x, y)), (x, y));
        }
        assert_eq!(interleave(1, 0), 1);
        assert_eq!(interleave(0, 1), 2);
    }
}
