//! The controller's messages between nodes. They travel over each node's
//! binary port as `CLUSTER` requests (opcode 0x29, action [`RAFT`]), so a
//! cluster needs no extra listener.
//!
//! The body is a JSON [`Envelope`]: the message format, the cluster id, the
//! sender's and the addressee's Raft ids, and the openraft request. The
//! addressee checks the cluster id (a node of another cluster refuses) and
//! its own id (a wiped node that came back under the same address has a new
//! id and refuses messages for the old one).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use tessera_wire::{decode_error, frame, Request};

use crate::{Shared, TypeConfig};

/// The format of the Raft messages (carried in each).
pub const RPC_FORMAT: u32 = 1;

/// `CLUSTER` actions (the `action` byte of opcode 0x29).
pub const IDENTITY: u8 = 0;
pub const RAFT: u8 = 1;
pub const JOIN: u8 = 2;
pub const FORM: u8 = 3;
pub const STATUS: u8 = 4;
/// A node asks the controller's leader for its write lease (body:
/// [`crate::controller::LeaseRequest`]; answer `true` or `false`).
pub const LEASE: u8 = 5;
/// The slot owners, answered by the core from its copy of the map
/// (`tessera_wire::cluster_slots`), for shard-aware binary clients.
pub const SLOTS: u8 = 6;
/// A manual promotion (`tessera cli promote` in cluster mode), carried out
/// by the controller's leader (body: [`crate::controller::PromoteRequest`]).
pub const PROMOTE: u8 = 7;
/// A PUBLISH relayed from the node a client published on, delivered to
/// this node's subscribers only (body: `bytes` channel, `bytes` message).
pub const PUBLISH: u8 = 8;
/// A node restarted on other addresses asks the controller's leader to
/// record them (body: [`crate::controller::ReaddressRequest`]; answer the
/// new map epoch).
pub const READDRESS: u8 = 9;
/// A slot migration's next step, carried out by the controller's leader
/// (body: [`crate::controller::migrate::MigrateRequest`]; answer the new
/// map epoch).
pub const MIGRATE: u8 = 10;
/// A migration's copy: the next chunk of the slots from a checkpoint of one
/// of the source's partitions (binary, answered by the owning core).
pub const MIGRATE_COPY: u8 = 11;
/// A migration's catch-up: the source partition's batches after a position
/// (binary, answered by the owning core).
pub const MIGRATE_PULL: u8 = 12;
/// A migration's fence: the source partition's last record once no write
/// to the slots can be staged any more (binary, answered by the owning core).
pub const MIGRATE_FENCED: u8 = 13;
/// Adds a node to the cluster, on the leader (body:
/// [`crate::controller::MembershipRequest`] with `Change::AddNode`; answer
/// the new map epoch). The node must have joined the cluster (JOIN).
pub const ADD_NODE: u8 = 14;
/// Removes a node that serves no slot, on the leader (body:
/// [`crate::controller::MembershipRequest`] with `Change::RemoveNode`).
pub const REMOVE_NODE: u8 = 15;
/// Keys per slot this node stores (binary: `u32` n, n × (`u16` slot, `u64`
/// keys)), answered by the core, gathering every core's partitions: what
/// `rebalance` weighs slots by.
pub const SLOT_KEYS: u8 = 16;

/// The largest reply a Raft message may get (a snapshot of a map is far
/// smaller).
const MAX_REPLY: usize = 64 << 20;

#[derive(Serialize, Deserialize, Debug)]
pub struct Envelope {
    pub format: u32,
    pub cluster_id: String,
    pub from: u64,
    pub to: u64,
    pub rpc: Rpc,
}

#[derive(Serialize, Deserialize, Debug)]
pub enum Rpc {
    Append(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<u64>),
    Snapshot(InstallSnapshotRequest<TypeConfig>),
}

/// What the addressee answers: openraft's reply, or why the message was
/// refused before reaching Raft.
#[derive(Serialize, Deserialize, Debug)]
pub enum Reply<T, E> {
    Ok(T),
    Raft(E),
    Refused(String),
}

/// A link's stream: TCP, or TLS over it with `tls-cluster`.
pub trait LinkIo: AsyncRead + AsyncWrite + Unpin + Send + Sync {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync> LinkIo for T {}

/// A kept connection to a node.
pub type Link = Box<dyn LinkIo>;

/// Sends one `CLUSTER` request over a fresh or kept connection and returns
/// the reply body (the error text of an error reply).
pub async fn call(
    conn: &mut Option<Link>,
    addr: &str,
    action: u8,
    body: &[u8],
) -> Result<Result<Vec<u8>, String>, std::io::Error> {
    call_request(conn, addr, &Request::Cluster { action, body }).await
}

/// The ACL user and password this node's cluster links authenticate as
/// (`replica-user`, `replica-pass-file`), set once at start.
static LINK_CREDENTIALS: std::sync::RwLock<Option<(Vec<u8>, Vec<u8>)>> =
    std::sync::RwLock::new(None);

pub fn set_link_credentials(c: Option<(Vec<u8>, Vec<u8>)>) {
    *LINK_CREDENTIALS.write().unwrap_or_else(|p| p.into_inner()) = c;
}

fn link_credentials() -> Option<(Vec<u8>, Vec<u8>)> {
    LINK_CREDENTIALS
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
}

/// The TLS client configuration this node's cluster links use
/// (`tls-cluster`), set once at start; `None` = plain TCP.
static LINK_TLS: std::sync::RwLock<Option<Arc<rustls::ClientConfig>>> =
    std::sync::RwLock::new(None);

pub fn set_link_tls(c: Option<Arc<rustls::ClientConfig>>) {
    *LINK_TLS.write().unwrap_or_else(|p| p.into_inner()) = c;
}

/// Connects to `sa`: TCP with no delay, then the TLS handshake when the
/// links use TLS (the peer's certificate is checked against the IP address
/// dialled, as the replication links check it).
async fn connect(sa: SocketAddr) -> Result<Link, std::io::Error> {
    let s = TcpStream::connect(sa).await?;
    s.set_nodelay(true)?;
    let tls = LINK_TLS.read().unwrap_or_else(|p| p.into_inner()).clone();
    let Some(config) = tls else {
        return Ok(Box::new(s));
    };
    let name = rustls::pki_types::ServerName::IpAddress(sa.ip().into());
    let s = tokio_rustls::TlsConnector::from(config)
        .connect(name, s)
        .await
        .map_err(|e| std::io::Error::other(format!("TLS handshake with {sa}: {e}")))?;
    Ok(Box::new(s))
}

/// Sends any request over a fresh or kept connection.
pub async fn call_request(
    conn: &mut Option<Link>,
    addr: &str,
    req: &Request<'_>,
) -> Result<Result<Vec<u8>, String>, std::io::Error> {
    if conn.is_none() {
        let sa: SocketAddr = addr.parse().map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("bad address {addr}"),
            )
        })?;
        let mut s = connect(sa).await?;
        if let Some((user, pass)) = link_credentials() {
            if let Err(e) = exchange(
                &mut s,
                &Request::Auth {
                    user: &user,
                    pass: &pass,
                },
            )
            .await?
            {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    format!("{addr} refused this node's credentials (replica-user): {e}"),
                ));
            }
        }
        *conn = Some(s);
    }
    let Some(s) = conn.as_mut() else {
        unreachable!("connected above")
    };
    let r = exchange(s, req).await;
    if r.is_err() {
        *conn = None;
    }
    r
}

async fn exchange(
    s: &mut Link,
    req: &Request<'_>,
) -> Result<Result<Vec<u8>, String>, std::io::Error> {
    let mut out = Vec::new();
    req.encode(1, &mut out);
    s.write_all(&out).await?;
    let mut buf = Vec::with_capacity(4096);
    loop {
        match frame::check(&buf, MAX_REPLY) {
            Ok(Some(info)) => {
                let b = info.body(&buf);
                return Ok(if info.kind == frame::STATUS_OK {
                    Ok(b.to_vec())
                } else {
                    let e = decode_error(b);
                    Err(format!("{}: {}", e.code.name(), e.message))
                });
            }
            Ok(None) => {}
            Err(e) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    e.to_string(),
                ))
            }
        }
        let mut chunk = [0u8; 16 << 10];
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Makes one [`Peer`] per target node.
pub struct Network {
    pub(crate) shared: Arc<Shared>,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Peer;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> Peer {
        Peer {
            shared: self.shared.clone(),
            target,
            addr: node.addr.clone(),
            conn: None,
        }
    }
}

/// The connection to one node.
pub struct Peer {
    shared: Arc<Shared>,
    target: u64,
    addr: String,
    conn: Option<Link>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Text(String);

impl Peer {
    async fn send<T: DeserializeOwned, E: DeserializeOwned + std::error::Error>(
        &mut self,
        rpc: Rpc,
        ttl: Duration,
    ) -> Result<T, RPCError<u64, BasicNode, E>> {
        let env = Envelope {
            format: RPC_FORMAT,
            cluster_id: self.shared.cluster_id().unwrap_or_default(),
            from: self.shared.me,
            to: self.target,
            rpc,
        };
        let body =
            serde_json::to_vec(&env).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let reply = tokio::time::timeout(ttl, call(&mut self.conn, &self.addr, RAFT, &body)).await;
        let bytes = match reply {
            Err(_) => {
                self.conn = None;
                return Err(RPCError::Network(NetworkError::new(&Text(format!(
                    "no answer from {} within {ttl:?}",
                    self.addr
                )))));
            }
            // Unreachable makes openraft back off before it retries.
            Ok(Err(e)) => return Err(RPCError::Unreachable(Unreachable::new(&e))),
            Ok(Ok(Err(text))) => return Err(RPCError::Network(NetworkError::new(&Text(text)))),
            Ok(Ok(Ok(b))) => b,
        };
        match serde_json::from_slice::<Reply<T, E>>(&bytes) {
            Ok(Reply::Ok(t)) => Ok(t),
            Ok(Reply::Raft(e)) => Err(RPCError::RemoteError(RemoteError::new(self.target, e))),
            Ok(Reply::Refused(why)) => Err(RPCError::Network(NetworkError::new(&Text(format!(
                "{} refused: {why}",
                self.addr
            ))))),
            Err(e) => Err(RPCError::Network(NetworkError::new(&e))),
        }
    }
}

impl RaftNetwork<TypeConfig> for Peer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        self.send(Rpc::Append(rpc), option.hard_ttl()).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<u64>,
        RPCError<u64, BasicNode, RaftError<u64, InstallSnapshotError>>,
    > {
        self.send(Rpc::Snapshot(rpc), option.hard_ttl()).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        self.send(Rpc::Vote(rpc), option.hard_ttl()).await
    }
}
