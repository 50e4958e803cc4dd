use super::*;
use crate::protocol::crypto::{Password, RoomCrypto};
use serde_json::json;

fn enc() -> RoomCrypto {
    RoomCrypto::new(&Password::Default, "vdo.ninja")
}

fn clear() -> RoomCrypto {
    RoomCrypto::disabled()
}

fn both() -> [RoomCrypto; 2] {
    [enc(), clear()]
}

fn obj(text: &str) -> Map<String, Value> {
    match serde_json::from_str(text).unwrap() {
        Value::Object(m) => m,
        _ => panic!("not an object"),
    }
}

const SDP: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n";

fn sample_candidates() -> Vec<IceCandidateInit> {
    vec![
        IceCandidateInit::new("candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host", 0),
        IceCandidateInit {
            candidate: "candidate:2 1 udp 1686052607 203.0.113.5 50001 typ srflx raddr 10.0.0.2 rport 50001".into(),
            sdp_m_line_index: Some(1),
            sdp_mid: Some("1".into()),
            username_fragment: Some("uf".into()),
        },
    ]
}

#[test]
fn frame_limits() {
    assert!(!frame_too_large(35_000, true, true));
    assert!(frame_too_large(35_001, true, true));
    assert!(frame_too_large(10_001, true, false));
    assert!(!frame_too_large(10_000, true, false));
    assert!(frame_too_large(25_001, false, true));
    assert!(!frame_too_large(25_000, false, false));
}

#[test]
fn description_round_trip_both_modes() {
    let desc = SessionDescription {
        kind: SdpKind::Offer,
        sdp: SDP.into(),
    };
    for crypto in both() {
        let text = encode_description(
            &desc,
            &Route::to("viewer1")
                .session("sess12345")
                .stream_id("cam1808d64")
                .from("me")
                .roomid("01081e4801f6d08a"),
            &crypto,
        );
        let raw = obj(&text);
        assert_eq!(raw.contains_key("vector"), crypto.is_enabled());
        assert_eq!(raw["description"].is_string(), crypto.is_enabled());
        let env = decode(&text, &crypto).unwrap();
        assert_eq!(env.body, Body::Description(desc.clone()));
        assert_eq!(env.uuid.as_deref(), Some("viewer1"));
        assert_eq!(env.session.as_deref(), Some("sess12345"));
        assert_eq!(env.stream_id.as_deref(), Some("cam1808d64"));
        assert_eq!(env.from.as_deref(), Some("me"));
        assert_eq!(env.roomid.as_deref(), Some("01081e4801f6d08a"));
        assert!(env.extra.is_empty(), "{:?}", env.extra);
    }
}

#[test]
fn answer_in_raspberry_ninja_shape() {
    let text =
        json!({"description": {"type": "answer", "sdp": SDP}, "UUID": "pub1", "session": "s1"})
            .to_string();
    let env = decode(&text, &enc()).unwrap();
    assert_eq!(
        env.body,
        Body::Description(SessionDescription {
            kind: SdpKind::Answer,
            sdp: SDP.into()
        })
    );
    assert_eq!(env.sender(), Some("pub1"));
}

#[test]
fn candidates_round_trip_both_modes() {
    for crypto in both() {
        for origin in [CandidateOrigin::Local, CandidateOrigin::Remote] {
            let text = encode_candidates(
                &sample_candidates(),
                origin,
                &Route::to("pub1").session("s1"),
                &crypto,
            );
            let env = decode(&text, &crypto).unwrap();
            assert_eq!(
                env.body,
                Body::Candidates {
                    candidates: sample_candidates(),
                    origin: Some(origin)
                }
            );
            assert!(env.extra.is_empty());
            assert_eq!(obj(&text)["type"], origin.as_str());
        }
    }
}

#[test]
fn decrypts_the_worked_example_bundle() {
    let text = json!({
        "candidates": "109e7a489e0d78ea12498367a1921ba866d319f34c081192dcfb37ade22e19c889f4f5c70a127077d8de6854cd603a54a5fb9152c894ede33a6d20a161343bcfc20f00df4d5238fa82c2a4ebe91efbebaeefc6ae9469d3d2a89600e885aad210",
        "vector": "000102030405060708090a0b0c0d0e0f",
        "UUID": "abc", "session": "s", "type": "local"
    })
    .to_string();
    let env = decode(&text, &enc()).unwrap();
    assert_eq!(
        env.body,
        Body::Candidates {
            candidates: vec![IceCandidateInit::new(
                "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host",
                0
            )],
            origin: Some(CandidateOrigin::Local)
        }
    );
}

#[test]
fn single_candidate_forms() {
    let line = "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host";
    let expected = vec![IceCandidateInit {
        candidate: line.into(),
        sdp_m_line_index: Some(0),
        sdp_mid: Some("0".into()),
        username_fragment: None,
    }];
    // Flat form (Raspberry Ninja's unencrypted shape).
    let flat = json!({"candidate": line, "sdpMLineIndex": 0, "sdpMid": "0", "UUID": "p", "type": "remote"}).to_string();
    let env = decode(&flat, &enc()).unwrap();
    assert_eq!(
        env.body,
        Body::Candidates {
            candidates: expected.clone(),
            origin: Some(CandidateOrigin::Remote)
        }
    );
    assert!(env.extra.is_empty(), "{:?}", env.extra);
    // Nested form, clear.
    let nested =
        json!({"candidate": {"candidate": line, "sdpMLineIndex": 0, "sdpMid": "0"}, "UUID": "p"})
            .to_string();
    let env = decode(&nested, &clear()).unwrap();
    assert_eq!(
        env.body,
        Body::Candidates {
            candidates: expected.clone(),
            origin: None
        }
    );
    // Nested form, encrypted.
    let crypto = enc();
    let plain = json!({"candidate": line, "sdpMLineIndex": 0, "sdpMid": "0"}).to_string();
    let (cipher, iv) = crypto.encrypt(&plain).unwrap();
    let encrypted =
        json!({"candidate": cipher, "vector": iv, "UUID": "p", "session": "s"}).to_string();
    let env = decode(&encrypted, &crypto).unwrap();
    assert_eq!(
        env.body,
        Body::Candidates {
            candidates: expected,
            origin: None
        }
    );
    assert!(env.extra.is_empty());
}

#[test]
fn end_of_candidates_is_kept_and_flagged() {
    let text =
        json!({"candidates": [{"candidate": "", "sdpMLineIndex": 0}], "UUID": "p"}).to_string();
    let env = decode(&text, &clear()).unwrap();
    let Body::Candidates { candidates, .. } = env.body else {
        panic!("expected candidates");
    };
    assert!(candidates[0].is_end_of_candidates());
}

#[test]
fn official_dialect_requests() {
    let crypto = enc();
    let listing = r#"{"request":"listing","list":[{"UUID":"u1","streamID":"cam1808d64"},{"UUID":"u2"}],"director":"u9","claim":false}"#;
    let env = decode(listing, &crypto).unwrap();
    assert_eq!(
        env.body,
        Body::Request(ServerRequest::Listing {
            members: vec![
                ListingMember {
                    uuid: "u1".into(),
                    stream_id: Some("cam1808d64".into())
                },
                ListingMember {
                    uuid: "u2".into(),
                    stream_id: None
                },
            ],
            director: Some("u9".into())
        })
    );
    assert_eq!(env.extra.get("claim"), Some(&Value::Bool(false)));

    let cases = [
        (
            r#"{"request":"offerSDP","UUID":"v1"}"#,
            ServerRequest::OfferSdp { uuid: "v1".into() },
        ),
        (
            r#"{"request":"someonejoined","UUID":"u3","streamID":"cam2808d64","director":true}"#,
            ServerRequest::SomeoneJoined {
                uuid: "u3".into(),
                stream_id: Some("cam2808d64".into()),
                director: true,
            },
        ),
        (
            r#"{"request":"someonejoined","UUID":"u4"}"#,
            ServerRequest::SomeoneJoined {
                uuid: "u4".into(),
                stream_id: None,
                director: false,
            },
        ),
        (
            r#"{"request":"videoaddedtoroom","UUID":"u3","streamID":"cam2808d64"}"#,
            ServerRequest::VideoAddedToRoom {
                uuid: "u3".into(),
                stream_id: "cam2808d64".into(),
            },
        ),
        (
            r#"{"request":"transferred","list":[]}"#,
            ServerRequest::Transferred {
                members: vec![],
                director: None,
            },
        ),
        (
            r#"{"request":"alert","message":"Room is full"}"#,
            ServerRequest::Alert {
                message: "Room is full".into(),
            },
        ),
        (
            r#"{"request":"error","message":"Stream ID is already in use.","code":"STREAMID_IN_USE"}"#,
            ServerRequest::Error {
                message: "Stream ID is already in use.".into(),
                code: Some("STREAMID_IN_USE".into()),
            },
        ),
        (
            r#"{"request":"cleanup","UUID":"u3"}"#,
            ServerRequest::Cleanup { uuid: "u3".into() },
        ),
        (r#"{"request":"ping"}"#, ServerRequest::Ping),
        (
            r#"{"request":"migrate","roomid":"r2","target":"u5"}"#,
            ServerRequest::Migrate {
                roomid: Some("r2".into()),
                target: Some("u5".into()),
            },
        ),
        (
            r#"{"request":"somethingNew","x":1}"#,
            ServerRequest::Other("somethingNew".into()),
        ),
    ];
    for (text, expected) in cases {
        let env = decode(text, &crypto).unwrap();
        assert_eq!(env.body, Body::Request(expected.clone()), "{text}");
        // And back through the encoder.
        let again = decode(&encode_request(&expected, &Route::default()), &crypto).unwrap();
        assert_eq!(again.body, Body::Request(expected), "{text}");
    }
}

#[test]
fn client_requests_round_trip_with_and_without_from() {
    let requests = [
        ServerRequest::JoinRoom {
            roomid: "01081e4801f6d08a".into(),
            stream_id: None,
        },
        ServerRequest::JoinRoom {
            roomid: "r".into(),
            stream_id: Some("cam1808d64".into()),
        },
        ServerRequest::Seed {
            stream_id: "cam1808d64".into(),
        },
        ServerRequest::Play {
            stream_id: "cam1808d64".into(),
            uuid: None,
        },
        ServerRequest::Play {
            stream_id: "cam1808d64".into(),
            uuid: Some("u1".into()),
        },
        ServerRequest::Ping,
    ];
    for request in requests {
        for from in [None, Some("12345678")] {
            let text = encode_request(
                &request,
                &Route {
                    from,
                    ..Route::default()
                },
            );
            let env = decode(&text, &enc()).unwrap();
            assert_eq!(env.body, Body::Request(request.clone()));
            assert_eq!(env.from.as_deref(), from);
            assert!(env.extra.is_empty());
        }
    }
    let text = encode_request(
        &ServerRequest::Play {
            stream_id: "cam1808d64".into(),
            uuid: None,
        },
        &Route::default().from("me"),
    );
    assert_eq!(
        obj(&text),
        obj(r#"{"request":"play","streamID":"cam1808d64","from":"me"}"#)
    );
}

#[test]
fn relay_dialect_has_from_on_every_frame() {
    // A newcomer's join broadcast by vdoninja.js, and a relayed offer.
    let join = r#"{"request":"joinroom","roomid":"01081e4801f6d08a","streamID":"cam1808d64","from":"A1b2C3d4E5f6G7h8I9j0"}"#;
    let env = decode(join, &enc()).unwrap();
    assert_eq!(env.sender(), Some("A1b2C3d4E5f6G7h8I9j0"));
    assert_eq!(
        env.body,
        Body::Request(ServerRequest::JoinRoom {
            roomid: "01081e4801f6d08a".into(),
            stream_id: Some("cam1808d64".into())
        })
    );
    let offer = encode_description(
        &SessionDescription {
            kind: SdpKind::Offer,
            sdp: SDP.into(),
        },
        &Route::to("me")
            .session("s1")
            .stream_id("cam1808d64")
            .from("A1b2C3d4E5f6G7h8I9j0")
            .roomid("01081e4801f6d08a"),
        &enc(),
    );
    let env = decode(&offer, &enc()).unwrap();
    assert_eq!(env.sender(), Some("A1b2C3d4E5f6G7h8I9j0"));
    assert_eq!(env.uuid.as_deref(), Some("me"));
    // Numeric ids (random-number puuids) are accepted as text.
    let env = decode(r#"{"bye":true,"from":12345678}"#, &enc()).unwrap();
    assert_eq!(env.from.as_deref(), Some("12345678"));
    assert_eq!(env.body, Body::Bye);
}

#[test]
fn control_frames() {
    let crypto = enc();
    let bye = encode_bye(&Route::to("u1").from("me"));
    let env = decode(&bye, &crypto).unwrap();
    assert_eq!(env.body, Body::Bye);
    assert_eq!(env.uuid.as_deref(), Some("u1"));
    assert_eq!(
        decode(r#"{"hangup":true}"#, &crypto).unwrap().body,
        Body::Hangup
    );
    assert_eq!(
        decode(r#"{"iceRestartRequest":true,"UUID":"x"}"#, &crypto)
            .unwrap()
            .body,
        Body::IceRestartRequest
    );
    assert_eq!(
        decode(r#"{"error":"uuid already in use"}"#, &crypto)
            .unwrap()
            .body,
        Body::ServerError {
            message: "uuid already in use".into()
        }
    );
    let env = decode(r#"{"type":"disconnect","uuid":"x"}"#, &crypto).unwrap();
    assert_eq!(env.body, Body::Unknown);
    assert_eq!(env.extra.len(), 2);
    // `bye:false` is not a bye.
    assert_eq!(
        decode(r#"{"bye":false}"#, &crypto).unwrap().body,
        Body::Unknown
    );
    // RN publishes `session: null`.
    let env = decode(r#"{"bye":true,"session":null}"#, &crypto).unwrap();
    assert_eq!(env.session, None);
}

#[test]
fn generic_encode_round_trip_keeps_extra() {
    let crypto = enc();
    let mut env = Envelope::new(Body::Description(SessionDescription {
        kind: SdpKind::Offer,
        sdp: SDP.into(),
    }));
    env.uuid = Some("u".into());
    env.session = Some("s".into());
    env.stream_id = Some("cam1808d64".into());
    env.extra.insert("isScene".into(), Value::Bool(false));
    let back = decode(&encode(&env, &crypto), &crypto).unwrap();
    assert_eq!(back, env);
    let unknown = Envelope::new(Body::ServerError {
        message: "sid already in use".into(),
    });
    assert_eq!(
        decode(&encode(&unknown, &crypto), &crypto).unwrap(),
        unknown
    );
}

#[test]
fn oversize_frames_are_rejected() {
    let big_sdp = "a".repeat(30_000);
    let desc = SessionDescription {
        kind: SdpKind::Offer,
        sdp: big_sdp,
    };
    // Clear text: 30k > 25k.
    let text = encode_description(&desc, &Route::to("u"), &clear());
    assert!(matches!(
        decode(&text, &clear()),
        Err(DecodeError::TooLarge { limit: 25_000, .. })
    ));
    // Non-SDP frame with password: limit 10k.
    let alert = json!({"request":"alert","message":"x".repeat(12_000)}).to_string();
    assert!(matches!(
        decode(&alert, &enc()),
        Err(DecodeError::TooLarge { limit: 10_000, .. })
    ));
    assert!(decode(&alert, &clear()).is_ok());
    // Anything over 35k is refused before parsing.
    let huge = format!("[{}]", "1,".repeat(40_000));
    assert!(matches!(
        decode(&huge, &enc()),
        Err(DecodeError::TooLarge { limit: 35_000, .. })
    ));
    let e = decode(&huge, &enc()).unwrap_err();
    assert!(e.to_string().contains("exceeds the limit of 35000"), "{e}");
}

#[test]
fn garbage_is_rejected_with_clear_errors() {
    let crypto = enc();
    let cases: [(&str, &str); 14] = [
        ("", "not valid JSON"),
        ("not json", "not valid JSON"),
        ("[1,2]", "JSON an array, expected an object"),
        ("42", "expected an object"),
        (r#"{"request":5}"#, "`request` should be a string"),
        (
            r#"{"UUID":{"a":1}}"#,
            "`UUID` should be a string, found an object",
        ),
        (r#"{"request":"seed"}"#, "`streamID` is missing"),
        (r#"{"request":"offerSDP"}"#, "`UUID` is missing"),
        (
            r#"{"description":{"type":"pranswer","sdp":""}}"#,
            "unsupported description type",
        ),
        (
            r#"{"description":{"sdp":""}}"#,
            "`description.type` is missing",
        ),
        (r#"{"description":"00ff"}"#, "no `vector`"),
        (
            r#"{"candidates":"00ff","vector":"000102030405060708090a0b0c0d0e0f"}"#,
            "cannot decrypt `candidates`",
        ),
        (
            r#"{"candidates":[{"candidate":1}]}"#,
            "`candidates[0].candidate` should be a string",
        ),
        (
            r#"{"candidates":[{"candidate":"c","sdpMLineIndex":-1}]}"#,
            "out of range",
        ),
    ];
    for (text, needle) in cases {
        let err = decode(text, &crypto).unwrap_err();
        assert!(err.to_string().contains(needle), "{text}: {err}");
    }
    // Deep nesting hits serde_json's recursion limit, not the stack.
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    assert!(matches!(
        decode(&deep, &crypto),
        Err(DecodeError::InvalidJson(_))
    ));
    // Encrypted frames without a local password.
    let (cipher, iv) = crypto.encrypt("{}").unwrap();
    let text = json!({"description": cipher, "vector": iv}).to_string();
    let err = decode(&text, &clear()).unwrap_err();
    assert!(
        err.to_string().contains("no password is configured"),
        "{err}"
    );
    // Decrypts fine but is not JSON.
    let (cipher, iv) = crypto.encrypt("not json").unwrap();
    let text = json!({"description": cipher, "vector": iv}).to_string();
    assert!(matches!(
        decode(&text, &crypto),
        Err(DecodeError::DecryptedNotJson { .. })
    ));
    // Decrypts to JSON of the wrong shape.
    let (cipher, iv) = crypto.encrypt("[1]").unwrap();
    let text = json!({"description": cipher, "vector": iv}).to_string();
    assert!(matches!(
        decode(&text, &crypto),
        Err(DecodeError::WrongType { .. })
    ));
}

#[test]
fn wrong_password_is_an_error_not_a_panic() {
    let sender = RoomCrypto::new(&Password::parse("secret"), "vdo.ninja");
    let text = encode_candidates(
        &sample_candidates(),
        CandidateOrigin::Local,
        &Route::to("u"),
        &sender,
    );
    assert!(decode(&text, &enc()).is_err());
}

#[test]
fn long_peer_values_are_not_echoed() {
    let t = "x".repeat(5_000);
    let text = json!({"description": {"type": t, "sdp": ""}}).to_string();
    let err = decode(&text, &clear()).unwrap_err();
    assert!(err.to_string().len() < 100, "{err}");
}
