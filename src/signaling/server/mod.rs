//! A local VDO.Ninja-compatible signaling server on libsoup.
//!
//! It exists so Roomtape can be tried and tested without the public server: a loopback demo room,
//! integration tests, and LAN use with Raspberry Ninja or other Roomtape instances. Two dialects
//! are spoken (see `docs/vdo-ninja-protocol.md` §2, §3 and §6):
//!
//! * [`Dialect::Official`] mimics `wss.vdo.ninja`: the server assigns every connection a random
//!   UUID, answers `joinroom` with a `listing`, announces `someonejoined`/`videoaddedtoroom`,
//!   turns `play` into `offerSDP` for the publisher, and delivers frames carrying `UUID` only to
//!   that peer with `UUID` rewritten to the sender's.
//! * [`Dialect::Relay`] mimics the self-hosted relays (`vdoninja.js`, the offline server): clients
//!   name themselves with `from`, frames are broadcast unchanged within the sender's room and
//!   filtered by `UUID` and, for `play`, by the registered stream id.
//!
//! The routing rules live in `router`, a plain state machine over connection ids that never
//! touches a socket, so they can be unit-tested. The soup glue around it (`socket`) polices
//! frames (the flood limit of `flood`, size, binary), hands text to the router and delivers
//! what it returns. Sends happen after the router's state is released, so a socket that fails
//! (and emits `closed`) while we write to it cannot re-enter a borrowed `RefCell`.
//!
//! The server runs on the thread-default GLib main context of the thread that started it.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

mod flood;
mod router;
mod socket;
#[cfg(test)]
mod tests;

pub use router::MAX_ROOM_MEMBERS;
pub use socket::{
    HANDSHAKE_TIMEOUT, MAX_CONNECTIONS, MAX_SERVER_FRAME_BYTES, MAX_UNFINISHED_MESSAGE_BYTES,
    MAX_UNREAD_BYTES, SignalingServer, bound_port,
};

/// Which server's routing to imitate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Dialect {
    /// `wss.vdo.ninja`: server-assigned UUIDs, listings, `offerSDP`.
    #[default]
    Official,
    /// `vdoninja.js` / offline server: `from`-based ids, filtered broadcast.
    Relay,
}

impl Dialect {
    fn as_str(self) -> &'static str {
        match self {
            Self::Official => "official",
            Self::Relay => "relay",
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A dialect name other than `official` or `relay`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown signaling dialect “{0}” (expected “official” or “relay”)")]
pub struct ParseDialectError(String);

impl FromStr for Dialect {
    type Err = ParseDialectError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.trim();
        if name.eq_ignore_ascii_case("official") {
            Ok(Self::Official)
        } else if name.eq_ignore_ascii_case("relay") {
            Ok(Self::Relay)
        } else {
            Err(ParseDialectError(s.to_owned()))
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Binding the address failed (in use, not local, no permission).
    #[error("Could not listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: glib::Error,
    },
    /// The socket was bound but its port could not be read back.
    #[error("The signaling server on {0} has no listening socket")]
    NoListener(SocketAddr),
}
