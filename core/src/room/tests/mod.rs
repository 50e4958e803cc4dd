//! Unit tests for the room state machine: one test per rule.

use serde_json::{Value, json};

use super::*;

use crate::protocol::crypto::{Password, RoomCrypto};

mod channel;
mod signaling;
mod trust;
mod watchdogs;

const OWN: &str = "recorder0000000000000";

const SDP: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n";

fn cand(port: u16) -> String {
    format!("candidate:1 1 udp 2122260223 127.0.0.1 {port} typ host")
}

fn room_with(crypto: RoomCrypto, wanted: &[&str]) -> Room {
    Room::new(RoomConfig {
        own_id: OWN.into(),
        room: "studio".into(),
        crypto,
        wanted_streams: wanted.iter().map(|s| s.to_string()).collect(),
        want_audio: true,
        want_video: true,
        prefer_video_codec: Some("h264".into()),
        bitrate_kbps: Some(2500),
        resolution: None,
        max_peers: 48,
    })
}

fn room() -> Room {
    room_with(RoomConfig::no_crypto(), &[])
}

fn sent(commands: &[Command]) -> Vec<Value> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::Send(text) => serde_json::from_str(text).ok(),
            _ => None,
        })
        .collect()
}

fn channel_sent(commands: &[Command]) -> Vec<Value> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::SendOnChannel { text, .. } => serde_json::from_str(text).ok(),
            _ => None,
        })
        .collect()
}

fn events(commands: &[Command]) -> Vec<&RoomEvent> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::Event(e) => Some(e),
            _ => None,
        })
        .collect()
}

fn key(participant: &str, session: &str) -> PeerKey {
    PeerKey {
        participant: participant.into(),
        session: session.into(),
    }
}

/// An official-server room with participant "pub1" (stream "alice") offering session "s1".
fn connected_with_offer() -> Room {
    let mut room = room();
    room.on_connected(0);
    room.on_frame(
        &json!({"request":"listing","list":[{"UUID":"pub1","streamID":"alice"}]}).to_string(),
        10,
    );
    let out = room.on_frame(
        &json!({"UUID":"pub1","session":"s1","streamID":"alice","description":{"type":"offer","sdp":SDP}}).to_string(),
        20,
    );
    assert!(out.iter().any(|c| matches!(c, Command::CreatePeer { .. })));
    room
}

/// `connected_with_offer`, with the peer connected, its channel open and video flowing at 100.
fn flowing() -> Room {
    let mut room = connected_with_offer();
    let k = key("pub1", "s1");
    room.on_peer_event(&k, PeerEvent::Connection(ConnectionState::Connected), 50);
    room.on_peer_event(&k, PeerEvent::ChannelOpen, 60);
    room.on_peer_event(&k, PeerEvent::MediaFlowing(MediaKind::Video), 100);
    room
}

fn plays(out: &[Command]) -> Vec<Value> {
    sent(out)
        .into_iter()
        .filter(|f| f["request"] == "play")
        .collect()
}

fn closes(out: &[Command]) -> Vec<(PeerKey, LeaveReason)> {
    out.iter()
        .filter_map(|c| match c {
            Command::ClosePeer { key, reason } => Some((key.clone(), *reason)),
            _ => None,
        })
        .collect()
}
