//! Joining a segment's track files into one file without re-encoding, and reading back what
//! the joined file holds.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gst::prelude::*;

use crate::room::MediaKind;

/// What the discoverer reads from a joined file.
#[derive(Debug, Default)]
pub(super) struct MergeInfo {
    pub(super) duration_ns: Option<u64>,
    pub(super) width: Option<u32>,
    pub(super) height: Option<u32>,
}

/// Why a segment's tracks could not be joined.
#[derive(Debug)]
pub(super) enum MergeError {
    /// No track holds a frame.
    NoMedia,
    Failed(String),
}

/// The picture size held longest, from the sizes a track had (each with the time it began)
/// and the time of its last frame.
pub fn dominant_size(sizes: &[(u64, u32, u32)], end_ns: u64) -> Option<(u32, u32)> {
    let mut held: Vec<((u32, u32), u64)> = Vec::new();
    for (i, &(from, w, h)) in sizes.iter().enumerate() {
        if w == 0 || h == 0 {
            continue;
        }
        let until = sizes.get(i + 1).map_or(end_ns, |next| next.0).max(from);
        match held.iter_mut().find(|(size, _)| *size == (w, h)) {
            Some((_, total)) => *total += until - from,
            None => held.push(((w, h), until - from)),
        }
    }
    // At equal time the later size wins (where the stream settled).
    // (`max_by_key` returns the last of equal maxima.)
    held.iter()
        .max_by_key(|(_, total)| *total)
        .map(|(size, _)| *size)
}

/// Set in the environment, the recorder aborts right after joining a segment's tracks, before
/// the manifest says so: the fault suite's crash at the worst moment.
pub const FAULT_ABORT_AFTER_MERGE: &str = "ROOMTAPE_FAULT_ABORT_AFTER_MERGE";

/// Joins a segment's track files into one file (no re-encode). The caller removes the track
/// files once the manifest names the joined one.
pub(super) fn merge_tracks(
    inputs: &[(MediaKind, PathBuf, u64, Option<gst::Caps>)],
    output: &Path,
) -> Result<MergeInfo, MergeError> {
    let usable: Vec<&(MediaKind, PathBuf, u64, Option<gst::Caps>)> = inputs
        .iter()
        .filter(|(_, path, frames, _)| *frames > 0 && path.metadata().is_ok_and(|m| m.len() > 0))
        .collect();
    if usable.is_empty() {
        return Err(MergeError::NoMedia);
    }
    let tmp = output.with_extension("mkv.part");
    remux_files(
        &usable
            .iter()
            .map(|(k, p, _, _)| (*k, p.clone()))
            .collect::<Vec<_>>(),
        &tmp,
    )
    .map_err(MergeError::Failed)?;
    std::fs::rename(&tmp, output)
        .map_err(|err| MergeError::Failed(format!("cannot rename {}: {err}", tmp.display())))?;
    Ok(describe_file(output).unwrap_or_default())
}

/// Remuxes Matroska track files into one Matroska file, keeping their timestamps.
pub fn remux_files(inputs: &[(MediaKind, PathBuf)], output: &Path) -> Result<(), String> {
    // Made afresh, never through a link planted under the name; kept open until the end.
    let opened = crate::library::files::replace_with_new(output)
        .map_err(|err| format!("cannot create {}: {err}", output.display()))?;
    let pipeline = gst::Pipeline::new();
    let build = || -> Result<(), String> {
        let mux = gst::ElementFactory::make("matroskamux")
            .build()
            .map_err(|e| e.to_string())?;
        let sink = gst::ElementFactory::make("fdsink")
            .property("fd", std::os::fd::AsRawFd::as_raw_fd(&opened))
            .build()
            .map_err(|e| e.to_string())?;
        pipeline
            .add_many([&mux, &sink])
            .map_err(|e| e.to_string())?;
        mux.link(&sink).map_err(|e| e.to_string())?;
        for (kind, path) in inputs {
            // Request the muxer pads before any data flows; late pads break the header.
            let template = match kind {
                MediaKind::Audio => "audio_%u",
                MediaKind::Video => "video_%u",
            };
            let mux_pad = mux
                .request_pad_simple(template)
                .ok_or("muxer refused a pad")?;
            let src = gst::ElementFactory::make("filesrc")
                .property("location", path.to_string_lossy().as_ref())
                .build()
                .map_err(|e| e.to_string())?;
            let demux = gst::ElementFactory::make("matroskademux")
                .build()
                .map_err(|e| e.to_string())?;
            let queue = gst::ElementFactory::make("queue")
                .build()
                .map_err(|e| e.to_string())?;
            pipeline
                .add_many([&src, &demux, &queue])
                .map_err(|e| e.to_string())?;
            src.link(&demux).map_err(|e| e.to_string())?;
            let queue_src = queue.static_pad("src").ok_or("queue without pad")?;
            queue_src.link(&mux_pad).map_err(|e| format!("{e:?}"))?;
            let queue_weak = queue.downgrade();
            demux.connect_pad_added(move |_, pad| {
                if let Some(queue) = queue_weak.upgrade()
                    && let Some(sink) = queue.static_pad("sink")
                    && !sink.is_linked()
                {
                    let _ = pad.link(&sink);
                }
            });
        }
        Ok(())
    };
    let result = build().and_then(|()| run_to_eos(&pipeline, Duration::from_secs(600)));
    let _ = pipeline.set_state(gst::State::Null);
    if result.is_err() {
        let _ = std::fs::remove_file(output);
    }
    result
}

/// Plays a pipeline to its end on the calling thread.
pub fn run_to_eos(pipeline: &gst::Pipeline, timeout: Duration) -> Result<(), String> {
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| format!("cannot start: {e}"))?;
    let bus = pipeline.bus().ok_or("pipeline without bus")?;
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err("timed out".to_owned());
        }
        let Some(message) = bus.timed_pop(gst::ClockTime::from_mseconds(left.as_millis() as u64))
        else {
            return Err("timed out".to_owned());
        };
        match message.view() {
            gst::MessageView::Eos(_) => return Ok(()),
            gst::MessageView::Error(err) => {
                return Err(format!(
                    "{} ({})",
                    err.error(),
                    err.debug().map(|d| d.to_string()).unwrap_or_default()
                ));
            }
            _ => {}
        }
    }
}

/// Duration and video size of a media file, from GStreamer's discoverer.
fn describe_file(path: &Path) -> Option<MergeInfo> {
    let discoverer = gst_pbutils::Discoverer::new(gst::ClockTime::from_seconds(15)).ok()?;
    let uri = glib::filename_to_uri(path, None).ok()?;
    let info = discoverer.discover_uri(&uri).ok()?;
    let mut out = MergeInfo {
        duration_ns: info.duration().map(|d| d.nseconds()),
        ..Default::default()
    };
    for stream in info.video_streams() {
        out.width = Some(stream.width());
        out.height = Some(stream.height());
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_size_held_longest_is_the_segments_size() {
        let s = 1_000_000_000u64;
        // A browser starting at 320×240, at 1280×720 for most of the minute, dropping to
        // 640×360 for ten seconds.
        let sizes = [
            (0, 320, 240),
            (2 * s, 1280, 720),
            (40 * s, 640, 360),
            (50 * s, 1280, 720),
        ];
        assert_eq!(dominant_size(&sizes, 60 * s), Some((1280, 720)));
        assert_eq!(dominant_size(&[(0, 640, 360)], 5 * s), Some((640, 360)));
        assert_eq!(dominant_size(&[], 5 * s), None);
        // At equal time, where the stream settled.
        assert_eq!(
            dominant_size(&[(0, 320, 240), (5 * s, 640, 480)], 10 * s),
            Some((640, 480))
        );
        assert_eq!(dominant_size(&[(0, 0, 0), (s, 16, 16)], s), Some((16, 16)));
    }
}
