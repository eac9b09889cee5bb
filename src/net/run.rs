//! `run`: a node's life as the `tessera serve` command lives it: start,
//! the ready line, the watchdog, then a clean stop on a signal, or a
//! restart in place when the node asks for one (`restart.rs`).

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use futures::future::{select, Either};

use super::health;
use super::restart::{exec_again, restarts};
use super::server::{start, ServerError};
use crate::config::Config;

/// Starts a node, prints the ready line, runs until `shutdown` resolves,
/// then drains and stops it.
pub fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), ServerError> {
    let handle = start(config)?;
    let line = handle.ready_line();
    tracing::info!("{line}");
    // Whoever started the node may have stopped reading its stdout (after
    // this line, before a restart in place prints it again): never fatal.
    use std::io::Write;
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
    health::ready(&line);
    let sighup = crate::tls::reload_on_sighup(handle.tls.clone()).map_err(ServerError::Setup)?;
    let stop_watchdog = Arc::new(AtomicBool::new(false));
    let watchdog = match health::watchdog_interval() {
        Some(interval) => Some(
            health::spawn_watchdog(handle.health.clone(), interval, stop_watchdog.clone())
                .map_err(|e| {
                    ServerError::Setup(format!("cannot start the watchdog thread: {e}"))
                })?,
        ),
        None => None,
    };
    let restart = restarts().1.clone();
    // A restart keeps the shutdown signal's future: a signal that arrives
    // while the node stops for it wins (the process then exits).
    let (why, signal) = futures::executor::block_on(async {
        match select(Box::pin(shutdown), pin!(restart.recv_async())).await {
            Either::Left(_) => (None, None),
            Either::Right((why, signal)) => (why.ok(), Some(signal)),
        }
    });
    match &why {
        Some(why) => {
            tracing::info!(
                "restarting in place ({why}): draining connections, committing, syncing the WAL"
            );
            health::status(&format!("restarting: {why}"));
        }
        None => {
            tracing::info!("shutting down: draining connections, committing, syncing the WAL");
            health::stopping();
        }
    }
    stop_watchdog.store(true, Ordering::Relaxed);
    if let Some(w) = watchdog {
        let _ = w.join();
    }
    sighup.close();
    handle.shutdown();
    let r = handle.join();
    match &r {
        Ok(()) => tracing::info!("stopped"),
        Err(e) => tracing::error!("stopped with an error: {e}"),
    }
    let signalled = signal.is_some_and(|s| futures::FutureExt::now_or_never(s).is_some());
    match (r, why) {
        (Ok(()), Some(_)) if !signalled => Err(ServerError::Setup(format!(
            "cannot restart in place: {}",
            exec_again()
        ))),
        (r, _) => r,
    }
}
