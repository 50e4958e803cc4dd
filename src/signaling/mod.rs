//! The WebSocket layer: a reconnecting signaling client and a local signaling server.
//!
//! Both halves run on the GLib main context of the thread that creates them (the GTK thread in
//! the app, a private context in tests) because libsoup's asynchronous API is bound to the
//! thread-default main context. They deliberately know nothing about the message catalogue
//! (`crate::protocol`): the client moves raw text frames, and the server only reads the handful
//! of routing fields (`request`, `UUID`, `from`, `roomid`, `streamID`) it needs, so a change in
//! the codec never forces a change here.
//!
//! * [`SignalingClient`] – one WebSocket to a VDO.Ninja-compatible server, with exponential
//!   back-off reconnection; events arrive on an `async_channel`.
//! * [`SignalingServer`] – a local server speaking either the official server's dialect
//!   (server-assigned UUIDs, `listing`, `offerSDP`) or the `from`-based relay dialect of the
//!   self-hosted relays (see `docs/vdo-ninja-protocol.md` §6).

pub mod client;
pub mod link;
pub mod redact;
pub mod server;
pub mod transport;

pub use redact::redact_url;

use gio::prelude::StaticType;

/// Registers, on one thread at a time, the GLib types that libsoup and GIO set up lazily.
///
/// GLib 2.74 can deadlock when two threads initialise such types for the first time at once:
/// one thread building a `SoupSession` class waits for `GInetSocketAddress`, which another
/// thread is registering and which waits for the first thread's class lock (seen as a hung
/// test with a server and a client starting in parallel). Clients and servers call this first.
pub(crate) fn init_types() {
    static TYPES: std::sync::Once = std::sync::Once::new();
    TYPES.call_once(|| {
        let _ = gio::InetSocketAddress::static_type();
        let _ = gio::InetAddress::static_type();
        let _ = soup::Session::new();
        let _ = soup::Server::builder().build();
    });
}

pub use client::{ClientError, ClientEvent, MAX_INCOMING_FRAME_BYTES, SignalingClient};
pub use server::{
    Dialect, MAX_SERVER_FRAME_BYTES, ParseDialectError, ServerError, SignalingServer,
};
