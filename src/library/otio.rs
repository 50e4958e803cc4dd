//! OpenTimelineIO: a session as a timeline video editors import (DaVinci Resolve, Kdenlive, the
//! `opentimelineio` Python package).
//!
//! Every participant gets a video track and an audio track (each only if they sent that kind),
//! on which their segments sit at their `start_offset_ns`, with gaps in between. The clips
//! reference the recorded files by absolute path, or an MP4 the "MP4 for editing" export
//! wrote of the same segment into the export folder, since editors open MP4 more readily.
//!
//! Choices that importers force:
//! - One rate for every track, the video frame rate ([`FRAME_RATE`]), and every boundary on a
//!   whole frame: Kdenlive takes the project frame rate from the timeline, so an audio track
//!   at 48000 would give a 48000 fps project.
//! - Gaps always carry their `source_range`: without one they are zero long and every clip
//!   after them slides to the left.
//! - `target_url` is a plain absolute path: Resolve 20.2 refuses `file://` URLs
//!   (OpenTimelineIO issue #1985); Kdenlive takes both.
//! - Segments without a known length (the recorder died before it closed them) or without a
//!   finished file are left out and listed in [`Timeline::skipped`]: a clip needs a length,
//!   and guessing one would put wrong ends on the timeline. The MKV export works for those.
//!
//! Everything here is plain data over the manifest and the folders; no GStreamer.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::manifest::{ParticipantEntry, Segment, SessionManifest};

/// Frames per second of every track. The manifest does not record frame rates and browsers
/// send 30 fps unless told otherwise, so that is what editors are told.
pub const FRAME_RATE: u32 = 30;

/// The extension the "MP4 for editing" export gives its files; an MP4 of a segment in the
/// export folder is referenced instead of the recording.
const EDITED_EXTENSION: &str = "mp4";

/// What to reference for one segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClipSource {
    /// Absolute path of the media file.
    pub path: PathBuf,
    /// From an earlier export rather than the recording itself.
    pub edited: bool,
}

/// A built timeline and what it could not include.
#[derive(Debug, Clone)]
pub struct Timeline {
    /// The OpenTimelineIO document (`Timeline.1`), ready for `serde_json`.
    pub document: Value,
    /// How many clips the tracks hold in all.
    pub clips: usize,
    /// Segments left out, each as "name part N: why".
    pub skipped: Vec<String>,
}

/// Why no timeline could be made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TimelineError {
    #[error("the session folder {0} cannot be made an absolute path")]
    NoAbsolutePath(PathBuf),
    #[error("no segment has a finished file of known length ({0})")]
    Empty(String),
}

/// Nanoseconds to the nearest whole frame at [`FRAME_RATE`].
pub fn frames(ns: u64) -> u64 {
    let frames = (u128::from(ns) * u128::from(FRAME_RATE) + 500_000_000) / 1_000_000_000;
    u64::try_from(frames).unwrap_or(u64::MAX)
}

/// The file a segment's clip should reference: an MP4 of it in `export_dir` if one is there,
/// else the recording in `session_dir`; `None` if neither exists or the manifest names a path
/// outside the session folder.
pub fn clip_source(
    segment: &Segment,
    session_dir: &Path,
    export_dir: Option<&Path>,
) -> Option<ClipSource> {
    let recorded = segment.path_in(session_dir)?;
    if let (Some(dir), Some(stem)) = (export_dir, recorded.file_stem()) {
        let mut name = stem.to_owned();
        name.push(".");
        name.push(EDITED_EXTENSION);
        let edited = dir.join(name);
        // The recording itself is an MP4 when someone exports into the session folder.
        if edited != recorded && is_nonempty_file(&edited) {
            return Some(ClipSource {
                path: edited,
                edited: true,
            });
        }
    }
    is_nonempty_file(&recorded).then_some(ClipSource {
        path: recorded,
        edited: false,
    })
}

fn is_nonempty_file(path: &Path) -> bool {
    path.metadata().is_ok_and(|m| m.is_file() && m.len() > 0)
}

/// The name a participant's tracks go by: their label, with the stream id added when another
/// participant has the same label (two "Guest"s must stay apart in an editor).
fn track_names(participants: &[&ParticipantEntry]) -> Vec<String> {
    let base = |p: &ParticipantEntry| -> String {
        if !p.label.trim().is_empty() {
            p.label.clone()
        } else if !p.stream_id.is_empty() {
            p.stream_id.clone()
        } else {
            p.id.clone()
        }
    };
    let mut count: HashMap<String, usize> = HashMap::new();
    for p in participants {
        *count.entry(base(p)).or_default() += 1;
    }
    let mut taken = HashSet::new();
    participants
        .iter()
        .map(|p| {
            let name = base(p);
            let id = if p.stream_id.is_empty() {
                &p.id
            } else {
                &p.stream_id
            };
            let mut name = if count.get(&name).copied().unwrap_or(0) > 1 && *id != name {
                format!("{name} [{id}]")
            } else {
                name
            };
            // Only a hand-edited manifest repeats ids; numbering still keeps tracks apart.
            let stem = name.clone();
            let mut n = 2;
            while !taken.insert(name.clone()) {
                name = format!("{stem} {n}");
                n += 1;
            }
            name
        })
        .collect()
}

fn time(frames: u64) -> Value {
    json!({
        "OTIO_SCHEMA": "RationalTime.1",
        "rate": f64::from(FRAME_RATE),
        "value": frames as f64,
    })
}

fn range(start: u64, duration: u64) -> Value {
    json!({
        "OTIO_SCHEMA": "TimeRange.1",
        "start_time": time(start),
        "duration": time(duration),
    })
}

fn gap(duration: u64) -> Value {
    json!({
        "OTIO_SCHEMA": "Gap.1",
        "name": "",
        "source_range": range(0, duration),
        "metadata": {},
        "effects": [],
        "markers": [],
        "enabled": true,
    })
}

/// One segment placed on a track, in frames.
#[derive(Debug, Clone)]
struct Placed<'a> {
    segment: &'a Segment,
    source: ClipSource,
    start: u64,
    /// Frames of the file skipped at its start (only when a hand-edited manifest overlaps
    /// two segments).
    trim: u64,
    length: u64,
    /// Frames the file holds, as far as the manifest knows.
    available: u64,
}

fn clip(placed: &Placed<'_>, target_url: &str) -> Value {
    let name = placed
        .source
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    json!({
        "OTIO_SCHEMA": "Clip.2",
        "name": name,
        "source_range": range(placed.trim, placed.length),
        "media_references": {
            "DEFAULT_MEDIA": {
                "OTIO_SCHEMA": "ExternalReference.1",
                "name": name,
                "target_url": target_url,
                "available_range": range(0, placed.available),
                "available_image_bounds": null,
                "metadata": {},
            }
        },
        "active_media_reference_key": "DEFAULT_MEDIA",
        "metadata": {},
        "effects": [],
        "markers": [],
        "enabled": true,
    })
}

fn track(name: String, kind: &str, placed: &[&Placed<'_>]) -> Value {
    let mut children = Vec::new();
    let mut at = 0u64;
    for p in placed {
        if p.start > at {
            children.push(gap(p.start - at));
        }
        // Paths that are not UTF-8 were refused when placing.
        children.push(clip(p, &p.source.path.to_string_lossy()));
        at = p.start + p.length;
    }
    json!({
        "OTIO_SCHEMA": "Track.1",
        "name": name,
        "kind": kind,
        "children": children,
        "source_range": null,
        "metadata": {},
        "effects": [],
        "markers": [],
        "enabled": true,
    })
}

/// A participant's segments on the timeline, in order, without overlaps; what cannot be placed
/// goes to `skipped`.
fn place<'a>(
    who: &str,
    participant: &'a ParticipantEntry,
    session_dir: &Path,
    export_dir: Option<&Path>,
    skipped: &mut Vec<String>,
) -> Vec<Placed<'a>> {
    let mut segments: Vec<&Segment> = participant.segments.iter().collect();
    segments.sort_by_key(|s| (s.start_offset_ns, s.index, s.part));
    let mut placed: Vec<Placed<'a>> = Vec::new();
    for segment in segments {
        // Each `--split-every` part is a clip of its own, at its own offset.
        let part = if segment.part == 0 {
            format!("{who} part {}", u64::from(segment.index) + 1)
        } else {
            format!(
                "{who} part {} file {}",
                u64::from(segment.index) + 1,
                u64::from(segment.part) + 1
            )
        };
        if segment.video_codec.is_none() && segment.audio_codec.is_none() {
            skipped.push(format!("{part}: no media"));
            continue;
        }
        if segment.duration_ns.is_none_or(|d| d == 0) {
            skipped.push(format!(
                "{part}: length unknown (the recording did not end)"
            ));
            continue;
        }
        let Some(source) = clip_source(segment, session_dir, export_dir) else {
            skipped.push(format!("{part}: no file {}", segment.file));
            continue;
        };
        if source.path.to_str().is_none() {
            skipped.push(format!("{part}: the path of {} is not UTF-8", segment.file));
            continue;
        }
        // Ends are rounded on their own, not start plus rounded length, so that a segment
        // that starts where the previous one ended does so on the timeline too.
        let start = frames(segment.start_offset_ns);
        let end = frames(segment.end_offset_ns());
        let available = end - start;
        let previous_end = placed.last().map_or(0, |p| p.start + p.length);
        let trim = previous_end.saturating_sub(start);
        if available <= trim {
            skipped.push(format!("{part}: shorter than a frame or overlapped"));
            continue;
        }
        placed.push(Placed {
            segment,
            source,
            start: start + trim,
            trim,
            length: available - trim,
            available,
        });
    }
    placed
}

/// Builds the timeline of `manifest`, whose files are in `session_dir`; `export_dir` is where
/// the "MP4 for editing" export writes (its MP4s are referenced where present).
///
/// # Errors
/// [`TimelineError::Empty`] when no segment could be placed (the reasons are in the message),
/// [`TimelineError::NoAbsolutePath`] when the current folder is gone and `session_dir` is
/// relative.
pub fn build(
    manifest: &SessionManifest,
    session_dir: &Path,
    export_dir: Option<&Path>,
) -> Result<Timeline, TimelineError> {
    let absolute = |dir: &Path| {
        std::path::absolute(dir).map_err(|_| TimelineError::NoAbsolutePath(dir.to_owned()))
    };
    let session_dir = absolute(session_dir)?;
    let export_dir = export_dir.map(absolute).transpose()?;

    let participants: Vec<&ParticipantEntry> = manifest
        .participants
        .iter()
        .filter(|p| !p.segments.is_empty())
        .collect();
    let names = track_names(&participants);
    let mut skipped = Vec::new();
    let mut video_tracks = Vec::new();
    let mut audio_tracks = Vec::new();
    let mut clips = 0;
    for (participant, name) in participants.iter().zip(names) {
        let placed = place(
            &name,
            participant,
            &session_dir,
            export_dir.as_deref(),
            &mut skipped,
        );
        let video: Vec<&Placed<'_>> = placed
            .iter()
            .filter(|p| p.segment.video_codec.is_some())
            .collect();
        let audio: Vec<&Placed<'_>> = placed
            .iter()
            .filter(|p| p.segment.audio_codec.is_some())
            .collect();
        clips += video.len() + audio.len();
        if !video.is_empty() {
            video_tracks.push(track(format!("{name} (video)"), "Video", &video));
        }
        if !audio.is_empty() {
            audio_tracks.push(track(format!("{name} (audio)"), "Audio", &audio));
        }
    }
    if clips == 0 {
        let why = if skipped.is_empty() {
            "nobody was recorded".to_owned()
        } else {
            skipped.join("; ")
        };
        return Err(TimelineError::Empty(why));
    }
    // Editors list video tracks above audio tracks anyway; grouping them keeps V1 and A1 the
    // same person.
    let children: Vec<Value> = video_tracks.into_iter().chain(audio_tracks).collect();
    let document = json!({
        "OTIO_SCHEMA": "Timeline.1",
        "name": timeline_name(manifest),
        "global_start_time": time(0),
        "metadata": {
            "roomtape": {
                "room": manifest.room,
                "started_at": manifest.started_at,
                "started_unix_ms": manifest.started_unix_ms,
            }
        },
        "tracks": {
            "OTIO_SCHEMA": "Stack.1",
            "name": "tracks",
            "children": children,
            "source_range": null,
            "metadata": {},
            "effects": [],
            "markers": [],
            "enabled": true,
        },
    });
    Ok(Timeline {
        document,
        clips,
        skipped,
    })
}

/// "Room, 2024-05-01 10:00", or the room alone when the start time is unknown.
fn timeline_name(manifest: &SessionManifest) -> String {
    // RFC 3339 "2024-05-01T10:00:00+02:00": the date and the minute are what people tell
    // sessions apart by.
    match manifest.started_at.get(..16) {
        Some(when) => {
            format!("{}, {}", manifest.room, when.replacen('T', " ", 1))
        }
        _ => manifest.room.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::library::manifest::EndReason;

    const S: u64 = 1_000_000_000;

    /// A session folder with the given files (one byte each), removed on drop.
    struct Folder(PathBuf);

    impl Folder {
        fn new(name: &str, files: &[&str]) -> Self {
            let dir =
                std::env::temp_dir().join(format!("roomtape-otio-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            for file in files {
                std::fs::write(dir.join(file), b"x").unwrap();
            }
            Self(dir)
        }
    }

    impl Drop for Folder {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn segment(file: &str, start_ns: u64, duration_ns: Option<u64>, video: bool) -> Segment {
        Segment {
            file: file.into(),
            start_offset_ns: start_ns,
            duration_ns,
            video_codec: video.then(|| "VP8".into()),
            audio_codec: Some("OPUS".into()),
            end_reason: Some(EndReason::Left),
            ..Segment::default()
        }
    }

    fn manifest(people: &[(&str, &str, Vec<Segment>)]) -> SessionManifest {
        let mut m = SessionManifest::new("Weekly", "wss://example.org", 1_700_000_000_000);
        for (id, label, segments) in people {
            let p = m.participant_mut(id, label, id);
            for (i, s) in segments.iter().enumerate() {
                p.segments.push(Segment {
                    index: u32::try_from(i).unwrap(),
                    ..s.clone()
                });
            }
        }
        m
    }

    fn tracks(t: &Timeline) -> &Vec<Value> {
        t.document["tracks"]["children"].as_array().unwrap()
    }

    /// (kind, name, start frame) of each child of a track.
    fn layout(track: &Value) -> Vec<(String, f64, f64)> {
        let mut at = 0.0;
        track["children"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let start = at;
                let length = c["source_range"]["duration"]["value"].as_f64().unwrap();
                at += length;
                (c["OTIO_SCHEMA"].as_str().unwrap().to_owned(), start, length)
            })
            .collect()
    }

    #[test]
    fn frames_round_to_the_nearest() {
        assert_eq!(frames(0), 0);
        assert_eq!(frames(S), 30);
        // 1/60 s is half a frame: rounds up; a hair less rounds down.
        assert_eq!(frames(S / 60 + 1), 1);
        assert_eq!(frames(S / 60 - 1), 0);
        assert_eq!(frames(3 * S + 49 * S / 1000), 91);
        assert_eq!(frames(u64::MAX), 553_402_322_211);
    }

    #[test]
    fn clips_sit_at_their_offsets_with_gaps_before_them() {
        let dir = Folder::new("offsets", &["Alice.mkv", "Alice-2.mkv", "Bob.mkv"]);
        let m = manifest(&[
            (
                "alice",
                "Alice",
                vec![
                    segment("Alice.mkv", 0, Some(10 * S), true),
                    segment("Alice-2.mkv", 15 * S, Some(5 * S), true),
                ],
            ),
            (
                "bob",
                "Bob",
                vec![segment("Bob.mkv", 3 * S + S / 100, Some(4 * S), true)],
            ),
        ]);
        let t = build(&m, &dir.0, None).unwrap();
        assert!(t.skipped.is_empty(), "{:?}", t.skipped);
        assert_eq!(t.clips, 6);
        let names: Vec<&str> = tracks(&t)
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "Alice (video)",
                "Bob (video)",
                "Alice (audio)",
                "Bob (audio)"
            ]
        );
        let kinds: Vec<&str> = tracks(&t)
            .iter()
            .map(|t| t["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["Video", "Video", "Audio", "Audio"]);
        let clip = |s: f64, l: f64| ("Clip.2".to_owned(), s, l);
        let gap = |s: f64, l: f64| ("Gap.1".to_owned(), s, l);
        assert_eq!(
            layout(&tracks(&t)[0]),
            [clip(0.0, 300.0), gap(300.0, 150.0), clip(450.0, 150.0)]
        );
        // 3.01 s is frame 90.3: frame 90.
        assert_eq!(layout(&tracks(&t)[1]), [gap(0.0, 90.0), clip(90.0, 120.0)]);
        assert_eq!(layout(&tracks(&t)[3]), layout(&tracks(&t)[1]));

        let reference = &tracks(&t)[1]["children"][1]["media_references"]["DEFAULT_MEDIA"];
        let url = reference["target_url"].as_str().unwrap();
        assert!(
            Path::new(url).is_absolute() && !url.starts_with("file:"),
            "{url}"
        );
        assert_eq!(Path::new(url), dir.0.join("Bob.mkv"));
        assert_eq!(reference["available_range"]["duration"]["value"], 120.0);
        // One rate everywhere: Kdenlive takes the project's frame rate from it.
        let text = t.document.to_string();
        assert!(!text.contains("48000"));
        assert_eq!(
            text.matches("\"rate\":30.0").count(),
            text.matches("\"rate\"").count()
        );
    }

    #[test]
    fn boundaries_are_rounded_so_back_to_back_parts_touch() {
        let dir = Folder::new("rounding", &["a.mkv", "a-2.mkv"]);
        // Frames 0.6 to 31.2, then 31.2 to 61.2. Start plus rounded length (1 + 31) would
        // overlap the second part, which starts at frame 31.
        let m = manifest(&[(
            "a",
            "A",
            vec![
                segment("a.mkv", S / 50, Some(S + S / 50), true),
                segment("a-2.mkv", S + S / 25, Some(S), true),
            ],
        )]);
        let t = build(&m, &dir.0, None).unwrap();
        assert_eq!(
            layout(&tracks(&t)[0]),
            [
                ("Gap.1".to_owned(), 0.0, 1.0),
                ("Clip.2".to_owned(), 1.0, 30.0),
                ("Clip.2".to_owned(), 31.0, 30.0)
            ]
        );
        let last = &tracks(&t)[0]["children"][2];
        assert_eq!(last["source_range"]["start_time"]["value"], 0.0);
    }

    #[test]
    fn overlapping_parts_are_trimmed_not_stacked() {
        let dir = Folder::new("overlap", &["a.mkv", "a-2.mkv"]);
        let m = manifest(&[(
            "a",
            "A",
            vec![
                segment("a.mkv", 0, Some(2 * S), false),
                segment("a-2.mkv", S, Some(2 * S), false),
            ],
        )]);
        let t = build(&m, &dir.0, None).unwrap();
        assert_eq!(
            layout(&tracks(&t)[0]),
            [
                ("Clip.2".to_owned(), 0.0, 60.0),
                ("Clip.2".to_owned(), 60.0, 30.0)
            ]
        );
        assert_eq!(
            tracks(&t)[0]["children"][1]["source_range"]["start_time"]["value"],
            30.0
        );
    }

    #[test]
    fn same_labels_get_distinct_tracks() {
        let dir = Folder::new("labels", &["g1.mkv", "g2.mkv", "h.mkv"]);
        let m = manifest(&[
            ("g1", "Guest", vec![segment("g1.mkv", 0, Some(S), true)]),
            ("g2", "Guest", vec![segment("g2.mkv", 0, Some(S), true)]),
            ("h", "", vec![segment("h.mkv", 0, Some(S), true)]),
        ]);
        let t = build(&m, &dir.0, None).unwrap();
        let names: HashSet<&str> = tracks(&t)
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(names.len(), 6, "{names:?}");
        assert!(names.contains("Guest [g1] (video)") && names.contains("Guest [g2] (audio)"));
        assert!(names.contains("h (video)"), "unlabelled: stream id");
    }

    #[test]
    fn an_audio_only_participant_has_no_video_track() {
        let dir = Folder::new("audio-only", &["a.mkv", "r.mka"]);
        let m = manifest(&[
            ("a", "Alice", vec![segment("a.mkv", 0, Some(S), true)]),
            ("r", "Radio", vec![segment("r.mka", 2 * S, Some(S), false)]),
        ]);
        let t = build(&m, &dir.0, None).unwrap();
        let names: Vec<&str> = tracks(&t)
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Alice (video)", "Alice (audio)", "Radio (audio)"]);
    }

    #[test]
    fn unfinished_and_missing_segments_are_left_out_and_said() {
        let dir = Folder::new("skipped", &["a.mkv", "a-3.mkv"]);
        let m = manifest(&[(
            "a",
            "Alice",
            vec![
                segment("a.mkv", 0, Some(S), true),
                segment("a-2.mkv", 2 * S, Some(S), true),
                segment("a-3.mkv", 4 * S, None, true),
                segment("../../etc/passwd", 6 * S, Some(S), true),
            ],
        )]);
        let t = build(&m, &dir.0, None).unwrap();
        assert_eq!(t.clips, 2);
        assert_eq!(t.skipped.len(), 3, "{:?}", t.skipped);
        assert!(t.skipped[0].starts_with("Alice part 2: no file"));
        assert!(t.skipped[1].contains("length unknown"));

        let nothing = manifest(&[("a", "Alice", vec![segment("a-3.mkv", 0, None, true)])]);
        let err = build(&nothing, &dir.0, None).unwrap_err();
        assert!(err.to_string().contains("length unknown"), "{err}");
        assert!(matches!(
            build(&manifest(&[]), &dir.0, None),
            Err(TimelineError::Empty(_))
        ));
    }

    #[test]
    fn mp4s_for_editing_in_the_export_folder_are_referenced() {
        let dir = Folder::new("edited", &["Alice.mkv", "Bob.mkv"]);
        let export = dir.0.join("export");
        std::fs::create_dir_all(&export).unwrap();
        std::fs::write(export.join("Alice.mp4"), b"x").unwrap();
        std::fs::write(export.join("Bob.mp4"), b"").unwrap();
        let m = manifest(&[
            ("a", "Alice", vec![segment("Alice.mkv", 0, Some(S), true)]),
            ("b", "Bob", vec![segment("Bob.mkv", 0, Some(S), true)]),
        ]);
        let t = build(&m, &dir.0, Some(&export)).unwrap();
        let url = |t: &Timeline, track: usize| {
            tracks(t)[track]["children"][0]["media_references"]["DEFAULT_MEDIA"]["target_url"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(Path::new(&url(&t, 0)), export.join("Alice.mp4"));
        // An empty file is an export that did not finish.
        assert_eq!(Path::new(&url(&t, 1)), dir.0.join("Bob.mkv"));
        let t = build(&m, &dir.0, None).unwrap();
        assert_eq!(Path::new(&url(&t, 0)), dir.0.join("Alice.mkv"));
    }

    #[test]
    fn every_object_names_its_schema() {
        fn check(v: &Value, path: &str) {
            match v {
                Value::Object(map) => {
                    // Metadata is free-form; media_references is a map of references.
                    if path.ends_with("metadata") {
                        return;
                    }
                    if !path.ends_with("media_references") {
                        assert!(map.contains_key("OTIO_SCHEMA"), "{path}: {v}");
                    }
                    for (k, child) in map {
                        check(child, &format!("{path}.{k}"));
                    }
                }
                Value::Array(items) => items.iter().for_each(|i| check(i, path)),
                _ => {}
            }
        }
        let dir = Folder::new("schemas", &["a.mkv"]);
        let m = manifest(&[("a", "A", vec![segment("a.mkv", S, Some(S), true)])]);
        let t = build(&m, &dir.0, None).unwrap();
        check(&t.document, "timeline");
        assert_eq!(
            t.document["name"],
            format!("Weekly, {}", m.started_at[..16].replace('T', " "))
        );
    }
}
