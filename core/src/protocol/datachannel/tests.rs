use super::*;
use crate::protocol::crypto::Password;
use crate::protocol::message::SdpKind;
use serde_json::json;

fn enc() -> RoomCrypto {
    RoomCrypto::new(&Password::Default, "vdo.ninja")
}

fn both() -> [RoomCrypto; 2] {
    [enc(), RoomCrypto::disabled()]
}

fn round_trip(msg: ChannelMessage) {
    for crypto in both() {
        let text = encode_channel(&msg, &crypto);
        assert_eq!(decode_channel(&text, &crypto).unwrap(), msg, "{text}");
    }
}

#[test]
fn simple_messages_round_trip() {
    round_trip(ChannelMessage::Keyframe);
    round_trip(ChannelMessage::Bye);
    round_trip(ChannelMessage::Ping(json!(1_700_000_000_000_u64)));
    round_trip(ChannelMessage::Pong(json!("t")));
    round_trip(ChannelMessage::VideoMuted(true));
    round_trip(ChannelMessage::AudioMuted(false));
    round_trip(ChannelMessage::Info(
        json!({"label": "Alice", "version": 25}),
    ));
    round_trip(ChannelMessage::MiniInfo(json!({"fr": 30})));
    round_trip(ChannelMessage::Bitrate {
        video_kbps: Some(2500),
        audio_kbps: None,
    });
    round_trip(ChannelMessage::Bitrate {
        video_kbps: Some(2500),
        audio_kbps: Some(128),
    });
    round_trip(ChannelMessage::RequestResolution {
        w: 1280,
        h: 720,
        s: Some(true),
        c: None,
    });
    round_trip(ChannelMessage::Unknown(json!({"scene": "1"})));
}

#[test]
fn media_request_matches_the_web_client() {
    let req = MediaRequest {
        prefer_video_codec: Some("vp9".into()),
        ..MediaRequest::default()
    };
    let text = encode_channel(&ChannelMessage::MediaRequest(req.clone()), &enc());
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v,
        json!({"audio":true,"video":true,"downloads":false,"allowmidi":false,"allowdrawing":false,
               "iframe":false,"widget":false,"broadcast":false,"allowwebp":false,
               "allowscreenaudio":true,"allowscreenvideo":true,"allowchunked":false,
               "preferVideoCodec":"vp9"})
    );
    round_trip(ChannelMessage::MediaRequest(req));
    round_trip(ChannelMessage::MediaRequest(MediaRequest {
        audio: false,
        video: true,
        prefer_video_codec: Some("h264".into()),
        prefer_audio_codec: Some("opus".into()),
    }));
    // Raspberry Ninja's single-view form.
    let rn = decode_channel(r#"{"audio":true,"video":false,"UUID":"x"}"#, &enc()).unwrap();
    assert_eq!(
        rn,
        ChannelMessage::MediaRequest(MediaRequest {
            audio: true,
            video: false,
            prefer_video_codec: None,
            prefer_audio_codec: None
        })
    );
}

#[test]
fn description_and_candidates_over_the_channel() {
    let desc = SessionDescription {
        kind: SdpKind::Offer,
        sdp: "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n".into(),
    };
    round_trip(ChannelMessage::Description {
        desc: desc.clone(),
        session: Some("s1".into()),
        stream_id: Some("cam1808d64".into()),
    });
    round_trip(ChannelMessage::Candidates {
        candidates: vec![IceCandidateInit::new(
            "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host",
            0,
        )],
        session: Some("s1".into()),
        origin: Some(CandidateOrigin::Remote),
    });
    // Encrypted on the wire.
    let text = encode_channel(
        &ChannelMessage::Description {
            desc,
            session: None,
            stream_id: None,
        },
        &enc(),
    );
    let v: Value = serde_json::from_str(&text).unwrap();
    assert!(v["description"].is_string());
    assert!(v["vector"].is_string());
}

#[test]
fn precedence_when_keys_collide() {
    let crypto = RoomCrypto::disabled();
    let both = json!({
        "description": {"type": "answer", "sdp": "x"},
        "candidates": [{"candidate": "c", "sdpMLineIndex": 0}],
        "audio": true, "video": true, "bye": true
    })
    .to_string();
    assert!(matches!(
        decode_channel(&both, &crypto).unwrap(),
        ChannelMessage::Description { .. }
    ));
    let cands = json!({
        "candidates": [{"candidate": "c", "sdpMLineIndex": 0}],
        "audio": true, "video": true
    })
    .to_string();
    assert!(matches!(
        decode_channel(&cands, &crypto).unwrap(),
        ChannelMessage::Candidates { .. }
    ));
    let media = json!({"audio": true, "video": true, "bye": true, "bitrate": 100}).to_string();
    assert!(matches!(
        decode_channel(&media, &crypto).unwrap(),
        ChannelMessage::MediaRequest(_)
    ));
    // `{"video":false}` alone is not a media request.
    assert!(matches!(
        decode_channel(r#"{"video":false}"#, &crypto).unwrap(),
        ChannelMessage::Unknown(_)
    ));
}

#[test]
fn lenient_numbers_and_aliases() {
    let crypto = enc();
    assert_eq!(
        decode_channel(
            r#"{"requestResolution":{"w":1279.6,"h":720,"s":true,"c":false}}"#,
            &crypto
        )
        .unwrap(),
        ChannelMessage::RequestResolution {
            w: 1280,
            h: 720,
            s: Some(true),
            c: Some(false)
        }
    );
    assert_eq!(
        decode_channel(r#"{"targetBitrate":800,"targetAudioBitrate":64}"#, &crypto).unwrap(),
        ChannelMessage::Bitrate {
            video_kbps: Some(800),
            audio_kbps: Some(64)
        }
    );
    assert!(matches!(
        decode_channel(r#"{"bitrate":-5}"#, &crypto).unwrap(),
        ChannelMessage::Unknown(_)
    ));
    assert!(matches!(
        decode_channel(r#"{"requestResolution":{"w":"big"}}"#, &crypto).unwrap(),
        ChannelMessage::Unknown(_)
    ));
    assert_eq!(
        decode_channel(r#"{"audioMuted":true}"#, &crypto).unwrap(),
        ChannelMessage::AudioMuted(true)
    );
}

#[test]
fn info_labels() {
    let info = json!({"info": {"label": "  Alice\u{7}  ", "muted": false}});
    assert_eq!(info_label(&info).as_deref(), Some("Alice"));
    assert_eq!(info_label(&info["info"]).as_deref(), Some("Alice"));
    assert_eq!(info_label(&json!({"label": false})), None);
    assert_eq!(info_label(&json!({"label": "   "})), None);
    assert_eq!(info_label(&json!([1, 2])), None);
    let long = "é".repeat(500);
    assert_eq!(
        info_label(&json!({"label": long})).map(|l| l.chars().count()),
        Some(MAX_LABEL_CHARS)
    );
    let msg = decode_channel(&info.to_string(), &enc()).unwrap();
    assert_eq!(msg.label().as_deref(), Some("Alice"));
    assert_eq!(ChannelMessage::Bye.label(), None);
}

#[test]
fn garbage_is_an_error() {
    let crypto = enc();
    assert!(decode_channel("", &crypto).is_err());
    assert!(decode_channel("[]", &crypto).is_err());
    assert!(decode_channel("\"ping\"", &crypto).is_err());
    assert!(decode_channel(r#"{"description":"abcd"}"#, &crypto).is_err());
    assert!(decode_channel(r#"{"candidates":"zz","vector":"00"}"#, &crypto).is_err());
    let deep = format!("{}{}", "{\"a\":".repeat(40_000), "}".repeat(40_000));
    assert!(matches!(
        decode_channel(&deep, &crypto),
        Err(DecodeError::InvalidJson(_))
    ));
    let huge = format!("{{\"x\":\"{}\"}}", "a".repeat(MAX_CHANNEL_MESSAGE_CHARS));
    assert!(matches!(
        decode_channel(&huge, &crypto),
        Err(DecodeError::TooLarge { .. })
    ));
}
