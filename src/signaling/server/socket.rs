//! The soup side of the server: listening, accepting WebSockets, and the limits a client is
//! held to (frame size and flood, unfinished messages, unread queues, slow handshakes, how many
//! connections fit). What a frame means is the router's business.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use glib::translate::IntoGlib;
use soup::prelude::*;

use super::flood::{Admission, FloodGuard};
use super::router::{ConnId, Outgoing, Router};
use super::{Dialect, ServerError};
use crate::signaling::client::close_gracefully;

/// Frames larger than this (bytes) are dropped with an error reply; the connection stays open.
/// The web client never sends more than 35 000 characters.
pub const MAX_SERVER_FRAME_BYTES: usize = 100_000;

/// libsoup's own limit: a frame this large makes libsoup close the connection (code 1009) before
/// buffering it, which bounds the memory one client can make us allocate.
const TRANSPORT_PAYLOAD_LIMIT: u64 = 1024 * 1024;

/// WebSocket pings keep NAT mappings alive and let libsoup notice dead peers (seconds), like the
/// offline relay's 30 s pings.
const KEEPALIVE_INTERVAL_SECS: u32 = 30;

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
        crate::signaling::init_types();
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
            crate::signaling::transport::abort(&socket);
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
                crate::signaling::transport::abort(&pending.socket);
            }
            alive
        });
        let mut cut = Vec::new();
        for (conn, socket) in self.sockets.borrow().iter() {
            let Some(transport) = &socket.transport else {
                continue;
            };
            if let Some(received) = crate::signaling::transport::bytes_received(transport)
                && received.saturating_sub(socket.received_at_last_message)
                    > MAX_UNFINISHED_MESSAGE_BYTES
            {
                tracing::warn!(conn, "signaling server: unfinished message too large");
                cut.push(transport.clone());
            }
        }
        for transport in cut {
            crate::signaling::transport::abort(&transport);
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
            .and_then(crate::signaling::transport::bytes_received)
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
                .and_then(crate::signaling::transport::bytes_received)
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
            crate::signaling::transport::trim_memory();
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
                    if crate::signaling::transport::writable(transport) {
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
            crate::signaling::transport::abort(&transport);
        }
        for (ws, text) in targets {
            if ws.state() == soup::WebsocketState::Open {
                ws.send_text(&text);
            }
        }
    }
}
