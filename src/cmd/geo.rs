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

use super::{CmdError, CmdResult, Value};
use crate::codes::{ErrorCode, WireError};
use crate::proto::args::bad;
use crate::proto::args::geo::{
    Area, Center, GeoCmd, Search, SearchError, LAT_MAX, LAT_MIN, LONG_MAX, LONG_MIN,
};
use crate::shard::envelope::ValueType;
use crate::shard::tx::Tx;
use crate::shard::zset::{ScoreBound, ZAddFlags, ZAddResult, ZRange, ZRangeBy};
use crate::slot::key_slot;

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
        GeoCmd::Search {
            dest,
            key,
            opts,
            first,
        } => search(t, *dest, key, opts, first)?,
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

/// Redis's `geohashEncode` at 26 bits a coordinate.
fn encode(lon: f64, lat: f64, lat_range: (f64, f64)) -> u64 {
    encode_step(lon, lat, lat_range, STEP)
}

/// Redis's `geohashEncode`: the offsets in their ranges, scaled to `step`
/// bits and truncated, interleaved (latitude in the even bits).
fn encode_step(lon: f64, lat: f64, lat_range: (f64, f64), step: u32) -> u64 {
    let scale = (1u64 << step) as f64;
    let lat_offset = (lat - lat_range.0) / (lat_range.1 - lat_range.0) * scale;
    let long_offset = (lon - LONG_MIN) / (LONG_MAX - LONG_MIN) * scale;
    interleave(lat_offset as u32, long_offset as u32)
}

/// The cell of a hash of `step` bits a coordinate (Redis's
/// `geohashDecode`): (lat min, lat max, lon min, lon max).
fn cell(bits: u64, step: u32) -> (f64, f64, f64, f64) {
    let (ilat, ilon) = deinterleave(bits);
    let scale = (1u64 << step) as f64;
    let (lat_scale, long_scale) = (LAT_MAX - LAT_MIN, LONG_MAX - LONG_MIN);
    (
        LAT_MIN + (f64::from(ilat) * 1.0 / scale) * lat_scale,
        LAT_MIN + ((f64::from(ilat) + 1.0) * 1.0 / scale) * lat_scale,
        LONG_MIN + (f64::from(ilon) * 1.0 / scale) * long_scale,
        LONG_MIN + ((f64::from(ilon) + 1.0) * 1.0 / scale) * long_scale,
    )
}

/// The centre of a 52-bit hash's cell (Redis's `geohashDecode` and
/// `geohashDecodeAreaToLongLat`), clamped to the ranges.
fn decode(bits: u64) -> (f64, f64) {
    let (lat_min, lat_max, lon_min, lon_max) = cell(bits, STEP);
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

fn rad_deg(r: f64) -> f64 {
    r / (std::f64::consts::PI / 180.0)
}

/// Redis's `geohashGetDistance`: the haversine on its Earth radius, the
/// latitude difference alone when the longitudes agree.
fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let v = ((deg_rad(lon2) - deg_rad(lon1)) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let (lat1r, lat2r) = (deg_rad(lat1), deg_rad(lat2));
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_IN_METERS * a.sqrt().asin()
}

/// Redis's `geohashGetLatDistance`: the distance along a meridian.
fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS_IN_METERS * (deg_rad(lat2) - deg_rad(lat1)).abs()
}

/// A coordinate as Redis prints it (`%.17Lf`, trailing zeros cut).
fn human(x: f64) -> Value {
    let s = format!("{x:.17}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    Value::bytes(s)
}

/// GEOSEARCH and GEOSEARCHSTORE (Redis's `georadiusGeneric`): the key's
/// type first, then the options' errors (a FROMMEMBER before the error is
/// looked up first), then the cells around the centre in Redis's order,
/// each read as a score range and filtered by the exact distance.
fn search(
    t: &mut Tx<'_>,
    dest: Option<&[u8]>,
    key: &[u8],
    opts: &Result<Search<'_>, SearchError>,
    first: &Option<(&[u8], Option<WireError>)>,
) -> CmdResult {
    // GEORADIUS stores into its last STORE or STOREDIST key, where the key
    // check (Redis's key specifications) saw the first of each: a later
    // one in another slot must not be written here.
    if dest.is_some_and(|d| !t.serves(d, key_slot(d))) {
        return Err(WireError::of(ErrorCode::CrossSlot).into());
    }
    let exists = match t.meta(key)? {
        Some(m) if m.vtype != ValueType::ZSet => {
            return Err(WireError::of(ErrorCode::WrongType).into())
        }
        m => m.is_some(),
    };
    let member_at = |t: &Tx<'_>, m: &[u8]| -> Result<(f64, f64), CmdError> {
        match t.zscore(key, m)? {
            Some(score) => Ok(decode(score as u64)),
            None => Err(bad("could not decode requested zset member").into()),
        }
    };
    // GEORADIUSBYMEMBER: the member, then the radius, before the options.
    if let (Some((m, radius)), true) = (first, exists) {
        member_at(t, m)?;
        if let Some(e) = radius {
            return Err(e.clone().into());
        }
    }
    let s = match opts {
        Ok(s) => s,
        Err(e) => {
            if let (true, Some(m)) = (exists, &e.member) {
                member_at(t, m)?;
            }
            return Err(e.error.clone().into());
        }
    };
    if !exists {
        return Ok(match dest {
            Some(d) => {
                if t.meta(d)?.is_some() {
                    t.writable()?;
                    t.remove(d)?;
                }
                Value::Int(0)
            }
            None => Value::Array(Vec::new()),
        });
    }
    let (lon, lat) = match s.center {
        Center::Member(m) => member_at(t, m)?,
        Center::LonLat(lon, lat) => (lon, lat),
    };
    let limit = if s.any { s.count as usize } else { 0 };
    // (member, distance in meters, score, longitude, latitude)
    let mut found: Vec<(Vec<u8>, f64, u64, f64, f64)> = Vec::new();
    'cells: for (bits, step) in cells(lon, lat, s.area, s.unit) {
        if limit > 0 && found.len() >= limit {
            break;
        }
        let shift = 52 - 2 * step;
        let range = ZRange {
            by: ZRangeBy::Score(
                ScoreBound {
                    score: (bits << shift) as f64,
                    exclusive: false,
                },
                ScoreBound {
                    score: ((bits + 1) << shift) as f64,
                    exclusive: true,
                },
            ),
            rev: false,
            limit: None,
        };
        for (m, score) in t.zrange(key, &range)? {
            let (plon, plat) = decode(score as u64);
            if let Some(d) = within(s.area, s.unit, (lon, lat), (plon, plat)) {
                found.push((m, d, score as u64, plon, plat));
                if limit > 0 && found.len() >= limit {
                    break 'cells;
                }
            }
        }
    }
    // COUNT without an order takes the nearest (not with ANY).
    let ascending = match (s.ascending, s.count > 0 && !s.any) {
        (None, true) => Some(true),
        (a, _) => a,
    };
    if let Some(asc) = ascending {
        found.sort_by(|a, b| {
            let o = a.1.partial_cmp(&b.1).unwrap_or(std::cmp::Ordering::Equal);
            if asc {
                o
            } else {
                o.reverse()
            }
        });
    }
    if s.count > 0 {
        found.truncate(s.count as usize);
    }
    if let Some(d) = dest {
        t.writable()?;
        if t.meta(d)?.is_some() {
            t.remove(d)?;
        }
        let pairs: Vec<(f64, &[u8])> = found
            .iter()
            .map(|(m, dist, score, _, _)| {
                let v = if s.store_dist {
                    dist / s.unit
                } else {
                    *score as f64
                };
                (v, m.as_slice())
            })
            .collect();
        if !pairs.is_empty() {
            t.zadd(d, ZAddFlags::default(), &pairs)?;
        }
        return Ok(Value::Int(pairs.len() as i64));
    }
    let extras = s.with_dist || s.with_hash || s.with_coord;
    Ok(Value::list(found, |(m, dist, score, plon, plat)| {
        if !extras {
            return Value::Bytes(m);
        }
        let mut item = vec![Value::Bytes(m)];
        if s.with_dist {
            item.push(Value::bytes(format!("{:.4}", dist / s.unit)));
        }
        if s.with_hash {
            item.push(Value::Int(score as i64));
        }
        if s.with_coord {
            item.push(Value::Array(vec![human(plon), human(plat)]));
        }
        Value::Array(item)
    }))
}

/// The distance from `c` to `p` when `p` lies in the area (Redis's
/// `geoWithinShape`).
fn within(area: Area, unit: f64, c: (f64, f64), p: (f64, f64)) -> Option<f64> {
    match area {
        Area::Radius(r) => {
            let d = distance(c.0, c.1, p.0, p.1);
            (d <= r * unit).then_some(d)
        }
        Area::Box { width, height } => {
            if lat_distance(p.1, c.1) > height * unit / 2.0 {
                return None;
            }
            if distance(p.0, p.1, c.0, p.1) > width * unit / 2.0 {
                return None;
            }
            Some(distance(c.0, c.1, p.0, p.1))
        }
    }
}

/// Redis's `geohashEstimateStepsByRadius`.
fn steps_for(mut range: f64, lat: f64) -> u32 {
    const MERCATOR_MAX: f64 = 20_037_726.37;
    if range == 0.0 {
        return 26;
    }
    let mut step: i32 = 1;
    while range < MERCATOR_MAX {
        range *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u32
}

/// Moves a hash of `step` bits a coordinate by one cell along the
/// longitude (`x`, the odd bits) or the latitude (the even bits), as
/// Redis's `geohash_move_x` and `geohash_move_y`.
fn moved(bits: u64, step: u32, d: i8, x: bool) -> u64 {
    if d == 0 {
        return bits;
    }
    const ODD: u64 = 0xaaaa_aaaa_aaaa_aaaa;
    const EVEN: u64 = 0x5555_5555_5555_5555;
    let (mine, other) = if x { (ODD, EVEN) } else { (EVEN, ODD) };
    let shift = 64 - step * 2;
    let mut v = bits & mine;
    let keep = bits & other;
    let zz = other >> shift;
    if d > 0 {
        v = v.wrapping_add(zz + 1);
    } else {
        v |= zz;
        v = v.wrapping_sub(zz + 1);
    }
    v &= mine >> shift;
    v | keep
}

/// The cells a search reads, in Redis's order (the centre's cell, then N,
/// S, E, W, NE, NW, SE, SW), without those the area cannot reach and
/// without a cell equal to the last one read (Redis's
/// `geohashCalculateAreasByShapeWGS84` and `membersOfAllNeighbors`).
fn cells(lon: f64, lat: f64, area: Area, unit: f64) -> Vec<(u64, u32)> {
    let (half_h, half_w) = match area {
        Area::Radius(r) => (r, r),
        Area::Box { width, height } => (height / 2.0, width / 2.0),
    };
    let (height, width) = (unit * half_h, unit * half_w);
    let lat_delta = rad_deg(height / EARTH_RADIUS_IN_METERS);
    let long_delta_top = rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(lat + lat_delta).cos());
    let long_delta_bottom =
        rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(lat - lat_delta).cos());
    let delta = if lat < 0.0 {
        long_delta_bottom
    } else {
        long_delta_top
    };
    let (min_lon, max_lon) = (lon - delta, lon + delta);
    let (min_lat, max_lat) = (lat - lat_delta, lat + lat_delta);
    let radius = match area {
        Area::Radius(r) => r,
        Area::Box { width, height } => {
            ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt()
        }
    } * unit;
    let mut step = steps_for(radius, lat);
    let around = |step: u32| {
        let hash = encode_step(lon, lat, (LAT_MIN, LAT_MAX), step);
        // (dx, dy) for N, S, E, W, NE, NW, SE, SW.
        let dirs: [(i8, i8); 8] = [
            (0, 1),
            (0, -1),
            (1, 0),
            (-1, 0),
            (1, 1),
            (-1, 1),
            (1, -1),
            (-1, -1),
        ];
        let mut n = [0u64; 8];
        for (i, (dx, dy)) in dirs.iter().enumerate() {
            n[i] = moved(moved(hash, step, *dx, true), step, *dy, false);
        }
        (hash, n)
    };
    let (mut hash, mut n) = around(step);
    let (north, south, east, west) = (
        cell(n[0], step),
        cell(n[1], step),
        cell(n[2], step),
        cell(n[3], step),
    );
    let decrease = north.1 < max_lat || south.0 > min_lat || east.3 < max_lon || west.2 > min_lon;
    if step > 1 && decrease {
        step -= 1;
        (hash, n) = around(step);
    }
    let mut live = [true; 8];
    if step >= 2 {
        let (lat_lo, lat_hi, lon_lo, lon_hi) = cell(hash, step);
        // A side the centre's cell already passes needs no neighbour there
        // (indexes into N, S, E, W, NE, NW, SE, SW).
        let sides = [
            (lat_lo < min_lat, [1, 7, 6]),
            (lat_hi > max_lat, [0, 4, 5]),
            (lon_lo < min_lon, [3, 7, 5]),
            (lon_hi > max_lon, [2, 6, 4]),
        ];
        for i in sides.iter().filter(|(past, _)| *past).flat_map(|(_, n)| n) {
            live[*i] = false;
        }
    }
    let all: Vec<Option<u64>> = std::iter::once(Some(hash))
        .chain(n.iter().zip(live).map(|(&b, l)| l.then_some(b)))
        .collect();
    let mut out = Vec::with_capacity(9);
    let mut last = 0usize;
    for (i, c) in all.iter().enumerate() {
        let Some(bits) = *c else { continue };
        if last != 0 && all[last] == Some(bits) {
            continue;
        }
        out.push((bits, step));
        last = i;
    }
    out
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
