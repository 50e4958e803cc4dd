//! Silence turned into problems, leaving, asking again, forgetting, and pauses of this process.

use super::*;

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
