//! Integration tests of the recordings library on a real (temporary) folder.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use roomtape::library::{
    EndReason, MANIFEST_FILE_NAME, Segment, SessionManifest, SessionState, scan_recordings,
    session_folder_name, unique_file_name,
};

/// A fresh, empty folder under the system temp dir, removed on drop (no tempfile crate needed).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let path = std::env::temp_dir().join(format!(
            "roomtape-library-{}-{nanos}-{n}",
            std::process::id()
        ));
        fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Creates a session folder the way the recorder does and returns it.
fn make_session(root: &Path, room: &str, started_unix_ms: i64, state: SessionState) -> PathBuf {
    let start = UNIX_EPOCH + Duration::from_millis(u64::try_from(started_unix_ms).unwrap());
    let dir = unique_file_name(root, &session_folder_name(room, start), "");
    fs::create_dir(&dir).unwrap();

    let mut m = SessionManifest::new(room, "wss://127.0.0.1:8443", started_unix_ms);
    m.state = state;
    let p = m.participant_mut("alice", "Alice", "alice");
    p.segments.push(Segment {
        index: 0,
        file: "Alice.mkv".into(),
        start_offset_ns: 2_000_000_000,
        duration_ns: Some(10_000_000_000),
        end_reason: Some(EndReason::Stopped),
        ..Segment::default()
    });
    m.participant_mut("bob", "Bob", "bob");
    fs::write(dir.join("Alice.mkv"), vec![0u8; 1000]).unwrap();
    m.write_atomic(&dir).unwrap();
    dir
}

#[test]
fn missing_root_is_an_empty_library() {
    let tmp = TempDir::new();
    assert!(scan_recordings(&tmp.path().join("not-there")).is_empty());
    assert!(scan_recordings(tmp.path()).is_empty());
}

#[test]
fn sessions_are_listed_newest_first() {
    let tmp = TempDir::new();
    let old = make_session(
        tmp.path(),
        "standup",
        1_600_000_000_000,
        SessionState::Finished,
    );
    let new = make_session(
        tmp.path(),
        "standup",
        1_700_000_000_000,
        SessionState::Finished,
    );
    let mid = make_session(
        tmp.path(),
        "retro",
        1_650_000_000_000,
        SessionState::Finished,
    );

    let sessions = scan_recordings(tmp.path());
    let dirs: Vec<_> = sessions.iter().map(|s| s.dir.clone()).collect();
    assert_eq!(dirs, [new, mid, old]);
}

#[test]
fn same_second_sessions_get_distinct_folders() {
    let tmp = TempDir::new();
    let a = make_session(
        tmp.path(),
        "room",
        1_700_000_000_000,
        SessionState::Finished,
    );
    let b = make_session(
        tmp.path(),
        "room",
        1_700_000_000_400,
        SessionState::Finished,
    );
    assert_ne!(a, b);
    assert!(b.file_name().unwrap().to_str().unwrap().ends_with("-2"));
    let sessions = scan_recordings(tmp.path());
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions[0].dir, b);
}

#[test]
fn summary_fields_are_filled() {
    let tmp = TempDir::new();
    let dir = make_session(
        tmp.path(),
        "../evil/room",
        1_700_000_000_000,
        SessionState::Finished,
    );
    assert_eq!(dir.parent(), Some(tmp.path()), "room name escaped the root");

    let sessions = scan_recordings(tmp.path());
    let [s] = sessions.as_slice() else {
        panic!("expected one session, got {sessions:?}");
    };
    assert_eq!(s.dir, dir);
    assert!(!s.recovered);
    assert_eq!(s.participant_count, 2);
    assert_eq!(s.duration_ns, 12_000_000_000);
    let manifest_len = fs::metadata(dir.join(MANIFEST_FILE_NAME)).unwrap().len();
    assert_eq!(s.total_bytes, 1000 + manifest_len);
    assert_eq!(s.manifest.room, "../evil/room");
}

#[test]
fn recording_state_means_recovered() {
    let tmp = TempDir::new();
    let crashed = make_session(tmp.path(), "a", 3_000, SessionState::Recording);
    let repaired = make_session(tmp.path(), "b", 2_000, SessionState::Recovered);
    let clean = make_session(tmp.path(), "c", 1_000, SessionState::Finished);

    let flags: Vec<_> = scan_recordings(tmp.path())
        .into_iter()
        .map(|s| (s.dir, s.recovered))
        .collect();
    assert_eq!(flags, [(crashed, true), (repaired, true), (clean, false)]);
}

#[test]
fn garbage_is_skipped_without_hiding_good_sessions() {
    let tmp = TempDir::new();
    let good = make_session(
        tmp.path(),
        "good",
        1_700_000_000_000,
        SessionState::Finished,
    );

    // A folder of something else entirely.
    fs::create_dir(tmp.path().join("Holiday videos")).unwrap();
    fs::write(tmp.path().join("Holiday videos/beach.mp4"), b"x").unwrap();
    // Damaged manifests.
    for (name, content) in [
        ("truncated", &br#"{"format": 1, "room": "r", "serv"#[..]),
        ("garbage", b"\x00\x01\x02 not json"),
        ("wrong shape", b"[\"a\", \"b\"]"),
        ("future", br#"{"format": 99, "room": "r", "server": "s", "started_unix_ms": 9, "state": "finished"}"#),
    ] {
        let dir = tmp.path().join(name);
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join(MANIFEST_FILE_NAME), content).unwrap();
    }
    // A manifest that is a folder, and a stray file at the top level.
    fs::create_dir_all(tmp.path().join("odd").join(MANIFEST_FILE_NAME)).unwrap();
    fs::write(tmp.path().join(MANIFEST_FILE_NAME), b"{}").unwrap();
    // A crash between writing the temp file and renaming it: the old manifest still counts.
    fs::write(good.join("session.json.tmp"), b"{ half").unwrap();

    let sessions = scan_recordings(tmp.path());
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert_eq!(sessions[0].dir, good);
}

#[test]
fn hostile_segment_file_names_do_not_resolve() {
    let tmp = TempDir::new();
    let dir = make_session(tmp.path(), "r", 1, SessionState::Finished);
    let mut m = SessionManifest::load(&dir).unwrap();
    m.participants[0].segments[0].file = "../../../etc/shadow".into();
    m.write_atomic(&dir).unwrap();

    let sessions = scan_recordings(tmp.path());
    let seg = &sessions[0].manifest.participants[0].segments[0];
    assert_eq!(seg.path_in(&sessions[0].dir), None);
}
