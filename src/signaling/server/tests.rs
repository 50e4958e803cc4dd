use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::Dialect;
use super::flood::{Admission, FloodGuard};
use super::router::{ConnId, Outgoing, Router, STREAM_IN_USE};

fn parse(out: &Outgoing) -> Value {
    serde_json::from_str(&out.text).unwrap()
}

fn uuid_of(router: &Router, conn: ConnId) -> String {
    router.members[&conn].id.clone().unwrap()
}

#[test]
fn dialect_names_round_trip() {
    for dialect in [Dialect::Official, Dialect::Relay] {
        assert_eq!(dialect.to_string().parse::<Dialect>(), Ok(dialect));
    }
    assert_eq!(" Relay ".parse::<Dialect>(), Ok(Dialect::Relay));
    let err = "vdo".parse::<Dialect>().unwrap_err();
    assert!(err.to_string().contains("official"));
}

#[test]
fn uuids_are_v4_and_distinct() {
    let mut router = Router::new(Dialect::Official);
    router.add(1);
    router.add(2);
    let (a, b) = (uuid_of(&router, 1), uuid_of(&router, 2));
    assert_ne!(a, b);
    assert_eq!(a.len(), 36);
    assert_eq!(&a[14..15], "4");
}

#[test]
fn official_join_listing_and_announcements() {
    let mut r = Router::new(Dialect::Official);
    for conn in 1..=3 {
        r.add(conn);
    }
    let out = r.handle(1, r#"{"request":"joinroom","roomid":"r","streamID":"s1"}"#);
    assert_eq!(out.len(), 1);
    assert_eq!(parse(&out[0]), json!({"request":"listing","list":[]}));

    let out = r.handle(2, r#"{"request":"joinroom","roomid":"r"}"#);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].to, 2);
    assert_eq!(
        parse(&out[0]),
        json!({"request":"listing","list":[{"UUID":uuid_of(&r,1),"streamID":"s1"}]})
    );
    assert_eq!(out[1].to, 1);
    assert_eq!(
        parse(&out[1]),
        json!({"request":"someonejoined","UUID":uuid_of(&r,2)})
    );

    // Same stream id in the same room is refused; another room may use it.
    let out = r.handle(3, r#"{"request":"joinroom","roomid":"r","streamID":"s1"}"#);
    assert_eq!(
        parse(&out[0]),
        json!({"request":"alert","message":STREAM_IN_USE})
    );
    assert!(r.members[&3].stream_id.is_none());
    let out = r.handle(
        3,
        r#"{"request":"joinroom","roomid":"other","streamID":"s1"}"#,
    );
    // cleanup to room r (1 and 2), then the listing of "other".
    assert_eq!(
        out.iter()
            .filter(|o| parse(o)["request"] == "cleanup")
            .count(),
        2
    );
    assert_eq!(r.members[&3].stream_id.as_deref(), Some("s1"));
}

#[test]
fn official_play_targets_the_seeder_in_the_room() {
    let mut r = Router::new(Dialect::Official);
    for conn in 1..=3 {
        r.add(conn);
    }
    r.handle(1, r#"{"request":"joinroom","roomid":"a"}"#);
    r.handle(2, r#"{"request":"joinroom","roomid":"a"}"#);
    r.handle(3, r#"{"request":"joinroom","roomid":"b","streamID":"cam"}"#);
    let out = r.handle(1, r#"{"request":"seed","streamID":"cam"}"#);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].to, 2);
    let out = r.handle(2, r#"{"request":"play","streamID":"cam"}"#);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].to, 1);
    assert_eq!(
        parse(&out[0]),
        json!({"request":"offerSDP","UUID":uuid_of(&r,2)})
    );
    // A player outside any room finds publishers in every room.
    r.add(4);
    let out = r.handle(4, r#"{"request":"play","streamID":"cam","UUID":"ignored"}"#);
    assert_eq!(out.len(), 1);
    assert!(out[0].to == 1 || out[0].to == 3);
    assert_eq!(parse(&out[0])["UUID"], json!(uuid_of(&r, 4)));
    // Unknown streams are reported to the player.
    let out = r.handle(2, r#"{"request":"play","streamID":"nope"}"#);
    assert_eq!(
        (out[0].to, parse(&out[0])["request"].clone()),
        (2, json!("alert"))
    );
}

#[test]
fn official_forward_rewrites_uuid_and_keeps_fields() {
    let mut r = Router::new(Dialect::Official);
    r.add(1);
    r.add(2);
    let target = uuid_of(&r, 2);
    let frame =
        json!({"UUID": target, "session": "s", "description": {"type":"offer","sdp":"v=0"}});
    let out = r.handle(1, &frame.to_string());
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].to, 2);
    assert_eq!(
        parse(&out[0]),
        json!({"UUID": uuid_of(&r,1), "session": "s", "description": {"type":"offer","sdp":"v=0"}})
    );
    assert!(r.handle(1, r#"{"UUID":"nobody","x":1}"#).is_empty());
    assert!(r.handle(1, r#"{"hello":"world"}"#).is_empty());
}

#[test]
fn malformed_input_gets_error_replies() {
    for dialect in [Dialect::Official, Dialect::Relay] {
        let mut r = Router::new(dialect);
        r.add(1);
        for bad in ["{", "[1,2]", "42", "\"x\"", "null", ""] {
            let out = r.handle(1, bad);
            assert_eq!(out.len(), 1, "{dialect} {bad:?}");
            assert_eq!(out[0].to, 1);
            let reply = parse(&out[0]);
            assert!(reply.get("error").is_some() || reply["request"] == "error");
        }
    }
}

#[test]
fn relay_identity_and_filters() {
    let mut r = Router::new(Dialect::Relay);
    for conn in 1..=4 {
        r.add(conn);
    }
    assert_eq!(
        parse(&r.handle(1, r#"{"request":"joinroom","roomid":"r"}"#)[0]),
        json!({"error":"missing from"})
    );
    assert!(
        r.handle(
            1,
            r#"{"from":"a","request":"joinroom","roomid":"r","streamID":"sa"}"#
        )
        .is_empty()
    );
    let join_b = r#"{"from":"b","request":"joinroom","roomid":"r"}"#;
    let out = r.handle(2, join_b);
    assert_eq!(
        out,
        vec![Outgoing {
            to: 1,
            text: join_b.into()
        }]
    );
    assert!(
        r.handle(
            3,
            r#"{"from":"c","request":"joinroom","roomid":"q","streamID":"sc"}"#
        )
        .is_empty()
    );
    assert_eq!(
        parse(&r.handle(4, r#"{"from":"a"}"#)[0]),
        json!({"error":"uuid already in use"})
    );
    assert_eq!(
        parse(&r.handle(2, r#"{"from":"z"}"#)[0]),
        json!({"error":"from does not match this connection"})
    );
    // play reaches only the publisher of the stream, and only within the room.
    let out = r.handle(2, r#"{"from":"b","request":"play","streamID":"sa"}"#);
    assert_eq!(out.iter().map(|o| o.to).collect::<Vec<_>>(), vec![1]);
    assert!(
        r.handle(2, r#"{"from":"b","request":"play","streamID":"sc"}"#)
            .is_empty()
    );
    assert!(r.handle(2, r#"{"from":"b","request":"play"}"#).is_empty());
    // UUID targeting.
    assert!(r.handle(1, r#"{"from":"a","UUID":"c","x":1}"#).is_empty());
    assert_eq!(r.handle(1, r#"{"from":"a","UUID":"b","x":1}"#)[0].to, 2);
    // sid rules.
    assert_eq!(
        parse(&r.handle(1, r#"{"from":"a","request":"seed","streamID":"other"}"#)[0]),
        json!({"error":"can't change sid"})
    );
    assert_eq!(
        parse(&r.handle(2, r#"{"from":"b","request":"seed","streamID":"sa"}"#)[0]),
        json!({"error":"sid already in use"})
    );
    // Disconnect notice goes to the room only.
    let out = r.remove(1);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].to, 2);
    assert_eq!(parse(&out[0]), json!({"type":"disconnect","uuid":"a"}));
    // A connection that never identified itself leaves silently.
    assert!(r.remove(4).is_empty());
}

#[test]
fn relay_roomless_clients_only_reach_roomless_clients() {
    let mut r = Router::new(Dialect::Relay);
    for conn in 1..=3 {
        r.add(conn);
    }
    r.handle(1, r#"{"from":"a"}"#);
    r.handle(2, r#"{"from":"b","request":"joinroom","roomid":"r"}"#);
    let out = r.handle(3, r#"{"from":"c","hello":1}"#);
    assert_eq!(out.iter().map(|o| o.to).collect::<Vec<_>>(), vec![1]);
}

#[test]
fn flood_guard_allows_bursts_then_drops_then_disconnects() {
    let start = Instant::now();
    let mut guard = FloodGuard::new(start);
    for _ in 0..400 {
        assert_eq!(guard.admit(start), Admission::Accept);
    }
    assert_eq!(
        guard.admit(start),
        Admission::Drop {
            first_in_window: true
        }
    );
    assert_eq!(
        guard.admit(start),
        Admission::Drop {
            first_in_window: false
        }
    );
    // A steady 200/s is fine after the bucket refills.
    let mut now = start + Duration::from_secs(3);
    for _ in 0..1000 {
        now += Duration::from_millis(5);
        assert_eq!(guard.admit(now), Admission::Accept);
    }
    // 1000 frames/s for several seconds ends in a disconnect.
    let mut verdict = Admission::Accept;
    for _ in 0..10_000 {
        now += Duration::from_millis(1);
        verdict = guard.admit(now);
        if verdict == Admission::Disconnect {
            break;
        }
    }
    assert_eq!(verdict, Admission::Disconnect);
    assert!(now - start < Duration::from_secs(20));
}
