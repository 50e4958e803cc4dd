//! The room, as a pure state machine: events in, commands out.
//!
//! This is where the rules that broke the reference recorder live and are unit-tested:
//! per-session routing, candidate queues that drain, the data-channel media request, a
//! connection model that does not trust `ice-connection-state` alone, and watchdogs that turn
//! silence into explained states. Nothing here does I/O or knows GTK or GStreamer.

pub mod candidates;
pub mod events;
pub mod health;
pub mod machine;
pub mod reasons;
#[cfg(test)]
mod tests;

pub use crate::ids::{ParticipantId, SessionId, StreamId};
pub use candidates::{CandidateDirection, CandidateLogEntry, CandidateQueue};
pub use events::{LeaveReason, MediaKind, Problem, RoomEvent};
pub use health::{ConnectionState, Health, IceState, PairKind, SelectedPair};
pub use machine::{Command, PeerEvent, PeerKey, Room, RoomConfig, Via, sender_of};
pub use reasons::{DropReason, SdpRefusal, ServerNotice, ServerRefusal};
