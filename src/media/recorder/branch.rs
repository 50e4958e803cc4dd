//! A track's recording branch: `tee → guard → depayloader → parser → queue → matroskamux →
//! fdsink`, the probe that starts it on a key frame and hands buffers over at a part's cut,
//! and what keeps a stream change the file can take away from the muxer.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;

use super::cut::TrackCut;
use crate::media::branch_guard::BranchGuard;
use crate::media::error::EngineError;
use crate::room::MediaKind;

/// Names recording sinks uniquely per process, so a pipeline error can be traced to its branch.
static NEXT_SINK: AtomicU64 = AtomicU64::new(0);

/// Shared between a track branch's streaming thread and the main loop.
#[derive(Debug, Default)]
pub(super) struct TrackStats {
    pub(super) frames: AtomicU64,
    pub(super) first_pts: AtomicU64,
    pub(super) last_pts: AtomicU64,
    pub(super) keyframe_wait_started_ns: AtomicU64,
}

/// What a recording branch is made for: the track's kind, encoding and the tee it hangs from.
pub(super) struct TrackSource<'a> {
    pub(super) kind: MediaKind,
    pub(super) encoding: &'a str,
    pub(super) tee: &'a gst::Element,
}

pub(super) struct TrackRecording {
    pub(super) kind: MediaKind,
    /// The RTP encoding, for the branch of the next part.
    pub(super) encoding: String,
    /// `recN`: the prefix of this branch's element names.
    pub(super) tag: String,
    pub(super) file: PathBuf,
    /// The open file the branch's fdsink writes into; closed when the track is dropped, after
    /// its elements have stopped.
    pub(super) _opened: std::fs::File,
    pub(super) tee: gst::Element,
    pub(super) tee_pad: gst::Pad,
    /// First in the branch: a failure inside the branch stays inside it.
    pub(super) guard: BranchGuard,
    pub(super) elements: Vec<gst::Element>,
    pub(super) eos: Option<futures_channel::oneshot::Receiver<()>>,
    pub(super) stats: Arc<TrackStats>,
    pub(super) caps: Arc<Mutex<Option<gst::Caps>>>,
    /// Every picture size the track had, with the time it started: (pts ns, width, height).
    pub(super) sizes: Arc<Mutex<Vec<(u64, u32, u32)>>>,
    pub(super) first_element_sink: gst::Pad,
    pub(super) depay: gst::Element,
    pub(super) started: Arc<std::sync::atomic::AtomicBool>,
    pub(super) attached_at: Instant,
    pub(super) first_keyframe_at: Arc<std::sync::OnceLock<Instant>>,
    pub(super) reported: bool,
    /// Set when a split is under way: from its cut on, this branch's buffers go to the next
    /// part's branch instead.
    pub(super) cut_out: Arc<Mutex<Option<Arc<TrackCut>>>>,
}

/// The depayloader and parser that record an RTP encoding, `None` for one Roomtape does not
/// record.
fn elements_for(encoding: &str) -> Option<(&'static str, Option<&'static str>)> {
    Some(match encoding {
        "VP8" => ("rtpvp8depay", None),
        "VP9" => ("rtpvp9depay", Some("vp9parse")),
        "H264" => ("rtph264depay", Some("h264parse")),
        "AV1" => ("rtpav1depay", Some("av1parse")),
        "OPUS" => ("rtpopusdepay", Some("opusparse")),
        _ => return None,
    })
}

/// Why a track in this RTP encoding cannot be recorded on this machine, or `None` when it can.
pub fn unrecordable_reason(encoding: &str) -> Option<String> {
    let Some((depay, _)) = elements_for(encoding) else {
        return Some(format!("{encoding} is not a codec Roomtape records"));
    };
    if gst::ElementFactory::find(depay).is_some() {
        return None;
    }
    let source = match depay {
        // Upstream moved it to the Rust plugins; Debian 12's GStreamer 1.22 does not ship it.
        "rtpav1depay" => "gst-plugins-rs (GStreamer 1.24 or later)",
        _ => "the GStreamer plugin sets good and bad",
    };
    Some(format!(
        "{encoding} cannot be recorded here: GStreamer's {depay} is not installed (it comes with {source})"
    ))
}

fn depay_and_parser(encoding: &str) -> Result<(gst::Element, Option<gst::Element>), EngineError> {
    let Some((depay, parser)) = elements_for(encoding) else {
        return Err(EngineError::NoRecorderFor(encoding.to_owned()));
    };
    let depay = gst::ElementFactory::make(depay)
        .build()
        .map_err(EngineError::element(depay))?;
    let parser = match parser {
        Some(name) if gst::ElementFactory::find(name).is_some() => {
            let parser = gst::ElementFactory::make(name)
                .build()
                .map_err(EngineError::element(name))?;
            if name == "h264parse" {
                // Parameter sets in front of every key frame: see `in_band_framing`.
                parser.set_property("config-interval", -1i32);
            }
            Some(parser)
        }
        _ => None,
    };
    Ok((depay, parser))
}

pub(super) fn codec_name(encoding: &str) -> String {
    match encoding {
        "OPUS" => "opus".to_owned(),
        other => other.to_ascii_lowercase(),
    }
}

/// Builds a track's recording branch. `running_time_base` is the pipeline running time that
/// becomes the file's zero; `cut_in` makes it the next part's branch, taking buffers only
/// from that cut on.
pub(super) fn build_track_branch(
    pipeline: &gst::Pipeline,
    track: &TrackSource<'_>,
    file: &Path,
    opened: std::fs::File,
    running_time_base: Option<gst::ClockTime>,
    cut_in: Option<Arc<TrackCut>>,
) -> Result<TrackRecording, EngineError> {
    let tag = format!("rec{}", NEXT_SINK.fetch_add(1, Ordering::Relaxed));
    let queue = gst::ElementFactory::make("queue")
        .name(format!("{tag}-queue"))
        .property("max-size-time", 2 * gst::ClockTime::SECOND.nseconds())
        .property("max-size-buffers", 0u32)
        .property("max-size-bytes", 0u32)
        .build()
        .map_err(EngineError::element("queue"))?;
    let (depay, parser) = depay_and_parser(track.encoding)?;
    let guard = BranchGuard::new(&format!("{tag}-guard"));
    let framing = in_band_framing(track.encoding, &tag)?;
    let mux = gst::ElementFactory::make("matroskamux")
        .name(format!("{tag}-mux"))
        .property("streamable", false)
        .build()
        .map_err(EngineError::element("matroskamux"))?;
    // fdsink writes each buffer as it comes (nothing buffered for a crash to lose) into the
    // file made above, which it never reopens by name.
    let sink = gst::ElementFactory::make("fdsink")
        .name(format!("{tag}-sink"))
        .property("fd", std::os::fd::AsRawFd::as_raw_fd(&opened))
        .property("sync", false)
        .property("async", false)
        .build()
        .map_err(EngineError::element("fdsink"))?;
    // The queue sits behind the parser: it then wakes its thread once per frame rather than
    // once per RTP packet (about eight times fewer for 720p video), while still keeping disk
    // writes off the jitter buffer's thread.
    let mut elements = vec![guard.clone().upcast::<gst::Element>(), depay.clone()];
    if let Some(parser) = &parser {
        elements.push(parser.clone());
    }
    if let Some(framing) = &framing {
        elements.push(framing.clone());
    }
    elements.push(queue.clone());
    elements.push(mux.clone());
    elements.push(sink.clone());
    pipeline
        .add_many(elements.iter())
        .map_err(EngineError::Branch)?;
    gst::Element::link_many(elements.iter()).map_err(EngineError::Branch)?;

    let stats = Arc::new(TrackStats::default());
    let started = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let first_keyframe_at = Arc::new(std::sync::OnceLock::new());
    let caps_slot = Arc::new(Mutex::new(None));
    let sizes: Arc<Mutex<Vec<(u64, u32, u32)>>> = Arc::default();
    let last = parser.as_ref().unwrap_or(&depay);
    let gate_pad = last.static_pad("src").ok_or(EngineError::NoPad {
        element: if parser.is_some() {
            "the parser"
        } else {
            "the depayloader"
        },
        pad: "src",
    })?;
    let cut_out: Arc<Mutex<Option<Arc<TrackCut>>>> = Arc::default();
    if let Some(cut) = &cut_in
        && let Ok(mut slot) = cut.new_queue_src.lock()
    {
        *slot = queue.static_pad("src");
    }
    {
        let cut_out = cut_out.clone();
        let segment: Mutex<Option<gst::FormattedSegment<gst::ClockTime>>> = Mutex::new(None);
        let stats = stats.clone();
        let started = started.clone();
        let caps_slot = caps_slot.clone();
        let sizes = sizes.clone();
        let first_keyframe_at = first_keyframe_at.clone();
        let kind = track.kind;
        gate_pad.add_probe(
            gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM,
            move |pad, info| {
                if let Some(gst::PadProbeData::Event(event)) = &info.data {
                    if let gst::EventView::Segment(seg) = event.view()
                        && let Ok(mut slot) = segment.lock()
                    {
                        *slot = seg.segment().downcast_ref::<gst::ClockTime>().cloned();
                    }
                    if let gst::EventView::Caps(caps) = event.view() {
                        if let Some(s) = caps.caps().structure(0)
                            && let (Ok(w), Ok(h)) = (s.get::<i32>("width"), s.get::<i32>("height"))
                            && let Ok(mut sizes) = sizes.lock()
                        {
                            let from = stats.last_pts.load(Ordering::Relaxed);
                            sizes.push((from, w.max(0) as u32, h.max(0) as u32));
                        }
                        if let Ok(mut slot) = caps_slot.lock() {
                            *slot = Some(caps.caps_owned());
                        }
                    }
                    return gst::PadProbeReturn::Ok;
                }
                let Some(buffer) = info.buffer() else {
                    return gst::PadProbeReturn::Ok;
                };
                // Around a part's cut, each buffer goes to exactly one of the two parts.
                let cut_here = cut_out.lock().ok().and_then(|slot| slot.clone());
                if cut_in.is_some() || cut_here.is_some() {
                    let key = kind == MediaKind::Audio
                        || !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
                    let rt = buffer.pts().and_then(|pts| {
                        let segment = segment.lock().ok()?;
                        pipeline_running_time(segment.as_ref()?, pts)
                    });
                    if let Some(cut) = &cut_here {
                        match rt {
                            Some(rt) if cut.belongs_to_new(rt, key, true) => {
                                return gst::PadProbeReturn::Drop;
                            }
                            Some(rt) => cut.taken_by_old(rt),
                            None => {}
                        }
                    }
                    if let Some(cut) = &cut_in {
                        let ours = rt.is_some_and(|rt| cut.belongs_to_new(rt, key, false));
                        if !ours {
                            return gst::PadProbeReturn::Drop;
                        }
                    }
                }
                if !started.load(Ordering::Relaxed) {
                    let is_key = kind == MediaKind::Audio
                        || !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
                    if !is_key {
                        // Recordings start on a key frame; the tick asks for one meanwhile.
                        let _ = pad;
                        return gst::PadProbeReturn::Drop;
                    }
                    started.store(true, Ordering::Relaxed);
                    let _ = first_keyframe_at.set(Instant::now());
                    if let Some(pts) = buffer.pts() {
                        stats.first_pts.store(pts.nseconds(), Ordering::Relaxed);
                    }
                }
                stats.frames.fetch_add(1, Ordering::Relaxed);
                if let Some(pts) = buffer.pts() {
                    stats.last_pts.store(pts.nseconds(), Ordering::Relaxed);
                }
                gst::PadProbeReturn::Ok
            },
        );
    }
    let _ = stats.keyframe_wait_started_ns.load(Ordering::Relaxed);
    if let Some(queue_src) = queue.static_pad("src") {
        keep_size_changes_in_band(&queue_src, &tag);
    }
    if track.kind == MediaKind::Video {
        inject_caps_change_for_tests(&queue);
    }

    let (eos_tx, eos_rx) = futures_channel::oneshot::channel::<()>();
    let eos_tx = Mutex::new(Some(eos_tx));
    let sink_pad = sink.static_pad("sink").ok_or(EngineError::NoPad {
        element: "fdsink",
        pad: "sink",
    })?;
    sink_pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
        if let Some(gst::PadProbeData::Event(event)) = &info.data
            && event.type_() == gst::EventType::Eos
            && let Ok(mut slot) = eos_tx.lock()
            && let Some(tx) = slot.take()
        {
            // Everything before this EOS was rendered: with an unbuffered sink it is on disk.
            let _ = tx.send(());
            // Handled, not Drop: the bindings take the event out of the probe info, and
            // GStreamer before 1.24.8 then unrefs the NULL left behind for a dropped event
            // ("gst_mini_object_unref: assertion 'mini_object != NULL' failed"). Handled
            // means the probe disposed of it, which the bindings do.
            return gst::PadProbeReturn::Handled;
        }
        gst::PadProbeReturn::Ok
    });

    let branch_sink = guard.static_pad("sink").ok_or(EngineError::NoPad {
        element: "the branch guard",
        pad: "sink",
    })?;
    // Both tracks of a segment share one time base, so the merged file is in sync and starts
    // near zero.
    if let Some(base) = running_time_base {
        branch_sink.set_offset(-(base.nseconds() as i64));
    }
    for element in &elements {
        element
            .sync_state_with_parent()
            .map_err(EngineError::Branch)?;
    }
    let tee_pad = track
        .tee
        .request_pad_simple("src_%u")
        .ok_or(EngineError::NoPad {
            element: "the track's tee",
            pad: "src",
        })?;
    tee_pad.link(&branch_sink).map_err(EngineError::Link)?;
    if track.kind == MediaKind::Video {
        request_keyframe_upstream(&depay);
    }
    Ok(TrackRecording {
        kind: track.kind,
        encoding: track.encoding.to_owned(),
        tag,
        file: file.to_owned(),
        _opened: opened,
        tee: track.tee.clone(),
        tee_pad,
        guard,
        elements,
        eos: Some(eos_rx),
        stats,
        caps: caps_slot,
        sizes,
        first_element_sink: branch_sink,
        depay,
        started,
        attached_at: Instant::now(),
        first_keyframe_at,
        reported: false,
        cut_out,
    })
}

/// The pipeline running time of a buffer at `pts` behind the depayloader. The depayloader
/// makes its own segment from the packets' timestamps, so the branch's pad offset is not in
/// it: this is the running time of the participant's stream, the same in every branch.
fn pipeline_running_time(
    segment: &gst::FormattedSegment<gst::ClockTime>,
    pts: gst::ClockTime,
) -> Option<u64> {
    match segment.to_running_time_full(pts)? {
        gst::Signed::Positive(t) => Some(t.nseconds()),
        gst::Signed::Negative(_) => None,
    }
}

/// For H.264, the parser puts the parameter sets in front of every key frame (`avc3`): a
/// browser that changes resolution sends a new SPS, and with it in-band the file carries the
/// change without a new header. Other codecs carry their frame size in the bitstream already.
fn in_band_framing(encoding: &str, tag: &str) -> Result<Option<gst::Element>, EngineError> {
    if encoding != "H264" {
        return Ok(None);
    }
    let caps = gst::Caps::builder("video/x-h264")
        .field("stream-format", "avc3")
        .field("alignment", "au")
        .build();
    Ok(Some(
        gst::ElementFactory::make("capsfilter")
            .name(format!("{tag}-framing"))
            .property("caps", &caps)
            .build()
            .map_err(EngineError::element("capsfilter"))?,
    ))
}

/// Whether a file written with `current` caps can take a stream that now has `new` caps
/// without a new header: same codec and the same framing, where only what the bitstream
/// itself carries changed (frame size, profile and level, parameter sets, frame rate).
pub fn carries_in_band(current: &gst::CapsRef, new: &gst::CapsRef) -> bool {
    let (Some(current), Some(new)) = (current.structure(0), new.structure(0)) else {
        return false;
    };
    // Audio caps carry what the file header must say (channels, rate, stream headers).
    current.name().starts_with("video/")
        && current.name() == new.name()
        && ["stream-format", "alignment"]
            .iter()
            .all(|&field| current.get::<&str>(field).ok() == new.get::<&str>(field).ok())
}

/// Browsers change resolution as their bandwidth estimate moves (Chrome within seconds of
/// starting); each change is new caps, and matroskamux 1.22 refuses any caps change on a file it
/// has started. A change the bitstream carries in-band is kept from the muxer, which goes on
/// writing the same track; any other change reaches it, fails the branch, and the segment goes
/// on in a new part.
fn keep_size_changes_in_band(pad: &gst::Pad, tag: &str) {
    let tag = tag.to_owned();
    pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |pad, info| {
        let Some(gst::PadProbeData::Event(event)) = &info.data else {
            return gst::PadProbeReturn::Ok;
        };
        let gst::EventView::Caps(caps) = event.view() else {
            return gst::PadProbeReturn::Ok;
        };
        let Some(current) = pad.peer().and_then(|peer| peer.current_caps()) else {
            return gst::PadProbeReturn::Ok;
        };
        let new = caps.caps();
        if current.as_ref() == new || !carries_in_band(&current, new) {
            return gst::PadProbeReturn::Ok;
        }
        tracing::info!("{tag}: the stream changed in-band, to {new}");
        // Handled rather than Drop: see the EOS probe in `build_track_branch`.
        gst::PadProbeReturn::Handled
    });
}

/// Set in the environment to a number of milliseconds, the first video branch of the process
/// gets a change of codec in its caps that long after it starts: a stream change no file can
/// take, for the fault suite to check that recording goes on in a new part.
pub const FAULT_CAPS_CHANGE_AFTER_MS: &str = "ROOMTAPE_FAULT_CAPS_CHANGE_AFTER_MS";

fn inject_caps_change_for_tests(queue: &gst::Element) {
    static INJECTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let Some(after_ms) = std::env::var(FAULT_CAPS_CHANGE_AFTER_MS)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    else {
        return;
    };
    if INJECTED.swap(true, Ordering::SeqCst) {
        return;
    }
    let Some(src) = queue.static_pad("src") else {
        return;
    };
    let due = Instant::now() + Duration::from_millis(after_ms);
    // In the streaming thread, before a buffer: as a stream's own caps change arrives.
    src.add_probe(gst::PadProbeType::BUFFER, move |pad, _| {
        if Instant::now() < due {
            return gst::PadProbeReturn::Ok;
        }
        let foreign = gst::Caps::builder("video/x-foreign-codec")
            .field("width", 320i32)
            .field("height", 240i32)
            .build();
        tracing::warn!("{FAULT_CAPS_CHANGE_AFTER_MS}: changing the stream's codec");
        let _ = pad.push_event(gst::event::Caps::new(&foreign));
        gst::PadProbeReturn::Remove
    });
}

/// Unlinks the branch from its tee and pushes EOS through it.
pub(super) fn stop_branch(track: &TrackRecording) {
    let queue_sink = track.first_element_sink.clone();
    let tee_pad = track.tee_pad.clone();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let done_probe = done.clone();
    tee_pad.add_probe(gst::PadProbeType::IDLE, move |pad, _| {
        if !done_probe.swap(true, Ordering::SeqCst) {
            let _ = pad.unlink(&queue_sink);
            queue_sink.send_event(gst::event::Eos::new());
        }
        gst::PadProbeReturn::Remove
    });
}

pub(super) fn request_keyframe_upstream(depay: &gst::Element) {
    let event = gst_video::UpstreamForceKeyUnitEvent::builder()
        .all_headers(true)
        .build();
    depay.send_event(event);
}

/// Takes a branch that never wrote a part out of the pipeline.
pub(super) fn discard_branch(pipeline: &gst::Pipeline, track: TrackRecording) {
    track.tee.release_request_pad(&track.tee_pad);
    let _ = track.tee_pad.unlink(&track.first_element_sink);
    for element in &track.elements {
        let _ = element.set_state(gst::State::Null);
    }
    let _ = pipeline.remove_many(track.elements.iter());
}
