//! What libsoup 3.2 does not bound, bounded from below: the TCP socket of each connection.
//!
//! libsoup 3.2 checks `max-incoming-payload-size` per frame only, so continuation frames
//! without a final one grow a message without limit (fixed upstream in 3.7 with
//! `max-total-message-size`); it queues outgoing frames for a peer that never reads without
//! limit, and has no handshake timeout. The kernel's byte counters and the socket's
//! writability tell what libsoup does not.

use gio::prelude::*;

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

/// A watch on one connection, from a thread of its own: when more than `limit` bytes arrive
/// without a whole message (the main loop reports each one through [`MessageWatch::seen`]),
/// the socket is shut down. It must not depend on the main loop, which libsoup can keep busy
/// reading that very message. It works on a duplicate of the descriptor, so it never touches
/// another socket that reuses the number after libsoup closed this one.
#[derive(Debug)]
pub struct MessageWatch {
    baseline: std::sync::Arc<std::sync::atomic::AtomicU64>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl MessageWatch {
    pub fn start(socket: &gio::Socket, limit: u64) -> Option<MessageWatch> {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        if socket.is_closed() {
            return None;
        }
        let raw = std::os::fd::AsRawFd::as_raw_fd(socket);
        if raw < 0 {
            return None;
        }
        // SAFETY: `raw` is the open descriptor of a socket we hold a reference to; dup gives a
        // new descriptor that this watch owns and closes.
        let dup = unsafe { libc::dup(raw) };
        if dup < 0 {
            return None;
        }
        // SAFETY: `dup` was just returned by dup(2) and is owned by nobody else.
        let owned = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(dup) };
        let baseline = Arc::new(AtomicU64::new(bytes_received_fd(dup).unwrap_or(0)));
        let stop = Arc::new(AtomicBool::new(false));
        let cut = Arc::new(AtomicBool::new(false));
        let watch = MessageWatch {
            baseline: baseline.clone(),
            stop: stop.clone(),
            cut: cut.clone(),
        };
        let spawned = std::thread::Builder::new()
            .name("message-watch".into())
            .spawn(move || {
                let fd = std::os::fd::AsRawFd::as_raw_fd(&owned);
                while !stop.load(Ordering::Relaxed) {
                    let Some(received) = bytes_received_fd(fd) else {
                        break;
                    };
                    if received.saturating_sub(baseline.load(Ordering::Relaxed)) > limit {
                        cut.store(true, Ordering::Relaxed);
                        // SAFETY: our own duplicate; shutdown ends the connection for libsoup
                        // too (it sees the end of the stream).
                        unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
            });
        spawned.ok().map(|_| watch)
    }

    /// A whole message arrived: what came before it was not an unfinished one.
    pub fn seen(&self, socket: &gio::Socket) {
        if let Some(received) = bytes_received(socket) {
            self.baseline
                .store(received, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Whether the watch cut the connection.
    pub fn cut(&self) -> bool {
        self.cut.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for MessageWatch {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Bytes the kernel has received on a TCP socket so far (`tcpi_bytes_received`, Linux 4.1+).
pub fn bytes_received(socket: &gio::Socket) -> Option<u64> {
    // A socket libsoup has closed has no descriptor any more (and `Socket::fd` would panic).
    if socket.is_closed() {
        return None;
    }
    bytes_received_fd(std::os::fd::AsRawFd::as_raw_fd(socket))
}

fn bytes_received_fd(fd: std::os::fd::RawFd) -> Option<u64> {
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
    fn the_watch_cuts_a_connection_past_its_limit_without_a_main_loop() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let socket = gio::Socket::from_fd(std::os::fd::OwnedFd::from(server)).expect("a GSocket");
        let watch = MessageWatch::start(&socket, 10_000).expect("a watch");
        client.write_all(&[1u8; 4000]).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
        watch.seen(&socket);
        client.write_all(&[1u8; 8000]).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert!(
            !watch.cut(),
            "12,000 bytes, but a whole message came in between"
        );
        let _ = client.write_all(&[1u8; 20_000]);
        std::thread::sleep(std::time::Duration::from_millis(400));
        assert!(watch.cut());
    }

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
