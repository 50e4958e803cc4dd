//! Frames from the server and the room: discovery, routing by participant and session,
//! candidates, answers, reconnecting, encrypted rooms.

use super::*;

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
