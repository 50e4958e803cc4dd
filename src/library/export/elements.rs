//! The elements every export pipeline is built from (sources, sinks, muxers, encoder chains,
//! queues), the installed encoders, and the errors of building them; the per-segment
//! pipelines (`pipeline`) and the decoded mixes (`mix`) both use them.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use gst::prelude::*;

use super::ExportError;
use crate::library::presets::Preset;

pub(super) fn make(factory: &str) -> Result<gst::Element, ExportError> {
    gst::ElementFactory::make(factory)
        .build()
        .map_err(|_| ExportError::MissingElement(factory.to_owned()))
}

/// A bad preset description, reported with the preset it came from.
pub(super) fn bad_preset(preset: &Preset, what: &str, err: impl std::fmt::Display) -> ExportError {
    ExportError::Unsupported(format!("preset {}: {what}: {err}", preset.id))
}

/// The muxer (one element) of a preset.
pub(super) fn make_muxer(preset: &Preset) -> Result<gst::Element, ExportError> {
    let element = gst::parse::launch(&preset.muxer).map_err(|e| bad_preset(preset, "muxer", e))?;
    if element.is::<gst::Bin>() {
        return Err(bad_preset(
            preset,
            "muxer",
            "must be a single element, not a chain",
        ));
    }
    Ok(element)
}

/// An encoder chain of a preset, as a bin with one sink and one source pad.
pub(super) fn make_chain(
    preset: &Preset,
    what: &str,
    desc: Option<&str>,
) -> Result<gst::Element, ExportError> {
    let desc = desc.ok_or_else(|| bad_preset(preset, what, "missing"))?;
    gst::parse::bin_from_description(desc, true)
        .map(|bin| bin.upcast())
        .map_err(|e| bad_preset(preset, what, e))
}

/// A sink pad on the muxer for one stream: `video_%u`/`audio_%u` request pads, or the static
/// `sink` pad of single-stream writers such as `wavenc`.
pub(super) fn muxer_pad(mux: &gst::Element, video: bool) -> Option<gst::Pad> {
    let template = if video { "video_%u" } else { "audio_%u" };
    mux.request_pad_simple(template)
        .or_else(|| mux.static_pad("sink").filter(|p| !p.is_linked()))
}

/// A `capsfilter` holding `caps`.
pub(super) fn capsfilter(caps: &gst::Caps) -> Result<gst::Element, ExportError> {
    gst::ElementFactory::make("capsfilter")
        .property("caps", caps)
        .build()
        .map_err(|_| ExportError::MissingElement("capsfilter".to_owned()))
}

pub(super) fn file_source(path: &Path) -> Result<gst::Element, ExportError> {
    gst::ElementFactory::make("filesrc")
        .property("location", path.to_string_lossy().as_ref())
        .build()
        .map_err(|_| ExportError::MissingElement("filesrc".to_owned()))
}

pub(super) fn file_sink(partial: &Path) -> Result<gst::Element, ExportError> {
    gst::ElementFactory::make("filesink")
        .property("location", partial.to_string_lossy().as_ref())
        .build()
        .map_err(|_| ExportError::MissingElement("filesink".to_owned()))
}

pub(super) fn queue(max_time: Duration) -> Result<gst::Element, ExportError> {
    gst::ElementFactory::make("queue")
        .property("max-size-buffers", 0u32)
        .property("max-size-bytes", 0u32)
        .property("max-size-time", max_time.as_nanos() as u64)
        .build()
        .map_err(|_| ExportError::MissingElement("queue".to_owned()))
}

pub(super) fn link_err(err: impl std::fmt::Debug) -> ExportError {
    ExportError::Pipeline {
        file: String::new(),
        message: format!("cannot link elements: {err:?}"),
    }
}

pub(super) fn add_err(err: impl std::fmt::Display) -> ExportError {
    ExportError::Pipeline {
        file: String::new(),
        message: format!("cannot build the pipeline: {err}"),
    }
}

/// Links a dynamic pad of a demuxer or decoder to the first waiting chain of its kind, or to
/// a fakesink when nothing wants it (a stream the export does not use).
pub(super) fn connect_dynamic_pads(
    element: &gst::Element,
    pipeline: &gst::Pipeline,
    chains: Vec<(bool, gst::Pad)>,
) {
    let waiting = Arc::new(std::sync::Mutex::new(chains));
    let pipeline_weak = pipeline.downgrade();
    let waiting_for_pads = waiting.clone();
    element.connect_pad_added(move |_, pad| {
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        let is_video = caps
            .structure(0)
            .is_some_and(|s| s.name().starts_with("video/"))
            || pad.name().starts_with("video");
        let target = waiting_for_pads.lock().ok().and_then(|mut w| {
            let pos = w.iter().position(|(v, _)| *v == is_video)?;
            Some(w.remove(pos).1)
        });
        match target {
            Some(sink) => {
                if let Err(err) = pad.link(&sink) {
                    tracing::warn!("export: cannot link {}: {err:?}", pad.name());
                }
            }
            None => {
                let Some(pipeline) = pipeline_weak.upgrade() else {
                    return;
                };
                if let Ok(sink) = gst::ElementFactory::make("fakesink")
                    .property("sync", false)
                    .property("async", false)
                    .build()
                    && pipeline.add(&sink).is_ok()
                    && sink.sync_state_with_parent().is_ok()
                    && let Some(sink_pad) = sink.static_pad("sink")
                {
                    let _ = pad.link(&sink_pad);
                }
            }
        }
    });
    // A stream the discoverer promised but the file did not deliver: end its chain so the
    // muxer or mixer does not wait for it forever.
    element.connect_no_more_pads(move |_| {
        if let Ok(mut w) = waiting.lock() {
            for (_, sink) in w.drain(..) {
                sink.send_event(gst::event::Eos::new());
            }
        }
    });
}

/// The installed encoder GStreamer would pick for a caps name (highest rank first), if any.
pub fn encoder_for(caps_name: &str) -> Option<String> {
    let caps = target_caps(caps_name);
    let mut encoders = gst::ElementFactory::factories_with_type(
        gst::ElementFactoryType::ENCODER,
        gst::Rank::MARGINAL,
    )
    .into_iter()
    .filter(|f| f.can_src_any_caps(&caps))
    // OpenMAX wrappers register everywhere but work only on some hardware.
    .filter(|f| !f.name().contains("omx"))
    .collect::<Vec<_>>();
    encoders.sort_by_key(|f| std::cmp::Reverse(f.rank()));
    encoders.first().map(|f| f.name().to_string())
}

/// The caps an encoding profile targets for a caps name of the preset.
pub(super) fn target_caps(caps_name: &str) -> gst::Caps {
    match caps_name {
        "audio/mpeg" => gst::Caps::builder("audio/mpeg")
            .field("mpegversion", 4i32)
            .build(),
        other => gst::Caps::new_empty_simple(other),
    }
}
