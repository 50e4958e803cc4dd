//! The GStreamer side of an export: the per-segment pipelines (remux and edit), and the run of
//! one planned output into its partial file. The decoded mixes (grid and audio) are in
//! [`super::mix`], the elements both are built from in [`super::elements`].

use std::path::Path;
use std::time::Duration;

use gst::prelude::*;

use super::elements::{
    add_err, bad_preset, connect_dynamic_pads, file_sink, file_source, link_err, make, make_muxer,
    muxer_pad, queue, target_caps,
};
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
