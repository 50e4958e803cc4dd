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
mod tests;
