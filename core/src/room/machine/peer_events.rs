//! What a session's webrtcbin reports, and what arrives on its data channel.

use serde_json::json;

use super::{Command, PeerEvent, PeerKey, Room, RoomConfig, Via, dropped};
use crate::protocol::crypto::RoomCrypto;
use crate::protocol::datachannel::{self, ChannelMessage, MediaRequest};
use crate::protocol::message::{
    self, CandidateOrigin, IceCandidateInit, Route, SdpKind, SessionDescription,
};
use crate::room::candidates::{CandidateDirection, CandidateLogEntry};
use crate::room::events::{LeaveReason, Problem, RoomEvent};
use crate::room::health::{ConnectionState, IceState};
use crate::room::reasons::DropReason;

impl Room {
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
        let id = key.participant.clone();
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
                    Some(key.participant.clone()),
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
                let sender = key.participant.clone();
                self.on_description(&sender, session, stream_id, desc, Via::Channel, now_ms, out);
            }
            ChannelMessage::Candidates { candidates, .. } => {
                let sender = key.participant.clone();
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
                            id: key.participant.clone(),
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
                        id: key.participant.clone(),
                        label,
                    }));
                }
            }
            ChannelMessage::Bye => {
                let id = key.participant.clone();
                self.participant_left(&id, LeaveReason::Left, now_ms, out);
            }
            _ => {}
        }
    }
}

/// What the recorder asks a publisher for once its data channel is open: audio and video (and
/// a codec), then bitrate and resolution.
pub(super) fn media_request(
    config: &RoomConfig,
    crypto: &RoomCrypto,
    key: &PeerKey,
) -> Vec<Command> {
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
