//! What the recording left on disk, found through the manifest and probed with the discoverer.

use std::path::{Path, PathBuf};

use gst_pbutils::prelude::*;

use super::plan::{ParticipantMedia, Source, SourceFile, StreamInfo};
use crate::library::manifest::SessionManifest;
use crate::library::naming;

/// What the recording left on disk for each participant, probed with the discoverer.
pub(super) fn find_media(session_dir: &Path, manifest: &SessionManifest) -> Vec<ParticipantMedia> {
    let discoverer = gst_pbutils::Discoverer::new(gst::ClockTime::from_seconds(20)).ok();
    let mut out = Vec::new();
    for participant in &manifest.participants {
        let label = if participant.label.is_empty() {
            participant.id.clone()
        } else {
            participant.label.clone()
        };
        let mut sources = Vec::new();
        for segment in &participant.segments {
            // The merged file when it exists, else the per-track files left by a crash.
            let candidates: Vec<PathBuf> = match segment.path_in(session_dir) {
                Some(path) if !segment.file.is_empty() && is_nonempty_file(&path) => vec![path],
                _ => segment
                    .track_files
                    .iter()
                    .filter_map(|name| naming::resolve_in(session_dir, name))
                    .filter(|p| is_nonempty_file(p))
                    .collect(),
            };
            let mut files = Vec::new();
            let mut probed_ns = 0u64;
            for path in candidates {
                match probe(discoverer.as_ref(), &path) {
                    Some((streams, duration)) if !streams.is_empty() => {
                        probed_ns = probed_ns.max(duration);
                        files.push(SourceFile { path, streams });
                    }
                    _ => tracing::warn!("{} has no playable streams, skipped", path.display()),
                }
            }
            if files.is_empty() {
                continue;
            }
            let stem = Path::new(&segment.file)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| {
                    let base = naming::sanitize_component_or(&label, naming::FALLBACK_PARTICIPANT);
                    let stem = if segment.index == 0 {
                        base
                    } else {
                        format!("{base} part {}", segment.index + 1)
                    };
                    crate::library::split::part_stem(&stem, segment.part)
                });
            sources.push(Source {
                stem,
                start_ns: segment.start_offset_ns,
                duration_ns: segment.duration_ns.filter(|d| *d > 0).unwrap_or(probed_ns),
                files,
            });
        }
        out.push(ParticipantMedia { label, sources });
    }
    out
}

fn is_nonempty_file(path: &Path) -> bool {
    path.metadata().is_ok_and(|m| m.is_file() && m.len() > 0)
}

/// Streams and duration of a file.
fn probe(
    discoverer: Option<&gst_pbutils::Discoverer>,
    path: &Path,
) -> Option<(Vec<StreamInfo>, u64)> {
    let uri = glib::filename_to_uri(path, None).ok()?;
    let info = discoverer?.discover_uri(&uri).ok()?;
    let streams = info
        .stream_list()
        .iter()
        .filter_map(|s| s.caps())
        .filter_map(|caps| caps.structure(0).map(|s| s.name().to_string()))
        .filter(|name| name.starts_with("video/") || name.starts_with("audio/"))
        .map(|caps_name| StreamInfo {
            is_video: caps_name.starts_with("video/"),
            caps_name,
        })
        .collect();
    Some((streams, info.duration().map_or(0, |d| d.nseconds())))
}
