//! What `record` prints at the end: one row per recorded file, read back from the session's
//! manifest and the files themselves.

use std::path::{Path, PathBuf};

use crate::library::disk_space::format_size;
use crate::library::manifest::{SessionManifest, SessionState};
use crate::library::naming;

/// One file of the session, as the summary shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedFile {
    pub participant: String,
    pub file: PathBuf,
    pub duration_ns: Option<u64>,
    pub bytes: u64,
}

/// Every file the session's manifest lists that is on disk: joined segment files, and the
/// track files of segments that could not be joined.
pub fn recorded_files(dir: &Path) -> Vec<RecordedFile> {
    let Ok(manifest) = SessionManifest::load(dir) else {
        return Vec::new();
    };
    let mut files = Vec::new();
    for participant in &manifest.participants {
        let name = if participant.label.trim().is_empty() {
            participant.stream_id.clone()
        } else {
            participant.label.clone()
        };
        for segment in &participant.segments {
            let names = std::iter::once(&segment.file)
                .filter(|f| !f.is_empty())
                .chain(&segment.track_files);
            for file_name in names {
                let Some(path) = naming::resolve_in(dir, file_name) else {
                    continue;
                };
                let Ok(meta) = std::fs::metadata(&path) else {
                    continue;
                };
                if meta.len() == 0 {
                    continue;
                }
                files.push(RecordedFile {
                    participant: name.clone(),
                    file: path,
                    duration_ns: segment.duration_ns,
                    bytes: meta.len(),
                });
            }
        }
    }
    files
}

/// Removes a finished session folder that holds nothing but its manifest (nobody was
/// recorded). Anything else in it, and it stays. Returns whether it was removed.
pub fn remove_if_empty(dir: &Path) -> bool {
    let finished = SessionManifest::load(dir).is_ok_and(|m| m.state == SessionState::Finished);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    let only_manifest = entries
        .filter_map(Result::ok)
        .all(|entry| entry.file_name() == "session.json");
    if !finished || !only_manifest {
        return false;
    }
    std::fs::remove_file(dir.join("session.json")).is_ok() && std::fs::remove_dir(dir).is_ok()
}

/// "1:02:03", "4:05": a duration as a clock.
fn clock(duration_ns: Option<u64>) -> String {
    let Some(ns) = duration_ns else {
        return "?".to_owned();
    };
    let secs = ns / 1_000_000_000;
    if secs >= 3600 {
        format!("{}:{:02}:{:02}", secs / 3600, (secs % 3600) / 60, secs % 60)
    } else {
        format!("{}:{:02}", secs / 60, secs % 60)
    }
}

/// The files as an aligned table with a header.
pub fn table(files: &[RecordedFile]) -> String {
    let rows: Vec<[String; 4]> = files
        .iter()
        .map(|f| {
            [
                f.participant.clone(),
                f.file
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                clock(f.duration_ns),
                format_size(f.bytes),
            ]
        })
        .collect();
    let header = [
        "Participant".to_owned(),
        "File".to_owned(),
        "Duration".to_owned(),
        "Size".to_owned(),
    ];
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let render = |row: &[String; 4]| {
        let mut line = String::new();
        for (i, (cell, width)) in row.iter().zip(widths).enumerate() {
            let pad = width - cell.chars().count();
            // Durations and sizes align right, as numbers do.
            if i >= 2 {
                line.push_str(&" ".repeat(pad));
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&" ".repeat(pad));
            }
            line.push_str("  ");
        }
        line.trim_end().to_owned()
    };
    let mut out = render(&header);
    for row in &rows {
        out.push('\n');
        out.push_str(&render(row));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_aligns_names_left_and_numbers_right() {
        let files = vec![
            RecordedFile {
                participant: "Zoë".to_owned(),
                file: PathBuf::from("/x/Zoë 1.mkv"),
                duration_ns: Some(65_000_000_000),
                bytes: 3_400_000,
            },
            RecordedFile {
                participant: "Bartholomew".to_owned(),
                file: PathBuf::from("/x/Bartholomew 1.mkv"),
                duration_ns: Some(3_725_000_000_000),
                bytes: 912,
            },
        ];
        let table = table(&files);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("Participant"));
        assert!(lines[1].starts_with("Zoë          Zoë 1.mkv"));
        assert!(lines[1].ends_with("    1:05     3.4 MB"), "{:?}", lines[1]);
        assert!(lines[2].ends_with("1:02:05  912 bytes"), "{:?}", lines[2]);
        // Columns line up: each file name starts at the same character.
        assert_eq!(
            lines[1]
                .find("Zoë 1")
                .map(|b| lines[1][..b].chars().count()),
            lines[2]
                .find("Bartholomew 1")
                .map(|b| lines[2][..b].chars().count())
        );
        assert_eq!(clock(None), "?");
    }

    #[test]
    fn only_a_folder_holding_nothing_but_a_finished_manifest_is_removed() {
        let root = std::env::temp_dir().join(format!("roomtape-summary-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let empty = root.join("empty");
        let kept = root.join("kept");
        for dir in [&empty, &kept] {
            std::fs::create_dir_all(dir).unwrap();
            let mut manifest = SessionManifest::new("room", "wss://x", 0);
            manifest.state = SessionState::Finished;
            manifest.write_atomic(dir).unwrap();
        }
        std::fs::write(kept.join("notes.txt"), "mine").unwrap();
        assert!(recorded_files(&empty).is_empty());
        assert!(remove_if_empty(&empty));
        assert!(!empty.exists());
        assert!(!remove_if_empty(&kept));
        assert!(kept.join("notes.txt").exists() && kept.join("session.json").exists());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
