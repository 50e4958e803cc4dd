//! Signaling frames in: who sent them, which room and session they belong to, and what
//! becomes of descriptions, candidates and server requests.

use super::{
    Command, MAX_LISTING_MEMBERS, Participant, PeerKey, REJECTED_COOLDOWN_MS, REPLAY_WHEN_FULL_MS,
    Room, Session, Via, dropped, precheck_sdp,
};
use crate::ids::{ParticipantId, SessionId, StreamId};
use crate::protocol::message::{
    Body, CandidateOrigin, Envelope, IceCandidateInit, SdpKind, ServerRequest, SessionDescription,
};
use crate::room::candidates::{Admission, CandidateDirection, CandidateLogEntry};
use crate::room::events::{LeaveReason, Problem, RoomEvent};
use crate::room::reasons::{DropReason, ServerNotice, ServerRefusal};

impl Room {
    pub(super) fn route(&mut self, env: Envelope, now_ms: u64, out: &mut Vec<Command>) {
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

    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_description(
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
                Participant::new(sender.into(), stream_id.clone(), wire),
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
            let key = PeerKey::new(ParticipantId::from(sender), session.clone());
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
                key: PeerKey::new(ParticipantId::from(sender), old.id.clone()),
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
        p.session = Some(Session::new(session.clone(), via, now_ms));
        let key = PeerKey::new(ParticipantId::from(sender), session.clone());
        out.push(Command::CreatePeer {
            key: key.clone(),
            stream_id: p.stream_id.clone(),
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

    pub(super) fn on_candidates(
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
        let key = PeerKey::new(ParticipantId::from(sender), s.id.clone());
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
