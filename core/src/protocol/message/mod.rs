//! Signaling WebSocket frames: one JSON object per text frame (protocol doc §2-§3).
//!
//! [`decode`] turns a frame into an [`Envelope`]: the routing keys (`from`, `UUID`,
//! `session`, `streamID`, `roomid`) exactly as they were on the wire, a typed [`Body`], and
//! every other field untouched in [`Envelope::extra`]. Deciding *who* a frame is from
//! (official server: `UUID`; relays: `from`) is left to the signaling layer; the envelope
//! just exposes both.
//!
//! Everything arriving here comes from strangers: the server, other room members, and the
//! output of a decryption that has no integrity check. Decoding therefore never panics,
//! bounds the frame size like the web client does, and reports every problem as a
//! [`DecodeError`] whose message names the field but does not echo large peer data.
//!
//! The encoders take identifiers in their *wire* form (hash-suffixed stream ids, hashed
//! room names: see [`RoomCrypto::wire_stream_id`] and [`RoomCrypto::wire_room`]) and
//! encrypt `description` / `candidates` when a password is in force.
//!
//! The frame types are here; decoding and encoding have a module each.
//!
//! [`RoomCrypto::wire_stream_id`]: super::crypto::RoomCrypto::wire_stream_id
//! [`RoomCrypto::wire_room`]: super::crypto::RoomCrypto::wire_room

mod decode;
mod encode;
#[cfg(test)]
mod tests;

pub use decode::decode;
pub(crate) use decode::{
    description_from_value, parse_object, take_candidates, take_flag, take_id, take_origin,
    take_payload,
};
pub use encode::{
    Route, encode, encode_bye, encode_candidates, encode_description, encode_request,
};
pub(crate) use encode::{candidates_value, description_value, put_payload};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::crypto::CryptoError;

/// Largest frame accepted at all (descriptions and candidates with a password).
pub const MAX_FRAME_CHARS: usize = 35_000;
/// Limit for frames without SDP or candidates when a password is in force.
pub const MAX_OTHER_ENCRYPTED_FRAME_CHARS: usize = 10_000;
/// Limit for every frame when encryption is disabled.
pub const MAX_PLAIN_FRAME_CHARS: usize = 25_000;

/// The web client's size limit for a frame (protocol doc §3.3), in JavaScript string
/// length (UTF-16 code units).
pub fn frame_limit(has_password: bool, carries_sdp_or_candidates: bool) -> usize {
    match (has_password, carries_sdp_or_candidates) {
        (true, true) => MAX_FRAME_CHARS,
        (true, false) => MAX_OTHER_ENCRYPTED_FRAME_CHARS,
        (false, _) => MAX_PLAIN_FRAME_CHARS,
    }
}

/// `true` when the web client would drop a frame of `text_len` UTF-16 code units.
/// Senders can use it to warn before a browser silently ignores a message.
pub fn frame_too_large(
    text_len: usize,
    has_password: bool,
    carries_sdp_or_candidates: bool,
) -> bool {
    text_len > frame_limit(has_password, carries_sdp_or_candidates)
}

/// Length of `text` the way JavaScript counts it (`String.prototype.length`).
pub fn js_length(text: &str) -> usize {
    text.encode_utf16().count()
}

/// Why a frame (or data-channel message) was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("message of {chars} characters exceeds the limit of {limit}")]
    TooLarge { chars: usize, limit: usize },
    #[error("message is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("message is a JSON {0}, expected an object")]
    NotAnObject(&'static str),
    #[error("field `{field}` should be {expected}, found {found}")]
    WrongType {
        field: String,
        expected: &'static str,
        found: &'static str,
    },
    #[error("required field `{0}` is missing")]
    MissingField(String),
    #[error("`{field}` is a string but the message has no `vector` (encrypted without IV?)")]
    MissingVector { field: &'static str },
    #[error("cannot decrypt `{field}`: {source}")]
    Crypto {
        field: &'static str,
        #[source]
        source: CryptoError,
    },
    #[error("decrypted `{field}` is not valid JSON: {reason}")]
    DecryptedNotJson { field: &'static str, reason: String },
    #[error("unsupported description type {0}")]
    BadSdpType(String),
    #[error("field `{field}`: number {value} out of range")]
    OutOfRange { field: String, value: String },
}

impl DecodeError {
    /// Whether a payload was there but did not decrypt (a wrong password or salt, most likely).
    pub fn is_decryption(&self) -> bool {
        matches!(
            self,
            DecodeError::Crypto { .. } | DecodeError::DecryptedNotJson { .. }
        )
    }
}

/// An ICE candidate as browsers serialise `RTCIceCandidate` (`toJSON()`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceCandidateInit {
    /// The `candidate:...` line; empty means end-of-candidates.
    pub candidate: String,
    #[serde(
        rename = "sdpMLineIndex",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub sdp_m_line_index: Option<u32>,
    #[serde(rename = "sdpMid", default, skip_serializing_if = "Option::is_none")]
    pub sdp_mid: Option<String>,
    #[serde(
        rename = "usernameFragment",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub username_fragment: Option<String>,
}

impl IceCandidateInit {
    /// A candidate for m-line `index`, without mid or ufrag (what webrtcbin gives us).
    pub fn new(candidate: impl Into<String>, sdp_m_line_index: u32) -> IceCandidateInit {
        IceCandidateInit {
            candidate: candidate.into(),
            sdp_m_line_index: Some(sdp_m_line_index),
            sdp_mid: None,
            username_fragment: None,
        }
    }

    /// Browsers signal "no more candidates" with an empty candidate string; it must not be
    /// passed to webrtcbin.
    pub fn is_end_of_candidates(&self) -> bool {
        self.candidate.trim().is_empty()
    }
}

/// Offer or answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SdpKind {
    Offer,
    Answer,
}

impl SdpKind {
    /// `"offer"` or `"answer"`.
    pub fn as_str(self) -> &'static str {
        match self {
            SdpKind::Offer => "offer",
            SdpKind::Answer => "answer",
        }
    }
}

/// `{"type":"offer"|"answer","sdp":"..."}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionDescription {
    #[serde(rename = "type")]
    pub kind: SdpKind,
    pub sdp: String,
}

/// The `type` of an ICE message: `local` = from the publisher (offerer), `remote` = from
/// the viewer. It tells a peer that both views and publishes which connection to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CandidateOrigin {
    Local,
    Remote,
}

impl CandidateOrigin {
    /// `"local"` or `"remote"`.
    pub fn as_str(self) -> &'static str {
        match self {
            CandidateOrigin::Local => "local",
            CandidateOrigin::Remote => "remote",
        }
    }

    fn from_wire(s: &str) -> Option<CandidateOrigin> {
        match s {
            "local" => Some(CandidateOrigin::Local),
            "remote" => Some(CandidateOrigin::Remote),
            _ => None,
        }
    }
}

/// One entry of a `listing` / `transferred` member list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListingMember {
    pub uuid: String,
    /// Published stream id in wire form; absent for members who do not publish.
    pub stream_id: Option<String>,
}

/// Frames with a `request` field: client → server requests and server notifications
/// (protocol doc §3.1, §3.2). Identifiers are in wire form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerRequest {
    /// `joinroom`: join `roomid`; with `stream_id` when publishing (Roomtape never does).
    JoinRoom {
        roomid: String,
        stream_id: Option<String>,
    },
    /// `seed`: announce a published stream.
    Seed { stream_id: String },
    /// `play`: ask for a stream; `uuid` optionally names the publisher.
    Play {
        stream_id: String,
        uuid: Option<String>,
    },
    /// `listing`: the room's members, the reply to `joinroom` on the official server.
    Listing {
        members: Vec<ListingMember>,
        director: Option<String>,
    },
    /// `transferred`: moved to another room; shaped like `listing`.
    Transferred {
        members: Vec<ListingMember>,
        director: Option<String>,
    },
    /// `offerSDP`: create an offer for viewer `uuid`.
    OfferSdp { uuid: String },
    /// `someonejoined`: a client joined the room.
    SomeoneJoined {
        uuid: String,
        stream_id: Option<String>,
        director: bool,
    },
    /// `videoaddedtoroom`: a member started publishing.
    VideoAddedToRoom { uuid: String, stream_id: String },
    /// `alert`: human-readable server notice ("Room is full", ...).
    Alert { message: String },
    /// `error`: server error, e.g. code `STREAMID_IN_USE`.
    Error {
        message: String,
        code: Option<String>,
    },
    /// `cleanup`: treat like a `bye` from `uuid`.
    Cleanup { uuid: String },
    /// `ping`: event-driven keep-alive.
    Ping,
    /// `migrate`: director moves a guest (`target`) to `roomid`.
    Migrate {
        roomid: Option<String>,
        target: Option<String>,
    },
    /// Any other request name, kept so it can be logged.
    Other(String),
}

impl ServerRequest {
    /// The wire name of the request.
    pub fn name(&self) -> &str {
        match self {
            ServerRequest::JoinRoom { .. } => "joinroom",
            ServerRequest::Seed { .. } => "seed",
            ServerRequest::Play { .. } => "play",
            ServerRequest::Listing { .. } => "listing",
            ServerRequest::Transferred { .. } => "transferred",
            ServerRequest::OfferSdp { .. } => "offerSDP",
            ServerRequest::SomeoneJoined { .. } => "someonejoined",
            ServerRequest::VideoAddedToRoom { .. } => "videoaddedtoroom",
            ServerRequest::Alert { .. } => "alert",
            ServerRequest::Error { .. } => "error",
            ServerRequest::Cleanup { .. } => "cleanup",
            ServerRequest::Ping => "ping",
            ServerRequest::Migrate { .. } => "migrate",
            ServerRequest::Other(name) => name,
        }
    }
}

/// What a frame is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// A frame with `request`.
    Request(ServerRequest),
    /// An offer or answer (`description`).
    Description(SessionDescription),
    /// ICE candidates: the bundled `candidates` list, the nested single `candidate`
    /// object, and the flat form (`candidate` string at top level) all end up here.
    Candidates {
        candidates: Vec<IceCandidateInit>,
        origin: Option<CandidateOrigin>,
    },
    /// `bye:true`: the peer hung up this connection.
    Bye,
    /// `hangup:true`: close every connection of that peer.
    Hangup,
    /// `iceRestartRequest:true`: please restart ICE with a new offer.
    IceRestartRequest,
    /// `{"error":"..."}` from relays (e.g. `uuid already in use`).
    ServerError { message: String },
    /// Nothing recognised; everything is in [`Envelope::extra`].
    Unknown,
}

/// A decoded signaling frame.
#[derive(Clone, Debug, PartialEq)]
pub struct Envelope {
    /// Sender id on relays (`from`).
    pub from: Option<String>,
    /// `UUID`: target peer on outgoing frames, sender on frames from the official server.
    pub uuid: Option<String>,
    /// Peer-connection id chosen by the publisher.
    pub session: Option<String>,
    /// `streamID` as on the wire (with hash suffix when a password is in force).
    pub stream_id: Option<String>,
    /// `roomid` as on the wire (hashed when a password is in force).
    pub roomid: Option<String>,
    pub body: Body,
    /// Every field not represented above, unchanged.
    pub extra: Map<String, Value>,
}

impl Envelope {
    /// An envelope with no routing fields.
    pub fn new(body: Body) -> Envelope {
        Envelope {
            from: None,
            uuid: None,
            session: None,
            stream_id: None,
            roomid: None,
            body,
            extra: Map::new(),
        }
    }

    /// The sender's id in either dialect: `from` (relays) if present, else `UUID`
    /// (the official server rewrites it to the sender).
    pub fn sender(&self) -> Option<&str> {
        self.from.as_deref().or(self.uuid.as_deref())
    }
}
