//! The data channel: the media request, renegotiation over the channel, pings.

use super::*;

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
