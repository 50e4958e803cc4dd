//! What the room tells the outside world: the UI, `--json-events`, the recorder.

use serde::Serialize;

use super::candidates::CandidateLogEntry;
use super::health::{ConnectionState, IceState, SelectedPair};
use super::reasons::{DropReason, ServerNotice};
use crate::ids::{ParticipantId, SessionId, StreamId};

/// Why a participant's peer connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaveReason {
    /// They said goodbye (`bye`, `hangup`) or the server said they left (`cleanup`).
    Left,
    /// They came back with a new session; the old peer is replaced.
    Replaced,
    /// The connection failed.
    Failed,
    /// They went silent: no pong on the data channel.
    Vanished,
    /// The operator stopped.
    Stopped,
    /// Their signaling was unusable (bad SDP, undecryptable payloads).
    Rejected,
}

impl LeaveReason {
    pub fn as_str(self) -> &'static str {
        match self {
            LeaveReason::Left => "left",
            LeaveReason::Replaced => "replaced",
            LeaveReason::Failed => "failed",
            LeaveReason::Vanished => "vanished",
            LeaveReason::Stopped => "stopped",
            LeaveReason::Rejected => "rejected",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Audio,
    Video,
}

/// Silence the watchdogs turned into an explained state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    /// An offer was taken but not one remote candidate arrived.
    NoRemoteCandidates,
    /// ICE kept checking without a working pair.
    IceStuck,
    /// Connected, but RTP stopped arriving.
    NoRtp,
    /// The data channel stopped answering pings.
    NoPong,
    /// `play` was sent but no offer came back.
    NoOffer,
    /// The TURN server refused our credentials, and the session is not connected.
    TurnRefused,
}

/// One thing that happened in the room. Serialised one per line by `record --json-events`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RoomEvent {
    SignalingConnected {
        at_ms: u64,
    },
    SignalingLost {
        at_ms: u64,
        reason: String,
    },
    ServerMessage {
        at_ms: u64,
        message: ServerNotice,
    },
    Discovered {
        at_ms: u64,
        id: ParticipantId,
        stream_id: StreamId,
    },
    Joined {
        at_ms: u64,
        id: ParticipantId,
        stream_id: StreamId,
        session: SessionId,
    },
    Label {
        at_ms: u64,
        id: ParticipantId,
        label: String,
    },
    Left {
        at_ms: u64,
        id: ParticipantId,
        session: SessionId,
        reason: LeaveReason,
    },
    Connection {
        at_ms: u64,
        id: ParticipantId,
        state: ConnectionState,
    },
    Ice {
        at_ms: u64,
        id: ParticipantId,
        transport: String,
        state: IceState,
    },
    ChannelOpen {
        at_ms: u64,
        id: ParticipantId,
    },
    SelectedPair {
        at_ms: u64,
        id: ParticipantId,
        pair: SelectedPair,
    },
    Candidate(CandidateLogEntry),
    MediaFlowing {
        at_ms: u64,
        id: ParticipantId,
        kind: MediaKind,
    },
    /// `problem` names what is wrong; the front-end says it in words (`explanation` in the
    /// JSON events).
    Watchdog {
        at_ms: u64,
        id: ParticipantId,
        problem: Problem,
    },
    WatchdogCleared {
        at_ms: u64,
        id: ParticipantId,
        problem: Problem,
    },
    Dropped {
        at_ms: u64,
        from: Option<ParticipantId>,
        reason: DropReason,
    },
}

impl RoomEvent {
    /// The participant this event is about, if any.
    pub fn participant(&self) -> Option<&str> {
        match self {
            RoomEvent::Discovered { id, .. }
            | RoomEvent::Joined { id, .. }
            | RoomEvent::Label { id, .. }
            | RoomEvent::Left { id, .. }
            | RoomEvent::Connection { id, .. }
            | RoomEvent::Ice { id, .. }
            | RoomEvent::ChannelOpen { id, .. }
            | RoomEvent::SelectedPair { id, .. }
            | RoomEvent::MediaFlowing { id, .. }
            | RoomEvent::Watchdog { id, .. }
            | RoomEvent::WatchdogCleared { id, .. } => Some(id.as_str()),
            RoomEvent::Candidate(entry) => Some(entry.participant.as_str()),
            _ => None,
        }
    }

    /// One JSON line.
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|err| {
            format!(
                "{{\"event\":\"unserialisable\",\"error\":{:?}}}",
                err.to_string()
            )
        })
    }
}
