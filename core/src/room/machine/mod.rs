//! The room state machine: the room's state and its entry points. What happens to each input
//! lives beside it, by concern:
//!
//! * `frames`: signaling frames, routed by participant and session (descriptions,
//!   candidates, server requests and notices);
//! * `discovery`: who is in the room, asking for their streams (rate-limited) and leaving;
//! * `peer_events`: what a session's webrtcbin and data channel report;
//! * `watchdogs`: time passing (pings, watchdogs, asking again), and pauses of this process;
//! * `sdp`: the checks an offer passes before any webrtcbin is built for it.

mod discovery;
mod frames;
mod peer_events;
mod sdp;
mod watchdogs;

pub use frames::sender_of;
pub use sdp::{MAX_SDP_BYTES, MAX_SDP_MEDIA_SECTIONS, precheck_sdp};

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use serde_json::json;

use super::candidates::CandidateQueue;
use super::events::{LeaveReason, MediaKind, Problem, RoomEvent};
use super::health::{ConnectionState, Health, IceState, SelectedPair};
use super::reasons::DropReason;
use crate::ids::{ParticipantId, SessionId, StreamId};
use crate::protocol::crypto::RoomCrypto;
use crate::protocol::message::{self, IceCandidateInit, Route, ServerRequest};

/// How long after an offer a session may stay without remote candidates.
pub const NO_CANDIDATES_AFTER_MS: u64 = 10_000;
/// How long ICE may keep checking.
pub const ICE_STUCK_AFTER_MS: u64 = 10_000;
/// How long a connected participant may send no RTP before it is shown as stalled. Browsers
/// keep sending while muted (silence or DTX frames, black frames for a disabled camera), so
/// this much silence means the media path itself stopped.
pub const NO_RTP_AFTER_MS: u64 = 3_000;
/// How long the data channel may leave pings unanswered before the participant is gone.
pub const NO_PONG_AFTER_MS: u64 = 30_000;
/// How often to ping on the data channel.
pub const PING_EVERY_MS: u64 = 2_000;
/// How long a session may stay unconnected after its offer before a TURN server that refused
/// our credentials is named as the reason.
pub const TURN_REFUSED_AFTER_MS: u64 = 2_000;
/// How long to wait for an offer after `play` before asking again.
pub const NO_OFFER_AFTER_MS: u64 = 10_000;
/// The media request is repeated when nothing flows this long after it (a publisher that
/// missed it, or whose renegotiation got lost, is asked again rather than left silent).
pub const MEDIA_REQUEST_RETRY_MS: u64 = 3_000;
/// How many times the media request is repeated per session; when still nothing flows after
/// the last one, the session is given up and the stream asked for again with a new peer.
pub const MEDIA_REQUEST_RETRIES: u32 = 2;
/// How many times in a row a participant's session is restarted because no media came.
pub const MEDIA_STALL_RESTARTS: u32 = 2;
/// How long to wait before asking a failed participant for its stream again.
pub const REPLAY_AFTER_FAILURE_MS: u64 = 3_000;
/// With neither RTP nor a pong for this long, a participant that was sending media is gone
/// (sooner than [`NO_PONG_AFTER_MS`], which alone covers participants that send no media).
/// GStreamer 1.22 has no ICE consent freshness, so a publisher whose process died is noticed
/// only this way: three pings in a row unanswered while its media has stopped.
pub const NO_SIGN_OF_LIFE_AFTER_MS: u64 = 7_000;
/// After a participant's offer was refused by webrtcbin, its further offers are ignored this long,
/// so a hostile peer cannot make the recorder build a webrtcbin per frame.
pub const REJECTED_COOLDOWN_MS: u64 = 10_000;
/// A participant that sent RTP or answered a ping this recently is alive: a new id announcing
/// the same stream (the server restarted and handed out new ids) is the same publisher.
const ALIVE_WITHIN_MS: u64 = 7_000;
/// Ticks this far apart mean this process was not running (SIGSTOP, a suspended laptop, a
/// debugger): the silence was ours, so every watchdog starts over and everyone is pinged
/// before anyone is given up ([`Room::on_resumed`]).
pub const TIME_JUMP_MS: u64 = 2_000;
/// `play` requests sent per second at most (a burst of [`PLAY_BURST`]): a room full of fake
/// members must not make the recorder flood the server and be thrown out.
pub const PLAYS_PER_SECOND: u64 = 5;
pub const PLAY_BURST: u64 = 20;
/// Most participants that never answered (no session yet) kept at once; more are refused.
pub const MAX_PENDING_PARTICIPANTS: usize = 64;
/// How long a participant refused for a full room waits before it is asked again.
pub const REPLAY_WHEN_FULL_MS: u64 = 15_000;
/// Members taken from one listing.
pub const MAX_LISTING_MEMBERS: usize = 100;
/// A participant that never answered this many `play`s in a row is forgotten.
pub const UNANSWERED_PLAYS_BEFORE_FORGETTING: u32 = 3;
/// Shortest time between two identity changes after "uuid already in use".
pub const IDENTITY_CHANGE_EVERY_MS: u64 = 10_000;
/// A participant who left is forgotten this long afterwards (unless asked for again), so a
/// recorder that runs for days through churn keeps a bounded room.
pub const FORGET_LEFT_AFTER_MS: u64 = 60_000;

/// One peer connection: a participant and the publisher's session id for it; the media layer
/// keys its peers by it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerKey {
    pub participant: ParticipantId,
    pub session: SessionId,
}

impl PeerKey {
    pub fn new(participant: ParticipantId, session: SessionId) -> PeerKey {
        PeerKey {
            participant,
            session,
        }
    }
}

impl fmt::Display for PeerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.participant, self.session)
    }
}

/// Which path a description came by, so the answer goes back the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Socket,
    Channel,
}

/// What the room asks the media and signaling layers to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Send a frame on the signaling websocket.
    Send(String),
    /// Build a webrtcbin for this session.
    CreatePeer { key: PeerKey, stream_id: StreamId },
    /// Apply an offer to the session's webrtcbin and answer it.
    ApplyOffer { key: PeerKey, sdp: String, via: Via },
    /// Hand a validated remote candidate to webrtcbin.
    AddCandidate {
        key: PeerKey,
        candidate: IceCandidateInit,
    },
    /// Send a text message on the session's data channel.
    SendOnChannel { key: PeerKey, text: String },
    /// Ask the publisher's encoder for a key frame (PLI).
    RequestKeyframe { key: PeerKey },
    /// Finalise recordings and free the session's webrtcbin.
    ClosePeer { key: PeerKey, reason: LeaveReason },
    /// Tell the world.
    Event(RoomEvent),
}

/// What a session's webrtcbin reports, translated off the GStreamer threads.
#[derive(Debug, Clone, PartialEq)]
pub enum PeerEvent {
    RemoteDescriptionApplied,
    /// The offer could not be applied (bad SDP and the like).
    NegotiationFailed(String),
    AnswerReady {
        sdp: String,
    },
    LocalCandidate {
        mline: u32,
        candidate: String,
    },
    Connection(ConnectionState),
    Ice {
        transport: String,
        state: IceState,
    },
    ChannelOpen,
    ChannelClosed,
    ChannelMessage(String),
    MediaFlowing(MediaKind),
    /// RTP arrived since the last report (sent at most once per tick).
    RtpActivity,
    SelectedPair(SelectedPair),
}

/// What the room needs to know up front.
#[derive(Debug, Clone)]
pub struct RoomConfig {
    /// The id this client puts in `from` on every frame (custom relays need it).
    pub own_id: String,
    /// The room name as typed.
    pub room: String,
    pub crypto: RoomCrypto,
    /// Only these stream ids (without hash suffix); empty for everyone.
    pub wanted_streams: Vec<String>,
    pub want_audio: bool,
    pub want_video: bool,
    pub prefer_video_codec: Option<String>,
    pub bitrate_kbps: Option<u32>,
    pub resolution: Option<(u32, u32)>,
    /// Most peer connections at once; offers beyond it are refused with a `dropped` event
    /// (each peer costs file handles and threads: see `limits`).
    pub max_peers: usize,
}

impl RoomConfig {
    /// No password: plain ids and clear payloads.
    pub fn no_crypto() -> RoomCrypto {
        RoomCrypto::new(&crate::protocol::crypto::Password::Disabled, "vdo.ninja")
    }
}

#[derive(Debug)]
struct Session {
    id: SessionId,
    queue: CandidateQueue,
    /// The path the description being answered came by.
    answer_via: Via,
    offered_at_ms: u64,
    media_requested: bool,
    media_requested_at_ms: u64,
    media_request_retries: u32,
    health: Health,
    checking_since_ms: Option<u64>,
    last_rtp_ms: Option<u64>,
    last_pong_ms: u64,
    last_ping_ms: u64,
    media: HashSet<MediaKind>,
    problems: HashSet<Problem>,
}

impl Session {
    /// A session whose offer arrived at `now_ms` by `via`: every watchdog starts from then.
    fn new(id: SessionId, via: Via, now_ms: u64) -> Session {
        Session {
            id,
            queue: CandidateQueue::new(),
            answer_via: via,
            offered_at_ms: now_ms,
            media_requested: false,
            media_requested_at_ms: 0,
            media_request_retries: 0,
            health: Health::default(),
            checking_since_ms: None,
            last_rtp_ms: None,
            last_pong_ms: now_ms,
            last_ping_ms: now_ms,
            media: HashSet::new(),
            problems: HashSet::new(),
        }
    }
}

#[derive(Debug)]
struct Participant {
    id: ParticipantId,
    /// Stream id without the hash suffix.
    stream_id: StreamId,
    /// Stream id as on the wire.
    wire_stream_id: String,
    label: Option<String>,
    session: Option<Session>,
    /// When `play` was last sent and no offer came yet.
    play_sent_ms: Option<u64>,
    /// Set after a failure: when to ask again.
    replay_at_ms: Option<u64>,
    left: bool,
    /// When webrtcbin last refused one of this participant's offers.
    rejected_at_ms: Option<u64>,
    /// When they were last marked as left.
    left_at_ms: Option<u64>,
    /// Sessions given up in a row because media never came.
    stall_restarts: u32,
    /// `play`s in a row that brought no offer (reset by a session).
    unanswered_plays: u32,
}

impl Participant {
    fn new(id: ParticipantId, stream_id: StreamId, wire_stream_id: String) -> Participant {
        Participant {
            id,
            stream_id,
            wire_stream_id,
            label: None,
            session: None,
            play_sent_ms: None,
            replay_at_ms: None,
            left: false,
            rejected_at_ms: None,
            left_at_ms: None,
            stall_restarts: 0,
            unanswered_plays: 0,
        }
    }
}

/// The room. Feed it signaling frames, peer events and ticks; carry out what it returns.
#[derive(Debug)]
pub struct Room {
    config: RoomConfig,
    wire_room: String,
    participants: BTreeMap<ParticipantId, Participant>,
    connected: bool,
    stopped: bool,
    /// A TURN server refused our credentials (checked outside the room): `Some(relay_only)`.
    turn_refused: Option<bool>,
    /// Set once a `listing` arrived: only the official server sends one, and it rewrites
    /// `UUID` to the sender, while relays use `UUID` for the target and `from` for the sender.
    official_dialect: bool,
    /// New server-assigned ids of publishers whose peer (under their old id) is still alive:
    /// after a server restart every client gets a new id, but the media never stopped.
    aliases: BTreeMap<ParticipantId, ParticipantId>,
    /// Tokens for `play` requests (thousandths, refilled at [`PLAYS_PER_SECOND`]).
    play_tokens_milli: u64,
    play_tokens_at_ms: u64,
    /// When the recorder last took a new id because the server said its id was taken.
    identity_changed_at_ms: Option<u64>,
}

impl Room {
    pub fn new(config: RoomConfig) -> Room {
        let wire_room = config.crypto.wire_room(&config.room);
        Room {
            config,
            wire_room,
            participants: BTreeMap::new(),
            connected: false,
            stopped: false,
            turn_refused: None,
            official_dialect: false,
            aliases: BTreeMap::new(),
            play_tokens_milli: PLAY_BURST * 1000,
            play_tokens_at_ms: 0,
            identity_changed_at_ms: None,
        }
    }

    pub fn config(&self) -> &RoomConfig {
        &self.config
    }

    /// The room id as it goes on the wire.
    pub fn wire_room(&self) -> &str {
        &self.wire_room
    }

    /// Participants with a live session, as (id, stream id, label).
    pub fn active_participants(&self) -> Vec<(ParticipantId, StreamId, Option<String>)> {
        self.participants
            .values()
            .filter(|p| p.session.is_some() && !p.left)
            .map(|p| (p.id.clone(), p.stream_id.clone(), p.label.clone()))
            .collect()
    }

    /// How many participants the room remembers (present, or left less than
    /// [`FORGET_LEFT_AFTER_MS`] ago).
    pub fn participant_count(&self) -> usize {
        self.participants.len()
    }

    /// The health model of a participant's current session.
    pub fn health(&self, participant: &str) -> Option<&Health> {
        self.participants
            .get(participant)
            .and_then(|p| p.session.as_ref())
            .map(|s| &s.health)
    }

    /// The signaling socket (re)connected: join as a pure viewer and ask for every stream again.
    pub fn on_connected(&mut self, now_ms: u64) -> Vec<Command> {
        self.connected = true;
        let mut out = vec![Command::Event(RoomEvent::SignalingConnected {
            at_ms: now_ms,
        })];
        self.join(now_ms, &mut out);
        out
    }

    /// Joins the room under our id and asks again for everyone not connected.
    fn join(&mut self, now_ms: u64, out: &mut Vec<Command>) {
        // Never a streamID here: the recorder must not look like a publisher.
        out.push(Command::Send(message::encode_request(
            &ServerRequest::JoinRoom {
                roomid: self.wire_room.clone(),
                stream_id: None,
            },
            &Route::default().from(&self.config.own_id),
        )));
        let missing: Vec<ParticipantId> = self
            .participants
            .values()
            .filter(|p| !p.left && p.session.is_none())
            .map(|p| p.id.clone())
            .collect();
        for id in missing {
            self.send_play(&id, now_ms, out);
        }
    }

    /// A relay refused our id (after a restart, someone else registered it first): take a new
    /// one and join again, so that later participants still reach us. Peers already connected
    /// keep going over their data channels. At most once per [`IDENTITY_CHANGE_EVERY_MS`],
    /// since anyone in a relay room can forge such an error.
    fn take_new_identity(&mut self, now_ms: u64, out: &mut Vec<Command>) {
        if self
            .identity_changed_at_ms
            .is_some_and(|at| now_ms.saturating_sub(at) < IDENTITY_CHANGE_EVERY_MS)
        {
            return;
        }
        self.identity_changed_at_ms = Some(now_ms);
        let old = std::mem::replace(&mut self.config.own_id, new_identity());
        tracing::warn!(
            old = %old,
            new = %self.config.own_id,
            "the server says our id is taken: joining again under a new one"
        );
        self.join(now_ms, out);
    }

    /// The socket dropped. Peers keep going: media does not need the server.
    pub fn on_disconnected(&mut self, now_ms: u64, reason: &str) -> Vec<Command> {
        self.connected = false;
        vec![Command::Event(RoomEvent::SignalingLost {
            at_ms: now_ms,
            reason: reason.to_owned(),
        })]
    }

    /// One frame from the signaling socket.
    pub fn on_frame(&mut self, text: &str, now_ms: u64) -> Vec<Command> {
        let mut out = Vec::new();
        if self.stopped {
            return out;
        }
        let envelope = match message::decode(text, &self.config.crypto) {
            Ok(envelope) => envelope,
            Err(err) => {
                out.push(dropped(now_ms, None, DropReason::UndecodableFrame(err)));
                return out;
            }
        };
        self.route(envelope, now_ms, &mut out);
        out
    }

    /// The operator stops: close every peer (the recorder finalises files) and say goodbye.
    pub fn stop(&mut self, now_ms: u64) -> Vec<Command> {
        let mut out = Vec::new();
        let ids: Vec<ParticipantId> = self.participants.keys().cloned().collect();
        for id in ids {
            if let Some(p) = self.participants.get(&id)
                && let Some(s) = &p.session
            {
                out.push(Command::SendOnChannel {
                    key: PeerKey::new(id.clone(), s.id.clone()),
                    text: json!({ "bye": true }).to_string(),
                });
            }
            self.participant_left(&id, LeaveReason::Stopped, now_ms, &mut out);
        }
        self.stopped = true;
        out
    }
}

fn dropped(at_ms: u64, from: Option<ParticipantId>, reason: DropReason) -> Command {
    tracing::debug!(?from, "dropped: {reason}");
    Command::Event(RoomEvent::Dropped {
        at_ms,
        from,
        reason,
    })
}

/// A fresh client id, as the web client makes them (20 characters).
fn new_identity() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::thread_rng();
    (0..20)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}
