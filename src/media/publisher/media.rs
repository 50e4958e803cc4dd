//! The synthetic participant's media: a test pattern or a pre-encoded clip, a test tone, their
//! encoders and payloaders, linked into a viewer's webrtcbin.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use gst::prelude::*;

use super::{AudioMode, PublisherConfig, PublisherStats, VideoMode, Viewer};

/// Adds the synthetic camera and microphone; webrtcbin then asks for a renegotiation.
pub(super) fn add_media(
    viewer: &mut Viewer,
    config: &PublisherConfig,
    codec: &str,
    video: bool,
    audio: bool,
    stats: &Arc<PublisherStats>,
) -> anyhow::Result<()> {
    let video = video && config.video == VideoMode::Live;
    if video && let Some(clip) = config.clip.clone() {
        let counter = stats.clone();
        // The player sends nothing but its first frame before the answer and nothing after
        // `stop`, so every frame it pushes counts.
        let (appsrc, player) = crate::media::clip::ClipPlayer::new(clip.clone(), move || {
            counter.video_frames_sent.fetch_add(1, Ordering::Relaxed);
        })?;
        let is_h264 = clip
            .caps
            .structure(0)
            .is_some_and(|s| s.name() == "video/x-h264");
        let payloader = if is_h264 {
            gst::ElementFactory::make("rtph264pay")
                .property("config-interval", -1i32)
                .property_from_str("aggregate-mode", "zero-latency")
                .build()?
        } else {
            gst::ElementFactory::make("rtpvp8pay").build()?
        };
        let appsrc_element: gst::Element = appsrc.upcast();
        viewer.pipeline.add_many([&appsrc_element, &payloader])?;
        appsrc_element.link(&payloader)?;
        link_to_webrtcbin(&payloader, &viewer.webrtcbin, stats)?;
        start_downstream_first(&[&appsrc_element, &payloader])?;
        viewer.clip_players.push(player);
    } else if video {
        let src = gst::ElementFactory::make("videotestsrc")
            .property("is-live", true)
            .property_from_str("pattern", "ball")
            .build()?;
        let caps = gst::Caps::builder("video/x-raw")
            .field("width", config.width as i32)
            .field("height", config.height as i32)
            .field("framerate", gst::Fraction::new(config.framerate as i32, 1))
            .build();
        let filter = gst::ElementFactory::make("capsfilter")
            .property("caps", &caps)
            .build()?;
        let overlay = gst::ElementFactory::make("textoverlay")
            .property("text", &config.label)
            .property_from_str("valignment", "center")
            .property_from_str("halignment", "center")
            .property("font-desc", "Sans Bold 28")
            .build()?;
        let clock = gst::ElementFactory::make("timeoverlay")
            .property_from_str("valignment", "bottom")
            .property_from_str("halignment", "right")
            .build()?;
        let convert = gst::ElementFactory::make("videoconvert").build()?;
        let scale = gst::ElementFactory::make("videoscale").build()?;
        let size = gst::ElementFactory::make("capsfilter")
            .property("caps", &caps)
            .build()?;
        if let Some(every) = config.resize_every {
            cycle_sizes(&size, config, every);
        }
        let (encoder, payloader) = video_encoder(codec, config)?;
        let queue = gst::ElementFactory::make("queue").build()?;
        let elements = [
            &src, &filter, &overlay, &clock, &convert, &scale, &size, &queue, &encoder, &payloader,
        ];
        viewer.pipeline.add_many(elements)?;
        gst::Element::link_many(elements)?;
        let counter = stats.clone();
        if let Some(pad) = encoder.static_pad("src") {
            pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                if counter.counting() {
                    counter.video_frames_sent.fetch_add(1, Ordering::Relaxed);
                }
                gst::PadProbeReturn::Ok
            });
        }
        link_to_webrtcbin(&payloader, &viewer.webrtcbin, stats)?;
        start_downstream_first(&elements)?;
        viewer.encoders.push(encoder);
    }
    if audio && config.audio != AudioMode::None {
        let src = gst::ElementFactory::make("audiotestsrc")
            .property("is-live", true)
            .property("freq", 440.0f64)
            .property("volume", 0.2f64)
            .build()?;
        let convert = gst::ElementFactory::make("audioconvert").build()?;
        let resample = gst::ElementFactory::make("audioresample").build()?;
        let encoder = gst::ElementFactory::make("opusenc").build()?;
        let payloader = gst::ElementFactory::make("rtpopuspay")
            .property("pt", 111u32)
            .build()?;
        // A muted microphone: caps are negotiated, packets never flow.
        let valve = gst::ElementFactory::make("valve")
            .property("drop", config.audio == AudioMode::Muted)
            // Caps must still reach webrtcbin, or it cannot offer the track at all.
            .property_from_str("drop-mode", "forward-sticky-events")
            .build()?;
        let elements = [&src, &convert, &resample, &encoder, &valve, &payloader];
        viewer.pipeline.add_many(elements)?;
        gst::Element::link_many(elements)?;
        let counter = stats.clone();
        let muted = config.audio == AudioMode::Muted;
        if let Some(pad) = valve.static_pad("src") {
            pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                if !muted && counter.counting() {
                    counter.audio_frames_sent.fetch_add(1, Ordering::Relaxed);
                }
                gst::PadProbeReturn::Ok
            });
        }
        link_to_webrtcbin(&payloader, &viewer.webrtcbin, stats)?;
        start_downstream_first(&elements)?;
    }
    Ok(())
}

/// The sizes a resizing publisher goes through: full, half, three quarters (even numbers, as
/// encoders want them).
pub fn resize_cycle(width: u32, height: u32) -> [(u32, u32); 3] {
    let even = |n: u32| (n / 2 * 2).max(2);
    [
        (even(width), even(height)),
        (even(width / 2), even(height / 2)),
        (even(width * 3 / 4), even(height * 3 / 4)),
    ]
}

/// Changes the encoder's input size every `every`, until the element is gone.
fn cycle_sizes(size: &gst::Element, config: &PublisherConfig, every: std::time::Duration) {
    let sizes = resize_cycle(config.width, config.height);
    let framerate = config.framerate as i32;
    let weak = size.downgrade();
    let mut step = 0usize;
    glib::timeout_add(every, move || {
        let Some(size) = weak.upgrade() else {
            return glib::ControlFlow::Break;
        };
        step += 1;
        let (width, height) = sizes[step % sizes.len()];
        let caps = gst::Caps::builder("video/x-raw")
            .field("width", width as i32)
            .field("height", height as i32)
            .field("framerate", gst::Fraction::new(framerate, 1))
            .build();
        tracing::info!("publisher: video now {width}x{height}");
        size.set_property("caps", &caps);
        glib::ControlFlow::Continue
    });
}

/// Whether this machine's GStreamer can send `codec` (a wire name: vp8, vp9, h264, av1).
pub fn sendable(codec: &str) -> anyhow::Result<()> {
    if codec == "av1" {
        // GStreamer 1.22 has an AV1 encoder but no RTP payloader for it (rtpav1pay is in the
        // Rust plugins, from 1.24 on).
        crate::media::init()?;
        anyhow::ensure!(
            gst::ElementFactory::find("rtpav1pay").is_some(),
            "AV1 cannot be sent: GStreamer's rtpav1pay (gst-plugins-rs) is not installed"
        );
    }
    Ok(())
}

/// Starts elements added to a playing pipeline, the sink end first. Started source first, a
/// live source can push its first buffer into a neighbour that is not running yet, get
/// FLUSHING back and stop for good: no caps ever reach webrtcbin, so it never offers the
/// track, and the viewer waits for media that never comes (about one demo run in ten).
fn start_downstream_first(elements: &[&gst::Element]) -> anyhow::Result<()> {
    for element in elements.iter().rev() {
        element.sync_state_with_parent()?;
    }
    Ok(())
}

fn video_encoder(
    codec: &str,
    config: &PublisherConfig,
) -> anyhow::Result<(gst::Element, gst::Element)> {
    let kbps = config.bitrate_kbps;
    Ok(match codec {
        "h264" => (
            gst::ElementFactory::make("x264enc")
                .property_from_str("tune", "zerolatency")
                .property_from_str("speed-preset", "ultrafast")
                .property("key-int-max", 60u32)
                .property("bitrate", kbps)
                .build()?,
            gst::ElementFactory::make("rtph264pay")
                .property("config-interval", -1i32)
                .property_from_str("aggregate-mode", "zero-latency")
                .build()?,
        ),
        "vp9" => (
            gst::ElementFactory::make("vp9enc")
                .property("deadline", 1i64)
                .property("cpu-used", 8i32)
                .property("keyframe-max-dist", 60i32)
                .property("target-bitrate", (kbps * 1000) as i32)
                .build()?,
            gst::ElementFactory::make("rtpvp9pay").build()?,
        ),
        "av1" => {
            sendable(codec)?;
            (
                gst::ElementFactory::make("av1enc")
                    .property_from_str("end-usage", "cbr")
                    .property("cpu-used", 8i32)
                    .property("target-bitrate", kbps)
                    .build()?,
                gst::ElementFactory::make("rtpav1pay").build()?,
            )
        }
        _ => (
            gst::ElementFactory::make("vp8enc")
                .property("deadline", 1i64)
                .property("cpu-used", 8i32)
                .property("keyframe-max-dist", 60i32)
                .property("target-bitrate", (kbps * 1000) as i32)
                .build()?,
            gst::ElementFactory::make("rtpvp8pay").build()?,
        ),
    })
}

fn link_to_webrtcbin(
    payloader: &gst::Element,
    webrtcbin: &gst::Element,
    stats: &Arc<PublisherStats>,
) -> anyhow::Result<()> {
    let src = payloader
        .static_pad("src")
        .ok_or_else(|| anyhow::anyhow!("payloader without pad"))?;
    let paused = stats.clone();
    src.add_probe(
        gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
        move |_, _| {
            if paused.media_paused.load(Ordering::Relaxed) {
                gst::PadProbeReturn::Drop
            } else {
                gst::PadProbeReturn::Ok
            }
        },
    );
    let sink = webrtcbin
        .request_pad_simple("sink_%u")
        .ok_or_else(|| anyhow::anyhow!("webrtcbin gave no sink pad"))?;
    src.link(&sink)?;
    if let Some(transceiver) =
        sink.property::<Option<gst_webrtc::WebRTCRTPTransceiver>>("transceiver")
    {
        transceiver.set_direction(gst_webrtc::WebRTCRTPTransceiverDirection::Sendonly);
    }
    Ok(())
}
