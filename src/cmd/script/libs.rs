//! The Lua libraries Redis builds into its interpreter beside cjson:
//! `cmsgpack` (MessagePack, as lua_cmsgpack encodes and decodes it; the
//! format's reading is the `rmpv` crate's) and `bit` (LuaBitOp: 32-bit
//! operations on numbers).

use mlua::{Lua, MultiValue, Table, Value};

/// lua_cmsgpack packs a table nested deeper than this as nil.
const MAX_NESTING: usize = 16;

/// Installs `runtime.cmsgpack_*` and `runtime.bit_*`, which the prelude
/// turns into the `cmsgpack` and `bit` tables.
pub(super) fn install(lua: &Lua, runtime: &Table) -> mlua::Result<()> {
    runtime.raw_set(
        "cmsgpack_pack",
        lua.create_function(|lua, args: MultiValue| {
            if args.is_empty() {
                return Err(lib_error(
                    "bad argument #0 to 'pack' (MessagePack pack needs input.)",
                ));
            }
            let mut out = Vec::new();
            for v in args.iter() {
                pack(&mut out, v, 0)?;
            }
            lua.create_string(&out)
        })?,
    )?;
    runtime.raw_set(
        "cmsgpack_unpack",
        lua.create_function(|lua, s: mlua::String| {
            let bytes = s.as_bytes();
            let mut rest: &[u8] = &bytes;
            let mut out = Vec::new();
            while !rest.is_empty() {
                out.push(unpack(lua, &mut rest)?);
            }
            Ok(MultiValue::from_vec(out))
        })?,
    )?;
    // unpack_limit(s, limit [, offset]) and unpack_one(s [, offset]): the
    // offset after what was read (-1 at the end), then the values.
    runtime.raw_set(
        "cmsgpack_unpack_limit",
        lua.create_function(
            |lua, (s, limit, offset): (mlua::String, i64, Option<i64>)| {
                unpack_limit(lua, &s.as_bytes(), limit, offset.unwrap_or(0))
            },
        )?,
    )?;
    runtime.raw_set(
        "cmsgpack_unpack_one",
        lua.create_function(|lua, (s, offset): (mlua::String, Option<i64>)| {
            unpack_limit(lua, &s.as_bytes(), 1, offset.unwrap_or(0))
        })?,
    )?;
    bit_ops(lua, runtime)
}

fn lib_error(text: impl Into<String>) -> mlua::Error {
    mlua::Error::external(super::lua::LibFailed(text.into()))
}

/// Up to `limit` values (all when it is 0 or less) from `offset`, after
/// the offset that follows them (-1 at the end of the input).
fn unpack_limit(lua: &Lua, bytes: &[u8], limit: i64, offset: i64) -> mlua::Result<MultiValue> {
    let start = usize::try_from(offset)
        .ok()
        .filter(|&o| o <= bytes.len())
        .ok_or_else(|| {
            lib_error(format!(
                "Start offset {offset} greater than input length {}.",
                bytes.len()
            ))
        })?;
    let mut rest = &bytes[start..];
    let mut out = vec![Value::Nil];
    while !rest.is_empty() && (limit <= 0 || (out.len() as i64) <= limit) {
        out.push(unpack(lua, &mut rest)?);
    }
    out[0] = Value::Integer(match rest.len() {
        0 => -1,
        n => (bytes.len() - n) as i64,
    });
    Ok(MultiValue::from_vec(out))
}

/// One Lua value in MessagePack, as lua_cmsgpack writes it.
fn pack(out: &mut Vec<u8>, v: &Value, depth: usize) -> mlua::Result<()> {
    use rmp::encode;
    let io = |e: std::io::Error| mlua::Error::external(e);
    let val = |e: rmp::encode::ValueWriteError| mlua::Error::external(e);
    match v {
        Value::Boolean(b) => encode::write_bool(out, *b).map_err(io)?,
        Value::Integer(n) => {
            encode::write_sint(out, *n).map_err(val)?;
        }
        Value::Number(n) if n.fract() == 0.0 && n.abs() < 9.2e18 => {
            encode::write_sint(out, *n as i64).map_err(val)?;
        }
        // A float that survives f32 is written as one, as lua_cmsgpack does.
        Value::Number(n) if f64::from(*n as f32) == *n => {
            encode::write_f32(out, *n as f32).map_err(val)?
        }
        Value::Number(n) => encode::write_f64(out, *n).map_err(val)?,
        Value::String(s) => {
            let b = s.as_bytes();
            encode::write_str_len(out, b.len() as u32).map_err(val)?;
            out.extend_from_slice(&b);
        }
        Value::Table(t) if depth < MAX_NESTING => {
            // A sequence 1..n (an empty table too) is an array; anything
            // else a map.
            let len = t.raw_len();
            let pairs: Vec<(Value, Value)> = t.clone().pairs().collect::<mlua::Result<_>>()?;
            if pairs.len() == len {
                encode::write_array_len(out, len as u32).map_err(val)?;
                for i in 1..=len {
                    pack(out, &t.raw_get(i)?, depth + 1)?;
                }
            } else {
                encode::write_map_len(out, pairs.len() as u32).map_err(val)?;
                for (k, v) in &pairs {
                    pack(out, k, depth + 1)?;
                    pack(out, v, depth + 1)?;
                }
            }
        }
        _ => encode::write_nil(out).map_err(io)?,
    }
    Ok(())
}

/// The next MessagePack value of `rest` as a Lua value.
fn unpack(lua: &Lua, rest: &mut &[u8]) -> mlua::Result<Value> {
    let v = rmpv::decode::read_value_ref(rest).map_err(|e| {
        lib_error(match e {
            rmpv::decode::Error::InvalidMarkerRead(_) | rmpv::decode::Error::InvalidDataRead(_) => {
                "Missing bytes in input."
            }
            _ => "Bad data format in input.",
        })
    })?;
    to_lua(lua, v)
}

fn to_lua(lua: &Lua, v: rmpv::ValueRef<'_>) -> mlua::Result<Value> {
    use rmpv::ValueRef as V;
    Ok(match v {
        V::Nil => Value::Nil,
        V::Boolean(b) => Value::Boolean(b),
        V::Integer(n) => match n.as_i64() {
            Some(i) => Value::Number(i as f64),
            None => Value::Number(n.as_u64().unwrap_or(0) as f64),
        },
        V::F32(f) => Value::Number(f64::from(f)),
        V::F64(f) => Value::Number(f),
        V::String(s) => Value::String(lua.create_string(s.as_bytes())?),
        V::Binary(b) | V::Ext(_, b) => Value::String(lua.create_string(b)?),
        V::Array(items) => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.into_iter().enumerate() {
                t.raw_set(i + 1, to_lua(lua, item)?)?;
            }
            Value::Table(t)
        }
        V::Map(entries) => {
            let t = lua.create_table_with_capacity(0, entries.len())?;
            for (k, v) in entries {
                let k = to_lua(lua, k)?;
                if !k.is_nil() {
                    t.raw_set(k, to_lua(lua, v)?)?;
                }
            }
            Value::Table(t)
        }
    })
}

/// LuaBitOp's conversion of a number to a signed 32-bit integer: the low
/// 32 bits of its value rounded to an integer (modulo 2^32).
fn tobit(x: f64) -> i32 {
    (x + 6_755_399_441_055_744.0).to_bits() as u32 as i32
}

/// The `bit` library's functions, as `runtime.bit_NAME`.
fn bit_ops(lua: &Lua, runtime: &Table) -> mlua::Result<()> {
    type Unary = fn(i32) -> i32;
    type Fold = fn(i32, i32) -> i32;
    type Shift = fn(i32, u32) -> i32;
    let unary: [(&str, Unary); 3] = [
        ("tobit", |x| x),
        ("bnot", |x| !x),
        ("bswap", i32::swap_bytes),
    ];
    for (name, f) in unary {
        runtime.raw_set(
            format!("bit_{name}"),
            lua.create_function(move |_, x: f64| Ok(f64::from(f(tobit(x)))))?,
        )?;
    }
    let folds: [(&str, Fold); 3] = [
        ("band", |a, b| a & b),
        ("bor", |a, b| a | b),
        ("bxor", |a, b| a ^ b),
    ];
    for (name, f) in folds {
        runtime.raw_set(
            format!("bit_{name}"),
            lua.create_function(move |_, (x, rest): (f64, mlua::Variadic<f64>)| {
                Ok(f64::from(
                    rest.iter().fold(tobit(x), |a, &b| f(a, tobit(b))),
                ))
            })?,
        )?;
    }
    let shifts: [(&str, Shift); 5] = [
        ("lshift", |x, n| ((x as u32) << n) as i32),
        ("rshift", |x, n| ((x as u32) >> n) as i32),
        ("arshift", |x, n| x >> n),
        ("rol", |x, n| (x as u32).rotate_left(n) as i32),
        ("ror", |x, n| (x as u32).rotate_right(n) as i32),
    ];
    for (name, f) in shifts {
        runtime.raw_set(
            format!("bit_{name}"),
            lua.create_function(move |_, (x, n): (f64, f64)| {
                Ok(f64::from(f(tobit(x), (tobit(n) & 31) as u32)))
            })?,
        )?;
    }
    runtime.raw_set(
        "bit_tohex",
        lua.create_function(|_, (x, n): (f64, Option<f64>)| {
            let n = n.map_or(8, tobit);
            let (digits, upper) = (n.unsigned_abs().min(8) as usize, n < 0);
            let v = tobit(x) as u32 as u64;
            let s = match upper {
                true => format!("{v:08X}"),
                false => format!("{v:08x}"),
            };
            Ok(s[8 - digits..].to_string())
        })?,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tobit_wraps_as_luabitop_does() {
        assert_eq!(tobit(0xffff_ffff_u32 as f64), -1);
        assert_eq!(tobit(4_294_967_296.0 + 5.0), 5);
        assert_eq!(tobit(-1.0), -1);
        assert_eq!(tobit(2_147_483_648.0), i32::MIN);
    }
}
