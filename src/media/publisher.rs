//! A synthetic participant that behaves like a VDO.Ninja browser publisher: data-channel-only
//! first offer, media added only after the viewer's request and renegotiated over the channel,
//! bundled trickle candidates, session ids, unsolicited offers to newcomers on relay servers,
//! and payload encryption when a password is set. The demo room, the tests and the benchmark
//! use it in place of a browser.

mod media;
mod viewer;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use gst::prelude::*;
use rand::Rng;
use serde_json::json;

use super::ice::IceConfig;
use crate::protocol::crypto::{Password, RoomCrypto};
use crate::protocol::datachannel::{self, ChannelMessage};
use crate::protocol::message::{
    self, Body, CandidateOrigin, IceCandidateInit, Route, SdpKind, ServerRequest,
    SessionDescription,
};
use crate::signaling::client::{ClientEvent, SignalingClient};

use self::media::add_media;
pub use self::media::{resize_cycle, sendable};
use self::viewer::{
    Viewer, ViewerMessage, create_offer, force_keyframe_of, send_channel, set_answer,
    strip_candidates,
};

/// What the synthetic camera does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoMode {
    /// A live test pattern with the participant's label.
    Live,
    /// No video track at all: the camera is off and only audio is published.
    Off,
}

/// What the synthetic microphone does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioMode {
    /// No audio track at all.
    None,
    /// A track that never carries a packet: a muted microphone.
    Muted,
    /// A test tone.
    Tone,
}

#[derive(Debug, Clone)]
pub struct PublisherConfig {
    pub server_url: String,
    pub room: String,
    pub stream_id: String,
    pub label: String,
    pub password: Password,
    pub salt: Option<String>,
    /// vp8, vp9 or h264.
    pub codec: String,
    pub video: VideoMode,
    pub audio: AudioMode,
    pub width: u32,
    pub height: u32,
    pub framerate: u32,
    pub bitrate_kbps: u32,
    pub ice: IceConfig,
    /// Neither send nor accept candidates: for testing what a viewer shows when none arrive.
    pub drop_candidates: bool,
    /// Send this pre-encoded clip in a loop instead of encoding live (cheap; benchmarks).
    pub clip: Option<Arc<super::clip::EncodedClip>>,
    /// Switch the video between full, half and three-quarter size this often, as a browser
    /// adapting to its bandwidth estimate does.
    pub resize_every: Option<std::time::Duration>,
}

impl PublisherConfig {
    pub fn new(server_url: &str, room: &str, stream_id: &str) -> PublisherConfig {
        PublisherConfig {
            server_url: server_url.to_owned(),
            room: room.to_owned(),
            stream_id: stream_id.to_owned(),
            label: stream_id.to_owned(),
            password: Password::Default,
            salt: None,
            codec: "vp8".to_owned(),
            video: VideoMode::Live,
            audio: AudioMode::Tone,
            width: 640,
            height: 360,
            framerate: 30,
            bitrate_kbps: 1500,
            ice: IceConfig::default(),
            drop_candidates: false,
            clip: None,
            resize_every: None,
        }
    }
}

/// Counters a test or benchmark reads.
#[derive(Debug, Default)]
pub struct PublisherStats {
    pub video_frames_sent: AtomicU64,
    pub audio_frames_sent: AtomicU64,
    pub viewers_connected: AtomicU64,
    /// Set when the publisher says goodbye: frames after that are not counted as sent.
    pub stopped: std::sync::atomic::AtomicBool,
    /// Set once a viewer's media renegotiation is answered: frames before it cannot arrive.
    pub negotiated: std::sync::atomic::AtomicBool,
    /// While set, no RTP leaves (a frozen camera and microphone); the data channel still answers.
    pub media_paused: std::sync::atomic::AtomicBool,
}

impl PublisherStats {
    fn counting(&self) -> bool {
        self.negotiated.load(Ordering::Relaxed) && !self.stopped.load(Ordering::Relaxed)
    }
}

struct Inner {
    config: PublisherConfig,
    own_id: String,
    crypto: RoomCrypto,
    wire_room: String,
    wire_stream: String,
    client: RefCell<Option<SignalingClient>>,
    viewers: RefCell<BTreeMap<String, Viewer>>,
    stats: Arc<PublisherStats>,
    tx: async_channel::Sender<(String, ViewerMessage)>,
    /// The server sent a `listing`: it is the official kind, which rewrites `UUID`.
    official: std::cell::Cell<bool>,
}

/// A running synthetic publisher. Dropping it leaves the room.
#[derive(Clone)]
pub struct Publisher {
    inner: Rc<Inner>,
}

fn random_alnum(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

impl Publisher {
    /// Joins the room and waits for viewers. Runs on the calling thread's GLib main context.
    pub fn start(mut config: PublisherConfig) -> anyhow::Result<Publisher> {
        super::init()?;
        let engine_like = crate::media::engine::EngineConfig {
            salt: config.salt.clone(),
            ..crate::media::engine::EngineConfig::new(
                &config.server_url,
                &config.room,
                config.password.clone(),
            )
        };
        if engine_like.server_is_loopback() {
            config.ice.loopback = true;
        }
        let crypto = engine_like.crypto();
        let (client, client_rx) = SignalingClient::connect(&config.server_url)?;
        let (tx, rx) = async_channel::unbounded();
        let inner = Rc::new(Inner {
            wire_room: crypto.wire_room(&config.room),
            wire_stream: crypto.wire_stream_id(&config.stream_id),
            crypto,
            own_id: random_alnum(20),
            config,
            client: RefCell::new(Some(client)),
            viewers: RefCell::new(BTreeMap::new()),
            stats: Arc::new(PublisherStats::default()),
            tx,
            official: std::cell::Cell::new(false),
        });
        let publisher = Publisher { inner };
        let weak = Rc::downgrade(&publisher.inner);
        glib::spawn_future_local(async move {
            while let Ok(event) = client_rx.recv().await {
                let Some(inner) = weak.upgrade() else { break };
                Publisher { inner }.on_client_event(event);
            }
        });
        let weak = Rc::downgrade(&publisher.inner);
        glib::spawn_future_local(async move {
            while let Ok((viewer, message)) = rx.recv().await {
                let Some(inner) = weak.upgrade() else { break };
                Publisher { inner }.on_viewer_message(&viewer, message);
            }
        });
        Ok(publisher)
    }

    pub fn stats(&self) -> Arc<PublisherStats> {
        self.inner.stats.clone()
    }

    pub fn stream_id(&self) -> &str {
        &self.inner.config.stream_id
    }

    /// Number of viewers with a peer connection.
    pub fn viewer_count(&self) -> usize {
        self.inner.viewers.borrow().len()
    }

    /// Says goodbye to every viewer and leaves.
    /// Says goodbye to every viewer (over the channel and the server) and stops counting
    /// frames. The peers stay up until the publisher is dropped, so the goodbyes get out.
    pub fn stop(&self) {
        for viewer in self.inner.viewers.borrow().values() {
            for player in &viewer.clip_players {
                player.halt();
            }
        }
        self.inner.stats.stopped.store(true, Ordering::Relaxed);
        let byes: Vec<String> = self
            .inner
            .viewers
            .borrow()
            .values()
            .map(|viewer| {
                send_channel(&viewer.channel, &json!({"bye": true}).to_string());
                message::encode_bye(&Route::to(&viewer.id).from(&self.inner.own_id))
            })
            .collect();
        for bye in byes {
            self.send(&bye);
        }
    }

    /// Stops sending media (or sends it again) while staying connected, as a frozen browser
    /// tab does.
    pub fn set_media_paused(&self, paused: bool) {
        self.inner
            .stats
            .media_paused
            .store(paused, Ordering::Relaxed);
    }

    /// Leaves for good: peers closed, socket closed.
    pub fn close(&self) {
        self.stop();
        self.inner.viewers.borrow_mut().clear();
        if let Some(client) = self.inner.client.borrow_mut().take() {
            client.close();
        }
    }

    fn send(&self, text: &str) {
        if let Some(client) = self.inner.client.borrow().as_ref() {
            client.send(text);
        }
    }

    fn on_client_event(&self, event: ClientEvent) {
        match event {
            ClientEvent::Connected { .. } => {
                self.send(&message::encode_request(
                    &ServerRequest::JoinRoom {
                        roomid: self.inner.wire_room.clone(),
                        stream_id: Some(self.inner.wire_stream.clone()),
                    },
                    &Route::default().from(&self.inner.own_id),
                ));
            }
            ClientEvent::Message(text) => self.on_frame(&text),
            ClientEvent::Disconnected { reason, .. } => {
                tracing::info!(stream = %self.inner.config.stream_id, "signaling lost: {reason}");
            }
            ClientEvent::Failed(err) => tracing::warn!("publisher cannot connect: {err}"),
        }
    }

    fn on_frame(&self, text: &str) {
        let envelope = match message::decode(text, &self.inner.crypto) {
            Ok(envelope) => envelope,
            Err(err) => {
                tracing::debug!("publisher dropped a frame: {err}");
                return;
            }
        };
        let own = self.inner.own_id.as_str();
        if envelope.from.as_deref() == Some(own) {
            return;
        }
        if matches!(envelope.body, Body::Request(ServerRequest::Listing { .. })) {
            self.inner.official.set(true);
        }
        let Some(sender) = crate::room::sender_of(&envelope, own, self.inner.official.get()) else {
            return;
        };
        let sender = (!sender.is_empty()).then_some(sender);
        match envelope.body {
            Body::Request(ServerRequest::OfferSdp { uuid }) => self.offer_to(&uuid),
            Body::Request(ServerRequest::Play { stream_id, .. }) => {
                if stream_id == self.inner.wire_stream
                    && let Some(sender) = sender
                {
                    self.offer_to(&sender);
                }
            }
            // A browser on a relay server offers its stream to every newcomer unprompted.
            // A viewer still connected to us that joins again (both came back after a relay
            // restart) keeps its session: the join is news only to the signaling server.
            Body::Request(ServerRequest::JoinRoom { .. }) => {
                if let Some(sender) = sender
                    && envelope.from.is_some()
                    && !self.connected_to(&sender)
                {
                    self.offer_to(&sender);
                }
            }
            Body::Description(desc) if desc.kind == SdpKind::Answer => {
                if let Some(sender) = sender {
                    self.apply_answer(&sender, envelope.session.as_deref(), &desc.sdp);
                }
            }
            Body::Candidates { candidates, .. } => {
                if let Some(sender) = sender {
                    self.add_candidates(&sender, envelope.session.as_deref(), &candidates);
                }
            }
            Body::Bye | Body::Hangup => {
                if let Some(sender) = sender {
                    self.inner.viewers.borrow_mut().remove(&sender);
                }
            }
            Body::Request(ServerRequest::Cleanup { uuid }) => {
                self.inner.viewers.borrow_mut().remove(&uuid);
            }
            _ => {}
        }
    }

    /// Whether the peer connection to this viewer is up.
    fn connected_to(&self, viewer_id: &str) -> bool {
        self.inner
            .viewers
            .borrow()
            .get(viewer_id)
            .is_some_and(|viewer| {
                viewer
                    .webrtcbin
                    .property::<gst_webrtc::WebRTCPeerConnectionState>("connection-state")
                    == gst_webrtc::WebRTCPeerConnectionState::Connected
            })
    }

    fn offer_to(&self, viewer_id: &str) {
        // A new request from a known viewer starts a fresh session, like a page reload.
        self.inner.viewers.borrow_mut().remove(viewer_id);
        match self.build_viewer(viewer_id) {
            Ok(viewer) => {
                let webrtcbin = viewer.webrtcbin.clone();
                self.inner
                    .viewers
                    .borrow_mut()
                    .insert(viewer_id.to_owned(), viewer);
                create_offer(&webrtcbin, viewer_id, false, &self.inner.tx);
            }
            Err(err) => tracing::warn!("cannot offer to {viewer_id}: {err}"),
        }
    }

    fn on_viewer_message(&self, viewer_id: &str, message: ViewerMessage) {
        let crypto = self.inner.crypto.clone();
        match message {
            ViewerMessage::LocalCandidate { mline, candidate } => {
                let viewers = self.inner.viewers.borrow();
                let Some(viewer) = viewers.get(viewer_id) else {
                    return;
                };
                let init = IceCandidateInit {
                    candidate,
                    sdp_m_line_index: Some(mline),
                    sdp_mid: None,
                    username_fragment: None,
                };
                let text = message::encode_candidates(
                    &[init],
                    CandidateOrigin::Local,
                    &Route::to(&viewer.id)
                        .session(&viewer.session)
                        .from(&self.inner.own_id)
                        .roomid(&self.inner.wire_room),
                    &crypto,
                );
                drop(viewers);
                self.send(&text);
            }
            ViewerMessage::OfferReady { sdp, renegotiation } => {
                let viewers = self.inner.viewers.borrow();
                let Some(viewer) = viewers.get(viewer_id) else {
                    return;
                };
                let sdp = if self.inner.config.drop_candidates {
                    strip_candidates(&sdp)
                } else {
                    sdp
                };
                let desc = SessionDescription {
                    kind: SdpKind::Offer,
                    sdp,
                };
                if renegotiation {
                    let text = datachannel::encode_channel(
                        &ChannelMessage::Description {
                            desc,
                            session: Some(viewer.session.clone()),
                            stream_id: Some(self.inner.wire_stream.clone()),
                        },
                        &crypto,
                    );
                    send_channel(&viewer.channel, &text);
                } else {
                    let text = message::encode_description(
                        &desc,
                        &Route::to(&viewer.id)
                            .session(&viewer.session)
                            .stream_id(&self.inner.wire_stream)
                            .from(&self.inner.own_id)
                            .roomid(&self.inner.wire_room),
                        &crypto,
                    );
                    drop(viewers);
                    self.send(&text);
                }
            }
            ViewerMessage::ChannelOpen => {
                let mut viewers = self.inner.viewers.borrow_mut();
                let Some(viewer) = viewers.get_mut(viewer_id) else {
                    return;
                };
                viewer.channel_open = true;
                let info = json!({"info": {"label": self.inner.config.label, "version": "roomtape-publisher"}});
                send_channel(&viewer.channel, &info.to_string());
            }
            ViewerMessage::ChannelMessage(text) => self.on_channel_message(viewer_id, &text),
            ViewerMessage::NegotiationNeeded => {
                let viewers = self.inner.viewers.borrow();
                if let Some(viewer) = viewers.get(viewer_id)
                    && viewer.media_added
                {
                    create_offer(&viewer.webrtcbin, viewer_id, true, &self.inner.tx);
                }
            }
            ViewerMessage::Connected => {
                self.inner
                    .stats
                    .viewers_connected
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn on_channel_message(&self, viewer_id: &str, text: &str) {
        let crypto = self.inner.crypto.clone();
        let message = match datachannel::decode_channel(text, &crypto) {
            Ok(message) => message,
            Err(err) => {
                tracing::debug!("publisher ignored a channel message: {err}");
                return;
            }
        };
        match message {
            ChannelMessage::MediaRequest(request) => {
                let mut viewers = self.inner.viewers.borrow_mut();
                let Some(viewer) = viewers.get_mut(viewer_id) else {
                    return;
                };
                if viewer.media_added {
                    return;
                }
                let codec = request
                    .prefer_video_codec
                    .clone()
                    .filter(|c| matches!(c.as_str(), "vp8" | "vp9" | "h264"))
                    .unwrap_or_else(|| self.inner.config.codec.clone());
                viewer.media_added = true;
                if let Err(err) = add_media(
                    viewer,
                    &self.inner.config,
                    &codec,
                    request.video,
                    request.audio,
                    &self.inner.stats,
                ) {
                    tracing::warn!("cannot add media for {viewer_id}: {err:#}");
                }
            }
            ChannelMessage::Description { desc, .. } if desc.kind == SdpKind::Answer => {
                let viewers = self.inner.viewers.borrow();
                if let Some(viewer) = viewers.get(viewer_id) {
                    if self.inner.config.drop_candidates {
                        set_answer(&viewer.webrtcbin, &strip_candidates(&desc.sdp));
                    } else {
                        set_answer(&viewer.webrtcbin, &desc.sdp);
                    }
                    // Media flows from here on, and like a browser it starts with a key frame.
                    self.inner.stats.negotiated.store(true, Ordering::Relaxed);
                    force_keyframe_of(viewer);
                }
            }
            ChannelMessage::Candidates { candidates, .. } => {
                let session = self
                    .inner
                    .viewers
                    .borrow()
                    .get(viewer_id)
                    .map(|v| v.session.clone());
                self.add_candidates(viewer_id, session.as_deref(), &candidates);
            }
            ChannelMessage::Ping(value) => {
                let viewers = self.inner.viewers.borrow();
                if let Some(viewer) = viewers.get(viewer_id) {
                    send_channel(&viewer.channel, &json!({"pong": value}).to_string());
                }
            }
            ChannelMessage::Keyframe => {
                if let Some(viewer) = self.inner.viewers.borrow().get(viewer_id) {
                    force_keyframe_of(viewer);
                }
            }
            ChannelMessage::Bye => {
                self.inner.viewers.borrow_mut().remove(viewer_id);
            }
            _ => {}
        }
    }

    fn apply_answer(&self, viewer_id: &str, session: Option<&str>, sdp: &str) {
        let viewers = self.inner.viewers.borrow();
        let Some(viewer) = viewers.get(viewer_id) else {
            return;
        };
        if session.is_some_and(|s| s != viewer.session) {
            tracing::debug!("answer for a stale session ignored");
            return;
        }
        if self.inner.config.drop_candidates {
            set_answer(&viewer.webrtcbin, &strip_candidates(sdp));
        } else {
            set_answer(&viewer.webrtcbin, sdp);
        }
    }

    fn add_candidates(
        &self,
        viewer_id: &str,
        session: Option<&str>,
        candidates: &[IceCandidateInit],
    ) {
        if self.inner.config.drop_candidates {
            // Simulates a network where no candidate gets through, in either direction.
            return;
        }
        let viewers = self.inner.viewers.borrow();
        let Some(viewer) = viewers.get(viewer_id) else {
            return;
        };
        if session.is_some_and(|s| s != viewer.session) {
            return;
        }
        for candidate in candidates {
            if crate::protocol::candidate::parse_candidate(&candidate.candidate).is_err() {
                continue;
            }
            viewer.webrtcbin.emit_by_name::<()>(
                "add-ice-candidate",
                &[
                    &candidate.sdp_m_line_index.unwrap_or(0),
                    &candidate.candidate,
                ],
            );
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(client) = self.client.borrow_mut().take() {
            client.close();
        }
    }
}

/// Kept for callers that only need to know whether the channel carried media yet.
pub fn is_media_flowing(stats: &PublisherStats) -> bool {
    stats.video_frames_sent.load(Ordering::Relaxed) > 0
        || stats.audio_frames_sent.load(Ordering::Relaxed) > 0
}
