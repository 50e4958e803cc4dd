//! Unit tests for the room state machine: one test per rule.

use serde_json::{Value, json};

use super::*;
use crate::protocol::crypto::{Password, RoomCrypto};

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

#[test]
fn joins_as_a_pure_viewer() {
    let mut room = room();
    let out = room.on_connected(0);
    let frames = sent(&out);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0]["request"], "joinroom");
    assert_eq!(frames[0]["roomid"], "studio");
    assert_eq!(frames[0]["from"], OWN);
    assert!(
        frames[0].get("streamID").is_none(),
        "a recorder must never announce a stream"
    );
}

#[test]
fn listing_plays_every_publisher_and_only_publishers() {
    let mut room = room();
    room.on_connected(0);
    let out = room.on_frame(
        &json!({"request":"listing","list":[
            {"UUID":"a","streamID":"alice"},{"UUID":"v"},{"UUID":"b","streamID":"bob"}]})
        .to_string(),
        5,
    );
    let plays: Vec<_> = sent(&out)
        .into_iter()
        .filter(|f| f["request"] == "play")
        .collect();
    assert_eq!(plays.len(), 2);
    assert_eq!(plays[0]["streamID"], "alice");
    assert_eq!(plays[0]["UUID"], "a");
    assert_eq!(plays[1]["streamID"], "bob");
}

#[test]
fn later_joiners_are_discovered_from_notifications() {
    let mut room = room();
    room.on_connected(0);
    let out = room.on_frame(
        &json!({"request":"someonejoined","UUID":"c","streamID":"carol"}).to_string(),
        5,
    );
    assert_eq!(sent(&out)[0]["request"], "play");
    let out = room.on_frame(
        &json!({"request":"videoaddedtoroom","UUID":"d","streamID":"dave"}).to_string(),
        6,
    );
    assert_eq!(sent(&out)[0]["streamID"], "dave");
    // A viewer joining (no stream) is nobody to record.
    let out = room.on_frame(
        &json!({"request":"someonejoined","UUID":"e"}).to_string(),
        7,
    );
    assert!(sent(&out).is_empty());
}

#[test]
fn stream_filter_limits_who_is_recorded() {
    let mut room = room_with(RoomConfig::no_crypto(), &["bob"]);
    room.on_connected(0);
    let out = room.on_frame(
        &json!({"request":"listing","list":[{"UUID":"a","streamID":"alice"},{"UUID":"b","streamID":"bob"}]}).to_string(),
        5,
    );
    let plays = sent(&out);
    assert_eq!(plays.len(), 1);
    assert_eq!(plays[0]["streamID"], "bob");
}

#[test]
fn candidates_wait_for_the_description_then_apply_immediately() {
    let mut room = connected_with_offer();
    let out = room.on_frame(
        &json!({"UUID":"pub1","session":"s1","type":"local","candidates":[{"candidate":cand(1),"sdpMLineIndex":0}]}).to_string(),
        30,
    );
    assert!(
        !out.iter()
            .any(|c| matches!(c, Command::AddCandidate { .. })),
        "held before the description"
    );
    let out = room.on_peer_event(&key("pub1", "s1"), PeerEvent::RemoteDescriptionApplied, 40);
    assert_eq!(
        out.iter()
            .filter(|c| matches!(c, Command::AddCandidate { .. }))
            .count(),
        1
    );
    // The single-candidate form is accepted too, and late ones are never parked.
    let out = room.on_frame(
        &json!({"UUID":"pub1","session":"s1","type":"local","candidate":{"candidate":cand(2),"sdpMLineIndex":0,"sdpMid":"0"}}).to_string(),
        50,
    );
    assert!(
        matches!(out.iter().find(|c| matches!(c, Command::AddCandidate { .. })),
        Some(Command::AddCandidate { key: k, .. }) if *k == key("pub1", "s1"))
    );
}

#[test]
fn stale_session_candidates_are_dropped() {
    let mut room = connected_with_offer();
    room.on_peer_event(&key("pub1", "s1"), PeerEvent::RemoteDescriptionApplied, 25);
    let out = room.on_frame(
        &json!({"UUID":"pub1","session":"old","type":"local","candidates":[{"candidate":cand(3),"sdpMLineIndex":0}]}).to_string(),
        30,
    );
    assert!(
        !out.iter()
            .any(|c| matches!(c, Command::AddCandidate { .. }))
    );
    assert!(
        events(&out)
            .iter()
            .any(|e| matches!(e, RoomEvent::Dropped { .. }))
    );
}

#[test]
fn invalid_candidates_are_rejected_and_logged() {
    let mut room = connected_with_offer();
    room.on_peer_event(&key("pub1", "s1"), PeerEvent::RemoteDescriptionApplied, 25);
    let out = room.on_frame(
        &json!({"UUID":"pub1","session":"s1","type":"local","candidates":[
            {"candidate":"end-of-candidates-by-accident","sdpMLineIndex":0},
            {"candidate":"candidate:1 1 udp 1 127.0.0.1 70000 typ host","sdpMLineIndex":0}]})
        .to_string(),
        30,
    );
    assert!(
        !out.iter()
            .any(|c| matches!(c, Command::AddCandidate { .. }))
    );
    let rejected = events(&out)
        .into_iter()
        .filter(|e| matches!(e, RoomEvent::Candidate(entry) if !entry.accepted))
        .count();
    assert_eq!(rejected, 2);
}

#[test]
fn a_new_session_replaces_the_old_peer() {
    let mut room = connected_with_offer();
    let out = room.on_frame(
        &json!({"UUID":"pub1","session":"s2","streamID":"alice","description":{"type":"offer","sdp":SDP}}).to_string(),
        100,
    );
    assert!(out.iter().any(|c| matches!(c, Command::ClosePeer { key: k, reason: LeaveReason::Replaced } if *k == key("pub1", "s1"))));
    assert!(
        out.iter()
            .any(|c| matches!(c, Command::CreatePeer { key: k, .. } if *k == key("pub1", "s2")))
    );
    // Late events from the replaced peer change nothing.
    assert!(
        room.on_peer_event(&key("pub1", "s1"), PeerEvent::ChannelOpen, 110)
            .is_empty()
    );
}

#[test]
fn unsolicited_offers_with_a_stream_id_are_accepted_on_relays() {
    let mut room = room();
    room.on_connected(0);
    let out = room.on_frame(
        &json!({"from":"pubX","UUID":OWN,"session":"s9","streamID":"early","description":{"type":"offer","sdp":SDP}}).to_string(),
        5,
    );
    assert!(
        out.iter()
            .any(|c| matches!(c, Command::CreatePeer { stream_id, .. } if stream_id == "early"))
    );
    let out = room.on_frame(
        &json!({"from":"pubY","UUID":OWN,"session":"s9","description":{"type":"offer","sdp":SDP}})
            .to_string(),
        6,
    );
    assert!(
        !out.iter().any(|c| matches!(c, Command::CreatePeer { .. })),
        "no stream id, no peer"
    );
}

#[test]
fn relay_frames_for_someone_else_are_ignored() {
    let mut room = room();
    room.on_connected(0);
    let out = room.on_frame(
        &json!({"from":"pubX","UUID":"someone-else","session":"s","streamID":"x","description":{"type":"offer","sdp":SDP}}).to_string(),
        5,
    );
    assert!(!out.iter().any(|c| matches!(c, Command::CreatePeer { .. })));
}

#[test]
fn relayed_joins_are_discovery() {
    let mut room = room();
    room.on_connected(0);
    let out = room.on_frame(
        &json!({"request":"joinroom","from":"pubZ","roomid":"studio","streamID":"zed"}).to_string(),
        5,
    );
    let plays = sent(&out);
    assert_eq!(plays[0]["request"], "play");
    assert_eq!(plays[0]["UUID"], "pubZ");
    assert_eq!(plays[0]["from"], OWN);
}

#[test]
fn requests_for_our_stream_are_refused() {
    let mut room = room();
    room.on_connected(0);
    let out = room.on_frame(&json!({"request":"offerSDP","UUID":"v"}).to_string(), 5);
    assert!(sent(&out).is_empty());
    assert!(!out.iter().any(|c| matches!(c, Command::CreatePeer { .. })));
}

#[test]
fn channel_open_asks_for_media_once() {
    let mut room = connected_with_offer();
    let k = key("pub1", "s1");
    let out = room.on_peer_event(&k, PeerEvent::ChannelOpen, 100);
    let messages = channel_sent(&out);
    let request = messages
        .iter()
        .find(|m| m.get("audio").is_some())
        .expect("media request");
    assert_eq!(request["audio"], true);
    assert_eq!(request["video"], true);
    assert_eq!(request["preferVideoCodec"], "h264");
    assert!(messages.iter().any(|m| m.get("bitrate").is_some()));
    let again = room.on_peer_event(&k, PeerEvent::ChannelOpen, 110);
    assert!(
        channel_sent(&again)
            .iter()
            .all(|m| m.get("audio").is_none())
    );
}

#[test]
fn a_media_request_that_brings_nothing_is_repeated_then_the_session_restarted() {
    use super::machine::{MEDIA_REQUEST_RETRIES, MEDIA_REQUEST_RETRY_MS};
    let asks = |out: &[Command]| {
        channel_sent(out)
            .iter()
            .filter(|m| m.get("audio").is_some())
            .count()
    };
    let mut room = connected_with_offer();
    let k = key("pub1", "s1");
    room.on_peer_event(&k, PeerEvent::Connection(ConnectionState::Connected), 50);
    assert_eq!(
        asks(&room.on_peer_event(&k, PeerEvent::ChannelOpen, 100)),
        1
    );
    // Not yet: the publisher is given time to renegotiate.
    assert_eq!(asks(&room.on_tick(100 + MEDIA_REQUEST_RETRY_MS - 1)), 0);
    let mut now = 100;
    for _ in 0..MEDIA_REQUEST_RETRIES {
        now += MEDIA_REQUEST_RETRY_MS;
        assert_eq!(asks(&room.on_tick(now)), 1, "asked again at {now}");
    }
    // Still nothing: the session is given up and the stream asked for again, with a new peer.
    now += MEDIA_REQUEST_RETRY_MS;
    let out = room.on_tick(now);
    assert_eq!(asks(&out), 0, "no more asking on this session");
    assert_eq!(closes(&out), vec![(k.clone(), LeaveReason::Failed)]);
    let out = room.on_tick(now + 5_000);
    assert_eq!(plays(&out).len(), 1, "asked for again: {:?}", sent(&out));

    // Once something flows, the request is never repeated.
    let mut room = flowing();
    assert_eq!(asks(&room.on_tick(60 + 2 * MEDIA_REQUEST_RETRY_MS)), 0);
}

#[test]
fn renegotiation_over_the_channel_is_answered_over_the_channel() {
    let mut room = connected_with_offer();
    let k = key("pub1", "s1");
    room.on_peer_event(&k, PeerEvent::ChannelOpen, 100);
    let offer = json!({"description":{"type":"offer","sdp":SDP},"session":"s1","streamID":"alice"})
        .to_string();
    let out = room.on_peer_event(&k, PeerEvent::ChannelMessage(offer), 200);
    assert!(
        out.iter().any(
            |c| matches!(c, Command::ApplyOffer { key: kk, via: Via::Channel, .. } if *kk == k)
        )
    );
    assert!(
        !out.iter().any(|c| matches!(c, Command::CreatePeer { .. })),
        "same session, same peer"
    );
    let out = room.on_peer_event(&k, PeerEvent::AnswerReady { sdp: SDP.into() }, 210);
    let answers = channel_sent(&out);
    assert_eq!(answers[0]["description"]["type"], "answer");
    assert!(sent(&out).is_empty());
}

#[test]
fn socket_answers_go_to_the_publisher_with_its_session() {
    let mut room = connected_with_offer();
    let out = room.on_peer_event(
        &key("pub1", "s1"),
        PeerEvent::AnswerReady { sdp: SDP.into() },
        30,
    );
    let frames = sent(&out);
    assert_eq!(frames.len(), 1);
    assert_eq!(
        frames[0]["UUID"], "pub1",
        "the answer must be addressed to the publisher"
    );
    assert_eq!(frames[0]["session"], "s1");
    assert_eq!(frames[0]["description"]["type"], "answer");
    let out = room.on_peer_event(
        &key("pub1", "s1"),
        PeerEvent::LocalCandidate {
            mline: 0,
            candidate: cand(9),
        },
        31,
    );
    let frames = sent(&out);
    assert_eq!(frames[0]["UUID"], "pub1");
    assert_eq!(frames[0]["session"], "s1");
    assert_eq!(frames[0]["type"], "remote");
}

#[test]
fn pings_are_answered_and_sent() {
    let mut room = connected_with_offer();
    let k = key("pub1", "s1");
    room.on_peer_event(&k, PeerEvent::ChannelOpen, 100);
    let out = room.on_peer_event(
        &k,
        PeerEvent::ChannelMessage(json!({"ping": 42}).to_string()),
        150,
    );
    assert_eq!(channel_sent(&out)[0]["pong"], 42);
    let out = room.on_tick(100 + machine::PING_EVERY_MS);
    assert!(channel_sent(&out).iter().any(|m| m.get("ping").is_some()));
}

#[test]
fn watchdog_explains_missing_candidates_and_clears() {
    let mut room = connected_with_offer();
    let out = room.on_tick(20 + machine::NO_CANDIDATES_AFTER_MS);
    assert!(events(&out).iter().any(|e| matches!(
        e,
        RoomEvent::Watchdog {
            problem: Problem::NoRemoteCandidates,
            ..
        }
    )));
    // Only once.
    let out = room.on_tick(21 + machine::NO_CANDIDATES_AFTER_MS);
    assert!(
        !events(&out)
            .iter()
            .any(|e| matches!(e, RoomEvent::Watchdog { .. }))
    );
    let out = room.on_frame(
        &json!({"UUID":"pub1","session":"s1","type":"local","candidates":[{"candidate":cand(1),"sdpMLineIndex":0}]}).to_string(),
        30_000,
    );
    assert!(events(&out).iter().any(|e| matches!(
        e,
        RoomEvent::WatchdogCleared {
            problem: Problem::NoRemoteCandidates,
            ..
        }
    )));
}

#[test]
fn silence_on_the_channel_means_vanished_and_asked_again() {
    let mut room = connected_with_offer();
    let k = key("pub1", "s1");
    room.on_peer_event(&k, PeerEvent::Connection(ConnectionState::Connected), 50);
    room.on_peer_event(&k, PeerEvent::ChannelOpen, 100);
    let out = room.on_tick(100 + machine::NO_PONG_AFTER_MS);
    assert!(out.iter().any(|c| matches!(
        c,
        Command::ClosePeer {
            reason: LeaveReason::Vanished,
            ..
        }
    )));
    let later = room.on_tick(100 + machine::NO_PONG_AFTER_MS + machine::REPLAY_AFTER_FAILURE_MS);
    assert!(
        sent(&later).iter().any(|f| f["request"] == "play"),
        "a vanished participant is asked for again"
    );
}

#[test]
fn rtp_silence_is_flagged() {
    let mut room = connected_with_offer();
    let k = key("pub1", "s1");
    room.on_peer_event(&k, PeerEvent::Connection(ConnectionState::Connected), 50);
    room.on_peer_event(&k, PeerEvent::MediaFlowing(MediaKind::Video), 60);
    let out = room.on_tick(60 + machine::NO_RTP_AFTER_MS);
    assert!(events(&out).iter().any(|e| matches!(
        e,
        RoomEvent::Watchdog {
            problem: Problem::NoRtp,
            ..
        }
    )));
    let out = room.on_peer_event(&k, PeerEvent::RtpActivity, 6_000);
    assert!(events(&out).iter().any(|e| matches!(
        e,
        RoomEvent::WatchdogCleared {
            problem: Problem::NoRtp,
            ..
        }
    )));
}

#[test]
fn bye_and_cleanup_end_the_session() {
    let mut room = connected_with_offer();
    let out = room.on_frame(&json!({"UUID":"pub1","bye":true}).to_string(), 50);
    assert!(out.iter().any(|c| matches!(
        c,
        Command::ClosePeer {
            reason: LeaveReason::Left,
            ..
        }
    )));
    let mut room = connected_with_offer();
    let out = room.on_frame(&json!({"request":"cleanup","UUID":"pub1"}).to_string(), 50);
    assert!(out.iter().any(|c| matches!(
        c,
        Command::ClosePeer {
            reason: LeaveReason::Left,
            ..
        }
    )));
    // They come back: a new offer makes a new peer.
    let out = room.on_frame(
        &json!({"UUID":"pub1","session":"s3","streamID":"alice","description":{"type":"offer","sdp":SDP}}).to_string(),
        60,
    );
    assert!(out.iter().any(|c| matches!(c, Command::CreatePeer { .. })));
}

#[test]
fn no_offer_after_play_is_explained_and_retried() {
    let mut room = room();
    room.on_connected(0);
    room.on_frame(
        &json!({"request":"someonejoined","UUID":"c","streamID":"carol"}).to_string(),
        5,
    );
    let out = room.on_tick(5 + machine::NO_OFFER_AFTER_MS);
    assert!(events(&out).iter().any(|e| matches!(
        e,
        RoomEvent::Watchdog {
            problem: Problem::NoOffer,
            ..
        }
    )));
    assert!(sent(&out).iter().any(|f| f["request"] == "play"));
}

#[test]
fn connection_failure_closes_and_retries() {
    let mut room = connected_with_offer();
    let out = room.on_peer_event(
        &key("pub1", "s1"),
        PeerEvent::Connection(ConnectionState::Failed),
        50,
    );
    assert!(out.iter().any(|c| matches!(
        c,
        Command::ClosePeer {
            reason: LeaveReason::Failed,
            ..
        }
    )));
    let out = room.on_tick(50 + machine::REPLAY_AFTER_FAILURE_MS);
    assert!(sent(&out).iter().any(|f| f["request"] == "play"));
}

#[test]
fn reconnecting_re_joins_and_re_requests_missing_streams() {
    let mut room = room();
    room.on_connected(0);
    room.on_frame(
        &json!({"request":"listing","list":[{"UUID":"a","streamID":"alice"}]}).to_string(),
        5,
    );
    room.on_disconnected(10, "gone");
    let out = room.on_connected(20);
    let frames = sent(&out);
    assert_eq!(frames[0]["request"], "joinroom");
    assert!(
        frames
            .iter()
            .any(|f| f["request"] == "play" && f["streamID"] == "alice")
    );
}

#[test]
fn encrypted_rooms_hash_ids_and_decrypt_payloads() {
    let crypto = RoomCrypto::new(&Password::Default, "vdo.ninja");
    let mut room = room_with(crypto.clone(), &["cam1"]);
    let out = room.on_connected(0);
    assert_eq!(sent(&out)[0]["roomid"], crypto.wire_room("studio"));
    let out = room.on_frame(
        &json!({"request":"listing","list":[{"UUID":"p","streamID":"cam1808d64"}]}).to_string(),
        5,
    );
    assert_eq!(sent(&out)[0]["streamID"], "cam1808d64");
    let offer = crate::protocol::message::encode_description(
        &crate::protocol::message::SessionDescription {
            kind: crate::protocol::message::SdpKind::Offer,
            sdp: SDP.into(),
        },
        &crate::protocol::message::Route::to("p")
            .session("s1")
            .stream_id("cam1808d64"),
        &crypto,
    );
    assert!(offer.contains("vector"));
    let out = room.on_frame(&offer, 10);
    assert!(
        out.iter()
            .any(|c| matches!(c, Command::ApplyOffer { sdp, .. } if sdp == SDP))
    );
    assert!(
        events(&out)
            .iter()
            .any(|e| matches!(e, RoomEvent::Joined { stream_id, .. } if stream_id == "cam1"))
    );
    // A payload encrypted with another password is dropped with a reason, not a crash.
    let wrong = RoomCrypto::new(&Password::Custom("other".into()), "vdo.ninja");
    let bad = crate::protocol::message::encode_candidates(
        &[crate::protocol::message::IceCandidateInit::new(cand(5), 0)],
        crate::protocol::message::CandidateOrigin::Local,
        &crate::protocol::message::Route::to("p").session("s1"),
        &wrong,
    );
    let out = room.on_frame(&bad, 20);
    assert!(
        events(&out)
            .iter()
            .any(|e| matches!(e, RoomEvent::Dropped { .. }))
    );
}

#[test]
fn garbage_frames_are_dropped_with_a_reason() {
    let mut room = room();
    room.on_connected(0);
    for frame in [
        "",
        "not json",
        "[1,2]",
        "{\"description\":5}",
        &"x".repeat(100_000),
    ] {
        let out = room.on_frame(frame, 5);
        assert!(
            events(&out)
                .iter()
                .all(|e| matches!(e, RoomEvent::Dropped { .. }))
        );
        assert!(!out.iter().any(|c| matches!(c, Command::CreatePeer { .. })));
    }
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

#[test]
fn a_restarted_server_does_not_make_a_second_peer_for_a_live_stream() {
    let mut room = flowing();
    room.on_disconnected(1_000, "server gone");
    room.on_connected(2_000);
    // The restarted server knows the same publisher under a new id.
    let out = room.on_frame(
        &json!({"request":"listing","list":[{"UUID":"pub9","streamID":"alice"}]}).to_string(),
        2_100,
    );
    assert!(plays(&out).is_empty(), "no second request: {out:?}");
    assert!(closes(&out).is_empty());
    // A leave notice for the new id is not the peer's word: the peer goes on until it says
    // goodbye itself or goes silent.
    let out = room.on_frame(
        &json!({"request":"cleanup","UUID":"pub9"}).to_string(),
        3_000,
    );
    assert!(closes(&out).is_empty(), "{out:?}");
}

/// Anyone in the room can announce an id for someone else's stream and then leave; that must
/// never end the other participant's recording (official dialect: the server rewrites `UUID`
/// to the sender, relay dialect: a forged listing).
#[test]
fn a_third_party_cannot_end_another_participants_session() {
    let mut room = flowing();
    let k = key("pub1", "s1");
    room.on_peer_event(&k, PeerEvent::RtpActivity, 1_000);
    for (t, claim, leave) in [
        (
            1_100,
            json!({"request":"videoaddedtoroom","UUID":"mallory","streamID":"alice"}),
            json!({"request":"cleanup","UUID":"mallory"}),
        ),
        (
            1_300,
            json!({"request":"listing","list":[{"UUID":"mallory2","streamID":"alice"}]}),
            json!({"bye":true,"UUID":"mallory2"}),
        ),
    ] {
        let out = room.on_frame(&claim.to_string(), t);
        assert!(plays(&out).is_empty(), "{out:?}");
        let out = room.on_frame(&leave.to_string(), t + 50);
        assert!(closes(&out).is_empty(), "{leave}: {out:?}");
    }
    // The real peer's own goodbye still ends it.
    let out = room.on_frame(&json!({"bye":true,"UUID":"pub1"}).to_string(), 2_000);
    assert_eq!(closes(&out), [(k, LeaveReason::Left)]);
}

#[test]
fn a_vanished_participant_known_by_a_new_id_is_asked_for_under_that_id() {
    let mut room = flowing();
    room.on_disconnected(1_000, "server gone");
    room.on_connected(2_000);
    room.on_frame(
        &json!({"request":"listing","list":[{"UUID":"pub9","streamID":"alice"}]}).to_string(),
        2_100,
    );
    // No RTP and no pong for NO_SIGN_OF_LIFE_AFTER_MS: gone, long before NO_PONG_AFTER_MS.
    let at = 100 + machine::NO_SIGN_OF_LIFE_AFTER_MS;
    assert!(at < machine::NO_PONG_AFTER_MS);
    let out = room.on_tick(at);
    assert_eq!(closes(&out), [(key("pub1", "s1"), LeaveReason::Vanished)]);
    let asked = plays(&out);
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!(asked[0]["UUID"], "pub9");
}

#[test]
fn media_keeps_a_silent_channel_alive_until_the_pong_limit() {
    let mut room = flowing();
    let k = key("pub1", "s1");
    for t in (350..machine::NO_PONG_AFTER_MS).step_by(250) {
        room.on_peer_event(&k, PeerEvent::RtpActivity, t);
        assert!(closes(&room.on_tick(t)).is_empty(), "closed at {t}");
    }
    let out = room.on_tick(60 + machine::NO_PONG_AFTER_MS);
    assert_eq!(closes(&out), [(k, LeaveReason::Vanished)]);
}

#[test]
fn an_old_id_of_a_stream_is_never_asked_for_once_a_new_one_appears() {
    let mut room = flowing();
    let out = room.on_tick(100 + machine::NO_SIGN_OF_LIFE_AFTER_MS);
    assert_eq!(closes(&out).len(), 1);
    // The publisher comes back under a new id before the replay is due.
    let out = room.on_frame(
        &json!({"request":"someonejoined","UUID":"pub2","streamID":"alice"}).to_string(),
        16_000,
    );
    assert_eq!(plays(&out).len(), 1);
    // Servers route `play` by stream id: asking for pub1 again would reach pub2 and replace it.
    for t in (16_250..60_000).step_by(250) {
        let out = room.on_tick(t);
        assert!(
            plays(&out).iter().all(|f| f["UUID"] != "pub1"),
            "asked for the old id at {t}"
        );
    }
}

#[test]
fn bad_sdp_never_builds_a_peer_nor_closes_a_working_one() {
    let mut room = flowing();
    for sdp in ["garbage", "", "v=0\r\n", "v=0\r\n\0m=video 9 RTP 96\r\n"] {
        for session in ["s1", "s2"] {
            let out = room.on_frame(
                &json!({"UUID":"pub1","session":session,"streamID":"alice","description":{"type":"offer","sdp":sdp}}).to_string(),
                200,
            );
            assert!(
                !out.iter().any(|c| matches!(
                    c,
                    Command::CreatePeer { .. }
                        | Command::ApplyOffer { .. }
                        | Command::ClosePeer { .. }
                )),
                "{sdp:?}: {out:?}"
            );
            assert!(events(&out).iter().any(|e| matches!(
                e,
                RoomEvent::Dropped { reason, .. } if reason.to_string().starts_with("offer refused")
            )));
        }
    }
    let many = format!("v=0\r\n{}", "m=video 9 RTP 96\r\n".repeat(17));
    assert!(machine::precheck_sdp(&many).is_err());
    assert!(machine::precheck_sdp(&"v=0\r\nm=x\r\n".repeat(10_000)).is_err());
    assert!(machine::precheck_sdp(SDP).is_ok());
}

#[test]
fn a_refused_offer_starts_a_cooldown() {
    let mut room = connected_with_offer();
    let out = room.on_peer_event(
        &key("pub1", "s1"),
        PeerEvent::NegotiationFailed("offer rejected".into()),
        100,
    );
    assert_eq!(closes(&out), [(key("pub1", "s1"), LeaveReason::Rejected)]);
    let offer = |session: &str| {
        json!({"UUID":"pub1","session":session,"streamID":"alice","description":{"type":"offer","sdp":SDP}}).to_string()
    };
    let out = room.on_frame(&offer("s2"), 5_000);
    assert!(!out.iter().any(|c| matches!(c, Command::CreatePeer { .. })));
    let out = room.on_frame(&offer("s3"), 100 + machine::REJECTED_COOLDOWN_MS);
    assert!(out.iter().any(|c| matches!(c, Command::CreatePeer { .. })));
}

#[test]
fn ten_thousand_hostile_frames_take_well_under_a_second() {
    let mut room = flowing();
    let frames: Vec<String> = (0..10_000)
        .map(|i| match i % 5 {
            0 => json!({"UUID":"pub1","session":format!("x{i}"),"streamID":"alice","description":{"type":"offer","sdp":"garbage"}}).to_string(),
            1 => json!({"UUID":"pub1","session":"s1","candidates":[{"candidate":format!("candidate:{i} 1 udp 1 127.0.0.1 {} typ host", 1024 + i),"sdpMLineIndex":0}]}).to_string(),
            2 => "{".repeat(i % 300),
            3 => json!({"UUID":"evil","description":"00ff","vector":"0011"}).to_string(),
            _ => json!({"request":"someonejoined","UUID":format!("evil{i}")}).to_string(),
        })
        .collect();
    let started = std::time::Instant::now();
    let mut commands = 0usize;
    for (i, frame) in frames.iter().enumerate() {
        let out = room.on_frame(frame, 200 + i as u64 / 10);
        assert!(
            !out.iter()
                .any(|c| matches!(c, Command::CreatePeer { .. } | Command::ClosePeer { .. }))
        );
        commands += out.len();
    }
    let elapsed = started.elapsed();
    eprintln!("FIGURE room: 10000 hostile frames in {elapsed:?}, {commands} commands");
    assert!(elapsed < std::time::Duration::from_secs(1), "{elapsed:?}");
}

#[test]
fn participants_who_left_are_forgotten_and_can_come_back() {
    let mut room = flowing();
    let out = room.on_frame(
        &json!({"request":"cleanup","UUID":"pub1"}).to_string(),
        1_000,
    );
    assert_eq!(closes(&out), [(key("pub1", "s1"), LeaveReason::Left)]);
    assert!(room.health("pub1").is_none());
    room.on_tick(1_000 + machine::FORGET_LEFT_AFTER_MS - 1);
    assert_eq!(
        room.participant_count(),
        1,
        "kept for a while after leaving"
    );
    room.on_tick(1_000 + machine::FORGET_LEFT_AFTER_MS);
    assert_eq!(room.participant_count(), 0, "then forgotten");
    // A thousand short visits leave nothing behind.
    for i in 0..1_000u64 {
        let t = 100_000 + i * 1_000;
        let id = format!("v{i}");
        room.on_frame(
            &json!({"request":"someonejoined","UUID":id,"streamID":"visitor"}).to_string(),
            t,
        );
        room.on_frame(
            &json!({"UUID":id,"session":"s","streamID":"visitor","description":{"type":"offer","sdp":SDP}}).to_string(),
            t + 10,
        );
        room.on_frame(&json!({"request":"cleanup","UUID":id}).to_string(), t + 500);
        room.on_tick(t + 600);
    }
    assert!(
        room.participant_count() <= 62,
        "{} participants remembered",
        room.participant_count()
    );
    // Forgotten participants come back like new ones.
    let out = room.on_frame(
        &json!({"UUID":"pub1","session":"s9","streamID":"alice","description":{"type":"offer","sdp":SDP}}).to_string(),
        2_000_000,
    );
    assert!(out.iter().any(|c| matches!(c, Command::CreatePeer { .. })));
}

/// A publisher whose process dies sends nothing more: no RTP, no pong. It is stalled after
/// NO_RTP_AFTER_MS, gone within 10 s, and then asked for again without a misleading
/// "no offer" explanation while its browser stays gone.
#[test]
fn a_dead_publisher_is_stalled_then_gone_within_ten_seconds_and_asked_again_quietly() {
    let mut room = flowing();
    let k = key("pub1", "s1");
    // Alive until 1 s: media, and every ping answered.
    let mut t = 100;
    while t <= 1_000 {
        room.on_peer_event(&k, PeerEvent::RtpActivity, t);
        for frame in channel_sent(&room.on_tick(t)) {
            if let Some(ping) = frame.get("ping") {
                let pong = json!({ "pong": ping }).to_string();
                room.on_peer_event(&k, PeerEvent::ChannelMessage(pong), t);
            }
        }
        t += 250;
    }
    let died_at = 1_000;
    let mut stalled_at = None;
    let mut gone_at = None;
    let mut no_offer_raised = false;
    while t <= died_at + 30_000 {
        let out = room.on_tick(t);
        for event in events(&out) {
            match event {
                RoomEvent::Watchdog {
                    problem: Problem::NoRtp,
                    ..
                } => stalled_at = stalled_at.or(Some(t)),
                RoomEvent::Watchdog {
                    problem: Problem::NoOffer,
                    ..
                } => no_offer_raised = true,
                _ => {}
            }
        }
        if closes(&out) == [(k.clone(), LeaveReason::Vanished)] {
            gone_at = gone_at.or(Some(t));
        }
        t += 250;
    }
    let stalled_after = stalled_at.expect("shown as stalled") - died_at;
    let gone_after = gone_at.expect("shown as gone") - died_at;
    assert!(stalled_after <= 5_000, "stalled after {stalled_after} ms");
    assert!(gone_after <= 10_000, "gone after {gone_after} ms");
    assert!(stalled_after < gone_after);
    assert!(
        !no_offer_raised,
        "a participant who is gone is asked again quietly"
    );
}

/// After a relay restart someone else may register our id first ("uuid already in use"): we
/// join again under a new id, once per IDENTITY_CHANGE_EVERY_MS at most.
#[test]
fn a_taken_id_is_replaced_and_the_room_joined_again() {
    let mut room = room();
    let first = sent(&room.on_connected(0));
    let old_id = first[0]["from"]
        .as_str()
        .expect("joinroom carries from")
        .to_owned();
    let out = room.on_frame(&json!({"error":"uuid already in use"}).to_string(), 100);
    let joins: Vec<Value> = sent(&out)
        .into_iter()
        .filter(|f| f["request"] == "joinroom")
        .collect();
    assert_eq!(joins.len(), 1, "{out:?}");
    let new_id = joins[0]["from"].as_str().expect("from").to_owned();
    assert_ne!(new_id, old_id);
    assert_eq!(new_id.len(), 20);
    // A second (perhaps forged) refusal right away changes nothing.
    let out = room.on_frame(&json!({"error":"uuid already in use"}).to_string(), 200);
    assert!(sent(&out).is_empty(), "{out:?}");
    let later = room.on_frame(
        &json!({"error":"uuid already in use"}).to_string(),
        200 + machine::IDENTITY_CHANGE_EVERY_MS,
    );
    assert_eq!(sent(&later).len(), 1);
}

/// Thousands of listings of made-up members neither flood the server with `play` requests nor
/// grow the room without bound.
#[test]
fn fake_listings_cannot_make_the_recorder_flood_the_server() {
    let mut room = room();
    room.on_connected(0);
    let mut plays = 0usize;
    let mut t = 0;
    for round in 0..3_000u64 {
        t = 10 + round * 10; // 3,000 listings in 30 s
        let list: Vec<Value> = (0..200)
            .map(|i| json!({"UUID": format!("fake{round}-{i}"), "streamID": format!("s{round}-{i}")}))
            .collect();
        let out = room.on_frame(&json!({"request":"listing","list":list}).to_string(), t);
        plays += sent(&out).iter().filter(|f| f["request"] == "play").count();
        if round % 25 == 0 {
            plays += sent(&room.on_tick(t))
                .iter()
                .filter(|f| f["request"] == "play")
                .count();
        }
    }
    let seconds = t / 1000 + 1;
    let bound = (machine::PLAY_BURST + machine::PLAYS_PER_SECOND * seconds) as usize;
    assert!(
        plays <= bound,
        "{plays} play requests in {seconds} s (bound {bound})"
    );
    assert!(plays > 0);
    // A real publisher that offers on its own is still taken.
    let out = room.on_frame(
        &json!({"UUID":"real","session":"r1","streamID":"bob","description":{"type":"offer","sdp":SDP}}).to_string(),
        t + 10,
    );
    assert!(
        out.iter().any(|c| matches!(c, Command::CreatePeer { .. })),
        "{out:?}"
    );
}

/// A process stopped for 45 s (SIGSTOP) comes back to a 45 s gap: that is not 45 s of
/// silence from the participants. They are pinged first and only given up if they then stay
/// silent.
#[test]
fn a_time_jump_is_not_silence() {
    let mut room = flowing();
    let k = key("pub1", "s1");
    let mut t = 100;
    while t <= 1_000 {
        room.on_peer_event(&k, PeerEvent::RtpActivity, t);
        room.on_tick(t);
        t += 250;
    }
    let resumed = 46_000;
    room.on_resumed(resumed);
    let out = room.on_tick(resumed);
    assert!(closes(&out).is_empty(), "not given up on resuming: {out:?}");
    assert!(
        channel_sent(&out).iter().any(|m| m.get("ping").is_some()),
        "pinged at once: {out:?}"
    );
    // They answer and media flows again: they stay.
    let pong = json!({"pong": resumed}).to_string();
    room.on_peer_event(&k, PeerEvent::ChannelMessage(pong), resumed + 50);
    for t in (resumed + 250..resumed + 20_000).step_by(250) {
        room.on_peer_event(&k, PeerEvent::RtpActivity, t);
        for frame in channel_sent(&room.on_tick(t)) {
            if let Some(ping) = frame.get("ping") {
                let pong = json!({ "pong": ping }).to_string();
                room.on_peer_event(&k, PeerEvent::ChannelMessage(pong), t);
            }
        }
        assert!(closes(&room.on_tick(t)).is_empty(), "closed at {t}");
    }
}
