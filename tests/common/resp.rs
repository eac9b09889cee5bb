//! A small blocking RESP client for tests: sends commands as arrays of bulk
//! strings (or raw bytes) and reads whole replies, RESP2 and RESP3.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// One reply.
#[derive(Debug, Clone, PartialEq)]
pub enum R {
    Simple(String),
    Err(String),
    Int(i64),
    Bulk(Vec<u8>),
    /// `$-1`, `*-1` or RESP3 `_`.
    Nil,
    Array(Vec<R>),
    Map(Vec<(R, R)>),
    Double(String),
}

impl R {
    pub fn bulk(s: &str) -> R {
        R::Bulk(s.as_bytes().to_vec())
    }

    pub fn arr(items: &[&str]) -> R {
        R::Array(items.iter().map(|s| R::bulk(s)).collect())
    }

    pub fn ok() -> R {
        R::Simple("OK".into())
    }

    /// Whether this reply has the shape the command table declares for
    /// the command (errors fit every shape: any command can fail).
    pub fn fits(&self, shape: tessera::proto::table::Reply) -> bool {
        use tessera::proto::table::Reply as S;
        let double = |d: &R| match d {
            R::Double(_) => true,
            R::Bulk(b) => std::str::from_utf8(b)
                .is_ok_and(|t| t.parse::<f64>().is_ok() || ["inf", "-inf"].contains(&t)),
            _ => false,
        };
        match (shape, self) {
            (_, R::Err(_)) | (S::Varies, _) => true,
            (S::Status, r) => matches!(r, R::Simple(_)),
            (S::Int, r) => matches!(r, R::Int(_)),
            (S::IntOrNil, r) => matches!(r, R::Int(_) | R::Nil),
            (S::Bulk, r) => matches!(r, R::Bulk(_)),
            (S::BulkOrNil, r) => matches!(r, R::Bulk(_) | R::Nil),
            (S::Double, r) => double(r),
            (S::DoubleOrNil, r) => matches!(r, R::Nil) || double(r),
            (S::Array | S::Push, r) => matches!(r, R::Array(_)),
            (S::ArrayOrNil, r) => matches!(r, R::Array(_) | R::Nil),
            (S::Map, R::Array(items)) => items.len() % 2 == 0,
            (S::Map, r) => matches!(r, R::Map(_)),
            _ => false,
        }
    }

    /// The error's first word (`ERR`, `WRONGTYPE`, ...).
    pub fn err_word(&self) -> Option<&str> {
        match self {
            R::Err(e) => e.split(' ').next(),
            _ => None,
        }
    }
}

pub struct Conn {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Conn {
    pub fn connect(addr: SocketAddr) -> Conn {
        Conn::try_connect(addr).expect("connect")
    }

    /// A connection, if the server accepts one now.
    pub fn try_connect(addr: SocketAddr) -> Option<Conn> {
        let s = TcpStream::connect(addr).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
        Some(Conn {
            r: BufReader::new(s.try_clone().ok()?),
            w: s,
        })
    }

    /// The reply to a command, or `None` if the connection broke (a server
    /// restarting).
    pub fn try_cmd(&mut self, words: &[&str]) -> Option<R> {
        let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
        self.w.write_all(&Conn::encode(&args)).ok()?;
        self.try_read()
    }

    /// Sends each small write at once (no Nagle coalescing).
    /// How long a read waits before `try_read` gives up (30 s by default).
    pub fn set_read_timeout(&self, d: Duration) {
        self.r.get_ref().set_read_timeout(Some(d)).unwrap();
    }

    pub fn nodelay(&self) {
        self.w.set_nodelay(true).unwrap();
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.w.write_all(bytes).unwrap();
    }

    /// Encodes a command as an array of bulk strings.
    pub fn encode(args: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        tessera::proto::resp::encode_command(&mut out, args);
        out
    }

    pub fn cmd(&mut self, words: &[&str]) -> R {
        let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
        self.send_raw(&Conn::encode(&args));
        self.read()
    }

    pub fn cmd_bytes(&mut self, args: &[&[u8]]) -> R {
        self.send_raw(&Conn::encode(args));
        self.read()
    }

    fn line(&mut self) -> Option<String> {
        let mut l = Vec::new();
        if self.r.read_until(b'\n', &mut l).ok()? == 0 {
            return None;
        }
        Some(String::from_utf8_lossy(l.strip_suffix(b"\r\n")?).into_owned())
    }

    /// Reads one reply; `None` when the server closed the connection.
    pub fn try_read(&mut self) -> Option<R> {
        let l = self.line()?;
        let (t, rest) = l.split_at(1);
        Some(match t {
            "+" => R::Simple(rest.into()),
            "-" => R::Err(rest.into()),
            ":" => R::Int(rest.parse().unwrap()),
            "," => R::Double(rest.into()),
            "_" => R::Nil,
            "#" => R::Int((rest == "t") as i64),
            "$" => {
                let n: i64 = rest.parse().unwrap();
                if n < 0 {
                    return Some(R::Nil);
                }
                let mut b = vec![0; n as usize + 2];
                self.r.read_exact(&mut b).ok()?;
                b.truncate(n as usize);
                R::Bulk(b)
            }
            "*" | "~" | ">" => {
                let n: i64 = rest.parse().unwrap();
                if n < 0 {
                    return Some(R::Nil);
                }
                R::Array((0..n).map(|_| self.try_read()).collect::<Option<_>>()?)
            }
            "%" => {
                let n: usize = rest.parse().unwrap();
                let mut pairs = Vec::new();
                for _ in 0..n {
                    pairs.push((self.try_read()?, self.try_read()?));
                }
                R::Map(pairs)
            }
            other => panic!("unexpected reply type {other:?} in {l:?}"),
        })
    }

    pub fn read(&mut self) -> R {
        self.try_read().expect("the server closed the connection")
    }
}

/// Each of `cmds` (words separated by spaces) answers on `t` exactly as on
/// `r` (a redis-server).
#[allow(dead_code)]
pub fn same_as_redis(t: &mut Conn, r: &mut Conn, cmds: &[&str]) {
    for cmd in cmds {
        let words: Vec<&str> = cmd.split(' ').collect();
        assert_eq!(t.cmd(&words), r.cmd(&words), "{cmd}");
    }
}

/// A user with every command but `@admin` gets NOPERM for each of `cmds`
/// on the node at `resp` (through `admin`, a connection that may create
/// users).
#[allow(dead_code)]
pub fn admin_only(admin: &mut Conn, resp: std::net::SocketAddr, cmds: &[&[&str]]) {
    assert_eq!(
        admin.cmd(&["ACL", "SETUSER", "app", "on", ">pw", "~*", "+@all", "-@admin"]),
        R::ok()
    );
    let mut app = Conn::connect(resp);
    assert_eq!(app.cmd(&["AUTH", "app", "pw"]), R::ok());
    for cmd in cmds {
        let e = app.cmd(cmd);
        assert!(
            matches!(&e, R::Err(m) if m.starts_with("NOPERM")),
            "{cmd:?}: {e:?}"
        );
    }
}

/// A RESP connection to core `want` (connections land on cores by the
/// kernel's SO_REUSEPORT hash; CLIENT INFO names the core).
pub fn conn_on_core(addr: std::net::SocketAddr, want: usize) -> Conn {
    for _ in 0..200 {
        let mut c = Conn::connect(addr);
        let R::Bulk(info) = c.cmd(&["CLIENT", "INFO"]) else {
            panic!()
        };
        if String::from_utf8_lossy(&info).contains(&format!("tessera-core={want}\n")) {
            return c;
        }
    }
    panic!("no connection landed on core {want} in 200 tries");
}

/// The sum of INFO's `coreN_blocked_clients` lines.
pub fn blocked_clients(c: &mut Conn) -> u64 {
    let R::Bulk(info) = c.cmd(&["INFO"]) else {
        panic!()
    };
    String::from_utf8_lossy(&info)
        .lines()
        .filter_map(|l| l.split_once("_blocked_clients:"))
        .map(|(_, n)| n.trim().parse::<u64>().unwrap())
        .sum()
}

/// Waits (bounded) until INFO counts `want` blocked clients.
pub fn wait_for_blocked(c: &mut Conn, want: u64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while blocked_clients(c) != want {
        assert!(
            std::time::Instant::now() < deadline,
            "blocked clients never reached {want}"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// The first five bytes a server at `addr` answers to the raw `request`
/// (a null array is `*-1\r\n` in RESP2).
pub fn first_five_bytes(addr: std::net::SocketAddr, request: &[u8]) -> [u8; 5] {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(request).unwrap();
    let mut b = [0u8; 5];
    s.read_exact(&mut b).unwrap();
    b
}
