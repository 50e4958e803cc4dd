//! Recording without transcoding: one Matroska file per track while recording (a silent track
//! never blocks the other), starting on a key frame, written unbuffered so a crash keeps
//! everything; when a participant's segment ends the tracks are remuxed into one file.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use gst::prelude::*;

use super::branch_guard::BranchGuard;
use super::error::EngineError;
use super::failure::{FailureKind, PipelineError};
use super::peer::Track;
use crate::library::manifest::{EndReason, SessionManifest, SessionState};
use crate::library::name_template::{NameTemplate, NameValues};
use crate::library::naming;
use crate::room::{LeaveReason, MediaKind, PeerKey};

/// At most one key-frame request per this interval while waiting for one.
const KEYFRAME_RETRY: Duration = Duration::from_millis(200);
/// webrtcbin's jitter buffer holds 200 ms by default; wait that long (and a bit) before ending
/// a segment so its last frames are kept.
const JITTER_DRAIN: Duration = Duration::from_millis(300);
/// How long a track branch may take to drain after EOS before it is cut.
const FINALISE_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a manifest that could not be written (full disk) is tried again.
const MANIFEST_RETRY: Duration = Duration::from_secs(2);

/// Names recording sinks uniquely per process, so a pipeline error can be traced to its branch.
static NEXT_SINK: AtomicU64 = AtomicU64::new(0);

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
    pub participant: String,
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

/// Shared between a track branch's streaming thread and the main loop.
#[derive(Debug, Default)]
struct TrackStats {
    frames: AtomicU64,
    first_pts: AtomicU64,
    last_pts: AtomicU64,
    keyframe_wait_started_ns: AtomicU64,
}

/// What a recording branch is made for: the track's kind, encoding and the tee it hangs from.
struct TrackSource<'a> {
    kind: MediaKind,
    encoding: &'a str,
    tee: &'a gst::Element,
}

struct TrackRecording {
    kind: MediaKind,
    /// The RTP encoding, for the branch of the next part.
    encoding: String,
    /// `recN`: the prefix of this branch's element names.
    tag: String,
    file: PathBuf,
    /// The open file the branch's fdsink writes into; closed when the track is dropped, after
    /// its elements have stopped.
    _opened: std::fs::File,
    tee: gst::Element,
    tee_pad: gst::Pad,
    /// First in the branch: a failure inside the branch stays inside it.
    guard: BranchGuard,
    elements: Vec<gst::Element>,
    eos: Option<futures_channel::oneshot::Receiver<()>>,
    stats: Arc<TrackStats>,
    caps: Arc<Mutex<Option<gst::Caps>>>,
    /// Every picture size the track had, with the time it started: (pts ns, width, height).
    sizes: Arc<Mutex<Vec<(u64, u32, u32)>>>,
    first_element_sink: gst::Pad,
    depay: gst::Element,
    started: Arc<std::sync::atomic::AtomicBool>,
    attached_at: Instant,
    first_keyframe_at: Arc<std::sync::OnceLock<Instant>>,
    reported: bool,
    /// Set when a split is under way: from its cut on, this branch's buffers go to the next
    /// part's branch instead.
    cut_out: Arc<Mutex<Option<Arc<TrackCut>>>>,
}

/// Where one track of a participant moves from one part's file to the next, at a
/// `--split-every` mark. The old part's branch and the new part's branch both see every buffer
/// (the tee feeds both, from one streaming thread), and each buffer goes to exactly one of
/// them: the first buffer at or after the threshold (for video: a key frame) is the cut,
/// decided by whichever branch sees it first, and everything from it on is the new part's.
#[derive(Debug)]
pub struct TrackCut {
    /// Pipeline running time of the mark, in ns: the new part takes nothing before it.
    mark_rt: u64,
    /// For audio beside video: the video's cut, which audio follows, so a part's tracks start
    /// together and no audio is in two parts.
    follow: Option<Arc<TrackCut>>,
    /// Running time + 1 of the new part's first buffer; 0 while undecided.
    at: AtomicU64,
    /// Running time + 1 of the latest buffer the old part took: a buffer the old part already
    /// wrote (before the threshold was known) is never claimed by the new part too.
    old_last: AtomicU64,
    /// The new branch's queue output: once the cut is known, the part's file timeline is moved
    /// to start at it.
    new_queue_src: Mutex<Option<gst::Pad>>,
    /// The running time the new branch's offset already removes.
    new_base: u64,
}

impl TrackCut {
    pub fn new(mark_rt: u64, follow: Option<Arc<TrackCut>>) -> TrackCut {
        TrackCut {
            mark_rt,
            follow,
            at: AtomicU64::new(0),
            old_last: AtomicU64::new(0),
            new_queue_src: Mutex::new(None),
            new_base: mark_rt,
        }
    }

    /// The running time of the new part's first buffer, once decided.
    pub fn decided(&self) -> Option<u64> {
        let at = self.at.load(Ordering::SeqCst);
        (at > 0).then(|| at - 1)
    }

    /// Where the new part's file timeline begins: the video's cut when there is video.
    fn origin(&self) -> Option<u64> {
        match &self.follow {
            Some(video) => video.decided(),
            None => self.decided(),
        }
    }

    /// Whether the buffer at running time `rt` belongs to the new part; the first one that
    /// does decides the cut. `key` is false for a video delta frame.
    pub fn belongs_to_new(&self, rt: u64, key: bool, old_side: bool) -> bool {
        if let Some(at) = self.decided() {
            return rt >= at;
        }
        let threshold = match &self.follow {
            Some(video) => video.decided(),
            None => Some(self.mark_rt),
        };
        let Some(threshold) = threshold else {
            return false;
        };
        if rt < threshold || !key {
            return false;
        }
        if !old_side && rt.saturating_add(1) <= self.old_last.load(Ordering::SeqCst) {
            return false;
        }
        match self
            .at
            .compare_exchange(0, rt.saturating_add(1), Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) => {
                tracing::debug!(
                    rt,
                    mark_rt = self.mark_rt,
                    old_side,
                    origin = ?self.origin(),
                    "the new part starts here"
                );
                self.move_origin();
                true
            }
            Err(at) => rt.saturating_add(1) >= at,
        }
    }

    /// The old part took the buffer at `rt`.
    pub fn taken_by_old(&self, rt: u64) {
        self.old_last
            .fetch_max(rt.saturating_add(1), Ordering::SeqCst);
    }

    /// Shifts the new part's file timeline so that it starts at the cut, not at the mark: the
    /// part's length is then what a player shows, and its tracks share one origin.
    fn move_origin(&self) {
        let Some(origin) = self.origin() else { return };
        let shift = origin.saturating_sub(self.new_base);
        if let Ok(pad) = self.new_queue_src.lock()
            && let Some(pad) = pad.as_ref()
        {
            pad.set_offset(-(i64::try_from(shift).unwrap_or(i64::MAX)));
        }
    }
}

/// A split under way: the old part still writes until every track's cut.
struct PendingSplit {
    old_tracks: Vec<TrackRecording>,
    old_part: u32,
    old_stem: String,
    old_start_offset_ns: u64,
    old_part_base: Option<gst::ClockTime>,
    /// One per track of the new part, the video's first.
    cuts: Vec<Arc<TrackCut>>,
    started: Instant,
}

/// The first key frame of a track reached the file.
#[derive(Debug, Clone)]
pub struct FirstKeyframe {
    pub participant: String,
    pub kind: MediaKind,
    /// From the moment recording of this track started.
    pub after: Duration,
}

struct SegmentRecording {
    participant_id: String,
    stream_id: String,
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
    pub finished_parts: Vec<(String, PartFinishing)>,
}

/// A part being finished, resolving once its file is final.
pub type PartFinishing = std::pin::Pin<Box<dyn Future<Output = SegmentOutcome>>>;

/// Counts one segment as finishing for as long as it lives.
struct Finishing(Rc<std::cell::Cell<usize>>);

impl Finishing {
    fn start(count: &Rc<std::cell::Cell<usize>>) -> Finishing {
        count.set(count.get() + 1);
        Finishing(count.clone())
    }
}

impl Drop for Finishing {
    fn drop(&mut self) {
        self.0.set(self.0.get().saturating_sub(1));
    }
}

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

    /// At a `--split-every` mark, every participant being recorded starts a new part.
    fn split_at_marks(&mut self) {
        let (Some(every), Some(mark)) = (self.options.split_every, self.next_mark) else {
            return;
        };
        let elapsed = SystemTime::now()
            .duration_since(self.started_wall)
            .unwrap_or_default();
        if elapsed < mark {
            return;
        }
        self.next_mark = Some(crate::library::split::next_mark(elapsed, every));
        let mark_ns = u64::try_from(mark.as_nanos()).unwrap_or(u64::MAX);
        let keys: Vec<PeerKey> = self.segments.keys().cloned().collect();
        for key in keys {
            if let Err(err) = self.start_split(&key, mark_ns) {
                tracing::warn!(peer = %key, "cannot start a new part: {err:#}");
            }
        }
        self.write_manifest();
    }

    /// Opens the next part's files beside the current ones; the branches hand over at the cut.
    fn start_split(&mut self, key: &PeerKey, mark_ns: u64) -> Result<(), EngineError> {
        let Some(segment) = self.segments.get_mut(key) else {
            return Ok(());
        };
        // A split still under way (no key frame yet since the last mark) goes on as it is.
        if segment.pending.is_some() || segment.tracks.is_empty() {
            return Ok(());
        }
        // Someone who joined just before the mark is not cut into a sliver.
        if mark_ns
            < segment
                .part_start_offset_ns
                .saturating_add(MIN_PART.as_nanos() as u64)
        {
            return Ok(());
        }
        let Some(base) = segment.running_time_base else {
            return Ok(());
        };
        let mark_rt = base.nseconds() + (mark_ns - segment.start_offset_ns);
        let new_part = segment.part + 1;
        let stem = segment.names.stem(&self.options.name_template, new_part);
        let mut order: Vec<usize> = (0..segment.tracks.len()).collect();
        // Video first: audio follows its cut.
        order.sort_by_key(|&i| segment.tracks[i].kind != MediaKind::Video);
        let mut video_cut: Option<Arc<TrackCut>> = None;
        let mut built: Vec<(usize, TrackRecording, String, Arc<TrackCut>)> = Vec::new();
        let mut failed = None;
        for i in order {
            let track = &segment.tracks[i];
            let follow = match track.kind {
                MediaKind::Audio => video_cut.clone(),
                MediaKind::Video => None,
            };
            let cut = Arc::new(TrackCut::new(mark_rt, follow));
            if track.kind == MediaKind::Video && video_cut.is_none() {
                video_cut = Some(cut.clone());
            }
            let suffix = track_suffix(track.kind);
            let attempt = create_track_file(&self.dir, &mut self.reserved_names, &stem, suffix)
                .and_then(|(name, opened)| {
                    let source = TrackSource {
                        kind: track.kind,
                        encoding: &track.encoding,
                        tee: &track.tee,
                    };
                    build_track_branch(
                        &segment.pipeline,
                        &source,
                        &self.dir.join(&name),
                        opened,
                        Some(gst::ClockTime::from_nseconds(mark_rt)),
                        Some(cut.clone()),
                    )
                    .map(|recording| (recording, name))
                });
            match attempt {
                Ok((recording, name)) => built.push((i, recording, name, cut)),
                Err(err) => {
                    failed = Some(err);
                    break;
                }
            }
        }
        if let Some(err) = failed {
            for (_, track, _, _) in built {
                discard_branch(&segment.pipeline, track);
            }
            return Err(err);
        }
        let mut track_files = Vec::new();
        let mut cuts = Vec::new();
        let mut new_tracks = Vec::new();
        for (i, recording, name, cut) in built {
            if let Ok(mut slot) = segment.tracks[i].cut_out.lock() {
                *slot = Some(cut.clone());
            }
            track_files.push(name);
            cuts.push(cut);
            new_tracks.push(recording);
        }
        let (video_codec, audio_codec) = self
            .manifest
            .borrow()
            .segment(&segment.stream_id, segment.segment_index, segment.part)
            .map(|s| (s.video_codec.clone(), s.audio_codec.clone()))
            .unwrap_or_default();
        if let Some(entry) = self
            .manifest
            .borrow_mut()
            .find_participant_mut(&segment.stream_id)
        {
            entry.segments.push(crate::library::manifest::Segment {
                index: segment.segment_index,
                part: new_part,
                start_offset_ns: mark_ns,
                video_codec,
                audio_codec,
                track_files,
                ..Default::default()
            });
        }
        let old_tracks = std::mem::replace(&mut segment.tracks, new_tracks);
        segment.pending = Some(PendingSplit {
            old_tracks,
            old_part: segment.part,
            old_stem: segment
                .names
                .stem(&self.options.name_template, segment.part),
            old_start_offset_ns: segment.part_start_offset_ns,
            old_part_base: segment.part_base,
            cuts,
            started: Instant::now(),
        });
        segment.part = new_part;
        segment.part_start_offset_ns = mark_ns;
        segment.part_base = Some(gst::ClockTime::from_nseconds(mark_rt));
        tracing::info!(peer = %key, part = new_part + 1, "a new part starts at the next key frame");
        Ok(())
    }

    /// Ends the old part of every split whose tracks have all been cut.
    fn complete_splits(&mut self) -> Vec<(String, PartFinishing)> {
        let ready: Vec<PeerKey> = self
            .segments
            .iter()
            .filter(|(_, segment)| {
                segment.pending.as_ref().is_some_and(|pending| {
                    pending.cuts.iter().all(|cut| cut.decided().is_some())
                        || pending.started.elapsed() >= SPLIT_TIMEOUT
                })
            })
            .map(|(key, _)| key.clone())
            .collect();
        let mut finishing = Vec::new();
        for key in ready {
            let Some(mut segment) = self.segments.remove(&key) else {
                continue;
            };
            let participant = segment.participant_id.clone();
            let job = self.complete_split(&mut segment);
            self.segments.insert(key, segment);
            if let Some(job) = job {
                finishing.push((participant, Box::pin(self.finish_part(job)) as _));
            }
        }
        if !finishing.is_empty() {
            self.write_manifest();
        }
        finishing
    }

    /// The new part's place on the timeline, now that its cut is known, and the old part's
    /// finishing. A split whose cut never came (no key frame in time) is one part after all.
    fn complete_split(&mut self, segment: &mut SegmentRecording) -> Option<PartJob> {
        let pending = segment.pending.take()?;
        let origin = pending
            .cuts
            .first()
            .and_then(|cut| cut.origin().or(cut.decided()));
        let Some(origin) = origin.filter(|_| pending.cuts.iter().all(|c| c.decided().is_some()))
        else {
            tracing::warn!(
                participant = %segment.participant_id,
                "no key frame came for the new part: the part goes on"
            );
            self.cancel_split(segment, pending);
            return None;
        };
        let base = segment.running_time_base.map(|b| b.nseconds()).unwrap_or(0);
        let start = segment.start_offset_ns + origin.saturating_sub(base);
        segment.part_start_offset_ns = start;
        segment.part_base = Some(gst::ClockTime::from_nseconds(origin));
        let duration = start.saturating_sub(pending.old_start_offset_ns);
        if let Some(seg) = self.manifest.borrow_mut().segment_mut(
            &segment.stream_id,
            segment.segment_index,
            segment.part,
        ) {
            seg.start_offset_ns = start;
        }
        let final_name = naming::unique_in(&self.reserved_names, &pending.old_stem, "mkv");
        self.reserved_names.insert(final_name.clone());
        let track_bytes: u64 = pending.old_tracks.iter().map(|t| file_size(&t.file)).sum();
        self.finished_bytes = self.finished_bytes.saturating_add(track_bytes);
        Some(PartJob {
            participant_id: segment.participant_id.clone(),
            stream_id: segment.stream_id.clone(),
            segment_index: segment.segment_index,
            part: pending.old_part,
            tracks: pending.old_tracks,
            pipeline: segment.pipeline.clone(),
            failure: None,
            split: None,
            end_reason: EndReason::Split,
            final_name,
            duration_ns: Some(duration),
            // The old branches get nothing after their cut: there is nothing left to drain.
            drain: false,
        })
    }

    /// Takes back a split that did not happen: the new part's branches and files go, the old
    /// part goes on.
    fn cancel_split(&mut self, segment: &mut SegmentRecording, pending: PendingSplit) {
        let new_tracks = std::mem::replace(&mut segment.tracks, pending.old_tracks);
        for track in &segment.tracks {
            if let Ok(mut slot) = track.cut_out.lock() {
                *slot = None;
            }
        }
        let abandoned_part = segment.part;
        for track in new_tracks {
            let name = track.file.clone();
            discard_branch(&segment.pipeline, track);
            let _ = std::fs::remove_file(&name);
        }
        segment.part = pending.old_part;
        segment.part_start_offset_ns = pending.old_start_offset_ns;
        segment.part_base = pending.old_part_base;
        if let Some(entry) = self
            .manifest
            .borrow_mut()
            .find_participant_mut(&segment.stream_id)
        {
            let index = segment.segment_index;
            entry
                .segments
                .retain(|s| !(s.index == index && s.part == abandoned_part));
        }
        self.write_manifest();
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
                    stream_id: stream_id.to_owned(),
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

    /// Ends every segment, marks the session finished and writes the manifest.
    pub fn finish_all(
        &mut self,
        reason: LeaveReason,
    ) -> impl Future<Output = Vec<SegmentOutcome>> + use<> {
        let segments: Vec<SegmentRecording> =
            std::mem::take(&mut self.segments).into_values().collect();
        let futures: Vec<_> = segments
            .into_iter()
            .map(|segment| self.finish_segment(segment, reason))
            .collect();
        // Every segment stops now, together: awaited one after another, each would go on
        // recording while the ones before it drain and merge, and the files would end seconds
        // apart.
        let context = glib::MainContext::ref_thread_default();
        let running: Vec<_> = futures
            .into_iter()
            .map(|f| context.spawn_local(f))
            .collect();
        let manifest = self.manifest.clone();
        let dir = self.dir.clone();
        let finishing = self.finishing.clone();
        async move {
            let mut outcomes = Vec::new();
            for handle in running {
                match handle.await {
                    Ok(outcome) => outcomes.push(outcome),
                    Err(err) => tracing::warn!("a segment did not finish: {err}"),
                }
            }
            // Someone who left just before the stop is still being merged: the session is
            // finished only once their file is final too.
            let deadline = Instant::now() + FINALISE_TIMEOUT * 6;
            while finishing.get() > 0 && Instant::now() < deadline {
                glib::timeout_future(Duration::from_millis(50)).await;
            }
            let mut manifest = manifest.borrow_mut();
            manifest.state = SessionState::Finished;
            manifest.ended_unix_ms = Some(naming::unix_ms(SystemTime::now()));
            if let Err(err) = manifest.write_atomic(&dir) {
                tracing::warn!("cannot finish the manifest in {}: {err}", dir.display());
            }
            outcomes
        }
    }

    fn finish_segment(
        &mut self,
        mut segment: SegmentRecording,
        reason: LeaveReason,
    ) -> impl Future<Output = SegmentOutcome> + use<> {
        // A split under way ends first: with its cut, the old part is finished as usual; without
        // one, the new part had nothing and is taken back.
        let earlier_part = self.complete_split(&mut segment);
        let earlier = earlier_part.map(|job| self.finish_part(job));
        let final_name = naming::unique_in(
            &self.reserved_names,
            &segment
                .names
                .stem(&self.options.name_template, segment.part),
            "mkv",
        );
        self.reserved_names.insert(final_name.clone());
        let end_reason = match reason {
            _ if segment.failure.is_some() => EndReason::Failed,
            _ if segment.split.is_some() => EndReason::Split,
            _ if segment.excluded => EndReason::Excluded,
            LeaveReason::Left | LeaveReason::Replaced => EndReason::Left,
            LeaveReason::Stopped => EndReason::Stopped,
            LeaveReason::Failed | LeaveReason::Vanished => EndReason::Lost,
            LeaveReason::Rejected => EndReason::Failed,
        };
        let _ = segment.started_wall;
        let track_bytes: u64 = segment.tracks.iter().map(|t| file_size(&t.file)).sum();
        self.finished_bytes = self.finished_bytes.saturating_add(track_bytes);
        let job = PartJob {
            participant_id: segment.participant_id,
            stream_id: segment.stream_id,
            segment_index: segment.segment_index,
            part: segment.part,
            tracks: segment.tracks,
            pipeline: segment.pipeline,
            failure: segment.failure,
            split: segment.split,
            end_reason,
            final_name,
            duration_ns: None,
            drain: true,
        };
        let this = self.finish_part(job);
        async move {
            // The part before goes first in the manifest and on disk.
            if let Some(earlier) = earlier {
                earlier.await;
            }
            this.await
        }
    }

    /// Drains a part's track branches, joins them into its file and updates the manifest.
    fn finish_part(&mut self, job: PartJob) -> impl Future<Output = SegmentOutcome> + use<> {
        let dir = self.dir.clone();
        let manifest = self.manifest.clone();
        let in_flight = Finishing::start(&self.finishing);
        async move {
            let _in_flight = in_flight;
            let PartJob {
                participant_id,
                stream_id,
                segment_index,
                part,
                tracks,
                pipeline,
                failure,
                split,
                end_reason,
                final_name,
                duration_ns,
                drain,
            } = job;
            let segment_index = (segment_index, part);
            // What the jitter buffer still holds is part of the recording: let it drain.
            if drain {
                glib::timeout_future(JITTER_DRAIN).await;
            }
            let mut finished_tracks = Vec::new();
            for mut track in tracks {
                stop_branch(&track);
                // A failed branch cannot drain (its muxer or sink is in error): what it wrote
                // is on disk already, unbuffered.
                if track.guard.has_failed() {
                    track.eos = None;
                }
                if let Some(eos) = track.eos.take() {
                    let timed_out = glib::future_with_timeout(FINALISE_TIMEOUT, eos)
                        .await
                        .is_err();
                    if timed_out {
                        tracing::warn!(
                            "track {} did not drain in time; closing it as is",
                            track.file.display()
                        );
                    }
                }
                // The tee pad goes first: a tee ignores what a released pad returns, so a push
                // still in flight into a failed branch cannot come back as FLUSHING and pause
                // the participant's track.
                track.tee.release_request_pad(&track.tee_pad);
                for element in &track.elements {
                    let _ = element.set_state(gst::State::Null);
                }
                let _ = pipeline.remove_many(track.elements.iter());
                finished_tracks.push(track);
            }
            let final_path = dir.join(&final_name);
            let inputs: Vec<(MediaKind, PathBuf, u64, Option<gst::Caps>)> = finished_tracks
                .iter()
                .map(|t| {
                    let caps = t.caps.lock().ok().and_then(|c| c.clone());
                    (
                        t.kind,
                        t.file.clone(),
                        t.stats.frames.load(Ordering::Relaxed),
                        caps,
                    )
                })
                .collect();
            // The size the picture had longest: browsers start small and grow within seconds.
            let main_size = finished_tracks
                .iter()
                .filter(|t| t.kind == MediaKind::Video)
                .find_map(|t| {
                    let sizes = t.sizes.lock().ok()?;
                    dominant_size(&sizes, t.stats.last_pts.load(Ordering::Relaxed))
                });
            let track_paths: Vec<PathBuf> = inputs.iter().map(|(_, p, _, _)| p.clone()).collect();
            // Joining writes the tracks again: when the disk cannot take that, each track file
            // stays as it is (each one plays), listed in the manifest.
            let needed: u64 =
                track_paths.iter().map(|p| file_size(p)).sum::<u64>() + MERGE_HEADROOM;
            if let Ok(free) = crate::library::disk_space::free_bytes(&dir)
                && free < needed
            {
                tracing::warn!(
                    "only {} free in {}: the track files of {final_name} are kept unjoined",
                    crate::library::disk_space::format_size(free),
                    dir.display()
                );
                let update = SegmentUpdate {
                    end_reason: Some(end_reason),
                    error: failure.as_ref().map(|(_, reason)| reason.clone()),
                    ..Default::default()
                };
                let mut manifest = manifest.borrow_mut();
                apply_update(&mut manifest, &stream_id, segment_index, update);
                if let Err(err) = manifest.write_atomic(&dir) {
                    tracing::warn!("cannot update the manifest in {}: {err}", dir.display());
                }
                return SegmentOutcome {
                    participant: participant_id,
                    file: track_paths.first().cloned().unwrap_or(final_path),
                    outcome: match failure {
                        Some((kind, message)) => Err(SegmentError {
                            message,
                            failure: Some(kind),
                        }),
                        None => Ok(SegmentSaved { split }),
                    },
                };
            }
            // The manifest names the joined file before it exists: a crash during the merge
            // leaves the track files, still listed; a crash after it leaves the joined file,
            // found by that name. Track files are removed only once the manifest no longer
            // lists them, so it never names a file that is gone.
            {
                let mut manifest = manifest.borrow_mut();
                let planned = SegmentUpdate {
                    file: Some(final_name.clone()),
                    ..Default::default()
                };
                apply_update(&mut manifest, &stream_id, segment_index, planned);
                if let Err(err) = manifest.write_atomic(&dir) {
                    tracing::warn!("cannot update the manifest in {}: {err}", dir.display());
                }
            }
            let (tx, rx) = futures_channel::oneshot::channel();
            let final_for_thread = final_path.clone();
            std::thread::spawn(move || {
                let _ = tx.send(merge_tracks(&inputs, &final_for_thread));
            });
            let merged = rx
                .await
                .unwrap_or_else(|_| Err(MergeError::Failed("merge thread died".to_owned())));
            if merged.is_ok() && std::env::var_os(FAULT_ABORT_AFTER_MERGE).is_some() {
                tracing::error!("{FAULT_ABORT_AFTER_MERGE} is set: aborting after the merge");
                std::process::abort();
            }
            let mut update = SegmentUpdate {
                end_reason: Some(end_reason),
                ..Default::default()
            };
            let error = match merged {
                Ok(info) => {
                    update.file = Some(final_name.clone());
                    update.duration_ns = duration_ns.or(info.duration_ns);
                    update.width = main_size.map(|(w, _)| w).or(info.width);
                    update.height = main_size.map(|(_, h)| h).or(info.height);
                    update.remove_track_files = true;
                    None
                }
                Err(MergeError::NoMedia) => {
                    // Nothing was recorded: no joined file, and the empty track files go.
                    update.file = Some(String::new());
                    update.remove_track_files = true;
                    Some("no media arrived for this segment".to_owned())
                }
                Err(MergeError::Failed(err)) => {
                    // The track files hold what was recorded: they stay, and stay listed.
                    update.file = Some(String::new());
                    Some(err)
                }
            };
            let remove_tracks = update.remove_track_files;
            // A write failure is the reason, even when the merge managed afterwards.
            let failure_kind = failure.as_ref().map(|(kind, _)| *kind).or(split);
            let error = failure.map(|(_, reason)| reason).or(error);
            update.error = error.clone();
            {
                let mut manifest = manifest.borrow_mut();
                apply_update(&mut manifest, &stream_id, segment_index, update);
                // Keep the on-disk manifest current even while others keep recording.
                match manifest.write_atomic(&dir) {
                    Ok(()) if remove_tracks => {
                        for path in &track_paths {
                            let _ = std::fs::remove_file(path);
                        }
                    }
                    Ok(()) => {}
                    Err(err) => {
                        tracing::warn!("cannot update the manifest in {}: {err}", dir.display())
                    }
                }
            }
            SegmentOutcome {
                participant: participant_id,
                file: final_path,
                outcome: match error {
                    Some(message) => Err(SegmentError {
                        message,
                        failure: failure_kind,
                    }),
                    None => Ok(SegmentSaved {
                        split: failure_kind,
                    }),
                },
            }
        }
    }
}

#[derive(Debug, Clone, Default)]
struct SegmentUpdate {
    file: Option<String>,
    duration_ns: Option<u64>,
    width: Option<u32>,
    height: Option<u32>,
    end_reason: Option<EndReason>,
    error: Option<String>,
    remove_track_files: bool,
}

/// A part whose recording ends: what finishing it needs.
struct PartJob {
    participant_id: String,
    stream_id: String,
    segment_index: u32,
    part: u32,
    tracks: Vec<TrackRecording>,
    pipeline: gst::Pipeline,
    failure: Option<(FailureKind, String)>,
    split: Option<FailureKind>,
    end_reason: EndReason,
    final_name: String,
    /// Known exactly for a part that ended at a cut; otherwise read from the joined file.
    duration_ns: Option<u64>,
    /// Wait for the jitter buffer to hand over what it still holds.
    drain: bool,
}

/// The shortest part a `--split-every` mark cuts off: someone who joined just before a mark
/// goes on to the next one.
const MIN_PART: Duration = Duration::from_secs(1);
/// A split whose cut has not come this long after its mark (a publisher that sends no key
/// frame) is taken back.
const SPLIT_TIMEOUT: Duration = Duration::from_secs(20);

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

/// Takes a branch that never wrote a part out of the pipeline.
fn discard_branch(pipeline: &gst::Pipeline, track: TrackRecording) {
    track.tee.release_request_pad(&track.tee_pad);
    let _ = track.tee_pad.unlink(&track.first_element_sink);
    for element in &track.elements {
        let _ = element.set_state(gst::State::Null);
    }
    let _ = pipeline.remove_many(track.elements.iter());
}

fn apply_update(
    manifest: &mut SessionManifest,
    stream_id: &str,
    (index, part): (u32, u32),
    update: SegmentUpdate,
) {
    let Some(seg) = manifest.segment_mut(stream_id, index, part) else {
        return;
    };
    if let Some(file) = update.file {
        seg.file = file;
    }
    seg.duration_ns = update.duration_ns.or(seg.duration_ns);
    seg.width = update.width.or(seg.width);
    seg.height = update.height.or(seg.height);
    seg.end_reason = update.end_reason.or(seg.end_reason);
    seg.error = update.error;
    if update.remove_track_files {
        seg.track_files.clear();
    }
}

/// Creates the encoding-specific depayloader and parser.
/// The depayloader and parser that record an RTP encoding, `None` for one Roomtape does not
/// record.
fn elements_for(encoding: &str) -> Option<(&'static str, Option<&'static str>)> {
    Some(match encoding {
        "VP8" => ("rtpvp8depay", None),
        "VP9" => ("rtpvp9depay", Some("vp9parse")),
        "H264" => ("rtph264depay", Some("h264parse")),
        "AV1" => ("rtpav1depay", Some("av1parse")),
        "OPUS" => ("rtpopusdepay", Some("opusparse")),
        _ => return None,
    })
}

/// Why a track in this RTP encoding cannot be recorded on this machine, or `None` when it can.
pub fn unrecordable_reason(encoding: &str) -> Option<String> {
    let Some((depay, _)) = elements_for(encoding) else {
        return Some(format!("{encoding} is not a codec Roomtape records"));
    };
    if gst::ElementFactory::find(depay).is_some() {
        return None;
    }
    let source = match depay {
        // Upstream moved it to the Rust plugins; Debian 12's GStreamer 1.22 does not ship it.
        "rtpav1depay" => "gst-plugins-rs (GStreamer 1.24 or later)",
        _ => "the GStreamer plugin sets good and bad",
    };
    Some(format!(
        "{encoding} cannot be recorded here: GStreamer's {depay} is not installed (it comes with {source})"
    ))
}

fn depay_and_parser(encoding: &str) -> Result<(gst::Element, Option<gst::Element>), EngineError> {
    let Some((depay, parser)) = elements_for(encoding) else {
        return Err(EngineError::NoRecorderFor(encoding.to_owned()));
    };
    let depay = gst::ElementFactory::make(depay)
        .build()
        .map_err(EngineError::element(depay))?;
    let parser = match parser {
        Some(name) if gst::ElementFactory::find(name).is_some() => {
            let parser = gst::ElementFactory::make(name)
                .build()
                .map_err(EngineError::element(name))?;
            if name == "h264parse" {
                // Parameter sets in front of every key frame: see `in_band_framing`.
                parser.set_property("config-interval", -1i32);
            }
            Some(parser)
        }
        _ => None,
    };
    Ok((depay, parser))
}

fn codec_name(encoding: &str) -> String {
    match encoding {
        "OPUS" => "opus".to_owned(),
        other => other.to_ascii_lowercase(),
    }
}

/// Builds a track's recording branch. `running_time_base` is the pipeline running time that
/// becomes the file's zero; `cut_in` makes it the next part's branch, taking buffers only
/// from that cut on.
fn build_track_branch(
    pipeline: &gst::Pipeline,
    track: &TrackSource<'_>,
    file: &Path,
    opened: std::fs::File,
    running_time_base: Option<gst::ClockTime>,
    cut_in: Option<Arc<TrackCut>>,
) -> Result<TrackRecording, EngineError> {
    let tag = format!("rec{}", NEXT_SINK.fetch_add(1, Ordering::Relaxed));
    let queue = gst::ElementFactory::make("queue")
        .name(format!("{tag}-queue"))
        .property("max-size-time", 2 * gst::ClockTime::SECOND.nseconds())
        .property("max-size-buffers", 0u32)
        .property("max-size-bytes", 0u32)
        .build()
        .map_err(EngineError::element("queue"))?;
    let (depay, parser) = depay_and_parser(track.encoding)?;
    let guard = BranchGuard::new(&format!("{tag}-guard"));
    let framing = in_band_framing(track.encoding, &tag)?;
    let mux = gst::ElementFactory::make("matroskamux")
        .name(format!("{tag}-mux"))
        .property("streamable", false)
        .build()
        .map_err(EngineError::element("matroskamux"))?;
    // fdsink writes each buffer as it comes (nothing buffered for a crash to lose) into the
    // file made above, which it never reopens by name.
    let sink = gst::ElementFactory::make("fdsink")
        .name(format!("{tag}-sink"))
        .property("fd", std::os::fd::AsRawFd::as_raw_fd(&opened))
        .property("sync", false)
        .property("async", false)
        .build()
        .map_err(EngineError::element("fdsink"))?;
    // The queue sits behind the parser: it then wakes its thread once per frame rather than
    // once per RTP packet (about eight times fewer for 720p video), while still keeping disk
    // writes off the jitter buffer's thread.
    let mut elements = vec![guard.clone().upcast::<gst::Element>(), depay.clone()];
    if let Some(parser) = &parser {
        elements.push(parser.clone());
    }
    if let Some(framing) = &framing {
        elements.push(framing.clone());
    }
    elements.push(queue.clone());
    elements.push(mux.clone());
    elements.push(sink.clone());
    pipeline.add_many(elements.iter())?;
    gst::Element::link_many(elements.iter())?;

    let stats = Arc::new(TrackStats::default());
    let started = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let first_keyframe_at = Arc::new(std::sync::OnceLock::new());
    let caps_slot = Arc::new(Mutex::new(None));
    let sizes: Arc<Mutex<Vec<(u64, u32, u32)>>> = Arc::default();
    let last = parser.as_ref().unwrap_or(&depay);
    let gate_pad = last.static_pad("src").ok_or(EngineError::NoPad {
        element: if parser.is_some() {
            "the parser"
        } else {
            "the depayloader"
        },
        pad: "src",
    })?;
    let cut_out: Arc<Mutex<Option<Arc<TrackCut>>>> = Arc::default();
    if let Some(cut) = &cut_in
        && let Ok(mut slot) = cut.new_queue_src.lock()
    {
        *slot = queue.static_pad("src");
    }
    {
        let cut_out = cut_out.clone();
        let segment: Mutex<Option<gst::FormattedSegment<gst::ClockTime>>> = Mutex::new(None);
        let stats = stats.clone();
        let started = started.clone();
        let caps_slot = caps_slot.clone();
        let sizes = sizes.clone();
        let first_keyframe_at = first_keyframe_at.clone();
        let kind = track.kind;
        gate_pad.add_probe(
            gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM,
            move |pad, info| {
                if let Some(gst::PadProbeData::Event(event)) = &info.data {
                    if let gst::EventView::Segment(seg) = event.view()
                        && let Ok(mut slot) = segment.lock()
                    {
                        *slot = seg.segment().downcast_ref::<gst::ClockTime>().cloned();
                    }
                    if let gst::EventView::Caps(caps) = event.view() {
                        if let Some(s) = caps.caps().structure(0)
                            && let (Ok(w), Ok(h)) = (s.get::<i32>("width"), s.get::<i32>("height"))
                            && let Ok(mut sizes) = sizes.lock()
                        {
                            let from = stats.last_pts.load(Ordering::Relaxed);
                            sizes.push((from, w.max(0) as u32, h.max(0) as u32));
                        }
                        if let Ok(mut slot) = caps_slot.lock() {
                            *slot = Some(caps.caps_owned());
                        }
                    }
                    return gst::PadProbeReturn::Ok;
                }
                let Some(buffer) = info.buffer() else {
                    return gst::PadProbeReturn::Ok;
                };
                // Around a part's cut, each buffer goes to exactly one of the two parts.
                let cut_here = cut_out.lock().ok().and_then(|slot| slot.clone());
                if cut_in.is_some() || cut_here.is_some() {
                    let key = kind == MediaKind::Audio
                        || !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
                    let rt = buffer.pts().and_then(|pts| {
                        let segment = segment.lock().ok()?;
                        pipeline_running_time(segment.as_ref()?, pts)
                    });
                    if let Some(cut) = &cut_here {
                        match rt {
                            Some(rt) if cut.belongs_to_new(rt, key, true) => {
                                return gst::PadProbeReturn::Drop;
                            }
                            Some(rt) => cut.taken_by_old(rt),
                            None => {}
                        }
                    }
                    if let Some(cut) = &cut_in {
                        let ours = rt.is_some_and(|rt| cut.belongs_to_new(rt, key, false));
                        if !ours {
                            return gst::PadProbeReturn::Drop;
                        }
                    }
                }
                if !started.load(Ordering::Relaxed) {
                    let is_key = kind == MediaKind::Audio
                        || !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
                    if !is_key {
                        // Recordings start on a key frame; the tick asks for one meanwhile.
                        let _ = pad;
                        return gst::PadProbeReturn::Drop;
                    }
                    started.store(true, Ordering::Relaxed);
                    let _ = first_keyframe_at.set(Instant::now());
                    if let Some(pts) = buffer.pts() {
                        stats.first_pts.store(pts.nseconds(), Ordering::Relaxed);
                    }
                }
                stats.frames.fetch_add(1, Ordering::Relaxed);
                if let Some(pts) = buffer.pts() {
                    stats.last_pts.store(pts.nseconds(), Ordering::Relaxed);
                }
                gst::PadProbeReturn::Ok
            },
        );
    }
    let _ = stats.keyframe_wait_started_ns.load(Ordering::Relaxed);
    if let Some(queue_src) = queue.static_pad("src") {
        keep_size_changes_in_band(&queue_src, &tag);
    }
    if track.kind == MediaKind::Video {
        inject_caps_change_for_tests(&queue);
    }

    let (eos_tx, eos_rx) = futures_channel::oneshot::channel::<()>();
    let eos_tx = Mutex::new(Some(eos_tx));
    let sink_pad = sink.static_pad("sink").ok_or(EngineError::NoPad {
        element: "fdsink",
        pad: "sink",
    })?;
    sink_pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
        if let Some(gst::PadProbeData::Event(event)) = &info.data
            && event.type_() == gst::EventType::Eos
            && let Ok(mut slot) = eos_tx.lock()
            && let Some(tx) = slot.take()
        {
            // Everything before this EOS was rendered: with an unbuffered sink it is on disk.
            let _ = tx.send(());
            // Handled, not Drop: the bindings take the event out of the probe info, and
            // GStreamer before 1.24.8 then unrefs the NULL left behind for a dropped event
            // ("gst_mini_object_unref: assertion 'mini_object != NULL' failed"). Handled
            // means the probe disposed of it, which the bindings do.
            return gst::PadProbeReturn::Handled;
        }
        gst::PadProbeReturn::Ok
    });

    let branch_sink = guard.static_pad("sink").ok_or(EngineError::NoPad {
        element: "the branch guard",
        pad: "sink",
    })?;
    // Both tracks of a segment share one time base, so the merged file is in sync and starts
    // near zero.
    if let Some(base) = running_time_base {
        branch_sink.set_offset(-(base.nseconds() as i64));
    }
    for element in &elements {
        element.sync_state_with_parent()?;
    }
    let tee_pad = track
        .tee
        .request_pad_simple("src_%u")
        .ok_or(EngineError::NoPad {
            element: "the track's tee",
            pad: "src",
        })?;
    tee_pad.link(&branch_sink)?;
    if track.kind == MediaKind::Video {
        request_keyframe_upstream(&depay);
    }
    Ok(TrackRecording {
        kind: track.kind,
        encoding: track.encoding.to_owned(),
        tag,
        file: file.to_owned(),
        _opened: opened,
        tee: track.tee.clone(),
        tee_pad,
        guard,
        elements,
        eos: Some(eos_rx),
        stats,
        caps: caps_slot,
        sizes,
        first_element_sink: branch_sink,
        depay,
        started,
        attached_at: Instant::now(),
        first_keyframe_at,
        reported: false,
        cut_out,
    })
}

/// The pipeline running time of a buffer at `pts` behind the depayloader. The depayloader
/// makes its own segment from the packets' timestamps, so the branch's pad offset is not in
/// it: this is the running time of the participant's stream, the same in every branch.
fn pipeline_running_time(
    segment: &gst::FormattedSegment<gst::ClockTime>,
    pts: gst::ClockTime,
) -> Option<u64> {
    match segment.to_running_time_full(pts)? {
        gst::Signed::Positive(t) => Some(t.nseconds()),
        gst::Signed::Negative(_) => None,
    }
}

/// For H.264, the parser puts the parameter sets in front of every key frame (`avc3`): a
/// browser that changes resolution sends a new SPS, and with it in-band the file carries the
/// change without a new header. Other codecs carry their frame size in the bitstream already.
fn in_band_framing(encoding: &str, tag: &str) -> Result<Option<gst::Element>, EngineError> {
    if encoding != "H264" {
        return Ok(None);
    }
    let caps = gst::Caps::builder("video/x-h264")
        .field("stream-format", "avc3")
        .field("alignment", "au")
        .build();
    Ok(Some(
        gst::ElementFactory::make("capsfilter")
            .name(format!("{tag}-framing"))
            .property("caps", &caps)
            .build()
            .map_err(EngineError::element("capsfilter"))?,
    ))
}

/// Whether a file written with `current` caps can take a stream that now has `new` caps
/// without a new header: same codec and the same framing, where only what the bitstream
/// itself carries changed (frame size, profile and level, parameter sets, frame rate).
pub fn carries_in_band(current: &gst::CapsRef, new: &gst::CapsRef) -> bool {
    let (Some(current), Some(new)) = (current.structure(0), new.structure(0)) else {
        return false;
    };
    // Audio caps carry what the file header must say (channels, rate, stream headers).
    current.name().starts_with("video/")
        && current.name() == new.name()
        && ["stream-format", "alignment"]
            .iter()
            .all(|&field| current.get::<&str>(field).ok() == new.get::<&str>(field).ok())
}

/// Browsers change resolution as their bandwidth estimate moves (Chrome within seconds of
/// starting); each change is new caps, and matroskamux 1.22 refuses any caps change on a file it
/// has started. A change the bitstream carries in-band is kept from the muxer, which goes on
/// writing the same track; any other change reaches it, fails the branch, and the segment goes
/// on in a new part.
fn keep_size_changes_in_band(pad: &gst::Pad, tag: &str) {
    let tag = tag.to_owned();
    pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |pad, info| {
        let Some(gst::PadProbeData::Event(event)) = &info.data else {
            return gst::PadProbeReturn::Ok;
        };
        let gst::EventView::Caps(caps) = event.view() else {
            return gst::PadProbeReturn::Ok;
        };
        let Some(current) = pad.peer().and_then(|peer| peer.current_caps()) else {
            return gst::PadProbeReturn::Ok;
        };
        let new = caps.caps();
        if current.as_ref() == new || !carries_in_band(&current, new) {
            return gst::PadProbeReturn::Ok;
        }
        tracing::info!("{tag}: the stream changed in-band, to {new}");
        // Handled rather than Drop: see the EOS probe in `build_track_branch`.
        gst::PadProbeReturn::Handled
    });
}

/// Set in the environment to a number of milliseconds, the first video branch of the process
/// gets a change of codec in its caps that long after it starts: a stream change no file can
/// take, for the fault suite to check that recording goes on in a new part.
pub const FAULT_CAPS_CHANGE_AFTER_MS: &str = "ROOMTAPE_FAULT_CAPS_CHANGE_AFTER_MS";

fn inject_caps_change_for_tests(queue: &gst::Element) {
    static INJECTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let Some(after_ms) = std::env::var(FAULT_CAPS_CHANGE_AFTER_MS)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    else {
        return;
    };
    if INJECTED.swap(true, Ordering::SeqCst) {
        return;
    }
    let Some(src) = queue.static_pad("src") else {
        return;
    };
    let due = Instant::now() + Duration::from_millis(after_ms);
    // In the streaming thread, before a buffer: as a stream's own caps change arrives.
    src.add_probe(gst::PadProbeType::BUFFER, move |pad, _| {
        if Instant::now() < due {
            return gst::PadProbeReturn::Ok;
        }
        let foreign = gst::Caps::builder("video/x-foreign-codec")
            .field("width", 320i32)
            .field("height", 240i32)
            .build();
        tracing::warn!("{FAULT_CAPS_CHANGE_AFTER_MS}: changing the stream's codec");
        let _ = pad.push_event(gst::event::Caps::new(&foreign));
        gst::PadProbeReturn::Remove
    });
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

/// Unlinks the branch from its tee and pushes EOS through it.
fn stop_branch(track: &TrackRecording) {
    let queue_sink = track.first_element_sink.clone();
    let tee_pad = track.tee_pad.clone();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let done_probe = done.clone();
    tee_pad.add_probe(gst::PadProbeType::IDLE, move |pad, _| {
        if !done_probe.swap(true, Ordering::SeqCst) {
            let _ = pad.unlink(&queue_sink);
            queue_sink.send_event(gst::event::Eos::new());
        }
        gst::PadProbeReturn::Remove
    });
}

fn request_keyframe_upstream(depay: &gst::Element) {
    let event = gst_video::UpstreamForceKeyUnitEvent::builder()
        .all_headers(true)
        .build();
    depay.send_event(event);
}

#[derive(Debug, Default)]
struct MergeInfo {
    duration_ns: Option<u64>,
    width: Option<u32>,
    height: Option<u32>,
}

/// Why a segment's tracks could not be joined.
#[derive(Debug)]
enum MergeError {
    /// No track holds a frame.
    NoMedia,
    Failed(String),
}

/// The device and inode of a folder, `None` when it does not exist.
/// The picture size held longest, from the sizes a track had (each with the time it began)
/// and the time of its last frame.
pub fn dominant_size(sizes: &[(u64, u32, u32)], end_ns: u64) -> Option<(u32, u32)> {
    let mut held: Vec<((u32, u32), u64)> = Vec::new();
    for (i, &(from, w, h)) in sizes.iter().enumerate() {
        if w == 0 || h == 0 {
            continue;
        }
        let until = sizes.get(i + 1).map_or(end_ns, |next| next.0).max(from);
        match held.iter_mut().find(|(size, _)| *size == (w, h)) {
            Some((_, total)) => *total += until - from,
            None => held.push(((w, h), until - from)),
        }
    }
    // At equal time the later size wins (where the stream settled).
    // (`max_by_key` returns the last of equal maxima.)
    held.iter()
        .max_by_key(|(_, total)| *total)
        .map(|(size, _)| *size)
}

/// Room a merge needs beyond its tracks' size (headers, cues, the manifest).
const MERGE_HEADROOM: u64 = 1024 * 1024;

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn folder_identity(dir: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(dir)
        .ok()
        .filter(|m| m.is_dir())
        .map(|m| (m.dev(), m.ino()))
}

/// Set in the environment, the recorder aborts right after joining a segment's tracks, before
/// the manifest says so: the fault suite's crash at the worst moment.
pub const FAULT_ABORT_AFTER_MERGE: &str = "ROOMTAPE_FAULT_ABORT_AFTER_MERGE";

/// Joins a segment's track files into one file (no re-encode). The caller removes the track
/// files once the manifest names the joined one.
fn merge_tracks(
    inputs: &[(MediaKind, PathBuf, u64, Option<gst::Caps>)],
    output: &Path,
) -> Result<MergeInfo, MergeError> {
    let usable: Vec<&(MediaKind, PathBuf, u64, Option<gst::Caps>)> = inputs
        .iter()
        .filter(|(_, path, frames, _)| *frames > 0 && path.metadata().is_ok_and(|m| m.len() > 0))
        .collect();
    if usable.is_empty() {
        return Err(MergeError::NoMedia);
    }
    let tmp = output.with_extension("mkv.part");
    remux_files(
        &usable
            .iter()
            .map(|(k, p, _, _)| (*k, p.clone()))
            .collect::<Vec<_>>(),
        &tmp,
    )
    .map_err(MergeError::Failed)?;
    std::fs::rename(&tmp, output)
        .map_err(|err| MergeError::Failed(format!("cannot rename {}: {err}", tmp.display())))?;
    Ok(describe_file(output).unwrap_or_default())
}

/// Remuxes Matroska track files into one Matroska file, keeping their timestamps.
pub fn remux_files(inputs: &[(MediaKind, PathBuf)], output: &Path) -> Result<(), String> {
    // Made afresh, never through a link planted under the name; kept open until the end.
    let opened = crate::library::files::replace_with_new(output)
        .map_err(|err| format!("cannot create {}: {err}", output.display()))?;
    let pipeline = gst::Pipeline::new();
    let build = || -> Result<(), String> {
        let mux = gst::ElementFactory::make("matroskamux")
            .build()
            .map_err(|e| e.to_string())?;
        let sink = gst::ElementFactory::make("fdsink")
            .property("fd", std::os::fd::AsRawFd::as_raw_fd(&opened))
            .build()
            .map_err(|e| e.to_string())?;
        pipeline
            .add_many([&mux, &sink])
            .map_err(|e| e.to_string())?;
        mux.link(&sink).map_err(|e| e.to_string())?;
        for (kind, path) in inputs {
            // Request the muxer pads before any data flows; late pads break the header.
            let template = match kind {
                MediaKind::Audio => "audio_%u",
                MediaKind::Video => "video_%u",
            };
            let mux_pad = mux
                .request_pad_simple(template)
                .ok_or("muxer refused a pad")?;
            let src = gst::ElementFactory::make("filesrc")
                .property("location", path.to_string_lossy().as_ref())
                .build()
                .map_err(|e| e.to_string())?;
            let demux = gst::ElementFactory::make("matroskademux")
                .build()
                .map_err(|e| e.to_string())?;
            let queue = gst::ElementFactory::make("queue")
                .build()
                .map_err(|e| e.to_string())?;
            pipeline
                .add_many([&src, &demux, &queue])
                .map_err(|e| e.to_string())?;
            src.link(&demux).map_err(|e| e.to_string())?;
            let queue_src = queue.static_pad("src").ok_or("queue without pad")?;
            queue_src.link(&mux_pad).map_err(|e| format!("{e:?}"))?;
            let queue_weak = queue.downgrade();
            demux.connect_pad_added(move |_, pad| {
                if let Some(queue) = queue_weak.upgrade()
                    && let Some(sink) = queue.static_pad("sink")
                    && !sink.is_linked()
                {
                    let _ = pad.link(&sink);
                }
            });
        }
        Ok(())
    };
    let result = build().and_then(|()| run_to_eos(&pipeline, Duration::from_secs(600)));
    let _ = pipeline.set_state(gst::State::Null);
    if result.is_err() {
        let _ = std::fs::remove_file(output);
    }
    result
}

/// Plays a pipeline to its end on the calling thread.
pub fn run_to_eos(pipeline: &gst::Pipeline, timeout: Duration) -> Result<(), String> {
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| format!("cannot start: {e}"))?;
    let bus = pipeline.bus().ok_or("pipeline without bus")?;
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err("timed out".to_owned());
        }
        let Some(message) = bus.timed_pop(gst::ClockTime::from_mseconds(left.as_millis() as u64))
        else {
            return Err("timed out".to_owned());
        };
        match message.view() {
            gst::MessageView::Eos(_) => return Ok(()),
            gst::MessageView::Error(err) => {
                return Err(format!(
                    "{} ({})",
                    err.error(),
                    err.debug().map(|d| d.to_string()).unwrap_or_default()
                ));
            }
            _ => {}
        }
    }
}

/// Duration and video size of a media file, from GStreamer's discoverer.
fn describe_file(path: &Path) -> Option<MergeInfo> {
    let discoverer = gst_pbutils::Discoverer::new(gst::ClockTime::from_seconds(15)).ok()?;
    let uri = glib::filename_to_uri(path, None).ok()?;
    let info = discoverer.discover_uri(&uri).ok()?;
    let mut out = MergeInfo {
        duration_ns: info.duration().map(|d| d.nseconds()),
        ..Default::default()
    };
    for stream in info.video_streams() {
        out.width = Some(stream.width());
        out.height = Some(stream.height());
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_size_held_longest_is_the_segments_size() {
        let s = 1_000_000_000u64;
        // A browser starting at 320×240, at 1280×720 for most of the minute, dropping to
        // 640×360 for ten seconds.
        let sizes = [
            (0, 320, 240),
            (2 * s, 1280, 720),
            (40 * s, 640, 360),
            (50 * s, 1280, 720),
        ];
        assert_eq!(dominant_size(&sizes, 60 * s), Some((1280, 720)));
        assert_eq!(dominant_size(&[(0, 640, 360)], 5 * s), Some((640, 360)));
        assert_eq!(dominant_size(&[], 5 * s), None);
        // At equal time, where the stream settled.
        assert_eq!(
            dominant_size(&[(0, 320, 240), (5 * s, 640, 480)], 10 * s),
            Some((640, 480))
        );
        assert_eq!(dominant_size(&[(0, 0, 0), (s, 16, 16)], s), Some((16, 16)));
    }
}
