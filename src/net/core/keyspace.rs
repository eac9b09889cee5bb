//! Whole-partition work of a core: BACKUP (a checkpoint of every
//! partition, taken by core 0 with every core held) and SCAN pages, both
//! in the blocking pool.

use futures::channel::oneshot;

use crate::codes::{ErrorCode, WireError};
use crate::net::mesh::CrossMsg;
use crate::proto::hello::cursor;
use crate::shard::{self, backup};

use super::{wire, Core};

impl Core {
    /// BACKUP, sent to every core: core 0 takes it for the whole node and
    /// the others answer 0. It holds every core (no commit across
    /// partitions starts), waits out the commits under way (so each
    /// partition's copy agrees on each commit: docs/operations.md,
    /// "Backups"), checkpoints every partition, ends the holds, then
    /// settles the copies' journals and writes the function libraries and
    /// the manifest, off the reactor. Returns the partitions done.
    pub(super) async fn backup(&self, dir: &[u8]) -> Result<u64, WireError> {
        if self.id != 0 {
            return Ok(0);
        }
        let bad = |m: String| WireError::new(ErrorCode::BadArguments, m);
        let dir = std::str::from_utf8(dir)
            .map_err(|_| bad("the backup directory is not UTF-8".into()))?;
        let target = backup::check_target(
            self.config.backup_root.as_deref(),
            std::path::Path::new(dir),
        )
        .map_err(wire)?;
        let all: Vec<u32> = (0..self.topo.partitions()).collect();
        backup::check_free(&target, &all, true).map_err(wire)?;
        let cores = self.topo.cores() as usize;
        let every = (0..cores).map(|c| (c, Vec::new())).collect();
        let (held, _) = self.hold_cores(every, 0, 0).await?;
        let mut settled = Vec::new();
        for c in (0..cores).filter(|&c| c != self.id) {
            let (reply, rx) = oneshot::channel();
            self.mesh.send_cross(c, CrossMsg::Settle { reply });
            settled.push(rx);
        }
        self.hold.commits_settled().await;
        for rx in settled {
            let _ = rx.await;
        }
        let mut copied = Vec::new();
        for c in (0..cores).filter(|&c| c != self.id) {
            let (reply, rx) = oneshot::channel();
            let target = target.clone();
            self.mesh
                .send_cross(c, CrossMsg::Checkpoint { target, reply });
            copied.push(rx);
        }
        let mut n = self.checkpoint_local(&target).await;
        for rx in copied {
            let r = rx.await.unwrap_or_else(|_| {
                Err(WireError::new(
                    ErrorCode::Internal,
                    "a core stopped during BACKUP",
                ))
            });
            n = match (n, r) {
                (Ok(a), Ok(b)) => Ok(a + b),
                (Err(e), _) | (_, Err(e)) => Err(e),
            };
        }
        drop(held);
        let n = n?;
        let (data, to) = (self.config.data_dir.clone(), target.clone());
        // The function libraries as they are now, beside the partitions.
        let libs = self.config.scripting.libraries();
        let functions = (!libs.is_empty()).then(|| libs.dump());
        glommio::executor()
            .spawn_blocking(move || {
                for p in all {
                    shard::partition::journal::settle_copy(&backup::partition_target(&to, p))?;
                }
                if let Some(payload) = functions {
                    crate::cmd::function::save(&to, &payload)
                        .map_err(|e| shard::Error::io(format!("write {}", to.display()), e))?;
                }
                backup::write_manifest(&data, &to)
            })
            .await
            .map_err(wire)?;
        tracing::info!(partitions = n, "backup written to {}", target.display());
        Ok(n)
    }

    /// One SCAN page within the partition of the cursor's slot.
    /// In database 1 and up a cursor names a slot of the partition being
    /// scanned (its first), whose database space is read.
    pub(super) async fn scan(
        &self,
        db: u16,
        c: u64,
        count: u32,
        prefix: &[u8],
        now: u64,
    ) -> Result<(u64, Vec<Vec<u8>>), WireError> {
        let slot = cursor::slot(c);
        let token = cursor::token(c);
        let part = self.part_of_slot(slot)?;
        let space = shard::space::space(db, slot);
        let after = if token == 0 {
            None
        } else {
            // An unknown token restarts the slot: keys may repeat, none is skipped.
            self.scan_tokens
                .borrow()
                .get(&token)
                .filter(|k| k.len() >= 2 && k[..2] == space.to_be_bytes())
                .cloned()
        };
        let count = count.clamp(1, 100_000) as usize;
        crate::drain::settle(part).await;
        let (prefix, first) = (prefix.to_vec(), part.slots().first);
        let page = part.scan_fn(db, slot, after, prefix, count, now);
        let page = glommio::executor()
            .spawn_blocking(page)
            .await
            .map_err(wire)?;
        // Database 1 and up: the cursor names the partition's first slot.
        let resume_slot = |s: u16| if db == 0 { s } else { first };
        let next = match page.resume {
            Some((s, Some(last))) => {
                // Tokens differ per core so a cursor never names another core's entry.
                let mut tokens = self.scan_tokens.borrow_mut();
                let t = (((tokens.next_seq() << 8) | self.id as u64) & cursor::TOKEN_MASK).max(1);
                tokens.insert(t, last);
                cursor::make(resume_slot(s), t)
            }
            Some((s, None)) => cursor::make(resume_slot(s), 0),
            None => match part.slots().next_partition {
                Some(first) => cursor::make(first, 0),
                None => 0,
            },
        };
        Ok((next, page.keys))
    }

    /// DBSIZE of database `db` (1 and up) on this core: its live keys,
    /// counted (O(N)) after a drain.
    pub(super) async fn count_db(&self, db: u16, now: u64) -> Result<u64, WireError> {
        let mut n = 0;
        for part in &self.local {
            crate::drain::settle(part).await;
            n += glommio::executor()
                .spawn_blocking(part.count_db_fn(db, now))
                .await
                .map_err(wire)?;
        }
        Ok(n)
    }

    /// SWAPDB on this core: each partition exchanges the two databases'
    /// keys in one transaction (O(N), reading RocksDB on the reactor; the
    /// cores do not swap at one instant). Returns the keys moved.
    pub(super) fn swap_dbs(
        &self,
        a: u16,
        b: u16,
        now: u64,
        writes: &mut super::Writes,
    ) -> Result<u64, WireError> {
        let bad = |m: &str| WireError::new(ErrorCode::BadArguments, m);
        if self.cluster.is_some() {
            return Err(bad("SWAPDB is not allowed in cluster mode"));
        }
        let valid = |d: u16| shard::space::checked(i64::from(d)).is_some();
        if !valid(a) || !valid(b) {
            return Err(bad("DB index is out of range"));
        }
        let mut moved = 0;
        if a == b {
            return Ok(0);
        }
        for part in &self.local {
            // Keys, records and writes in one step: nothing runs between.
            part.allow_disk(true);
            let swapped = (|| {
                let (ka, kb) = (part.keys_of_db(a)?, part.keys_of_db(b)?);
                let mut tx = shard::tx::Tx::in_db(part, 0, 0, now);
                let n = tx.swap_dbs((a, &ka), (b, &kb), &crate::slot::key_slot)?;
                Ok::<_, shard::Error>((n, tx.commit(), ka, kb))
            })();
            part.allow_disk(false);
            let (n, group, ka, kb) = swapped.map_err(wire)?;
            moved += n;
            if let Some(g) = group {
                writes.push((part.id(), g));
                // Blocked pops of either database look again.
                let keys: Vec<&[u8]> = ka.iter().chain(&kb).map(|(_, k)| k.as_slice()).collect();
                self.waiters.wake(&keys);
            }
        }
        Ok(moved)
    }
}
