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

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::crypto::{CryptoError, RoomCrypto};

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

// ---------------------------------------------------------------------------------------
// Decoding helpers, shared with the data-channel codec.

/// JSON type name for error messages.
pub(crate) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn wrong_type(field: &str, expected: &'static str, found: &Value) -> DecodeError {
    DecodeError::WrongType {
        field: field.to_owned(),
        expected,
        found: json_kind(found),
    }
}

/// Shortened, escaped rendering of untrusted text for error messages.
pub(crate) fn shown(text: &str) -> String {
    const MAX: usize = 32;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}…", &text[..cut]),
        None => format!("{text:?}"),
    }
}

/// Parses `text` as a JSON object, enforcing `max_chars` (JavaScript length) before any
/// parsing work is done.
pub(crate) fn parse_object(
    text: &str,
    max_chars: usize,
) -> Result<Map<String, Value>, DecodeError> {
    // UTF-16 length is at most the UTF-8 length, so short texts need no counting.
    if text.len() > max_chars {
        let chars = js_length(text);
        if chars > max_chars {
            return Err(DecodeError::TooLarge {
                chars,
                limit: max_chars,
            });
        }
    }
    let value: Value =
        serde_json::from_str(text).map_err(|e| DecodeError::InvalidJson(e.to_string()))?;
    match value {
        Value::Object(map) => Ok(map),
        other => Err(DecodeError::NotAnObject(json_kind(&other))),
    }
}

/// Converts an identifier value: strings as is, numbers as their decimal text (some
/// clients use numeric ids), `null` as absent.
fn id_from_value(field: &str, value: Value) -> Result<Option<String>, DecodeError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        Value::Number(n) => Ok(Some(n.to_string())),
        other => Err(wrong_type(field, "a string", &other)),
    }
}

/// Removes and converts an identifier field (see [`id_from_value`]).
pub(crate) fn take_id(
    map: &mut Map<String, Value>,
    field: &str,
) -> Result<Option<String>, DecodeError> {
    take_id_as(map, field, field)
}

/// [`take_id`] for a nested field: `key` in `map`, reported as `field` in errors.
fn take_id_as(
    map: &mut Map<String, Value>,
    key: &str,
    field: &str,
) -> Result<Option<String>, DecodeError> {
    match map.remove(key) {
        None => Ok(None),
        Some(v) => id_from_value(field, v),
    }
}

/// Removes a text field; `null` counts as absent, other types are an error.
fn take_string(map: &mut Map<String, Value>, field: &str) -> Result<Option<String>, DecodeError> {
    match map.remove(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(wrong_type(field, "a string", &other)),
    }
}

/// Removes `field` if it is exactly `true`; other values are left in place.
pub(crate) fn take_flag(map: &mut Map<String, Value>, field: &str) -> bool {
    if map.get(field) == Some(&Value::Bool(true)) {
        map.remove(field);
        true
    } else {
        false
    }
}

/// Removes `type` when it is `local`/`remote`; any other value stays in `extra`.
pub(crate) fn take_origin(map: &mut Map<String, Value>) -> Option<CandidateOrigin> {
    let origin = map
        .get("type")
        .and_then(Value::as_str)
        .and_then(CandidateOrigin::from_wire)?;
    map.remove("type");
    Some(origin)
}

/// Takes the payload `field` out of `map`, decrypting it when it is a string and the
/// message has a `vector`. The result is untrusted JSON.
pub(crate) fn take_payload(
    map: &mut Map<String, Value>,
    field: &'static str,
    crypto: &RoomCrypto,
) -> Result<Option<Value>, DecodeError> {
    let Some(value) = map.remove(field) else {
        return Ok(None);
    };
    let Value::String(cipher) = value else {
        return Ok(Some(value));
    };
    let iv = match map.remove("vector") {
        Some(Value::String(iv)) => iv,
        Some(other) => return Err(wrong_type("vector", "a hex string", &other)),
        None => return Err(DecodeError::MissingVector { field }),
    };
    let plain = crypto
        .decrypt(&cipher, &iv)
        .map_err(|source| DecodeError::Crypto { field, source })?;
    let value = serde_json::from_str(&plain).map_err(|e| DecodeError::DecryptedNotJson {
        field,
        reason: e.to_string(),
    })?;
    Ok(Some(value))
}

/// Validates a description object `{type, sdp}` (extra members ignored).
pub(crate) fn description_from_value(value: Value) -> Result<SessionDescription, DecodeError> {
    let Value::Object(mut obj) = value else {
        return Err(wrong_type("description", "an object", &value));
    };
    let kind = match obj.remove("type") {
        Some(Value::String(t)) => match t.as_str() {
            "offer" => SdpKind::Offer,
            "answer" => SdpKind::Answer,
            _ => return Err(DecodeError::BadSdpType(shown(&t))),
        },
        Some(other) => return Err(wrong_type("description.type", "a string", &other)),
        None => return Err(DecodeError::MissingField("description.type".into())),
    };
    let sdp = match obj.remove("sdp") {
        Some(Value::String(s)) => s,
        Some(other) => return Err(wrong_type("description.sdp", "a string", &other)),
        None => return Err(DecodeError::MissingField("description.sdp".into())),
    };
    Ok(SessionDescription { kind, sdp })
}

/// Validates one candidate object. `field` names it in errors (e.g. `candidates[2]`).
pub(crate) fn candidate_from_value(
    field: &str,
    value: Value,
) -> Result<IceCandidateInit, DecodeError> {
    let Value::Object(mut obj) = value else {
        return Err(wrong_type(field, "an object", &value));
    };
    candidate_from_map(field, &mut obj)
}

/// Takes the candidate fields out of `obj` (also used for the flat form, where they sit at
/// the top level of the frame).
fn candidate_from_map(
    field: &str,
    obj: &mut Map<String, Value>,
) -> Result<IceCandidateInit, DecodeError> {
    let candidate = match obj.remove("candidate") {
        Some(Value::String(s)) => s,
        Some(other) => {
            return Err(wrong_type(
                &format!("{field}.candidate"),
                "a string",
                &other,
            ));
        }
        None => return Err(DecodeError::MissingField(format!("{field}.candidate"))),
    };
    let sdp_m_line_index = match obj.remove("sdpMLineIndex") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => {
            let index = n.as_u64().and_then(|i| u32::try_from(i).ok());
            match index {
                Some(i) => Some(i),
                None => {
                    return Err(DecodeError::OutOfRange {
                        field: format!("{field}.sdpMLineIndex"),
                        value: shown(&n.to_string()),
                    });
                }
            }
        }
        Some(other) => {
            return Err(wrong_type(
                &format!("{field}.sdpMLineIndex"),
                "a number",
                &other,
            ));
        }
    };
    let sdp_mid = match obj.remove("sdpMid") {
        None => None,
        Some(v) => id_from_value(&format!("{field}.sdpMid"), v)?,
    };
    let username_fragment = match obj.remove("usernameFragment") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(other) => {
            return Err(wrong_type(
                &format!("{field}.usernameFragment"),
                "a string",
                &other,
            ));
        }
    };
    Ok(IceCandidateInit {
        candidate,
        sdp_m_line_index,
        sdp_mid,
        username_fragment,
    })
}

/// Validates a candidate list; a single object is accepted as a list of one.
pub(crate) fn candidates_from_value(
    field: &str,
    value: Value,
) -> Result<Vec<IceCandidateInit>, DecodeError> {
    match value {
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| candidate_from_value(&format!("{field}[{i}]"), item))
            .collect(),
        Value::Object(_) => Ok(vec![candidate_from_value(field, value)?]),
        other => Err(wrong_type(field, "an array", &other)),
    }
}

/// Reads the ICE payload of a message in any of the three shapes, or `None` when the
/// message has neither `candidates` nor `candidate`.
pub(crate) fn take_candidates(
    map: &mut Map<String, Value>,
    crypto: &RoomCrypto,
) -> Result<Option<Vec<IceCandidateInit>>, DecodeError> {
    if let Some(list) = take_payload(map, "candidates", crypto)? {
        return candidates_from_value("candidates", list).map(Some);
    }
    match map.get("candidate") {
        None => Ok(None),
        // Flat form: `{"candidate":"candidate:...","sdpMLineIndex":0,...}` at top level.
        // A string with a `vector` is the encrypted nested form instead.
        Some(Value::String(_)) if !map.contains_key("vector") => {
            candidate_from_map("candidate", map).map(|c| Some(vec![c]))
        }
        Some(_) => match take_payload(map, "candidate", crypto)? {
            Some(value) => candidates_from_value("candidate", value).map(Some),
            None => Ok(None),
        },
    }
}

fn required(value: Option<&String>, field: &str) -> Result<String, DecodeError> {
    value
        .cloned()
        .ok_or_else(|| DecodeError::MissingField(field.to_owned()))
}

fn take_members(map: &mut Map<String, Value>) -> Result<Vec<ListingMember>, DecodeError> {
    let items = match map.remove("list") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(other) => return Err(wrong_type("list", "an array", &other)),
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let field = format!("list[{i}]");
            let Value::Object(mut obj) = item else {
                return Err(wrong_type(&field, "an object", &item));
            };
            let uuid = take_id_as(&mut obj, "UUID", &format!("{field}.UUID"))?
                .ok_or_else(|| DecodeError::MissingField(format!("{field}.UUID")))?;
            let stream_id = take_id_as(&mut obj, "streamID", &format!("{field}.streamID"))?;
            Ok(ListingMember { uuid, stream_id })
        })
        .collect()
}

/// Routing fields already taken out of the frame, needed by some requests.
struct Routing<'a> {
    uuid: Option<&'a String>,
    stream_id: Option<&'a String>,
    roomid: Option<&'a String>,
}

fn decode_request(
    name: String,
    map: &mut Map<String, Value>,
    routing: &Routing<'_>,
) -> Result<ServerRequest, DecodeError> {
    let request = match name.as_str() {
        "joinroom" => ServerRequest::JoinRoom {
            roomid: required(routing.roomid, "roomid")?,
            stream_id: routing.stream_id.cloned(),
        },
        "seed" => ServerRequest::Seed {
            stream_id: required(routing.stream_id, "streamID")?,
        },
        "play" => ServerRequest::Play {
            stream_id: required(routing.stream_id, "streamID")?,
            uuid: routing.uuid.cloned(),
        },
        "listing" | "transferred" => {
            let members = take_members(map)?;
            // The director is a UUID; anything else (e.g. a flag) stays in `extra`.
            let director = match map.get("director") {
                Some(Value::String(_) | Value::Number(_) | Value::Null) => {
                    take_id(map, "director")?
                }
                _ => None,
            };
            if name == "listing" {
                ServerRequest::Listing { members, director }
            } else {
                ServerRequest::Transferred { members, director }
            }
        }
        "offerSDP" => ServerRequest::OfferSdp {
            uuid: required(routing.uuid, "UUID")?,
        },
        "someonejoined" => {
            let director = match map.remove("director") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => b,
                // A director's UUID also marks the joiner as director.
                Some(Value::String(_)) => true,
                Some(other) => return Err(wrong_type("director", "a boolean", &other)),
            };
            ServerRequest::SomeoneJoined {
                uuid: required(routing.uuid, "UUID")?,
                stream_id: routing.stream_id.cloned(),
                director,
            }
        }
        "videoaddedtoroom" => ServerRequest::VideoAddedToRoom {
            uuid: required(routing.uuid, "UUID")?,
            stream_id: required(routing.stream_id, "streamID")?,
        },
        "alert" => ServerRequest::Alert {
            message: take_string(map, "message")?.unwrap_or_default(),
        },
        "error" => ServerRequest::Error {
            message: take_string(map, "message")?.unwrap_or_default(),
            code: take_id(map, "code")?,
        },
        "cleanup" => ServerRequest::Cleanup {
            uuid: required(routing.uuid, "UUID")?,
        },
        "ping" => ServerRequest::Ping,
        "migrate" => ServerRequest::Migrate {
            roomid: routing.roomid.cloned(),
            target: take_id(map, "target")?,
        },
        _ => ServerRequest::Other(name),
    };
    Ok(request)
}

/// Decodes one signaling frame.
///
/// `crypto` decides the size limit (with or without password) and decrypts `description`,
/// `candidate` and `candidates` when they are strings accompanied by `vector`.
///
/// # Errors
///
/// [`DecodeError`] for a frame the web client would drop for its size, invalid JSON, a
/// non-object, a known field of the wrong type, a request missing its required id, or an
/// encrypted payload that cannot be decrypted or does not decrypt to the expected shape.
/// Unknown fields and unknown frames are not errors.
pub fn decode(text: &str, crypto: &RoomCrypto) -> Result<Envelope, DecodeError> {
    let mut map = parse_object(text, MAX_FRAME_CHARS)?;
    let carries_payload = ["description", "candidates", "candidate"]
        .iter()
        .any(|k| map.contains_key(*k));
    let limit = frame_limit(crypto.is_enabled(), carries_payload);
    if text.len() > limit {
        let chars = js_length(text);
        if chars > limit {
            return Err(DecodeError::TooLarge { chars, limit });
        }
    }

    let from = take_id(&mut map, "from")?;
    let uuid = take_id(&mut map, "UUID")?;
    let session = take_id(&mut map, "session")?;
    let stream_id = take_id(&mut map, "streamID")?;
    let roomid = take_id(&mut map, "roomid")?;
    let routing = Routing {
        uuid: uuid.as_ref(),
        stream_id: stream_id.as_ref(),
        roomid: roomid.as_ref(),
    };
    let body = decode_body(&mut map, &routing, crypto)?;
    Ok(Envelope {
        from,
        uuid,
        session,
        stream_id,
        roomid,
        body,
        extra: map,
    })
}

fn decode_body(
    map: &mut Map<String, Value>,
    routing: &Routing<'_>,
    crypto: &RoomCrypto,
) -> Result<Body, DecodeError> {
    if let Some(request) = map.remove("request") {
        let Value::String(name) = request else {
            return Err(wrong_type("request", "a string", &request));
        };
        return decode_request(name, map, routing).map(Body::Request);
    }
    if let Some(desc) = take_payload(map, "description", crypto)? {
        return description_from_value(desc).map(Body::Description);
    }
    if let Some(candidates) = take_candidates(map, crypto)? {
        let origin = take_origin(map);
        return Ok(Body::Candidates { candidates, origin });
    }
    if take_flag(map, "bye") {
        return Ok(Body::Bye);
    }
    if take_flag(map, "hangup") {
        return Ok(Body::Hangup);
    }
    if take_flag(map, "iceRestartRequest") {
        return Ok(Body::IceRestartRequest);
    }
    if matches!(map.get("error"), Some(Value::String(_))) {
        if let Some(Value::String(message)) = map.remove("error") {
            return Ok(Body::ServerError { message });
        }
    }
    Ok(Body::Unknown)
}

// ---------------------------------------------------------------------------------------
// Encoding.

fn put_opt(map: &mut Map<String, Value>, field: &str, value: Option<&str>) {
    if let Some(v) = value {
        map.insert(field.to_owned(), Value::String(v.to_owned()));
    }
}

/// Inserts `value` under `field`, encrypted (hex string + sibling `vector`) when a password
/// is in force.
pub(crate) fn put_payload(
    map: &mut Map<String, Value>,
    field: &str,
    value: Value,
    crypto: &RoomCrypto,
) {
    match crypto.encrypt(&value.to_string()) {
        Some((cipher, iv)) => {
            map.insert(field.to_owned(), Value::String(cipher));
            map.insert("vector".to_owned(), Value::String(iv));
        }
        None => {
            map.insert(field.to_owned(), value);
        }
    }
}

pub(crate) fn description_value(desc: &SessionDescription) -> Value {
    let mut obj = Map::new();
    obj.insert("type".into(), Value::String(desc.kind.as_str().into()));
    obj.insert("sdp".into(), Value::String(desc.sdp.clone()));
    Value::Object(obj)
}

pub(crate) fn candidates_value(candidates: &[IceCandidateInit]) -> Value {
    Value::Array(candidates.iter().map(candidate_value).collect())
}

fn candidate_value(c: &IceCandidateInit) -> Value {
    let mut obj = Map::new();
    obj.insert("candidate".into(), Value::String(c.candidate.clone()));
    if let Some(i) = c.sdp_m_line_index {
        obj.insert("sdpMLineIndex".into(), Value::from(i));
    }
    put_opt(&mut obj, "sdpMid", c.sdp_mid.as_deref());
    put_opt(&mut obj, "usernameFragment", c.username_fragment.as_deref());
    Value::Object(obj)
}

fn members_value(members: &[ListingMember]) -> Value {
    Value::Array(
        members
            .iter()
            .map(|m| {
                let mut obj = Map::new();
                obj.insert("UUID".into(), Value::String(m.uuid.clone()));
                put_opt(&mut obj, "streamID", m.stream_id.as_deref());
                Value::Object(obj)
            })
            .collect(),
    )
}

fn write_request(map: &mut Map<String, Value>, request: &ServerRequest) {
    map.insert("request".into(), Value::String(request.name().to_owned()));
    match request {
        ServerRequest::JoinRoom { roomid, stream_id } => {
            put_opt(map, "roomid", Some(roomid));
            put_opt(map, "streamID", stream_id.as_deref());
        }
        ServerRequest::Seed { stream_id } => put_opt(map, "streamID", Some(stream_id)),
        ServerRequest::Play { stream_id, uuid } => {
            put_opt(map, "streamID", Some(stream_id));
            put_opt(map, "UUID", uuid.as_deref());
        }
        ServerRequest::Listing { members, director }
        | ServerRequest::Transferred { members, director } => {
            map.insert("list".into(), members_value(members));
            put_opt(map, "director", director.as_deref());
        }
        ServerRequest::OfferSdp { uuid } | ServerRequest::Cleanup { uuid } => {
            put_opt(map, "UUID", Some(uuid));
        }
        ServerRequest::SomeoneJoined {
            uuid,
            stream_id,
            director,
        } => {
            put_opt(map, "UUID", Some(uuid));
            put_opt(map, "streamID", stream_id.as_deref());
            if *director {
                map.insert("director".into(), Value::Bool(true));
            }
        }
        ServerRequest::VideoAddedToRoom { uuid, stream_id } => {
            put_opt(map, "UUID", Some(uuid));
            put_opt(map, "streamID", Some(stream_id));
        }
        ServerRequest::Alert { message } => put_opt(map, "message", Some(message)),
        ServerRequest::Error { message, code } => {
            put_opt(map, "message", Some(message));
            put_opt(map, "code", code.as_deref());
        }
        ServerRequest::Migrate { roomid, target } => {
            put_opt(map, "roomid", roomid.as_deref());
            put_opt(map, "target", target.as_deref());
        }
        ServerRequest::Ping | ServerRequest::Other(_) => {}
    }
}

/// Encodes a whole envelope: `extra` first, then the routing fields, then the body (which
/// wins on conflicts). Payloads are encrypted when `crypto` is enabled.
pub fn encode(envelope: &Envelope, crypto: &RoomCrypto) -> String {
    let mut map = envelope.extra.clone();
    put_opt(&mut map, "from", envelope.from.as_deref());
    put_opt(&mut map, "UUID", envelope.uuid.as_deref());
    put_opt(&mut map, "session", envelope.session.as_deref());
    put_opt(&mut map, "streamID", envelope.stream_id.as_deref());
    put_opt(&mut map, "roomid", envelope.roomid.as_deref());
    match &envelope.body {
        Body::Request(request) => write_request(&mut map, request),
        Body::Description(desc) => {
            put_payload(&mut map, "description", description_value(desc), crypto);
        }
        Body::Candidates { candidates, origin } => {
            put_payload(&mut map, "candidates", candidates_value(candidates), crypto);
            if let Some(origin) = origin {
                map.insert("type".into(), Value::String(origin.as_str().into()));
            }
        }
        Body::Bye => {
            map.insert("bye".into(), Value::Bool(true));
        }
        Body::Hangup => {
            map.insert("hangup".into(), Value::Bool(true));
        }
        Body::IceRestartRequest => {
            map.insert("iceRestartRequest".into(), Value::Bool(true));
        }
        Body::ServerError { message } => {
            map.insert("error".into(), Value::String(message.clone()));
        }
        Body::Unknown => {}
    }
    Value::Object(map).to_string()
}

/// Where an outgoing frame goes and whom it is from: the routing fields it carries, each only
/// when set. Identifiers are in wire form (hash-suffixed stream ids, hashed room names).
///
/// ```
/// # use roomtape_core::protocol::message::Route;
/// let route = Route::to("peer").session("s1").from("me");
/// assert_eq!(route.stream_id, None);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Route<'a> {
    /// `UUID`: the peer the frame is for.
    pub to: Option<&'a str>,
    /// `session`: the publisher's peer-connection id, echoed back.
    pub session: Option<&'a str>,
    /// `streamID`.
    pub stream_id: Option<&'a str>,
    /// `from`: our own id (relays need it on every frame).
    pub from: Option<&'a str>,
    /// `roomid`.
    pub roomid: Option<&'a str>,
}

impl<'a> Route<'a> {
    /// A frame for the peer `uuid`.
    pub fn to(uuid: &'a str) -> Route<'a> {
        Route {
            to: Some(uuid),
            ..Route::default()
        }
    }

    pub fn session(self, session: &'a str) -> Route<'a> {
        Route {
            session: Some(session),
            ..self
        }
    }

    pub fn stream_id(self, stream_id: &'a str) -> Route<'a> {
        Route {
            stream_id: Some(stream_id),
            ..self
        }
    }

    pub fn from(self, from: &'a str) -> Route<'a> {
        Route {
            from: Some(from),
            ..self
        }
    }

    pub fn roomid(self, roomid: &'a str) -> Route<'a> {
        Route {
            roomid: Some(roomid),
            ..self
        }
    }

    fn write(&self, map: &mut Map<String, Value>) {
        put_opt(map, "UUID", self.to);
        put_opt(map, "session", self.session);
        put_opt(map, "streamID", self.stream_id);
        put_opt(map, "from", self.from);
        put_opt(map, "roomid", self.roomid);
    }
}

/// A request frame. The request names its own room and stream; `route` adds `from` when
/// talking to a relay that needs it (its fields are written after the request's).
pub fn encode_request(request: &ServerRequest, route: &Route) -> String {
    let mut map = Map::new();
    write_request(&mut map, request);
    route.write(&mut map);
    Value::Object(map).to_string()
}

/// An offer/answer, encrypted when a password is in force. The route's `session` must echo
/// the publisher's session.
pub fn encode_description(desc: &SessionDescription, route: &Route, crypto: &RoomCrypto) -> String {
    let mut map = Map::new();
    put_payload(&mut map, "description", description_value(desc), crypto);
    route.write(&mut map);
    Value::Object(map).to_string()
}

/// A bundled ICE message (`candidates` list, the form every client accepts).
pub fn encode_candidates(
    candidates: &[IceCandidateInit],
    origin: CandidateOrigin,
    route: &Route,
    crypto: &RoomCrypto,
) -> String {
    let mut map = Map::new();
    put_payload(&mut map, "candidates", candidates_value(candidates), crypto);
    map.insert("type".into(), Value::String(origin.as_str().into()));
    route.write(&mut map);
    Value::Object(map).to_string()
}

/// `{"bye":true}` along `route`.
pub fn encode_bye(route: &Route) -> String {
    let mut map = Map::new();
    map.insert("bye".into(), Value::Bool(true));
    route.write(&mut map);
    Value::Object(map).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::crypto::Password;
    use serde_json::json;

    fn enc() -> RoomCrypto {
        RoomCrypto::new(&Password::Default, "vdo.ninja")
    }

    fn clear() -> RoomCrypto {
        RoomCrypto::disabled()
    }

    fn both() -> [RoomCrypto; 2] {
        [enc(), clear()]
    }

    fn obj(text: &str) -> Map<String, Value> {
        match serde_json::from_str(text).unwrap() {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    const SDP: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n";

    fn sample_candidates() -> Vec<IceCandidateInit> {
        vec![
            IceCandidateInit::new("candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host", 0),
            IceCandidateInit {
                candidate: "candidate:2 1 udp 1686052607 203.0.113.5 50001 typ srflx raddr 10.0.0.2 rport 50001".into(),
                sdp_m_line_index: Some(1),
                sdp_mid: Some("1".into()),
                username_fragment: Some("uf".into()),
            },
        ]
    }

    #[test]
    fn frame_limits() {
        assert!(!frame_too_large(35_000, true, true));
        assert!(frame_too_large(35_001, true, true));
        assert!(frame_too_large(10_001, true, false));
        assert!(!frame_too_large(10_000, true, false));
        assert!(frame_too_large(25_001, false, true));
        assert!(!frame_too_large(25_000, false, false));
    }

    #[test]
    fn description_round_trip_both_modes() {
        let desc = SessionDescription {
            kind: SdpKind::Offer,
            sdp: SDP.into(),
        };
        for crypto in both() {
            let text = encode_description(
                &desc,
                &Route::to("viewer1")
                    .session("sess12345")
                    .stream_id("cam1808d64")
                    .from("me")
                    .roomid("01081e4801f6d08a"),
                &crypto,
            );
            let raw = obj(&text);
            assert_eq!(raw.contains_key("vector"), crypto.is_enabled());
            assert_eq!(raw["description"].is_string(), crypto.is_enabled());
            let env = decode(&text, &crypto).unwrap();
            assert_eq!(env.body, Body::Description(desc.clone()));
            assert_eq!(env.uuid.as_deref(), Some("viewer1"));
            assert_eq!(env.session.as_deref(), Some("sess12345"));
            assert_eq!(env.stream_id.as_deref(), Some("cam1808d64"));
            assert_eq!(env.from.as_deref(), Some("me"));
            assert_eq!(env.roomid.as_deref(), Some("01081e4801f6d08a"));
            assert!(env.extra.is_empty(), "{:?}", env.extra);
        }
    }

    #[test]
    fn answer_in_raspberry_ninja_shape() {
        let text =
            json!({"description": {"type": "answer", "sdp": SDP}, "UUID": "pub1", "session": "s1"})
                .to_string();
        let env = decode(&text, &enc()).unwrap();
        assert_eq!(
            env.body,
            Body::Description(SessionDescription {
                kind: SdpKind::Answer,
                sdp: SDP.into()
            })
        );
        assert_eq!(env.sender(), Some("pub1"));
    }

    #[test]
    fn candidates_round_trip_both_modes() {
        for crypto in both() {
            for origin in [CandidateOrigin::Local, CandidateOrigin::Remote] {
                let text = encode_candidates(
                    &sample_candidates(),
                    origin,
                    &Route::to("pub1").session("s1"),
                    &crypto,
                );
                let env = decode(&text, &crypto).unwrap();
                assert_eq!(
                    env.body,
                    Body::Candidates {
                        candidates: sample_candidates(),
                        origin: Some(origin)
                    }
                );
                assert!(env.extra.is_empty());
                assert_eq!(obj(&text)["type"], origin.as_str());
            }
        }
    }

    #[test]
    fn decrypts_the_worked_example_bundle() {
        let text = json!({
            "candidates": "109e7a489e0d78ea12498367a1921ba866d319f34c081192dcfb37ade22e19c889f4f5c70a127077d8de6854cd603a54a5fb9152c894ede33a6d20a161343bcfc20f00df4d5238fa82c2a4ebe91efbebaeefc6ae9469d3d2a89600e885aad210",
            "vector": "000102030405060708090a0b0c0d0e0f",
            "UUID": "abc", "session": "s", "type": "local"
        })
        .to_string();
        let env = decode(&text, &enc()).unwrap();
        assert_eq!(
            env.body,
            Body::Candidates {
                candidates: vec![IceCandidateInit::new(
                    "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host",
                    0
                )],
                origin: Some(CandidateOrigin::Local)
            }
        );
    }

    #[test]
    fn single_candidate_forms() {
        let line = "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host";
        let expected = vec![IceCandidateInit {
            candidate: line.into(),
            sdp_m_line_index: Some(0),
            sdp_mid: Some("0".into()),
            username_fragment: None,
        }];
        // Flat form (Raspberry Ninja's unencrypted shape).
        let flat = json!({"candidate": line, "sdpMLineIndex": 0, "sdpMid": "0", "UUID": "p", "type": "remote"}).to_string();
        let env = decode(&flat, &enc()).unwrap();
        assert_eq!(
            env.body,
            Body::Candidates {
                candidates: expected.clone(),
                origin: Some(CandidateOrigin::Remote)
            }
        );
        assert!(env.extra.is_empty(), "{:?}", env.extra);
        // Nested form, clear.
        let nested = json!({"candidate": {"candidate": line, "sdpMLineIndex": 0, "sdpMid": "0"}, "UUID": "p"}).to_string();
        let env = decode(&nested, &clear()).unwrap();
        assert_eq!(
            env.body,
            Body::Candidates {
                candidates: expected.clone(),
                origin: None
            }
        );
        // Nested form, encrypted.
        let crypto = enc();
        let plain = json!({"candidate": line, "sdpMLineIndex": 0, "sdpMid": "0"}).to_string();
        let (cipher, iv) = crypto.encrypt(&plain).unwrap();
        let encrypted =
            json!({"candidate": cipher, "vector": iv, "UUID": "p", "session": "s"}).to_string();
        let env = decode(&encrypted, &crypto).unwrap();
        assert_eq!(
            env.body,
            Body::Candidates {
                candidates: expected,
                origin: None
            }
        );
        assert!(env.extra.is_empty());
    }

    #[test]
    fn end_of_candidates_is_kept_and_flagged() {
        let text =
            json!({"candidates": [{"candidate": "", "sdpMLineIndex": 0}], "UUID": "p"}).to_string();
        let env = decode(&text, &clear()).unwrap();
        let Body::Candidates { candidates, .. } = env.body else {
            panic!("expected candidates");
        };
        assert!(candidates[0].is_end_of_candidates());
    }

    #[test]
    fn official_dialect_requests() {
        let crypto = enc();
        let listing = r#"{"request":"listing","list":[{"UUID":"u1","streamID":"cam1808d64"},{"UUID":"u2"}],"director":"u9","claim":false}"#;
        let env = decode(listing, &crypto).unwrap();
        assert_eq!(
            env.body,
            Body::Request(ServerRequest::Listing {
                members: vec![
                    ListingMember {
                        uuid: "u1".into(),
                        stream_id: Some("cam1808d64".into())
                    },
                    ListingMember {
                        uuid: "u2".into(),
                        stream_id: None
                    },
                ],
                director: Some("u9".into())
            })
        );
        assert_eq!(env.extra.get("claim"), Some(&Value::Bool(false)));

        let cases = [
            (
                r#"{"request":"offerSDP","UUID":"v1"}"#,
                ServerRequest::OfferSdp { uuid: "v1".into() },
            ),
            (
                r#"{"request":"someonejoined","UUID":"u3","streamID":"cam2808d64","director":true}"#,
                ServerRequest::SomeoneJoined {
                    uuid: "u3".into(),
                    stream_id: Some("cam2808d64".into()),
                    director: true,
                },
            ),
            (
                r#"{"request":"someonejoined","UUID":"u4"}"#,
                ServerRequest::SomeoneJoined {
                    uuid: "u4".into(),
                    stream_id: None,
                    director: false,
                },
            ),
            (
                r#"{"request":"videoaddedtoroom","UUID":"u3","streamID":"cam2808d64"}"#,
                ServerRequest::VideoAddedToRoom {
                    uuid: "u3".into(),
                    stream_id: "cam2808d64".into(),
                },
            ),
            (
                r#"{"request":"transferred","list":[]}"#,
                ServerRequest::Transferred {
                    members: vec![],
                    director: None,
                },
            ),
            (
                r#"{"request":"alert","message":"Room is full"}"#,
                ServerRequest::Alert {
                    message: "Room is full".into(),
                },
            ),
            (
                r#"{"request":"error","message":"Stream ID is already in use.","code":"STREAMID_IN_USE"}"#,
                ServerRequest::Error {
                    message: "Stream ID is already in use.".into(),
                    code: Some("STREAMID_IN_USE".into()),
                },
            ),
            (
                r#"{"request":"cleanup","UUID":"u3"}"#,
                ServerRequest::Cleanup { uuid: "u3".into() },
            ),
            (r#"{"request":"ping"}"#, ServerRequest::Ping),
            (
                r#"{"request":"migrate","roomid":"r2","target":"u5"}"#,
                ServerRequest::Migrate {
                    roomid: Some("r2".into()),
                    target: Some("u5".into()),
                },
            ),
            (
                r#"{"request":"somethingNew","x":1}"#,
                ServerRequest::Other("somethingNew".into()),
            ),
        ];
        for (text, expected) in cases {
            let env = decode(text, &crypto).unwrap();
            assert_eq!(env.body, Body::Request(expected.clone()), "{text}");
            // And back through the encoder.
            let again = decode(&encode_request(&expected, &Route::default()), &crypto).unwrap();
            assert_eq!(again.body, Body::Request(expected), "{text}");
        }
    }

    #[test]
    fn client_requests_round_trip_with_and_without_from() {
        let requests = [
            ServerRequest::JoinRoom {
                roomid: "01081e4801f6d08a".into(),
                stream_id: None,
            },
            ServerRequest::JoinRoom {
                roomid: "r".into(),
                stream_id: Some("cam1808d64".into()),
            },
            ServerRequest::Seed {
                stream_id: "cam1808d64".into(),
            },
            ServerRequest::Play {
                stream_id: "cam1808d64".into(),
                uuid: None,
            },
            ServerRequest::Play {
                stream_id: "cam1808d64".into(),
                uuid: Some("u1".into()),
            },
            ServerRequest::Ping,
        ];
        for request in requests {
            for from in [None, Some("12345678")] {
                let text = encode_request(
                    &request,
                    &Route {
                        from,
                        ..Route::default()
                    },
                );
                let env = decode(&text, &enc()).unwrap();
                assert_eq!(env.body, Body::Request(request.clone()));
                assert_eq!(env.from.as_deref(), from);
                assert!(env.extra.is_empty());
            }
        }
        let text = encode_request(
            &ServerRequest::Play {
                stream_id: "cam1808d64".into(),
                uuid: None,
            },
            &Route::default().from("me"),
        );
        assert_eq!(
            obj(&text),
            obj(r#"{"request":"play","streamID":"cam1808d64","from":"me"}"#)
        );
    }

    #[test]
    fn relay_dialect_has_from_on_every_frame() {
        // A newcomer's join broadcast by vdoninja.js, and a relayed offer.
        let join = r#"{"request":"joinroom","roomid":"01081e4801f6d08a","streamID":"cam1808d64","from":"A1b2C3d4E5f6G7h8I9j0"}"#;
        let env = decode(join, &enc()).unwrap();
        assert_eq!(env.sender(), Some("A1b2C3d4E5f6G7h8I9j0"));
        assert_eq!(
            env.body,
            Body::Request(ServerRequest::JoinRoom {
                roomid: "01081e4801f6d08a".into(),
                stream_id: Some("cam1808d64".into())
            })
        );
        let offer = encode_description(
            &SessionDescription {
                kind: SdpKind::Offer,
                sdp: SDP.into(),
            },
            &Route::to("me")
                .session("s1")
                .stream_id("cam1808d64")
                .from("A1b2C3d4E5f6G7h8I9j0")
                .roomid("01081e4801f6d08a"),
            &enc(),
        );
        let env = decode(&offer, &enc()).unwrap();
        assert_eq!(env.sender(), Some("A1b2C3d4E5f6G7h8I9j0"));
        assert_eq!(env.uuid.as_deref(), Some("me"));
        // Numeric ids (random-number puuids) are accepted as text.
        let env = decode(r#"{"bye":true,"from":12345678}"#, &enc()).unwrap();
        assert_eq!(env.from.as_deref(), Some("12345678"));
        assert_eq!(env.body, Body::Bye);
    }

    #[test]
    fn control_frames() {
        let crypto = enc();
        let bye = encode_bye(&Route::to("u1").from("me"));
        let env = decode(&bye, &crypto).unwrap();
        assert_eq!(env.body, Body::Bye);
        assert_eq!(env.uuid.as_deref(), Some("u1"));
        assert_eq!(
            decode(r#"{"hangup":true}"#, &crypto).unwrap().body,
            Body::Hangup
        );
        assert_eq!(
            decode(r#"{"iceRestartRequest":true,"UUID":"x"}"#, &crypto)
                .unwrap()
                .body,
            Body::IceRestartRequest
        );
        assert_eq!(
            decode(r#"{"error":"uuid already in use"}"#, &crypto)
                .unwrap()
                .body,
            Body::ServerError {
                message: "uuid already in use".into()
            }
        );
        let env = decode(r#"{"type":"disconnect","uuid":"x"}"#, &crypto).unwrap();
        assert_eq!(env.body, Body::Unknown);
        assert_eq!(env.extra.len(), 2);
        // `bye:false` is not a bye.
        assert_eq!(
            decode(r#"{"bye":false}"#, &crypto).unwrap().body,
            Body::Unknown
        );
        // RN publishes `session: null`.
        let env = decode(r#"{"bye":true,"session":null}"#, &crypto).unwrap();
        assert_eq!(env.session, None);
    }

    #[test]
    fn generic_encode_round_trip_keeps_extra() {
        let crypto = enc();
        let mut env = Envelope::new(Body::Description(SessionDescription {
            kind: SdpKind::Offer,
            sdp: SDP.into(),
        }));
        env.uuid = Some("u".into());
        env.session = Some("s".into());
        env.stream_id = Some("cam1808d64".into());
        env.extra.insert("isScene".into(), Value::Bool(false));
        let back = decode(&encode(&env, &crypto), &crypto).unwrap();
        assert_eq!(back, env);
        let unknown = Envelope::new(Body::ServerError {
            message: "sid already in use".into(),
        });
        assert_eq!(
            decode(&encode(&unknown, &crypto), &crypto).unwrap(),
            unknown
        );
    }

    #[test]
    fn oversize_frames_are_rejected() {
        let big_sdp = "a".repeat(30_000);
        let desc = SessionDescription {
            kind: SdpKind::Offer,
            sdp: big_sdp,
        };
        // Clear text: 30k > 25k.
        let text = encode_description(&desc, &Route::to("u"), &clear());
        assert!(matches!(
            decode(&text, &clear()),
            Err(DecodeError::TooLarge { limit: 25_000, .. })
        ));
        // Non-SDP frame with password: limit 10k.
        let alert = json!({"request":"alert","message":"x".repeat(12_000)}).to_string();
        assert!(matches!(
            decode(&alert, &enc()),
            Err(DecodeError::TooLarge { limit: 10_000, .. })
        ));
        assert!(decode(&alert, &clear()).is_ok());
        // Anything over 35k is refused before parsing.
        let huge = format!("[{}]", "1,".repeat(40_000));
        assert!(matches!(
            decode(&huge, &enc()),
            Err(DecodeError::TooLarge { limit: 35_000, .. })
        ));
        let e = decode(&huge, &enc()).unwrap_err();
        assert!(e.to_string().contains("exceeds the limit of 35000"), "{e}");
    }

    #[test]
    fn garbage_is_rejected_with_clear_errors() {
        let crypto = enc();
        let cases: [(&str, &str); 14] = [
            ("", "not valid JSON"),
            ("not json", "not valid JSON"),
            ("[1,2]", "JSON an array, expected an object"),
            ("42", "expected an object"),
            (r#"{"request":5}"#, "`request` should be a string"),
            (
                r#"{"UUID":{"a":1}}"#,
                "`UUID` should be a string, found an object",
            ),
            (r#"{"request":"seed"}"#, "`streamID` is missing"),
            (r#"{"request":"offerSDP"}"#, "`UUID` is missing"),
            (
                r#"{"description":{"type":"pranswer","sdp":""}}"#,
                "unsupported description type",
            ),
            (
                r#"{"description":{"sdp":""}}"#,
                "`description.type` is missing",
            ),
            (r#"{"description":"00ff"}"#, "no `vector`"),
            (
                r#"{"candidates":"00ff","vector":"000102030405060708090a0b0c0d0e0f"}"#,
                "cannot decrypt `candidates`",
            ),
            (
                r#"{"candidates":[{"candidate":1}]}"#,
                "`candidates[0].candidate` should be a string",
            ),
            (
                r#"{"candidates":[{"candidate":"c","sdpMLineIndex":-1}]}"#,
                "out of range",
            ),
        ];
        for (text, needle) in cases {
            let err = decode(text, &crypto).unwrap_err();
            assert!(err.to_string().contains(needle), "{text}: {err}");
        }
        // Deep nesting hits serde_json's recursion limit, not the stack.
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(matches!(
            decode(&deep, &crypto),
            Err(DecodeError::InvalidJson(_))
        ));
        // Encrypted frames without a local password.
        let (cipher, iv) = crypto.encrypt("{}").unwrap();
        let text = json!({"description": cipher, "vector": iv}).to_string();
        let err = decode(&text, &clear()).unwrap_err();
        assert!(
            err.to_string().contains("no password is configured"),
            "{err}"
        );
        // Decrypts fine but is not JSON.
        let (cipher, iv) = crypto.encrypt("not json").unwrap();
        let text = json!({"description": cipher, "vector": iv}).to_string();
        assert!(matches!(
            decode(&text, &crypto),
            Err(DecodeError::DecryptedNotJson { .. })
        ));
        // Decrypts to JSON of the wrong shape.
        let (cipher, iv) = crypto.encrypt("[1]").unwrap();
        let text = json!({"description": cipher, "vector": iv}).to_string();
        assert!(matches!(
            decode(&text, &crypto),
            Err(DecodeError::WrongType { .. })
        ));
    }

    #[test]
    fn wrong_password_is_an_error_not_a_panic() {
        let sender = RoomCrypto::new(&Password::parse("secret"), "vdo.ninja");
        let text = encode_candidates(
            &sample_candidates(),
            CandidateOrigin::Local,
            &Route::to("u"),
            &sender,
        );
        assert!(decode(&text, &enc()).is_err());
    }

    #[test]
    fn long_peer_values_are_not_echoed() {
        let t = "x".repeat(5_000);
        let text = json!({"description": {"type": t, "sdp": ""}}).to_string();
        let err = decode(&text, &clear()).unwrap_err();
        assert!(err.to_string().len() < 100, "{err}");
    }
}
