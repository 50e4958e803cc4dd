//! Property-based fuzzing of what strangers control: signaling frames driving the room state
//! machine, SDP on its way to webrtcbin, and ICE candidates. A fixed number of cases runs in CI;
//! `PROPTEST_CASES=200000 cargo test --release --test fault_fuzz` runs a long campaign (see
//! docs/reliability.md). tests/protocol_fuzz.rs covers the bare decoders; this file covers what
//! the room and the peer do with the result.

// Tests print what they measured; the harness captures it.
#![allow(clippy::print_stdout)]

use std::collections::HashMap;

use proptest::prelude::*;
use roomtape::protocol::crypto::{Password, RoomCrypto};
use roomtape::room::machine::{MAX_SDP_BYTES, MAX_SDP_MEDIA_SECTIONS, precheck_sdp};
use roomtape::room::{
    Command, ConnectionState, MediaKind, ParticipantId, PeerEvent, Room, RoomConfig, SessionId,
};
use serde_json::{Value, json};

fn cases(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

const SDP: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n";

fn room(crypto: RoomCrypto) -> Room {
    Room::new(RoomConfig {
        own_id: "recorder".into(),
        room: "fuzz".into(),
        crypto,
        wanted_streams: Vec::new(),
        want_audio: true,
        want_video: true,
        prefer_video_codec: None,
        bitrate_kbps: Some(2500),
        resolution: None,
        max_peers: 48,
    })
}

/// Ids, sessions and streams from small pools, so frames collide with each other's state.
fn id() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["p1", "p2", "p3", "recorder", "", "../x"]).prop_map(str::to_owned)
}

fn session() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["s1", "s2", "s3", ""]).prop_map(str::to_owned)
}

fn sdp() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(SDP.to_owned()),
        ".{0,80}",
        (0usize..40).prop_map(|n| format!("v=0\r\n{}", "m=video 9 RTP 96\r\n".repeat(n))),
        prop::collection::vec(any::<u8>(), 0..200)
            .prop_map(|b| format!("v=0\r\n{}", String::from_utf8_lossy(&b))),
        Just(format!("v=0\r\nm=x\r\n{}", "a".repeat(70_000))),
    ]
}

fn candidate_line() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u32..70_000).prop_map(|p| format!("candidate:1 1 udp 2122260223 127.0.0.1 {p} typ host")),
        ".{0,60}",
        Just("a=end-of-candidates".to_owned()),
        Just(String::new()),
        (any::<u64>(), ".{0,10}")
            .prop_map(|(p, t)| format!("candidate:1 1 udp 1 1.2.3.4 {p} typ {t}")),
    ]
}

fn frame() -> impl Strategy<Value = String> {
    prop_oneof![
        // Coherent traffic of one publisher, so the deep paths are reached.
        (session(), (1024u32..1100)).prop_map(|(session, port)| {
            json!({"UUID": "p1", "session": session, "candidates": [
                {"candidate": format!("candidate:1 1 udp 2122260223 127.0.0.1 {port} typ host"), "sdpMLineIndex": 0}
            ]})
            .to_string()
        }),
        session().prop_map(|session| {
            json!({"UUID": "p1", "session": session, "streamID": "p1",
                   "description": {"type": "offer", "sdp": SDP}})
            .to_string()
        }),
        (id(), session(), id(), sdp()).prop_map(|(uuid, session, stream, sdp)| {
            json!({"UUID": uuid, "session": session, "streamID": stream,
                   "description": {"type": "offer", "sdp": sdp}})
            .to_string()
        }),
        (
            id(),
            session(),
            prop::collection::vec(candidate_line(), 0..40)
        )
            .prop_map(|(uuid, session, lines)| {
                let list: Vec<Value> = lines
                    .into_iter()
                    .map(|c| json!({"candidate": c, "sdpMLineIndex": 0}))
                    .collect();
                json!({"UUID": uuid, "session": session, "candidates": list}).to_string()
            }),
        (id(), id()).prop_map(|(uuid, stream)| {
            json!({"request": "listing", "list": [{"UUID": uuid, "streamID": stream}]}).to_string()
        }),
        (id(), id()).prop_map(|(uuid, stream)| {
            json!({"request": "someonejoined", "UUID": uuid, "streamID": stream}).to_string()
        }),
        id().prop_map(|uuid| json!({"request": "cleanup", "UUID": uuid}).to_string()),
        id().prop_map(|uuid| json!({"UUID": uuid, "bye": true}).to_string()),
        id().prop_map(|uuid| json!({"request": "offerSDP", "UUID": uuid}).to_string()),
        (id(), "[0-9a-f]{0,64}", "[0-9a-f]{0,32}").prop_map(|(uuid, c, v)| {
            json!({"UUID": uuid, "description": c, "vector": v}).to_string()
        }),
        ".{0,100}",
    ]
}

#[derive(Debug, Clone)]
enum Step {
    Frame(String),
    Tick(u64),
    Connected(String),
    Channel(String, String),
    NegotiationFailed(String),
    Rtp(String),
    Applied(String),
    Reconnect,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => frame().prop_map(Step::Frame),
        2 => (1u64..20_000).prop_map(Step::Tick),
        1 => id().prop_map(Step::Connected),
        1 => (id(), ".{0,60}").prop_map(|(i, t)| Step::Channel(i, t)),
        1 => id().prop_map(Step::NegotiationFailed),
        1 => id().prop_map(Step::Rtp),
        2 => id().prop_map(Step::Applied),
        1 => Just(Step::Reconnect),
    ]
}

/// How often each interesting command came out of a run.
#[derive(Debug, Default, Clone, Copy)]
struct Coverage {
    peers: usize,
    offers: usize,
    candidates: usize,
    closes: usize,
}

/// Runs steps against a room and checks what must hold whatever strangers send.
fn run(steps: Vec<Step>, crypto: RoomCrypto) -> Coverage {
    let mut coverage = Coverage::default();
    let mut room = room(crypto);
    let mut now = 0u64;
    let mut out = room.on_connected(now);
    // Peers alive per key, as the engine would keep them.
    let mut peers: HashMap<ParticipantId, SessionId> = HashMap::new();
    let mut candidates_per_peer: HashMap<(ParticipantId, SessionId), usize> = HashMap::new();
    for step in steps {
        now += 50;
        let key_of = |peers: &HashMap<ParticipantId, SessionId>, id: &str| {
            peers
                .get(id)
                .map(|s| roomtape::room::PeerKey::new(ParticipantId::from(id), s.clone()))
        };
        let commands = match step {
            Step::Frame(text) => room.on_frame(&text, now),
            Step::Tick(dt) => {
                now += dt;
                room.on_tick(now)
            }
            Step::Connected(id) => match key_of(&peers, &id) {
                Some(k) => {
                    let mut c = room.on_peer_event(
                        &k,
                        PeerEvent::Connection(ConnectionState::Connected),
                        now,
                    );
                    c.extend(room.on_peer_event(&k, PeerEvent::ChannelOpen, now));
                    c
                }
                None => Vec::new(),
            },
            Step::Channel(id, text) => match key_of(&peers, &id) {
                Some(k) => room.on_peer_event(&k, PeerEvent::ChannelMessage(text), now),
                None => Vec::new(),
            },
            Step::NegotiationFailed(id) => match key_of(&peers, &id) {
                Some(k) => room.on_peer_event(&k, PeerEvent::NegotiationFailed("x".into()), now),
                None => Vec::new(),
            },
            Step::Rtp(id) => match key_of(&peers, &id) {
                Some(k) => {
                    let mut c =
                        room.on_peer_event(&k, PeerEvent::MediaFlowing(MediaKind::Video), now);
                    c.extend(room.on_peer_event(&k, PeerEvent::RtpActivity, now));
                    c
                }
                None => Vec::new(),
            },
            Step::Applied(id) => match key_of(&peers, &id) {
                Some(k) => room.on_peer_event(&k, PeerEvent::RemoteDescriptionApplied, now),
                None => Vec::new(),
            },
            Step::Reconnect => {
                let mut c = room.on_disconnected(now, "fuzz");
                c.extend(room.on_connected(now + 1));
                c
            }
        };
        out.extend(commands.iter().cloned());
        for command in commands {
            match command {
                Command::CreatePeer { key, .. } => {
                    coverage.peers += 1;
                    assert!(
                        !peers.contains_key(&key.participant),
                        "a second live peer for {key}: the old one was not closed first"
                    );
                    peers.insert(key.participant.clone(), key.session.clone());
                }
                Command::ClosePeer { key, .. } => {
                    coverage.closes += 1;
                    assert_eq!(
                        peers.remove(&key.participant),
                        Some(key.session.clone()),
                        "closed an unknown peer {key}"
                    );
                }
                Command::ApplyOffer { key, sdp, .. } => {
                    coverage.offers += 1;
                    assert_eq!(
                        peers.get(&key.participant),
                        Some(&key.session),
                        "offer for a peer that does not exist"
                    );
                    assert!(
                        precheck_sdp(&sdp).is_ok(),
                        "an SDP the pre-check refuses reached a peer"
                    );
                }
                Command::AddCandidate { key, candidate } => {
                    coverage.candidates += 1;
                    assert_eq!(peers.get(&key.participant), Some(&key.session));
                    assert!(
                        candidate.candidate.starts_with("candidate:")
                            || candidate.candidate.starts_with("a=candidate:"),
                        "webrtcbin would take {:?} as end-of-candidates",
                        candidate.candidate
                    );
                    let n = candidates_per_peer
                        .entry((key.participant, key.session))
                        .or_default();
                    *n += 1;
                    assert!(*n <= 256, "candidate flood reached webrtcbin");
                }
                Command::Send(text) => {
                    let v: Value = serde_json::from_str(&text).expect("frames sent are JSON");
                    assert!(
                        v.get("streamID").is_none() || v["request"] == "play",
                        "the recorder announced a stream: {text}"
                    );
                    assert!(
                        v.get("description").is_none() || v["description"]["type"] != "offer",
                        "the recorder offered media: {text}"
                    );
                }
                _ => {}
            }
        }
    }
    let _ = out;
    coverage
}

/// The generator reaches the interesting paths: peers built, offers applied, candidates handed
/// over, peers closed (a fuzzer that only produced rejected garbage would prove little).
#[test]
fn the_room_fuzzer_reaches_every_path() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = prop::collection::vec(step(), 1..60);
    let mut total = Coverage::default();
    for _ in 0..200 {
        let steps = strategy.new_tree(&mut runner).expect("steps").current();
        let c = run(steps, RoomCrypto::new(&Password::Disabled, "vdo.ninja"));
        total.peers += c.peers;
        total.offers += c.offers;
        total.candidates += c.candidates;
        total.closes += c.closes;
    }
    eprintln!("FIGURE fuzz coverage over 200 runs: {total:?}");
    assert!(
        total.peers > 0 && total.offers > 0 && total.candidates > 0 && total.closes > 0,
        "{total:?}"
    );
}

proptest! {
    #![proptest_config(cases(192))]

    #[test]
    fn the_room_holds_its_invariants_under_hostile_frames(steps in prop::collection::vec(step(), 1..60)) {
        let _ = run(steps, RoomCrypto::new(&Password::Disabled, "vdo.ninja"));
    }

    #[test]
    fn the_room_holds_its_invariants_with_a_password(steps in prop::collection::vec(step(), 1..40)) {
        let _ = run(steps, RoomCrypto::new(&Password::parse("s3cret"), "vdo.ninja"));
    }

    #[test]
    fn sdp_that_passes_the_precheck_is_bounded(text in sdp()) {
        if precheck_sdp(&text).is_ok() {
            prop_assert!(text.len() <= MAX_SDP_BYTES);
            prop_assert!(text.starts_with("v=0"));
            let media = text.lines().filter(|l| l.starts_with("m=")).count();
            prop_assert!((1..=MAX_SDP_MEDIA_SECTIONS).contains(&media));
        }
    }

    #[test]
    fn gstreamers_sdp_parser_survives_what_strangers_send(text in sdp(), cut in 0usize..400) {
        // The second gate, right before webrtcbin: it must refuse or parse, never crash, also
        // on a message cut anywhere.
        gst::init().expect("GStreamer");
        let cut = (0..=cut.min(text.len())).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
        for candidate in [text.as_str(), &text[..cut]] {
            if let Ok(message) = roomtape::media::peer::validate_sdp(candidate) {
                prop_assert!((1..=16).contains(&message.medias_len()));
            }
        }
    }

    #[test]
    fn candidates_that_parse_are_sane(line in candidate_line()) {
        if let Ok(c) = roomtape::protocol::candidate::parse_candidate(&line) {
            prop_assert!(!c.address.is_empty());
            prop_assert!(line.starts_with("candidate:") || line.starts_with("a=candidate:"));
        }
    }
}
