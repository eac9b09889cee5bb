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
    /// GEOSEARCH and (with `dest`) GEOSEARCHSTORE, and the GEORADIUS
    /// family. Redis checks the key's type before the options, and looks
    /// FROMMEMBER's member up where it stands among them: the options'
    /// errors wait for the apply. GEORADIUSBYMEMBER's member (`first`) is
    /// looked up before anything else, then its radius's error is answered;
    /// neither happens when the key is missing.
    Search {
        dest: Option<Key<'a>>,
        key: Key<'a>,
        opts: Result<Search<'a>, SearchError>,
        first: Option<(&'a [u8], Option<WireError>)>,
    },
}

/// Where a search is centred.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Center<'a> {
    Member(&'a [u8]),
    LonLat(f64, f64),
}

/// The area searched, in the request's unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Area {
    Radius(f64),
    Box { width: f64, height: f64 },
}

/// GEOSEARCH's options.
#[derive(Debug, Clone, PartialEq)]
pub struct Search<'a> {
    pub center: Center<'a>,
    pub area: Area,
    /// Meters per unit.
    pub unit: f64,
    /// `Some(true)` ASC, `Some(false)` DESC.
    pub ascending: Option<bool>,
    /// 0: no COUNT.
    pub count: u64,
    pub any: bool,
    pub with_dist: bool,
    pub with_hash: bool,
    pub with_coord: bool,
    pub store_dist: bool,
}

impl<'a> Search<'a> {
    fn new(center: Center<'a>) -> Search<'a> {
        Search {
            center,
            area: Area::Radius(0.0),
            unit: 1.0,
            ascending: None,
            count: 0,
            any: false,
            with_dist: false,
            with_hash: false,
            with_coord: false,
            store_dist: false,
        }
    }

    /// The options GEOSEARCH and GEORADIUS share (WITHDIST, WITHHASH,
    /// WITHCOORD, ANY, ASC, DESC, COUNT n) at `w[i]`: the words after it
    /// that it took, or `None` when it is none of them.
    fn shared_option(&mut self, w: &[&[u8]], i: usize) -> Option<Result<usize, WireError>> {
        match w[i].to_ascii_lowercase().as_slice() {
            b"withdist" => self.with_dist = true,
            b"withhash" => self.with_hash = true,
            b"withcoord" => self.with_coord = true,
            b"any" => self.any = true,
            b"asc" => self.ascending = Some(true),
            b"desc" => self.ascending = Some(false),
            b"count" if i + 1 < w.len() => {
                return Some(match crate::num::int_arg(w[i + 1]) {
                    Ok(n) if n > 0 => {
                        self.count = n as u64;
                        Ok(1)
                    }
                    Ok(_) => Err(bad("COUNT must be > 0")),
                    Err(e) => Err(e),
                });
            }
            _ => return None,
        }
        Some(Ok(0))
    }
}

/// An option error, and the FROMMEMBER member given before it (Redis
/// looks that one up first).
#[derive(Debug, Clone, PartialEq)]
pub struct SearchError {
    pub error: WireError,
    pub member: Option<Vec<u8>>,
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
                    let (lon, lat) = lon_lat(t[0], t[1])?;
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
            "geosearch" | "geosearchstore" => {
                let (dest, key) = match name {
                    "geosearchstore" => (Some(key), a.word()?),
                    _ => (None, key),
                };
                GeoCmd::Search {
                    dest,
                    key,
                    opts: search(name, a.rest(), dest.is_some()),
                    first: None,
                }
            }
            "georadius" | "georadius_ro" | "georadiusbymember" | "georadiusbymember_ro" => {
                let by_member = name.starts_with("georadiusbymember");
                let rest = a.rest();
                // The table's arity leaves the centre, radius and unit.
                if rest.len() < if by_member { 3 } else { 4 } {
                    return Err(syntax());
                }
                radius(key, rest, by_member, !name.ends_with("_ro"))
            }
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

/// A longitude and latitude inside the geohash's ranges (Redis's
/// `extractLongLatOrReply`).
fn lon_lat(lon: &[u8], lat: &[u8]) -> Result<(f64, f64), WireError> {
    let float = |w| parse_float(w).ok_or_else(|| WireError::of(ErrorCode::NotFloat));
    let (lon, lat) = (float(lon)?, float(lat)?);
    if !(LONG_MIN..=LONG_MAX).contains(&lon) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return Err(bad(format!(
            "invalid longitude,latitude pair {lon:.6},{lat:.6}"
        )));
    }
    Ok((lon, lat))
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

/// GEOSEARCH's options in Redis's order of checks (`georadiusGeneric`).
fn search<'a>(name: &str, w: &'a [&'a [u8]], store: bool) -> Result<Search<'a>, SearchError> {
    let (mut center, mut area, mut unit_m) = (None, None, 1.0);
    let (mut from_member, mut from_lonlat, mut by_radius, mut by_box) =
        (false, false, false, false);
    let mut s = Search::new(Center::LonLat(0.0, 0.0));
    let float = |w: &[u8]| parse_float(w).ok_or_else(|| WireError::of(ErrorCode::NotFloat));
    let mut i = 0;
    while i < w.len() {
        let member = match center {
            Some(Center::Member(m)) => Some(m),
            _ => None,
        };
        let fail = |error| SearchError {
            error,
            member: member.map(<[u8]>::to_vec),
        };
        let left = w.len() - i - 1;
        if let Some(took) = s.shared_option(w, i) {
            i += took.map_err(fail)? + 1;
            continue;
        }
        match w[i].to_ascii_lowercase().as_slice() {
            b"frommember" if left >= 1 => {
                center = Some(Center::Member(w[i + 1]));
                from_member = true;
                i += 1;
            }
            b"fromlonlat" if left >= 2 => {
                let (lon, lat) = lon_lat(w[i + 1], w[i + 2]).map_err(fail)?;
                center = Some(Center::LonLat(lon, lat));
                from_lonlat = true;
                i += 2;
            }
            b"byradius" if left >= 2 => {
                let r = float(w[i + 1]).map_err(fail)?;
                if r < 0.0 {
                    return Err(fail(bad("radius cannot be negative")));
                }
                unit_m = unit(w[i + 2]).map_err(fail)?;
                area = Some(Area::Radius(r));
                by_radius = true;
                i += 2;
            }
            b"bybox" if left >= 3 => {
                let (width, height) = (
                    float(w[i + 1]).map_err(fail)?,
                    float(w[i + 2]).map_err(fail)?,
                );
                if width < 0.0 || height < 0.0 {
                    return Err(fail(bad("height or width cannot be negative")));
                }
                unit_m = unit(w[i + 3]).map_err(fail)?;
                area = Some(Area::Box { width, height });
                by_box = true;
                i += 3;
            }
            b"storedist" if store => s.store_dist = true,
            _ => return Err(fail(syntax())),
        }
        i += 1;
    }
    let fail = |m: String| SearchError {
        error: bad(m),
        member: match center {
            Some(Center::Member(m)) => Some(m.to_vec()),
            _ => None,
        },
    };
    if store && (s.with_dist || s.with_hash || s.with_coord) {
        return Err(fail(
            "GEOSEARCHSTORE is not compatible with WITHDIST, WITHHASH and WITHCOORD options".into(),
        ));
    }
    // Redis checks flags, not counts: FROMMEMBER twice passes (the last
    // wins), FROMMEMBER with FROMLONLAT does not.
    if from_member == from_lonlat {
        return Err(fail(format!(
            "exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}"
        )));
    }
    if by_radius == by_box {
        return Err(fail(format!(
            "exactly one of BYRADIUS and BYBOX can be specified for {name}"
        )));
    }
    let (Some(center), Some(area)) = (center, area) else {
        return Err(fail(format!("syntax error in {name}")));
    };
    if s.any && s.count == 0 {
        return Err(fail("the ANY argument requires COUNT argument".into()));
    }
    s.center = center;
    s.area = area;
    s.unit = unit_m;
    Ok(s)
}

/// GEORADIUS and GEORADIUSBYMEMBER from the words after the key (the
/// centre, radius and unit, then the options), in Redis's order of checks
/// (`georadiusGeneric`): a search, the STORE or STOREDIST key (the last one
/// given) when `store` allows one, and GEORADIUSBYMEMBER's member with its
/// radius's error (Redis reads the radius only after finding the member).
fn radius<'a>(key: Key<'a>, w: &'a [&'a [u8]], by_member: bool, store: bool) -> GeoCmd<'a> {
    let fail = |error| SearchError {
        error,
        member: None,
    };
    let mut s = Search::new(Center::Member(w[0]));
    let at = if by_member { 1 } else { 2 };
    let shape = (|| {
        if !by_member {
            let (lon, lat) = lon_lat(w[0], w[1])?;
            s.center = Center::LonLat(lon, lat);
        }
        let r = parse_float(w[at]).ok_or_else(|| bad("need numeric radius"))?;
        if r < 0.0 {
            return Err(bad("radius cannot be negative"));
        }
        s.area = Area::Radius(r);
        s.unit = unit(w[at + 1])?;
        Ok(())
    })();
    let mut dest = None;
    let opts = match (&shape, by_member) {
        (Err(e), false) => Err(fail(e.clone())),
        _ => (|| {
            let mut i = at + 2;
            while i < w.len() {
                if let Some(took) = s.shared_option(w, i) {
                    i += took.map_err(fail)? + 1;
                    continue;
                }
                match w[i].to_ascii_lowercase().as_slice() {
                    o @ (b"store" | b"storedist") if i + 1 < w.len() && store => {
                        dest = Some(w[i + 1]);
                        s.store_dist = o == b"storedist";
                        i += 1;
                    }
                    _ => return Err(fail(syntax())),
                }
                i += 1;
            }
            if dest.is_some() && (s.with_dist || s.with_hash || s.with_coord) {
                return Err(fail(bad(
                    "STORE option in GEORADIUS is not compatible with WITHDIST, WITHHASH and WITHCOORD options",
                )));
            }
            if s.any && s.count == 0 {
                return Err(fail(bad("the ANY argument requires COUNT argument")));
            }
            Ok(s)
        })(),
    };
    GeoCmd::Search {
        dest: dest.filter(|_| opts.is_ok()),
        key,
        first: by_member.then(|| (w[0], shape.err())),
        opts,
    }
}
