//! Blocking pops (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH) on the core owning
//! their keys: registered on the keys (`waiters.rs`), woken by writes to
//! them.

use std::rc::Rc;
use std::time::Instant;

use super::Core;
use crate::cmd;
use crate::codes::WireError;
use crate::proto::command::NamedCommand;
use crate::shard::clock::now_ms;
use crate::sync::Notify;

impl Core {
    /// BLPOP/BRPOP/BLMOVE on the core owning the keys: pops now if any list
    /// has an element, else waits for a write to one of the keys, the
    /// timeout (0 = none) or shutdown. The pop and the timeout are decided
    /// here, so an element is either returned or left in the list.
    pub(super) async fn blocking_pop(
        &self,
        timeout_ms: u64,
        left: bool,
        keys: &[&[u8]],
        dest: Option<(&[u8], bool)>,
    ) -> Result<(Option<(Vec<u8>, Vec<u8>)>, Option<(u32, u64)>), WireError> {
        let mut all: Vec<&[u8]> = keys.to_vec();
        all.extend(dest.map(|d| d.0));
        let slot = cmd::common_slot(&all)?;
        let deadline =
            (timeout_ms > 0).then(|| Instant::now() + std::time::Duration::from_millis(timeout_ms));
        let side: &[u8] = if left { b"LEFT" } else { b"RIGHT" };
        let me = Rc::new(Notify::default());
        let _registered = self.waiters.block_on(keys, &me);
        loop {
            // Cluster mode: the slot moved away while this pop waited (a
            // migration's flip, a failover): the client goes to the owner.
            if let Some(e) = self.cluster.as_ref().and_then(|cl| cl.moved_away(slot)) {
                return Err(e);
            }
            for key in keys {
                let words: Vec<&[u8]> = match dest {
                    None => vec![if left { b"LPOP" } else { b"RPOP" }, key],
                    Some((d, to_left)) => {
                        vec![
                            b"LMOVE",
                            key,
                            d,
                            side,
                            if to_left { b"LEFT" } else { b"RIGHT" },
                        ]
                    }
                };
                let (mut r, group) = self
                    .run_named(&[NamedCommand::new(words)], now_ms())
                    .await?;
                if let Some((_, cmd::Value::Bytes(v))) = r.pop() {
                    return Ok((Some((key.to_vec(), v)), group));
                }
            }
            let wait = me.wait(true);
            let stop = self.shutdown.wait(false);
            let timer = async {
                match deadline {
                    Some(d) => {
                        glommio::timer::sleep(d.saturating_duration_since(Instant::now())).await
                    }
                    None => futures::future::pending::<()>().await,
                }
            };
            use futures::future::{select, Either};
            let woke = {
                let wait = std::pin::pin!(wait);
                let stop = std::pin::pin!(stop);
                let timer = std::pin::pin!(timer);
                match select(wait, select(stop, timer)).await {
                    Either::Left(_) => true,
                    Either::Right(_) => false,
                }
            };
            if !woke {
                return Ok((None, None));
            }
        }
    }
}
