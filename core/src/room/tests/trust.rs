//! What strangers can and cannot make the room do: garbage, forged notices, server restarts,
//! hostile offers, floods.

use super::*;

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
