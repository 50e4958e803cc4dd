//! Who is in the room: members discovered from listings and announcements, `play` requests
//! (rate-limited, bounded in number), and participants leaving.

use super::{
    ALIVE_WITHIN_MS, Command, MAX_PENDING_PARTICIPANTS, PLAY_BURST, PLAYS_PER_SECOND, Participant,
    PeerKey, REPLAY_AFTER_FAILURE_MS, Room, dropped,
};
use crate::ids::{ParticipantId, StreamId};
use crate::protocol::message::{self, Route, ServerRequest};
use crate::room::events::{LeaveReason, RoomEvent};
use crate::room::reasons::DropReason;

impl Room {
    pub(super) fn wants(&self, stream_id: &str) -> bool {
        self.config.wanted_streams.is_empty()
            || self.config.wanted_streams.iter().any(|s| s == stream_id)
    }

    pub(super) fn discover(
        &mut self,
        id: &str,
        wire_stream: &str,
        now_ms: u64,
        out: &mut Vec<Command>,
    ) {
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
                    Participant::new(id.into(), stream_id.clone(), wire_stream.to_owned()),
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

    pub(super) fn send_play(&mut self, id: &str, now_ms: u64, out: &mut Vec<Command>) {
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

    pub(super) fn participant_left(
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
                key: PeerKey::new(ParticipantId::from(id), s.id.clone()),
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
}
