//! Why the room set something aside, and what the server refused, as data the front-ends
//! match on. The JSON events carry them as the same sentences they always had (`reason`,
//! `message`), so `Serialize` writes the `Display` text.

use std::fmt;

use serde::{Serialize, Serializer};

use crate::protocol::message::DecodeError;

/// Why an offer failed the structural checks made before any webrtcbin is built for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SdpRefusal {
    /// Larger than [`super::machine::MAX_SDP_BYTES`].
    TooLarge {
        bytes: usize,
    },
    NulByte,
    NotVersionZero,
    NoMedia,
    /// More than [`super::machine::MAX_SDP_MEDIA_SECTIONS`].
    TooManyMedia {
        most: usize,
    },
}

impl fmt::Display for SdpRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SdpRefusal::TooLarge { bytes } => write!(f, "SDP of {bytes} bytes is too large"),
            SdpRefusal::NulByte => f.write_str("SDP contains a NUL byte"),
            SdpRefusal::NotVersionZero => f.write_str("SDP does not start with v=0"),
            SdpRefusal::NoMedia => f.write_str("SDP has no media sections"),
            SdpRefusal::TooManyMedia { most } => {
                write!(f, "SDP has more than {most} media sections")
            }
        }
    }
}

/// What the room dropped and why (a `dropped` event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DropReason {
    /// A signaling frame that does not decode (bad JSON, too large, undecryptable payload).
    UndecodableFrame(DecodeError),
    /// A data-channel message that does not decode.
    BadChannelMessage(DecodeError),
    /// A frame whose `roomid` is not ours.
    OtherRoom,
    /// A relayed frame whose target is someone else.
    NotForUs,
    DescriptionWithoutSender,
    CandidatesWithoutSender,
    /// Viewer-to-publisher candidates: the recorder is never the publisher.
    CandidatesForPublisher,
    /// A listing longer than the room takes; only the first `taken` are.
    ListingTruncated {
        members: usize,
        taken: usize,
    },
    /// Someone asked for our stream (`play`, `offerSDP`): a viewer has none.
    StreamRequest,
    /// Too many participants have not answered yet: a new one is not asked for.
    TooManyPending {
        pending: usize,
    },
    /// An answer arrived: a viewer never offers.
    AnswerToViewer,
    /// An offer failed [`super::machine::precheck_sdp`].
    OfferRefused(SdpRefusal),
    /// The peer's last offer was refused by webrtcbin `ago_ms` ago: it is cooling down.
    OfferCoolingDown {
        ago_ms: u64,
    },
    UnknownPeerWithoutStream,
    /// An offer beyond [`super::machine::RoomConfig::max_peers`].
    TooManyPeers {
        peers: usize,
    },
    CandidatesFromUnknownPeer,
    CandidatesBeforeOffer,
    /// Candidates for a session that is not the participant's current one.
    StaleSession {
        session: String,
    },
    /// webrtcbin could not apply the offer (its own words).
    NegotiationFailed(String),
}

impl DropReason {
    /// Whether this is what a wrong room password looks like from here: payloads that do not
    /// decrypt (and, without a password, frames that do not decode at all).
    pub fn suggests_wrong_password(&self) -> bool {
        match self {
            DropReason::UndecodableFrame(_) => true,
            DropReason::BadChannelMessage(err) => err.is_decryption(),
            _ => false,
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DropReason::UndecodableFrame(err) => write!(f, "undecodable frame: {err}"),
            DropReason::BadChannelMessage(err) => write!(f, "bad data-channel message: {err}"),
            DropReason::OtherRoom => f.write_str("frame for another room"),
            DropReason::NotForUs => f.write_str("frame addressed to another peer"),
            DropReason::DescriptionWithoutSender => f.write_str("description without a sender"),
            DropReason::CandidatesWithoutSender => f.write_str("candidates without a sender"),
            DropReason::CandidatesForPublisher => f.write_str("candidates meant for a publisher"),
            DropReason::ListingTruncated { members, taken } => write!(
                f,
                "listing of {members} members: only the first {taken} are taken"
            ),
            DropReason::StreamRequest => f.write_str("stream request to a viewer"),
            DropReason::TooManyPending { pending } => write!(
                f,
                "{pending} participants have not answered yet: a new one is not asked for"
            ),
            DropReason::AnswerToViewer => f.write_str("answer sent to a viewer"),
            DropReason::OfferRefused(refusal) => write!(f, "offer refused: {refusal}"),
            DropReason::OfferCoolingDown { ago_ms } => write!(
                f,
                "offer ignored: an offer of this peer was refused {ago_ms} ms ago"
            ),
            DropReason::UnknownPeerWithoutStream => {
                f.write_str("offer from an unknown peer without a stream id")
            }
            DropReason::TooManyPeers { peers } => write!(
                f,
                "offer refused: {peers} peers already, the most this recorder takes at once"
            ),
            DropReason::CandidatesFromUnknownPeer => f.write_str("candidates from an unknown peer"),
            DropReason::CandidatesBeforeOffer => f.write_str("candidates before any offer"),
            DropReason::StaleSession { session } => {
                write!(f, "candidates for stale session {session:?}")
            }
            DropReason::NegotiationFailed(reason) => write!(f, "negotiation failed: {reason}"),
        }
    }
}

impl Serialize for DropReason {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// What a server refusal means, decided once from its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerRefusal {
    /// The room (or the server) lets no more people in.
    RoomFull,
    /// Wrong password, access denied, not authorised.
    Denied,
    /// Our client id is registered by someone else (relays: "uuid already in use").
    IdTaken,
}

impl ServerRefusal {
    /// Reads a server's text: the official server and relays say these in a few wordings.
    pub fn from_text(text: &str) -> Option<ServerRefusal> {
        let lower = text.to_ascii_lowercase();
        if lower == "uuid already in use" {
            Some(ServerRefusal::IdTaken)
        } else if lower.contains("full") || lower.contains("limit") {
            Some(ServerRefusal::RoomFull)
        } else if lower.contains("password") || lower.contains("denied") || lower.contains("auth") {
            Some(ServerRefusal::Denied)
        } else {
            None
        }
    }
}

/// A message from the server (`alert`, `error`, a relay's `{"error":..}`): its text as sent,
/// and what it refuses, if anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerNotice {
    text: String,
    refusal: Option<ServerRefusal>,
}

impl ServerNotice {
    pub fn new(text: impl Into<String>) -> ServerNotice {
        let text = text.into();
        let refusal = ServerRefusal::from_text(&text);
        ServerNotice { text, refusal }
    }

    /// The server's own words, unchanged.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn refusal(&self) -> Option<ServerRefusal> {
        self.refusal
    }
}

impl fmt::Display for ServerNotice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for ServerNotice {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_read_from_the_servers_words() {
        assert_eq!(
            ServerRefusal::from_text("Room is full"),
            Some(ServerRefusal::RoomFull)
        );
        assert_eq!(
            ServerRefusal::from_text("room limit reached"),
            Some(ServerRefusal::RoomFull)
        );
        assert_eq!(
            ServerRefusal::from_text("bad password"),
            Some(ServerRefusal::Denied)
        );
        assert_eq!(
            ServerRefusal::from_text("UUID already in use"),
            Some(ServerRefusal::IdTaken)
        );
        assert_eq!(ServerRefusal::from_text("hello there"), None);
    }

    #[test]
    fn json_keeps_the_sentences() {
        let reason = DropReason::OfferRefused(SdpRefusal::TooManyMedia { most: 16 });
        assert_eq!(
            serde_json::to_string(&reason).unwrap(),
            "\"offer refused: SDP has more than 16 media sections\""
        );
        let notice = ServerNotice::new("uuid already in use");
        assert_eq!(
            serde_json::to_string(&notice).unwrap(),
            "\"uuid already in use\""
        );
    }

    #[test]
    fn events_keep_their_json_lines() {
        use crate::room::RoomEvent;
        let dropped = RoomEvent::Dropped {
            at_ms: 5,
            from: Some("p1".into()),
            reason: DropReason::StaleSession {
                session: "s0".into(),
            },
        };
        assert_eq!(
            dropped.to_json_line(),
            r#"{"event":"dropped","at_ms":5,"from":"p1","reason":"candidates for stale session \"s0\""}"#
        );
        let message = RoomEvent::ServerMessage {
            at_ms: 6,
            message: ServerNotice::new("Room is full"),
        };
        assert_eq!(
            message.to_json_line(),
            r#"{"event":"server_message","at_ms":6,"message":"Room is full"}"#
        );
    }
}
