//! `session.json`: the manifest of one recording session.
//!
//! The manifest is what turns a folder of media files into a library entry: who was recorded,
//! which file holds which stretch of whom, and where each stretch sits on the session timeline.
//! It is rewritten atomically every time something changes while recording, so after a crash
//! the folder still describes itself (with `state` left at [`SessionState::Recording`], which is
//! how a scan recognises a session whose recorder died).
//!
//! The format is versioned by [`SessionManifest::format`]; unknown fields are ignored on load so
//! a newer Roomtape can add fields without breaking older readers.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::naming;

/// File name of the manifest inside a session folder.
pub const MANIFEST_FILE_NAME: &str = "session.json";

/// Temporary name the manifest is written under before being renamed into place.
const MANIFEST_TMP_NAME: &str = "session.json.tmp";

/// The manifest format this code writes and the newest it understands.
pub const FORMAT_VERSION: u32 = 1;

/// Manifests are a few kilobytes; anything this big is not ours and is refused before it is
/// read into memory.
const MAX_MANIFEST_BYTES: u64 = 16 * 1024 * 1024;

/// Lifecycle of a session as recorded in its manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    /// A recorder is (or was, if it crashed) writing this session.
    Recording,
    /// The recorder stopped cleanly and every segment was closed.
    Finished,
    /// The recorder died; the app later found the session and closed the manifest for it.
    Recovered,
}

/// Why a segment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The participant left the room.
    Left,
    /// The participant's connection was lost (it failed, or they went silent: a closed
    /// laptop, a killed browser).
    Lost,
    /// The operator stopped the recording.
    Stopped,
    /// The operator left this participant out of the recording (their tile's record toggle).
    Excluded,
    /// The recording goes on in the next part: the stream changed in a way this file could not
    /// take (a codec or framing change; the next part is a new segment), or a `--split-every`
    /// mark was reached (the next part has the same [`Segment::index`] and the next
    /// [`Segment::part`]).
    Split,
    /// The recording pipeline for this participant failed; see [`Segment::error`].
    Failed,
    /// The recorder process died; found on recovery.
    Crashed,
}

/// One session: a room recorded from one start to one stop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionManifest {
    /// Format version, [`FORMAT_VERSION`] when written by this code.
    pub format: u32,
    /// Room name as typed by the operator (not sanitised: this is data, not a path).
    pub room: String,
    /// Signaling server URL.
    pub server: String,
    /// Start time for people: RFC 3339 in local time with offset. Empty if unrepresentable.
    #[serde(default)]
    pub started_at: String,
    /// Start time for programs: milliseconds since the Unix epoch.
    pub started_unix_ms: i64,
    /// When the session ended, if it ended cleanly or was recovered.
    #[serde(default)]
    pub ended_unix_ms: Option<i64>,
    /// Lifecycle state.
    pub state: SessionState,
    /// Everyone recorded in this session, in order of first appearance.
    #[serde(default)]
    pub participants: Vec<ParticipantEntry>,
}

/// One participant and all their stretches of recording.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParticipantEntry {
    /// Stable key: the stream id without its hash suffix, so a participant who leaves and comes
    /// back lands in the same entry with a new segment.
    pub id: String,
    /// Display name, the latest one seen.
    #[serde(default)]
    pub label: String,
    /// Stream id as announced.
    #[serde(default)]
    pub stream_id: String,
    /// Stretches of recording, in order.
    #[serde(default)]
    pub segments: Vec<Segment>,
}

/// One continuous stretch of recording of one participant, in one file.
///
/// A stretch split into several files at `--split-every` marks is several `Segment`s with the
/// same `index` and consecutive [`Segment::part`]s, each at its own offset: a reader that knows
/// nothing of parts (an older Roomtape) still finds every file, each placed where it belongs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// Position in the participant's segment list, from 0; shared by the parts of one stretch.
    pub index: u32,
    /// Which file of a stretch split at `--split-every` marks this is, from 0. Absent (0) in
    /// manifests of unsplit recordings, so they read and write as before.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub part: u32,
    /// File name relative to the session folder (a single component; resolve it with
    /// [`Segment::path_in`], never with a bare `join`).
    pub file: String,
    /// Where this segment starts on the session timeline, in nanoseconds from the session start.
    pub start_offset_ns: u64,
    /// Length in nanoseconds; `None` while recording or when the recorder died.
    #[serde(default)]
    pub duration_ns: Option<u64>,
    /// Video codec name (e.g. `VP8`, `H264`), if there is video.
    #[serde(default)]
    pub video_codec: Option<String>,
    /// Audio codec name (e.g. `OPUS`), if there is audio.
    #[serde(default)]
    pub audio_codec: Option<String>,
    /// Video width in pixels, once known.
    #[serde(default)]
    pub width: Option<u32>,
    /// Video height in pixels, once known.
    #[serde(default)]
    pub height: Option<u32>,
    /// Why the segment ended; `None` while it is still being recorded.
    #[serde(default)]
    pub end_reason: Option<EndReason>,
    /// What went wrong, for [`EndReason::Failed`].
    #[serde(default)]
    pub error: Option<String>,
    /// Per-track intermediate files still present (kept until the remux into [`Segment::file`]
    /// has succeeded, so nothing is lost if it fails).
    #[serde(default)]
    pub track_files: Vec<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Segment {
    /// Where the segment ends on the session timeline (its start if the duration is unknown).
    pub fn end_offset_ns(&self) -> u64 {
        self.start_offset_ns
            .saturating_add(self.duration_ns.unwrap_or(0))
    }

    /// The segment's file inside `session_dir`, or `None` if the manifest names something that
    /// is not a plain file name (a hand-edited or hostile manifest).
    pub fn path_in(&self, session_dir: &Path) -> Option<PathBuf> {
        naming::resolve_in(session_dir, &self.file)
    }
}

impl ParticipantEntry {
    /// The participant's stretches of recording, each as its parts in order (one part for a
    /// stretch that was not split), stretches in the order of their first part.
    pub fn segment_groups(&self) -> Vec<Vec<&Segment>> {
        let mut groups: Vec<Vec<&Segment>> = Vec::new();
        for segment in &self.segments {
            match groups
                .iter_mut()
                .find(|group| group.first().is_some_and(|s| s.index == segment.index))
            {
                Some(group) => group.push(segment),
                None => groups.push(vec![segment]),
            }
        }
        for group in &mut groups {
            group.sort_by_key(|s| s.part);
        }
        groups
    }

    /// The index the next segment of this participant should get.
    pub fn next_segment_index(&self) -> u32 {
        self.segments
            .iter()
            .map(|s| s.index.saturating_add(1))
            .max()
            .unwrap_or(0)
    }
}

impl SessionManifest {
    /// Segment `index`, part `part`, of the participant whose key is `participant`.
    pub fn segment(&self, participant: &str, index: u32, part: u32) -> Option<&Segment> {
        self.participants
            .iter()
            .find(|p| p.id == participant)?
            .segments
            .iter()
            .find(|s| s.index == index && s.part == part)
    }

    /// [`Self::segment`], to change it.
    pub fn segment_mut(
        &mut self,
        participant: &str,
        index: u32,
        part: u32,
    ) -> Option<&mut Segment> {
        self.find_participant_mut(participant)?
            .segments
            .iter_mut()
            .find(|s| s.index == index && s.part == part)
    }

    /// The participants recorded without any audio, by the name they went by: an audio export
    /// leaves them out.
    pub fn participants_without_audio(&self) -> Vec<String> {
        self.participants
            .iter()
            .filter(|p| !p.segments.is_empty())
            .filter(|p| p.segments.iter().all(|s| s.audio_codec.is_none()))
            .map(|p| {
                if p.label.is_empty() {
                    p.stream_id.clone()
                } else {
                    p.label.clone()
                }
            })
            .collect()
    }

    /// A fresh manifest for a session that starts recording now.
    pub fn new(room: impl Into<String>, server: impl Into<String>, started_unix_ms: i64) -> Self {
        Self {
            format: FORMAT_VERSION,
            room: room.into(),
            server: server.into(),
            started_at: naming::local_rfc3339(started_unix_ms),
            started_unix_ms,
            ended_unix_ms: None,
            state: SessionState::Recording,
            participants: Vec::new(),
        }
    }

    /// The entry for participant `id`, if they have one.
    pub fn find_participant_mut(&mut self, id: &str) -> Option<&mut ParticipantEntry> {
        self.participants.iter_mut().find(|p| p.id == id)
    }

    /// The entry for participant `id`, created if absent. An existing entry's label and stream id
    /// are updated to the given ones (people rename themselves; the latest name is the one an
    /// operator recognises).
    pub fn participant_mut(
        &mut self,
        id: &str,
        label: &str,
        stream_id: &str,
    ) -> &mut ParticipantEntry {
        let pos = if let Some(pos) = self.participants.iter().position(|p| p.id == id) {
            let entry = &mut self.participants[pos];
            label.clone_into(&mut entry.label);
            stream_id.clone_into(&mut entry.stream_id);
            pos
        } else {
            self.participants.push(ParticipantEntry {
                id: id.to_owned(),
                label: label.to_owned(),
                stream_id: stream_id.to_owned(),
                segments: Vec::new(),
            });
            self.participants.len() - 1
        };
        &mut self.participants[pos]
    }

    /// Length of the session timeline: the latest segment end over all participants.
    pub fn duration_ns(&self) -> u64 {
        self.participants
            .iter()
            .flat_map(|p| &p.segments)
            .map(Segment::end_offset_ns)
            .max()
            .unwrap_or(0)
    }

    /// Writes `session.json` into `dir` so that a reader (or a crash) sees either the old or the
    /// new manifest, never a torn one: the JSON goes to `session.json.tmp` in the same folder,
    /// is flushed to disk, renamed over `session.json`, and the folder itself is flushed so the
    /// rename survives a power cut.
    ///
    /// # Errors
    /// Any I/O error creating, writing, syncing or renaming the file (the folder must exist).
    /// On failure the temp file is removed and the previous `session.json` is left untouched.
    pub fn write_atomic(&self, dir: &Path) -> io::Result<()> {
        let mut json = serde_json::to_vec_pretty(self).map_err(io::Error::other)?;
        json.push(b'\n');

        let tmp = dir.join(MANIFEST_TMP_NAME);
        let written = (|| {
            // Never through a link someone planted under the temporary name.
            let mut file = super::files::replace_with_new(&tmp)?;
            file.write_all(&json)?;
            file.sync_all()
        })();
        if let Err(e) = written.and_then(|()| fs::rename(&tmp, dir.join(MANIFEST_FILE_NAME))) {
            // Best effort: a stale temp file is harmless (it is never read) but untidy.
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        sync_dir(dir)
    }

    /// Reads `session.json` from `dir`.
    ///
    /// Unknown fields are ignored; missing optional fields take their defaults. A manifest from a
    /// newer, incompatible format is refused rather than misread.
    ///
    /// # Errors
    /// A [`ManifestError`] naming the file: missing or unreadable ([`ManifestError::is_not_found`]
    /// tells a non-session folder apart), truncated, invalid, of an unsupported format, or too
    /// large. Never panics on bad input.
    pub fn load(dir: &Path) -> Result<SessionManifest, ManifestError> {
        let path = dir.join(MANIFEST_FILE_NAME);
        let io_err = |source| ManifestError::Io {
            path: path.clone(),
            source,
        };

        let file = File::open(&path).map_err(io_err)?;
        let mut bytes = Vec::new();
        file.take(MAX_MANIFEST_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(io_err)?;
        if bytes.len() as u64 > MAX_MANIFEST_BYTES {
            return Err(ManifestError::TooLarge { path });
        }

        let manifest: SessionManifest = serde_json::from_slice(&bytes).map_err(|source| {
            if source.is_eof() {
                ManifestError::Truncated {
                    path: path.clone(),
                    source,
                }
            } else {
                ManifestError::Invalid {
                    path: path.clone(),
                    source,
                }
            }
        })?;
        if manifest.format == 0 || manifest.format > FORMAT_VERSION {
            return Err(ManifestError::UnsupportedFormat {
                path,
                found: manifest.format,
            });
        }
        Ok(manifest)
    }
}

/// Flushes a directory entry change (the rename) to disk.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    match File::open(dir).and_then(|d| d.sync_all()) {
        // Some file systems (certain network and FUSE ones) cannot fsync a directory; the
        // rename has happened, so that is no reason to report the write as failed.
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::InvalidInput | io::ErrorKind::Unsupported
            ) =>
        {
            tracing::debug!("cannot fsync {}: {e}", dir.display());
            Ok(())
        }
        other => other,
    }
}

/// Directories cannot be opened for syncing on this platform; the rename is all we can do.
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

/// Why a manifest could not be loaded. Each variant names the file, so the message can be shown
/// or logged as is.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be opened or read (including: it does not exist).
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The manifest path.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The JSON ends early: typically a file cut short by a crash or a full disk.
    #[error("{} is truncated: {source}", path.display())]
    Truncated {
        /// The manifest path.
        path: PathBuf,
        /// Where parsing stopped.
        source: serde_json::Error,
    },
    /// The file is not a session manifest (bad JSON, wrong types, missing required fields).
    #[error("{} is not a valid session manifest: {source}", path.display())]
    Invalid {
        /// The manifest path.
        path: PathBuf,
        /// What was wrong and where.
        source: serde_json::Error,
    },
    /// The manifest declares a format this version does not understand.
    #[error(
        "{} has manifest format {found}, this version of Roomtape reads format {FORMAT_VERSION}",
        path.display()
    )]
    UnsupportedFormat {
        /// The manifest path.
        path: PathBuf,
        /// The declared format.
        found: u32,
    },
    /// The file is far larger than any manifest could be.
    #[error("{} is too large to be a session manifest", path.display())]
    TooLarge {
        /// The manifest path.
        path: PathBuf,
    },
}

impl ManifestError {
    /// True when the folder simply has no manifest (not a session folder), as opposed to a
    /// manifest that exists but is damaged.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }
}

#[cfg(test)]
mod tests {
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
        let mut m =
            SessionManifest::new("Weekly sync", "wss://wss.vdo.ninja:443", 1_700_000_000_000);
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
}
