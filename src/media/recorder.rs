//! Recording without transcoding: one Matroska file per track while recording (a silent track
//! never blocks the other), starting on a key frame, written unbuffered so a crash keeps
//! everything; when a participant's segment ends the tracks are remuxed into one file.

mod branch;
mod cut;
mod finish;
mod merge;
mod split;

pub use branch::{FAULT_CAPS_CHANGE_AFTER_MS, carries_in_band, unrecordable_reason};
pub use cut::TrackCut;
pub use merge::{FAULT_ABORT_AFTER_MERGE, dominant_size, remux_files, run_to_eos};

use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use gst::prelude::*;

use self::branch::{
    TrackRecording, TrackSource, build_track_branch, codec_name, request_keyframe_upstream,
};
use self::split::PendingSplit;
use super::error::EngineError;
use super::failure::{FailureKind, PipelineError};
use super::peer::Track;
use crate::library::manifest::SessionManifest;
use crate::library::name_template::{NameTemplate, NameValues};
use crate::library::naming;
use crate::room::{LeaveReason, MediaKind, ParticipantId, PeerKey, StreamId};

/// At most one key-frame request per this interval while waiting for one.
const KEYFRAME_RETRY: Duration = Duration::from_millis(200);
/// How often a manifest that could not be written (full disk) is tried again.
const MANIFEST_RETRY: Duration = Duration::from_secs(2);

/// What to record.
#[derive(Debug, Clone)]
pub struct RecordOptions {
    pub audio: bool,
    pub video: bool,
    /// Free space, in bytes, below which nothing starts and before which recording stops.
    pub min_free: u64,
    /// Start a new part for everyone at every multiple of this from the recording start.
    pub split_every: Option<Duration>,
    /// How the participants' files are named inside the session folder.
    pub name_template: NameTemplate,
}

impl Default for RecordOptions {
    fn default() -> Self {
        RecordOptions {
            audio: true,
            video: true,
            min_free: crate::library::disk_space::DEFAULT_MIN_FREE,
            split_every: None,
            name_template: NameTemplate::default(),
        }
    }
}

/// How one participant segment ended up on disk.
#[derive(Debug, Clone)]
pub struct SegmentOutcome {
    pub participant: ParticipantId,
    pub file: PathBuf,
    pub outcome: SegmentResult,
}

/// A segment's file is final, or why it is not.
pub type SegmentResult = Result<SegmentSaved, SegmentError>;

/// A segment whose file is final.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SegmentSaved {
    /// The stream changed in a way the file could not take: the part ended early, whole, and
    /// the participant went on in a new part.
    pub split: Option<FailureKind>,
}

/// Why a segment's file could not be finished; what was recorded stays on disk.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SegmentError {
    pub message: String,
    /// What kind of failure ended it early, if one did.
    pub failure: Option<FailureKind>,
}

/// The first key frame of a track reached the file.
#[derive(Debug, Clone)]
pub struct FirstKeyframe {
    pub participant: ParticipantId,
    pub kind: MediaKind,
    /// From the moment recording of this track started.
    pub after: Duration,
}

struct SegmentRecording {
    participant_id: ParticipantId,
    stream_id: StreamId,
    segment_index: u32,
    /// The values its file names are made of, fixed when it started: a label changed later
    /// does not rename the parts still to come.
    names: SegmentNames,
    started_wall: SystemTime,
    /// Where the segment starts on the session timeline.
    start_offset_ns: u64,
    /// The part being written now (0 until a `--split-every` mark).
    part: u32,
    /// Where the current part starts on the session timeline.
    part_start_offset_ns: u64,
    /// The running time the current part's branches take as their zero.
    part_base: Option<gst::ClockTime>,
    /// A split to the current part from the one before, under way.
    pending: Option<PendingSplit>,
    tracks: Vec<TrackRecording>,
    pipeline: gst::Pipeline,
    running_time_base: Option<gst::ClockTime>,
    last_keyframe_request: Option<Instant>,
    /// Set when writing failed: the segment ends with this error whatever the merge says.
    failure: Option<(FailureKind, String)>,
    /// Set when the stream changed in a way the file cannot take: the segment ends as a split,
    /// not a failure, and the participant goes on in a new part.
    split: Option<FailureKind>,
    /// The operator left this participant out: the segment ends as `excluded`.
    excluded: bool,
}

/// What the name template of a segment's files is filled with, besides the part.
struct SegmentNames {
    room: String,
    date: String,
    time: String,
    label: String,
    stream: String,
    /// From 1: the participant's how-manieth stretch in this session.
    stretch: u32,
}

impl SegmentNames {
    /// The file stem of `part` (from 0), before a track suffix or a uniqueness counter.
    fn stem(&self, template: &NameTemplate, part: u32) -> String {
        template.render(&NameValues {
            room: &self.room,
            date: &self.date,
            time: &self.time,
            label: &self.label,
            stream: &self.stream,
            stretch: self.stretch,
            part: part.saturating_add(1),
        })
    }
}

/// A session folder being recorded into.
pub struct SessionRecorder {
    dir: PathBuf,
    /// The session folder's device and inode when it was made, to notice it being deleted.
    folder_identity: Option<(u64, u64)>,
    /// Shared with the futures that finish segments, which update it when they complete.
    manifest: Rc<RefCell<SessionManifest>>,
    options: RecordOptions,
    /// The room as joined, for `{room}` in file names.
    room: String,
    started_wall: SystemTime,
    segments: BTreeMap<PeerKey, SegmentRecording>,
    reserved_names: HashSet<String>,
    manifest_dirty: bool,
    manifest_retry_at: Option<Instant>,
    /// Segments ended early because writing failed.
    failed_segments: u32,
    /// Segments whose finishing (drain, merge, manifest update) has begun and not ended.
    finishing: Rc<std::cell::Cell<usize>>,
    /// What the segments that ended had written into their track files.
    finished_bytes: u64,
    /// The next `--split-every` mark on the session timeline.
    next_mark: Option<Duration>,
}

/// What a tick of the recorder did.
#[derive(Default)]
pub struct RecorderTick {
    /// Tracks whose first key frame was written since the last tick.
    pub firsts: Vec<FirstKeyframe>,
    /// Parts that ended at a `--split-every` mark, finishing: who, and the outcome.
    pub finished_parts: Vec<(ParticipantId, PartFinishing)>,
}

/// A part being finished, resolving once its file is final.
pub type PartFinishing = std::pin::Pin<Box<dyn Future<Output = SegmentOutcome>>>;

impl SessionRecorder {
    /// Creates `<parent>/<room> <date time>/` and its manifest.
    pub fn create(
        parent: &Path,
        room: &str,
        server: &str,
        options: RecordOptions,
    ) -> Result<SessionRecorder, EngineError> {
        let now = SystemTime::now();
        std::fs::create_dir_all(parent).map_err(|error| EngineError::RecordingsFolder {
            path: parent.to_owned(),
            error,
        })?;
        let base = naming::session_folder_name(room, now);
        let mut dir = parent.join(&base);
        let mut n = 2;
        while dir.exists() {
            dir = parent.join(format!("{base} ({n})"));
            n += 1;
        }
        std::fs::create_dir(&dir).map_err(|error| EngineError::SessionFolder {
            path: dir.clone(),
            error,
        })?;
        let manifest = SessionManifest::new(room, server, naming::unix_ms(now));
        manifest
            .write_atomic(&dir)
            .map_err(|error| EngineError::Manifest {
                path: dir.join("session.json"),
                error,
            })?;
        let folder_identity = folder_identity(&dir);
        Ok(SessionRecorder {
            folder_identity,
            dir,
            manifest: Rc::new(RefCell::new(manifest)),
            next_mark: options.split_every,
            options,
            room: room.to_owned(),
            started_wall: now,
            segments: BTreeMap::new(),
            reserved_names: HashSet::new(),
            manifest_dirty: false,
            manifest_retry_at: None,
            failed_segments: 0,
            finishing: Rc::new(std::cell::Cell::new(0)),
            finished_bytes: 0,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the session folder is gone (deleted, or replaced by another one of the same
    /// name): the open track files then write into the void.
    pub fn folder_lost(&self) -> bool {
        folder_identity(&self.dir) != self.folder_identity || self.folder_identity.is_none()
    }

    /// Creates the session folder again and writes the manifest into it, so the recording can
    /// go on there.
    pub fn recreate_folder(&mut self) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        self.folder_identity = folder_identity(&self.dir);
        self.manifest.borrow().write_atomic(&self.dir)
    }

    /// Ends every segment now because of `reason` (a failure of `kind`); returns who had one
    /// and each segment's finishing.
    pub fn fail_all(
        &mut self,
        kind: FailureKind,
        reason: &str,
    ) -> Vec<(PeerKey, impl Future<Output = SegmentOutcome> + use<>)> {
        let keys: Vec<PeerKey> = self.segments.keys().cloned().collect();
        let mut finishing = Vec::new();
        for key in keys {
            let Some(mut segment) = self.segments.remove(&key) else {
                continue;
            };
            segment.failure = Some((kind, reason.to_owned()));
            self.failed_segments += 1;
            finishing.push((key, self.finish_segment(segment, LeaveReason::Failed)));
        }
        finishing
    }

    /// What this recording has written so far, and what joining the track files of the
    /// segments still open will write on top.
    pub fn bytes_on_disk(&self) -> (u64, u64) {
        let open: u64 = self
            .segments
            .values()
            .flat_map(|segment| {
                let old = segment.pending.iter().flat_map(|p| &p.old_tracks);
                segment.tracks.iter().chain(old)
            })
            .map(|track| file_size(&track.file))
            .sum();
        (self.finished_bytes.saturating_add(open), open)
    }

    /// A copy of the manifest as it is now.
    pub fn manifest(&self) -> SessionManifest {
        self.manifest.borrow().clone()
    }

    fn write_manifest(&mut self) {
        match self.manifest.borrow().write_atomic(&self.dir) {
            Ok(()) => self.manifest_dirty = false,
            Err(err) => {
                self.manifest_dirty = true;
                self.manifest_retry_at = Some(Instant::now() + MANIFEST_RETRY);
                tracing::warn!(
                    "cannot update {}: {err}",
                    self.dir.join("session.json").display()
                );
            }
        }
    }

    /// Renames a participant's entry (their label arrived on the data channel).
    pub fn set_label(&mut self, participant: &str, label: &str) {
        let Some(stream_id) = self
            .segments
            .iter()
            .find(|(key, _)| key.participant == participant)
            .map(|(_, seg)| seg.stream_id.clone())
        else {
            return;
        };
        let changed = {
            let mut manifest = self.manifest.borrow_mut();
            match manifest.find_participant_mut(&stream_id) {
                Some(entry) if entry.label != label => {
                    entry.label = label.to_owned();
                    true
                }
                _ => false,
            }
        };
        if changed {
            self.write_manifest();
        }
    }

    /// Periodic work: `--split-every` marks and the splits under way, key-frame re-requests
    /// and a manifest that could not be written before.
    pub fn on_tick(&mut self) -> RecorderTick {
        let mut tick = RecorderTick::default();
        self.split_at_marks();
        tick.finished_parts = self.complete_splits();
        let firsts = &mut tick.firsts;
        for segment in self.segments.values_mut() {
            for track in segment.tracks.iter_mut().filter(|t| !t.reported) {
                if let Some(at) = track.first_keyframe_at.get() {
                    track.reported = true;
                    firsts.push(FirstKeyframe {
                        participant: segment.participant_id.clone(),
                        kind: track.kind,
                        after: at.saturating_duration_since(track.attached_at),
                    });
                }
            }
        }
        for segment in self.segments.values_mut() {
            let waiting: Vec<&TrackRecording> = segment
                .tracks
                .iter()
                .filter(|t| t.kind == MediaKind::Video && !t.started.load(Ordering::Relaxed))
                .collect();
            if waiting.is_empty() {
                continue;
            }
            let due = segment
                .last_keyframe_request
                .is_none_or(|at| at.elapsed() >= KEYFRAME_RETRY);
            if due {
                segment.last_keyframe_request = Some(Instant::now());
                for track in waiting {
                    request_keyframe_upstream(&track.depay);
                }
            }
        }
        if self.manifest_dirty && self.manifest_retry_at.is_none_or(|at| Instant::now() >= at) {
            self.write_manifest();
        }
        tick
    }

    /// Sends a PLI for every video track of this peer.
    pub fn request_keyframe(&self, key: &PeerKey) {
        if let Some(segment) = self.segments.get(key) {
            for track in segment.tracks.iter().filter(|t| t.kind == MediaKind::Video) {
                request_keyframe_upstream(&track.depay);
            }
        }
    }

    /// Starts recording one track of a participant session.
    pub fn attach_track(
        &mut self,
        key: &PeerKey,
        stream_id: &str,
        label: Option<&str>,
        pipeline: &gst::Pipeline,
        track: &Track,
    ) -> Result<(), EngineError> {
        let wanted = match track.kind {
            MediaKind::Audio => self.options.audio,
            MediaKind::Video => self.options.video,
        };
        if !wanted {
            return Ok(());
        }
        if !self.segments.contains_key(key) {
            let label = label.unwrap_or(stream_id);
            let mut manifest = self.manifest.borrow_mut();
            let entry = manifest.participant_mut(stream_id, label, stream_id);
            let segment_index = entry.next_segment_index();
            let (date, time) = naming::local_date_and_time(naming::unix_ms(self.started_wall));
            let names = SegmentNames {
                room: self.room.clone(),
                date,
                time,
                label: label.to_owned(),
                stream: stream_id.to_owned(),
                stretch: segment_index.saturating_add(1),
            };
            let started_wall = SystemTime::now();
            let start_offset_ns = started_wall
                .duration_since(self.started_wall)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            let running_time_base = pipeline.current_running_time();
            entry.segments.push(crate::library::manifest::Segment {
                index: segment_index,
                start_offset_ns,
                ..Default::default()
            });
            self.segments.insert(
                key.clone(),
                SegmentRecording {
                    participant_id: key.participant.clone(),
                    stream_id: StreamId::from(stream_id),
                    segment_index,
                    names,
                    started_wall,
                    start_offset_ns,
                    part: 0,
                    part_start_offset_ns: start_offset_ns,
                    part_base: running_time_base,
                    pending: None,
                    tracks: Vec::new(),
                    pipeline: pipeline.clone(),
                    running_time_base,
                    last_keyframe_request: None,
                    failure: None,
                    split: None,
                    excluded: false,
                },
            );
        }
        let Some(segment) = self.segments.get_mut(key) else {
            return Ok(());
        };
        if segment.tracks.iter().any(|t| t.kind == track.kind) {
            return Ok(());
        }
        let suffix = track_suffix(track.kind);
        let stem = segment
            .names
            .stem(&self.options.name_template, segment.part);
        let (file_name, opened) =
            create_track_file(&self.dir, &mut self.reserved_names, &stem, suffix)?;
        let file = self.dir.join(&file_name);
        let source = TrackSource {
            kind: track.kind,
            encoding: &track.encoding,
            tee: &track.tee,
        };
        let recording =
            build_track_branch(pipeline, &source, &file, opened, segment.part_base, None)?;
        segment.tracks.push(recording);
        if let Some(seg) = self.manifest.borrow_mut().segment_mut(
            &segment.stream_id,
            segment.segment_index,
            segment.part,
        ) {
            seg.track_files.push(file_name);
            match track.kind {
                MediaKind::Audio => seg.audio_codec = Some(codec_name(&track.encoding)),
                MediaKind::Video => seg.video_codec = Some(codec_name(&track.encoding)),
            }
        }
        self.write_manifest();
        Ok(())
    }

    /// Ends one participant session's segment because the operator left them out.
    pub fn exclude_peer(
        &mut self,
        key: &PeerKey,
    ) -> impl Future<Output = Vec<SegmentOutcome>> + use<> {
        if let Some(segment) = self.segments.get_mut(key) {
            segment.excluded = true;
        }
        self.finish_peer(key, LeaveReason::Stopped)
    }

    /// Ends one participant session's segment; resolves once its file is final.
    pub fn finish_peer(
        &mut self,
        key: &PeerKey,
        reason: LeaveReason,
    ) -> impl Future<Output = Vec<SegmentOutcome>> + use<> {
        let segment = self.segments.remove(key);
        let finishing = segment.map(|segment| self.finish_segment(segment, reason));
        async move {
            match finishing {
                Some(f) => vec![f.await],
                None => Vec::new(),
            }
        }
    }

    /// A pipeline error of this peer: when it comes from one of its recording branches (a full
    /// disk, a caps change the file cannot take), that segment ends now, with an error that
    /// says what happened. Everything the branch wrote before stays. Returns `None` when the
    /// error is not about this peer's recording.
    pub fn fail_peer(
        &mut self,
        key: &PeerKey,
        error: &PipelineError,
    ) -> Option<impl Future<Output = Vec<SegmentOutcome>> + use<>> {
        let segment = self.segments.get(key)?;
        // Branch elements are named `recN-…`; GStreamer names the element in the error's source
        // path and, for some errors, in its debug text.
        let ours = segment.tracks.iter().any(|t| {
            let marker = format!(":{}-", t.tag);
            error.source.contains(&marker) || error.text.contains(&marker)
        });
        if !ours {
            return None;
        }
        let mut segment = self.segments.remove(key)?;
        let reason = describe_failure(error, &self.dir);
        if error.kind.worth_a_new_part() {
            tracing::warn!(peer = %key, kind = error.kind.as_str(), "{reason}; a new part follows");
            segment.split = Some(error.kind);
        } else {
            tracing::error!(peer = %key, kind = error.kind.as_str(), "{reason}");
            segment.failure = Some((error.kind, reason));
            self.failed_segments += 1;
        }
        let finishing = self.finish_segment(segment, LeaveReason::Failed);
        Some(async move { vec![finishing.await] })
    }

    /// A split that could not go on in a new part (too many in a row) is a failure after all.
    pub fn count_failure(&mut self) {
        self.failed_segments += 1;
    }

    /// How many segments ended early because writing failed.
    pub fn failed_segments(&self) -> u32 {
        self.failed_segments
    }
}

fn track_suffix(kind: MediaKind) -> &'static str {
    match kind {
        MediaKind::Audio => "audio",
        MediaKind::Video => "video",
    }
}

/// Makes a track file `<stem>.<suffix>.mkv` in the session folder, new (never through a link
/// planted under its name); a name that is taken on disk is skipped.
fn create_track_file(
    dir: &Path,
    reserved: &mut HashSet<String>,
    stem: &str,
    suffix: &str,
) -> Result<(String, std::fs::File), EngineError> {
    let mut attempts = 0;
    loop {
        let name = naming::unique_in(reserved, &format!("{stem}.{suffix}"), "mkv");
        reserved.insert(name.clone());
        match crate::library::files::create_new(&dir.join(&name)) {
            Ok(opened) => return Ok((name, opened)),
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists && attempts < 20 => {
                tracing::warn!("{name} already exists in the session folder: not used");
                attempts += 1;
            }
            Err(error) => {
                return Err(EngineError::TrackFile {
                    path: dir.join(&name),
                    error,
                });
            }
        }
    }
}

/// The sentence an operator reads when a recording branch failed.
fn describe_failure(error: &PipelineError, dir: &Path) -> String {
    let dir = dir.display();
    let detail = &error.text;
    match error.kind {
        FailureKind::DiskFull => {
            format!("the disk is full: no space left in the recording folder {dir} ({detail})")
        }
        FailureKind::Permission => {
            format!("no permission to write to the recording folder {dir} ({detail})")
        }
        FailureKind::Write => format!("cannot write to the recording folder {dir}: {detail}"),
        FailureKind::Format => format!(
            "the recording file could not take a change in the stream; what was recorded is kept in {dir} ({detail})"
        ),
        FailureKind::MissingElement => format!(
            "a GStreamer element the recording needs is missing ({detail}); install the GStreamer plugin sets"
        ),
        FailureKind::Other => format!("recording into {dir} failed: {detail}"),
    }
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// The device and inode of a folder, `None` when it does not exist.
fn folder_identity(dir: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(dir)
        .ok()
        .filter(|m| m.is_dir())
        .map(|m| (m.dev(), m.ino()))
}
