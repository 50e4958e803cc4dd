//! Integration tests of the signaling layer: real libsoup WebSockets on 127.0.0.1.
//!
//! Every test builds its own `glib::MainContext`, makes it the thread default and drives the test
//! future with `block_on`, because the test harness runs tests on parallel threads in one process
//! and libsoup binds its sockets to the thread-default context. Servers listen on port 0.

use std::future::Future;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use glib::translate::ToGlibPtr;
use roomtape::signaling::{
    ClientError, ClientEvent, Dialect, MAX_SERVER_FRAME_BYTES, SignalingClient, SignalingServer,
};
use serde_json::{Value, json};
use soup::prelude::*;

/// Longest wait for something that must happen.
const STEP: Duration = Duration::from_secs(5);
/// How long "nothing arrives" is observed.
const QUIET: Duration = Duration::from_millis(300);

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// Runs `test` to completion on a fresh main context owned by this thread.
/// Set `RUST_LOG=roomtape=debug` to see the signaling layer's log.
fn run<F: Future<Output = ()>>(test: impl FnOnce() -> F) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let context = glib::MainContext::new();
    context
        .with_thread_default(|| context.block_on(test()))
        .unwrap();
}

/// A [`SignalingClient`] with its event receiver and assertion helpers.
struct Peer {
    name: &'static str,
    client: SignalingClient,
    events: async_channel::Receiver<ClientEvent>,
}

impl Peer {
    async fn connect(name: &'static str, url: &str) -> Peer {
        let (client, events) = SignalingClient::connect(url).unwrap();
        let peer = Peer {
            name,
            client,
            events,
        };
        match peer.next_event().await {
            ClientEvent::Connected { attempt: 1 } => {}
            other => panic!("{name}: expected Connected, got {other:?}"),
        }
        assert!(peer.client.is_connected());
        peer
    }

    async fn next_event(&self) -> ClientEvent {
        match glib::future_with_timeout(STEP, self.events.recv()).await {
            Ok(Ok(event)) => event,
            Ok(Err(_)) => panic!("{}: event channel closed", self.name),
            Err(_) => panic!("{}: no event within {STEP:?}", self.name),
        }
    }

    fn send(&self, value: Value) {
        self.send_text(&value.to_string());
    }

    fn send_text(&self, text: &str) {
        assert!(self.client.send(text), "{}: send failed", self.name);
    }

    /// The next frame, as text.
    async fn recv_text(&self) -> String {
        match self.next_event().await {
            ClientEvent::Message(text) => text,
            other => panic!("{}: expected a message, got {other:?}", self.name),
        }
    }

    /// The next frame, parsed.
    async fn recv(&self) -> Value {
        let text = self.recv_text().await;
        serde_json::from_str(&text)
            .unwrap_or_else(|err| panic!("{}: server sent invalid JSON {text:?}: {err}", self.name))
    }

    /// Asserts that nothing is waiting (call after [`quiet_period`]).
    fn assert_nothing_received(&self) {
        if let Ok(event) = self.events.try_recv() {
            panic!("{}: expected nothing, got {event:?}", self.name);
        }
    }
}

/// Lets in-flight frames arrive, so `assert_nothing_received` is meaningful.
async fn quiet_period() {
    glib::timeout_future(QUIET).await;
}

async fn assert_quiet(peers: &[&Peer]) {
    quiet_period().await;
    for peer in peers {
        peer.assert_nothing_received();
    }
}

/// Polls `condition` on the running context until it holds or [`STEP`] passes.
async fn eventually(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + STEP;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        glib::timeout_future(Duration::from_millis(20)).await;
    }
}

fn uuid_in(value: &Value) -> String {
    value["UUID"].as_str().unwrap().to_owned()
}

#[test]
fn official_three_clients_two_rooms() {
    run(|| async {
        let server = SignalingServer::start(loopback(), Dialect::Official).unwrap();
        let url = server.url();
        assert!(url.starts_with("ws://127.0.0.1:"), "{url}");
        assert_ne!(server.local_addr().port(), 0);

        // A publishes camA in room "alpha": nobody there yet.
        let a = Peer::connect("a", &url).await;
        a.send(json!({"request": "joinroom", "roomid": "alpha", "streamID": "camA"}));
        assert_eq!(a.recv().await, json!({"request": "listing", "list": []}));

        // B joins alpha as a viewer: it sees A with its stream, A hears about B (no streamID).
        let b = Peer::connect("b", &url).await;
        b.send(json!({"request": "joinroom", "roomid": "alpha"}));
        let listing = b.recv().await;
        assert_eq!(listing["request"], "listing");
        let list = listing["list"].as_array().unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0]["streamID"], "camA");
        let uuid_a = uuid_in(&list[0]);
        let joined = a.recv().await;
        assert_eq!(joined["request"], "someonejoined");
        assert!(joined.get("streamID").is_none(), "{joined}");
        let uuid_b = uuid_in(&joined);
        assert_ne!(uuid_a, uuid_b);
        assert_eq!(uuid_a.len(), 36);

        // C publishes camC in room "beta": alpha hears nothing.
        let c = Peer::connect("c", &url).await;
        c.send(json!({"request": "joinroom", "roomid": "beta", "streamID": "camC"}));
        assert_eq!(c.recv().await, json!({"request": "listing", "list": []}));
        assert_quiet(&[&a, &b]).await;

        // B starts publishing: only alpha is told.
        b.send(json!({"request": "seed", "streamID": "camB"}));
        assert_eq!(
            a.recv().await,
            json!({"request": "videoaddedtoroom", "UUID": uuid_b, "streamID": "camB"})
        );

        // play → offerSDP to the right seeder, carrying the player's UUID.
        b.send(json!({"request": "play", "streamID": "camA"}));
        assert_eq!(
            a.recv().await,
            json!({"request": "offerSDP", "UUID": uuid_b})
        );
        assert_quiet(&[&b, &c]).await;

        // A stream of another room cannot be played from alpha.
        b.send(json!({"request": "play", "streamID": "camC"}));
        assert_eq!(b.recv().await["request"], "alert");
        assert_quiet(&[&a, &c]).await;

        // UUID targeting: delivered only to the target, UUID rewritten to the sender, rest kept.
        let offer = json!({
            "UUID": uuid_b, "session": "s1", "streamID": "camA",
            "description": {"type": "offer", "sdp": "v=0\r\n"}
        });
        a.send(offer.clone());
        let mut expected = offer;
        expected["UUID"] = json!(uuid_a);
        assert_eq!(b.recv().await, expected);
        b.send(json!({
            "UUID": uuid_a, "session": "s1", "type": "remote",
            "candidates": [{"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host", "sdpMLineIndex": 0}]
        }));
        let candidates = a.recv().await;
        assert_eq!(candidates["UUID"], json!(uuid_b));
        assert_eq!(candidates["session"], "s1");
        assert_eq!(candidates["type"], "remote");
        assert_eq!(candidates["candidates"][0]["sdpMLineIndex"], 0);

        // Unknown requests without UUID and pings are ignored.
        a.send(json!({"request": "somethingnew"}));
        a.send(json!({"request": "ping"}));
        assert_quiet(&[&a, &b, &c]).await;

        // A duplicate stream id in alpha is refused; the join itself still works.
        let d = Peer::connect("d", &url).await;
        d.send(json!({"request": "joinroom", "roomid": "alpha", "streamID": "camA"}));
        assert_eq!(
            d.recv().await,
            json!({"request": "alert", "message": "Stream ID is already in use."})
        );
        let listing = d.recv().await;
        assert_eq!(listing["list"].as_array().unwrap().len(), 2);
        let uuid_d = uuid_in(&a.recv().await);
        assert_eq!(uuid_in(&b.recv().await), uuid_d);
        assert_eq!(server.client_count(), 4);

        // Closing: beta's only member leaves silently for alpha; a member of alpha is cleaned up.
        c.client.close();
        drop(c);
        assert_quiet(&[&a, &b, &d]).await;
        b.client.close();
        assert_eq!(
            b.next_event().await,
            ClientEvent::Disconnected {
                reason: "Disconnected from the signaling server.".into(),
                retry_in: None
            }
        );
        assert!(
            b.events.recv().await.is_err(),
            "channel closes after close()"
        );
        assert!(!b.client.is_connected());
        assert!(!b.client.send("{}"));
        assert_eq!(
            a.recv().await,
            json!({"request": "cleanup", "UUID": uuid_b})
        );
        assert_eq!(
            d.recv().await,
            json!({"request": "cleanup", "UUID": uuid_b})
        );
        eventually("two clients left", || server.client_count() == 2).await;
    });
}

#[test]
fn relay_three_clients_two_rooms() {
    run(|| async {
        let server = SignalingServer::start(loopback(), Dialect::Relay).unwrap();
        let url = server.url();

        let a = Peer::connect("a", &url).await;
        a.send(json!({"from": "a", "request": "joinroom", "roomid": "r1", "streamID": "sa"}));
        let b = Peer::connect("b", &url).await;
        let join_b = r#"{"request":"joinroom","roomid":"r1","from":"b"}"#;
        b.send_text(join_b);
        // Relays forward frames byte for byte.
        assert_eq!(a.recv_text().await, join_b);

        let c = Peer::connect("c", &url).await;
        c.send(json!({"from": "c", "request": "joinroom", "roomid": "r2", "streamID": "sc"}));
        assert_quiet(&[&a, &b]).await;

        // play reaches only the connection that registered that stream id, within the room.
        let play = r#"{"request":"play","streamID":"sa","from":"b"}"#;
        b.send_text(play);
        assert_eq!(a.recv_text().await, play);
        b.send(json!({"from": "b", "request": "play", "streamID": "sc"}));
        assert_quiet(&[&a, &b, &c]).await;

        // UUID targeting, unchanged; an address in another room is not reachable.
        let offer =
            r#"{"UUID":"b","from":"a","session":"s","description":{"type":"offer","sdp":"v=0"}}"#;
        a.send_text(offer);
        assert_eq!(b.recv_text().await, offer);
        c.send(json!({"from": "c", "UUID": "a", "x": 1}));
        // Broadcast within a room.
        b.send(json!({"from": "b", "hello": "r1"}));
        assert_eq!(a.recv().await, json!({"from": "b", "hello": "r1"}));
        assert_quiet(&[&a, &b, &c]).await;

        // Identity rules: duplicate `from`, missing `from`.
        let d = Peer::connect("d", &url).await;
        d.send(json!({"from": "a", "request": "joinroom", "roomid": "r1"}));
        assert_eq!(d.recv().await, json!({"error": "uuid already in use"}));
        d.send(json!({"request": "joinroom", "roomid": "r1"}));
        assert_eq!(d.recv().await, json!({"error": "missing from"}));
        assert_quiet(&[&a, &b, &c]).await;

        // Leaving: only the room hears about it.
        drop(b);
        assert_eq!(a.recv().await, json!({"type": "disconnect", "uuid": "b"}));
        assert_quiet(&[&c, &d]).await;
        eventually("three clients left", || server.client_count() == 3).await;
    });
}

#[test]
fn garbage_and_floods_do_not_disturb_others() {
    run(|| async {
        let server = SignalingServer::start(loopback(), Dialect::Official).unwrap();
        let url = server.url();
        let a = Peer::connect("a", &url).await;
        a.send(json!({"request": "joinroom", "roomid": "r", "streamID": "camA"}));
        a.recv().await;
        let b = Peer::connect("b", &url).await;
        b.send(json!({"request": "joinroom", "roomid": "r"}));
        let uuid_a = uuid_in(&b.recv().await["list"][0]);
        let uuid_b = uuid_in(&a.recv().await);

        let x = Peer::connect("x", &url).await;
        x.send(json!({"request": "joinroom", "roomid": "r"}));
        x.recv().await;
        let uuid_x = uuid_in(&a.recv().await);
        b.recv().await;

        // Malformed frames are answered with an error; the sender stays connected.
        for garbage in ["not json {", "[1,2,3]", "42", "\"text\""] {
            x.send_text(garbage);
            let reply = x.recv().await;
            assert_eq!(reply["request"], "error", "{garbage}: {reply}");
        }
        // An oversized frame is dropped with an error, connection kept.
        let huge = json!({"UUID": uuid_a, "pad": "x".repeat(MAX_SERVER_FRAME_BYTES + 10)});
        x.send(huge);
        assert_eq!(
            x.recv().await,
            json!({"request": "error", "message": "message too large"})
        );
        assert!(x.client.is_connected());
        assert_quiet(&[&a, &b]).await;

        // A flood is cut to the burst allowance and the flooder survives a short one.
        for n in 0..1000 {
            x.send(json!({"UUID": uuid_b, "n": n}));
        }
        let mut received = 0;
        while let Ok(Ok(event)) = glib::future_with_timeout(QUIET, b.events.recv()).await {
            assert!(matches!(event, ClientEvent::Message(_)), "{event:?}");
            received += 1;
        }
        assert!(
            (400..1000).contains(&received),
            "{received} of 1000 flood frames delivered"
        );
        assert!(x.client.is_connected());

        // Peer-to-peer traffic in the room still flows.
        a.send(json!({"UUID": uuid_b, "session": "s", "bye": true}));
        assert_eq!(
            b.recv().await,
            json!({"UUID": uuid_a, "session": "s", "bye": true})
        );

        // A frame beyond the transport limit costs the sender its connection, nobody else's.
        // (libsoup closes with 1009; the client may see that or a reset, depending on timing.)
        x.send_text(&format!("\"{}\"", "y".repeat(2 * 1024 * 1024)));
        match x.next_event().await {
            ClientEvent::Disconnected {
                reason,
                retry_in: Some(_),
            } => assert!(!reason.is_empty()),
            other => panic!("expected x to be disconnected, got {other:?}"),
        }
        x.client.close();
        assert_eq!(
            a.recv().await,
            json!({"request": "cleanup", "UUID": uuid_x})
        );
        assert_eq!(
            b.recv().await,
            json!({"request": "cleanup", "UUID": uuid_x})
        );
        a.send(json!({"UUID": uuid_b, "still": "here"}));
        assert_eq!(b.recv().await, json!({"UUID": uuid_a, "still": "here"}));
    });
}

#[test]
fn binary_frames_get_an_error_reply_and_keep_the_connection() {
    run(|| async {
        let server = SignalingServer::start(loopback(), Dialect::Relay).unwrap();
        let session = soup::Session::new();
        let message = soup::Message::new("GET", &server.url()).unwrap();
        let ws = session
            .websocket_connect_async_future(&message, None, &[], glib::Priority::DEFAULT)
            .await
            .unwrap();
        let (sender, frames) = async_channel::unbounded();
        ws.connect_message(move |_, _, bytes| {
            let _ = sender.try_send(String::from_utf8_lossy(bytes).into_owned());
        });
        let payload = glib::Bytes::from_static(b"\x00\x01binary");
        // soup3 0.8 has no safe binding for sending binary frames.
        // SAFETY: both pointers are valid for the duration of the call; libsoup takes its own
        // references (transfer none).
        unsafe {
            soup::ffi::soup_websocket_connection_send_message(
                ws.to_glib_none().0,
                soup::ffi::SOUP_WEBSOCKET_DATA_BINARY,
                payload.to_glib_none().0,
            );
        }
        let reply = glib::future_with_timeout(STEP, frames.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&reply).unwrap(),
            json!({"error": "binary frames are not supported"})
        );
        ws.send_text(r#"{"request":"seed"}"#);
        let reply = glib::future_with_timeout(STEP, frames.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(reply, r#"{"error":"missing from"}"#);
        assert_eq!(ws.state(), soup::WebsocketState::Open);
        assert_eq!(server.client_count(), 1);
    });
}

#[test]
fn client_reconnects_to_a_restarted_server() {
    run(|| async {
        let first = SignalingServer::start(loopback(), Dialect::Official).unwrap();
        let addr = first.local_addr();
        let peer = Peer::connect("p", &first.url()).await;

        first.stop();
        drop(first);
        match peer.next_event().await {
            ClientEvent::Disconnected {
                reason,
                retry_in: Some(delay),
            } => {
                assert!(reason.contains("shutting down"), "{reason}");
                assert_eq!(delay, Duration::from_millis(500));
            }
            other => panic!("expected Disconnected, got {other:?}"),
        }
        assert!(!peer.client.is_connected());
        assert!(!peer.client.send(r#"{"request":"ping"}"#));

        let second = SignalingServer::start(addr, Dialect::Official).unwrap();
        assert_eq!(second.local_addr(), addr);
        loop {
            match peer.next_event().await {
                ClientEvent::Connected { attempt } => {
                    assert_eq!(attempt, 2);
                    break;
                }
                // A retry that raced the restart is refused; the client keeps trying.
                ClientEvent::Disconnected {
                    retry_in: Some(_), ..
                } => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        peer.send(json!({"request": "joinroom", "roomid": "again"}));
        assert_eq!(peer.recv().await, json!({"request": "listing", "list": []}));
        assert_eq!(second.client_count(), 1);
    });
}

#[test]
fn bad_urls_are_rejected_immediately() {
    run(|| async {
        for url in ["http://x", "https://vdo.ninja", "", "ws://"] {
            match SignalingClient::connect(url) {
                Err(err @ ClientError::BadUrl { .. }) => {
                    assert!(!err.to_string().is_empty());
                }
                Err(other) => panic!("{url:?}: expected BadUrl, got {other:?}"),
                Ok(_) => panic!("{url:?} was accepted"),
            }
        }
        let (client, _events) = SignalingClient::connect("wss.example.invalid:8443").unwrap();
        assert_eq!(client.url(), "wss://wss.example.invalid:8443");
        client.close();
    });
}

#[test]
fn refused_connection_is_reported_and_retried() {
    run(|| async {
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let (client, events) = SignalingClient::connect(&format!("ws://127.0.0.1:{port}")).unwrap();
        let event = glib::future_with_timeout(STEP, events.recv())
            .await
            .unwrap()
            .unwrap();
        match event {
            ClientEvent::Disconnected {
                reason,
                retry_in: Some(delay),
            } => {
                assert!(reason.contains("refused"), "{reason}");
                assert!(reason.contains(&format!("127.0.0.1:{port}")), "{reason}");
                assert_eq!(delay, Duration::from_millis(500));
            }
            other => panic!("expected Disconnected, got {other:?}"),
        }
        // The second attempt backs off twice as long.
        let event = glib::future_with_timeout(STEP, events.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(
            matches!(event, ClientEvent::Disconnected { retry_in: Some(d), .. } if d == Duration::from_secs(1)),
            "{event:?}"
        );
        client.close();
        let end = glib::future_with_timeout(STEP, events.recv())
            .await
            .unwrap();
        assert!(end.is_err(), "channel closes after close(): {end:?}");
    });
}

/// A plain TCP server on 127.0.0.1 that answers the first request with `response` and exits.
fn one_shot_http_server(response: &'static [u8]) -> (u16, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut request = [0u8; 4096];
        let _ = stream.read(&mut request).unwrap();
        stream.write_all(response).unwrap();
    });
    (port, handle)
}

#[test]
fn non_websocket_server_fails_with_a_protocol_error() {
    let (port, web_server) = one_shot_http_server(
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found",
    );
    run(|| async {
        let (_client, events) =
            SignalingClient::connect(&format!("ws://127.0.0.1:{port}/")).unwrap();
        let event = glib::future_with_timeout(STEP, events.recv())
            .await
            .unwrap()
            .unwrap();
        match event {
            ClientEvent::Failed(err @ ClientError::Protocol { .. }) => {
                assert!(err.to_string().contains("WebSocket"), "{err}");
            }
            other => panic!("expected Failed(Protocol), got {other:?}"),
        }
        let end = glib::future_with_timeout(STEP, events.recv())
            .await
            .unwrap();
        assert!(end.is_err(), "no events after Failed");
    });
    web_server.join().unwrap();
}

#[test]
fn wss_to_a_plain_http_server_fails_with_a_tls_error() {
    let (port, web_server) = one_shot_http_server(
        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    run(|| async {
        let (_client, events) =
            SignalingClient::connect(&format!("wss://127.0.0.1:{port}")).unwrap();
        let event = glib::future_with_timeout(STEP, events.recv())
            .await
            .unwrap()
            .unwrap();
        match event {
            ClientEvent::Failed(err @ ClientError::Tls { .. }) => {
                assert!(err.to_string().contains("secure"), "{err}");
            }
            other => panic!("expected Failed(Tls), got {other:?}"),
        }
    });
    web_server.join().unwrap();
}

#[test]
fn server_rejects_a_busy_port_and_binds_only_the_given_address() {
    run(|| async {
        let server = SignalingServer::start(loopback(), Dialect::Official).unwrap();
        let err = SignalingServer::start(server.local_addr(), Dialect::Relay).unwrap_err();
        assert!(
            err.to_string().contains(&server.local_addr().to_string()),
            "{err}"
        );
        // Bound to 127.0.0.1 only: the same port on another loopback address is free.
        let other = SocketAddr::new("127.0.0.2".parse().unwrap(), server.local_addr().port());
        if let Ok(listener) = TcpListener::bind(other) {
            drop(listener);
        } else {
            panic!("{other} should be free while the server holds only 127.0.0.1");
        }
    });
}

/// With a password, room names and stream ids are hashed and payloads encrypted before they
/// reach the server: the same room name with another password is another room, and the server
/// forwards ciphertext it cannot read, intact, to exactly one peer.
fn password_rooms(dialect: Dialect) {
    use roomtape::protocol::crypto::{Password, RoomCrypto, salt_for_host};
    run(|| async move {
        let server = SignalingServer::start(loopback(), dialect).unwrap();
        let url = server.url();
        let salt = salt_for_host("127.0.0.1");
        let right = RoomCrypto::new(&Password::parse("secret"), &salt);
        let wrong = RoomCrypto::new(&Password::parse("guess"), &salt);
        let room = right.wire_room("alpha");
        assert_ne!(room, "alpha", "the room name is hashed");
        assert_ne!(
            room,
            wrong.wire_room("alpha"),
            "another password, another room"
        );
        let stream = right.wire_stream_id("camA");
        assert!(stream.starts_with("camA") && stream.len() > 4, "{stream}");
        let join = |from: &str, room: &str, stream: Option<&str>| {
            let mut join = json!({"request": "joinroom", "roomid": room});
            if dialect == Dialect::Relay {
                join["from"] = json!(from);
            }
            if let Some(stream) = stream {
                join["streamID"] = json!(stream);
            }
            join
        };

        let a = Peer::connect("a", &url).await;
        a.send(join("a", &room, Some(&stream)));
        let b = Peer::connect("b", &url).await;
        b.send(join("b", &room, None));
        let c = Peer::connect("c", &url).await;
        c.send(join("c", &wrong.wire_room("alpha"), None));

        // How B learns A's address depends on the dialect; C, with the wrong password, sees
        // nobody either way.
        let address_a = if dialect == Dialect::Official {
            assert_eq!(a.recv().await["request"], "listing");
            let listing = b.recv().await;
            assert_eq!(listing["list"][0]["streamID"], json!(stream));
            assert_eq!(c.recv().await, json!({"request": "listing", "list": []}));
            assert_eq!(a.recv().await["request"], "someonejoined");
            uuid_in(&listing["list"][0])
        } else {
            assert_eq!(a.recv().await["from"], "b", "the relay forwards B's join");
            "a".to_owned()
        };
        assert_quiet(&[&a, &b, &c]).await;

        // B asks A for its stream; A answers with an encrypted offer.
        let mut play = json!({"request": "play", "streamID": stream});
        if dialect == Dialect::Relay {
            play["from"] = json!("b");
        }
        b.send(play);
        let asked = a.recv().await;
        let address_b = if dialect == Dialect::Official {
            assert_eq!(asked["request"], "offerSDP");
            uuid_in(&asked)
        } else {
            assert_eq!(asked["request"], "play");
            "b".to_owned()
        };
        let offer = r#"{"type":"offer","sdp":"v=0\r\n"}"#;
        let (cipher, vector) = right.encrypt(offer).expect("encryption is on");
        let mut frame = json!({
            "UUID": address_b, "session": "s1", "description": cipher, "vector": vector
        });
        if dialect == Dialect::Relay {
            frame["from"] = json!("a");
        }
        a.send(frame);
        let got = b.recv().await;
        // The official server rewrites UUID to the sender; relays keep it and add nothing.
        let sender = if dialect == Dialect::Official {
            &got["UUID"]
        } else {
            &got["from"]
        };
        assert_eq!(sender, &json!(address_a), "B can tell who sent it");
        assert_eq!(
            got["description"],
            json!(cipher),
            "ciphertext forwarded intact"
        );
        let clear = right
            .decrypt(
                got["description"].as_str().unwrap(),
                got["vector"].as_str().unwrap(),
            )
            .expect("B decrypts with the room password");
        assert_eq!(clear, offer);
        assert!(
            wrong
                .decrypt(&cipher, &vector)
                .map_or(true, |text| text != offer),
            "the wrong password does not read it"
        );
        assert_quiet(&[&a, &b, &c]).await;
    });
}

#[test]
fn official_password_rooms_are_hashed_and_opaque() {
    password_rooms(Dialect::Official);
}

#[test]
fn relay_password_rooms_are_hashed_and_opaque() {
    password_rooms(Dialect::Relay);
}
