//! The Recordings page: the library of saved sessions and their export.
//!
//! [`RecordingsPage`] lists the sessions of a folder; each is a `SessionRow` that expands into
//! its segments (`SegmentRow`s), and the Export dialog turns a session into other files. This
//! module holds what they share: durations, dates and segment details in words.

mod export_dialog;
mod page;
mod segment_row;
mod session_row;
mod thumbnail;

use std::path::{Path, PathBuf};
use std::time::Duration;

use adw::prelude::*;
use gtk::{gio, glib};

use crate::i18n::{gettext, gettext_f};
use crate::library::manifest::EndReason;
use crate::library::{Segment, SessionSummary};

pub use export_dialog::ExportDialog;
pub use page::RecordingsPage;

/// Whether a change seen by a folder monitor can change the list: sessions appearing or
/// disappearing in the recordings folder, or a session's manifest being rewritten. Media files
/// growing while a recording runs are ignored (they change many times a second).
fn worth_a_rescan(
    is_root: bool,
    file: &gio::File,
    other: Option<&gio::File>,
    event: gio::FileMonitorEvent,
) -> bool {
    use gio::FileMonitorEvent as E;
    if is_root {
        return matches!(
            event,
            E::Created | E::Deleted | E::MovedIn | E::MovedOut | E::Renamed
        );
    }
    let is_manifest = |f: &gio::File| {
        f.basename()
            .is_some_and(|name| name == Path::new(crate::library::MANIFEST_FILE_NAME))
    };
    !matches!(event, E::AttributeChanged | E::PreUnmount | E::Unmounted)
        && (is_manifest(file) || other.is_some_and(is_manifest))
}

/// A session a recorder is writing right now: its manifest says `recording` and a file in its
/// folder changed within the last seconds. (A crashed session looks the same, minus the
/// activity; it is shown as recovered.)
pub(crate) fn is_live(summary: &SessionSummary) -> bool {
    const RECENT: Duration = Duration::from_secs(15);
    summary.manifest.state == crate::library::SessionState::Recording
        && std::fs::read_dir(&summary.dir).is_ok_and(|entries| {
            entries.filter_map(Result::ok).any(|entry| {
                entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age < RECENT)
            })
        })
}

/// What Play opens for a segment: its merged file, or (after a crash) its first track file.
fn playable_file(session_dir: &Path, segment: &Segment) -> Option<PathBuf> {
    segment
        .path_in(session_dir)
        .filter(|p| !segment.file.is_empty() && p.is_file())
        .or_else(|| {
            segment
                .track_files
                .iter()
                .filter_map(|f| crate::library::naming::resolve_in(session_dir, f))
                .find(|p| p.is_file())
        })
}

/// One stretch of recording as the page shows it: the parts of a stretch split at
/// `--split-every` marks are one, as long as all of them, ending as the last one ended.
fn combined(parts: &[&Segment]) -> Segment {
    let Some((first, rest)) = parts.split_first() else {
        return Segment::default();
    };
    let mut whole = (*first).clone();
    for part in rest {
        whole.duration_ns = match (whole.duration_ns, part.duration_ns) {
            (Some(a), Some(b)) => Some(a.saturating_add(b)),
            _ => None,
        };
        whole.end_reason = part.end_reason;
        whole.error = part.error.clone().or(whole.error);
        whole.track_files.extend(part.track_files.iter().cloned());
        whole.width = whole.width.or(part.width);
        whole.height = whole.height.or(part.height);
    }
    whole
}

/// "1:05:03" or "4:07".
pub fn format_duration(ns: u64) -> String {
    let secs = ns / 1_000_000_000;
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// The local date and time of a session start.
fn format_date(unix_ms: i64) -> String {
    glib::DateTime::from_unix_local(unix_ms.div_euclid(1000))
        .and_then(|t| t.format("%x %H:%M"))
        .map(|s| s.to_string())
        .unwrap_or_default()
}

/// "0:42 · VP8 + Opus · 640×360 · left" for a segment row.
fn segment_details(segment: &Segment) -> String {
    let mut parts = Vec::new();
    parts.push(match segment.duration_ns {
        Some(ns) => format_duration(ns),
        None => gettext("length unknown"),
    });
    let codecs: Vec<String> = [&segment.video_codec, &segment.audio_codec]
        .into_iter()
        .flatten()
        .map(|c| c.to_uppercase().replace("OPUS", "Opus"))
        .collect();
    if !codecs.is_empty() {
        parts.push(codecs.join(" + "));
    }
    if let (Some(w), Some(h)) = (segment.width, segment.height) {
        parts.push(format!("{w}×{h}"));
    }
    if let Some(error) = &segment.error {
        parts.push(gettext_f("failed: {error}", &[("error", error)]));
    } else if let Some(reason) = segment.end_reason {
        parts.push(end_reason_text(reason));
    }
    if segment.error.is_none() && !segment.track_files.is_empty() {
        parts.push(gettext("separate track files"));
    }
    parts.join(" · ")
}

/// Why a segment ended, as the Recordings page says it.
fn end_reason_text(reason: EndReason) -> String {
    match reason {
        // Translators: why a recorded segment ended.
        EndReason::Left => gettext("left"),
        EndReason::Lost => gettext("connection lost"),
        EndReason::Stopped => gettext("stopped"),
        EndReason::Excluded => gettext("left out by the operator"),
        EndReason::Split => gettext("stream changed, continued in the next part"),
        EndReason::Failed => gettext("failed"),
        EndReason::Crashed => gettext("recorder stopped unexpectedly"),
    }
}

/// Opens a file or folder with the desktop's default application.
fn open_path(widget: &gtk::Widget, path: &Path) {
    let uri = gio::File::for_path(path).uri();
    let context = widget.display().app_launch_context();
    if let Err(err) = gio::AppInfo::launch_default_for_uri(&uri, Some(&context)) {
        show_error(
            widget,
            &gettext("Could Not Open the File"),
            &format!("{}: {err}", path.display()),
        );
    }
}

/// A message dialog over the widget's window.
fn show_error(widget: &gtk::Widget, heading: &str, body: &str) {
    let parent = widget.root().and_downcast::<gtk::Window>();
    let dialog = adw::MessageDialog::new(parent.as_ref(), Some(heading), Some(body));
    dialog.add_response("close", &gettext("_Close"));
    dialog.present();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_clocks() {
        assert_eq!(format_duration(0), "0:00");
        assert_eq!(format_duration(65_400_000_000), "1:05");
        assert_eq!(format_duration(3_723_000_000_000), "1:02:03");
    }

    #[test]
    fn only_session_and_manifest_changes_cause_a_rescan() {
        use gio::FileMonitorEvent as E;
        let root = gio::File::for_path("/rec");
        let session = gio::File::for_path("/rec/room 2024-01-01 10-00-00");
        let manifest = session.child(crate::library::MANIFEST_FILE_NAME);
        let tmp = session.child("session.json.tmp");
        let media = session.child("Alice.video.mkv");
        assert!(worth_a_rescan(true, &session, None, E::Created));
        assert!(worth_a_rescan(true, &session, None, E::Deleted));
        assert!(!worth_a_rescan(true, &root, None, E::AttributeChanged));
        // The atomic manifest write: the temp file is renamed onto session.json.
        assert!(worth_a_rescan(false, &tmp, Some(&manifest), E::Renamed));
        assert!(worth_a_rescan(false, &manifest, None, E::Created));
        assert!(!worth_a_rescan(false, &tmp, None, E::Changed));
        // A recording growing.
        assert!(!worth_a_rescan(false, &media, None, E::Changed));
        assert!(!worth_a_rescan(false, &media, None, E::ChangesDoneHint));
    }

    #[test]
    fn parts_show_as_one_stretch() {
        let part = |n: u32, end| Segment {
            part: n,
            file: format!("a.part{}.mkv", n + 1),
            duration_ns: Some(10_000_000_000),
            end_reason: Some(end),
            ..Segment::default()
        };
        let parts = [
            part(0, EndReason::Split),
            part(1, EndReason::Split),
            part(2, EndReason::Left),
        ];
        let refs: Vec<&Segment> = parts.iter().collect();
        let whole = combined(&refs);
        assert_eq!(whole.duration_ns, Some(30_000_000_000));
        assert_eq!(whole.end_reason, Some(EndReason::Left));
        assert_eq!(whole.file, "a.part1.mkv");
    }

    #[test]
    fn segment_details_name_codecs_and_size() {
        let seg = Segment {
            duration_ns: Some(42_000_000_000),
            video_codec: Some("vp8".into()),
            audio_codec: Some("opus".into()),
            width: Some(640),
            height: Some(360),
            ..Segment::default()
        };
        assert_eq!(segment_details(&seg), "0:42 · VP8 + Opus · 640×360");
        let lost = Segment {
            end_reason: Some(EndReason::Lost),
            ..seg.clone()
        };
        assert_eq!(
            segment_details(&lost),
            "0:42 · VP8 + Opus · 640×360 · connection lost"
        );
        let excluded = Segment {
            end_reason: Some(EndReason::Excluded),
            ..seg
        };
        assert!(segment_details(&excluded).ends_with("left out by the operator"));
    }
}
