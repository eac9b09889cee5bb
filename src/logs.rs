//! The node's logging: `tracing` lines to stderr (the journal under
//! systemd), filtered by `RUST_LOG` when set, else by `log-level`. The
//! filter can be replaced while the node runs (CONFIG SET log-level).

use std::sync::{Mutex, OnceLock};

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Registry};

/// The running filter's handle and the directives it was made from.
struct Live {
    handle: reload::Handle<EnvFilter, Registry>,
    directives: Mutex<String>,
}

static LIVE: OnceLock<Live> = OnceLock::new();

/// openraft's own lines are kept to errors unless the filter names
/// openraft: at info and warn it reports every election step and every
/// message it ignores after a membership or vote change, which is its
/// normal work (Tessera logs the cluster's events itself).
fn filter(directives: &str) -> Result<EnvFilter, String> {
    let full = match directives.contains("openraft") {
        true => directives.to_string(),
        false => format!("{directives},openraft=error"),
    };
    EnvFilter::try_new(full).map_err(|e| e.to_string())
}

/// Starts logging with `RUST_LOG`, or `level` when it is unset.
pub fn init(level: &str) -> Result<(), String> {
    let (directives, from) = match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => (v, "RUST_LOG"),
        _ => (level.to_string(), "log-level"),
    };
    let f = filter(&directives).map_err(|e| format!("invalid {from} {directives:?}: {e}"))?;
    let (layer, handle) = reload::Layer::new(f);
    tracing_subscriber::registry()
        .with(layer)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(false),
        )
        .try_init()
        .map_err(|e| format!("cannot start logging: {e}"))?;
    let _ = LIVE.set(Live {
        handle,
        directives: Mutex::new(directives),
    });
    Ok(())
}

/// The filter in force (empty when logging was not started here).
pub fn level() -> String {
    LIVE.get()
        .map(|l| l.directives.lock().map(|d| d.clone()).unwrap_or_default())
        .unwrap_or_default()
}

/// Checks a filter without applying it (and that there is a filter to
/// replace: a server run inside another program's process has none).
pub fn check(directives: &str) -> Result<(), String> {
    if LIVE.get().is_none() {
        return Err("this process's logging was not started by tessera serve".into());
    }
    filter(directives).map(drop)
}

/// Replaces the filter for every thread.
pub fn set_level(directives: &str) -> Result<(), String> {
    let f = filter(directives)?;
    let live = LIVE
        .get()
        .ok_or("logging was not started by this process")?;
    live.handle.reload(f).map_err(|e| e.to_string())?;
    if let Ok(mut d) = live.directives.lock() {
        *d = directives.to_string();
    }
    Ok(())
}
