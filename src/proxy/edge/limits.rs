//! The file-descriptor budget: raises the soft open-file limit to the hard limit at start-up
//! and keeps a reserve for upstream connections, health checks and the admin listener, so
//! client connections can never starve them.

/// The descriptor budget worked out at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// The soft open-file limit after raising it.
    pub nofile: u64,
    /// Descriptors kept back from clients.
    pub reserve: u64,
    /// Client connections admitted at once: `min(max_connections, nofile - reserve)`.
    pub connections: usize,
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; returns the soft limit in force.
pub fn raise_nofile() -> std::io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim.rlim_cur = lim.rlim_max;
        }
    }
    Ok(lim.rlim_cur)
}

/// The budget for `max_connections` under a soft limit of `nofile`, reserving descriptors for
/// `upstream_pool` idle upstream connections, `upstreams` health-checked servers and
/// `threads` workers' in-flight upstream connections, plus the admin side and the process.
pub fn budget(
    max_connections: usize,
    nofile: u64,
    upstream_pool: usize,
    upstreams: usize,
    threads: usize,
) -> Budget {
    // Process basics (logs, listeners, epoll, pipes) and the admin listener's clients.
    let fixed = 64;
    // One upstream connection per proxied in-flight request is bounded by the client
    // connections themselves; a tenth of the limit keeps room for those that overlap.
    let proportional = nofile / 10;
    let reserve =
        fixed + proportional + upstream_pool as u64 + 2 * upstreams as u64 + 4 * threads as u64;
    let room = nofile.saturating_sub(reserve).max(1);
    Budget {
        nofile,
        reserve,
        connections: (max_connections as u64).min(room) as usize,
    }
}

#[cfg(test)]
mod tests {
    use super::budget;

    #[test]
    fn the_reserve_comes_off_the_file_limit() {
        let b = budget(10_000, 2048, 128, 3, 2);
        assert_eq!(b.reserve, 64 + 204 + 128 + 6 + 8);
        assert_eq!(b.connections, 2048 - 410);
        assert_eq!(budget(100, 1 << 20, 128, 3, 2).connections, 100);
        assert_eq!(budget(100, 10, 128, 3, 2).connections, 1);
    }
}
