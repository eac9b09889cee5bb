//! Process limits and CPU affinity (libc), kept out of the reactors.

// Raw libc calls (affinity, rlimits), each with its SAFETY comment.
#![allow(unsafe_code)]

use std::io;

/// The CPUs in this process's affinity mask, so `taskset` decides the cores.
pub fn affinity_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity fills it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return vec![0];
        }
        let cpus: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect();
        if cpus.is_empty() {
            vec![0]
        } else {
            cpus
        }
    }
}

/// Raises a soft (and, when allowed, hard) limit to at least `want`.
/// Returns the soft limit in force afterwards.
fn raise(resource: libc::__rlimit_resource_t, want: u64) -> io::Result<u64> {
    // SAFETY: getrlimit/setrlimit only read and write the struct given.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(resource, &mut lim) != 0 {
            return Err(io::Error::last_os_error());
        }
        if lim.rlim_cur != libc::RLIM_INFINITY && lim.rlim_cur < want {
            let mut new = lim;
            new.rlim_cur = want;
            if lim.rlim_max != libc::RLIM_INFINITY && lim.rlim_max < want {
                new.rlim_max = want;
            }
            if libc::setrlimit(resource, &new) != 0 {
                // Not privileged: take what the hard limit allows.
                new.rlim_cur = lim.rlim_max.min(want);
                new.rlim_max = lim.rlim_max;
                if libc::setrlimit(resource, &new) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
        }
        if libc::getrlimit(resource, &mut lim) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(lim.rlim_cur)
    }
}

/// Why the process limits stay too low to run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LimitError {
    #[error("getrlimit({which}): {source}")]
    Syscall {
        which: &'static str,
        source: io::Error,
    },
    #[error(
        "RLIMIT_MEMLOCK is {got} bytes and cannot be raised; {cores} cores need at least {need}: \
         run `ulimit -l {}` or set LimitMEMLOCK= in the service unit",
        need / 1024
    )]
    Memlock { got: u64, cores: usize, need: u64 },
    #[error(
        "RLIMIT_NOFILE is {got} and cannot be raised to {need}: run `ulimit -n 65536` \
         or set LimitNOFILE= in the service unit"
    )]
    Nofile { got: u64, need: u64 },
}

/// Raises RLIMIT_MEMLOCK (io_uring buffers) and RLIMIT_NOFILE (C2000
/// connections plus RocksDB files). Fails with the exact setting to change
/// when the limits stay too low for `cores`.
pub fn raise_limits(cores: usize) -> Result<(), LimitError> {
    // Each reactor locks its rings and a small io_memory area.
    let need: u64 = (cores as u64) * (1 << 20);
    let got = raise(libc::RLIMIT_MEMLOCK, 512 << 20).map_err(|source| LimitError::Syscall {
        which: "MEMLOCK",
        source,
    })?;
    if got != libc::RLIM_INFINITY && got < need {
        return Err(LimitError::Memlock { got, cores, need });
    }
    let need: u64 = 4096;
    let got = raise(libc::RLIMIT_NOFILE, 65536).map_err(|source| LimitError::Syscall {
        which: "NOFILE",
        source,
    })?;
    if got < need {
        return Err(LimitError::Nofile { got, need });
    }
    Ok(())
}
