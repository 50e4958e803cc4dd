//! Decoding frames, and the helpers the data-channel codec shares.

use serde_json::{Map, Value};

use super::{
    Body, CandidateOrigin, DecodeError, Envelope, IceCandidateInit, ListingMember, MAX_FRAME_CHARS,
    SdpKind, ServerRequest, SessionDescription, frame_limit, js_length,
};
use crate::protocol::crypto::RoomCrypto;

/// JSON type name for error messages.
fn json_kind(v: &Value) -> &'static str {
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
fn shown(text: &str) -> String {
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
fn candidate_from_value(field: &str, value: Value) -> Result<IceCandidateInit, DecodeError> {
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
fn candidates_from_value(field: &str, value: Value) -> Result<Vec<IceCandidateInit>, DecodeError> {
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
