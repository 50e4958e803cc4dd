//! The decoded exports: every source decoded, placed on the session timeline and mixed, into a
//! grid video (compositor, one tile per participant, a card under each) or an audio track
//! (audiomixer).

use std::path::Path;
use std::time::Duration;

use gst::prelude::*;

use super::ExportError;
use super::elements::{
    add_err, capsfilter, connect_dynamic_pads, file_sink, file_source, link_err, make, make_chain,
    make_muxer, muxer_pad, queue,
};
use super::plan::{Cell, Source, tile_layout};
use super::run::{Positions, track_position};
use crate::library::presets::{Canvas, Preset};

/// Sample rate and channel count everything is mixed at.
const MIX_RATE: i32 = 48_000;
const MIX_CHANNELS: i32 = 2;

/// What a grid video shows: who sits in which cell, on what canvas, for how long.
pub(super) struct Grid<'a> {
    pub(super) cells: &'a [Cell],
    pub(super) canvas: Canvas,
    pub(super) duration_ns: u64,
}

/// Decodes every source, places it on the session timeline, mixes and encodes:
/// `filesrc → decodebin → convert/scale → [offset] → compositor/audiomixer → encoder → muxer`.
/// Without a `grid`, only audio is used (the audio-only export). In a grid each cell has a
/// card underneath (the name, and whether the person is away or has no camera) that shows
/// wherever their video does not, and their video carries their name.
pub(super) fn build_decoded(
    pipeline: &gst::Pipeline,
    preset: &Preset,
    sources: &[(usize, Source)],
    grid: Option<Grid>,
    partial: &Path,
    positions: &Positions,
) -> Result<(), ExportError> {
    let mux = make_muxer(preset)?;
    let sink = file_sink(partial)?;
    pipeline.add_many([&mux, &sink]).map_err(add_err)?;
    mux.link(&sink).map_err(link_err)?;

    let want_audio = sources.iter().any(|(_, s)| s.has(false));
    let audio_mixer = if want_audio {
        let mixer = make("audiomixer")?;
        encode_into_muxer(
            pipeline,
            preset,
            &mixer,
            &mix_audio_caps(),
            &mux,
            false,
            positions,
        )?;
        Some(mixer)
    } else {
        None
    };

    let video_mixer = match &grid {
        Some(Grid {
            cells,
            canvas,
            duration_ns,
        }) if !cells.is_empty() => {
            let mixer = gst::ElementFactory::make("compositor")
                .property_from_str("background", "black")
                .build()
                .map_err(|_| ExportError::MissingElement("compositor".to_owned()))?;
            let caps = gst::Caps::builder("video/x-raw")
                .field("width", canvas.width as i32)
                .field("height", canvas.height as i32)
                .field("framerate", gst::Fraction::new(canvas.framerate as i32, 1))
                .field("pixel-aspect-ratio", gst::Fraction::new(1, 1))
                .build();
            encode_into_muxer(pipeline, preset, &mixer, &caps, &mux, true, positions)?;
            let layout = tile_layout(cells.len(), canvas.width, canvas.height);
            for (cell, &rect) in cells.iter().zip(&layout) {
                cell_card(pipeline, &mixer, cell, rect, *canvas, *duration_ns)?;
            }
            Some((mixer, layout))
        }
        _ => None,
    };

    for (tile, source) in sources {
        let offset = i64::try_from(source.start_ns).unwrap_or(i64::MAX);
        for file in &source.files {
            let src = file_source(&file.path)?;
            let decode = make("decodebin")?;
            pipeline.add_many([&src, &decode]).map_err(add_err)?;
            src.link(&decode).map_err(link_err)?;
            let mut chains = Vec::new();
            for stream in &file.streams {
                let chain_pad = if stream.is_video {
                    match (&video_mixer, &grid) {
                        (Some((mixer, layout)), Some(grid)) => {
                            let (Some(&rect), Some(cell)) =
                                (layout.get(*tile), grid.cells.get(*tile))
                            else {
                                continue;
                            };
                            Some(video_chain(pipeline, mixer, rect, &cell.label, offset)?)
                        }
                        _ => None,
                    }
                } else {
                    match &audio_mixer {
                        Some(mixer) => Some(audio_chain(pipeline, mixer, offset)?),
                        None => None,
                    }
                };
                if let Some(pad) = chain_pad {
                    chains.push((stream.is_video, pad));
                }
            }
            connect_dynamic_pads(&decode, pipeline, chains);
        }
    }
    Ok(())
}

/// `mixer → capsfilter(caps) → the preset's encoder → queue → mux`: a mix encoded into the
/// output file, its position followed for progress.
fn encode_into_muxer(
    pipeline: &gst::Pipeline,
    preset: &Preset,
    mixer: &gst::Element,
    caps: &gst::Caps,
    mux: &gst::Element,
    video: bool,
    positions: &Positions,
) -> Result<(), ExportError> {
    let filter = capsfilter(caps)?;
    let encoder = if video {
        make_chain(preset, "video encoder", preset.video_encoder.as_deref())?
    } else {
        make_chain(preset, "audio encoder", preset.audio_encoder.as_deref())?
    };
    let q = queue(Duration::ZERO)?;
    pipeline
        .add_many([mixer, &filter, &encoder, &q])
        .map_err(add_err)?;
    gst::Element::link_many([mixer, &filter, &encoder, &q]).map_err(link_err)?;
    let mux_pad = muxer_pad(mux, video).ok_or_else(|| {
        let kind = if video { "video" } else { "audio" };
        ExportError::Unsupported(format!("{} takes no {kind}", preset.muxer))
    })?;
    q.static_pad("src")
        .ok_or_else(|| link_err("queue"))?
        .link(&mux_pad)
        .map_err(link_err)?;
    track_position(&mux_pad, positions);
    Ok(())
}

fn mix_audio_caps() -> gst::Caps {
    gst::Caps::builder("audio/x-raw")
        .field("format", "F32LE")
        .field("layout", "interleaved")
        .field("rate", MIX_RATE)
        .field("channels", MIX_CHANNELS)
        .build()
}

/// A cell's card, under its video for the whole session: the participant's name and, where no
/// video of theirs covers it, why ("not in the room", or their initial for someone who never
/// had a camera).
fn cell_card(
    pipeline: &gst::Pipeline,
    mixer: &gst::Element,
    cell: &Cell,
    (x, y, w, h): (i32, i32, i32, i32),
    canvas: Canvas,
    duration_ns: u64,
) -> Result<(), ExportError> {
    let frames = (u128::from(duration_ns) * u128::from(canvas.framerate))
        .div_ceil(1_000_000_000)
        .max(1);
    let background = gst::ElementFactory::make("videotestsrc")
        .property_from_str("pattern", "solid-color")
        .property("foreground-color", 0xff26_2626u32)
        .property("num-buffers", i32::try_from(frames).unwrap_or(i32::MAX))
        .build()
        .map_err(|_| ExportError::MissingElement("videotestsrc".to_owned()))?;
    let caps = gst::Caps::builder("video/x-raw")
        .field("width", w)
        .field("height", h)
        .field("framerate", gst::Fraction::new(canvas.framerate as i32, 1))
        .field("pixel-aspect-ratio", gst::Fraction::new(1, 1))
        .build();
    let filter = capsfilter(&caps)?;
    let name = glib::markup_escape_text(&cell.label);
    let initial: String = cell
        .label
        .chars()
        .take(1)
        .flat_map(char::to_uppercase)
        .collect();
    let markup = if cell.has_video {
        format!("<b>{name}</b>\n<small>not in the room</small>")
    } else {
        format!(
            "<span size=\"300%\" weight=\"bold\">{}</span>\n<b>{name}</b>\n<small>audio only</small>",
            glib::markup_escape_text(&initial)
        )
    };
    let text = gst::ElementFactory::make("textoverlay")
        .property("text", markup)
        .property_from_str("valignment", "center")
        .property_from_str("halignment", "center")
        .property_from_str("line-alignment", "center")
        .property("font-desc", format!("Sans {}", font_size(h)))
        .build()
        .map_err(|_| ExportError::MissingElement("textoverlay".to_owned()))?;
    let convert = make("videoconvert")?;
    pipeline
        .add_many([&background, &filter, &text, &convert])
        .map_err(add_err)?;
    gst::Element::link_many([&background, &filter, &text, &convert]).map_err(link_err)?;
    let pad = mixer
        .request_pad_simple("sink_%u")
        .ok_or_else(|| link_err("compositor refused a pad"))?;
    pad.set_property("xpos", x);
    pad.set_property("ypos", y);
    pad.set_property("width", w);
    pad.set_property("height", h);
    pad.set_property("zorder", 0u32);
    convert
        .static_pad("src")
        .ok_or_else(|| link_err("videoconvert"))?
        .link(&pad)
        .map_err(link_err)?;
    Ok(())
}

/// A text size that reads well in a cell `height` pixels high.
fn font_size(height: i32) -> i32 {
    (height / 12).clamp(10, 32)
}

/// queue → videoconvert → videoscale → tile caps → name → compositor pad at the tile, above the
/// cell's card, offset onto the session timeline. Returns the chain's sink pad.
fn video_chain(
    pipeline: &gst::Pipeline,
    mixer: &gst::Element,
    (x, y, w, h): (i32, i32, i32, i32),
    label: &str,
    offset: i64,
) -> Result<gst::Pad, ExportError> {
    let q = queue(Duration::from_secs(3))?;
    let convert = make("videoconvert")?;
    let scale = gst::ElementFactory::make("videoscale")
        .property("add-borders", true)
        .build()
        .map_err(|_| ExportError::MissingElement("videoscale".to_owned()))?;
    let caps = gst::Caps::builder("video/x-raw")
        .field("width", w)
        .field("height", h)
        .field("pixel-aspect-ratio", gst::Fraction::new(1, 1))
        .build();
    let filter = capsfilter(&caps)?;
    let name = gst::ElementFactory::make("textoverlay")
        .property("text", label)
        .property_from_str("valignment", "bottom")
        .property_from_str("halignment", "left")
        .property("shaded-background", true)
        .property("font-desc", format!("Sans Bold {}", font_size(h)))
        .build()
        .map_err(|_| ExportError::MissingElement("textoverlay".to_owned()))?;
    let named = make("videoconvert")?;
    pipeline
        .add_many([&q, &convert, &scale, &filter, &name, &named])
        .map_err(add_err)?;
    gst::Element::link_many([&q, &convert, &scale, &filter, &name, &named]).map_err(link_err)?;
    let mixer_pad = mixer
        .request_pad_simple("sink_%u")
        .ok_or_else(|| link_err("compositor refused a pad"))?;
    mixer_pad.set_property("xpos", x);
    mixer_pad.set_property("ypos", y);
    mixer_pad.set_property("width", w);
    mixer_pad.set_property("height", h);
    mixer_pad.set_property("zorder", 1u32);
    let src = named
        .static_pad("src")
        .ok_or_else(|| link_err("videoconvert"))?;
    src.set_offset(offset);
    src.link(&mixer_pad).map_err(link_err)?;
    q.static_pad("sink").ok_or_else(|| link_err("queue"))
}

/// queue → audioconvert → audioresample → mix caps → audiomixer pad, offset onto the session
/// timeline. Returns the chain's sink pad.
fn audio_chain(
    pipeline: &gst::Pipeline,
    mixer: &gst::Element,
    offset: i64,
) -> Result<gst::Pad, ExportError> {
    let q = queue(Duration::from_secs(3))?;
    let convert = make("audioconvert")?;
    let resample = make("audioresample")?;
    let filter = capsfilter(&mix_audio_caps())?;
    pipeline
        .add_many([&q, &convert, &resample, &filter])
        .map_err(add_err)?;
    gst::Element::link_many([&q, &convert, &resample, &filter]).map_err(link_err)?;
    let mixer_pad = mixer
        .request_pad_simple("sink_%u")
        .ok_or_else(|| link_err("audiomixer refused a pad"))?;
    let src = filter
        .static_pad("src")
        .ok_or_else(|| link_err("capsfilter"))?;
    src.set_offset(offset);
    src.link(&mixer_pad).map_err(link_err)?;
    q.static_pad("sink").ok_or_else(|| link_err("queue"))
}
