//! While recording, the engine watches the session folder (deleted under it) and the free
//! space (the floor), every few ticks.

use super::{Engine, EngineEvent};
use crate::library::disk_space::{self, DiskVerdict, format_size};
use crate::media::failure::FailureKind;

impl Engine {
    /// The session folder was deleted while recording (a cleanup script, a user in a file
    /// manager): everything written since the last segment ended is gone with it. Say so at
    /// once, make the folder again and go on recording everyone there in new parts.
    pub(super) fn check_recording_folder(&self) {
        let lost = self
            .inner
            .recorder
            .borrow()
            .as_ref()
            .is_some_and(|recorder| recorder.folder_lost());
        if !lost {
            return;
        }
        let (dir, recreated, finishing) = {
            let mut recorder = self.inner.recorder.borrow_mut();
            let Some(recorder) = recorder.as_mut() else {
                return;
            };
            let dir = recorder.dir().to_owned();
            let reason = format!(
                "the recording folder {} was deleted while recording; what it held is lost",
                dir.display()
            );
            tracing::error!("{reason}");
            let recreated = recorder.recreate_folder();
            let finishing = recorder.fail_all(FailureKind::Write, &reason);
            (dir, recreated, finishing)
        };
        let message = match &recreated {
            Ok(()) => format!(
                "The recording folder {} was deleted while recording: what it held is lost. Recording goes on in a new folder of the same name.",
                dir.display()
            ),
            Err(err) => format!(
                "The recording folder {} was deleted while recording and cannot be made again: {err}",
                dir.display()
            ),
        };
        self.emit(EngineEvent::FolderLost {
            dir: dir.clone(),
            message,
            recreated: recreated.is_ok(),
        });
        let mut keys = Vec::new();
        for (key, segment) in finishing {
            glib::spawn_future_local(
                self.report_finished(&key.participant, async move { vec![segment.await] }),
            );
            keys.push(key);
        }
        if recreated.is_err() {
            return;
        }
        for key in keys {
            let tracks = self
                .inner
                .peers
                .borrow()
                .get(&key)
                .map(|entry| entry.tracks.clone())
                .unwrap_or_default();
            for track in &tracks {
                self.attach_recording(&key, track);
            }
        }
    }

    /// Looks at the recording folder's free space: reports it, warns when little recording
    /// time is left, and stops the recording while finishing every file still fits.
    pub(super) fn check_disk_space(&self, now_ms: u64) {
        let (dir, written, pending) = {
            let recorder = self.inner.recorder.borrow();
            let Some(recorder) = recorder.as_ref() else {
                return;
            };
            let (written, pending) = recorder.bytes_on_disk();
            (recorder.dir().to_owned(), written, pending)
        };
        let free = match disk_space::free_bytes(&dir) {
            Ok(free) => free,
            Err(err) => {
                tracing::debug!("no free space figure for {}: {err}", dir.display());
                return;
            }
        };
        let (report, floor) = {
            let mut guard = self.inner.disk_guard.borrow_mut();
            let Some(guard) = guard.as_mut() else { return };
            (guard.check(now_ms, free, written, pending), guard.floor())
        };
        self.emit(EngineEvent::DiskSpace {
            dir: dir.clone(),
            report,
        });
        match report.verdict {
            DiskVerdict::Fine => {}
            DiskVerdict::LowWarning => {
                tracing::warn!(
                    "{} left in {}: about {} of recording",
                    format_size(free),
                    dir.display(),
                    report
                        .time_left
                        .map(disk_space::format_duration)
                        .unwrap_or_default()
                );
                self.emit(EngineEvent::DiskLow { dir, report });
            }
            DiskVerdict::Stop => {
                tracing::error!(
                    "{} left in {}: stopping the recording above the {} floor",
                    format_size(free),
                    dir.display(),
                    format_size(floor)
                );
                self.emit(EngineEvent::DiskFloor {
                    dir,
                    free_bytes: free,
                    floor_bytes: floor,
                });
                let engine = self.clone();
                glib::spawn_future_local(async move {
                    engine.stop_recording().await;
                });
            }
        }
    }
}
