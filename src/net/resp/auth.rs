//! Users on a RESP connection: the check every command passes first
//! (NOAUTH, NOPERM, ACL LOG), AUTH and HELLO's AUTH, and the ACL command
//! (docs/security.md).

use std::sync::Arc;

use super::State;
use crate::acl::{generate_password, Acl};
use crate::codes::{ErrorCode, WireError};
use crate::net::core::Core;
use crate::net::session::Verdict;
use crate::proto::acl::category_commands;
use crate::proto::table::{self, acl as cat, flag};
use crate::proto::value::Value;

/// Checks `args` against the connection's user: NOAUTH before AUTH,
/// NOPERM (and an ACL LOG entry) beyond the user's rules.
pub(super) fn gate(core: &Core, st: &mut State, args: &[&[u8]]) -> Verdict {
    let acl = &core.config().acl;
    // Unknown commands and bad arities get their own errors first; the
    // table is read only for a restricted or unauthenticated user.
    let cmd = std::cell::OnceCell::new();
    let lookup = || *cmd.get_or_init(|| table::lookup(args).ok());
    match st.session.verdict(
        acl,
        || lookup().is_none_or(|c| c.has(flag::NO_AUTH)),
        |u| lookup().map_or(Ok(()), |c| u.check(c, args)),
    ) {
        Verdict::Denied(d) => {
            let context = if st.multi.is_some() {
                "multi"
            } else {
                "toplevel"
            };
            Verdict::Refuse(st.session.denied(acl, d, context, st.client_info()))
        }
        v => v,
    }
}

/// Authenticates the connection (AUTH, HELLO AUTH).
pub(super) fn authenticate(
    core: &Core,
    st: &mut State,
    name: &[u8],
    pass: &[u8],
) -> Result<(), WireError> {
    let info = st.client_info();
    st.session
        .authenticate(&core.config().acl, name, pass, || info)
}

/// AUTH [user] pass.
pub(super) fn auth(core: &Core, st: &mut State, args: &[&[u8]]) -> Result<Value, WireError> {
    let (name, pass): (&[u8], &[u8]) = match args.len() {
        2 if core.config().acl.default_is_open() => {
            return Err(bad("AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"));
        }
        2 => (b"default", args[1]),
        3 => (args[1], args[2]),
        _ => return Err(bad("syntax error")),
    };
    authenticate(core, st, name, pass).map(|()| Value::ok())
}

/// ACL's subcommands.
pub(super) async fn acl_command(
    core: &Core,
    st: &mut State,
    args: &[&[u8]],
) -> Result<Value, WireError> {
    let acl: Arc<Acl> = core.config().acl.clone();
    let sub = args[1].to_ascii_lowercase();
    let n = args.len();
    let s = |x: &str| Value::bytes(x.as_bytes().to_vec());
    let strings = |v: Vec<String>| Value::Array(v.into_iter().map(|x| s(&x)).collect());
    let arity = || {
        bad(format!(
            "unknown subcommand or wrong number of arguments for '{}'. Try ACL HELP.",
            String::from_utf8_lossy(args[1])
        ))
    };
    match sub.as_slice() {
        b"setuser" if n >= 3 => acl.set_user(args[2], &args[3..]).map(|()| Value::ok()),
        b"deluser" if n >= 3 => acl.del_users(&args[2..]).map(Value::Int),
        b"getuser" if n == 3 => Ok(std::str::from_utf8(args[2])
            .ok()
            .and_then(|name| acl.user(name))
            .map(|u| u.getuser())
            .unwrap_or(Value::Nil)),
        b"users" if n == 2 => Ok(strings(acl.names())),
        b"list" if n == 2 => Ok(strings(acl.list())),
        b"whoami" if n == 2 => Ok(s(st.session.user_name())),
        b"cat" if n == 2 => Ok(Value::Array(
            cat::ORDERED.iter().map(|(name, _)| s(name)).collect(),
        )),
        b"cat" if n == 3 => {
            let name = String::from_utf8_lossy(args[2]).to_ascii_lowercase();
            match category_commands(&name) {
                Some(cmds) => Ok(Value::Array(cmds.into_iter().map(s).collect())),
                None => Err(bad(format!(
                    "Unknown category '{}'",
                    String::from_utf8_lossy(args[2])
                ))),
            }
        }
        b"genpass" if n <= 3 => {
            let bits = match args.get(2) {
                None => 256,
                Some(w) => match crate::shard::hash::parse_int(w) {
                    Some(b) if (1..=4096).contains(&b) => b as usize,
                    _ => return Err(bad("ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096")),
                },
            };
            generate_password(bits).map(|p| s(&p))
        }
        b"log" if n <= 3 => match args.get(2) {
            Some(w) if w.eq_ignore_ascii_case(b"reset") => {
                acl.log_reset();
                Ok(Value::ok())
            }
            Some(w) => match crate::shard::hash::parse_int(w) {
                Some(c) if c >= 0 => Ok(acl.log_entries(c as usize)),
                _ => Err(WireError::of(ErrorCode::NotInteger)),
            },
            None => Ok(acl.log_entries(10)),
        },
        b"dryrun" if n >= 4 => {
            let name = String::from_utf8_lossy(args[2]);
            let Some(user) = acl.user(&name) else {
                return Err(bad(format!("User '{name}' not found")));
            };
            let cmd_args = &args[3..];
            let Some(cmd) = table::get(cmd_args[0]) else {
                return Err(bad(format!(
                    "Command '{}' not found",
                    String::from_utf8_lossy(cmd_args[0])
                )));
            };
            if !cmd.arity_fits(cmd_args.len()) {
                return Err(table::arity_error(cmd.name));
            }
            Ok(match user.check(cmd, cmd_args) {
                Ok(()) => Value::ok(),
                Err(d) => Value::bytes(d.dry_run_text().into_bytes()),
            })
        }
        b"save" if n == 2 => blocking(move || acl.save()).await.map(|()| Value::ok()),
        b"load" if n == 2 => blocking(move || acl.load()).await.map(|()| Value::ok()),
        b"help" if n == 2 => Ok(strings(HELP.iter().map(|l| l.to_string()).collect())),
        _ => Err(arity()),
    }
}

/// Runs file work off the reactor.
async fn blocking(
    f: impl FnOnce() -> Result<(), WireError> + Send + 'static,
) -> Result<(), WireError> {
    glommio::executor().spawn_blocking(f).await
}

const HELP: &[&str] = &[
    "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CAT [<category>]",
    "    List all commands that belong to <category>, or all command categories",
    "    when no category is specified.",
    "DELUSER <username> [<username> ...]",
    "    Delete a list of users.",
    "DRYRUN <username> <command> [<arg> ...]",
    "    Returns whether the user can execute the given command without executing the command.",
    "GETUSER <username>",
    "    Get the user's details.",
    "GENPASS [<bits>]",
    "    Generate a secure 256-bit user password. The optional `bits` argument can",
    "    be used to specify a different size.",
    "LIST",
    "    Show users details in config file format.",
    "LOAD",
    "    Reload users from the ACL file.",
    "LOG [<count> | RESET]",
    "    Show the ACL log entries.",
    "SAVE",
    "    Save the current config to the ACL file.",
    "SETUSER <username> <attribute> [<attribute> ...]",
    "    Create or modify a user with the specified attributes.",
    "USERS",
    "    List all the registered usernames.",
    "WHOAMI",
    "    Return the current connection username.",
    "HELP",
    "    Print this help.",
];

fn bad(m: impl Into<String>) -> WireError {
    WireError::new(ErrorCode::BadArguments, m)
}
