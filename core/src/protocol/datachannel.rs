//! JSON text messages on the `sendChannel` data channel (protocol doc §3.4).
//!
//! Once the channel is open, VDO.Ninja peers move their signaling onto it: the
//! publisher's renegotiation offer (the one that finally carries audio and video) and the
//! ICE that goes with it arrive here, not on the WebSocket. The channel also carries the
//! viewer's media request, without which a browser publisher never sends media, and the
//! ping/pong heartbeat that is the only way to notice a vanished peer on `GStreamer` 1.22.
//!
//! A message is one JSON object whose keys say what it is. When several known keys are
//! present, the first match in this order wins: `description`, then
//! `candidates`/`candidate`, then a media request (both `audio` and `video` booleans),
//! then the small control messages.

use serde_json::{Map, Value};

use super::crypto::RoomCrypto;
use super::message::{
    CandidateOrigin, DecodeError, IceCandidateInit, SessionDescription, candidates_value,
    description_from_value, description_value, parse_object, put_payload, take_candidates,
    take_flag, take_id, take_origin, take_payload,
};

/// Largest data-channel message accepted, in JavaScript characters. SCTP messages are
/// commonly limited to 256 KiB; the bound keeps parsing and decryption cheap.
pub const MAX_CHANNEL_MESSAGE_CHARS: usize = 256 * 1024;

/// Longest label kept from an `info` message (labels come from strangers).
pub const MAX_LABEL_CHARS: usize = 128;

/// The viewer's request that makes a VDO.Ninja publisher add its tracks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaRequest {
    pub audio: bool,
    pub video: bool,
    /// `"vp8"`, `"vp9"`, `"h264"` or `"av1"`.
    pub prefer_video_codec: Option<String>,
    /// e.g. `"opus"`.
    pub prefer_audio_codec: Option<String>,
}

impl Default for MediaRequest {
    /// Audio and video, publisher's codec choice.
    fn default() -> MediaRequest {
        MediaRequest {
            audio: true,
            video: true,
            prefer_video_codec: None,
            prefer_audio_codec: None,
        }
    }
}

/// A decoded data-channel message.
#[derive(Clone, Debug, PartialEq)]
pub enum ChannelMessage {
    /// `{"info":{...}}`: the publisher's description of itself (label, resolution, ...).
    Info(Value),
    /// `{"miniInfo":{...}}`: periodic small status.
    MiniInfo(Value),
    /// `{"keyframe":true}`: ask the publisher for a key frame.
    Keyframe,
    /// `{"bitrate":kbps}` and/or `{"audioBitrate":kbps}` (also the `target...` forms).
    Bitrate {
        video_kbps: Option<u32>,
        audio_kbps: Option<u32>,
    },
    /// `{"requestResolution":{"w":..,"h":..,"s":..,"c":..}}`; `s` = snap to the source
    /// size when close, `c` = cover (crop) instead of fit.
    RequestResolution {
        w: u32,
        h: u32,
        s: Option<bool>,
        c: Option<bool>,
    },
    /// `{"ping":x}`: answer with `Pong(x)`.
    Ping(Value),
    /// `{"pong":x}`.
    Pong(Value),
    /// `{"audio":..,"video":..,...}` media request.
    MediaRequest(MediaRequest),
    /// An offer or answer over the channel (renegotiation).
    Description {
        desc: SessionDescription,
        session: Option<String>,
        stream_id: Option<String>,
    },
    /// ICE over the channel.
    Candidates {
        candidates: Vec<IceCandidateInit>,
        session: Option<String>,
        origin: Option<CandidateOrigin>,
    },
    /// `{"bye":true}`.
    Bye,
    /// `{"videoMuted":bool}`.
    VideoMuted(bool),
    /// `{"muteState":bool}` (what the web client sends when the mic is muted) or
    /// `{"audioMuted":bool}`.
    AudioMuted(bool),
    /// Anything else (scene, midi, chat, ...), kept whole.
    Unknown(Value),
}

impl ChannelMessage {
    /// The peer's display label, for `Info` and `MiniInfo` messages.
    pub fn label(&self) -> Option<String> {
        match self {
            ChannelMessage::Info(v) | ChannelMessage::MiniInfo(v) => info_label(v),
            _ => None,
        }
    }
}

/// The `label` of an `info` object (or of a whole `{"info":{...}}` message): trimmed,
/// control characters removed, at most [`MAX_LABEL_CHARS`] characters. `None` when the
/// peer has no label (VDO.Ninja sends `false` then). This is *not* a file-name sanitiser.
pub fn info_label(v: &Value) -> Option<String> {
    let info = match v.get("info") {
        Some(inner @ Value::Object(_)) => inner,
        _ => v,
    };
    let raw = info.get("label")?.as_str()?;
    let cleaned: String = raw
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_LABEL_CHARS)
        .collect();
    let trimmed = cleaned.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

/// Reads a non-negative number as `u32`, rounding fractions (browsers send
/// `width * devicePixelRatio`). `None` for anything else.
fn as_u32(v: &Value) -> Option<u32> {
    if let Some(n) = v.as_u64() {
        return u32::try_from(n).ok();
    }
    let f = v.as_f64()?;
    if f.is_finite() && f >= 0.0 && f <= f64::from(u32::MAX) {
        // In range and finite, so the cast cannot saturate or wrap.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let rounded = f.round() as u32;
        Some(rounded)
    } else {
        None
    }
}

fn take_bool(map: &mut Map<String, Value>, field: &str) -> Option<bool> {
    let b = map.get(field)?.as_bool()?;
    map.remove(field);
    Some(b)
}

fn take_codec(map: &mut Map<String, Value>, field: &str) -> Option<String> {
    let codec = map.get(field)?.as_str()?.trim().to_ascii_lowercase();
    map.remove(field);
    (!codec.is_empty()).then_some(codec)
}

/// Decodes one data-channel text message.
///
/// `description`, `candidate` and `candidates` are decrypted when they are strings with a
/// `vector`, exactly like WebSocket frames.
///
/// # Errors
///
/// [`DecodeError`] for oversize text, invalid JSON, a non-object, or a malformed or
/// undecryptable description/candidate payload. Unrecognised objects are not errors
/// (they become [`ChannelMessage::Unknown`]).
pub fn decode_channel(text: &str, crypto: &RoomCrypto) -> Result<ChannelMessage, DecodeError> {
    let mut map = parse_object(text, MAX_CHANNEL_MESSAGE_CHARS)?;

    if let Some(desc) = take_payload(&mut map, "description", crypto)? {
        return Ok(ChannelMessage::Description {
            desc: description_from_value(desc)?,
            session: take_id(&mut map, "session")?,
            stream_id: take_id(&mut map, "streamID")?,
        });
    }
    if let Some(candidates) = take_candidates(&mut map, crypto)? {
        return Ok(ChannelMessage::Candidates {
            candidates,
            session: take_id(&mut map, "session")?,
            origin: take_origin(&mut map),
        });
    }
    if let (Some(Value::Bool(audio)), Some(Value::Bool(video))) =
        (map.get("audio"), map.get("video"))
    {
        return Ok(ChannelMessage::MediaRequest(MediaRequest {
            audio: *audio,
            video: *video,
            prefer_video_codec: take_codec(&mut map, "preferVideoCodec"),
            prefer_audio_codec: take_codec(&mut map, "preferAudioCodec"),
        }));
    }
    if take_flag(&mut map, "bye") {
        return Ok(ChannelMessage::Bye);
    }
    if take_flag(&mut map, "keyframe") {
        return Ok(ChannelMessage::Keyframe);
    }
    if let Some(v) = map.remove("ping") {
        return Ok(ChannelMessage::Ping(v));
    }
    if let Some(v) = map.remove("pong") {
        return Ok(ChannelMessage::Pong(v));
    }
    if let Some(v) = map.remove("info") {
        return Ok(ChannelMessage::Info(v));
    }
    if let Some(v) = map.remove("miniInfo") {
        return Ok(ChannelMessage::MiniInfo(v));
    }
    if let Some(Value::Object(req)) = map.get("requestResolution") {
        let w = req.get("w").and_then(as_u32);
        let h = req.get("h").and_then(as_u32);
        if let (Some(w), Some(h)) = (w, h) {
            let s = req.get("s").and_then(Value::as_bool);
            let c = req.get("c").and_then(Value::as_bool);
            return Ok(ChannelMessage::RequestResolution { w, h, s, c });
        }
    }
    let video_kbps = ["bitrate", "targetBitrate"]
        .iter()
        .find_map(|k| map.get(*k).and_then(as_u32));
    let audio_kbps = ["audioBitrate", "targetAudioBitrate"]
        .iter()
        .find_map(|k| map.get(*k).and_then(as_u32));
    if video_kbps.is_some() || audio_kbps.is_some() {
        return Ok(ChannelMessage::Bitrate {
            video_kbps,
            audio_kbps,
        });
    }
    if let Some(b) = take_bool(&mut map, "videoMuted") {
        return Ok(ChannelMessage::VideoMuted(b));
    }
    if let Some(b) = take_bool(&mut map, "muteState").or_else(|| take_bool(&mut map, "audioMuted"))
    {
        return Ok(ChannelMessage::AudioMuted(b));
    }
    Ok(ChannelMessage::Unknown(Value::Object(map)))
}

fn single(key: &str, value: Value) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert(key.to_owned(), value);
    map
}

/// Encodes a data-channel message; `description` / `candidates` are encrypted when a
/// password is in force.
pub fn encode_channel(msg: &ChannelMessage, crypto: &RoomCrypto) -> String {
    let map = match msg {
        ChannelMessage::Info(v) => single("info", v.clone()),
        ChannelMessage::MiniInfo(v) => single("miniInfo", v.clone()),
        ChannelMessage::Keyframe => single("keyframe", Value::Bool(true)),
        ChannelMessage::Bitrate {
            video_kbps,
            audio_kbps,
        } => {
            let mut map = Map::new();
            if let Some(v) = video_kbps {
                map.insert("bitrate".into(), Value::from(*v));
            }
            if let Some(a) = audio_kbps {
                map.insert("audioBitrate".into(), Value::from(*a));
            }
            map
        }
        ChannelMessage::RequestResolution { w, h, s, c } => {
            let mut req = Map::new();
            req.insert("w".into(), Value::from(*w));
            req.insert("h".into(), Value::from(*h));
            if let Some(s) = s {
                req.insert("s".into(), Value::Bool(*s));
            }
            if let Some(c) = c {
                req.insert("c".into(), Value::Bool(*c));
            }
            single("requestResolution", Value::Object(req))
        }
        ChannelMessage::Ping(v) => single("ping", v.clone()),
        ChannelMessage::Pong(v) => single("pong", v.clone()),
        ChannelMessage::MediaRequest(req) => media_request_map(req),
        ChannelMessage::Description {
            desc,
            session,
            stream_id,
        } => {
            let mut map = Map::new();
            put_payload(&mut map, "description", description_value(desc), crypto);
            if let Some(s) = session {
                map.insert("session".into(), Value::String(s.clone()));
            }
            if let Some(id) = stream_id {
                map.insert("streamID".into(), Value::String(id.clone()));
            }
            map
        }
        ChannelMessage::Candidates {
            candidates,
            session,
            origin,
        } => {
            let mut map = Map::new();
            put_payload(&mut map, "candidates", candidates_value(candidates), crypto);
            if let Some(s) = session {
                map.insert("session".into(), Value::String(s.clone()));
            }
            if let Some(o) = origin {
                map.insert("type".into(), Value::String(o.as_str().into()));
            }
            map
        }
        ChannelMessage::Bye => single("bye", Value::Bool(true)),
        ChannelMessage::VideoMuted(b) => single("videoMuted", Value::Bool(*b)),
        ChannelMessage::AudioMuted(b) => single("muteState", Value::Bool(*b)),
        ChannelMessage::Unknown(v) => return v.to_string(),
    };
    Value::Object(map).to_string()
}

/// The request exactly as a VDO.Ninja viewer sends it: media on, every optional feature
/// (file downloads, MIDI, drawing, chunked transfer, ...) off, screen shares allowed.
fn media_request_map(req: &MediaRequest) -> Map<String, Value> {
    let mut map = Map::new();
    let flags = [
        ("audio", req.audio),
        ("video", req.video),
        ("downloads", false),
        ("allowmidi", false),
        ("allowdrawing", false),
        ("iframe", false),
        ("widget", false),
        ("broadcast", false),
        ("allowwebp", false),
        ("allowscreenaudio", true),
        ("allowscreenvideo", true),
        ("allowchunked", false),
    ];
    for (key, value) in flags {
        map.insert(key.into(), Value::Bool(value));
    }
    if let Some(codec) = &req.prefer_video_codec {
        map.insert("preferVideoCodec".into(), Value::String(codec.clone()));
    }
    if let Some(codec) = &req.prefer_audio_codec {
        map.insert("preferAudioCodec".into(), Value::String(codec.clone()));
    }
    map
}

#[cfg(test)]
mod tests;
