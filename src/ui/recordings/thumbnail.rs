//! Thumbnails of recorded segments: one decoded frame, scaled down, cached as PNG in the XDG
//! cache folder and keyed by the file's path, size and modification time (so a file that is
//! still growing, or was replaced, gets a fresh one).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gst::prelude::*;
use gtk::{gio, glib};
use sha2::{Digest, Sha256};

/// Width of the thumbnails in pixels; the height follows the video's aspect ratio.
const WIDTH: i32 = 160;

/// The cache folder for thumbnails.
fn cache_dir() -> PathBuf {
    glib::user_cache_dir().join("roomtape").join("thumbnails")
}

/// Where the thumbnail of `video` is (or would be) cached, or `None` if the file is unreadable.
fn cache_path(video: &Path) -> Option<PathBuf> {
    let meta = video.metadata().ok()?;
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let mut hasher = Sha256::new();
    hasher.update(video.as_os_str().as_encoded_bytes());
    hasher.update(meta.len().to_le_bytes());
    hasher.update(modified.to_le_bytes());
    Some(cache_dir().join(format!("{}.png", hex::encode(&hasher.finalize()[..16]))))
}

/// The thumbnail of `video`, made off the main thread if it is not cached yet.
pub async fn load(video: PathBuf) -> Option<PathBuf> {
    let cached = cache_path(&video)?;
    if cached.is_file() {
        return Some(cached);
    }
    gio::spawn_blocking(move || match extract(&video, &cached) {
        Ok(()) => Some(cached),
        Err(err) => {
            tracing::debug!("no thumbnail for {}: {err}", video.display());
            None
        }
    })
    .await
    .ok()
    .flatten()
}

/// Decodes the first video frame of `video` into a PNG at `out` (written under a temporary
/// name first, so a half-written thumbnail is never read).
fn extract(video: &Path, out: &Path) -> Result<(), String> {
    let dir = out.parent().ok_or("thumbnail path without folder")?;
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let tmp = out.with_extension("png.part");
    let pipeline = gst::Pipeline::new();
    let build = || -> Result<(), String> {
        let make = |name: &str| {
            gst::ElementFactory::make(name)
                .build()
                .map_err(|_| format!("GStreamer element {name} is missing"))
        };
        let src = gst::ElementFactory::make("filesrc")
            .property("location", video.to_string_lossy().as_ref())
            .build()
            .map_err(|e| e.to_string())?;
        let decode = make("decodebin")?;
        let convert = make("videoconvert")?;
        let scale = make("videoscale")?;
        let filter = gst::ElementFactory::make("capsfilter")
            .property(
                "caps",
                gst::Caps::builder("video/x-raw")
                    .field("width", WIDTH)
                    .field("pixel-aspect-ratio", gst::Fraction::new(1, 1))
                    .build(),
            )
            .build()
            .map_err(|e| e.to_string())?;
        let encode = gst::ElementFactory::make("pngenc")
            .property("snapshot", true)
            .build()
            .map_err(|_| "GStreamer element pngenc is missing".to_owned())?;
        let sink = gst::ElementFactory::make("filesink")
            .property("location", tmp.to_string_lossy().as_ref())
            .build()
            .map_err(|e| e.to_string())?;
        pipeline
            .add_many([&src, &decode, &convert, &scale, &filter, &encode, &sink])
            .map_err(|e| e.to_string())?;
        src.link(&decode).map_err(|e| e.to_string())?;
        gst::Element::link_many([&convert, &scale, &filter, &encode, &sink])
            .map_err(|e| e.to_string())?;
        let video_sink = Arc::new(Mutex::new(convert.static_pad("sink")));
        let pipeline_weak = pipeline.downgrade();
        decode.connect_pad_added(move |_, pad| {
            let is_video = pad
                .current_caps()
                .and_then(|c| c.structure(0).map(|s| s.name().starts_with("video/")))
                .unwrap_or(false);
            let target = if is_video {
                video_sink.lock().ok().and_then(|mut s| s.take())
            } else {
                None
            };
            let target = target.or_else(|| {
                // Audio (or a second video stream) is not needed: drop it.
                let pipeline = pipeline_weak.upgrade()?;
                let fake = gst::ElementFactory::make("fakesink")
                    .property("sync", false)
                    .property("async", false)
                    .build()
                    .ok()?;
                pipeline.add(&fake).ok()?;
                fake.sync_state_with_parent().ok()?;
                fake.static_pad("sink")
            });
            if let Some(target) = target {
                let _ = pad.link(&target);
            }
        });
        Ok(())
    };
    let result = build()
        .and_then(|()| crate::media::recorder::run_to_eos(&pipeline, Duration::from_secs(20)));
    let _ = pipeline.set_state(gst::State::Null);
    match result {
        Ok(()) if tmp.metadata().is_ok_and(|m| m.len() > 0) => {
            std::fs::rename(&tmp, out).map_err(|e| format!("cannot rename: {e}"))
        }
        Ok(()) => {
            let _ = std::fs::remove_file(&tmp);
            Err("no video frame".to_owned())
        }
        Err(err) => {
            let _ = std::fs::remove_file(&tmp);
            Err(err)
        }
    }
}
