//! Ending a segment or part: draining its branches, joining its track files into one and
//! writing what became of it into the manifest.

use std::future::Future;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use gst::prelude::*;

use super::branch::{TrackRecording, stop_branch};
use super::merge::{FAULT_ABORT_AFTER_MERGE, MergeError, dominant_size, merge_tracks};
use super::{
    SegmentError, SegmentOutcome, SegmentRecording, SegmentSaved, SessionRecorder, file_size,
};
use crate::library::manifest::{EndReason, SessionManifest, SessionState};
use crate::library::naming;
use crate::media::failure::FailureKind;
use crate::room::{LeaveReason, MediaKind, ParticipantId, StreamId};

/// webrtcbin's jitter buffer holds 200 ms by default; wait that long (and a bit) before ending
/// a segment so its last frames are kept.
const JITTER_DRAIN: Duration = Duration::from_millis(300);
/// How long a track branch may take to drain after EOS before it is cut.
const FINALISE_TIMEOUT: Duration = Duration::from_secs(5);

/// Room a merge needs beyond its tracks' size (headers, cues, the manifest).
const MERGE_HEADROOM: u64 = 1024 * 1024;

/// Counts one segment as finishing for as long as it lives.
pub(super) struct Finishing(Rc<std::cell::Cell<usize>>);

impl Finishing {
    pub(super) fn start(count: &Rc<std::cell::Cell<usize>>) -> Finishing {
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

    pub(super) fn finish_segment(
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
    pub(super) fn finish_part(
        &mut self,
        job: PartJob,
    ) -> impl Future<Output = SegmentOutcome> + use<> {
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
pub(super) struct PartJob {
    pub(super) participant_id: ParticipantId,
    pub(super) stream_id: StreamId,
    pub(super) segment_index: u32,
    pub(super) part: u32,
    pub(super) tracks: Vec<TrackRecording>,
    pub(super) pipeline: gst::Pipeline,
    pub(super) failure: Option<(FailureKind, String)>,
    pub(super) split: Option<FailureKind>,
    pub(super) end_reason: EndReason,
    pub(super) final_name: String,
    /// Known exactly for a part that ended at a cut; otherwise read from the joined file.
    pub(super) duration_ns: Option<u64>,
    /// Wait for the jitter buffer to hand over what it still holds.
    pub(super) drain: bool,
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
