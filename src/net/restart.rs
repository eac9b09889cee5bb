//! A restart in place that the node asks for itself (docs/cluster.md,
//! "Data placement inside a node"): `run` stops the node cleanly, then
//! replaces the process image with the same binary and arguments.

/// Restarts this process asked for itself, with why.
pub(super) fn restarts() -> &'static (flume::Sender<String>, flume::Receiver<String>) {
    static RESTARTS: std::sync::OnceLock<(flume::Sender<String>, flume::Receiver<String>)> =
        std::sync::OnceLock::new();
    RESTARTS.get_or_init(|| flume::bounded(1))
}

/// Asks the server's `run` to stop the node cleanly and start it again in place: the
/// same process id, binary and arguments (an empty replica that took its
/// primary's slot layout opens it so). A node started with `start` alone
/// never restarts.
pub fn request_restart(why: String) {
    let _ = restarts().0.try_send(why);
}

/// Replaces this process's image with a fresh start of the same binary
/// and arguments; returns only if that failed, with why.
pub(super) fn exec_again() -> std::io::Error {
    use std::os::unix::process::CommandExt;
    let mut args = std::env::args_os();
    let mut cmd = std::process::Command::new("/proc/self/exe");
    if let Some(arg0) = args.next() {
        cmd.arg0(arg0);
    }
    cmd.args(args).exec()
}
