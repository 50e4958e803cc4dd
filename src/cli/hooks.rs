//! `record --on-segment-finished CMD` and `--on-recording-finished CMD`: the operator's
//! command, run by `sh -c` once per finished file and once at the end, with what it needs in
//! `ROOMTAPE_*` environment variables.
//!
//! Participant names and file names are never put into the command text: they reach the
//! command only as environment values, so a name like `$(rm -rf ~)` stays a name. A failing or
//! missing command is logged; it never stops the recording.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use crate::library::manifest::SessionManifest;

/// What a hook command learns about the file that was finished.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FinishedFile {
    pub path: PathBuf,
    pub participant_id: String,
    pub label: String,
    pub stream_id: String,
    pub video_codec: Option<String>,
    pub audio_codec: Option<String>,
    pub duration_s: Option<f64>,
    pub ok: bool,
}

impl FinishedFile {
    /// Reads what `session.json` says of `file` (the manifest is written before the segment
    /// is reported); what it cannot find stays empty.
    pub fn describe(session_dir: &Path, participant: &str, file: &Path, ok: bool) -> Self {
        let mut finished = FinishedFile {
            path: file.to_owned(),
            participant_id: participant.to_owned(),
            ok,
            ..Default::default()
        };
        let Ok(manifest) = SessionManifest::load(session_dir) else {
            return finished;
        };
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
        for entry in &manifest.participants {
            for segment in &entry.segments {
                if Some(&segment.file) == name.as_ref() {
                    finished.label = entry.label.clone();
                    finished.stream_id = entry.stream_id.clone();
                    finished.video_codec = segment.video_codec.clone();
                    finished.audio_codec = segment.audio_codec.clone();
                    finished.duration_s = segment.duration_ns.map(|ns| ns as f64 / 1e9);
                }
            }
        }
        finished
    }

    fn environment(&self) -> Vec<(&'static str, String)> {
        let text = |value: &Option<String>| value.clone().unwrap_or_default();
        vec![
            ("ROOMTAPE_EVENT", "segment_finished".to_owned()),
            ("ROOMTAPE_FILE", self.path.to_string_lossy().into_owned()),
            ("ROOMTAPE_PARTICIPANT", self.label.clone()),
            ("ROOMTAPE_PARTICIPANT_ID", self.participant_id.clone()),
            ("ROOMTAPE_STREAM_ID", self.stream_id.clone()),
            ("ROOMTAPE_VIDEO_CODEC", text(&self.video_codec)),
            ("ROOMTAPE_AUDIO_CODEC", text(&self.audio_codec)),
            (
                "ROOMTAPE_DURATION",
                self.duration_s
                    .map(|s| format!("{s:.3}"))
                    .unwrap_or_default(),
            ),
            ("ROOMTAPE_OK", if self.ok { "1" } else { "0" }.to_owned()),
        ]
    }
}

/// The hook commands of one run, and the ones still running.
#[derive(Default)]
pub struct Hooks {
    on_segment: Option<String>,
    on_recording: Option<String>,
    room: String,
    running: Arc<Mutex<Vec<(String, Child)>>>,
}

impl Hooks {
    pub fn new(on_segment: Option<String>, on_recording: Option<String>, room: &str) -> Hooks {
        Hooks {
            on_segment: on_segment.filter(|c| !c.trim().is_empty()),
            on_recording: on_recording.filter(|c| !c.trim().is_empty()),
            room: room.to_owned(),
            running: Arc::default(),
        }
    }

    /// Runs `--on-segment-finished` for `file`.
    pub fn segment_finished(&self, session_dir: &Path, file: &FinishedFile) {
        let Some(command) = &self.on_segment else {
            return;
        };
        let mut environment = file.environment();
        environment.push(("ROOMTAPE_SESSION_DIR", session_dir.display().to_string()));
        environment.push(("ROOMTAPE_ROOM", self.room.clone()));
        self.spawn("--on-segment-finished", command, &environment);
    }

    /// Runs `--on-recording-finished` for the session folder.
    pub fn recording_finished(&self, session_dir: &Path, all_ok: bool) {
        let Some(command) = &self.on_recording else {
            return;
        };
        let environment = vec![
            ("ROOMTAPE_EVENT", "recording_finished".to_owned()),
            ("ROOMTAPE_SESSION_DIR", session_dir.display().to_string()),
            (
                "ROOMTAPE_MANIFEST",
                session_dir.join("session.json").display().to_string(),
            ),
            ("ROOMTAPE_ROOM", self.room.clone()),
            ("ROOMTAPE_OK", if all_ok { "1" } else { "0" }.to_owned()),
        ];
        self.spawn("--on-recording-finished", command, &environment);
    }

    fn spawn(&self, option: &str, command: &str, environment: &[(&'static str, String)]) {
        let spawned = Command::new("sh")
            .arg("-c")
            .arg(command)
            .envs(environment.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .spawn();
        match spawned {
            Ok(child) => {
                self.reap_finished();
                lock(&self.running).push((option.to_owned(), child));
            }
            Err(err) => tracing::error!("{option}: the command could not start: {err}"),
        }
    }

    /// Logs the commands that have ended badly, and forgets every ended one.
    fn reap_finished(&self) {
        lock(&self.running).retain_mut(|(option, child)| match child.try_wait() {
            Ok(Some(status)) => {
                report(option, status);
                false
            }
            Ok(None) => true,
            Err(_) => false,
        });
    }

    /// Waits for every hook still running (an upload of the last file, say), so that `record`
    /// exits once they are done.
    pub fn wait_for_all(&self) {
        let running = std::mem::take(&mut *lock(&self.running));
        if !running.is_empty() {
            tracing::info!("waiting for {} hook commands to finish", running.len());
        }
        for (option, mut child) in running {
            match child.wait() {
                Ok(status) => report(&option, status),
                Err(err) => tracing::error!("{option}: {err}"),
            }
        }
    }
}

fn report(option: &str, status: std::process::ExitStatus) {
    if !status.success() {
        tracing::error!("{option}: the command failed ({status}); the recording is not affected");
        eprintln!("roomtape: {option} command failed ({status})");
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_reaches_the_command_as_a_value_never_as_code() {
        let dir = std::env::temp_dir().join(format!("roomtape-hooks-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let out = dir.join("out");
        let hooks = Hooks::new(
            Some(format!(
                "printf '%s|%s|%s' \"$ROOMTAPE_PARTICIPANT\" \"$ROOMTAPE_FILE\" \"$ROOMTAPE_DURATION\" > {}",
                out.display()
            )),
            None,
            "room",
        );
        let file = FinishedFile {
            path: dir.join("x.mkv"),
            label: "$(touch pwned); `touch pwned2`".into(),
            duration_s: Some(12.5),
            ok: true,
            ..Default::default()
        };
        hooks.segment_finished(&dir, &file);
        hooks.wait_for_all();
        let written = std::fs::read_to_string(&out).expect("the hook ran");
        assert_eq!(
            written,
            format!(
                "$(touch pwned); `touch pwned2`|{}|12.500",
                dir.join("x.mkv").display()
            )
        );
        assert!(!dir.join("pwned").exists() && !Path::new("pwned").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
