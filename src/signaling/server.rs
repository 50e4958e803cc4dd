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
//! The routing rules live in [`Router`], a plain state machine over connection ids that never
//! touches a socket, so they can be unit-tested. The soup glue around it polices frames (flood
//! limit, size, binary), hands text to the router and delivers what it returns. Sends happen after
//! the router's state is released, so a socket that fails (and emits `closed`) while we write to
//! it cannot re-enter a borrowed `RefCell`.
//!
//! The server runs on the thread-default GLib main context of the thread that started it.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::rc::{Rc, Weak};
use std::str::FromStr;
use std::time::{Duration, Instant};

use glib::translate::IntoGlib;
use serde_json::{Map, Value, json};
use soup::prelude::*;

use super::client::close_gracefully;

/// Frames larger than this (bytes) are dropped with an error reply; the connection stays open.
/// The web client never sends more than 35 000 characters.
pub const MAX_SERVER_FRAME_BYTES: usize = 100_000;

/// libsoup's own limit: a frame this large makes libsoup close the connection (code 1009) before
/// buffering it, which bounds the memory one client can make us allocate.
const TRANSPORT_PAYLOAD_LIMIT: u64 = 1024 * 1024;

/// WebSocket pings keep NAT mappings alive and let libsoup notice dead peers (seconds), like the
/// offline relay's 30 s pings.
const KEEPALIVE_INTERVAL_SECS: u32 = 30;

/// Flood limit: sustained frames per second per connection.
const FLOOD_RATE_PER_SEC: f64 = 200.0;
/// Flood limit: burst size (frames) a quiet connection may send at once.
const FLOOD_BURST: f64 = 400.0;
/// Length of the windows in which dropped frames are counted.
const FLOOD_WINDOW: Duration = Duration::from_secs(1);
/// A connection that had frames dropped in this many consecutive windows is disconnected.
const FLOOD_STRIKES_BEFORE_CLOSE: u32 = 5;

/// Bytes a client may send without completing a message (continuation frames without a final
/// one): libsoup 3.2 would buffer them without limit.
pub const MAX_UNFINISHED_MESSAGE_BYTES: u64 = 2 * 1024 * 1024;
/// Bytes sent to a client whose socket takes nothing more before it is disconnected: libsoup
/// queues them in memory without limit.
pub const MAX_UNREAD_BYTES: usize = 1024 * 1024;
/// Time a connection may take to complete its WebSocket upgrade.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections at most (also bounded by the open-file limit): beyond, new ones are closed at
/// once, so accepting never fails for want of a file handle (libsoup 3.2 then stops
/// accepting for good).
pub const MAX_CONNECTIONS: usize = 8192;
/// How often transports are checked.
const TRANSPORT_CHECK_EVERY: Duration = Duration::from_millis(250);

/// Members one room may have: every join is announced to every member, so a room's cost grows
/// with the square of its size (signaling rooms are for a handful of guests).
pub const MAX_ROOM_MEMBERS: usize = 256;
/// What a client is told when its room is full.
const ROOM_FULL: &str = "This room is full.";

/// Alert text of the official server when a stream id is taken.
const STREAM_IN_USE: &str = "Stream ID is already in use.";

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

/// A running signaling server. Dropping it stops it, like [`SignalingServer::stop`].
#[derive(Debug)]
pub struct SignalingServer {
    shared: Rc<Shared>,
}

#[derive(Debug)]
struct Shared {
    server: soup::Server,
    dialect: Dialect,
    local_addr: SocketAddr,
    router: RefCell<Router>,
    sockets: RefCell<HashMap<ConnId, Socket>>,
    next_conn: Cell<ConnId>,
    stopped: Cell<bool>,
    /// Connections still in their HTTP upgrade, by the address of their message.
    pending: RefCell<HashMap<usize, Pending>>,
    max_connections: usize,
    /// Closed connections since memory was last given back.
    closed_since_trim: Cell<usize>,
}

/// One accepted WebSocket and its transport-level bookkeeping.
#[derive(Debug)]
struct Socket {
    ws: soup::WebsocketConnection,
    flood: FloodGuard,
    handlers: Vec<glib::SignalHandlerId>,
    /// The TCP socket under it, when libsoup told us which.
    transport: Option<gio::Socket>,
    /// What the kernel had received when the last whole message arrived.
    received_at_last_message: u64,
    /// Bytes handed to libsoup since the socket last took data.
    unread_bytes: usize,
}

/// A connection that has not finished its upgrade yet.
#[derive(Debug)]
struct Pending {
    socket: gio::Socket,
    since: Instant,
}

/// The port a listening server got (what port 0 picked).
pub fn bound_port(server: &soup::Server) -> Option<u16> {
    server
        .listeners()
        .iter()
        .filter_map(|socket| socket.local_address().ok())
        .filter_map(|addr| addr.downcast::<gio::InetSocketAddress>().ok())
        .map(|addr| addr.port())
        .next()
}

impl SignalingServer {
    /// Binds exactly `listen` (port 0 picks a free port) and starts serving WebSocket clients on
    /// every path. Must be called on the thread that owns the thread-default main context.
    pub fn start(listen: SocketAddr, dialect: Dialect) -> Result<SignalingServer, ServerError> {
        super::init_types();
        let server = soup::Server::builder()
            .server_header(concat!("Roomtape/", env!("CARGO_PKG_VERSION")))
            .build();
        let address = gio::InetSocketAddress::from(listen);
        server
            .listen(&address, soup::ServerListenOptions::empty())
            .map_err(|source| ServerError::Bind {
                addr: listen,
                source,
            })?;
        let Some(port) = bound_port(&server) else {
            ServerExt::disconnect(&server);
            return Err(ServerError::NoListener(listen));
        };
        let shared = Rc::new(Shared {
            server,
            dialect,
            local_addr: SocketAddr::new(listen.ip(), port),
            router: RefCell::new(Router::new(dialect)),
            sockets: RefCell::new(HashMap::new()),
            next_conn: Cell::new(1),
            stopped: Cell::new(false),
            pending: RefCell::new(HashMap::new()),
            max_connections: max_connections(),
            closed_since_trim: Cell::new(0),
        });
        // permessage-deflate would let a 1 MiB frame inflate to a gigabyte before any limit
        // applies: signaling needs no compression.
        shared
            .server
            .remove_websocket_extension(soup::WebsocketExtensionDeflate::static_type());
        let weak = Rc::downgrade(&shared);
        shared.server.connect_request_started(move |_, msg| {
            if let Some(shared) = weak.upgrade() {
                shared.on_request_started(msg);
            }
        });
        for finished in [true, false] {
            let weak = Rc::downgrade(&shared);
            let forget = move |_: &soup::Server, msg: &soup::ServerMessage| {
                if let Some(shared) = weak.upgrade() {
                    shared.pending.borrow_mut().remove(&message_key(msg));
                }
            };
            if finished {
                shared.server.connect_request_finished(forget);
            } else {
                shared.server.connect_request_aborted(forget);
            }
        }
        let weak = Rc::downgrade(&shared);
        shared
            .server
            .add_websocket_handler(None, None, &[], move |_, msg, path, ws| {
                match weak.upgrade() {
                    Some(shared) => {
                        let transport = shared
                            .pending
                            .borrow_mut()
                            .remove(&message_key(msg))
                            .map(|pending| pending.socket);
                        Shared::accept(&shared, path, ws, transport)
                    }
                    None => close_gracefully(ws, soup::WebsocketCloseCode::GoingAway, None),
                }
            });
        let weak = Rc::downgrade(&shared);
        glib::timeout_add_local(TRANSPORT_CHECK_EVERY, move || match weak.upgrade() {
            Some(shared) if !shared.stopped.get() => {
                shared.check_transports();
                glib::ControlFlow::Continue
            }
            _ => glib::ControlFlow::Break,
        });
        tracing::info!(
            "signaling server ({dialect} dialect) listening on {}",
            shared.local_addr
        );
        Ok(SignalingServer { shared })
    }

    /// The address clients should use, e.g. `ws://127.0.0.1:8443`. A wildcard listen address is
    /// reported as the loopback address of the same family.
    pub fn url(&self) -> String {
        let addr = self.shared.local_addr;
        let ip = match addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        format!("ws://{}", SocketAddr::new(ip, addr.port()))
    }

    /// The address actually bound (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// The dialect this server speaks.
    pub fn dialect(&self) -> Dialect {
        self.shared.dialect
    }

    /// Number of open client connections.
    pub fn client_count(&self) -> usize {
        self.shared.sockets.borrow().len()
    }

    /// Stops listening and closes every client connection (code 1001, "going away"), which makes
    /// clients reconnect elsewhere or later. Calling it again does nothing.
    pub fn stop(&self) {
        let shared = &self.shared;
        if shared.stopped.replace(true) {
            return;
        }
        ServerExt::disconnect(&shared.server);
        let sockets: Vec<Socket> = shared
            .sockets
            .borrow_mut()
            .drain()
            .map(|(_, socket)| socket)
            .collect();
        shared.router.replace(Router::new(shared.dialect));
        for socket in sockets {
            for handler in socket.handlers {
                socket.ws.disconnect(handler);
            }
            close_gracefully(
                &socket.ws,
                soup::WebsocketCloseCode::GoingAway,
                Some("server shutting down"),
            );
        }
        tracing::info!("signaling server on {} stopped", shared.local_addr);
    }
}

impl Drop for SignalingServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A key for a request's message while it is being upgraded.
fn message_key(msg: &soup::ServerMessage) -> usize {
    glib::translate::ToGlibPtr::<*mut soup::ffi::SoupServerMessage>::to_glib_none(msg).0 as usize
}

/// Connections this process can hold: the cap, and what the open-file limit leaves.
fn max_connections() -> usize {
    let handles = crate::limits::open_files_allowed();
    (handles.saturating_sub(64) as usize).clamp(16, MAX_CONNECTIONS)
}

impl Shared {
    /// A new TCP connection: closed at once when the server is full, otherwise given
    /// [`HANDSHAKE_TIMEOUT`] to become a WebSocket.
    fn on_request_started(&self, msg: &soup::ServerMessage) {
        let Some(socket) = msg.socket() else { return };
        let open = self.sockets.borrow().len() + self.pending.borrow().len();
        if open >= self.max_connections {
            tracing::warn!(open, "signaling server: full, a new connection is closed");
            super::transport::abort(&socket);
            return;
        }
        self.pending.borrow_mut().insert(
            message_key(msg),
            Pending {
                socket,
                since: Instant::now(),
            },
        );
    }

    /// Slow handshakes, unfinished messages and clients that do not read are cut off.
    fn check_transports(&self) {
        let now = Instant::now();
        self.pending.borrow_mut().retain(|_, pending| {
            let alive = now.duration_since(pending.since) < HANDSHAKE_TIMEOUT;
            if !alive {
                super::transport::abort(&pending.socket);
            }
            alive
        });
        let mut cut = Vec::new();
        for (conn, socket) in self.sockets.borrow().iter() {
            let Some(transport) = &socket.transport else {
                continue;
            };
            if let Some(received) = super::transport::bytes_received(transport)
                && received.saturating_sub(socket.received_at_last_message)
                    > MAX_UNFINISHED_MESSAGE_BYTES
            {
                tracing::warn!(conn, "signaling server: unfinished message too large");
                cut.push(transport.clone());
            }
        }
        for transport in cut {
            super::transport::abort(&transport);
        }
    }

    fn accept(
        self: &Rc<Self>,
        path: &str,
        ws: &soup::WebsocketConnection,
        transport: Option<gio::Socket>,
    ) {
        if self.stopped.get() {
            close_gracefully(ws, soup::WebsocketCloseCode::GoingAway, None);
            return;
        }
        let conn = self.next_conn.get();
        self.next_conn.set(conn + 1);
        ws.set_max_incoming_payload_size(TRANSPORT_PAYLOAD_LIMIT);
        ws.set_keepalive_interval(KEEPALIVE_INTERVAL_SECS);

        let weak: Weak<Self> = Rc::downgrade(self);
        let on_message = ws.connect_message(move |_, kind, bytes| {
            if let Some(shared) = weak.upgrade() {
                shared.on_frame(conn, kind, bytes);
            }
        });
        let on_error = ws.connect_error(move |_, err| {
            tracing::debug!(conn, "signaling server: connection error: {err}");
        });
        let weak: Weak<Self> = Rc::downgrade(self);
        let on_closed = ws.connect_closed(move |_| {
            if let Some(shared) = weak.upgrade() {
                shared.on_closed(conn);
            }
        });
        // The map holds the connection's only strong reference besides libsoup's: without it the
        // socket would be closed as soon as this handler returns.
        let received_at_last_message = transport
            .as_ref()
            .and_then(super::transport::bytes_received)
            .unwrap_or(0);
        let weak: Weak<Self> = Rc::downgrade(self);
        let on_pong = ws.connect_pong(move |_, _| {
            if let Some(shared) = weak.upgrade() {
                shared.whole_message_received(conn);
            }
        });
        self.sockets.borrow_mut().insert(
            conn,
            Socket {
                ws: ws.clone(),
                flood: FloodGuard::new(Instant::now()),
                handlers: vec![on_message, on_error, on_closed, on_pong],
                transport,
                received_at_last_message,
                unread_bytes: 0,
            },
        );
        let greeting = self.router.borrow_mut().add(conn);
        tracing::info!(
            conn,
            path,
            clients = self.sockets.borrow().len(),
            "signaling server: client connected"
        );
        self.deliver(greeting);
    }

    /// A whole message (or pong) arrived: what came before it was not an unfinished one.
    fn whole_message_received(&self, conn: ConnId) {
        if let Some(socket) = self.sockets.borrow_mut().get_mut(&conn)
            && let Some(received) = socket
                .transport
                .as_ref()
                .and_then(super::transport::bytes_received)
        {
            socket.received_at_last_message = received;
        }
    }

    fn on_frame(&self, conn: ConnId, kind: i32, bytes: &glib::Bytes) {
        self.whole_message_received(conn);
        let admission = self
            .sockets
            .borrow_mut()
            .get_mut(&conn)
            .map(|socket| socket.flood.admit(Instant::now()));
        match admission {
            None => return,
            Some(Admission::Accept) => {}
            Some(Admission::Drop { first_in_window }) => {
                if first_in_window {
                    tracing::warn!(conn, "signaling server: client is flooding, frames dropped");
                }
                return;
            }
            Some(Admission::Disconnect) => {
                let ws = self.sockets.borrow().get(&conn).map(|s| s.ws.clone());
                // Frames keep arriving while the close handshake runs; log and close once.
                if let Some(ws) = ws.filter(|ws| ws.state() == soup::WebsocketState::Open) {
                    tracing::warn!(conn, "signaling server: sustained flooding, disconnecting");
                    close_gracefully(
                        &ws,
                        soup::WebsocketCloseCode::PolicyViolation,
                        Some("too many messages"),
                    );
                }
                return;
            }
        }
        let replies = if kind != soup::WebsocketDataType::Text.into_glib() {
            tracing::warn!(conn, bytes = bytes.len(), "signaling server: binary frame");
            self.router
                .borrow()
                .error_reply(conn, "binary frames are not supported")
        } else if bytes.len() > MAX_SERVER_FRAME_BYTES {
            tracing::warn!(
                conn,
                bytes = bytes.len(),
                "signaling server: frame too large"
            );
            self.router.borrow().error_reply(conn, "message too large")
        } else {
            match std::str::from_utf8(bytes) {
                Ok(text) => self.router.borrow_mut().handle(conn, text),
                Err(_) => {
                    tracing::warn!(conn, "signaling server: frame is not UTF-8");
                    self.router
                        .borrow()
                        .error_reply(conn, "message is not UTF-8")
                }
            }
        };
        self.deliver(replies);
    }

    fn on_closed(&self, conn: ConnId) {
        let socket = self.sockets.borrow_mut().remove(&conn);
        let Some(socket) = socket else { return };
        for handler in socket.handlers {
            socket.ws.disconnect(handler);
        }
        let farewells = self.router.borrow_mut().remove(conn);
        // glibc keeps what a burst of connections freed; give it back now and then.
        let closed = self.closed_since_trim.get() + 1;
        if closed >= 64 || self.sockets.borrow().is_empty() {
            self.closed_since_trim.set(0);
            super::transport::trim_memory();
        } else {
            self.closed_since_trim.set(closed);
        }
        tracing::info!(
            conn,
            code = socket.ws.close_code(),
            clients = self.sockets.borrow().len(),
            "signaling server: client disconnected"
        );
        self.deliver(farewells);
    }

    /// Sends router output. The targets are collected first and every borrow is released before
    /// writing, because a failing write may emit `closed` synchronously.
    fn deliver(&self, outgoing: Vec<Outgoing>) {
        if outgoing.is_empty() {
            return;
        }
        let mut targets: Vec<(soup::WebsocketConnection, String)> = Vec::new();
        let mut cut = Vec::new();
        {
            let mut sockets = self.sockets.borrow_mut();
            for out in outgoing {
                let Some(socket) = sockets.get_mut(&out.to) else {
                    continue;
                };
                // A client that reads nothing makes libsoup queue without limit: count what
                // we give it while its socket takes nothing, and cut it off past the limit.
                if let Some(transport) = &socket.transport {
                    if super::transport::writable(transport) {
                        socket.unread_bytes = 0;
                    } else {
                        socket.unread_bytes += out.text.len();
                        if socket.unread_bytes > MAX_UNREAD_BYTES {
                            if socket.unread_bytes - out.text.len() <= MAX_UNREAD_BYTES {
                                tracing::warn!(
                                    conn = out.to,
                                    "signaling server: client does not read, disconnecting"
                                );
                                cut.push(transport.clone());
                            }
                            continue;
                        }
                    }
                }
                targets.push((socket.ws.clone(), out.text));
            }
        }
        for transport in cut {
            super::transport::abort(&transport);
        }
        for (ws, text) in targets {
            if ws.state() == soup::WebsocketState::Open {
                ws.send_text(&text);
            }
        }
    }
}

/// Runs a signaling server until SIGINT or SIGTERM (the `roomtape serve` command).
///
/// Runs on the process-wide default GLib main context, because that is where GLib delivers UNIX
/// signals; call it from `main`. The banner goes to stdout and is flushed so scripts can wait
/// for it.
pub fn run_serve(listen: SocketAddr, dialect: Dialect) -> anyhow::Result<()> {
    let handles = crate::limits::raise_open_file_limit();
    tracing::debug!("serve may open {handles} files");
    let context = glib::MainContext::default();
    context
        .with_thread_default(|| serve_until_signal(&context, listen, dialect))
        .map_err(|_| anyhow::anyhow!("the default GLib main context is owned by another thread"))?
}

fn serve_until_signal(
    context: &glib::MainContext,
    listen: SocketAddr,
    dialect: Dialect,
) -> anyhow::Result<()> {
    let main_loop = glib::MainLoop::new(Some(context), false);
    let server = SignalingServer::start(listen, dialect)?;
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(
            stdout,
            "Roomtape signaling server ({dialect} dialect) listening on {}",
            server.url()
        )?;
        stdout.flush()?;
    }
    let signal_sources: Vec<glib::SourceId> = [libc_signal::SIGINT, libc_signal::SIGTERM]
        .into_iter()
        .map(|signum| {
            let main_loop = main_loop.clone();
            glib::unix_signal_add_local(signum, move || {
                tracing::info!("signal {signum} received, stopping the signaling server");
                main_loop.quit();
                glib::ControlFlow::Continue
            })
        })
        .collect();
    main_loop.run();
    for source in signal_sources {
        source.remove();
    }
    server.stop();
    // Give the close frames a moment to go out before the process exits.
    let deadline = Instant::now() + Duration::from_millis(300);
    while Instant::now() < deadline && context.pending() {
        context.iteration(false);
    }
    Ok(())
}

/// Signal numbers (POSIX, identical on every Linux architecture) without a `libc` dependency.
mod libc_signal {
    pub const SIGINT: i32 = 2;
    pub const SIGTERM: i32 = 15;
}

// ---------------------------------------------------------------------------------------------
// Routing
// ---------------------------------------------------------------------------------------------

/// Server-internal connection id (never sent on the wire).
type ConnId = u64;

/// One frame for one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Outgoing {
    to: ConnId,
    text: String,
}

/// What the router knows about a connection.
#[derive(Debug, Default, Clone)]
struct Member {
    /// Official: the server-assigned UUID. Relay: the first `from` it sent.
    id: Option<String>,
    room: Option<String>,
    stream_id: Option<String>,
}

/// The routing state machine of both dialects. Connections are kept in a `BTreeMap` so listings
/// and broadcasts follow connection order, which makes behaviour reproducible. Lookups are linear:
/// a local server has a handful of clients, and scans cannot get out of sync like extra indexes.
#[derive(Debug)]
struct Router {
    dialect: Dialect,
    members: BTreeMap<ConnId, Member>,
}

impl Router {
    fn new(dialect: Dialect) -> Self {
        Self {
            dialect,
            members: BTreeMap::new(),
        }
    }

    /// Registers a new connection. Nothing is sent on connect in either dialect.
    fn add(&mut self, conn: ConnId) -> Vec<Outgoing> {
        let id = match self.dialect {
            Dialect::Official => Some(self.fresh_uuid()),
            Dialect::Relay => None,
        };
        self.members.insert(
            conn,
            Member {
                id,
                ..Member::default()
            },
        );
        Vec::new()
    }

    /// Forgets a connection and tells its room.
    fn remove(&mut self, conn: ConnId) -> Vec<Outgoing> {
        let Some(member) = self.members.remove(&conn) else {
            return Vec::new();
        };
        let Some(id) = member.id else {
            return Vec::new();
        };
        match self.dialect {
            Dialect::Official => match &member.room {
                Some(room) => self.to_room(
                    room,
                    conn,
                    &json!({"request": "cleanup", "UUID": id}).to_string(),
                ),
                None => Vec::new(),
            },
            Dialect::Relay => self.to_scope(
                member.room.as_deref(),
                conn,
                &json!({"type": "disconnect", "uuid": id}).to_string(),
            ),
        }
    }

    /// An error reply in the dialect's shape.
    fn error_reply(&self, conn: ConnId, message: &str) -> Vec<Outgoing> {
        let value = match self.dialect {
            Dialect::Official => json!({"request": "error", "message": message}),
            Dialect::Relay => json!({"error": message}),
        };
        vec![Outgoing {
            to: conn,
            text: value.to_string(),
        }]
    }

    /// Routes one text frame from `conn`.
    fn handle(&mut self, conn: ConnId, text: &str) -> Vec<Outgoing> {
        if !self.members.contains_key(&conn) {
            return Vec::new();
        }
        let message = match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(message)) => message,
            Ok(_) => {
                tracing::warn!(conn, "signaling server: frame is not a JSON object");
                return self.error_reply(conn, "message must be a JSON object");
            }
            Err(err) => {
                tracing::warn!(conn, "signaling server: malformed JSON: {err}");
                return self.error_reply(conn, "invalid JSON");
            }
        };
        match self.dialect {
            Dialect::Official => self.official(conn, message),
            Dialect::Relay => self.relay(conn, text, &message),
        }
    }

    // --- official dialect -------------------------------------------------------------------

    fn official(&mut self, conn: ConnId, message: Map<String, Value>) -> Vec<Outgoing> {
        match message.get("request").and_then(Value::as_str) {
            Some("joinroom") => self.official_join(conn, &message),
            Some("seed") => self.official_seed(conn, &message),
            Some("play") => self.official_play(conn, &message),
            Some("ping") => Vec::new(),
            request => match id_field(&message, "UUID") {
                Some(target) => self.official_forward(conn, &target, message),
                None => {
                    tracing::debug!(conn, ?request, "signaling server: unroutable frame ignored");
                    Vec::new()
                }
            },
        }
    }

    fn official_join(&mut self, conn: ConnId, message: &Map<String, Value>) -> Vec<Outgoing> {
        let Some(room) = id_field(message, "roomid") else {
            return self.alert(conn, "joinroom needs a roomid.");
        };
        let Some(me) = self.members.get(&conn).cloned() else {
            return Vec::new();
        };
        let Some(my_id) = me.id.clone() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let newcomer = me.room.as_deref() != Some(room.as_str());
        if newcomer && self.room_size(&room) >= MAX_ROOM_MEMBERS {
            return self.alert(conn, ROOM_FULL);
        }
        if newcomer {
            if let Some(old_room) = &me.room {
                out.extend(self.to_room(
                    old_room,
                    conn,
                    &json!({"request": "cleanup", "UUID": my_id}).to_string(),
                ));
            }
            self.set_room(conn, Some(room.clone()));
        }
        let mut announce_stream = false;
        if let Some(stream) = id_field(message, "streamID") {
            if self.stream_taken(conn, Some(&room), &stream) {
                out.extend(self.alert(conn, STREAM_IN_USE));
            } else if self.member_stream(conn) != Some(stream.as_str()) {
                self.set_stream(conn, Some(stream));
                announce_stream = !newcomer;
            }
        }

        let list: Vec<Value> = self
            .members
            .iter()
            .filter(|(other, m)| **other != conn && m.room.as_deref() == Some(room.as_str()))
            .filter_map(|(_, m)| {
                let id = m.id.as_ref()?;
                let mut entry = Map::new();
                entry.insert("UUID".into(), Value::String(id.clone()));
                if let Some(stream) = &m.stream_id {
                    entry.insert("streamID".into(), Value::String(stream.clone()));
                }
                Some(Value::Object(entry))
            })
            .collect();
        out.push(Outgoing {
            to: conn,
            text: json!({"request": "listing", "list": list}).to_string(),
        });

        let my_stream = self.member_stream(conn).map(str::to_owned);
        if newcomer {
            let mut joined = Map::new();
            joined.insert("request".into(), "someonejoined".into());
            joined.insert("UUID".into(), Value::String(my_id.clone()));
            if let Some(stream) = &my_stream {
                joined.insert("streamID".into(), Value::String(stream.clone()));
            }
            out.extend(self.to_room(&room, conn, &Value::Object(joined).to_string()));
        } else if announce_stream && let Some(stream) = my_stream {
            out.extend(
                self.to_room(
                    &room,
                    conn,
                    &json!({"request": "videoaddedtoroom", "UUID": my_id, "streamID": stream})
                        .to_string(),
                ),
            );
        }
        out
    }

    fn official_seed(&mut self, conn: ConnId, message: &Map<String, Value>) -> Vec<Outgoing> {
        let Some(stream) = id_field(message, "streamID") else {
            return self.alert(conn, "seed needs a streamID.");
        };
        let Some(me) = self.members.get(&conn).cloned() else {
            return Vec::new();
        };
        if self.stream_taken(conn, me.room.as_deref(), &stream) {
            return self.alert(conn, STREAM_IN_USE);
        }
        if me.stream_id.as_deref() == Some(stream.as_str()) {
            return Vec::new();
        }
        self.set_stream(conn, Some(stream.clone()));
        match (&me.room, &me.id) {
            (Some(room), Some(id)) => self.to_room(
                room,
                conn,
                &json!({"request": "videoaddedtoroom", "UUID": id, "streamID": stream}).to_string(),
            ),
            _ => Vec::new(),
        }
    }

    fn official_play(&mut self, conn: ConnId, message: &Map<String, Value>) -> Vec<Outgoing> {
        let Some(stream) = id_field(message, "streamID") else {
            return self.alert(conn, "play needs a streamID.");
        };
        let Some(me) = self.members.get(&conn) else {
            return Vec::new();
        };
        let Some(my_id) = me.id.clone() else {
            return Vec::new();
        };
        // In a room, only that room's publishers are visible; outside rooms, any publisher.
        let my_room = me.room.clone();
        let seeder = self.members.iter().find(|(other, m)| {
            **other != conn
                && m.stream_id.as_deref() == Some(stream.as_str())
                && (my_room.is_none() || m.room == my_room)
        });
        match seeder {
            Some((&seeder, _)) => vec![Outgoing {
                to: seeder,
                text: json!({"request": "offerSDP", "UUID": my_id}).to_string(),
            }],
            None => self.alert(conn, "The requested stream is not being published."),
        }
    }

    /// Delivers a peer-to-peer frame to the connection whose UUID it names, with `UUID`
    /// rewritten to the sender's so the receiver knows whom to answer.
    fn official_forward(
        &self,
        conn: ConnId,
        target: &str,
        mut message: Map<String, Value>,
    ) -> Vec<Outgoing> {
        let Some(sender_id) = self.members.get(&conn).and_then(|m| m.id.clone()) else {
            return Vec::new();
        };
        let receiver = self
            .members
            .iter()
            .find(|(other, m)| **other != conn && m.id.as_deref() == Some(target));
        let Some((&receiver, _)) = receiver else {
            tracing::debug!(
                conn,
                target,
                "signaling server: frame for an unknown UUID dropped"
            );
            return Vec::new();
        };
        message.insert("UUID".into(), Value::String(sender_id));
        vec![Outgoing {
            to: receiver,
            text: Value::Object(message).to_string(),
        }]
    }

    fn alert(&self, conn: ConnId, text: &str) -> Vec<Outgoing> {
        vec![Outgoing {
            to: conn,
            text: json!({"request": "alert", "message": text}).to_string(),
        }]
    }

    // --- relay dialect ----------------------------------------------------------------------

    fn relay(&mut self, conn: ConnId, text: &str, message: &Map<String, Value>) -> Vec<Outgoing> {
        let relay_error = |message: &str| {
            vec![Outgoing {
                to: conn,
                text: json!({"error": message}).to_string(),
            }]
        };
        let Some(from) = id_field(message, "from") else {
            return relay_error("missing from");
        };
        let Some(me) = self.members.get(&conn).cloned() else {
            return Vec::new();
        };
        match &me.id {
            None => {
                let taken = self
                    .members
                    .iter()
                    .any(|(other, m)| *other != conn && m.id.as_deref() == Some(from.as_str()));
                if taken {
                    return relay_error("uuid already in use");
                }
                self.set_id(conn, from.clone());
            }
            // The first `from` is the connection's identity; accepting another would let a
            // client speak for someone else.
            Some(id) if *id != from => return relay_error("from does not match this connection"),
            Some(_) => {}
        }

        let request = message.get("request").and_then(Value::as_str);
        if matches!(request, Some("seed" | "joinroom"))
            && let Some(stream) = id_field(message, "streamID")
        {
            match &me.stream_id {
                Some(current) if *current != stream => return relay_error("can't change sid"),
                Some(_) => {}
                None => {
                    let taken = self.members.iter().any(|(other, m)| {
                        *other != conn && m.stream_id.as_deref() == Some(stream.as_str())
                    });
                    if taken {
                        return relay_error("sid already in use");
                    }
                    self.set_stream(conn, Some(stream));
                }
            }
        }

        let mut out = Vec::new();
        if request == Some("joinroom")
            && let Some(room) = id_field(message, "roomid")
            && me.room.as_deref() != Some(room.as_str())
        {
            if self.room_size(&room) >= MAX_ROOM_MEMBERS {
                return relay_error("room is full");
            }
            if me.room.is_some() {
                out.extend(self.to_scope(
                    me.room.as_deref(),
                    conn,
                    &json!({"type": "leave", "uuid": from}).to_string(),
                ));
            }
            self.set_room(conn, Some(room));
        }

        let Some(sender) = self.members.get(&conn) else {
            return out;
        };
        let target = id_field(message, "UUID");
        let wanted_stream = (request == Some("play")).then(|| id_field(message, "streamID"));
        for (&other, receiver) in &self.members {
            if other == conn || receiver.room != sender.room {
                continue;
            }
            if let Some(target) = &target
                && receiver.id.as_deref() != Some(target.as_str())
            {
                continue;
            }
            // A `play` goes only to the publisher of that stream (none if it names no stream).
            if let Some(wanted) = &wanted_stream
                && (wanted.is_none() || receiver.stream_id != *wanted)
            {
                continue;
            }
            out.push(Outgoing {
                to: other,
                text: text.to_owned(),
            });
        }
        out
    }

    // --- helpers ----------------------------------------------------------------------------

    /// Members in `room`.
    fn room_size(&self, room: &str) -> usize {
        self.members
            .values()
            .filter(|m| m.room.as_deref() == Some(room))
            .count()
    }

    /// `text` for every member of `room` except `except`.
    fn to_room(&self, room: &str, except: ConnId, text: &str) -> Vec<Outgoing> {
        self.to_scope(Some(room), except, text)
    }

    /// `text` for every member whose room equals `room` (`None`: everyone outside rooms).
    fn to_scope(&self, room: Option<&str>, except: ConnId, text: &str) -> Vec<Outgoing> {
        self.members
            .iter()
            .filter(|(other, m)| **other != except && m.room.as_deref() == room)
            .map(|(&other, _)| Outgoing {
                to: other,
                text: text.to_owned(),
            })
            .collect()
    }

    /// Whether another connection in the same scope (room, or outside rooms) publishes `stream`.
    fn stream_taken(&self, conn: ConnId, room: Option<&str>, stream: &str) -> bool {
        self.members.iter().any(|(other, m)| {
            *other != conn && m.room.as_deref() == room && m.stream_id.as_deref() == Some(stream)
        })
    }

    fn member_stream(&self, conn: ConnId) -> Option<&str> {
        self.members.get(&conn)?.stream_id.as_deref()
    }

    fn set_room(&mut self, conn: ConnId, room: Option<String>) {
        if let Some(member) = self.members.get_mut(&conn) {
            member.room = room;
        }
    }

    fn set_stream(&mut self, conn: ConnId, stream: Option<String>) {
        if let Some(member) = self.members.get_mut(&conn) {
            member.stream_id = stream;
        }
    }

    fn set_id(&mut self, conn: ConnId, id: String) {
        if let Some(member) = self.members.get_mut(&conn) {
            member.id = Some(id);
        }
    }

    /// A random RFC 4122 version-4 UUID not used by any connection.
    fn fresh_uuid(&self) -> String {
        loop {
            let mut bytes: [u8; 16] = rand::random();
            bytes[6] = (bytes[6] & 0x0f) | 0x40;
            bytes[8] = (bytes[8] & 0x3f) | 0x80;
            let hex = hex::encode(bytes);
            let uuid = format!(
                "{}-{}-{}-{}-{}",
                &hex[0..8],
                &hex[8..12],
                &hex[12..16],
                &hex[16..20],
                &hex[20..32]
            );
            if !self
                .members
                .values()
                .any(|m| m.id.as_deref() == Some(uuid.as_str()))
            {
                return uuid;
            }
        }
    }
}

/// A routing id from a field: a non-empty string, or a number (Raspberry Ninja's numeric
/// `puuid`s) in its decimal form. Anything else counts as absent.
fn id_field(message: &Map<String, Value>, key: &str) -> Option<String> {
    match message.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Flood control
// ---------------------------------------------------------------------------------------------

/// Verdict on one incoming frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Admission {
    Accept,
    /// Over the limit; `first_in_window` lets the caller log once per window, not per frame.
    Drop {
        first_in_window: bool,
    },
    /// Over the limit for [`FLOOD_STRIKES_BEFORE_CLOSE`] consecutive windows.
    Disconnect,
}

/// Token bucket ([`FLOOD_RATE_PER_SEC`], burst [`FLOOD_BURST`]) plus a strike counter, so short
/// bursts are absorbed, brief excess is dropped, and only sustained abuse costs the connection.
#[derive(Debug)]
struct FloodGuard {
    tokens: f64,
    last_refill: Instant,
    window_start: Instant,
    dropped_in_window: u32,
    strikes: u32,
}

impl FloodGuard {
    fn new(now: Instant) -> Self {
        Self {
            tokens: FLOOD_BURST,
            last_refill: now,
            window_start: now,
            dropped_in_window: 0,
            strikes: 0,
        }
    }

    fn admit(&mut self, now: Instant) -> Admission {
        let since_window = now.saturating_duration_since(self.window_start);
        if since_window >= FLOOD_WINDOW {
            // A window with drops directly followed by this one continues the streak; a quiet
            // window (or a gap) ends it.
            self.strikes = if self.dropped_in_window > 0 && since_window < 2 * FLOOD_WINDOW {
                self.strikes + 1
            } else {
                0
            };
            self.window_start = now;
            self.dropped_in_window = 0;
        }
        let elapsed = now
            .saturating_duration_since(self.last_refill)
            .as_secs_f64();
        self.tokens = (self.tokens + elapsed * FLOOD_RATE_PER_SEC).min(FLOOD_BURST);
        self.last_refill = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Admission::Accept;
        }
        self.dropped_in_window = self.dropped_in_window.saturating_add(1);
        if self.strikes >= FLOOD_STRIKES_BEFORE_CLOSE {
            Admission::Disconnect
        } else {
            Admission::Drop {
                first_in_window: self.dropped_in_window == 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(out: &Outgoing) -> Value {
        serde_json::from_str(&out.text).unwrap()
    }

    fn uuid_of(router: &Router, conn: ConnId) -> String {
        router.members[&conn].id.clone().unwrap()
    }

    #[test]
    fn dialect_names_round_trip() {
        for dialect in [Dialect::Official, Dialect::Relay] {
            assert_eq!(dialect.to_string().parse::<Dialect>(), Ok(dialect));
        }
        assert_eq!(" Relay ".parse::<Dialect>(), Ok(Dialect::Relay));
        let err = "vdo".parse::<Dialect>().unwrap_err();
        assert!(err.to_string().contains("official"));
    }

    #[test]
    fn uuids_are_v4_and_distinct() {
        let mut router = Router::new(Dialect::Official);
        router.add(1);
        router.add(2);
        let (a, b) = (uuid_of(&router, 1), uuid_of(&router, 2));
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
    }

    #[test]
    fn official_join_listing_and_announcements() {
        let mut r = Router::new(Dialect::Official);
        for conn in 1..=3 {
            r.add(conn);
        }
        let out = r.handle(1, r#"{"request":"joinroom","roomid":"r","streamID":"s1"}"#);
        assert_eq!(out.len(), 1);
        assert_eq!(parse(&out[0]), json!({"request":"listing","list":[]}));

        let out = r.handle(2, r#"{"request":"joinroom","roomid":"r"}"#);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].to, 2);
        assert_eq!(
            parse(&out[0]),
            json!({"request":"listing","list":[{"UUID":uuid_of(&r,1),"streamID":"s1"}]})
        );
        assert_eq!(out[1].to, 1);
        assert_eq!(
            parse(&out[1]),
            json!({"request":"someonejoined","UUID":uuid_of(&r,2)})
        );

        // Same stream id in the same room is refused; another room may use it.
        let out = r.handle(3, r#"{"request":"joinroom","roomid":"r","streamID":"s1"}"#);
        assert_eq!(
            parse(&out[0]),
            json!({"request":"alert","message":STREAM_IN_USE})
        );
        assert!(r.members[&3].stream_id.is_none());
        let out = r.handle(
            3,
            r#"{"request":"joinroom","roomid":"other","streamID":"s1"}"#,
        );
        // cleanup to room r (1 and 2), then the listing of "other".
        assert_eq!(
            out.iter()
                .filter(|o| parse(o)["request"] == "cleanup")
                .count(),
            2
        );
        assert_eq!(r.members[&3].stream_id.as_deref(), Some("s1"));
    }

    #[test]
    fn official_play_targets_the_seeder_in_the_room() {
        let mut r = Router::new(Dialect::Official);
        for conn in 1..=3 {
            r.add(conn);
        }
        r.handle(1, r#"{"request":"joinroom","roomid":"a"}"#);
        r.handle(2, r#"{"request":"joinroom","roomid":"a"}"#);
        r.handle(3, r#"{"request":"joinroom","roomid":"b","streamID":"cam"}"#);
        let out = r.handle(1, r#"{"request":"seed","streamID":"cam"}"#);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].to, 2);
        let out = r.handle(2, r#"{"request":"play","streamID":"cam"}"#);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].to, 1);
        assert_eq!(
            parse(&out[0]),
            json!({"request":"offerSDP","UUID":uuid_of(&r,2)})
        );
        // A player outside any room finds publishers in every room.
        r.add(4);
        let out = r.handle(4, r#"{"request":"play","streamID":"cam","UUID":"ignored"}"#);
        assert_eq!(out.len(), 1);
        assert!(out[0].to == 1 || out[0].to == 3);
        assert_eq!(parse(&out[0])["UUID"], json!(uuid_of(&r, 4)));
        // Unknown streams are reported to the player.
        let out = r.handle(2, r#"{"request":"play","streamID":"nope"}"#);
        assert_eq!(
            (out[0].to, parse(&out[0])["request"].clone()),
            (2, json!("alert"))
        );
    }

    #[test]
    fn official_forward_rewrites_uuid_and_keeps_fields() {
        let mut r = Router::new(Dialect::Official);
        r.add(1);
        r.add(2);
        let target = uuid_of(&r, 2);
        let frame =
            json!({"UUID": target, "session": "s", "description": {"type":"offer","sdp":"v=0"}});
        let out = r.handle(1, &frame.to_string());
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].to, 2);
        assert_eq!(
            parse(&out[0]),
            json!({"UUID": uuid_of(&r,1), "session": "s", "description": {"type":"offer","sdp":"v=0"}})
        );
        assert!(r.handle(1, r#"{"UUID":"nobody","x":1}"#).is_empty());
        assert!(r.handle(1, r#"{"hello":"world"}"#).is_empty());
    }

    #[test]
    fn malformed_input_gets_error_replies() {
        for dialect in [Dialect::Official, Dialect::Relay] {
            let mut r = Router::new(dialect);
            r.add(1);
            for bad in ["{", "[1,2]", "42", "\"x\"", "null", ""] {
                let out = r.handle(1, bad);
                assert_eq!(out.len(), 1, "{dialect} {bad:?}");
                assert_eq!(out[0].to, 1);
                let reply = parse(&out[0]);
                assert!(reply.get("error").is_some() || reply["request"] == "error");
            }
        }
    }

    #[test]
    fn relay_identity_and_filters() {
        let mut r = Router::new(Dialect::Relay);
        for conn in 1..=4 {
            r.add(conn);
        }
        assert_eq!(
            parse(&r.handle(1, r#"{"request":"joinroom","roomid":"r"}"#)[0]),
            json!({"error":"missing from"})
        );
        assert!(
            r.handle(
                1,
                r#"{"from":"a","request":"joinroom","roomid":"r","streamID":"sa"}"#
            )
            .is_empty()
        );
        let join_b = r#"{"from":"b","request":"joinroom","roomid":"r"}"#;
        let out = r.handle(2, join_b);
        assert_eq!(
            out,
            vec![Outgoing {
                to: 1,
                text: join_b.into()
            }]
        );
        assert!(
            r.handle(
                3,
                r#"{"from":"c","request":"joinroom","roomid":"q","streamID":"sc"}"#
            )
            .is_empty()
        );
        assert_eq!(
            parse(&r.handle(4, r#"{"from":"a"}"#)[0]),
            json!({"error":"uuid already in use"})
        );
        assert_eq!(
            parse(&r.handle(2, r#"{"from":"z"}"#)[0]),
            json!({"error":"from does not match this connection"})
        );
        // play reaches only the publisher of the stream, and only within the room.
        let out = r.handle(2, r#"{"from":"b","request":"play","streamID":"sa"}"#);
        assert_eq!(out.iter().map(|o| o.to).collect::<Vec<_>>(), vec![1]);
        assert!(
            r.handle(2, r#"{"from":"b","request":"play","streamID":"sc"}"#)
                .is_empty()
        );
        assert!(r.handle(2, r#"{"from":"b","request":"play"}"#).is_empty());
        // UUID targeting.
        assert!(r.handle(1, r#"{"from":"a","UUID":"c","x":1}"#).is_empty());
        assert_eq!(r.handle(1, r#"{"from":"a","UUID":"b","x":1}"#)[0].to, 2);
        // sid rules.
        assert_eq!(
            parse(&r.handle(1, r#"{"from":"a","request":"seed","streamID":"other"}"#)[0]),
            json!({"error":"can't change sid"})
        );
        assert_eq!(
            parse(&r.handle(2, r#"{"from":"b","request":"seed","streamID":"sa"}"#)[0]),
            json!({"error":"sid already in use"})
        );
        // Disconnect notice goes to the room only.
        let out = r.remove(1);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].to, 2);
        assert_eq!(parse(&out[0]), json!({"type":"disconnect","uuid":"a"}));
        // A connection that never identified itself leaves silently.
        assert!(r.remove(4).is_empty());
    }

    #[test]
    fn relay_roomless_clients_only_reach_roomless_clients() {
        let mut r = Router::new(Dialect::Relay);
        for conn in 1..=3 {
            r.add(conn);
        }
        r.handle(1, r#"{"from":"a"}"#);
        r.handle(2, r#"{"from":"b","request":"joinroom","roomid":"r"}"#);
        let out = r.handle(3, r#"{"from":"c","hello":1}"#);
        assert_eq!(out.iter().map(|o| o.to).collect::<Vec<_>>(), vec![1]);
    }

    #[test]
    fn flood_guard_allows_bursts_then_drops_then_disconnects() {
        let start = Instant::now();
        let mut guard = FloodGuard::new(start);
        for _ in 0..400 {
            assert_eq!(guard.admit(start), Admission::Accept);
        }
        assert_eq!(
            guard.admit(start),
            Admission::Drop {
                first_in_window: true
            }
        );
        assert_eq!(
            guard.admit(start),
            Admission::Drop {
                first_in_window: false
            }
        );
        // A steady 200/s is fine after the bucket refills.
        let mut now = start + Duration::from_secs(3);
        for _ in 0..1000 {
            now += Duration::from_millis(5);
            assert_eq!(guard.admit(now), Admission::Accept);
        }
        // 1000 frames/s for several seconds ends in a disconnect.
        let mut verdict = Admission::Accept;
        for _ in 0..10_000 {
            now += Duration::from_millis(1);
            verdict = guard.admit(now);
            if verdict == Admission::Disconnect {
                break;
            }
        }
        assert_eq!(verdict, Admission::Disconnect);
        assert!(now - start < Duration::from_secs(20));
    }
}
