//! Blocking commands queued inside MULTI: at EXEC they do not block, as in
//! Redis, so each runs as its non-blocking form (BLPOP as LMPOP, BZPOPMIN
//! as ZMPOP, BLMOVE as LMOVE, ...) and the reply is reshaped into the
//! blocking command's.

use crate::codes::WireError;
use crate::redis::timeout_ms;
use crate::value::Value;

/// How the non-blocking form's reply becomes the blocking command's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reshape {
    /// The same reply (BLMOVE, BRPOPLPUSH, BLMPOP, BZMPOP).
    Same,
    /// BLPOP and BRPOP from LMPOP: `[key, [element]]` → `[key, element]`.
    List,
    /// BZPOPMIN and BZPOPMAX from ZMPOP: `[key, [[member, score]]]` →
    /// `[key, member, score]`.
    ZSet,
}

/// The words of the command to run instead, and how to reshape its reply.
pub type Unblocked = (Vec<Vec<u8>>, Reshape);

/// The command to run instead of `args` (a blocking command whose arity
/// was checked), and how to reshape its reply; the timeout's error when it
/// is not a valid timeout (Redis checks it first); `None` when `args` does
/// not block.
pub fn unblocked(args: &[&[u8]]) -> Option<Result<Unblocked, WireError>> {
    let name = args.first()?.to_ascii_lowercase();
    let last = args.len().checked_sub(1)?;
    let words = |w: &[&[u8]]| w.iter().map(|w| w.to_vec()).collect::<Vec<_>>();
    // Pops from any of `keys` become LMPOP/ZMPOP over them from `end`.
    let first_of = |cmd: &str, end: &str, reshape| {
        let keys = &args[1..last];
        let mut w = vec![cmd.as_bytes().to_vec(), keys.len().to_string().into_bytes()];
        w.extend(words(keys));
        w.push(end.as_bytes().to_vec());
        (args[last], w, reshape)
    };
    let (timeout, run, reshape) = match name.as_slice() {
        b"blpop" => first_of("LMPOP", "LEFT", Reshape::List),
        b"brpop" => first_of("LMPOP", "RIGHT", Reshape::List),
        b"bzpopmin" => first_of("ZMPOP", "MIN", Reshape::ZSet),
        b"bzpopmax" => first_of("ZMPOP", "MAX", Reshape::ZSet),
        b"brpoplpush" | b"blmove" => {
            let cmd: &[u8] = if name == b"blmove" {
                b"LMOVE"
            } else {
                b"RPOPLPUSH"
            };
            let mut w = vec![cmd.to_vec()];
            w.extend(words(&args[1..last]));
            (args[last], w, Reshape::Same)
        }
        b"blmpop" | b"bzmpop" => {
            let cmd: &[u8] = if name == b"blmpop" {
                b"LMPOP"
            } else {
                b"ZMPOP"
            };
            let mut w = vec![cmd.to_vec()];
            w.extend(words(args.get(2..)?));
            (*args.get(1)?, w, Reshape::Same)
        }
        _ => return None,
    };
    Some(timeout_ms(timeout).map(|_| (run, reshape)))
}

/// The blocking command's reply from its non-blocking form's `v` (nil
/// stays nil).
pub fn reshape(how: Reshape, v: Value) -> Value {
    let Value::Array(kv) = v else {
        return v;
    };
    match (how, <[Value; 2]>::try_from(kv)) {
        (Reshape::List, Ok([key, Value::Array(mut items)])) if items.len() == 1 => {
            Value::Array(vec![key, items.remove(0)])
        }
        (Reshape::ZSet, Ok([key, Value::Array(mut items)])) if items.len() == 1 => {
            match items.remove(0) {
                Value::Array(mut scored) => {
                    scored.insert(0, key);
                    Value::Array(scored)
                }
                other => Value::Array(vec![key, other]),
            }
        }
        (_, Ok(kv)) => Value::Array(kv.into()),
        (_, Err(kv)) => Value::Array(kv),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Vec<Vec<u8>> {
        s.split(' ').map(|x| x.as_bytes().to_vec()).collect()
    }

    fn run(s: &str) -> Option<Result<Unblocked, WireError>> {
        let words = w(s);
        let args: Vec<&[u8]> = words.iter().map(Vec::as_slice).collect();
        unblocked(&args)
    }

    #[test]
    fn each_blocking_command_has_its_form() {
        for (blocking, form, how) in [
            ("BLPOP a b 0", "LMPOP 2 a b LEFT", Reshape::List),
            ("brpop a 1.5", "LMPOP 1 a RIGHT", Reshape::List),
            ("BZPOPMIN a b 0", "ZMPOP 2 a b MIN", Reshape::ZSet),
            ("BZPOPMAX a 0", "ZMPOP 1 a MAX", Reshape::ZSet),
            ("BRPOPLPUSH a b 0", "RPOPLPUSH a b", Reshape::Same),
            (
                "BLMOVE a b LEFT RIGHT 0",
                "LMOVE a b LEFT RIGHT",
                Reshape::Same,
            ),
            (
                "BLMPOP 0 2 a b LEFT COUNT 3",
                "LMPOP 2 a b LEFT COUNT 3",
                Reshape::Same,
            ),
            ("BZMPOP 1 1 a MIN", "ZMPOP 1 a MIN", Reshape::Same),
        ] {
            assert_eq!(run(blocking), Some(Ok((w(form), how))), "{blocking}");
        }
        assert!(run("LPOP a").is_none());
        assert!(matches!(run("BLPOP a x"), Some(Err(_))));
        assert!(matches!(run("BLMPOP -1 1 a LEFT"), Some(Err(_))));
    }

    #[test]
    fn replies_take_the_blocking_shape() {
        let b = |s: &str| Value::bytes(s);
        let popped = Value::Array(vec![b("k"), Value::Array(vec![b("v")])]);
        assert_eq!(
            reshape(Reshape::List, popped.clone()),
            Value::Array(vec![b("k"), b("v")])
        );
        assert_eq!(reshape(Reshape::Same, popped.clone()), popped);
        let z = Value::Array(vec![
            b("k"),
            Value::Array(vec![Value::Array(vec![b("m"), Value::Double(2.5)])]),
        ]);
        assert_eq!(
            reshape(Reshape::ZSet, z),
            Value::Array(vec![b("k"), b("m"), Value::Double(2.5)])
        );
        assert_eq!(reshape(Reshape::List, Value::Nil), Value::Nil);
    }
}
