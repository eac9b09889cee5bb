//! EVAL, EVALSHA, FCALL and their _RO forms: their typed arguments (the
//! script runs on the server side, `cmd::script`).

use super::Args;
use crate::codes::WireError;

type Word<'a> = &'a [u8];

/// Which script to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Script<'a> {
    /// EVAL: the script's text.
    Body(Word<'a>),
    /// EVALSHA: the SHA-1 (hex) of a script the node has seen.
    Sha(Word<'a>),
    /// FCALL: the name of a function of the node's libraries.
    Function(Word<'a>),
}

/// A script with its keys and arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptCmd<'a> {
    pub script: Script<'a>,
    pub keys: &'a [Word<'a>],
    pub argv: &'a [Word<'a>],
    /// EVAL_RO, EVALSHA_RO, FCALL_RO: the script may not write.
    pub read_only: bool,
}

impl<'a> ScriptCmd<'a> {
    /// `name` is the row's name; the key count was checked with the keys
    /// (`table::scripting::key_positions`).
    pub fn parse(name: &str, a: &mut Args<'a>) -> Result<ScriptCmd<'a>, WireError> {
        let text = a.word()?;
        let n = usize::try_from(a.int()?)
            .map_err(|_| super::bad("Number of keys can't be negative"))?;
        let rest = a.rest();
        if n > rest.len() {
            return Err(super::bad(
                "Number of keys can't be greater than number of args",
            ));
        }
        let (keys, argv) = rest.split_at(n);
        Ok(ScriptCmd {
            script: if name.starts_with("evalsha") {
                Script::Sha(text)
            } else if name.starts_with("fcall") {
                Script::Function(text)
            } else {
                Script::Body(text)
            },
            keys,
            argv,
            read_only: name.ends_with("_ro"),
        })
    }
}
