//! Encoding frames: whole envelopes, and the frames the recorder and the publisher send.

use serde_json::{Map, Value};

use super::{
    Body, CandidateOrigin, Envelope, IceCandidateInit, ListingMember, ServerRequest,
    SessionDescription,
};
use crate::protocol::crypto::RoomCrypto;

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
