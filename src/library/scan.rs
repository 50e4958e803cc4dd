//! Building the recordings library from the folder on disk.
//!
//! The folder is the source of truth: there is no database to fall out of step with it. Each
//! immediate subfolder holding a loadable `session.json` is one session; anything else (stray
//! files, folders of other programs, damaged manifests) is skipped so one bad entry never hides
//! the rest of the library.

use std::fs;
use std::path::{Path, PathBuf};

use super::manifest::{SessionManifest, SessionState};

/// What the library shows for one session folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSummary {
    /// The session folder.
    pub dir: PathBuf,
    /// Its manifest as loaded.
    pub manifest: SessionManifest,
    /// The recorder died instead of finishing: the manifest was still in the `recording` state
    /// when scanned (or was already marked `recovered`). The app must skip its own live
    /// session, which it recognises by `dir`.
    pub recovered: bool,
    /// Bytes used by the files directly in the session folder (media, manifest, leftovers).
    pub total_bytes: u64,
    /// Length of the session timeline in nanoseconds: the latest segment end.
    pub duration_ns: u64,
    /// How many participants were recorded.
    pub participant_count: usize,
}

impl SessionSummary {
    /// Summarises a loaded manifest and its folder.
    fn new(dir: PathBuf, manifest: SessionManifest) -> Self {
        let recovered = matches!(
            manifest.state,
            SessionState::Recording | SessionState::Recovered
        );
        Self {
            total_bytes: folder_bytes(&dir),
            duration_ns: manifest.duration_ns(),
            participant_count: manifest.participants.len(),
            recovered,
            manifest,
            dir,
        }
    }
}

/// Every session under `root`, newest first by start time.
///
/// A missing `root` is an empty library (nothing recorded yet). Folders without a manifest are
/// skipped quietly; damaged manifests are skipped with a warning that names the file.
pub fn scan_recordings(root: &Path) -> Vec<SessionSummary> {
    let entries = match fs::read_dir(root) {
        Ok(entries) => entries,
        Err(e) => {
            if e.kind() == std::io::ErrorKind::NotFound {
                tracing::debug!("recordings folder {} does not exist yet", root.display());
            } else {
                tracing::warn!("cannot list recordings folder {}: {e}", root.display());
            }
            return Vec::new();
        }
    };

    let mut sessions: Vec<SessionSummary> = entries
        .filter_map(|entry| match entry {
            Ok(entry) => Some(entry.path()),
            Err(e) => {
                tracing::warn!("cannot read an entry of {}: {e}", root.display());
                None
            }
        })
        // `is_dir` follows symlinks, so a session folder linked in from elsewhere still counts.
        .filter(|path| path.is_dir())
        .filter_map(|dir| match SessionManifest::load(&dir) {
            Ok(manifest) => Some(SessionSummary::new(dir, manifest)),
            Err(e) if e.is_not_found() => {
                tracing::debug!("{} has no session manifest, skipped", dir.display());
                None
            }
            Err(e) => {
                tracing::warn!("skipping session folder: {e}");
                None
            }
        })
        .collect();

    // Newest first; the folder name breaks ties so the order never depends on `read_dir`.
    sessions.sort_by(|a, b| {
        b.manifest
            .started_unix_ms
            .cmp(&a.manifest.started_unix_ms)
            .then_with(|| b.dir.cmp(&a.dir))
    });
    sessions
}

/// Total size of the regular files directly inside `dir`. Symlinks are not followed (they could
/// point anywhere and their targets are not part of the session); unreadable entries count as 0.
fn folder_bytes(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.metadata().ok())
        .filter(fs::Metadata::is_file)
        .map(|meta| meta.len())
        .sum()
}
