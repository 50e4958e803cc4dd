//! The GStreamer side of an export: the elements every pipeline is built from, the per-segment
//! pipelines (remux and edit), and the run of one planned output into its partial file. The
//! decoded mixes (grid and audio) are in [`super::mix`].

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use gst::prelude::*;

use super::mix::{Grid, build_decoded};
use super::plan::{Job, PlannedOutput, Source};
use super::run::{Positions, RunError, run_pipeline, track_position};
use super::{CancelFlag, ExportError};
use crate::library::presets::{Preset, codec_label};

/// Builds one output's pipeline and plays it to the end into `partial`.
pub(super) fn write_one(
    output: &PlannedOutput,
    preset: &Preset,
    partial: &Path,
    cancel: &CancelFlag,
    report: &mut dyn FnMut(f64),
) -> Result<(), ExportError> {
    let pipeline = gst::Pipeline::new();
    let position = Positions::default();
    let built = match &output.job {
        // A remux is an edit export that found nothing to re-encode (the plan refused it).
        Job::Remux(source) | Job::Edit(source) => {
            build_per_segment(&pipeline, preset, source, partial, &position)
        }
        Job::Grid {
            sources,
            cells,
            canvas,
        } => build_decoded(
            &pipeline,
            preset,
            sources,
            Some(Grid {
                cells,
                canvas: *canvas,
                duration_ns: output.duration_ns,
            }),
            partial,
            &position,
        ),
        Job::Audio(sources) => {
            let sources: Vec<(usize, Source)> = sources.iter().map(|s| (0, s.clone())).collect();
            build_decoded(&pipeline, preset, &sources, None, partial, &position)
        }
    };
    let result = built.and_then(|()| {
        run_pipeline(&pipeline, output.duration_ns, &position, cancel, report).map_err(|message| {
            match message {
                RunError::Cancelled => ExportError::Cancelled,
                RunError::Failed(message) => ExportError::Pipeline {
                    file: partial.display().to_string(),
                    message,
                },
            }
        })
    });
    let _ = pipeline.set_state(gst::State::Null);
    result
}

pub(super) fn make(factory: &str) -> Result<gst::Element, ExportError> {
    gst::ElementFactory::make(factory)
        .build()
        .map_err(|_| ExportError::MissingElement(factory.to_owned()))
}

/// A bad preset description, reported with the preset it came from.
fn bad_preset(preset: &Preset, what: &str, err: impl std::fmt::Display) -> ExportError {
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
fn target_caps(caps_name: &str) -> gst::Caps {
    match caps_name {
        "audio/mpeg" => gst::Caps::builder("audio/mpeg")
            .field("mpegversion", 4i32)
            .build(),
        other => gst::Caps::new_empty_simple(other),
    }
}

/// One output file per segment: copies the streams the container takes, and decodes and
/// re-encodes the others through `encodebin` (encoders chosen by GStreamer from what is
/// installed; only an edit export has such streams):
/// `filesrc → matroskademux → (parser | decodebin → convert → encodebin) → queue → muxer`.
fn build_per_segment(
    pipeline: &gst::Pipeline,
    preset: &Preset,
    source: &Source,
    partial: &Path,
    positions: &Positions,
) -> Result<(), ExportError> {
    let mux = make_muxer(preset)?;
    let sink = file_sink(partial)?;
    pipeline.add_many([&mux, &sink]).map_err(add_err)?;
    mux.link(&sink).map_err(link_err)?;
    // Editors seek: a key frame every two seconds, quality-based rate control.
    pipeline.connect_deep_element_added(|_, _, element| {
        if element.factory().is_some_and(|f| f.name() == "x264enc") {
            element.set_property_from_str("speed-preset", "veryfast");
            element.set_property_from_str("pass", "qual");
            element.set_property("quantizer", 20u32);
            element.set_property("key-int-max", 60u32);
        }
    });
    for file in &source.files {
        let src = file_source(&file.path)?;
        let demux = make("matroskademux")?;
        pipeline.add_many([&src, &demux]).map_err(add_err)?;
        src.link(&demux).map_err(link_err)?;
        let mut chains = Vec::new();
        for stream in &file.streams {
            let mux_pad = muxer_pad(&mux, stream.is_video).ok_or_else(|| {
                ExportError::Unsupported(format!("{} takes no such stream", preset.muxer))
            })?;
            let out_queue = queue(Duration::from_secs(5))?;
            pipeline.add(&out_queue).map_err(add_err)?;
            out_queue
                .static_pad("src")
                .ok_or_else(|| link_err("queue"))?
                .link(&mux_pad)
                .map_err(link_err)?;
            track_position(&mux_pad, positions);
            let entry = if preset.accepts(&stream.caps_name) {
                let mut elements = Vec::new();
                if let Some(parser) = parser_for(&stream.caps_name) {
                    elements.push(make(parser)?);
                }
                pipeline.add_many(&elements).map_err(add_err)?;
                elements.push(out_queue.clone());
                gst::Element::link_many(&elements).map_err(link_err)?;
                elements[0].clone()
            } else {
                reencode_chain(pipeline, preset, stream.is_video, &out_queue)?
            };
            let sink_pad = entry.static_pad("sink").ok_or_else(|| link_err("chain"))?;
            chains.push((stream.is_video, sink_pad));
        }
        connect_dynamic_pads(&demux, pipeline, chains);
    }
    Ok(())
}

/// queue → decodebin → convert → encodebin (the preset's format) → `out`. Returns the first
/// element.
fn reencode_chain(
    pipeline: &gst::Pipeline,
    preset: &Preset,
    video: bool,
    out: &gst::Element,
) -> Result<gst::Element, ExportError> {
    let target = if video {
        preset.video_caps.first()
    } else {
        preset.audio_caps.first()
    }
    .ok_or_else(|| bad_preset(preset, "formats", "none to encode into"))?;
    let profile: gst_pbutils::EncodingProfile = if video {
        gst_pbutils::EncodingVideoProfile::builder(&target_caps(target))
            .build()
            .upcast()
    } else {
        gst_pbutils::EncodingAudioProfile::builder(&target_caps(target))
            .build()
            .upcast()
    };
    let input = queue(Duration::from_secs(3))?;
    let decode = make("decodebin")?;
    let converters: Vec<gst::Element> = if video {
        vec![make("videoconvert")?]
    } else {
        vec![make("audioconvert")?, make("audioresample")?]
    };
    let encode = gst::ElementFactory::make("encodebin")
        .property("profile", &profile)
        .build()
        .map_err(|_| ExportError::MissingElement("encodebin".to_owned()))?;
    pipeline
        .add_many([&input, &decode, &encode])
        .map_err(add_err)?;
    pipeline.add_many(&converters).map_err(add_err)?;
    input.link(&decode).map_err(link_err)?;
    gst::Element::link_many(&converters).map_err(link_err)?;
    // encodebin hands out a sink pad for what can reach its profile (a pad asked for by
    // template name must name a profile): linking the elements asks for one by caps.
    converters
        .last()
        .ok_or_else(|| link_err("converter"))?
        .link(&encode)
        .map_err(|_| {
            ExportError::MissingElement(format!("an encoder for {}", codec_label(target)))
        })?;
    encode.link(out).map_err(link_err)?;
    let first_converter = converters
        .first()
        .and_then(|c| c.static_pad("sink"))
        .ok_or_else(|| link_err("converter"))?;
    decode.connect_pad_added(move |_, pad| {
        if !first_converter.is_linked()
            && let Err(err) = pad.link(&first_converter)
        {
            tracing::warn!("export: cannot link the decoder: {err:?}");
        }
    });
    Ok(input)
}

/// The parser that gives a muxer the stream format it wants, where one is needed.
fn parser_for(caps_name: &str) -> Option<&'static str> {
    match caps_name {
        "video/x-h264" => Some("h264parse"),
        "video/x-h265" => Some("h265parse"),
        "video/x-vp9" => Some("vp9parse"),
        "video/x-av1" => Some("av1parse"),
        "audio/x-opus" => Some("opusparse"),
        "audio/mpeg" => Some("aacparse"),
        _ => None,
    }
    .filter(|name| gst::ElementFactory::find(name).is_some())
}
