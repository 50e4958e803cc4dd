//! Live preview branches for the app's tiles, attached to a track's tee next to the recording
//! branch: `queue (leaky, small) → depay → decode → videorate → videoscale → gtk4paintablesink`
//! for video, `queue (leaky) → depay → decode → level → fakesink` for audio.
//!
//! A preview can never stall the recording: its queue drops when full and decoding runs in the
//! queue's own thread. Only the GTK app asks for previews; the headless recorder never decodes.
//! Everything that happens on a streaming thread (level readings, decoded frame counts) leaves
//! it through atomics or a channel; the sink's `paintable` must be read on the main thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use gst::prelude::*;

use super::peer::Track;
use crate::room::MediaKind;

/// How large previews are decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreviewConfig {
    /// Height in pixels; the width follows the picture's aspect ratio.
    pub height: u32,
    pub framerate: u32,
}

impl PreviewConfig {
    /// The `preview-quality` setting's nicks; `None` for "off" or anything unknown.
    pub fn from_quality(nick: &str) -> Option<PreviewConfig> {
        let (height, framerate) = match nick {
            "low" => (180, 10),
            "medium" => (270, 15),
            "high" => (540, 30),
            _ => return None,
        };
        Some(PreviewConfig { height, framerate })
    }
}

/// What a video preview measured on its decoded frames (shared with the streaming thread).
#[derive(Debug, Default)]
pub struct PreviewStats {
    pub frames_decoded: AtomicU64,
    pub width: AtomicU32,
    pub height: AtomicU32,
    /// Frame rate from the caps, in thousandths of a frame per second (0 when unknown).
    pub caps_fps_milli: AtomicU32,
}

/// Stops and resumes a preview branch at its head, so that a tile that is not on screen costs
/// no decoding at all. Holds the elements weakly: a handle outliving its participant's
/// pipeline keeps nothing alive and does nothing.
#[derive(Debug, Clone)]
pub struct PauseHandle {
    valve: glib::WeakRef<gst::Element>,
    /// Video only: where to ask for the key frame a decoder needs to start again.
    keyframe_from: Option<glib::WeakRef<gst::Element>>,
}

impl PauseHandle {
    fn new(valve: &gst::Element, keyframe_from: Option<&gst::Element>) -> PauseHandle {
        PauseHandle {
            valve: valve.downgrade(),
            keyframe_from: keyframe_from.map(|element| element.downgrade()),
        }
    }

    pub fn set_paused(&self, paused: bool) {
        let Some(valve) = self.valve.upgrade() else {
            return;
        };
        if valve.property::<bool>("drop") == paused {
            return;
        }
        valve.set_property("drop", paused);
        if !paused && let Some(depay) = self.keyframe_from.as_ref().and_then(|w| w.upgrade()) {
            request_keyframe(&depay);
        }
    }

    pub fn is_paused(&self) -> bool {
        self.valve
            .upgrade()
            .is_some_and(|valve| valve.property::<bool>("drop"))
    }
}

/// A video preview: the sink (read its `paintable` on the main thread) and its counters.
#[derive(Debug, Clone)]
pub struct VideoPreview {
    pub sink: gst::Element,
    pub stats: Arc<PreviewStats>,
    /// Drops packets before the depayloader while the tile is not on screen.
    pub pause: PauseHandle,
}

fn make_valve() -> anyhow::Result<gst::Element> {
    gst::ElementFactory::make("valve")
        .property_from_str("drop-mode", "forward-sticky-events")
        .build()
        .map_err(|_| anyhow::anyhow!("the GStreamer element valve is missing"))
}

fn make(name: &str) -> anyhow::Result<gst::Element> {
    gst::ElementFactory::make(name)
        .build()
        .map_err(|_| anyhow::anyhow!("the GStreamer element {name} is missing"))
}

fn leaky_queue(max_buffers: u32) -> anyhow::Result<gst::Element> {
    Ok(gst::ElementFactory::make("queue")
        .property("max-size-buffers", max_buffers)
        .property("max-size-bytes", 0u32)
        .property("max-size-time", 0u64)
        .property_from_str("leaky", "downstream")
        .build()?)
}

fn depay_and_decoder(encoding: &str) -> anyhow::Result<(gst::Element, gst::Element)> {
    let (depay, decoders): (&str, &[&str]) = match encoding {
        // FFmpeg's VP8 decoder costs about a fifth less than libvpx's here (README, Benchmark).
        "VP8" => ("rtpvp8depay", &["avdec_vp8", "vp8dec"]),
        "VP9" => ("rtpvp9depay", &["vp9dec"]),
        "H264" => ("rtph264depay", &["avdec_h264", "openh264dec"]),
        "AV1" => ("rtpav1depay", &["dav1ddec", "av1dec"]),
        "OPUS" => ("rtpopusdepay", &["opusdec"]),
        other => anyhow::bail!("no preview for {other}"),
    };
    let decoder = decoders
        .iter()
        .find(|name| gst::ElementFactory::find(name).is_some())
        .ok_or_else(|| anyhow::anyhow!("no decoder for {encoding} is installed"))?;
    let decoder = make(decoder)?;
    // FFmpeg's default is a thread per core for every tile; two keep the frame-threading gain
    // without a machine with many cores paying threads and memory for each preview.
    if decoder.has_property("max-threads") {
        decoder.set_property("max-threads", 2i32);
    }
    // A corrupt frame (packets dropped by the leaky queue) must not end the branch.
    if decoder.has_property("max-errors") {
        decoder.set_property("max-errors", -1i32);
    }
    Ok((make(depay)?, decoder))
}

/// Adds `elements` to the pipeline, links them in order behind a new tee pad and starts them.
fn attach(
    pipeline: &gst::Pipeline,
    tee: &gst::Element,
    elements: &[gst::Element],
) -> anyhow::Result<()> {
    let first = elements
        .first()
        .ok_or_else(|| anyhow::anyhow!("empty preview branch"))?;
    pipeline.add_many(elements)?;
    let linked = (|| -> anyhow::Result<()> {
        gst::Element::link_many(elements)?;
        for element in elements.iter().rev() {
            element.sync_state_with_parent()?;
        }
        let tee_pad = tee
            .request_pad_simple("src_%u")
            .ok_or_else(|| anyhow::anyhow!("the tee gave no pad"))?;
        let sink_pad = first
            .static_pad("sink")
            .ok_or_else(|| anyhow::anyhow!("the preview branch has no sink pad"))?;
        tee_pad.link(&sink_pad)?;
        Ok(())
    })();
    if let Err(err) = linked {
        for element in elements {
            let _ = element.set_state(gst::State::Null);
            let _ = pipeline.remove(element);
        }
        return Err(err);
    }
    Ok(())
}

/// Attaches a decoding video preview to a video track.
pub fn attach_video(
    pipeline: &gst::Pipeline,
    track: &Track,
    config: PreviewConfig,
) -> anyhow::Result<VideoPreview> {
    anyhow::ensure!(track.kind == MediaKind::Video, "not a video track");
    attach_video_to_tee(pipeline, &track.tee, &track.encoding, config)
}

fn attach_video_to_tee(
    pipeline: &gst::Pipeline,
    tee: &gst::Element,
    encoding: &str,
    config: PreviewConfig,
) -> anyhow::Result<VideoPreview> {
    // About a second of encoded frames: the queue sits behind the depayloader, so the
    // decoding thread wakes once per frame rather than once per RTP packet.
    let queue = leaky_queue(30)?;
    let valve = make_valve()?;
    let (depay, decoder) = depay_and_decoder(encoding)?;
    // Not `drop-only`: in 1.22 it asserts on buffers without a duration, which RTP gives.
    let rate = make("videorate")?;
    let scale = make("videoscale")?;
    let caps = gst::Caps::builder("video/x-raw")
        .field("height", config.height as i32)
        .field("pixel-aspect-ratio", gst::Fraction::new(1, 1))
        .field("framerate", gst::Fraction::new(config.framerate as i32, 1))
        .build();
    let filter = gst::ElementFactory::make("capsfilter")
        .property("caps", &caps)
        .build()?;
    let convert = make("videoconvert")?;
    // Not async: a sink added to a playing pipeline that waits for preroll takes the whole
    // pipeline (webrtcbin's sources too) back to PAUSED until a frame arrives, which with no
    // key frame yet never happens.
    // Headless (`record --decode-previews`, the benchmark) there is no GTK: the frames are
    // decoded and scaled all the same, then dropped.
    let sink_factory = if gst::ElementFactory::find("gtk4paintablesink").is_some() {
        "gtk4paintablesink"
    } else {
        "fakesink"
    };
    let sink = gst::ElementFactory::make(sink_factory)
        .property("sync", false)
        .property("async", false)
        .build()
        .map_err(|_| anyhow::anyhow!("the GStreamer element {sink_factory} is missing"))?;

    let stats = Arc::new(PreviewStats::default());
    if let Some(pad) = decoder.static_pad("src") {
        let stats = stats.clone();
        pad.add_probe(
            gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM,
            move |_, info| {
                match &info.data {
                    Some(gst::PadProbeData::Buffer(_)) => {
                        stats.frames_decoded.fetch_add(1, Ordering::Relaxed);
                    }
                    Some(gst::PadProbeData::Event(event)) => {
                        if let gst::EventView::Caps(caps) = event.view()
                            && let Some(s) = caps.caps().structure(0)
                        {
                            let w = s.get::<i32>("width").unwrap_or(0).max(0) as u32;
                            let h = s.get::<i32>("height").unwrap_or(0).max(0) as u32;
                            stats.width.store(w, Ordering::Relaxed);
                            stats.height.store(h, Ordering::Relaxed);
                            if let Ok(fps) = s.get::<gst::Fraction>("framerate")
                                && fps.denom() > 0
                            {
                                let milli = i64::from(fps.numer()) * 1000 / i64::from(fps.denom());
                                stats.caps_fps_milli.store(
                                    milli.clamp(0, u32::MAX as i64) as u32,
                                    Ordering::Relaxed,
                                );
                            }
                        }
                    }
                    _ => {}
                }
                gst::PadProbeReturn::Ok
            },
        );
    }
    attach(
        pipeline,
        tee,
        // The valve comes first so that a paused preview costs the streaming thread one
        // check per packet and wakes no other thread.
        &[
            valve.clone(),
            depay.clone(),
            queue,
            decoder,
            rate,
            scale,
            filter,
            convert,
            sink.clone(),
        ],
    )?;
    // Decoding starts on a key frame: ask for one now, and again until frames come out.
    let weak = depay.downgrade();
    let counter = stats.clone();
    let mut tries = 0;
    request_keyframe(&depay);
    glib::timeout_add(std::time::Duration::from_secs(1), move || {
        tries += 1;
        let Some(depay) = weak.upgrade() else {
            return glib::ControlFlow::Break;
        };
        if counter.frames_decoded.load(Ordering::Relaxed) > 0 || tries > 10 {
            return glib::ControlFlow::Break;
        }
        request_keyframe(&depay);
        glib::ControlFlow::Continue
    });
    Ok(VideoPreview {
        sink,
        stats,
        pause: PauseHandle::new(&valve, Some(&depay)),
    })
}

fn request_keyframe(depay: &gst::Element) {
    let event = gst_video::UpstreamForceKeyUnitEvent::builder()
        .all_headers(true)
        .build();
    depay.send_event(event);
}

/// Attaches an audio level meter to an audio track. `on_level` gets the loudest channel's peak
/// in dB (−∞‥0) about ten times a second, on a streaming thread. The handle pauses the meter
/// (no decoding) while its tile is not on screen.
pub fn attach_audio(
    pipeline: &gst::Pipeline,
    track: &Track,
    on_level: impl Fn(f64) + Send + Sync + 'static,
) -> anyhow::Result<PauseHandle> {
    anyhow::ensure!(track.kind == MediaKind::Audio, "not an audio track");
    attach_audio_to_tee(pipeline, &track.tee, &track.encoding, on_level)
}

fn attach_audio_to_tee(
    pipeline: &gst::Pipeline,
    tee: &gst::Element,
    encoding: &str,
    on_level: impl Fn(f64) + Send + Sync + 'static,
) -> anyhow::Result<PauseHandle> {
    let valve = make_valve()?;
    let queue = leaky_queue(100)?;
    let (depay, decoder) = depay_and_decoder(encoding)?;
    let convert = make("audioconvert")?;
    let level = gst::ElementFactory::make("level")
        .property("interval", 100 * gst::ClockTime::MSECOND.nseconds())
        .property("post-messages", true)
        .build()
        .map_err(|_| anyhow::anyhow!("the GStreamer element level is missing"))?;
    let sink = gst::ElementFactory::make("fakesink")
        .property("sync", false)
        .property("async", false)
        .build()?;

    // The peer's bus already has its (only) watch; sync messages reach us on the posting
    // thread, and `on_level` hands them on to the main loop.
    if let Some(bus) = pipeline.bus() {
        bus.enable_sync_message_emission();
        let level_weak = level.downgrade();
        bus.connect_sync_message(Some("element"), move |_, message| {
            let Some(level) = level_weak.upgrade() else {
                return;
            };
            if message.src() != Some(level.upcast_ref::<gst::Object>()) {
                return;
            }
            if let Some(peak) = message.structure().and_then(loudest_peak) {
                on_level(peak);
            }
        });
    }
    attach(
        pipeline,
        tee,
        &[valve.clone(), queue, depay, decoder, convert, level, sink],
    )?;
    Ok(PauseHandle::new(&valve, None))
}

/// The loudest channel's `peak` (dB) from a `level` message.
fn loudest_peak(structure: &gst::StructureRef) -> Option<f64> {
    if structure.name() != "level" {
        return None;
    }
    let value = structure.value("peak").ok()?;
    // `level` posts a GValueArray; a GstValueArray is accepted too.
    let values: Vec<f64> = if let Ok(array) = value.get::<glib::ValueArray>() {
        array.iter().filter_map(|v| v.get::<f64>().ok()).collect()
    } else {
        let array = value.get::<gst::Array>().ok()?;
        array.iter().filter_map(|v| v.get::<f64>().ok()).collect()
    };
    values.into_iter().reduce(f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quality_nicks_map_to_sizes() {
        assert_eq!(PreviewConfig::from_quality("off"), None);
        assert_eq!(PreviewConfig::from_quality("bogus"), None);
        let low = PreviewConfig::from_quality("low").unwrap();
        let high = PreviewConfig::from_quality("high").unwrap();
        assert!(low.height < high.height);
        assert!(low.framerate <= high.framerate);
    }

    /// Runs the default main context for `duration` (the preview's key-frame retries and the
    /// bus live there).
    fn run_for(duration: std::time::Duration) {
        let context = glib::MainContext::default();
        let deadline = std::time::Instant::now() + duration;
        while std::time::Instant::now() < deadline {
            while context.iteration(false) {}
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    #[test]
    fn a_paused_preview_decodes_nothing_and_resumes_on_a_key_frame() {
        gst::init().unwrap();
        // RTP VP8 into a tee, as webrtcbin's track would give it; key frames only on request.
        let pipeline = gst::parse::launch(
            "videotestsrc is-live=true ! video/x-raw,width=320,height=180,framerate=30/1 ! \
             vp8enc deadline=1 keyframe-max-dist=100000 ! rtpvp8pay ! tee name=t allow-not-linked=true",
        )
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
        let tee = pipeline.by_name("t").unwrap();
        let config = PreviewConfig {
            height: 90,
            framerate: 15,
        };
        let preview = attach_video_to_tee(&pipeline, &tee, "VP8", config).unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();
        let decoded = || preview.stats.frames_decoded.load(Ordering::Relaxed);

        run_for(std::time::Duration::from_millis(1500));
        assert!(decoded() > 10, "the preview decodes: {}", decoded());

        preview.pause.set_paused(true);
        assert!(preview.pause.is_paused());
        run_for(std::time::Duration::from_millis(300));
        let at_pause = decoded();
        run_for(std::time::Duration::from_millis(1000));
        assert_eq!(decoded(), at_pause, "nothing is decoded while paused");

        preview.pause.set_paused(false);
        run_for(std::time::Duration::from_millis(1500));
        assert!(
            decoded() > at_pause + 10,
            "decoding resumes from a requested key frame: {} after {at_pause}",
            decoded()
        );
        pipeline.set_state(gst::State::Null).unwrap();
    }

    #[test]
    fn a_paused_level_meter_decodes_nothing_and_resumes() {
        gst::init().unwrap();
        let pipeline = gst::parse::launch(
            "audiotestsrc is-live=true ! opusenc ! rtpopuspay ! tee name=t allow-not-linked=true",
        )
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
        let tee = pipeline.by_name("t").unwrap();
        let readings = Arc::new(AtomicU64::new(0));
        let counter = readings.clone();
        let pause = attach_audio_to_tee(&pipeline, &tee, "OPUS", move |_| {
            counter.fetch_add(1, Ordering::Relaxed);
        })
        .unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();
        let count = || readings.load(Ordering::Relaxed);

        run_for(std::time::Duration::from_millis(1000));
        assert!(
            count() >= 5,
            "the meter reads ten times a second: {}",
            count()
        );

        pause.set_paused(true);
        assert!(pause.is_paused());
        run_for(std::time::Duration::from_millis(300));
        let at_pause = count();
        run_for(std::time::Duration::from_millis(800));
        assert_eq!(count(), at_pause, "no readings while paused");

        pause.set_paused(false);
        run_for(std::time::Duration::from_millis(1000));
        assert!(
            count() >= at_pause + 5,
            "readings resume: {} after {at_pause}",
            count()
        );
        pipeline.set_state(gst::State::Null).unwrap();
        drop(pipeline);
        pause.set_paused(true);
        assert!(
            !pause.is_paused(),
            "a handle outliving its pipeline does nothing"
        );
    }

    #[test]
    fn level_messages_give_the_loudest_channel() {
        gst::init().unwrap();
        let s: gst::Structure = "level, peak=(double)< -30.0, -12.5 >".parse().unwrap();
        assert_eq!(loudest_peak(&s), Some(-12.5));
        let other = gst::Structure::builder("other").build();
        assert_eq!(loudest_peak(&other), None);
    }
}
