//! Time passing: pings, the watchdogs that turn silence into problems, asking again for
//! streams, forgetting who left long ago; and what a pause of this process means for them.

use serde_json::json;

use super::peer_events::media_request;
use super::{
    Command, FORGET_LEFT_AFTER_MS, ICE_STUCK_AFTER_MS, MEDIA_REQUEST_RETRIES,
    MEDIA_REQUEST_RETRY_MS, MEDIA_STALL_RESTARTS, NO_CANDIDATES_AFTER_MS, NO_OFFER_AFTER_MS,
    NO_PONG_AFTER_MS, NO_RTP_AFTER_MS, NO_SIGN_OF_LIFE_AFTER_MS, PING_EVERY_MS, PeerKey,
    REJECTED_COOLDOWN_MS, Room, Session, TURN_REFUSED_AFTER_MS, UNANSWERED_PLAYS_BEFORE_FORGETTING,
};
use crate::room::events::{LeaveReason, Problem, RoomEvent};

impl Room {
    /// This process did not run for a while (the driver saw its ticks stop for at least
    /// [`TIME_JUMP_MS`](super::TIME_JUMP_MS)): every silence is measured from now, and a ping goes out at once.
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
            let key = PeerKey::new(p.id.clone(), s.id.clone());
            let raise = |problem: Problem, s: &mut Session, out: &mut Vec<Command>| {
                if s.problems.insert(problem) {
                    out.push(Command::Event(RoomEvent::Watchdog {
                        at_ms: now_ms,
                        id: key.participant.clone(),
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
}
