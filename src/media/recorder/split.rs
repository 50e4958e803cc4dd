//! `--split-every`: at each mark every participant goes on in a new part, from the first key
//! frame after it, with no frame in two parts and none lost between them.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::branch::{TrackRecording, TrackSource, build_track_branch, discard_branch};
use super::cut::TrackCut;
use super::finish::PartJob;
use super::{
    PartFinishing, SegmentRecording, SessionRecorder, create_track_file, file_size, track_suffix,
};
use crate::library::manifest::EndReason;
use crate::library::naming;
use crate::media::error::EngineError;
use crate::room::{MediaKind, ParticipantId, PeerKey};

/// A split under way: the old part still writes until every track's cut.
pub(super) struct PendingSplit {
    pub(super) old_tracks: Vec<TrackRecording>,
    pub(super) old_part: u32,
    pub(super) old_stem: String,
    pub(super) old_start_offset_ns: u64,
    pub(super) old_part_base: Option<gst::ClockTime>,
    /// One per track of the new part, the video's first.
    pub(super) cuts: Vec<Arc<TrackCut>>,
    pub(super) started: Instant,
}

/// The shortest part a `--split-every` mark cuts off: someone who joined just before a mark
/// goes on to the next one.
const MIN_PART: Duration = Duration::from_secs(1);
/// A split whose cut has not come this long after its mark (a publisher that sends no key
/// frame) is taken back.
const SPLIT_TIMEOUT: Duration = Duration::from_secs(20);

impl SessionRecorder {
    /// At a `--split-every` mark, every participant being recorded starts a new part.
    pub(super) fn split_at_marks(&mut self) {
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
    pub(super) fn complete_splits(&mut self) -> Vec<(ParticipantId, PartFinishing)> {
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
    pub(super) fn complete_split(&mut self, segment: &mut SegmentRecording) -> Option<PartJob> {
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
}
