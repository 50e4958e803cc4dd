use super::*;
use std::sync::atomic::{AtomicU32, Ordering};

/// A fresh, empty folder under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "roomtape-manifest-{}-{}-{n}",
            std::process::id(),
            naming::unix_ms(std::time::SystemTime::now())
        ));
        fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn sample() -> SessionManifest {
    let mut m = SessionManifest::new("Weekly sync", "wss://wss.vdo.ninja:443", 1_700_000_000_000);
    let alice = m.participant_mut("alice", "Alice", "alice");
    alice.segments.push(Segment {
        index: 0,
        part: 0,
        file: "Alice.mkv".into(),
        start_offset_ns: 1_000_000_000,
        duration_ns: Some(60_000_000_000),
        video_codec: Some("VP8".into()),
        audio_codec: Some("OPUS".into()),
        width: Some(1280),
        height: Some(720),
        end_reason: Some(EndReason::Left),
        error: None,
        track_files: vec![],
    });
    let next = alice.next_segment_index();
    alice.segments.push(Segment {
        index: next,
        file: "Alice-2.mkv".into(),
        start_offset_ns: 90_000_000_000,
        end_reason: Some(EndReason::Failed),
        error: Some("muxer refused caps".into()),
        track_files: vec!["Alice-2.video.mkv".into(), "Alice-2.audio.mka".into()],
        ..Segment::default()
    });
    m.participant_mut("bob", "Bob 🎙️", "bob");
    m
}

#[test]
fn new_manifest_is_recording_format_1() {
    let m = SessionManifest::new("r", "s", 1_700_000_000_123);
    assert_eq!(m.format, FORMAT_VERSION);
    assert_eq!(m.state, SessionState::Recording);
    assert!(m.started_at.starts_with("2023-11-1"), "{}", m.started_at);
    assert!(m.participants.is_empty());
}

#[test]
fn participant_mut_gets_or_inserts() {
    let mut m = sample();
    assert_eq!(m.participants.len(), 2);
    let alice = m.participant_mut("alice", "Alice (laptop)", "alice");
    assert_eq!(alice.segments.len(), 2);
    assert_eq!(alice.label, "Alice (laptop)");
    assert_eq!(alice.next_segment_index(), 2);
    assert_eq!(m.participants.len(), 2);
    m.participant_mut("carol", "Carol", "carol");
    assert_eq!(m.participants.len(), 3);
    assert_eq!(m.participants[2].next_segment_index(), 0);
}

#[test]
fn duration_is_latest_segment_end() {
    let m = sample();
    // Alice's second segment has no duration yet: it counts as ending where it starts.
    assert_eq!(m.duration_ns(), 90_000_000_000);
    assert_eq!(SessionManifest::new("r", "s", 0).duration_ns(), 0);
}

#[test]
fn serialises_snake_case() {
    let json = serde_json::to_string(&sample()).unwrap();
    for key in [
        "\"format\":1",
        "\"started_unix_ms\":",
        "\"state\":\"recording\"",
        "\"end_reason\":\"left\"",
        "\"track_files\":",
        "\"start_offset_ns\":",
    ] {
        assert!(json.contains(key), "{key} missing in {json}");
    }
}

#[test]
fn round_trip_through_disk() {
    let dir = TempDir::new();
    let mut m = sample();
    m.write_atomic(&dir.0).unwrap();
    assert_eq!(SessionManifest::load(&dir.0).unwrap(), m);

    m.state = SessionState::Finished;
    m.ended_unix_ms = Some(1_700_000_100_000);
    m.write_atomic(&dir.0).unwrap();
    assert_eq!(SessionManifest::load(&dir.0).unwrap(), m);

    let names: Vec<_> = fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, [MANIFEST_FILE_NAME], "temp file left behind");
}

#[test]
fn stale_temp_file_is_ignored_and_replaced() {
    let dir = TempDir::new();
    fs::write(dir.0.join(MANIFEST_TMP_NAME), b"{ half a manif").unwrap();
    sample().write_atomic(&dir.0).unwrap();
    assert!(!dir.0.join(MANIFEST_TMP_NAME).exists());
    assert_eq!(SessionManifest::load(&dir.0).unwrap(), sample());
}

#[test]
fn write_into_missing_folder_fails_cleanly() {
    let dir = TempDir::new();
    let missing = dir.0.join("nope");
    assert!(sample().write_atomic(&missing).is_err());
    assert!(!missing.exists());
}

#[test]
fn unknown_fields_are_ignored_and_optional_ones_default() {
    let dir = TempDir::new();
    let json = r#"{
        "format": 1, "room": "r", "server": "s", "started_unix_ms": 5,
        "state": "finished", "from_the_future": [1, 2, 3],
        "participants": [{ "id": "a", "segments": [
            { "index": 0, "file": "a.mkv", "start_offset_ns": 0, "shiny": true }
        ]}]
    }"#;
    fs::write(dir.0.join(MANIFEST_FILE_NAME), json).unwrap();
    let m = SessionManifest::load(&dir.0).unwrap();
    assert_eq!(m.state, SessionState::Finished);
    assert_eq!(m.started_at, "");
    assert_eq!(m.participants[0].label, "");
    assert_eq!(m.participants[0].segments[0].duration_ns, None);
    assert!(m.participants[0].segments[0].track_files.is_empty());
}

#[test]
fn truncated_manifest_is_a_clear_error() {
    let dir = TempDir::new();
    let json = serde_json::to_string_pretty(&sample()).unwrap();
    fs::write(dir.0.join(MANIFEST_FILE_NAME), &json[..json.len() / 2]).unwrap();
    let err = SessionManifest::load(&dir.0).unwrap_err();
    assert!(matches!(err, ManifestError::Truncated { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("session.json") && msg.contains("truncated"),
        "{msg}"
    );
}

#[test]
fn garbage_manifests_are_clear_errors() {
    let dir = TempDir::new();
    let cases: [&[u8]; 6] = [
        b"\x00\xff\xfe garbage",
        b"[1, 2, 3]",
        b"{\"format\": 1}",
        b"{\"format\": 1, \"room\": 3, \"server\": \"s\", \"started_unix_ms\": 0, \"state\": \"recording\"}",
        b"{\"format\": 1, \"room\": \"r\", \"server\": \"s\", \"started_unix_ms\": 0, \"state\": \"exploded\"}",
        b"",
    ];
    for bytes in cases {
        fs::write(dir.0.join(MANIFEST_FILE_NAME), bytes).unwrap();
        let err = SessionManifest::load(&dir.0).unwrap_err();
        assert!(
            matches!(
                err,
                ManifestError::Invalid { .. } | ManifestError::Truncated { .. }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("session.json"));
        assert!(!err.is_not_found());
    }
}

#[test]
fn future_format_is_refused() {
    let dir = TempDir::new();
    let mut m = sample();
    m.format = FORMAT_VERSION + 1;
    m.write_atomic(&dir.0).unwrap();
    let err = SessionManifest::load(&dir.0).unwrap_err();
    assert!(
        matches!(err, ManifestError::UnsupportedFormat { found: 2, .. }),
        "{err:?}"
    );
}

#[test]
fn missing_manifest_is_not_found() {
    let dir = TempDir::new();
    let err = SessionManifest::load(&dir.0).unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
}

#[test]
fn parts_round_trip_and_group() {
    let dir = TempDir::new();
    let mut m = sample();
    let alice = m.participant_mut("alice", "Alice", "alice");
    for part in 1..3u32 {
        alice.segments.push(Segment {
            index: 1,
            part,
            file: format!("Alice-2.part{}.mkv", part + 1),
            start_offset_ns: 90_000_000_000 + u64::from(part) * 10_000_000_000,
            ..Segment::default()
        });
    }
    m.write_atomic(&dir.0).unwrap();
    let loaded = SessionManifest::load(&dir.0).unwrap();
    assert_eq!(loaded, m);
    let groups = loaded.participants[0].segment_groups();
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[0].len(), 1);
    let parts: Vec<u32> = groups[1].iter().map(|s| s.part).collect();
    assert_eq!(parts, [0, 1, 2]);
    assert_eq!(loaded.participants[0].next_segment_index(), 2);
    // Part 0 is not written, so unsplit manifests stay byte for byte what they were.
    let json = serde_json::to_string(&sample()).unwrap();
    assert!(!json.contains("\"part\""), "{json}");
}

#[test]
fn manifests_without_parts_still_read() {
    let dir = TempDir::new();
    let json = r#"{
        "format": 1, "room": "r", "server": "s", "started_unix_ms": 5,
        "state": "finished",
        "participants": [{ "id": "a", "segments": [
            { "index": 0, "file": "a.mkv", "start_offset_ns": 0, "duration_ns": 5 },
            { "index": 1, "file": "a part 2.mkv", "start_offset_ns": 9, "end_reason": "split" }
        ]}]
    }"#;
    fs::write(dir.0.join(MANIFEST_FILE_NAME), json).unwrap();
    let m = SessionManifest::load(&dir.0).unwrap();
    let groups = m.participants[0].segment_groups();
    assert_eq!(groups.len(), 2);
    assert!(groups.iter().all(|g| g.len() == 1 && g[0].part == 0));
}

#[test]
fn segment_paths_stay_in_the_session_folder() {
    let dir = Path::new("/rec/s");
    let mut seg = Segment {
        file: "Alice.mkv".into(),
        ..Segment::default()
    };
    assert_eq!(seg.path_in(dir), Some(dir.join("Alice.mkv")));
    seg.file = "../../home/user/.bashrc".into();
    assert_eq!(seg.path_in(dir), None);
}
