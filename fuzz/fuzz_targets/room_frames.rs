//! Lines of input are signaling frames (and, prefixed with `#`, data-channel messages) fed to
//! the room state machine; candidate and SDP checks see every line too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roomtape_fuzz::protocol::crypto::{Password, RoomCrypto};
use roomtape_fuzz::room::machine::precheck_sdp;
use roomtape_fuzz::room::{Command, PeerEvent, PeerKey, Room, RoomConfig};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut room = Room::new(RoomConfig {
        own_id: "recorder".into(),
        room: "fuzz".into(),
        crypto: RoomCrypto::new(&Password::Disabled, "vdo.ninja"),
        wanted_streams: Vec::new(),
        want_audio: true,
        want_video: true,
        prefer_video_codec: None,
        bitrate_kbps: Some(2500),
        resolution: None,
        max_peers: 48,
    });
    let mut now = 0;
    let mut live: Option<PeerKey> = None;
    let mut commands = room.on_connected(now);
    for line in text.split('\n') {
        now += 100;
        let _ = precheck_sdp(line);
        let _ = roomtape_fuzz::protocol::candidate::parse_candidate(line);
        let out = match (line.strip_prefix('#'), &live) {
            (Some(message), Some(key)) => {
                let mut out = room.on_peer_event(key, PeerEvent::RemoteDescriptionApplied, now);
                out.extend(room.on_peer_event(key, PeerEvent::ChannelMessage(message.into()), now));
                out
            }
            _ => {
                let mut out = room.on_frame(line, now);
                out.extend(room.on_tick(now));
                out
            }
        };
        for command in &out {
            match command {
                Command::CreatePeer { key, .. } => live = Some(key.clone()),
                Command::ClosePeer { key, .. } if live.as_ref() == Some(key) => live = None,
                Command::ApplyOffer { sdp, .. } => assert!(precheck_sdp(sdp).is_ok()),
                Command::AddCandidate { candidate, .. } => {
                    assert!(
                        candidate.candidate.starts_with("candidate:")
                            || candidate.candidate.starts_with("a=candidate:")
                    )
                }
                _ => {}
            }
        }
        commands.extend(out);
        if commands.len() > 10_000 {
            commands.clear();
        }
    }
});
