//! Recording against real webrtcbin publishers on loopback, checked with GStreamer's
//! discoverer and a demuxing frame count.

// Tests print what they measured; the harness captures it.
#![allow(clippy::print_stdout)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use serde_json::Value;

const CONNECT: Duration = Duration::from_secs(20);

fn segments(manifest: &Value, stream: &str) -> Vec<Value> {
    manifest["participants"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["stream_id"] == stream)
        .and_then(|p| p["segments"].as_array().cloned())
        .unwrap_or_default()
}

/// Waits for the next participant's video to flow (events are consumed as they are matched).
fn wait_video(recorder: &mut Proc, what: &str) {
    let flowing = recorder.take_event(CONNECT, |e| {
        e["event"] == "media_flowing" && e["kind"] == "video"
    });
    if flowing.is_none() {
        let seen: Vec<&String> = recorder
            .seen
            .iter()
            .filter(|l| !l.contains("\"candidate\""))
            .collect();
        panic!("no video from {what}; the recorder said: {seen:#?}");
    }
}

#[test]
fn three_participants_are_recorded_without_transcoding() {
    let _serial = serial();
    let out = temp_dir("three");
    let (_server, url) = serve("official");
    let mut recorder = record(&url, "rec3", "false", &["--output", out.to_str().unwrap()]);
    recorder
        .wait_event(CONNECT, |e| e["event"] == "signaling_connected")
        .expect("connects");
    let mut alice = publish(
        &url,
        "rec3",
        "alice",
        "false",
        &["--codec", "vp8", "--duration", "11"],
    );
    let mut bob = publish(
        &url,
        "rec3",
        "bob",
        "false",
        &["--codec", "h264", "--duration", "11"],
    );
    let mut carol = publish(
        &url,
        "rec3",
        "carol",
        "false",
        &["--codec", "vp8", "--mute-audio", "--duration", "11"],
    );
    for stream in ["alice", "bob", "carol"] {
        recorder
            .wait_event(CONNECT, |e| {
                e["event"] == "joined" && e["stream_id"] == stream
            })
            .unwrap_or_else(|| panic!("{stream} joined"));
    }
    // Publishers leave on their own after their duration; each leave finalises a file.
    let mut sent = Vec::new();
    for (name, publisher) in [
        ("alice", &mut alice),
        ("bob", &mut bob),
        ("carol", &mut carol),
    ] {
        assert!(publisher.wait_exit(Duration::from_secs(30)), "{name} exits");
        sent.push((name, frames_sent(publisher)));
    }
    for _ in 0..3 {
        recorder
            .take_event(Duration::from_secs(20), |e| {
                e["event"] == "segment_finished" && e["ok"] == true
            })
            .expect("every segment is finalised when its participant leaves");
    }
    assert!(
        recorder.stop(Duration::from_secs(20)),
        "recorder exits with 0"
    );
    let session = session_dir(&out);
    let manifest = manifest(&session);
    assert_eq!(manifest["state"], "finished");
    for (name, (video_sent, audio_sent)) in sent {
        let segs = segments(&manifest, name);
        assert_eq!(segs.len(), 1, "{name}: one segment");
        let file = session.join(segs[0]["file"].as_str().expect("file name"));
        let report = inspect(&file);
        eprintln!("{name}: sent {video_sent} video / {audio_sent} audio frames; {report:?}");
        let expected_video = if name == "bob" {
            "video/x-h264"
        } else {
            "video/x-vp8"
        };
        assert_eq!(
            report.video_codec.as_deref(),
            Some(expected_video),
            "{name}: codec kept"
        );
        if name == "carol" {
            assert_eq!(
                report.audio_codec, None,
                "{name}: a muted mic gives no audio track"
            );
        } else {
            assert_eq!(
                report.audio_codec.as_deref(),
                Some("audio/x-opus"),
                "{name}: opus kept"
            );
        }
        assert_eq!(
            report.first_video_is_key,
            Some(true),
            "{name}: starts on a key frame"
        );
        assert!(video_sent > 200, "{name}: the publisher sent video");
        let ratio = report.video_frames as f64 / video_sent as f64;
        assert!(
            ratio >= 0.99,
            "{name}: recorded {} of {video_sent} frames",
            report.video_frames
        );
        let sent_seconds = video_sent as f64 / 30.0;
        assert!(
            (report.duration_s - sent_seconds).abs() <= 0.5,
            "{name}: {}s recorded vs {sent_seconds}s sent",
            report.duration_s
        );
        assert_eq!((report.width, report.height), (640, 360));
        assert!(
            segs[0]["track_files"]
                .as_array()
                .is_some_and(|t| t.is_empty()),
            "track files removed after the merge"
        );
        assert_eq!(segs[0]["end_reason"], "left");
    }
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_participant_who_leaves_and_returns_gets_a_second_segment() {
    let _serial = serial();
    let out = temp_dir("rejoin");
    let (_server, url) = serve("relay");
    let mut recorder = record(&url, "back", "false", &["--output", out.to_str().unwrap()]);
    recorder
        .wait_event(CONNECT, |e| e["event"] == "signaling_connected")
        .expect("connects");
    for round in 0..2 {
        let mut dora = publish(&url, "back", "dora", "false", &["--label", "Dora"]);
        // She leaves when told, after her media flowed: a --duration could run out before the
        // media starts on a loaded machine.
        wait_video(&mut recorder, "dora");
        std::thread::sleep(Duration::from_secs(3));
        dora.terminate();
        assert!(
            dora.wait_exit(Duration::from_secs(20)),
            "round {round}: publisher exits"
        );
        recorder
            .wait_event(Duration::from_secs(20), |e| {
                e["event"] == "segment_finished"
            })
            .expect("segment finalised on leave");
        recorder
            .seen
            .retain(|l| !l.contains("segment_finished") && !l.contains("media_flowing"));
    }
    assert!(recorder.stop(Duration::from_secs(20)));
    let session = session_dir(&out);
    let segs = segments(&manifest(&session), "dora");
    assert_eq!(segs.len(), 2, "two segments: {segs:#?}");
    let first = segs[0]["start_offset_ns"].as_u64().unwrap();
    let second = segs[1]["start_offset_ns"].as_u64().unwrap();
    assert!(
        second > first + 3_000_000_000,
        "the second segment starts later"
    );
    for seg in &segs {
        let file = session.join(seg["file"].as_str().unwrap());
        let report = inspect(&file);
        assert!(
            report.duration_s > 2.0,
            "{} plays ({report:?})",
            file.display()
        );
    }
    assert_ne!(segs[0]["file"], segs[1]["file"]);
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_killed_recorder_leaves_playable_files_and_a_manifest() {
    let _serial = serial();
    let out = temp_dir("kill");
    let (_server, url) = serve("official");
    let mut recorder = record(&url, "crash", "false", &["--output", out.to_str().unwrap()]);
    recorder
        .wait_event(CONNECT, |e| e["event"] == "signaling_connected")
        .expect("connects");
    let _erin = publish(&url, "crash", "erin", "false", &["--codec", "h264"]);
    let _finn = publish(&url, "crash", "finn", "false", &[]);
    for _ in 0..2 {
        wait_video(&mut recorder, "a publisher");
        recorder.seen.retain(|l| !l.contains("\"video\""));
    }
    std::thread::sleep(Duration::from_secs(5));
    recorder.kill9();
    assert!(!recorder.wait_exit(Duration::from_secs(5)));
    let session = session_dir(&out);
    let manifest = manifest(&session);
    assert_eq!(
        manifest["state"], "recording",
        "a crashed session is recognisable"
    );
    for name in ["erin", "finn"] {
        let segs = segments(&manifest, name);
        assert_eq!(segs.len(), 1, "{name} listed");
        let tracks = segs[0]["track_files"]
            .as_array()
            .expect("track files listed");
        assert!(!tracks.is_empty());
        for track in tracks {
            let path = session.join(track.as_str().unwrap());
            let report = inspect(&path);
            assert!(
                report.duration_s > 3.0,
                "{}: plays up to the kill ({report:?})",
                path.display()
            );
        }
    }
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn hostile_labels_make_safe_file_names() {
    let _serial = serial();
    let out = temp_dir("hostile");
    let (_server, url) = serve("official");
    let mut recorder = record(&url, "evil", "false", &["--output", out.to_str().unwrap()]);
    recorder
        .wait_event(CONNECT, |e| e["event"] == "signaling_connected")
        .expect("connects");
    let long = format!("{}\u{7}\u{202e}🎙️{}", "A".repeat(2500), "b".repeat(2500));
    let mut p1 = publish(
        &url,
        "evil",
        "p1",
        "false",
        &["--label", "../../etc/passwd"],
    );
    let mut p2 = publish(&url, "evil", "p2", "false", &["--label", &long]);
    wait_video(&mut recorder, "p1 or p2");
    wait_video(&mut recorder, "p2 or p1");
    std::thread::sleep(Duration::from_secs(2));
    p1.terminate();
    p2.terminate();
    assert!(p1.wait_exit(Duration::from_secs(30)));
    assert!(p2.wait_exit(Duration::from_secs(30)));
    for _ in 0..2 {
        recorder
            .wait_event(Duration::from_secs(20), |e| {
                e["event"] == "segment_finished"
            })
            .expect("segment finalised");
        recorder.seen.retain(|l| !l.contains("segment_finished"));
    }
    assert!(recorder.stop(Duration::from_secs(20)));
    let session = session_dir(&out);
    // Nothing escaped the session folder.
    let outside: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .filter_map(|e| e.ok())
        .collect();
    assert_eq!(
        outside.len(),
        1,
        "only the session folder in the output folder"
    );
    let names: Vec<String> = std::fs::read_dir(&session)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    assert_eq!(names.len(), 3, "manifest + two recordings: {names:?}");
    for name in &names {
        assert!(
            !name.contains('/') && !name.contains("..") && !name.starts_with('.'),
            "{name:?}"
        );
        assert!(name.len() <= 100, "bounded length: {}", name.len());
        assert!(
            !name.chars().any(|c| c.is_control() || c == '\u{202e}'),
            "{name:?}"
        );
        assert!(Path::new(&session).join(name).exists());
    }
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn stopping_ends_every_participant_at_the_same_moment() {
    let _serial = serial();
    let out = temp_dir("together");
    let (_server, url) = serve("official");
    let mut publishers: Vec<Proc> = ["p1", "p2", "p3"]
        .iter()
        .map(|stream| {
            publish(
                &url,
                "together",
                stream,
                "false",
                &["--resolution", "320x180", "--duration", "40"],
            )
        })
        .collect();
    let mut recorder = record(
        &url,
        "together",
        "false",
        &["--output", out.to_str().unwrap()],
    );
    for _ in 0..3 {
        wait_video(&mut recorder, "a publisher");
    }
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        recorder.stop(Duration::from_secs(30)),
        "recorder exits with 0"
    );
    let manifest = manifest(&session_dir(&out));
    let session_ns = manifest["ended_unix_ms"].as_i64().expect("ended")
        - manifest["started_unix_ms"].as_i64().expect("started");
    let ends: Vec<f64> = ["p1", "p2", "p3"]
        .iter()
        .map(|stream| {
            let segs = segments(&manifest, stream);
            assert_eq!(segs.len(), 1, "{stream}: one segment");
            let start = segs[0]["start_offset_ns"].as_u64().expect("offset") as f64 / 1e9;
            let duration = segs[0]["duration_ns"].as_u64().expect("duration") as f64 / 1e9;
            start + duration
        })
        .collect();
    let first = ends.iter().copied().fold(f64::INFINITY, f64::min);
    let last = ends.iter().copied().fold(0.0, f64::max);
    // Each file used to keep recording while the ones stopped before it were merged.
    assert!(
        last - first <= 0.5,
        "the recordings end {:.2} s apart: {ends:?}",
        last - first
    );
    assert!(
        last <= session_ns as f64 / 1e3 + 0.5,
        "no recording runs past the end of the session ({last:.2} s vs {} ms)",
        session_ns
    );
    for publisher in &mut publishers {
        publisher.terminate();
    }
    let _ = std::fs::remove_dir_all(&out);
}

/// A publisher that changes its video size every 2 s (as browsers do while their bandwidth
/// estimate moves) is recorded into one file per codec, every size present and every frame
/// decodable.
#[test]
fn resolution_changes_stay_in_one_playable_file_for_every_codec() {
    let _serial = serial();
    for codec in ["vp8", "h264", "vp9"] {
        let out = temp_dir(&format!("resize-{codec}"));
        let (_server, url) = serve("official");
        let mut recorder = record(
            &url,
            "resize",
            "false",
            &["--output", out.to_str().unwrap(), "--duration", "12"],
        );
        recorder
            .wait_event(CONNECT, |e| e["event"] == "signaling_connected")
            .expect("connects");
        let _publisher = publish(
            &url,
            "resize",
            "alice",
            "false",
            &["--codec", codec, "--resize-every", "2", "--duration", "16"],
        );
        assert!(
            recorder.wait_exit(Duration::from_secs(40)),
            "{codec}: the recorder finishes cleanly: {:#?}",
            recorder.seen
        );
        let session = session_dir(&out);
        let manifest = manifest(&session);
        let segs = segments(&manifest, "alice");
        assert_eq!(segs.len(), 1, "{codec}: one segment: {manifest:#}");
        let file = session.join(segs[0]["file"].as_str().expect("a file"));
        let report = inspect(&file);
        assert!(
            report.duration_s >= 9.0,
            "{codec}: the file covers the recording: {report:?}"
        );
        assert_eq!(report.first_video_is_key, Some(true), "{codec}");
        let decoded = decode_video(&file);
        eprintln!(
            "FIGURE resize {codec}: {:.1} s, {} frames demuxed, {} decoded, sizes {:?}",
            report.duration_s, report.video_frames, decoded.decoded_frames, decoded.sizes
        );
        assert_eq!(decoded.error, None, "{codec}: decodes without error");
        assert!(
            decoded.distinct_sizes() >= 3,
            "{codec}: every size the publisher sent is in the file: {decoded:?}"
        );
        assert_eq!(
            decoded.decoded_frames, report.video_frames,
            "{codec}: every recorded frame decodes"
        );
        let _ = std::fs::remove_dir_all(&out);
    }
}

#[test]
fn av1_is_refused_with_a_reason_where_gstreamer_cannot_carry_it() {
    gst::init().expect("gst init");
    if gst::ElementFactory::find("rtpav1pay").is_some() {
        eprintln!("this GStreamer has rtpav1pay; the refusal does not apply");
        return;
    }
    let output = std::process::Command::new(BIN)
        .args([
            "publish",
            "--server",
            "ws://127.0.0.1:9",
            "--room",
            "r",
            "--stream",
            "a",
            "--password",
            "false",
            "--codec",
            "av1",
            "--duration",
            "1",
        ])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "AV1 is not silently replaced");
    assert!(
        stderr.contains("rtpav1pay"),
        "the reason names what is missing: {stderr}"
    );
}

/// A change the file cannot take (here: the codec itself, injected into the recording branch)
/// ends that part cleanly and the participant goes on in a new part from the next key frame,
/// with no real gap; both parts play, and the recorder still exits 0.
#[test]
fn a_change_no_file_can_take_goes_on_in_a_new_part() {
    let _serial = serial();
    let out = temp_dir("split");
    let (_server, url) = serve("official");
    let mut child = std::process::Command::new(BIN)
        .args([
            "record",
            "--server",
            &url,
            "--room",
            "split",
            "--password",
            "false",
            "--stun",
            "false",
            "--json-events",
            "--duration",
            "16",
            "--output",
        ])
        .arg(&out)
        .env(
            roomtape::media::recorder::FAULT_CAPS_CHANGE_AFTER_MS,
            "4000",
        )
        .env("RUST_LOG", "roomtape=info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("recorder runs");
    let stdout = child.stdout.take().expect("stdout");
    let mut recorder = Proc::from_child(child, lines_of(stdout));
    let _alice = publish(&url, "split", "alice", "false", &["--duration", "30"]);
    let split = recorder
        .wait_event(Duration::from_secs(30), |e| {
            e["event"] == "segment_finished" && e["failure"] == "format"
        })
        .unwrap_or_else(|| panic!("the part ends on the change: {:#?}", recorder.seen));
    assert_eq!(split["ok"], true, "a split is not a failure: {split}");
    assert!(
        recorder.wait_exit(Duration::from_secs(40)),
        "exits 0: {:#?}",
        recorder.seen
    );
    let session = session_dir(&out);
    let manifest = manifest(&session);
    let segs = segments(&manifest, "alice");
    assert_eq!(segs.len(), 2, "{manifest:#}");
    assert_eq!(segs[0]["end_reason"], "split");
    assert_eq!(segs[1]["end_reason"], "stopped");
    let first_end =
        segs[0]["start_offset_ns"].as_f64().unwrap() + segs[0]["duration_ns"].as_f64().unwrap();
    let gap_s = (segs[1]["start_offset_ns"].as_f64().unwrap() - first_end) / 1e9;
    let mut total = 0.0;
    for seg in &segs {
        let file = session.join(seg["file"].as_str().expect("a file"));
        let report = inspect(&file);
        let decoded = decode_video(&file);
        assert_eq!(decoded.error, None, "{seg}");
        assert_eq!(decoded.decoded_frames, report.video_frames, "{seg}");
        assert_eq!(report.first_video_is_key, Some(true), "{seg}");
        total += report.duration_s;
    }
    eprintln!("FIGURE split: two parts, {total:.1} s in all, gap {gap_s:.2} s");
    assert!(gap_s < 1.0, "no real gap between the parts: {gap_s} s");
    let _ = std::fs::remove_dir_all(&out);
}

/// `record --room LINK` joins the room a VDO.Ninja link names, with its password and server;
/// a link without a room is refused with a clear error before anything starts.
#[test]
fn a_vdo_ninja_link_is_enough_to_record_a_room() {
    let _serial = serial();
    let out = temp_dir("link");
    let (_server, url) = serve("official");
    let link = format!("https://vdo.ninja/?room=linked&pw=s%20cret&wss={url}&push=ignored");
    let mut recorder = Proc::spawn(&[
        "record",
        "--server",
        "ws://127.0.0.1:9",
        "--room",
        &link,
        "--stun",
        "false",
        "--json-events",
        "--duration",
        "8",
        "--output",
        out.to_str().unwrap(),
    ]);
    let _alice = publish(&url, "linked", "alice", "s cret", &["--duration", "20"]);
    wait_video(&mut recorder, "alice");
    assert!(
        recorder.wait_exit(Duration::from_secs(30)),
        "{:#?}",
        recorder.seen
    );
    let manifest = manifest(&session_dir(&out));
    assert_eq!(manifest["room"], "linked");
    assert_eq!(segments(&manifest, "alice").len(), 1, "{manifest:#}");

    let output = std::process::Command::new(BIN)
        .args([
            "record",
            "--room",
            "https://vdo.ninja/?view=abc",
            "--no-record",
        ])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("names no room"), "{stderr}");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn split_every_makes_gap_free_parts_that_add_up_to_the_whole() {
    let _serial = serial();
    let out = temp_dir("split");
    let (_server, url) = serve("official");
    let mut recorder = record(
        &url,
        "split",
        "false",
        &[
            "--output",
            out.to_str().unwrap(),
            "--split-every",
            "10s",
            "--duration",
            "35",
        ],
    );
    recorder
        .wait_event(CONNECT, |e| e["event"] == "signaling_connected")
        .expect("connects");
    let _alice = publish(&url, "split", "alice", "false", &["--codec", "vp8"]);
    let _bob = publish(&url, "split", "bob", "false", &["--codec", "h264"]);
    assert!(
        recorder.wait_exit(Duration::from_secs(90)),
        "the recorder stops after --duration"
    );
    let session = session_dir(&out);
    let manifest = manifest(&session);
    assert_eq!(manifest["state"], "finished");
    let frame_ns = 1_000_000_000.0 / 30.0;
    for name in ["alice", "bob"] {
        let parts = segments(&manifest, name);
        assert!(
            parts.len() >= 3,
            "{name}: {} parts: {parts:#?}",
            parts.len()
        );
        let ns = |v: &Value, key: &str| v[key].as_u64().unwrap_or(0) as f64;
        let mut sum_manifest = 0.0;
        let mut sum_files = 0.0;
        let mut frames = 0;
        for (n, part) in parts.iter().enumerate() {
            assert_eq!(part["index"], 0, "{name}: one segment");
            assert_eq!(
                part["part"].as_u64().unwrap_or(0),
                n as u64,
                "{name}: part order"
            );
            assert!(
                part["track_files"].as_array().is_some_and(|t| t.is_empty()),
                "{name} part {n}: joined"
            );
            let file = session.join(part["file"].as_str().expect("file name"));
            let expected = if n == 0 {
                format!("{name}.mkv")
            } else {
                format!("{name}.part{}.mkv", n + 1)
            };
            assert_eq!(file.file_name().and_then(|f| f.to_str()), Some(&*expected));
            let report = inspect(&file);
            let decoded = decode_video(&file);
            eprintln!(
                "{name} part {n}: start {:.3}s, manifest {:.3}s, file {:.3}s, {} frames, {} decoded",
                ns(part, "start_offset_ns") / 1e9,
                ns(part, "duration_ns") / 1e9,
                report.duration_s,
                report.video_frames,
                decoded.decoded_frames
            );
            assert_eq!(
                report.first_video_is_key,
                Some(true),
                "{name} part {n}: key frame first"
            );
            assert_eq!(decoded.error, None, "{name} part {n}: decodes");
            assert_eq!(
                decoded.decoded_frames, report.video_frames,
                "{name} part {n}: decodes to its end"
            );
            assert_eq!(report.audio_codec.as_deref(), Some("audio/x-opus"));
            let manifest_s = ns(part, "duration_ns") / 1e9;
            assert!(manifest_s > 0.0, "{name} part {n}: a length");
            if n > 0 {
                // A part's file starts at its cut: what it holds is what the manifest says.
                assert!(
                    (report.duration_s - manifest_s).abs() <= 0.1,
                    "{name} part {n}: file {}s vs manifest {manifest_s}s",
                    report.duration_s
                );
            }
            if let Some(next) = parts.get(n + 1) {
                let end = ns(part, "start_offset_ns") + ns(part, "duration_ns");
                let gap = (ns(next, "start_offset_ns") - end).abs();
                assert!(
                    gap <= frame_ns,
                    "{name}: {gap} ns between part {n} and the next"
                );
                assert_eq!(part["end_reason"], "split");
            }
            sum_manifest += manifest_s;
            sum_files += report.duration_s;
            frames += report.video_frames;
        }
        let first = &parts[0];
        let last = &parts[parts.len() - 1];
        let whole = (ns(last, "start_offset_ns") + ns(last, "duration_ns")
            - ns(first, "start_offset_ns"))
            / 1e9;
        eprintln!(
            "{name}: whole {whole:.3}s, parts {sum_manifest:.3}s (files {sum_files:.3}s), {frames} frames"
        );
        assert!((sum_manifest - whole).abs() <= 0.5);
        assert!(
            (sum_files - whole).abs() <= 0.5,
            "{name}: files {sum_files}s vs {whole}s"
        );
        // Nothing lost or doubled at the cuts: 30 frames a second throughout.
        let expected = whole * 30.0;
        assert!(
            (frames as f64 - expected).abs() <= expected * 0.03,
            "{name}: {frames} frames in {whole}s"
        );
    }
    let _ = std::fs::remove_dir_all(&out);
}
