//! The room engine against real webrtcbin peers: `roomtape serve`, synthetic publishers and the
//! headless recorder, on loopback only.

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;

const CONNECT: Duration = Duration::from_secs(20);

fn connected_ids(recorder: &mut Proc) -> Vec<String> {
    recorder
        .events()
        .iter()
        .filter(|e| e["event"] == "connection" && e["state"] == "connected")
        .filter_map(|e| e["id"].as_str().map(str::to_owned))
        .collect()
}

/// Waits until `stream` has joined, connected and sent both audio and video.
fn wait_flowing(recorder: &mut Proc, stream: &str) -> String {
    let joined = recorder
        .wait_event(CONNECT, |e| {
            e["event"] == "joined" && e["stream_id"] == stream
        })
        .unwrap_or_else(|| panic!("{stream} never joined: {:#?}", recorder.seen));
    let id = joined["id"].as_str().expect("id").to_owned();
    let id_ref = id.clone();
    recorder
        .wait_event(CONNECT, |e| {
            e["event"] == "connection" && e["state"] == "connected" && e["id"] == id_ref.as_str()
        })
        .unwrap_or_else(|| panic!("{stream} never connected"));
    for kind in ["video", "audio"] {
        let id_ref = id.clone();
        recorder
            .wait_event(CONNECT, |e| {
                e["event"] == "media_flowing" && e["kind"] == kind && e["id"] == id_ref.as_str()
            })
            .unwrap_or_else(|| panic!("{stream}: no {kind} RTP"));
    }
    let id_ref = id.clone();
    let pair = recorder
        .wait_event(CONNECT, |e| {
            e["event"] == "selected_pair" && e["id"] == id_ref.as_str()
        })
        .unwrap_or_else(|| panic!("{stream}: no selected pair"));
    assert_eq!(pair["pair"]["local_kind"], "host");
    assert!(
        pair["pair"]["remote_address"]
            .as_str()
            .unwrap_or("")
            .starts_with("127.0.0.1:")
    );
    id
}

/// One publisher already in the room, two joining after the recorder.
fn three_publishers(dialect: &str, password: &str, codec: &str) {
    let _serial = serial();
    let (_server, url) = serve(dialect);
    let room = format!("room-{dialect}-{codec}");
    let _early = publish(&url, &room, "early", password, &["--codec", codec]);
    std::thread::sleep(Duration::from_millis(800));
    let mut recorder = record(&url, &room, password, &["--no-record"]);
    recorder
        .wait_event(CONNECT, |e| e["event"] == "signaling_connected")
        .expect("recorder connects to the server");
    let _late1 = publish(&url, &room, "late1", password, &["--codec", codec]);
    let _late2 = publish(
        &url,
        &room,
        "late2",
        password,
        &["--codec", codec, "--label", "Late Two"],
    );
    let mut ids = Vec::new();
    for stream in ["early", "late1", "late2"] {
        ids.push(wait_flowing(&mut recorder, stream));
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "three distinct participants");
    let label = recorder.wait_event(CONNECT, |e| {
        e["event"] == "label" && e["label"] == "Late Two"
    });
    assert!(label.is_some(), "the label arrives over the data channel");
    // No candidate was parked or refused on loopback.
    let rejected: Vec<Value> = recorder
        .events()
        .into_iter()
        .filter(|e| e["event"] == "candidate" && e["accepted"] == false)
        .collect();
    assert!(rejected.is_empty(), "rejected candidates: {rejected:#?}");
    assert!(
        recorder.stop(Duration::from_secs(20)),
        "recorder exits cleanly"
    );
}

#[test]
fn official_dialect_no_password_vp8() {
    three_publishers("official", "false", "vp8");
}

#[test]
fn official_dialect_default_password_h264() {
    three_publishers("official", "", "h264");
}

#[test]
fn relay_dialect_custom_password_vp8() {
    three_publishers("relay", "s3cret", "vp8");
}

#[test]
fn relay_dialect_no_password_h264() {
    three_publishers("relay", "false", "h264");
}

#[test]
fn a_publisher_that_quits_is_marked_left_and_reconnects_with_a_new_session() {
    let _serial = serial();
    let (_server, url) = serve("official");
    let mut recorder = record(&url, "churn", "false", &["--no-record"]);
    recorder
        .wait_event(CONNECT, |e| e["event"] == "signaling_connected")
        .expect("connects");
    let first = publish(&url, "churn", "carol", "false", &[]);
    let id = wait_flowing(&mut recorder, "carol");
    let first_session = recorder
        .events()
        .iter()
        .find(|e| e["event"] == "joined" && e["id"] == id.as_str())
        .and_then(|e| e["session"].as_str().map(str::to_owned))
        .expect("session");
    // Killed without a goodbye: the watchdogs (pong, RTP) or the server's cleanup notice it.
    first.kill9();
    let left = recorder.wait_event(Duration::from_secs(40), |e| {
        e["event"] == "left" && e["session"] == first_session.as_str()
    });
    assert!(
        left.is_some(),
        "a vanished publisher is marked left within the watchdog time"
    );
    let _again = publish(&url, "churn", "carol", "false", &[]);
    let joined = recorder
        .wait_event(CONNECT, |e| {
            e["event"] == "joined"
                && e["stream_id"] == "carol"
                && e["session"] != first_session.as_str()
        })
        .expect("the returning publisher joins with a new session");
    let new_id = joined["id"].as_str().unwrap().to_owned();
    recorder
        .wait_event(CONNECT, |e| {
            e["event"] == "connection" && e["state"] == "connected" && e["id"] == new_id.as_str()
        })
        .expect("and connects again");
    assert!(connected_ids(&mut recorder).len() >= 2);
}

#[test]
fn missing_candidates_are_explained_not_silent() {
    let _serial = serial();
    let (_server, url) = serve("official");
    let mut recorder = record(&url, "nocands", "false", &["--no-record"]);
    recorder
        .wait_event(CONNECT, |e| e["event"] == "signaling_connected")
        .expect("connects");
    let _mute = publish(&url, "nocands", "dave", "false", &["--drop-candidates"]);
    let watchdog = recorder
        .wait_event(Duration::from_secs(30), |e| {
            e["event"] == "watchdog" && e["problem"] == "no_remote_candidates"
        })
        .expect("the no-remote-candidates state is reported");
    assert!(
        watchdog["explanation"]
            .as_str()
            .unwrap_or("")
            .contains("candidates")
    );
}
