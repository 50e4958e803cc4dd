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
mod tests;
