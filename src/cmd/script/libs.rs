//! The Lua libraries Redis builds into its interpreter beside cjson:
//! `cmsgpack` (MessagePack, as lua_cmsgpack encodes and decodes it; the
//! format's reading is the `rmpv` crate's), `bit` (LuaBitOp: 32-bit
//! operations on numbers) and `struct` (Roberto Ierusalimschy's struct
//! library as Redis 7 ships it: `pack`, `unpack`, `size` over C-like
//! layouts, on a 64-bit little-endian machine).

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
    bit_ops(lua, runtime)?;
    struct_ops(lua, runtime)
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

/// A `struct` format being read: the current endianness and alignment.
struct Layout<'f> {
    fmt: &'f [u8],
    little: bool,
    align: usize,
}

/// lua_struct's largest integer, in bytes.
const MAX_INT_SIZE: usize = 32;
/// The alignment `!` without a number asks for (a double's, on x86-64).
const MAX_ALIGN: usize = 8;

fn arg_error(n: usize, f: &str, msg: impl std::fmt::Display) -> mlua::Error {
    lib_error(format!("bad argument #{n} to '{f}' ({msg})"))
}

impl<'f> Layout<'f> {
    fn new(fmt: &'f [u8]) -> Layout<'f> {
        Layout {
            fmt,
            little: true,
            align: 1,
        }
    }

    /// The next option, with its size (0 for those without one).
    fn next(&mut self) -> mlua::Result<Option<(u8, usize)>> {
        let Some((&opt, rest)) = self.fmt.split_first() else {
            return Ok(None);
        };
        self.fmt = rest;
        let size = match opt {
            b'b' | b'B' => 1,
            b'h' | b'H' => 2,
            b'l' | b'L' | b'T' | b'd' => 8,
            b'f' => 4,
            b'x' => 1,
            b'c' => self.number(1)?,
            b'i' | b'I' => {
                let n = self.number(4)?;
                if n > MAX_INT_SIZE {
                    return Err(lib_error(format!(
                        "integral size {n} is larger than limit of {MAX_INT_SIZE}"
                    )));
                }
                n
            }
            _ => 0,
        };
        Ok(Some((opt, size)))
    }

    /// The number that follows an option, or `default`.
    fn number(&mut self, default: usize) -> mlua::Result<usize> {
        let digits = self.fmt.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return Ok(default);
        }
        let (d, rest) = self.fmt.split_at(digits);
        self.fmt = rest;
        let mut n: usize = 0;
        for &b in d {
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(usize::from(b - b'0')))
                .filter(|&n| n <= i32::MAX as usize)
                .ok_or_else(|| lib_error("integral size overflow"))?;
        }
        Ok(n)
    }

    /// Padding before an element of `size` at offset `at`.
    fn padding(&self, at: usize, opt: u8, size: usize) -> usize {
        if size == 0 || opt == b'c' {
            return 0;
        }
        let s = size.min(self.align);
        s.wrapping_sub(at & (s - 1)) & (s - 1)
    }

    /// Endianness, alignment and spaces; any other option is refused.
    fn control(&mut self, opt: u8, f: &str) -> mlua::Result<()> {
        match opt {
            b' ' => {}
            b'>' => self.little = false,
            b'<' => self.little = true,
            b'!' => {
                let a = self.number(MAX_ALIGN)?;
                if !a.is_power_of_two() {
                    return Err(lib_error(format!("alignment {a} is not a power of 2")));
                }
                self.align = a;
            }
            other => {
                let msg = format!("invalid format option '{}'", char::from(other));
                return Err(arg_error(1, f, msg));
            }
        }
        Ok(())
    }
}

fn type_of(v: Option<&Value>) -> &'static str {
    v.map_or("no value", |v| v.type_name())
}

/// A value argument's type as pack reports it: past the last one, nil
/// (lua_struct pushes a nil mark after its arguments).
fn arg_type(v: Option<&Value>) -> &'static str {
    v.map_or("nil", |v| v.type_name())
}

fn struct_pack(lua: &Lua, args: MultiValue) -> mlua::Result<mlua::String> {
    let args: Vec<Value> = args.into_iter().collect();
    let fmt = match args.first() {
        Some(Value::String(s)) => s.as_bytes().to_vec(),
        Some(v @ (Value::Integer(_) | Value::Number(_))) => lua
            .coerce_string(v.clone())?
            .map(|s| s.as_bytes().to_vec())
            .unwrap_or_default(),
        v => {
            let msg = format!("string expected, got {}", type_of(v));
            return Err(arg_error(1, "pack", msg));
        }
    };
    let mut layout = Layout::new(&fmt);
    let mut out = Vec::new();
    let mut arg = 1;
    let number = |arg: usize| -> mlua::Result<f64> {
        let v = args.get(arg);
        match v
            .map(|v| lua.coerce_number(v.clone()))
            .transpose()?
            .flatten()
        {
            Some(n) => Ok(n),
            None => Err(arg_error(
                arg + 1,
                "pack",
                format!("number expected, got {}", arg_type(v)),
            )),
        }
    };
    while let Some((opt, mut size)) = layout.next()? {
        let pad = layout.padding(out.len(), opt, size);
        out.resize(out.len() + pad, 0);
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let n = number(arg)?;
                arg += 1;
                let mut value = if n < 0.0 { n as i64 as u64 } else { n as u64 };
                let mut bytes = vec![0u8; size];
                for i in 0..size {
                    let at = if layout.little { i } else { size - 1 - i };
                    bytes[at] = value as u8;
                    value = value.checked_shr(8).unwrap_or(0);
                }
                out.extend_from_slice(&bytes);
            }
            b'x' => out.push(0),
            b'f' => {
                let f = number(arg)? as f32;
                arg += 1;
                out.extend(if layout.little {
                    f.to_le_bytes()
                } else {
                    f.to_be_bytes()
                });
            }
            b'd' => {
                let d = number(arg)?;
                arg += 1;
                out.extend(if layout.little {
                    d.to_le_bytes()
                } else {
                    d.to_be_bytes()
                });
            }
            b'c' | b's' => {
                let v = args.get(arg);
                let s = match v
                    .map(|v| lua.coerce_string(v.clone()))
                    .transpose()?
                    .flatten()
                {
                    Some(s) => s.as_bytes().to_vec(),
                    None => {
                        let msg = format!("string expected, got {}", arg_type(v));
                        return Err(arg_error(arg + 1, "pack", msg));
                    }
                };
                arg += 1;
                if size == 0 {
                    size = s.len();
                }
                if s.len() < size {
                    // lua_struct names the argument after the string.
                    return Err(arg_error(arg + 1, "pack", "string too short"));
                }
                out.extend_from_slice(&s[..size]);
                if opt == b's' {
                    out.push(0);
                }
            }
            other => layout.control(other, "pack")?,
        }
    }
    lua.create_string(&out)
}

fn struct_unpack(
    lua: &Lua,
    (fmt, data, init): (mlua::String, mlua::String, Option<i64>),
) -> mlua::Result<MultiValue> {
    let (fmt, data) = (fmt.as_bytes().to_vec(), data.as_bytes().to_vec());
    let init = init.unwrap_or(1);
    if init < 1 {
        return Err(arg_error(3, "unpack", "offset must be 1 or greater"));
    }
    let mut pos = (init - 1) as usize;
    let mut layout = Layout::new(&fmt);
    let mut out: Vec<Value> = Vec::new();
    let short = || arg_error(2, "unpack", "data string too short");
    while let Some((opt, mut size)) = layout.next()? {
        pos += layout.padding(pos, opt, size);
        if size > data.len() || pos > data.len() - size {
            return Err(short());
        }
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let bytes = &data[pos..pos + size];
                let mut l: u64 = 0;
                for i in 0..size {
                    let b = if layout.little {
                        bytes[size - 1 - i]
                    } else {
                        bytes[i]
                    };
                    l = l.checked_shl(8).unwrap_or(0) | u64::from(b);
                }
                let n = if opt.is_ascii_lowercase() {
                    let mask = u32::try_from(size * 8 - 1)
                        .ok()
                        .and_then(|s| u64::MAX.checked_shl(s))
                        .unwrap_or(0);
                    if l & mask != 0 {
                        l |= mask;
                    }
                    l as i64 as f64
                } else {
                    l as f64
                };
                out.push(Value::Number(n));
            }
            b'x' => {}
            b'f' => {
                let b: [u8; 4] = data[pos..pos + 4].try_into().expect("4 bytes");
                let f = if layout.little {
                    f32::from_le_bytes(b)
                } else {
                    f32::from_be_bytes(b)
                };
                out.push(Value::Number(f64::from(f)));
            }
            b'd' => {
                let b: [u8; 8] = data[pos..pos + 8].try_into().expect("8 bytes");
                let d = if layout.little {
                    f64::from_le_bytes(b)
                } else {
                    f64::from_be_bytes(b)
                };
                out.push(Value::Number(d));
            }
            b'c' => {
                if size == 0 {
                    let prev = out.pop();
                    let n = prev.map(|v| lua.coerce_number(v)).transpose()?.flatten();
                    let Some(n) = n else {
                        return Err(lib_error("format 'c0' needs a previous size"));
                    };
                    size = n as usize;
                    if size > data.len() || pos > data.len() - size {
                        return Err(short());
                    }
                }
                out.push(Value::String(lua.create_string(&data[pos..pos + size])?));
            }
            b's' => {
                let Some(end) = data[pos..].iter().position(|&b| b == 0) else {
                    return Err(lib_error("unfinished string in data"));
                };
                out.push(Value::String(lua.create_string(&data[pos..pos + end])?));
                size = end + 1;
            }
            other => layout.control(other, "unpack")?,
        }
        pos += size;
    }
    out.push(Value::Integer(pos as i64 + 1));
    Ok(MultiValue::from_vec(out))
}

fn struct_size(_: &Lua, fmt: mlua::String) -> mlua::Result<i64> {
    let fmt = fmt.as_bytes().to_vec();
    let mut layout = Layout::new(&fmt);
    let mut pos = 0;
    while let Some((opt, size)) = layout.next()? {
        pos += layout.padding(pos, opt, size);
        if opt == b's' {
            return Err(arg_error(1, "size", "option 's' has no fixed size"));
        }
        if opt == b'c' && size == 0 {
            return Err(arg_error(1, "size", "option 'c0' has no fixed size"));
        }
        if !opt.is_ascii_alphanumeric() {
            layout.control(opt, "size")?;
        }
        pos += size;
    }
    Ok(pos as i64)
}

/// The `struct` library's functions, as `runtime.struct_NAME`.
fn struct_ops(lua: &Lua, runtime: &Table) -> mlua::Result<()> {
    runtime.raw_set("struct_pack", lua.create_function(struct_pack)?)?;
    runtime.raw_set("struct_unpack", lua.create_function(struct_unpack)?)?;
    runtime.raw_set("struct_size", lua.create_function(struct_size)?)?;
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
