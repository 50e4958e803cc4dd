//! Property tests for the wire-protocol layer: every decoder must turn arbitrary input into
//! a value or an error, never a panic, and the encoders must round-trip through the
//! decoders with and without encryption.

use proptest::prelude::*;
use roomtape_core::protocol::{
    Body, CandidateOrigin, ChannelMessage, IceCandidateInit, Password, RoomCrypto, Route, SdpKind,
    SessionDescription, decode, decode_channel, encode_candidates, encode_channel,
    encode_description, parse_candidate,
};
use serde_json::{Map, Value};

fn cryptos() -> [RoomCrypto; 3] {
    [
        RoomCrypto::new(&Password::Default, "vdo.ninja"),
        RoomCrypto::new(&Password::parse("secret"), "example.com"),
        RoomCrypto::disabled(),
    ]
}

/// Key names the decoders look at, so generated objects hit the interesting paths.
const KEYS: &[&str] = &[
    "request",
    "description",
    "candidate",
    "candidates",
    "vector",
    "UUID",
    "from",
    "session",
    "streamID",
    "roomid",
    "type",
    "sdp",
    "sdpMLineIndex",
    "sdpMid",
    "usernameFragment",
    "list",
    "director",
    "message",
    "code",
    "bye",
    "hangup",
    "iceRestartRequest",
    "error",
    "audio",
    "video",
    "info",
    "miniInfo",
    "label",
    "ping",
    "pong",
    "keyframe",
    "bitrate",
    "audioBitrate",
    "requestResolution",
    "w",
    "h",
    "videoMuted",
    "muteState",
    "preferVideoCodec",
];

const REQUESTS: &[&str] = &[
    "joinroom",
    "seed",
    "play",
    "listing",
    "transferred",
    "offerSDP",
    "someonejoined",
    "videoaddedtoroom",
    "alert",
    "error",
    "cleanup",
    "ping",
    "migrate",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(KEYS).prop_map(str::to_owned),
        1 => "[a-zA-Z]{1,8}",
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u32>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
        prop::sample::select(REQUESTS).prop_map(|s| Value::String(s.to_owned())),
        prop::sample::select(&["offer", "answer", "local", "remote", "pranswer"][..])
            .prop_map(|s| Value::String(s.to_owned())),
        "[0-9a-f]{0,64}".prop_map(Value::String),
        Just(Value::String(
            "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host".into()
        )),
    ]
}

/// Arbitrary JSON, biased towards objects with the protocol's key names.
fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn json_object() -> impl Strategy<Value = Value> {
    prop::collection::vec((key(), json_value()), 0..8)
        .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>()))
}

fn candidate_init() -> impl Strategy<Value = IceCandidateInit> {
    (
        ".{0,80}",
        prop::option::of(any::<u32>()),
        prop::option::of("[a-z0-9]{0,4}"),
        prop::option::of("[a-zA-Z0-9+/]{0,8}"),
    )
        .prop_map(
            |(candidate, sdp_m_line_index, sdp_mid, username_fragment)| IceCandidateInit {
                candidate,
                sdp_m_line_index,
                sdp_mid,
                username_fragment,
            },
        )
}

fn exercise_all(text: &str) {
    for crypto in cryptos() {
        let _ = decode(text, &crypto);
        let _ = decode_channel(text, &crypto);
    }
    let _ = parse_candidate(text);
}

proptest! {
    #[test]
    fn decoders_survive_arbitrary_strings(text in ".{0,300}") {
        exercise_all(&text);
    }

    #[test]
    fn decoders_survive_arbitrary_bytes_as_text(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        exercise_all(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn decoders_survive_arbitrary_json(value in json_value()) {
        exercise_all(&value.to_string());
    }

    #[test]
    fn decoders_survive_protocol_shaped_objects(value in json_object()) {
        exercise_all(&value.to_string());
    }

    #[test]
    fn decoders_survive_random_ciphertext(
        field in prop::sample::select(&["description", "candidate", "candidates"][..]),
        cipher in "[0-9a-fA-F]{0,160}",
        vector in "[0-9a-fA-F]{0,40}",
        uuid in prop::option::of("[a-z0-9]{1,10}"),
    ) {
        let mut map = Map::new();
        map.insert(field.to_owned(), Value::String(cipher));
        map.insert("vector".to_owned(), Value::String(vector));
        if let Some(uuid) = uuid {
            map.insert("UUID".to_owned(), Value::String(uuid));
        }
        let text = Value::Object(map).to_string();
        for crypto in cryptos() {
            let _ = decode(&text, &crypto);
            let _ = decode_channel(&text, &crypto);
        }
    }

    #[test]
    fn decoders_survive_encrypted_garbage(plain in ".{0,120}", field in prop::sample::select(&["description", "candidate", "candidates"][..])) {
        // Valid encryption of arbitrary (often non-JSON) plaintext: the decrypted text is
        // as untrusted as anything else.
        let crypto = RoomCrypto::new(&Password::Default, "vdo.ninja");
        if let Some((cipher, iv)) = crypto.encrypt(&plain) {
            let text = serde_json::json!({ field: cipher, "vector": iv }).to_string();
            let _ = decode(&text, &crypto);
            let _ = decode_channel(&text, &crypto);
        }
    }

    #[test]
    fn candidate_parser_survives_near_misses(
        prefix in prop::sample::select(&["candidate:", "a=candidate:", "candidate: ", ""][..]),
        fields in prop::collection::vec(
            prop_oneof![
                "[0-9]{1,12}".boxed(),
                prop::sample::select(&["udp", "tcp", "typ", "host", "srflx", "relay", "prflx", "raddr", "rport", "tcptype", "x.local"][..]).prop_map(str::to_owned).boxed(),
                ".{0,6}".boxed(),
            ],
            0..14,
        ),
    ) {
        let line = format!("{prefix}{}", fields.join(" "));
        if let Ok(c) = parse_candidate(&line) {
            prop_assert!(c.port != 0);
            prop_assert!(!c.address.is_empty());
            prop_assert!(line.len() <= 1024);
        }
    }

    #[test]
    fn candidates_round_trip(
        candidates in prop::collection::vec(candidate_init(), 0..5),
        remote in any::<bool>(),
        uuid in prop::option::of("[a-zA-Z0-9]{1,20}"),
        session in prop::option::of("[a-zA-Z0-9]{1,10}"),
    ) {
        let origin = if remote { CandidateOrigin::Remote } else { CandidateOrigin::Local };
        for crypto in cryptos() {
            let text = encode_candidates(&candidates, origin, &Route { to: uuid.as_deref(), session: session.as_deref(), ..Route::default() }, &crypto);
            let env = decode(&text, &crypto).unwrap();
            prop_assert_eq!(&env.body, &Body::Candidates { candidates: candidates.clone(), origin: Some(origin) });
            prop_assert_eq!(&env.uuid, &uuid);
            prop_assert_eq!(&env.session, &session);

            let msg = ChannelMessage::Candidates { candidates: candidates.clone(), session: session.clone(), origin: Some(origin) };
            prop_assert_eq!(decode_channel(&encode_channel(&msg, &crypto), &crypto).unwrap(), msg);
        }
    }

    #[test]
    fn descriptions_round_trip(
        offer in any::<bool>(),
        sdp in ".{0,400}",
        from in prop::option::of("[0-9]{8,11}"),
        stream_id in prop::option::of("[a-zA-Z0-9_]{1,50}"),
    ) {
        let desc = SessionDescription { kind: if offer { SdpKind::Offer } else { SdpKind::Answer }, sdp };
        for crypto in cryptos() {
            let wire_id = stream_id.as_deref().map(|id| crypto.wire_stream_id(id));
            let text = encode_description(&desc, &Route { to: Some("peer"), session: Some("sess"), stream_id: wire_id.as_deref(), from: from.as_deref(), ..Route::default() }, &crypto);
            let env = decode(&text, &crypto).unwrap();
            prop_assert_eq!(&env.body, &Body::Description(desc.clone()));
            prop_assert_eq!(&env.from, &from);
            prop_assert_eq!(
                env.stream_id.as_deref().map(|w| crypto.strip_stream_id(w)),
                stream_id.as_deref().map(|id| if crypto.is_enabled() {
                    id.chars().take(44).collect::<String>()
                } else {
                    id.to_owned()
                })
            );

            let msg = ChannelMessage::Description { desc: desc.clone(), session: Some("sess".into()), stream_id: wire_id.clone() };
            prop_assert_eq!(decode_channel(&encode_channel(&msg, &crypto), &crypto).unwrap(), msg);
        }
    }

    #[test]
    fn encryption_round_trips(plain in ".{0,200}", password in "[ -~]{0,20}", salt in "[a-z.]{0,20}") {
        let crypto = RoomCrypto::new(&Password::parse(&password), &salt);
        match crypto.encrypt(&plain) {
            Some((cipher, iv)) => prop_assert_eq!(crypto.decrypt(&cipher, &iv).unwrap(), plain),
            None => prop_assert!(!crypto.is_enabled()),
        }
    }
}
