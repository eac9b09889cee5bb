//! The request opcodes of protocol v1 (docs/protocol.md lists each body).

/// Request opcodes.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Opcode {
    Ping = 0x01,
    Hello = 0x02,
    /// Authenticates the connection as an ACL user (docs/security.md).
    Auth = 0x03,
    Get = 0x10,
    Set = 0x11,
    Del = 0x12,
    Exists = 0x13,
    MGet = 0x14,
    MSet = 0x15,
    IncrBy = 0x16,
    Expire = 0x17,
    Persist = 0x18,
    Ttl = 0x19,
    Scan = 0x1A,
    DbSize = 0x1B,
    Info = 0x1C,
    Backup = 0x1D,
    Metrics = 0x1E,
    /// A named data-model command as an argument vector (`cmd` module).
    Command = 0x20,
    /// Named commands of one slot applied all or nothing.
    Batch = 0x21,
    /// A pub/sub message to every subscriber on every core.
    Publish = 0x22,
    /// A list pop that waits for an element (BLPOP, BRPOP, BLMOVE).
    BlockingPop = 0x23,
    /// Pub/sub introspection on one core (gathered from all).
    PubSub = 0x24,
    /// Deletes every key of every partition (FLUSHALL).
    FlushAll = 0x25,
    /// A replica pulls a partition's write batches after a position.
    Pull = 0x26,
    /// A replica copies a checkpoint of a partition (full sync).
    Sync = 0x27,
    /// Replication role: status, REPLICAOF, PROMOTE.
    Role = 0x28,
    /// Cluster: a node's identity, the controller's Raft messages, forming a
    /// cluster and its status (docs/cluster.md).
    Cluster = 0x29,
    /// The node's client connections: list them, or close those a filter
    /// picks (CLIENT LIST and CLIENT KILL over every core).
    Clients = 0x2A,
    /// The slow log of every core: its entries, their count, or a reset
    /// (SLOWLOG GET/LEN/RESET).
    SlowLog = 0x2B,
    /// A blocking command of the command table (BLMPOP, BZMPOP, BZPOPMIN,
    /// BZPOPMAX) that waits for its keys to have something to pop.
    Block = 0x2C,
    /// A data request run in a database other than 0 (RESP's SELECT): the
    /// database number, then the wrapped request's opcode, flags and body.
    Db = 0x2D,
    /// Deletes every key of the request's database (FLUSHDB).
    FlushDb = 0x2E,
    /// Exchanges two databases' keys on every core (SWAPDB).
    SwapDb = 0x2F,
}

impl TryFrom<u8> for Opcode {
    type Error = u8;
    fn try_from(b: u8) -> Result<Self, u8> {
        use Opcode::*;
        Ok(match b {
            0x01 => Ping,
            0x02 => Hello,
            0x03 => Auth,
            0x10 => Get,
            0x11 => Set,
            0x12 => Del,
            0x13 => Exists,
            0x14 => MGet,
            0x15 => MSet,
            0x16 => IncrBy,
            0x17 => Expire,
            0x18 => Persist,
            0x19 => Ttl,
            0x1A => Scan,
            0x1B => DbSize,
            0x1C => Info,
            0x1D => Backup,
            0x1E => Metrics,
            0x20 => Command,
            0x21 => Batch,
            0x22 => Publish,
            0x23 => BlockingPop,
            0x24 => PubSub,
            0x25 => FlushAll,
            0x26 => Pull,
            0x27 => Sync,
            0x28 => Role,
            0x29 => Cluster,
            0x2A => Clients,
            0x2B => SlowLog,
            0x2C => Block,
            0x2D => Db,
            0x2E => FlushDb,
            0x2F => SwapDb,
            other => return Err(other),
        })
    }
}

impl Opcode {
    /// Whether the request works on one database's keys, so a DB request
    /// may wrap it.
    pub fn in_database(self) -> bool {
        use Opcode::*;
        matches!(
            self,
            Get | Set
                | Del
                | Exists
                | MGet
                | MSet
                | IncrBy
                | Expire
                | Persist
                | Ttl
                | Scan
                | DbSize
                | Command
                | Batch
                | BlockingPop
                | Block
                | FlushDb
        )
    }

    pub fn name(self) -> &'static str {
        use Opcode::*;
        match self {
            Ping => "PING",
            Hello => "HELLO",
            Auth => "AUTH",
            Get => "GET",
            Set => "SET",
            Del => "DEL",
            Exists => "EXISTS",
            MGet => "MGET",
            MSet => "MSET",
            IncrBy => "INCRBY",
            Expire => "EXPIRE",
            Persist => "PERSIST",
            Ttl => "TTL",
            Scan => "SCAN",
            DbSize => "DBSIZE",
            Info => "INFO",
            Backup => "BACKUP",
            Metrics => "METRICS",
            Command => "COMMAND",
            Batch => "BATCH",
            Publish => "PUBLISH",
            BlockingPop => "BPOP",
            PubSub => "PUBSUB",
            FlushAll => "FLUSHALL",
            Pull => "PULL",
            Sync => "SYNC",
            Role => "ROLE",
            Cluster => "CLUSTERCTL",
            Clients => "CLIENTCTL",
            SlowLog => "SLOWLOGCTL",
            Block => "BLOCK",
            Db => "DB",
            FlushDb => "FLUSHDB",
            SwapDb => "SWAPDB",
        }
    }
}
