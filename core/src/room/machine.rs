//! The room state machine.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use serde_json::json;

use super::candidates::{Admission, CandidateDirection, CandidateLogEntry, CandidateQueue};
use super::events::{LeaveReason, MediaKind, Problem, RoomEvent};
use super::health::{ConnectionState, Health, IceState, SelectedPair};
use super::reasons::{DropReason, SdpRefusal, ServerNotice, ServerRefusal};
use crate::ids::{ParticipantId, SessionId, StreamId};
use crate::protocol::crypto::RoomCrypto;
use crate::protocol::datachannel::{self, ChannelMessage, MediaRequest};
use crate::protocol::message::{
    self, Body, CandidateOrigin, Envelope, IceCandidateInit, Route, SdpKind, ServerRequest,
    SessionDescription,
};

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
/// Largest SDP taken (the same bound the peer enforces after parsing).
pub const MAX_SDP_BYTES: usize = 64 * 1024;
/// Most media sections taken in one SDP.
pub const MAX_SDP_MEDIA_SECTIONS: usize = 16;
/// A participant who left is forgotten this long afterwards (unless asked for again), so a
/// recorder that runs for days through churn keeps a bounded room.
pub const FORGET_LEFT_AFTER_MS: u64 = 60_000;

/// One peer connection: a participant and the publisher's session id for it.
///
/// The media layer's own key for its peers, so its fields stay plain strings: the room's typed
/// ids end here.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerKey {
    pub participant: String,
    pub session: String,
}

impl PeerKey {
    pub fn new(participant: &str, session: &str) -> PeerKey {
        PeerKey {
            participant: participant.to_owned(),
            session: session.to_owned(),
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
    CreatePeer { key: PeerKey, stream_id: String },
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

    fn route(&mut self, env: Envelope, now_ms: u64, out: &mut Vec<Command>) {
        let own = self.config.own_id.as_str();
        if env.from.as_deref() == Some(own) {
            return;
        }
        if let Some(room) = env.roomid.as_deref()
            && room != self.wire_room
            && !matches!(env.body, Body::Request(ServerRequest::JoinRoom { .. }))
        {
            out.push(dropped(
                now_ms,
                env.from.clone().map(ParticipantId::from),
                DropReason::OtherRoom,
            ));
            return;
        }
        if matches!(
            env.body,
            Body::Request(ServerRequest::Listing { .. } | ServerRequest::Transferred { .. })
        ) {
            self.official_dialect = true;
        }
        let Some(sender) = sender_of(&env, own, self.official_dialect) else {
            out.push(dropped(
                now_ms,
                env.from.clone().map(ParticipantId::from),
                DropReason::NotForUs,
            ));
            return;
        };
        let sender = (!sender.is_empty()).then(|| ParticipantId::from(sender));
        match env.body {
            Body::Request(request) => self.on_request(request, sender, &env.stream_id, now_ms, out),
            Body::Description(desc) => {
                let Some(sender) = sender else {
                    out.push(dropped(now_ms, None, DropReason::DescriptionWithoutSender));
                    return;
                };
                self.on_description(
                    &sender,
                    env.session,
                    env.stream_id,
                    desc,
                    Via::Socket,
                    now_ms,
                    out,
                );
            }
            Body::Candidates { candidates, origin } => {
                let Some(sender) = sender else {
                    out.push(dropped(now_ms, None, DropReason::CandidatesWithoutSender));
                    return;
                };
                if origin == Some(CandidateOrigin::Remote) {
                    // Viewer-to-publisher candidates; we are never the publisher.
                    out.push(dropped(
                        now_ms,
                        Some(sender),
                        DropReason::CandidatesForPublisher,
                    ));
                    return;
                }
                self.on_candidates(
                    &sender,
                    env.session.as_deref(),
                    candidates,
                    false,
                    now_ms,
                    out,
                );
            }
            Body::Bye | Body::Hangup => {
                if let Some(sender) = sender {
                    self.participant_left(&sender, LeaveReason::Left, now_ms, out);
                }
            }
            Body::ServerError { message } => {
                let message = ServerNotice::new(message);
                let id_taken = message.refusal() == Some(ServerRefusal::IdTaken);
                out.push(Command::Event(RoomEvent::ServerMessage {
                    at_ms: now_ms,
                    message,
                }));
                if id_taken && self.connected {
                    self.take_new_identity(now_ms, out);
                }
            }
            Body::Unknown => {
                // Relays announce a closed socket as {"type":"disconnect","uuid":..}; only the
                // server itself (no sender) may say that.
                let notice = env.extra.get("type").and_then(|v| v.as_str());
                if sender.is_none()
                    && matches!(notice, Some("disconnect" | "leave"))
                    && let Some(uuid) = env.extra.get("uuid").and_then(|v| v.as_str())
                {
                    let uuid = uuid.to_owned();
                    self.participant_left(&uuid, LeaveReason::Left, now_ms, out);
                }
            }
            Body::IceRestartRequest => {}
        }
    }

    fn on_request(
        &mut self,
        request: ServerRequest,
        sender: Option<ParticipantId>,
        stream_id: &Option<String>,
        now_ms: u64,
        out: &mut Vec<Command>,
    ) {
        match request {
            ServerRequest::Listing { members, .. } | ServerRequest::Transferred { members, .. } => {
                if members.len() > MAX_LISTING_MEMBERS {
                    out.push(dropped(
                        now_ms,
                        sender.clone(),
                        DropReason::ListingTruncated {
                            members: members.len(),
                            taken: MAX_LISTING_MEMBERS,
                        },
                    ));
                }
                for member in members.into_iter().take(MAX_LISTING_MEMBERS) {
                    if let Some(stream) = member.stream_id {
                        self.discover(&member.uuid, &stream, now_ms, out);
                    }
                }
            }
            ServerRequest::SomeoneJoined {
                uuid,
                stream_id: Some(stream),
                ..
            }
            | ServerRequest::VideoAddedToRoom {
                uuid,
                stream_id: stream,
            } => {
                self.discover(&uuid, &stream, now_ms, out);
            }
            // Relay servers relay joins and seeds as they are: the sender is the publisher.
            ServerRequest::JoinRoom {
                stream_id: Some(stream),
                ..
            }
            | ServerRequest::Seed { stream_id: stream } => {
                if let Some(sender) = sender {
                    self.discover(&sender, &stream, now_ms, out);
                }
            }
            ServerRequest::Cleanup { uuid } => {
                self.participant_left(&uuid, LeaveReason::Left, now_ms, out);
            }
            ServerRequest::Alert { message } | ServerRequest::Error { message, .. } => {
                out.push(Command::Event(RoomEvent::ServerMessage {
                    at_ms: now_ms,
                    message: ServerNotice::new(message),
                }));
            }
            ServerRequest::OfferSdp { .. } | ServerRequest::Play { .. } => {
                // Someone wants our stream: we have none and never will.
                out.push(dropped(now_ms, sender, DropReason::StreamRequest));
            }
            _ => {
                let _ = stream_id;
            }
        }
    }

    fn wants(&self, stream_id: &str) -> bool {
        self.config.wanted_streams.is_empty()
            || self.config.wanted_streams.iter().any(|s| s == stream_id)
    }

    fn discover(&mut self, id: &str, wire_stream: &str, now_ms: u64, out: &mut Vec<Command>) {
        if id == self.config.own_id {
            return;
        }
        let stream_id = StreamId::from(self.config.crypto.strip_stream_id(wire_stream));
        if !self.wants(&stream_id) {
            return;
        }
        if self.aliases.contains_key(id) {
            return;
        }
        let live_twin = self
            .participants
            .values()
            .find(|q| {
                q.id != id
                    && q.stream_id == stream_id
                    && !q.left
                    && q.session.as_ref().is_some_and(|s| {
                        s.last_rtp_ms
                            .is_some_and(|t| now_ms.saturating_sub(t) <= ALIVE_WITHIN_MS)
                            || (s.health.channel_open
                                && now_ms.saturating_sub(s.last_pong_ms) <= ALIVE_WITHIN_MS)
                    })
            })
            .map(|q| q.id.clone());
        if let Some(twin) = live_twin {
            // Same stream, new id, old peer still alive: the server was restarted. Asking again
            // would record the same person twice; remember the new id for when they leave.
            tracing::info!(
                new_id = id,
                peer = %twin,
                "stream {stream_id:?} re-announced under a new id while its peer is alive"
            );
            self.aliases.insert(id.into(), twin);
            return;
        }
        // An earlier id of this stream without a live peer is superseded: asking for it again
        // would reach the new connection (servers route `play` by stream id) and replace it.
        for q in self.participants.values_mut() {
            if q.id != id && q.stream_id == stream_id && q.session.is_none() {
                if !q.left {
                    q.left_at_ms = Some(now_ms);
                }
                q.left = true;
                q.play_sent_ms = None;
                q.replay_at_ms = None;
            }
        }
        match self.participants.get_mut(id) {
            Some(p) if !p.left && (p.session.is_some() || p.play_sent_ms.is_some()) => return,
            Some(p) => {
                p.left = false;
                p.stream_id = stream_id.clone();
                p.wire_stream_id = wire_stream.to_owned();
            }
            None => {
                let pending = self
                    .participants
                    .values()
                    .filter(|q| !q.left && q.session.is_none())
                    .count();
                if pending >= MAX_PENDING_PARTICIPANTS {
                    out.push(dropped(
                        now_ms,
                        Some(id.into()),
                        DropReason::TooManyPending { pending },
                    ));
                    return;
                }
                self.participants.insert(
                    id.into(),
                    Participant {
                        id: id.into(),
                        stream_id: stream_id.clone(),
                        wire_stream_id: wire_stream.to_owned(),
                        label: None,
                        session: None,
                        play_sent_ms: None,
                        replay_at_ms: None,
                        left: false,
                        rejected_at_ms: None,
                        stall_restarts: 0,
                        unanswered_plays: 0,
                        left_at_ms: None,
                    },
                );
            }
        }
        out.push(Command::Event(RoomEvent::Discovered {
            at_ms: now_ms,
            id: id.into(),
            stream_id,
        }));
        self.send_play(id, now_ms, out);
    }

    fn send_play(&mut self, id: &str, now_ms: u64, out: &mut Vec<Command>) {
        let refill = now_ms.saturating_sub(self.play_tokens_at_ms) * PLAYS_PER_SECOND;
        self.play_tokens_milli = (self.play_tokens_milli + refill).min(PLAY_BURST * 1000);
        self.play_tokens_at_ms = now_ms;
        let Some(p) = self.participants.get_mut(id) else {
            return;
        };
        if self.connected && self.play_tokens_milli < 1000 {
            // Over the rate: ask a little later (the tick picks it up).
            p.play_sent_ms = None;
            p.replay_at_ms = Some(now_ms + 1000 / PLAYS_PER_SECOND);
            return;
        }
        p.play_sent_ms = Some(now_ms);
        p.replay_at_ms = None;
        if !self.connected {
            return;
        }
        self.play_tokens_milli -= 1000;
        out.push(Command::Send(message::encode_request(
            &ServerRequest::Play {
                stream_id: p.wire_stream_id.clone(),
                uuid: Some(p.id.to_string()),
            },
            &Route::default().from(&self.config.own_id),
        )));
    }

    #[allow(clippy::too_many_arguments)]
    fn on_description(
        &mut self,
        sender: &str,
        session: Option<String>,
        wire_stream: Option<String>,
        desc: SessionDescription,
        via: Via,
        now_ms: u64,
        out: &mut Vec<Command>,
    ) {
        if desc.kind != SdpKind::Offer {
            out.push(dropped(
                now_ms,
                Some(sender.into()),
                DropReason::AnswerToViewer,
            ));
            return;
        }
        // Bad SDP never reaches webrtcbin, and never costs a working session its peer.
        if let Err(reason) = precheck_sdp(&desc.sdp) {
            out.push(dropped(
                now_ms,
                Some(sender.into()),
                DropReason::OfferRefused(reason),
            ));
            return;
        }
        if let Some(at) = self
            .participants
            .get(sender)
            .and_then(|p| p.rejected_at_ms)
            .filter(|at| now_ms.saturating_sub(*at) < REJECTED_COOLDOWN_MS)
        {
            out.push(dropped(
                now_ms,
                Some(sender.into()),
                DropReason::OfferCoolingDown {
                    ago_ms: now_ms.saturating_sub(at),
                },
            ));
            return;
        }
        if let Some(twin) = self.aliases.remove(sender) {
            // The publisher offers again under its new id: that connection replaces the old one.
            self.participant_left(&twin, LeaveReason::Replaced, now_ms, out);
        }
        // Publishers that send no session id (RN) get one derived from nothing: keep them
        // working, but every such offer replaces the previous peer.
        let session = SessionId::from(session.unwrap_or_default());
        if !self.participants.contains_key(sender) {
            // Relay servers give no listing: an unsolicited offer carrying a stream id is how
            // members already in the room announce themselves.
            let Some(wire) = wire_stream.clone() else {
                out.push(dropped(
                    now_ms,
                    Some(sender.into()),
                    DropReason::UnknownPeerWithoutStream,
                ));
                return;
            };
            let stream_id = StreamId::from(self.config.crypto.strip_stream_id(&wire));
            if !self.wants(&stream_id) {
                return;
            }
            self.participants.insert(
                sender.into(),
                Participant {
                    id: sender.into(),
                    stream_id: stream_id.clone(),
                    wire_stream_id: wire,
                    label: None,
                    session: None,
                    play_sent_ms: None,
                    replay_at_ms: None,
                    left: false,
                    rejected_at_ms: None,
                    stall_restarts: 0,
                    unanswered_plays: 0,
                    left_at_ms: None,
                },
            );
            out.push(Command::Event(RoomEvent::Discovered {
                at_ms: now_ms,
                id: sender.into(),
                stream_id,
            }));
        }
        let peers = self
            .participants
            .values()
            .filter(|q| q.session.is_some())
            .count();
        let Some(p) = self.participants.get_mut(sender) else {
            return;
        };
        if p.session.is_none() && peers >= self.config.max_peers {
            out.push(dropped(
                now_ms,
                Some(sender.into()),
                DropReason::TooManyPeers { peers },
            ));
            // Asked again later, when someone may have left.
            p.replay_at_ms = Some(now_ms + REPLAY_WHEN_FULL_MS);
            return;
        }
        if let Some(wire) = wire_stream
            && p.wire_stream_id != wire
        {
            p.stream_id = self.config.crypto.strip_stream_id(&wire).into();
            p.wire_stream_id = wire;
        }
        let same_session = p.session.as_ref().is_some_and(|s| s.id == session);
        if same_session && !p.left {
            // A renegotiation of the session we have.
            let key = PeerKey::new(sender, &session);
            if let Some(s) = p.session.as_mut() {
                s.answer_via = via;
            }
            out.push(Command::ApplyOffer {
                key,
                sdp: desc.sdp,
                via,
            });
            return;
        }
        if let Some(old) = p.session.take() {
            out.push(Command::ClosePeer {
                key: PeerKey::new(sender, &old.id),
                reason: LeaveReason::Replaced,
            });
            out.push(Command::Event(RoomEvent::Left {
                at_ms: now_ms,
                id: sender.into(),
                session: old.id,
                reason: LeaveReason::Replaced,
            }));
        }
        p.left = false;
        p.play_sent_ms = None;
        p.replay_at_ms = None;
        p.unanswered_plays = 0;
        p.session = Some(Session {
            id: session.clone(),
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
        });
        let key = PeerKey::new(sender, &session);
        out.push(Command::CreatePeer {
            key: key.clone(),
            stream_id: p.stream_id.to_string(),
        });
        out.push(Command::Event(RoomEvent::Joined {
            at_ms: now_ms,
            id: sender.into(),
            stream_id: p.stream_id.clone(),
            session,
        }));
        out.push(Command::ApplyOffer {
            key,
            sdp: desc.sdp,
            via,
        });
    }

    fn on_candidates(
        &mut self,
        sender: &str,
        session: Option<&str>,
        candidates: Vec<IceCandidateInit>,
        over_channel: bool,
        now_ms: u64,
        out: &mut Vec<Command>,
    ) {
        let Some(p) = self.participants.get_mut(sender) else {
            out.push(dropped(
                now_ms,
                Some(sender.into()),
                DropReason::CandidatesFromUnknownPeer,
            ));
            return;
        };
        let Some(s) = p.session.as_mut() else {
            out.push(dropped(
                now_ms,
                Some(sender.into()),
                DropReason::CandidatesBeforeOffer,
            ));
            return;
        };
        // Over the data channel the session is implied by the channel itself.
        if !over_channel && session.unwrap_or_default() != s.id {
            out.push(dropped(
                now_ms,
                Some(sender.into()),
                DropReason::StaleSession {
                    session: session.unwrap_or_default().to_owned(),
                },
            ));
            return;
        }
        let key = PeerKey::new(sender, &s.id);
        for candidate in candidates {
            let (mut entry, parsed) = CandidateLogEntry::from_raw(
                now_ms,
                sender,
                &s.id,
                CandidateDirection::Remote,
                &candidate.candidate,
            );
            if parsed.is_none() {
                out.push(Command::Event(RoomEvent::Candidate(entry)));
                continue;
            }
            match s.queue.admit(candidate) {
                Admission::ApplyNow(candidate) => {
                    out.push(Command::AddCandidate {
                        key: key.clone(),
                        candidate,
                    });
                }
                Admission::Held => {}
                Admission::Rejected(reason) => {
                    entry.accepted = false;
                    entry.note = Some(reason);
                }
            }
            out.push(Command::Event(RoomEvent::Candidate(entry)));
        }
        if s.problems.remove(&Problem::NoRemoteCandidates) {
            out.push(Command::Event(RoomEvent::WatchdogCleared {
                at_ms: now_ms,
                id: sender.into(),
                problem: Problem::NoRemoteCandidates,
            }));
        }
    }

    fn participant_left(
        &mut self,
        id: &str,
        reason: LeaveReason,
        now_ms: u64,
        out: &mut Vec<Command>,
    ) {
        // A leave notice for a second id announced for a stream whose peer is alive. Whoever
        // announced that id (a restarted server, or anyone in the room forging a notice) does
        // not speak for the peer: only the peer itself (its channel, its own session, its own
        // silence) can end it. The alias is forgotten; a publisher that really went away with
        // a server restart is caught by the watchdogs within seconds.
        if let Some(twin) = self.aliases.remove(id) {
            tracing::info!(alias = id, peer = %twin, "an alias left; its peer carries on");
            return;
        }
        let Some(p) = self.participants.get_mut(id) else {
            return;
        };
        p.left = true;
        p.left_at_ms = Some(now_ms);
        p.play_sent_ms = None;
        if let Some(s) = p.session.take() {
            out.push(Command::ClosePeer {
                key: PeerKey::new(id, &s.id),
                reason,
            });
            out.push(Command::Event(RoomEvent::Left {
                at_ms: now_ms,
                id: id.into(),
                session: s.id,
                reason,
            }));
        }
        if reason == LeaveReason::Rejected {
            p.rejected_at_ms = Some(now_ms);
        }
        if matches!(reason, LeaveReason::Failed | LeaveReason::Vanished) && !self.stopped {
            let new_id = self
                .aliases
                .iter()
                .find(|(_, twin)| twin.as_str() == id)
                .map(|(new_id, _)| new_id.clone());
            match new_id {
                // The (restarted) server knows them by their new id only: ask under that one.
                Some(new_id) => {
                    self.aliases.remove(&new_id);
                    let wire = p.wire_stream_id.clone();
                    self.discover(&new_id, &wire, now_ms, out);
                }
                // They may still be in the room: ask again shortly.
                None => p.replay_at_ms = Some(now_ms + REPLAY_AFTER_FAILURE_MS),
            }
        }
    }

    /// An event from a session's webrtcbin.
    pub fn on_peer_event(&mut self, key: &PeerKey, event: PeerEvent, now_ms: u64) -> Vec<Command> {
        let mut out = Vec::new();
        let own_id = self.config.own_id.clone();
        let crypto = self.config.crypto.clone();
        let wire_room = self.wire_room.clone();
        let Some(p) = self.participants.get_mut(key.participant.as_str()) else {
            return out;
        };
        let Some(s) = p.session.as_mut().filter(|s| s.id == key.session) else {
            // A peer we already replaced or closed: its late events mean nothing.
            return out;
        };
        let id = ParticipantId::from(&key.participant);
        match event {
            PeerEvent::RemoteDescriptionApplied => {
                for candidate in s.queue.remote_description_applied() {
                    out.push(Command::AddCandidate {
                        key: key.clone(),
                        candidate,
                    });
                }
            }
            PeerEvent::NegotiationFailed(reason) => {
                out.push(dropped(
                    now_ms,
                    Some(id.clone()),
                    DropReason::NegotiationFailed(reason),
                ));
                self.participant_left(&id, LeaveReason::Rejected, now_ms, &mut out);
            }
            PeerEvent::AnswerReady { sdp } => {
                let answer = SessionDescription {
                    kind: SdpKind::Answer,
                    sdp,
                };
                match s.answer_via {
                    Via::Channel => out.push(Command::SendOnChannel {
                        key: key.clone(),
                        text: datachannel::encode_channel(
                            &ChannelMessage::Description {
                                desc: answer,
                                session: Some(s.id.to_string()),
                                stream_id: None,
                            },
                            &crypto,
                        ),
                    }),
                    Via::Socket => out.push(Command::Send(message::encode_description(
                        &answer,
                        &Route::to(&id)
                            .session(&s.id)
                            .from(&own_id)
                            .roomid(&wire_room),
                        &crypto,
                    ))),
                }
            }
            PeerEvent::LocalCandidate { mline, candidate } => {
                let (entry, _) = CandidateLogEntry::from_raw(
                    now_ms,
                    &id,
                    &s.id,
                    CandidateDirection::Local,
                    &candidate,
                );
                out.push(Command::Event(RoomEvent::Candidate(entry)));
                let init = IceCandidateInit {
                    candidate,
                    sdp_m_line_index: Some(mline),
                    sdp_mid: None,
                    username_fragment: None,
                };
                if s.health.channel_open {
                    out.push(Command::SendOnChannel {
                        key: key.clone(),
                        text: datachannel::encode_channel(
                            &ChannelMessage::Candidates {
                                candidates: vec![init],
                                session: Some(s.id.to_string()),
                                origin: Some(CandidateOrigin::Remote),
                            },
                            &crypto,
                        ),
                    });
                } else {
                    out.push(Command::Send(message::encode_candidates(
                        &[init],
                        CandidateOrigin::Remote,
                        &Route::to(&id)
                            .session(&s.id)
                            .from(&own_id)
                            .roomid(&wire_room),
                        &crypto,
                    )));
                }
            }
            PeerEvent::Connection(state) => {
                if s.health.connection != state {
                    s.health.connection = state;
                    out.push(Command::Event(RoomEvent::Connection {
                        at_ms: now_ms,
                        id: id.clone(),
                        state,
                    }));
                    self.after_health_change(&id, now_ms, &mut out);
                    if state == ConnectionState::Failed {
                        self.participant_left(&id, LeaveReason::Failed, now_ms, &mut out);
                    }
                }
            }
            PeerEvent::Ice { transport, state } => {
                if s.health.transports.get(&transport) != Some(&state) {
                    s.health.transports.insert(transport.clone(), state);
                    out.push(Command::Event(RoomEvent::Ice {
                        at_ms: now_ms,
                        id: id.clone(),
                        transport,
                        state,
                    }));
                    self.after_health_change(&id, now_ms, &mut out);
                }
            }
            PeerEvent::ChannelOpen if s.health.channel_open => {}
            PeerEvent::ChannelOpen => {
                s.health.channel_open = true;
                s.last_pong_ms = now_ms;
                out.push(Command::Event(RoomEvent::ChannelOpen {
                    at_ms: now_ms,
                    id: id.clone(),
                }));
                if !s.media_requested {
                    // A VDO.Ninja publisher sends nothing until asked, once per session.
                    s.media_requested = true;
                    s.media_requested_at_ms = now_ms;
                    out.extend(media_request(&self.config, &crypto, key));
                }
                self.after_health_change(&id, now_ms, &mut out);
            }
            PeerEvent::ChannelClosed => {
                s.health.channel_open = false;
            }
            PeerEvent::ChannelMessage(text) => {
                self.on_channel_message(key, &text, now_ms, &mut out)
            }
            PeerEvent::MediaFlowing(kind) => {
                s.last_rtp_ms = Some(now_ms);
                if s.media.insert(kind) {
                    out.push(Command::Event(RoomEvent::MediaFlowing {
                        at_ms: now_ms,
                        id: id.clone(),
                        kind,
                    }));
                    // The first frames of a recording must be a key frame: ask for one.
                    out.push(Command::SendOnChannel {
                        key: key.clone(),
                        text: json!({"keyframe": true}).to_string(),
                    });
                }
            }
            PeerEvent::RtpActivity => {
                s.last_rtp_ms = Some(now_ms);
                if s.problems.remove(&Problem::NoRtp) {
                    out.push(Command::Event(RoomEvent::WatchdogCleared {
                        at_ms: now_ms,
                        id: id.clone(),
                        problem: Problem::NoRtp,
                    }));
                }
            }
            PeerEvent::SelectedPair(pair) => {
                if s.health.selected_pair.as_ref() != Some(&pair) {
                    s.health.selected_pair = Some(pair.clone());
                    out.push(Command::Event(RoomEvent::SelectedPair {
                        at_ms: now_ms,
                        id,
                        pair,
                    }));
                }
            }
        }
        out
    }

    fn after_health_change(&mut self, id: &str, now_ms: u64, out: &mut Vec<Command>) {
        let Some(s) = self
            .participants
            .get_mut(id)
            .and_then(|p| p.session.as_mut())
        else {
            return;
        };
        match s.health.ice_state() {
            IceState::Checking => {
                s.checking_since_ms.get_or_insert(now_ms);
            }
            IceState::Connected | IceState::Completed => {
                s.checking_since_ms = None;
                for problem in [
                    Problem::IceStuck,
                    Problem::NoRemoteCandidates,
                    Problem::TurnRefused,
                ] {
                    if s.problems.remove(&problem) {
                        out.push(Command::Event(RoomEvent::WatchdogCleared {
                            at_ms: now_ms,
                            id: id.into(),
                            problem,
                        }));
                    }
                }
            }
            _ => {}
        }
    }

    fn on_channel_message(
        &mut self,
        key: &PeerKey,
        text: &str,
        now_ms: u64,
        out: &mut Vec<Command>,
    ) {
        let crypto = self.config.crypto.clone();
        let message = match datachannel::decode_channel(text, &crypto) {
            Ok(message) => message,
            Err(err) => {
                out.push(dropped(
                    now_ms,
                    Some(ParticipantId::from(&key.participant)),
                    DropReason::BadChannelMessage(err),
                ));
                return;
            }
        };
        let Some(p) = self.participants.get_mut(key.participant.as_str()) else {
            return;
        };
        match message {
            ChannelMessage::Description {
                desc,
                session,
                stream_id,
            } => {
                // Renegotiation over the channel belongs to this very session.
                let session = session.or_else(|| Some(key.session.to_string()));
                let sender = ParticipantId::from(&key.participant);
                self.on_description(&sender, session, stream_id, desc, Via::Channel, now_ms, out);
            }
            ChannelMessage::Candidates { candidates, .. } => {
                let sender = ParticipantId::from(&key.participant);
                self.on_candidates(
                    &sender,
                    Some(key.session.as_str()),
                    candidates,
                    true,
                    now_ms,
                    out,
                );
            }
            ChannelMessage::Ping(value) => out.push(Command::SendOnChannel {
                key: key.clone(),
                text: json!({ "pong": value }).to_string(),
            }),
            ChannelMessage::Pong(_) => {
                if let Some(s) = p.session.as_mut() {
                    s.last_pong_ms = now_ms;
                    if s.problems.remove(&Problem::NoPong) {
                        out.push(Command::Event(RoomEvent::WatchdogCleared {
                            at_ms: now_ms,
                            id: ParticipantId::from(&key.participant),
                            problem: Problem::NoPong,
                        }));
                    }
                }
            }
            ChannelMessage::Info(info) => {
                if let Some(label) = datachannel::info_label(&info)
                    && p.label.as_deref() != Some(label.as_str())
                {
                    p.label = Some(label.clone());
                    out.push(Command::Event(RoomEvent::Label {
                        at_ms: now_ms,
                        id: ParticipantId::from(&key.participant),
                        label,
                    }));
                }
            }
            ChannelMessage::Bye => {
                let id = ParticipantId::from(&key.participant);
                self.participant_left(&id, LeaveReason::Left, now_ms, out);
            }
            _ => {}
        }
    }

    /// This process did not run for a while (the driver saw its ticks stop for at least
    /// [`TIME_JUMP_MS`]): every silence is measured from now, and a ping goes out at once.
    pub fn on_resumed(&mut self, now_ms: u64) {
        tracing::info!("the clock jumped: watchdogs start over");
        for p in self.participants.values_mut() {
            if p.play_sent_ms.is_some() {
                p.play_sent_ms = Some(now_ms);
            }
            let Some(s) = p.session.as_mut() else {
                continue;
            };
            s.offered_at_ms = now_ms;
            s.media_requested_at_ms = now_ms;
            s.last_pong_ms = now_ms;
            s.last_ping_ms = 0;
            if s.last_rtp_ms.is_some() {
                s.last_rtp_ms = Some(now_ms);
            }
            if s.checking_since_ms.is_some() {
                s.checking_since_ms = Some(now_ms);
            }
        }
    }

    /// A TURN server refused our credentials: sessions that do not connect are told why (at
    /// once with `relay_only`, where nothing else can work; otherwise once ICE is stuck).
    pub fn on_turn_refused(&mut self, relay_only: bool) {
        self.turn_refused = Some(relay_only);
    }

    /// Time passes: pings, watchdogs, re-asking for streams.
    pub fn on_tick(&mut self, now_ms: u64) -> Vec<Command> {
        let mut out = Vec::new();
        if self.stopped {
            return out;
        }
        let mut vanished = Vec::new();
        let mut stalled = Vec::new();
        let mut replay = Vec::new();
        for p in self.participants.values_mut() {
            if let Some(at) = p.replay_at_ms
                && now_ms >= at
                && p.session.is_none()
            {
                replay.push(p.id.clone());
            }
            if let Some(sent) = p.play_sent_ms
                && p.session.is_none()
                && now_ms.saturating_sub(sent) >= NO_OFFER_AFTER_MS
            {
                p.unanswered_plays += 1;
                if p.unanswered_plays >= UNANSWERED_PLAYS_BEFORE_FORGETTING
                    && p.left_at_ms.is_none()
                {
                    // Never answered at all (a fake member, a stale listing): forget them,
                    // so that made-up names cannot keep the recorder asking.
                    p.play_sent_ms = None;
                    p.left = true;
                    p.left_at_ms = Some(now_ms);
                    continue;
                }
                // Someone who left is asked again quietly: the reason they left is what the
                // operator should keep seeing, not that their gone browser does not answer.
                if !p.left {
                    out.push(Command::Event(RoomEvent::Watchdog {
                        at_ms: now_ms,
                        id: p.id.clone(),
                        problem: Problem::NoOffer,
                    }));
                }
                replay.push(p.id.clone());
            }
            let Some(s) = p.session.as_mut() else {
                continue;
            };
            let key = PeerKey::new(&p.id, &s.id);
            let raise = |problem: Problem, s: &mut Session, out: &mut Vec<Command>| {
                if s.problems.insert(problem) {
                    out.push(Command::Event(RoomEvent::Watchdog {
                        at_ms: now_ms,
                        id: ParticipantId::from(&key.participant),
                        problem,
                    }));
                }
            };
            if s.media_requested
                && s.health.channel_open
                && s.media.is_empty()
                && now_ms.saturating_sub(s.media_requested_at_ms) >= MEDIA_REQUEST_RETRY_MS
            {
                if s.media_request_retries < MEDIA_REQUEST_RETRIES {
                    s.media_request_retries += 1;
                    s.media_requested_at_ms = now_ms;
                    tracing::info!(peer = %key, "no media yet: asking for it again");
                    out.extend(media_request(&self.config, &self.config.crypto, &key));
                } else if p.stall_restarts < MEDIA_STALL_RESTARTS {
                    // Whatever wedged this session, a new one starts from scratch.
                    p.stall_restarts += 1;
                    s.media_requested_at_ms = now_ms;
                    tracing::warn!(peer = %key, "still no media: starting the session over");
                    stalled.push(p.id.clone());
                    continue;
                }
            }
            if !s.media.is_empty() {
                p.stall_restarts = 0;
            }
            let connected = s.health.is_connected();
            if !connected
                && s.queue.received_count() == 0
                && now_ms.saturating_sub(s.offered_at_ms) >= NO_CANDIDATES_AFTER_MS
            {
                raise(Problem::NoRemoteCandidates, s, &mut out);
            }
            if let Some(relay_only) = self.turn_refused
                && !connected
                && now_ms.saturating_sub(s.offered_at_ms)
                    >= if relay_only {
                        TURN_REFUSED_AFTER_MS
                    } else {
                        ICE_STUCK_AFTER_MS
                    }
            {
                raise(Problem::TurnRefused, s, &mut out);
            }
            if let Some(since) = s.checking_since_ms
                && !connected
                && now_ms.saturating_sub(since) >= ICE_STUCK_AFTER_MS
            {
                raise(Problem::IceStuck, s, &mut out);
            }
            if connected
                && let Some(last) = s.last_rtp_ms
                && now_ms.saturating_sub(last) >= NO_RTP_AFTER_MS
            {
                raise(Problem::NoRtp, s, &mut out);
            }
            if s.health.channel_open {
                let silent_ms = now_ms.saturating_sub(s.last_pong_ms);
                let no_media = s
                    .last_rtp_ms
                    .is_some_and(|t| now_ms.saturating_sub(t) >= NO_SIGN_OF_LIFE_AFTER_MS);
                if silent_ms >= NO_PONG_AFTER_MS
                    || (no_media && silent_ms >= NO_SIGN_OF_LIFE_AFTER_MS)
                {
                    raise(Problem::NoPong, s, &mut out);
                    vanished.push(p.id.clone());
                } else if now_ms.saturating_sub(s.last_ping_ms) >= PING_EVERY_MS {
                    s.last_ping_ms = now_ms;
                    out.push(Command::SendOnChannel {
                        key: key.clone(),
                        text: json!({ "ping": now_ms }).to_string(),
                    });
                }
            }
        }
        for id in vanished {
            self.participant_left(&id, LeaveReason::Vanished, now_ms, &mut out);
        }
        for id in stalled {
            self.participant_left(&id, LeaveReason::Failed, now_ms, &mut out);
        }
        let aliases = &self.aliases;
        self.participants.retain(|id, p| {
            let forget = p.left
                && p.session.is_none()
                && p.play_sent_ms.is_none()
                && p.replay_at_ms.is_none()
                && p.left_at_ms
                    .is_some_and(|at| now_ms.saturating_sub(at) >= FORGET_LEFT_AFTER_MS)
                && p.rejected_at_ms
                    .is_none_or(|at| now_ms.saturating_sub(at) >= REJECTED_COOLDOWN_MS)
                && !aliases.values().any(|twin| twin == id);
            !forget
        });
        for id in replay {
            self.send_play(&id, now_ms, &mut out);
        }
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
                    key: PeerKey::new(&id, &s.id),
                    text: json!({ "bye": true }).to_string(),
                });
            }
            self.participant_left(&id, LeaveReason::Stopped, now_ms, &mut out);
        }
        self.stopped = true;
        out
    }
}

/// Cheap structural checks on an offer before a webrtcbin is built for it; the peer parses it
/// fully afterwards. Returns why it is refused.
pub fn precheck_sdp(sdp: &str) -> Result<(), SdpRefusal> {
    if sdp.len() > MAX_SDP_BYTES {
        return Err(SdpRefusal::TooLarge { bytes: sdp.len() });
    }
    if sdp.contains('\0') {
        return Err(SdpRefusal::NulByte);
    }
    if !sdp.starts_with("v=0") {
        return Err(SdpRefusal::NotVersionZero);
    }
    let media = sdp
        .lines()
        .filter(|l| l.starts_with("m="))
        .take(MAX_SDP_MEDIA_SECTIONS + 1)
        .count();
    if media == 0 {
        return Err(SdpRefusal::NoMedia);
    }
    if media > MAX_SDP_MEDIA_SECTIONS {
        return Err(SdpRefusal::TooManyMedia {
            most: MAX_SDP_MEDIA_SECTIONS,
        });
    }
    Ok(())
}

/// Who sent a frame; `None` when it is addressed to someone else.
///
/// The official server rewrites `UUID` to the sender. Relays forward frames unchanged: `from` is
/// the sender and `UUID`, when present, the target. An empty string means "no sender" (server
/// notices such as `listing`).
pub fn sender_of(env: &Envelope, own_id: &str, official_dialect: bool) -> Option<String> {
    match (&env.from, &env.uuid) {
        (_, Some(uuid)) if official_dialect && uuid != own_id => Some(uuid.clone()),
        (Some(from), Some(target)) if target == own_id => Some(from.clone()),
        (Some(_), Some(_)) => None,
        (Some(from), None) => Some(from.clone()),
        (None, Some(uuid)) => Some(uuid.clone()),
        (None, None) => Some(String::new()),
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

/// What the recorder asks a publisher for once its data channel is open: audio and video (and
/// a codec), then bitrate and resolution.
fn media_request(config: &RoomConfig, crypto: &RoomCrypto, key: &PeerKey) -> Vec<Command> {
    let mut out = Vec::new();
    let request = MediaRequest {
        audio: config.want_audio,
        video: config.want_video,
        prefer_video_codec: config.prefer_video_codec.clone(),
        prefer_audio_codec: None,
    };
    out.push(Command::SendOnChannel {
        key: key.clone(),
        text: datachannel::encode_channel(&ChannelMessage::MediaRequest(request), crypto),
    });
    if config.bitrate_kbps.is_some() {
        out.push(Command::SendOnChannel {
            key: key.clone(),
            text: datachannel::encode_channel(
                &ChannelMessage::Bitrate {
                    video_kbps: config.bitrate_kbps,
                    audio_kbps: None,
                },
                crypto,
            ),
        });
    }
    if let Some((w, h)) = config.resolution {
        out.push(Command::SendOnChannel {
            key: key.clone(),
            text: json!({"requestResolution": {"w": w, "h": h}}).to_string(),
        });
    }
    out
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
