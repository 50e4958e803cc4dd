//! Recording control: starting and stopping a recording, attaching tracks to it, leaving
//! participants out, and what happens when a recording branch fails.

use std::path::PathBuf;
use std::time::Instant;

use super::{Engine, EngineEvent};
use crate::library::disk_space::{self, DiskGuard};
use crate::media::error::EngineError;
use crate::media::failure::PipelineError;
use crate::media::peer::Track;
use crate::media::recorder::{RecordOptions, SegmentOutcome, SessionRecorder};
use crate::room::ParticipantId;
use crate::room::{LeaveReason, MediaKind, PeerKey};

/// A participant whose recording keeps failing gets at most this many new parts…
const BRANCH_RESTARTS_PER_WINDOW: usize = 3;
/// …within this long.
const BRANCH_RESTART_WINDOW: std::time::Duration = std::time::Duration::from_secs(60);

impl Engine {
    /// A recording branch failed (a full disk, a stream change the file cannot take): its
    /// segment ends now, with an error that says why; the peer, its preview and everyone else
    /// carry on. When recording again can work, the participant goes on in a new part at once
    /// (video from the next key frame), a few times a minute at most.
    pub(super) fn on_recording_error(&self, key: &PeerKey, error: &PipelineError) {
        let failing = self
            .inner
            .recorder
            .borrow_mut()
            .as_mut()
            .and_then(|recorder| recorder.fail_peer(key, error));
        let Some(failing) = failing else { return };
        glib::spawn_future_local(self.report_finished(&key.participant, failing));
        if !error.kind.worth_a_new_part() {
            return;
        }
        let tracks = {
            let mut peers = self.inner.peers.borrow_mut();
            let Some(entry) = peers.get_mut(key) else {
                return;
            };
            let now = Instant::now();
            entry
                .branch_restarts
                .retain(|at| now.duration_since(*at) < BRANCH_RESTART_WINDOW);
            if entry.branch_restarts.len() >= BRANCH_RESTARTS_PER_WINDOW {
                tracing::warn!(peer = %key, "recording failed again: not starting another part");
                if let Some(recorder) = self.inner.recorder.borrow_mut().as_mut() {
                    recorder.count_failure();
                }
                return;
            }
            entry.branch_restarts.push(now);
            entry.tracks.clone()
        };
        tracing::info!(peer = %key, "recording goes on in a new part");
        for track in &tracks {
            self.attach_recording(key, track);
        }
    }

    /// Reports each file of a finishing segment once it is final.
    pub(super) fn report_finished<F>(
        &self,
        participant: &ParticipantId,
        finishing: F,
    ) -> impl std::future::Future<Output = ()> + use<F>
    where
        F: std::future::Future<Output = Vec<SegmentOutcome>> + 'static,
    {
        let engine = self.clone();
        let participant = participant.clone();
        async move {
            for outcome in finishing.await {
                engine.emit(EngineEvent::SegmentFinished {
                    participant: participant.clone(),
                    file: outcome.file,
                    outcome: outcome.outcome,
                });
            }
        }
    }

    /// Ends this peer's recording segment now; the future resolves, having reported each
    /// finished file, once they are final.
    pub(super) fn finish_segment(
        &self,
        key: &PeerKey,
        reason: LeaveReason,
    ) -> impl std::future::Future<Output = ()> + use<> {
        let finishing = self
            .inner
            .recorder
            .borrow_mut()
            .as_mut()
            .map(|recorder| recorder.finish_peer(key, reason))
            .map(|finishing| self.report_finished(&key.participant, finishing));
        async move {
            if let Some(reporting) = finishing {
                reporting.await;
            }
        }
    }
    /// Leaves one participant out of the recording, or takes them back in. Taking someone out
    /// while recording finishes their current segment; taking them back starts a new one.
    pub fn set_recording_excluded(&self, participant: &str, excluded: bool) {
        let changed = if excluded {
            self.inner
                .excluded
                .borrow_mut()
                .insert(ParticipantId::from(participant))
        } else {
            self.inner.excluded.borrow_mut().remove(participant)
        };
        if !changed || !self.is_recording() {
            return;
        }
        let keys: Vec<(PeerKey, Vec<Track>)> = self
            .inner
            .peers
            .borrow()
            .iter()
            .filter(|(key, _)| key.participant == participant)
            .map(|(key, entry)| (key.clone(), entry.tracks.clone()))
            .collect();
        for (key, tracks) in keys {
            if excluded {
                let finishing = self
                    .inner
                    .recorder
                    .borrow_mut()
                    .as_mut()
                    .map(|recorder| recorder.exclude_peer(&key));
                if let Some(finishing) = finishing {
                    glib::spawn_future_local(self.report_finished(&key.participant, finishing));
                }
            } else {
                for track in tracks {
                    self.attach_recording(&key, &track);
                }
            }
        }
    }

    /// Whether a participant is left out of the recording.
    pub fn is_recording_excluded(&self, participant: &str) -> bool {
        self.inner.excluded.borrow().contains(participant)
    }

    pub(super) fn attach_recording(&self, key: &PeerKey, track: &Track) {
        let peers = self.inner.peers.borrow();
        let Some(entry) = peers.get(key) else { return };
        let excluded = self.inner.excluded.borrow().contains(&key.participant);
        if !excluded
            && let Some(recorder) = self.inner.recorder.borrow_mut().as_mut()
            && let Err(err) = recorder.attach_track(
                key,
                &entry.stream_id,
                entry.label.as_deref(),
                entry.peer.pipeline(),
                track,
            )
        {
            tracing::warn!(peer = %key, "could not record a track: {err:#}");
        }
        if track.kind == MediaKind::Video {
            // VDO.Ninja publishers answer this with a key frame: recordings start on one.
            entry.peer.send_on_channel("{\"keyframe\":true}");
        }
    }

    /// Starts recording everyone in the room now and everyone who joins later.
    pub fn start_recording(
        &self,
        parent: &std::path::Path,
        options: RecordOptions,
    ) -> Result<PathBuf, EngineError> {
        if self.inner.recorder.borrow().is_some() || self.inner.stopping_recording.get() {
            return Err(EngineError::AlreadyRecording);
        }
        let guard = DiskGuard::new(options.min_free);
        match disk_space::free_bytes_where(parent) {
            Ok(free) if !guard.allows_start(free) => {
                return Err(EngineError::NotEnoughSpace {
                    dir: parent.to_owned(),
                    free,
                    floor: options.min_free,
                });
            }
            Ok(_) => {}
            Err(err) => tracing::warn!("cannot read the free space of {}: {err}", parent.display()),
        }
        self.inner.disk_guard.replace(Some(guard));
        let recorder = SessionRecorder::create(
            parent,
            &self.inner.config.room,
            &crate::signaling::redact_url(&self.inner.config.server_url),
            options,
        )?;
        let dir = recorder.dir().to_owned();
        self.inner.recorder.replace(Some(recorder));
        // Tracks already flowing join the recording now.
        let existing: Vec<(PeerKey, Vec<Track>)> = self
            .inner
            .peers
            .borrow()
            .iter()
            .map(|(key, entry)| (key.clone(), entry.tracks.clone()))
            .collect();
        for (key, tracks) in existing {
            for track in tracks {
                self.attach_recording(&key, &track);
            }
        }
        self.emit(EngineEvent::RecordingStarted { dir: dir.clone() });
        Ok(dir)
    }

    /// Is a recording running?
    pub fn is_recording(&self) -> bool {
        self.inner.recorder.borrow().is_some()
    }

    /// Stops recording and waits until every file is finalised. Returns whether all are.
    /// A stop already under way (the disk guard's) is waited for.
    pub async fn stop_recording(&self) -> bool {
        let taken = self.inner.recorder.borrow_mut().take();
        let Some(mut recorder) = taken else {
            if !self.inner.stopping_recording.get() {
                return true;
            }
            let (tx, rx) = futures_channel::oneshot::channel();
            self.inner.stop_waiters.borrow_mut().push(tx);
            return rx.await.unwrap_or(false);
        };
        self.inner.stopping_recording.set(true);
        self.inner.disk_guard.replace(None);
        let dir = recorder.dir().to_owned();
        let failed_earlier = recorder.failed_segments() > 0;
        let outcomes = recorder.finish_all(LeaveReason::Stopped).await;
        let all_ok = !failed_earlier && outcomes.iter().all(|o| o.outcome.is_ok());
        for outcome in outcomes {
            self.emit(EngineEvent::SegmentFinished {
                participant: outcome.participant,
                file: outcome.file,
                outcome: outcome.outcome,
            });
        }
        self.emit(EngineEvent::RecordingFinished { dir, all_ok });
        self.inner.stopping_recording.set(false);
        for waiter in self.inner.stop_waiters.borrow_mut().drain(..) {
            let _ = waiter.send(all_ok);
        }
        all_ok
    }
}
