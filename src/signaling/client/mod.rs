//! A reconnecting WebSocket client for a VDO.Ninja-compatible signaling server.
//!
//! The client moves text frames and nothing else: encoding, hashing and the meaning of messages
//! belong to `crate::protocol` and the room logic above it. What it adds over a bare
//! [`soup::WebsocketConnection`] is what a recorder that runs for hours needs:
//!
//! * the address is checked up front, so a typo is reported before anything touches the network;
//! * a dropped connection is re-established with exponential back-off (0.5 s doubling to 10 s,
//!   reset after every successful connection), and every (re)connection is announced with
//!   [`ClientEvent::Connected`] so the caller can re-join and re-play. Frames are **not** queued
//!   while disconnected: stale offers and candidates are worse than none, and the caller re-sends
//!   its state after `Connected` anyway;
//! * a half-open connection (suspend/resume, Wi-Fi change) is detected with WebSocket pings and
//!   replaced instead of sitting silent forever;
//! * oversized and binary frames are dropped instead of being passed up.
//!
//! Everything runs on the thread-default GLib main context of the thread that called
//! [`SignalingClient::connect`]; libsoup requires its async operations to start on the thread that
//! owns that context.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use glib::translate::IntoGlib;
use soup::prelude::*;

mod errors;

pub use errors::ClientError;
use errors::{classify_error, describe_close, normalize_url};

/// Largest incoming text frame passed to the caller, in bytes. Larger frames are logged and
/// dropped. Real signaling frames stay far below this (the web client refuses to send more than
/// 35 000 characters), so anything bigger is a misbehaving or hostile server.
pub const MAX_INCOMING_FRAME_BYTES: usize = 1_000_000;

/// libsoup closes the connection when a frame exceeds its `max-incoming-payload-size`, so the hard
/// transport limit sits above [`MAX_INCOMING_FRAME_BYTES`]: frames in between are dropped while
/// the connection survives, and only absurd frames (which would otherwise be buffered in memory)
/// cost the connection. libsoup's default (128 KiB) would be too small for large SDP bundles.
const TRANSPORT_PAYLOAD_LIMIT: u64 = 4 * MAX_INCOMING_FRAME_BYTES as u64;

/// First reconnection delay; doubled after every failed attempt.
const INITIAL_BACKOFF: Duration = Duration::from_millis(500);
/// Upper bound of the reconnection delay.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// A connection attempt (TCP + TLS + HTTP upgrade) that takes longer than this is abandoned.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// libsoup sends a WebSocket ping this often (seconds); any RFC 6455 server answers with a pong.
const KEEPALIVE_INTERVAL_SECS: u32 = 20;
/// With neither a frame nor a pong for this long the connection is considered dead and replaced.
const SILENCE_LIMIT: Duration = Duration::from_secs(3 * KEEPALIVE_INTERVAL_SECS as u64);

/// What the client reports on its event channel.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// The WebSocket is open. `attempt` is 1 for the first connection and counts up with every
    /// reconnection, so `attempt > 1` means "re-join the room and re-play the streams".
    Connected { attempt: u32 },
    /// One text frame from the server, unparsed.
    Message(String),
    /// The connection was lost or an attempt failed. `retry_in` is the delay before the next
    /// attempt, `None` when the client has stopped (after [`SignalingClient::close`]).
    Disconnected {
        reason: String,
        retry_in: Option<Duration>,
    },
    /// The client gave up for good (see [`ClientError`]); no events follow.
    Failed(ClientError),
}

/// A WebSocket connection to a signaling server that keeps itself connected.
///
/// Dropping the client closes it, like [`SignalingClient::close`]. The client is bound to the
/// thread (and GLib main context) that created it.
#[derive(Debug)]
pub struct SignalingClient {
    inner: Rc<Inner>,
}

/// Internal wake-ups of the background task.
#[derive(Debug)]
enum Wake {
    /// The connection of the given generation closed.
    Closed { generation: u64, reason: String },
    /// [`SignalingClient::close`] was called.
    Stop,
}

/// The live connection and the signal handlers that must be removed with it, so a replaced
/// connection can never deliver frames or close events into the new one's state.
#[derive(Debug)]
struct Live {
    ws: soup::WebsocketConnection,
    handlers: Vec<glib::SignalHandlerId>,
}

#[derive(Debug)]
struct Inner {
    url: String,
    /// `host[:port]`, used in error messages.
    host: String,
    session: soup::Session,
    events: async_channel::Sender<ClientEvent>,
    wake: async_channel::Sender<Wake>,
    live: RefCell<Option<Live>>,
    /// Set by `close()`; the background task ends at its next step.
    stopping: Cell<bool>,
    /// Cancels the connection attempt in progress, if any.
    pending: RefCell<Option<gio::Cancellable>>,
    /// Incremented for every installed connection; tags close notifications.
    generation: Cell<u64>,
    /// Successful connections so far (the `attempt` of [`ClientEvent::Connected`]).
    connections: Cell<u32>,
    /// Last time a frame or a pong arrived (liveness check).
    last_activity: Cell<Instant>,
    /// The TCP socket of the current connection, and what it had received when the last
    /// whole message arrived (see `signaling::transport`).
    transport: RefCell<Option<gio::Socket>>,
    message_watch: RefCell<Option<crate::signaling::transport::MessageWatch>>,
    /// Last transport error reported by libsoup, folded into the next disconnect reason.
    last_error: RefCell<Option<String>>,
}

impl SignalingClient {
    /// Checks `url` and starts connecting in the background.
    ///
    /// Only `ws://` and `wss://` addresses are accepted; an address without a scheme gets
    /// `wss://` (as Raspberry Ninja does), because the public servers are TLS-only. Must be
    /// called on the thread that owns the thread-default GLib main context.
    ///
    /// Returns the client and the receiver of its [`ClientEvent`]s. The channel closes after
    /// [`ClientEvent::Failed`] or [`SignalingClient::close`].
    pub fn connect(
        url: &str,
    ) -> Result<(SignalingClient, async_channel::Receiver<ClientEvent>), ClientError> {
        let (url, host) = normalize_url(url)?;
        crate::signaling::init_types();
        let session = soup::Session::new();
        session.set_user_agent(concat!("Roomtape/", env!("CARGO_PKG_VERSION")));
        let (events, events_rx) = async_channel::unbounded();
        let (wake, wake_rx) = async_channel::unbounded();
        let inner = Rc::new(Inner {
            url,
            host,
            session,
            events,
            wake,
            live: RefCell::new(None),
            stopping: Cell::new(false),
            pending: RefCell::new(None),
            generation: Cell::new(0),
            connections: Cell::new(0),
            last_activity: Cell::new(Instant::now()),
            transport: RefCell::new(None),
            message_watch: RefCell::new(None),
            last_error: RefCell::new(None),
        });
        glib::spawn_future_local(run(Rc::clone(&inner), wake_rx));
        Ok((SignalingClient { inner }, events_rx))
    }

    /// Sends one text frame. Returns `false` (and logs) when not connected: frames are not
    /// queued, the caller re-sends its state after the next [`ClientEvent::Connected`].
    pub fn send(&self, text: &str) -> bool {
        let ws = self.inner.open_connection();
        match ws {
            Some(ws) => {
                ws.send_text(text);
                true
            }
            None => {
                tracing::warn!(
                    url = %crate::signaling::redact_url(&self.inner.url),
                    bytes = text.len(),
                    "signaling: not connected, frame dropped"
                );
                false
            }
        }
    }

    /// Closes the connection and stops reconnecting. Emits a final
    /// `Disconnected { retry_in: None }` if a connection was open, then closes the event channel.
    /// Calling it again does nothing.
    pub fn close(&self) {
        let inner = &self.inner;
        if inner.stopping.replace(true) {
            return;
        }
        if let Some(cancellable) = inner.pending.take() {
            cancellable.cancel();
        }
        if inner.take_connection() {
            inner.emit(ClientEvent::Disconnected {
                reason: "Disconnected from the signaling server.".to_owned(),
                retry_in: None,
            });
        }
        inner.events.close();
        // Wake the task so it ends now instead of after its current back-off or watch period.
        let _ = inner.wake.try_send(Wake::Stop);
    }

    /// Whether a connection is open right now.
    pub fn is_connected(&self) -> bool {
        self.inner.open_connection().is_some()
    }

    /// The normalized server address (scheme added if it was missing).
    pub fn url(&self) -> &str {
        &self.inner.url
    }
}

impl Drop for SignalingClient {
    fn drop(&mut self) {
        self.close();
    }
}

impl Inner {
    fn emit(&self, event: ClientEvent) {
        if self.events.try_send(event).is_err() {
            tracing::trace!("signaling: event receiver gone, event dropped");
        }
    }

    /// The current connection if it is open.
    fn open_connection(&self) -> Option<soup::WebsocketConnection> {
        self.live
            .borrow()
            .as_ref()
            .filter(|live| live.ws.state() == soup::WebsocketState::Open)
            .map(|live| live.ws.clone())
    }

    /// Detaches the current connection and closes it gracefully. Returns whether there was one.
    fn take_connection(&self) -> bool {
        let Some(live) = self.live.borrow_mut().take() else {
            return false;
        };
        for handler in live.handlers {
            live.ws.disconnect(handler);
        }
        close_gracefully(&live.ws, soup::WebsocketCloseCode::Normal, None);
        true
    }

    /// One connection attempt, bounded by [`CONNECT_TIMEOUT`] and cancellable by `close()`.
    /// On success the connection is already installed and announced; returns its generation.
    async fn connect_once(self: &Rc<Self>) -> Result<u64, ClientError> {
        let message = soup::Message::new("GET", &self.url).map_err(|err| ClientError::BadUrl {
            url: crate::signaling::redact_url(&self.url),
            reason: err.to_string(),
        })?;
        let cancellable = gio::Cancellable::new();
        self.pending.replace(Some(cancellable.clone()));
        let abandoned = Rc::new(Cell::new(false));
        let (sender, receiver) = futures_channel::oneshot::channel();
        let weak = Rc::downgrade(self);
        let gave_up = Rc::clone(&abandoned);
        // The binding turns "no subprotocols" into an empty list rather than NULL, and libsoup
        // then sends `Sec-WebSocket-Protocol:` with no value, which strict servers (Node's `ws`,
        // Python's `websockets`) refuse. The header is taken out just before the request goes.
        message.connect_starting(|message| {
            if let Some(headers) = message.request_headers() {
                headers.remove("Sec-WebSocket-Protocol");
            }
        });
        self.session.websocket_connect_async(
            &message,
            None,
            &[],
            glib::Priority::DEFAULT,
            Some(&cancellable),
            move |result| {
                // libsoup starts reading as soon as the connection exists, so it is wired up
                // here, synchronously: waiting for the task to be polled could lose the first
                // frames or the close notification of a connection that dies at once.
                let outcome = match (result, weak.upgrade()) {
                    (Ok(ws), Some(inner)) if !gave_up.get() && !inner.stopping.get() => {
                        Ok(inner.install(ws))
                    }
                    (Ok(ws), _) => {
                        close_gracefully(&ws, soup::WebsocketCloseCode::Normal, None);
                        Err(glib::Error::new(
                            gio::IOErrorEnum::Cancelled,
                            "connection attempt abandoned",
                        ))
                    }
                    (Err(err), _) => Err(err),
                };
                let _ = sender.send(outcome);
            },
        );
        let outcome = glib::future_with_timeout(CONNECT_TIMEOUT, receiver).await;
        self.pending.replace(None);
        match outcome {
            Err(_elapsed) => {
                abandoned.set(true);
                cancellable.cancel();
                Err(ClientError::Refused {
                    host: self.host.clone(),
                    detail: format!(
                        "no answer within {} seconds (is the address right?)",
                        CONNECT_TIMEOUT.as_secs()
                    ),
                })
            }
            Ok(Err(_canceled)) => Err(ClientError::Closed {
                detail: "the connection attempt was abandoned".to_owned(),
            }),
            Ok(Ok(Ok(generation))) => Ok(generation),
            Ok(Ok(Err(err))) => Err(classify_error(&self.host, &err)),
        }
    }

    /// Makes `ws` the current connection, wires its signals and emits
    /// [`ClientEvent::Connected`] (before any of its frames can be emitted). Returns its generation.
    fn install(self: &Rc<Self>, ws: soup::WebsocketConnection) -> u64 {
        let generation = self.generation.get() + 1;
        self.generation.set(generation);
        self.last_activity.set(Instant::now());
        self.last_error.replace(None);
        ws.set_max_incoming_payload_size(TRANSPORT_PAYLOAD_LIMIT);
        ws.set_keepalive_interval(KEEPALIVE_INTERVAL_SECS);
        let transport = ws.io_stream().and_then(socket_under);
        if transport.is_none() {
            tracing::debug!("signaling: no TCP socket found under the connection");
        }
        let watch = transport.as_ref().and_then(|socket| {
            crate::signaling::transport::MessageWatch::start(
                socket,
                crate::signaling::server::MAX_UNFINISHED_MESSAGE_BYTES,
            )
        });
        self.message_watch.replace(watch);
        self.transport.replace(transport);

        let weak = Rc::downgrade(self);
        let on_message = ws.connect_message(move |_, kind, bytes| {
            if let Some(inner) = weak.upgrade() {
                inner.on_frame(kind, bytes);
            }
        });
        let weak = Rc::downgrade(self);
        let on_pong = ws.connect_pong(move |_, _| {
            if let Some(inner) = weak.upgrade() {
                inner.last_activity.set(Instant::now());
                inner.whole_message_received();
            }
        });
        let weak = Rc::downgrade(self);
        let on_error = ws.connect_error(move |_, err| {
            tracing::warn!("signaling: connection error: {err}");
            if let Some(inner) = weak.upgrade() {
                inner.last_error.replace(Some(err.message().to_owned()));
            }
        });
        let weak = Rc::downgrade(self);
        let on_closed = ws.connect_closed(move |ws| {
            if let Some(inner) = weak.upgrade() {
                let cut = inner
                    .message_watch
                    .borrow()
                    .as_ref()
                    .is_some_and(|watch| watch.cut());
                let error = if cut {
                    tracing::warn!("signaling: the server sent a message without end; cut off");
                    Some("the server sent a message larger than any signaling message".to_owned())
                } else {
                    inner.last_error.take()
                };
                let reason = describe_close(ws, error);
                let _ = inner.wake.try_send(Wake::Closed { generation, reason });
            }
        });
        self.live.replace(Some(Live {
            ws,
            handlers: vec![on_message, on_pong, on_error, on_closed],
        }));
        let attempt = self.connections.get().saturating_add(1);
        self.connections.set(attempt);
        tracing::info!(url = %crate::signaling::redact_url(&self.url), attempt, "signaling: connected");
        self.emit(ClientEvent::Connected { attempt });
        generation
    }

    /// A whole message arrived. A server that sends continuation frames without ever
    /// finishing a message would make libsoup 3.2 buffer them without limit: the watch cuts the
    /// connection past the limit, counted from the last whole message.
    fn whole_message_received(&self) {
        if let (Some(watch), Some(socket)) = (
            self.message_watch.borrow().as_ref(),
            self.transport.borrow().as_ref(),
        ) {
            watch.seen(socket);
        }
    }

    fn on_frame(&self, kind: i32, bytes: &glib::Bytes) {
        self.last_activity.set(Instant::now());
        self.whole_message_received();
        if kind != soup::WebsocketDataType::Text.into_glib() {
            tracing::warn!(
                bytes = bytes.len(),
                "signaling: binary frame from the server dropped"
            );
            return;
        }
        if bytes.len() > MAX_INCOMING_FRAME_BYTES {
            tracing::warn!(
                bytes = bytes.len(),
                limit = MAX_INCOMING_FRAME_BYTES,
                "signaling: oversized frame from the server dropped"
            );
            return;
        }
        match std::str::from_utf8(bytes) {
            Ok(text) => self.emit(ClientEvent::Message(text.to_owned())),
            Err(err) => tracing::warn!("signaling: frame is not UTF-8, dropped: {err}"),
        }
    }

    /// Waits until the connection of `generation` ends. Returns the reason, or `None` when the
    /// client is being closed.
    async fn watch(&self, generation: u64, wake: &async_channel::Receiver<Wake>) -> Option<String> {
        let check_every = Duration::from_secs(u64::from(KEEPALIVE_INTERVAL_SECS));
        loop {
            match glib::future_with_timeout(check_every, wake.recv()).await {
                Ok(Ok(Wake::Closed {
                    generation: closed,
                    reason,
                })) if closed == generation => return Some(reason),
                Ok(Ok(Wake::Closed { .. })) => continue,
                Ok(Ok(Wake::Stop) | Err(_)) => return None,
                Err(_elapsed) => {
                    if self.stopping.get() {
                        return None;
                    }
                    if self.last_activity.get().elapsed() > SILENCE_LIMIT {
                        return Some(
                            ClientError::Closed {
                                detail: format!(
                                    "no sign of life from the server for {} seconds",
                                    SILENCE_LIMIT.as_secs()
                                ),
                            }
                            .to_string(),
                        );
                    }
                }
            }
        }
    }
}

/// The background task: connect, watch, back off, repeat until closed or failed for good.
async fn run(inner: Rc<Inner>, wake: async_channel::Receiver<Wake>) {
    let mut backoff = INITIAL_BACKOFF;
    loop {
        if inner.stopping.get() {
            break;
        }
        let attempt = inner.connect_once().await;
        if inner.stopping.get() {
            // close() ran while connecting and has already dropped any connection that won the
            // race.
            break;
        }
        match attempt {
            Ok(generation) => {
                backoff = INITIAL_BACKOFF;
                let Some(reason) = inner.watch(generation, &wake).await else {
                    break;
                };
                inner.take_connection();
                if inner.stopping.get() {
                    break;
                }
                tracing::info!(url = %crate::signaling::redact_url(&inner.url), "signaling: {reason}; retrying in {backoff:?}");
                inner.emit(ClientEvent::Disconnected {
                    reason,
                    retry_in: Some(backoff),
                });
            }
            Err(err) if inner.connections.get() == 0 && err.is_permanent() => {
                tracing::warn!(url = %crate::signaling::redact_url(&inner.url), "signaling: giving up: {err}");
                inner.emit(ClientEvent::Failed(err));
                inner.events.close();
                break;
            }
            Err(err) => {
                tracing::info!(url = %crate::signaling::redact_url(&inner.url), "signaling: {err}; retrying in {backoff:?}");
                inner.emit(ClientEvent::Disconnected {
                    reason: err.to_string(),
                    retry_in: Some(backoff),
                });
            }
        }
        if wait_for_stop(&wake, backoff).await {
            break;
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
    tracing::debug!(url = %crate::signaling::redact_url(&inner.url), "signaling: client task ended");
}

/// Sleeps for `delay` unless a stop request arrives first; returns whether one did. Close
/// notifications of connections already replaced are skipped.
async fn wait_for_stop(wake: &async_channel::Receiver<Wake>, delay: Duration) -> bool {
    let stop = async {
        loop {
            match wake.recv().await {
                Ok(Wake::Closed { .. }) => continue,
                Ok(Wake::Stop) | Err(_) => return,
            }
        }
    };
    glib::future_with_timeout(delay, stop).await.is_ok()
}

/// Starts a close handshake and keeps `ws` alive until it completes: dropping the last
/// reference mid-handshake would cut the TCP connection instead.
pub(super) fn close_gracefully(
    ws: &soup::WebsocketConnection,
    code: soup::WebsocketCloseCode,
    reason: Option<&str>,
) {
    if ws.state() != soup::WebsocketState::Open {
        return;
    }
    let keep_alive = RefCell::new(Some(ws.clone()));
    ws.connect_closed(move |_| {
        keep_alive.borrow_mut().take();
    });
    ws.close(code.into_glib() as u16, reason);
}

/// The TCP socket under a WebSocket's stream (through TLS and libsoup's wrappers).
fn socket_under(stream: gio::IOStream) -> Option<gio::Socket> {
    use gio::prelude::*;
    let mut stream = stream;
    for _ in 0..4 {
        if let Some(connection) = stream.downcast_ref::<gio::SocketConnection>() {
            return Some(connection.socket());
        }
        let inner = ["base-iostream", "base-io-stream"]
            .into_iter()
            .find(|name| stream.has_property(name))
            .and_then(|name| stream.property::<Option<gio::IOStream>>(name))?;
        stream = inner;
    }
    None
}
