//! What libsoup 3.2 does not bound, bounded from below: the TCP socket of each connection.
//!
//! libsoup 3.2 checks `max-incoming-payload-size` per frame only, so continuation frames
//! without a final one grow a message without limit (fixed upstream in 3.7 with
//! `max-total-message-size`); it queues outgoing frames for a peer that never reads without
//! limit, and has no handshake timeout. The kernel's byte counters and the socket's
//! writability tell what libsoup does not.

use gio::prelude::*;

/// Bytes the kernel has received on a TCP socket so far (`tcpi_bytes_received`, Linux 4.1+).
pub fn bytes_received(socket: &gio::Socket) -> Option<u64> {
    // The kernel's struct tcp_info up to tcpi_bytes_received (libc's copy stops earlier).
    #[repr(C)]
    #[derive(Default)]
    struct TcpInfo {
        flags: [u8; 8],
        counters: [u32; 24],
        pacing_rate: u64,
        max_pacing_rate: u64,
        bytes_acked: u64,
        bytes_received: u64,
    }
    // A socket libsoup has closed has no descriptor any more (and `Socket::fd` would panic).
    if socket.is_closed() {
        return None;
    }
    let fd = std::os::fd::AsRawFd::as_raw_fd(socket);
    if fd < 0 {
        return None;
    }
    let mut info = TcpInfo::default();
    let mut len = std::mem::size_of::<TcpInfo>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `info`, which we own and sized.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut TcpInfo).cast(),
            &mut len,
        )
    };
    (rc == 0 && len as usize >= std::mem::size_of::<TcpInfo>()).then_some(info.bytes_received)
}

/// Whether the socket could take more data now.
pub fn writable(socket: &gio::Socket) -> bool {
    SocketExt::condition_check(socket, glib::IOCondition::OUT).contains(glib::IOCondition::OUT)
}

/// Ends the connection at once, under libsoup: it sees the end of the stream and closes.
pub fn abort(socket: &gio::Socket) {
    let _ = socket.shutdown(true, true);
}

/// Gives freed memory back to the system (glibc keeps it after a burst of connections).
pub fn trim_memory() {
    // SAFETY: malloc_trim only walks glibc's own arenas.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn the_kernel_counts_what_a_socket_received() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let socket = gio::Socket::from_fd(std::os::fd::OwnedFd::from(server)).expect("a GSocket");
        let before = bytes_received(&socket).expect("TCP_INFO");
        client.write_all(&[7u8; 5000]).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
        let after = bytes_received(&socket).expect("TCP_INFO");
        assert_eq!(after - before, 5000);
        assert!(writable(&socket));
        // Closed under us (as libsoup does when a connection ends): no count, no panic.
        socket.close().unwrap();
        assert_eq!(bytes_received(&socket), None);
        assert!(!writable(&socket));
        abort(&socket);
    }
}
