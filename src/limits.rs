//! What this process may open, and how many peers that allows.
//!
//! Each peer connection costs about 14 file handles (sockets, GLib wakeup pipes, files) and 6
//! threads; the usual soft limit of 1,024 handles is reached by about 70 peers, and GLib then
//! aborts the whole process ("Creating pipes for GWakeup: Too many open files"). The soft
//! limit is raised to the hard one at start, and the room takes no more peers than fit.

/// Handles one peer costs, with room to spare (measured: about 14).
pub const HANDLES_PER_PEER: u64 = 24;
/// Handles kept for everything else (the window, the signaling socket, files being merged).
pub const HANDLES_RESERVED: u64 = 200;
/// Peers at most, whatever the limit: beyond this a two-core machine cannot keep up anyway.
pub const MAX_PEERS: usize = 48;

/// The open-file limit (soft, hard), `None` when it cannot be read.
fn open_file_limit() -> Option<libc::rlimit> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own; RLIMIT_NOFILE is a valid resource.
    (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0).then_some(limit)
}

/// The soft open-file limit in force (1,024, the usual one, when it cannot be read).
pub fn open_files_allowed() -> u64 {
    open_file_limit().map_or(1024, |limit| limit.rlim_cur)
}

/// Raises the soft open-file limit to the hard one; returns the soft limit now in force.
pub fn raise_open_file_limit() -> u64 {
    let Some(limit) = open_file_limit() else {
        return 1024;
    };
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit only reads the struct; lowering nothing, raising to the hard limit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            tracing::debug!(
                "open-file limit raised from {} to {}",
                limit.rlim_cur,
                limit.rlim_max
            );
            return limit.rlim_max;
        }
    }
    limit.rlim_cur
}

/// How many peers fit in `handles` open files.
pub fn peers_for(handles: u64) -> usize {
    let fit = handles.saturating_sub(HANDLES_RESERVED) / HANDLES_PER_PEER;
    (fit as usize).clamp(1, MAX_PEERS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_fit_in_the_limit_and_never_exceed_the_cap() {
        assert_eq!(peers_for(1024), 34);
        assert!(peers_for(1024) as u64 * 14 + HANDLES_RESERVED < 1024);
        assert_eq!(peers_for(20_000), MAX_PEERS);
        assert_eq!(peers_for(0), 1);
    }
}
