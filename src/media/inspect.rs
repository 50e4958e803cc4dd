//! What is inside a recorded file: frame counts and whether it starts on a key frame, read by
//! demuxing it (no decoding).

use std::path::Path;
use std::sync::{Arc, Mutex};

use gst::prelude::*;

/// Frames per kind in a Matroska file.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FrameCount {
    pub video: u64,
    pub audio: u64,
    /// Whether the first video frame is a key frame (`None` without video).
    pub first_video_is_key: Option<bool>,
}

/// Demuxes a Matroska file to its end and counts the frames of each kind.
pub fn count_frames(path: &Path) -> anyhow::Result<FrameCount> {
    super::init()?;
    let pipeline = gst::Pipeline::new();
    let src = gst::ElementFactory::make("filesrc")
        .property("location", path.to_string_lossy().as_ref())
        .build()?;
    let demux = gst::ElementFactory::make("matroskademux").build()?;
    pipeline.add_many([&src, &demux])?;
    src.link(&demux)?;
    let counts = Arc::new(Mutex::new(FrameCount::default()));
    let pipeline_weak = pipeline.downgrade();
    let counts_for_pads = counts.clone();
    demux.connect_pad_added(move |_, pad| {
        let Some(pipeline) = pipeline_weak.upgrade() else {
            return;
        };
        let is_video = pad.name().starts_with("video");
        let Ok(sink) = gst::ElementFactory::make("fakesink")
            .property("sync", false)
            .build()
        else {
            return;
        };
        if pipeline.add(&sink).is_err() || sink.sync_state_with_parent().is_err() {
            return;
        }
        let counts = counts_for_pads.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let (Some(buffer), Ok(mut c)) = (info.buffer(), counts.lock()) {
                if is_video {
                    if c.first_video_is_key.is_none() {
                        c.first_video_is_key =
                            Some(!buffer.flags().contains(gst::BufferFlags::DELTA_UNIT));
                    }
                    c.video += 1;
                } else {
                    c.audio += 1;
                }
            }
            gst::PadProbeReturn::Ok
        });
        if let Some(sink_pad) = sink.static_pad("sink") {
            let _ = pad.link(&sink_pad);
        }
    });
    let outcome = super::recorder::run_to_eos(&pipeline, std::time::Duration::from_secs(120));
    let _ = pipeline.set_state(gst::State::Null);
    outcome.map_err(|err| anyhow::anyhow!("{}: {err}", path.display()))?;
    let counts = *counts.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    Ok(counts)
}
