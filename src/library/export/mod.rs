//! Export: turning a recorded session into files people use elsewhere.
//!
//! The kinds of output, chosen by a [`Preset`]:
//! - **remux**: one file per participant segment in MKV, WebM or MP4, streams copied as they
//!   were recorded (refused up front, with the reason, when the container cannot hold a codec);
//! - **grid**: one video of the whole session, every participant in a fixed tile, each segment
//!   placed on the session timeline at its `start_offset_ns` (tiles are black before someone
//!   joined and after they left), all audio mixed, encoded;
//! - **audio**: one audio file per participant covering the timeline from the session start,
//!   silence where they were not recorded, so the tracks line up in an audio editor;
//! - **edit**: one MP4 per participant segment that every video editor opens (H.264 + AAC):
//!   streams already in those formats are copied, the others decoded and encoded with the
//!   encoders GStreamer has (`encodebin` picks them from an encoding profile);
//! - **timeline**: one OpenTimelineIO file that places the recorded files on the session
//!   timeline for a video editor ([`super::otio`]); no media is read or written.
//!
//! What to make is planned as plain data (`plan`: the media found, the outputs to write),
//! apart from the GStreamer pipelines that carry a plan out (`pipeline` for the per-segment
//! remux and edit, `mix` for the grid and audio mixes, `run` to play one to its end).
//! Unlike the rest of `library/` the pipelines drive GStreamer. The entry point [`export`]
//! blocks: run it off the main thread. It never writes into an original: every output is
//! written as `.<name>.partial` in the output folder and renamed into place once complete;
//! on failure or cancel the partial file is removed.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use super::manifest::{ManifestError, SessionManifest};
use super::naming;
use super::otio;
use super::presets::{Preset, PresetKind};

mod elements;
mod inputs;
mod mix;
mod pipeline;
mod plan;
mod progress;
mod run;
#[cfg(test)]
mod tests;

pub use elements::encoder_for;
pub use plan::{Reencoded, tile_layout};
pub use progress::{CancelFlag, Progress, ProgressMeter};

/// Name of the folder exports go to inside a session folder when no other is given.
pub const DEFAULT_EXPORT_FOLDER: &str = "export";

/// Why an export did not happen or did not finish.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Stopped through a [`CancelFlag`]; nothing was left behind.
    #[error("the export was cancelled")]
    Cancelled,
    /// The session folder has no usable manifest.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The chosen format cannot hold what was recorded (e.g. VP8 into MP4).
    #[error("{0}")]
    Unsupported(String),
    /// The session has no media this export could use.
    #[error("nothing to export: {0}")]
    Nothing(String),
    /// A GStreamer element this export needs is not installed.
    #[error(
        "GStreamer element \"{0}\" is missing; install the GStreamer plugin sets (good, bad, ugly, libav)"
    )]
    MissingElement(String),
    /// Creating or renaming files failed.
    #[error("{0}")]
    Io(String),
    /// GStreamer reported an error while exporting.
    #[error("export of {file} failed: {message}")]
    Pipeline { file: String, message: String },
}

/// Where exports go when the user names no folder.
pub fn default_output_dir(session_dir: &Path) -> PathBuf {
    session_dir.join(DEFAULT_EXPORT_FOLDER)
}

/// Exports the session in `session_dir` with `preset` into `output_dir` (created if needed).
///
/// Blocks until done; reports progress through `on_progress` about ten times a second and
/// checks `cancel` as often. Returns the files written.
///
/// # Errors
/// See [`ExportError`]. On any error no output of the failed step remains, and outputs of
/// earlier steps of the same export are removed too, so an export either completes or leaves
/// nothing.
pub fn export(
    session_dir: &Path,
    preset: &Preset,
    output_dir: &Path,
    cancel: &CancelFlag,
    on_progress: &mut dyn FnMut(&Progress),
) -> Result<Vec<PathBuf>, ExportError> {
    if preset.kind == PresetKind::Timeline {
        return export_timeline(session_dir, preset, output_dir, cancel, on_progress);
    }
    gst::init().map_err(|e| ExportError::Io(format!("GStreamer did not start: {e}")))?;
    let manifest = SessionManifest::load(session_dir)?;
    let media = inputs::find_media(session_dir, &manifest);
    let outputs = plan::plan(&manifest, &media, preset, &|caps_name| {
        elements::encoder_for(caps_name).is_some()
    })?;

    fs::create_dir_all(output_dir)
        .map_err(|e| ExportError::Io(format!("cannot create {}: {e}", output_dir.display())))?;

    let total_ns: u64 = outputs.iter().map(|o| o.duration_ns.max(1)).sum();
    let count = outputs.len();
    let mut done_ns = 0u64;
    let mut written: Vec<PathBuf> = Vec::new();
    let mut reserved: HashSet<String> = HashSet::new();
    for (i, output) in outputs.into_iter().enumerate() {
        let final_name = free_name_in(output_dir, &reserved, &output.stem, &preset.extension);
        reserved.insert(final_name.clone());
        let partial = output_dir.join(format!(".{final_name}.partial"));
        let weight = output.duration_ns.max(1);
        let mut report = |fraction: f64| {
            let overall =
                (done_ns as f64 + fraction.clamp(0.0, 1.0) * weight as f64) / total_ns as f64;
            on_progress(&Progress {
                fraction: overall.clamp(0.0, 1.0),
                current: final_name.clone(),
                index: i + 1,
                count,
            });
        };
        report(0.0);
        let result =
            pipeline::write_one(&output, preset, &partial, cancel, &mut report).and_then(|()| {
                let target = output_dir.join(&final_name);
                fs::rename(&partial, &target).map(|()| target).map_err(|e| {
                    ExportError::Io(format!("cannot rename {}: {e}", partial.display()))
                })
            });
        match result {
            Ok(target) => written.push(target),
            Err(err) => {
                let _ = fs::remove_file(&partial);
                for file in &written {
                    let _ = fs::remove_file(file);
                }
                return Err(match err {
                    ExportError::Pipeline { message, .. } if cancel.is_cancelled() => {
                        tracing::debug!("export cancelled while failing: {message}");
                        ExportError::Cancelled
                    }
                    ExportError::Pipeline { message, .. } => ExportError::Pipeline {
                        file: final_name,
                        message,
                    },
                    other => other,
                });
            }
        }
        done_ns += weight;
    }
    Ok(written)
}

/// A name `stem.ext` (or `stem-2.ext`…) that is neither in `dir` yet nor `reserved` by this
/// export: an export never overwrites a file.
fn free_name_in(dir: &Path, reserved: &HashSet<String>, stem: &str, ext: &str) -> String {
    let mut taken = reserved.clone();
    if let Ok(entries) = fs::read_dir(dir) {
        taken.extend(
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned()),
        );
    }
    naming::unique_in(&taken, stem, ext)
}

/// Writes the OpenTimelineIO file of a session: a few kilobytes of JSON, so progress jumps
/// from start to end.
fn export_timeline(
    session_dir: &Path,
    preset: &Preset,
    output_dir: &Path,
    cancel: &CancelFlag,
    on_progress: &mut dyn FnMut(&Progress),
) -> Result<Vec<PathBuf>, ExportError> {
    let manifest = SessionManifest::load(session_dir)?;
    let timeline = otio::build(&manifest, session_dir, Some(output_dir))
        .map_err(|e| ExportError::Nothing(e.to_string()))?;
    for skipped in &timeline.skipped {
        tracing::warn!("left out of the timeline: {skipped}");
    }
    let mut json = serde_json::to_vec_pretty(&timeline.document)
        .map_err(|e| ExportError::Io(format!("cannot write the timeline: {e}")))?;
    json.push(b'\n');
    if cancel.is_cancelled() {
        return Err(ExportError::Cancelled);
    }
    fs::create_dir_all(output_dir)
        .map_err(|e| ExportError::Io(format!("cannot create {}: {e}", output_dir.display())))?;

    // Named after the session folder, which says room and time, so that timelines of several
    // sessions exported to one place stay apart.
    let stem = session_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = naming::sanitize_component_or(
        &stem,
        &naming::sanitize_component_or(&manifest.room, "session"),
    );
    let final_name = free_name_in(output_dir, &HashSet::new(), &stem, &preset.extension);
    let mut report = |fraction: f64| {
        on_progress(&Progress {
            fraction,
            current: final_name.clone(),
            index: 1,
            count: 1,
        });
    };
    report(0.0);
    let partial = output_dir.join(format!(".{final_name}.partial"));
    let target = output_dir.join(&final_name);
    let written = super::files::replace_with_new(&partial)
        .and_then(|mut file| {
            std::io::Write::write_all(&mut file, &json)?;
            file.sync_all()
        })
        .and_then(|()| fs::rename(&partial, &target));
    if let Err(e) = written {
        let _ = fs::remove_file(&partial);
        return Err(ExportError::Io(format!(
            "cannot write {}: {e}",
            target.display()
        )));
    }
    report(1.0);
    Ok(vec![target])
}

/// Which streams of a session an edit export would re-encode. Empty when everything is
/// copied. Blocks (the discoverer reads the files).
pub fn reencoded_streams(
    session_dir: &Path,
    preset: &Preset,
) -> Result<Vec<Reencoded>, ExportError> {
    gst::init().map_err(|e| ExportError::Io(format!("GStreamer did not start: {e}")))?;
    let manifest = SessionManifest::load(session_dir)?;
    let media = inputs::find_media(session_dir, &manifest);
    Ok(plan::reencoded(&media, preset))
}
