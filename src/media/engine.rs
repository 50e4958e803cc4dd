//! The engine: signaling socket + room state machine + one peer per participant session
//! (+ recording), all driven from the GLib main context. The GTK app and the headless
//! recorder both run this.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use rand::Rng;

mod disk;
mod recording;
mod turn;

pub use super::error::EngineError;
use super::ice::IceConfig;
use super::peer::{Peer, PeerMessage, Track};
use super::preview::PreviewConfig;
use super::recorder::SessionRecorder;
pub use super::recorder::{SegmentError, SegmentResult, SegmentSaved};
use super::stats::LinkStats;
use crate::library::disk_space::{self, DiskGuard, DiskReport};
use crate::protocol::crypto::{Password, RoomCrypto, salt_for_host};
use crate::room::{
    Command, LeaveReason, ParticipantId, PeerEvent, PeerKey, Room, RoomConfig, RoomEvent,
    SessionId, StreamId, Via,
};
use crate::signaling::client::{ClientEvent, SignalingClient};

/// Everything needed to join a room.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub server_url: String,
    pub room: String,
    pub password: Password,
    /// Explicit salt; derived from the server's host name when `None`.
    pub salt: Option<String>,
    pub ice: IceConfig,
    pub wanted_streams: Vec<String>,
    pub want_audio: bool,
    pub want_video: bool,
    pub prefer_video_codec: Option<String>,
    pub bitrate_kbps: Option<u32>,
    pub resolution: Option<(u32, u32)>,
    /// Decode live previews (video tiles, audio levels, receive stats) for a front-end that
    /// shows them; `None` (the default, and the headless recorder) decodes nothing.
    pub previews: Option<PreviewConfig>,
}

impl EngineConfig {
    pub fn new(server_url: &str, room: &str, password: Password) -> EngineConfig {
        EngineConfig {
            server_url: server_url.to_owned(),
            room: room.to_owned(),
            password,
            salt: None,
            ice: IceConfig::default(),
            wanted_streams: Vec::new(),
            want_audio: true,
            want_video: true,
            prefer_video_codec: None,
            bitrate_kbps: Some(2500),
            resolution: None,
            previews: None,
        }
    }

    /// The host part of the server URL.
    pub fn server_host(&self) -> Option<String> {
        let rest = self
            .server_url
            .split_once("://")
            .map_or(self.server_url.as_str(), |(_, r)| r);
        let authority = rest.split(['/', '?', '#']).next()?;
        let host = if let Some(stripped) = authority.strip_prefix('[') {
            stripped.split(']').next()?.to_owned()
        } else {
            authority
                .rsplit_once(':')
                .map_or(authority, |(h, _)| h)
                .to_owned()
        };
        (!host.is_empty()).then_some(host)
    }

    /// True when the server is on this machine: add 127.0.0.1 to ICE then.
    pub fn server_is_loopback(&self) -> bool {
        self.server_host().is_some_and(|h| {
            h == "localhost"
                || h.parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        })
    }

    pub fn crypto(&self) -> RoomCrypto {
        let salt = self
            .salt
            .clone()
            .unwrap_or_else(|| salt_for_host(&self.server_host().unwrap_or_default()));
        RoomCrypto::new(&self.password, &salt)
    }
}

/// What the engine tells its front-end.
#[derive(Debug, Clone)]
pub enum EngineEvent {
    Room(RoomEvent),
    /// A track arrived: a preview may attach to its tee.
    Track {
        participant: ParticipantId,
        session: SessionId,
        track: Track,
    },
    /// A participant session's peer is gone.
    PeerClosed {
        participant: ParticipantId,
        session: SessionId,
    },
    RecordingStarted {
        dir: PathBuf,
    },
    /// A segment file was finalised (or failed).
    SegmentFinished {
        participant: ParticipantId,
        file: PathBuf,
        outcome: SegmentResult,
    },
    /// The session folder disappeared while recording; `recreated` tells whether recording
    /// goes on in a new folder of the same name.
    FolderLost {
        dir: PathBuf,
        message: String,
        recreated: bool,
    },
    /// A participant sends a track in a codec this machine cannot record; their other tracks
    /// are recorded.
    TrackRefused {
        participant: ParticipantId,
        kind: crate::room::MediaKind,
        encoding: String,
        reason: String,
    },
    /// The first key frame of a participant's track is on disk.
    FirstKeyframe {
        participant: ParticipantId,
        kind: crate::room::MediaKind,
        after_ms: f64,
    },
    RecordingFinished {
        dir: PathBuf,
        all_ok: bool,
    },
    /// How the recording's folder fills up, every few seconds while recording.
    DiskSpace {
        dir: PathBuf,
        report: DiskReport,
    },
    /// Less than [`disk_space::LOW_WARNING`] of recording time is left.
    DiskLow {
        dir: PathBuf,
        report: DiskReport,
    },
    /// The free space reached the floor: the recording stops now, every file finished.
    DiskFloor {
        dir: PathBuf,
        free_bytes: u64,
        floor_bytes: u64,
    },
    /// A fatal problem for this room (bad URL and the like).
    Fatal(String),
    /// Only with [`EngineConfig::previews`]: what the tiles show.
    Preview(PreviewEvent),
}

/// Live-view events, sent only when the front-end asked for previews.
#[derive(Debug, Clone)]
pub enum PreviewEvent {
    /// A video preview sink for a participant session; read its `paintable` on the main thread.
    Video {
        participant: ParticipantId,
        session: SessionId,
        preview: super::preview::VideoPreview,
    },
    /// A participant session's audio level meter, to pause while its tile is not on screen.
    AudioMeter {
        participant: ParticipantId,
        session: SessionId,
        pause: super::preview::PauseHandle,
    },
    /// The loudest channel's peak level in dB, about ten times a second.
    Level {
        participant: ParticipantId,
        peak_db: f64,
    },
    /// Receive statistics, once a second.
    Stats {
        participant: ParticipantId,
        stats: LinkStats,
    },
}

struct PeerEntry {
    peer: Peer,
    stream_id: StreamId,
    label: Option<String>,
    tracks: Vec<Track>,
    /// When this peer's recording last went on in a new part after a failure.
    branch_restarts: Vec<Instant>,
}

struct Inner {
    config: EngineConfig,
    started: Instant,
    room: RefCell<Room>,
    client: RefCell<Option<SignalingClient>>,
    peers: RefCell<BTreeMap<PeerKey, PeerEntry>>,
    recorder: RefCell<Option<SessionRecorder>>,
    subscribers: RefCell<Vec<async_channel::Sender<EngineEvent>>>,
    peer_tx: async_channel::Sender<(PeerKey, PeerMessage)>,
    tick_source: RefCell<Option<glib::SourceId>>,
    stopped: std::cell::Cell<bool>,
    /// When the last tick ran (ms since start), to notice that this process was paused.
    last_tick_ms: std::cell::Cell<u64>,
    /// Participants the operator left out of the recording.
    excluded: RefCell<std::collections::HashSet<ParticipantId>>,
    /// Preview events from streaming threads, drained on the main context.
    preview_tx: async_channel::Sender<PreviewEvent>,
    /// Watches the recording's free space while one runs.
    disk_guard: RefCell<Option<DiskGuard>>,
    /// Who waits for a stop already under way (the disk guard's) to finish.
    stop_waiters: RefCell<Vec<futures_channel::oneshot::Sender<bool>>>,
    stopping_recording: std::cell::Cell<bool>,
}

/// A running room. Cheap to clone; everything happens on the main context that started it.
#[derive(Clone)]
pub struct Engine {
    inner: Rc<Inner>,
}

fn random_id(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

impl Engine {
    /// Connects to the server and joins the room. Must run on a thread with a GLib main context.
    pub fn start(
        mut config: EngineConfig,
    ) -> Result<(Engine, async_channel::Receiver<EngineEvent>), EngineError> {
        super::init()?;
        if config.server_is_loopback() {
            config.ice.loopback = true;
        }
        let room = Room::new(RoomConfig {
            own_id: random_id(20),
            room: config.room.clone(),
            crypto: config.crypto(),
            wanted_streams: config.wanted_streams.clone(),
            want_audio: config.want_audio,
            want_video: config.want_video,
            prefer_video_codec: config.prefer_video_codec.clone(),
            bitrate_kbps: config.bitrate_kbps,
            resolution: config.resolution,
            max_peers: crate::limits::peers_for(crate::limits::raise_open_file_limit()),
        });
        let (client, client_rx) = SignalingClient::connect(&config.server_url)?;
        let (peer_tx, peer_rx) = async_channel::unbounded();
        let (events_tx, events_rx) = async_channel::unbounded();
        let (preview_tx, preview_rx) = async_channel::unbounded();
        let inner = Rc::new(Inner {
            config,
            started: Instant::now(),
            room: RefCell::new(room),
            client: RefCell::new(Some(client)),
            peers: RefCell::new(BTreeMap::new()),
            recorder: RefCell::new(None),
            subscribers: RefCell::new(vec![events_tx]),
            peer_tx,
            tick_source: RefCell::new(None),
            stopped: std::cell::Cell::new(false),
            last_tick_ms: std::cell::Cell::new(0),
            excluded: RefCell::new(std::collections::HashSet::new()),
            preview_tx,
            disk_guard: RefCell::new(None),
            stop_waiters: RefCell::new(Vec::new()),
            stopping_recording: std::cell::Cell::new(false),
        });
        let engine = Engine { inner };
        engine.check_turn_servers();

        let weak = Rc::downgrade(&engine.inner);
        glib::spawn_future_local(async move {
            while let Ok(event) = client_rx.recv().await {
                let Some(inner) = weak.upgrade() else { break };
                Engine { inner }.on_client_event(event);
            }
        });
        let weak = Rc::downgrade(&engine.inner);
        glib::spawn_future_local(async move {
            while let Ok((key, message)) = peer_rx.recv().await {
                let Some(inner) = weak.upgrade() else { break };
                Engine { inner }.on_peer_message(key, message);
            }
        });
        let weak = Rc::downgrade(&engine.inner);
        glib::spawn_future_local(async move {
            while let Ok(event) = preview_rx.recv().await {
                let Some(inner) = weak.upgrade() else { break };
                Engine { inner }.emit(EngineEvent::Preview(event));
            }
        });
        let weak = Rc::downgrade(&engine.inner);
        let mut tick_count = 0u64;
        let source = glib::timeout_add_local(Duration::from_millis(250), move || {
            let Some(inner) = weak.upgrade() else {
                return glib::ControlFlow::Break;
            };
            tick_count += 1;
            Engine { inner }.on_tick(tick_count);
            glib::ControlFlow::Continue
        });
        engine.inner.tick_source.replace(Some(source));
        Ok((engine, events_rx))
    }

    /// Another receiver of every event from now on.
    pub fn subscribe(&self) -> async_channel::Receiver<EngineEvent> {
        let (tx, rx) = async_channel::unbounded();
        self.inner.subscribers.borrow_mut().push(tx);
        rx
    }

    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    fn now_ms(&self) -> u64 {
        self.inner.started.elapsed().as_millis() as u64
    }

    fn emit(&self, event: EngineEvent) {
        self.inner
            .subscribers
            .borrow_mut()
            .retain(|tx| tx.try_send(event.clone()).is_ok());
    }

    fn on_client_event(&self, event: ClientEvent) {
        let now = self.now_ms();
        let commands = match event {
            ClientEvent::Connected { .. } => self.inner.room.borrow_mut().on_connected(now),
            ClientEvent::Message(text) => self.inner.room.borrow_mut().on_frame(&text, now),
            ClientEvent::Disconnected { reason, .. } => {
                self.inner.room.borrow_mut().on_disconnected(now, &reason)
            }
            ClientEvent::Failed(err) => {
                self.emit(EngineEvent::Fatal(err.to_string()));
                Vec::new()
            }
        };
        self.execute(commands);
    }

    fn on_peer_message(&self, key: PeerKey, message: PeerMessage) {
        match message {
            PeerMessage::Room(event) => {
                let commands =
                    self.inner
                        .room
                        .borrow_mut()
                        .on_peer_event(&key, event, self.now_ms());
                self.execute(commands);
            }
            PeerMessage::Track(track) => {
                let refused = super::recorder::unrecordable_reason(&track.encoding);
                let known = match self.inner.peers.borrow_mut().get_mut(&key) {
                    Some(entry) => {
                        // A track that cannot be recorded is never offered to a recording.
                        if refused.is_none() {
                            entry.tracks.push(track.clone());
                        }
                        true
                    }
                    None => false,
                };
                if known && let Some(reason) = refused {
                    tracing::warn!(peer = %key, "{reason}");
                    self.emit(EngineEvent::TrackRefused {
                        participant: key.participant.clone(),
                        kind: track.kind,
                        encoding: track.encoding.clone(),
                        reason,
                    });
                } else if known {
                    self.attach_recording(&key, &track);
                    // The recording does not wait for a preview decoder to start (some take
                    // tens of milliseconds); a preview that misses the first key frame asks
                    // for one of its own.
                    track.hold.release();
                    self.attach_preview(&key, &track);
                    self.emit(EngineEvent::Track {
                        participant: key.participant.clone(),
                        session: key.session.clone(),
                        track: track.clone(),
                    });
                }
                track.hold.release();
            }
            PeerMessage::Error(error) => {
                tracing::warn!(peer = %key, "{}", error.text);
                self.on_recording_error(&key, &error);
            }
        }
    }

    fn on_tick(&self, tick: u64) {
        let now = self.now_ms();
        let previous = self.inner.last_tick_ms.replace(now);
        if now.saturating_sub(previous) >= crate::room::machine::TIME_JUMP_MS && previous > 0 {
            tracing::info!(
                "no tick for {} ms: this process was paused; watchdogs start over",
                now - previous
            );
            self.inner.room.borrow_mut().on_resumed(now);
        }
        let active: Vec<PeerKey> = self
            .inner
            .peers
            .borrow()
            .iter()
            .filter(|(_, entry)| entry.peer.take_rtp_activity())
            .map(|(key, _)| key.clone())
            .collect();
        for key in active {
            let commands =
                self.inner
                    .room
                    .borrow_mut()
                    .on_peer_event(&key, PeerEvent::RtpActivity, now);
            self.execute(commands);
        }
        let commands = self.inner.room.borrow_mut().on_tick(now);
        self.execute(commands);
        if tick % 4 == 0 {
            for (key, entry) in self.inner.peers.borrow().iter() {
                entry.peer.poll_stats();
                if self.inner.config.previews.is_some()
                    && let Some(webrtcbin) =
                        gst::prelude::GstBinExt::by_name(entry.peer.pipeline(), "webrtcbin")
                {
                    let tx = self.inner.preview_tx.clone();
                    let participant = key.participant.clone();
                    super::stats::request(&webrtcbin, move |stats| {
                        let _ = tx.try_send(PreviewEvent::Stats { participant, stats });
                    });
                }
            }
        }
        if tick % 4 == 0 {
            self.check_recording_folder();
        }
        if tick % (disk_space::CHECK_EVERY_MS / 250) == 0 {
            self.check_disk_space(now);
        }
        let tick = self
            .inner
            .recorder
            .borrow_mut()
            .as_mut()
            .map(|recorder| recorder.on_tick())
            .unwrap_or_default();
        for (participant, finishing) in tick.finished_parts {
            glib::spawn_future_local(
                self.report_finished(&participant, async move { vec![finishing.await] }),
            );
        }
        for first in tick.firsts {
            self.emit(EngineEvent::FirstKeyframe {
                participant: first.participant,
                kind: first.kind,
                after_ms: first.after.as_secs_f64() * 1000.0,
            });
        }
    }

    fn execute(&self, commands: Vec<Command>) {
        for command in commands {
            match command {
                Command::Send(text) => {
                    if let Some(client) = self.inner.client.borrow().as_ref() {
                        client.send(&text);
                    }
                }
                Command::CreatePeer { key, stream_id } => self.create_peer(key, stream_id),
                Command::ApplyOffer { key, sdp, via } => {
                    if let Some(entry) = self.inner.peers.borrow().get(&key) {
                        tracing::debug!(peer = %key, via = ?via, "applying offer:\n{sdp}");
                        entry.peer.apply_offer(&sdp);
                    }
                    let _ = Via::Socket;
                }
                Command::AddCandidate { key, candidate } => {
                    if let Some(entry) = self.inner.peers.borrow().get(&key) {
                        entry.peer.add_candidate(
                            candidate.sdp_m_line_index.unwrap_or(0),
                            &candidate.candidate,
                        );
                    }
                }
                Command::SendOnChannel { key, text } => {
                    if let Some(entry) = self.inner.peers.borrow().get(&key)
                        && !entry.peer.send_on_channel(&text)
                    {
                        tracing::debug!(peer = %key, "data channel not open; message dropped");
                    }
                }
                Command::RequestKeyframe { key } => {
                    if let Some(recorder) = self.inner.recorder.borrow().as_ref() {
                        recorder.request_keyframe(&key);
                    }
                }
                Command::ClosePeer { key, reason } => self.close_peer(key, reason),
                Command::Event(event) => {
                    if let RoomEvent::Label { id, label, .. } = &event {
                        for (key, entry) in self.inner.peers.borrow_mut().iter_mut() {
                            if &key.participant == id {
                                entry.label = Some(label.clone());
                            }
                        }
                        if let Some(recorder) = self.inner.recorder.borrow_mut().as_mut() {
                            recorder.set_label(id, label);
                        }
                    }
                    self.emit(EngineEvent::Room(event));
                }
            }
        }
    }

    fn create_peer(&self, key: PeerKey, stream_id: StreamId) {
        match Peer::new(
            key.clone(),
            &self.inner.config.ice,
            self.inner.peer_tx.clone(),
        ) {
            Ok(peer) => {
                self.inner.peers.borrow_mut().insert(
                    key,
                    PeerEntry {
                        peer,
                        stream_id,
                        label: None,
                        tracks: Vec::new(),
                        branch_restarts: Vec::new(),
                    },
                );
            }
            Err(err) => {
                tracing::warn!(peer = %key, "could not create a peer: {err}");
                let commands = self.inner.room.borrow_mut().on_peer_event(
                    &key,
                    PeerEvent::NegotiationFailed(err.to_string()),
                    self.now_ms(),
                );
                self.execute(commands);
            }
        }
    }

    fn close_peer(&self, key: PeerKey, reason: LeaveReason) {
        let Some(entry) = self.inner.peers.borrow_mut().remove(&key) else {
            return;
        };
        let finishing = self.finish_segment(&key, reason);
        let engine = self.clone();
        glib::spawn_future_local(async move {
            finishing.await;
            entry.peer.shutdown();
            engine.emit(EngineEvent::PeerClosed {
                participant: key.participant.clone(),
                session: key.session.clone(),
            });
        });
    }

    fn attach_preview(&self, key: &PeerKey, track: &Track) {
        let Some(config) = self.inner.config.previews else {
            return;
        };
        let peers = self.inner.peers.borrow();
        let Some(entry) = peers.get(key) else { return };
        let result = match track.kind {
            crate::room::MediaKind::Video => {
                super::preview::attach_video(entry.peer.pipeline(), track, config).map(|preview| {
                    self.emit(EngineEvent::Preview(PreviewEvent::Video {
                        participant: key.participant.clone(),
                        session: key.session.clone(),
                        preview,
                    }));
                })
            }
            crate::room::MediaKind::Audio => {
                let tx = self.inner.preview_tx.clone();
                let participant = key.participant.clone();
                super::preview::attach_audio(entry.peer.pipeline(), track, move |peak_db| {
                    let _ = tx.try_send(PreviewEvent::Level {
                        participant: participant.clone(),
                        peak_db,
                    });
                })
                .map(|pause| {
                    self.emit(EngineEvent::Preview(PreviewEvent::AudioMeter {
                        participant: key.participant.clone(),
                        session: key.session.clone(),
                        pause,
                    }));
                })
            }
        };
        if let Err(err) = result {
            tracing::warn!(peer = %key, "no preview for a {:?} track: {err:#}", track.kind);
        }
    }

    /// Leaves the room: finalises recordings, closes every peer and the socket.
    pub async fn shutdown(&self) -> bool {
        if self.inner.stopped.replace(true) {
            return true;
        }
        let all_ok = self.stop_recording().await;
        let commands = self.inner.room.borrow_mut().stop(self.now_ms());
        self.execute(commands);
        let peers: Vec<PeerEntry> = std::mem::take(&mut *self.inner.peers.borrow_mut())
            .into_values()
            .collect();
        for entry in peers {
            entry.peer.shutdown();
        }
        if let Some(client) = self.inner.client.borrow_mut().take() {
            client.close();
        }
        if let Some(source) = self.inner.tick_source.borrow_mut().take() {
            source.remove();
        }
        all_ok
    }
}
