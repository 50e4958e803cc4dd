//! A clip encoded once and then sent in a loop without re-encoding, so synthetic publishers
//! cost almost nothing and a benchmark measures the recorder, not the encoders.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gst::prelude::*;

/// Encoded video frames of one clip, starting with a key frame.
#[derive(Debug)]
pub struct EncodedClip {
    pub caps: gst::Caps,
    pub frames: Vec<gst::Buffer>,
    pub framerate: u32,
    /// Indices of the key frames, for jumping to one when a viewer asks.
    pub keyframes: Vec<usize>,
}

impl EncodedClip {
    /// Encodes `seconds` of test video once (VP8 or H.264) with a key frame every second.
    pub fn encode(
        codec: &str,
        width: u32,
        height: u32,
        framerate: u32,
        seconds: u32,
        kbps: u32,
    ) -> anyhow::Result<EncodedClip> {
        super::init()?;
        let frames = (framerate * seconds.max(1)) as i32;
        let encoder = match codec {
            "h264" => format!(
                "x264enc tune=zerolatency speed-preset=ultrafast key-int-max={framerate} bitrate={kbps} ! video/x-h264,profile=constrained-baseline,stream-format=byte-stream,alignment=au"
            ),
            _ => format!(
                "vp8enc deadline=1 cpu-used=8 keyframe-max-dist={framerate} target-bitrate={}",
                kbps * 1000
            ),
        };
        let description = format!(
            "videotestsrc num-buffers={frames} pattern=smpte ! video/x-raw,width={width},height={height},framerate={framerate}/1 ! timeoverlay ! videoconvert ! {encoder} ! appsink name=sink sync=false"
        );
        let pipeline = gst::parse::launch(&description)?
            .downcast::<gst::Pipeline>()
            .map_err(|_| anyhow::anyhow!("not a pipeline"))?;
        let sink = pipeline
            .by_name("sink")
            .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
            .ok_or_else(|| anyhow::anyhow!("no appsink"))?;
        pipeline.set_state(gst::State::Playing)?;
        let mut buffers = Vec::new();
        let mut caps = None;
        while let Ok(sample) = sink.pull_sample() {
            if caps.is_none() {
                caps = sample.caps_owned();
            }
            if let Some(buffer) = sample.buffer_owned() {
                buffers.push(buffer);
            }
        }
        pipeline.set_state(gst::State::Null)?;
        let caps = caps.ok_or_else(|| anyhow::anyhow!("the encoder produced nothing"))?;
        let keyframes: Vec<usize> = buffers
            .iter()
            .enumerate()
            .filter(|(_, b)| !b.flags().contains(gst::BufferFlags::DELTA_UNIT))
            .map(|(i, _)| i)
            .collect();
        anyhow::ensure!(
            keyframes.first() == Some(&0),
            "the clip does not start with a key frame"
        );
        Ok(EncodedClip {
            caps,
            frames: buffers,
            framerate,
            keyframes,
        })
    }
}

/// Feeds an `appsrc` with the clip in a loop, in real time, from a thread of its own.
pub struct ClipPlayer {
    /// Taken around each push, so that once `halt` returns no further frame is sent.
    stop: Arc<Mutex<bool>>,
    restart: Arc<AtomicBool>,
    /// Nothing is sent before the viewer's answer: frames sent then could not arrive and a
    /// benchmark would count them as lost.
    running: Arc<AtomicBool>,
}

impl ClipPlayer {
    /// The appsrc to put in the pipeline, and the player driving it.
    pub fn new(
        clip: Arc<EncodedClip>,
        sent: impl Fn() + Send + 'static,
    ) -> anyhow::Result<(gst_app::AppSrc, ClipPlayer)> {
        let appsrc = gst_app::AppSrc::builder()
            .caps(&clip.caps)
            .is_live(true)
            .do_timestamp(true)
            .format(gst::Format::Time)
            .build();
        let stop = Arc::new(Mutex::new(false));
        let restart = Arc::new(AtomicBool::new(false));
        let running = Arc::new(AtomicBool::new(false));
        let thread_running = running.clone();
        let thread_stop = stop.clone();
        let thread_restart = restart.clone();
        let src = appsrc.clone();
        let next = AtomicUsize::new(0);
        std::thread::Builder::new()
            .name("clip-player".into())
            .spawn(move || {
                let period = Duration::from_secs_f64(1.0 / f64::from(clip.framerate.max(1)));
                let mut deadline = std::time::Instant::now();
                loop {
                    // webrtcbin only offers the new track once its caps arrived, and they
                    // travel with the first frame: send one, then wait for the answer.
                    let primed = next.load(Ordering::Relaxed) > 0;
                    if thread_stop.lock().map_or(true, |stopped| *stopped) {
                        break;
                    }
                    if primed && !thread_running.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(5));
                        deadline = std::time::Instant::now();
                        continue;
                    }
                    if thread_restart.swap(false, Ordering::Relaxed) {
                        next.store(0, Ordering::Relaxed);
                    }
                    let index = next.load(Ordering::Relaxed) % clip.frames.len();
                    // The buffer is shared, not copied: only its metadata is made writable.
                    let mut buffer = clip.frames[index].clone();
                    {
                        let buffer = buffer.make_mut();
                        buffer.set_pts(gst::ClockTime::NONE);
                        buffer.set_dts(gst::ClockTime::NONE);
                        buffer
                            .set_duration(gst::ClockTime::from_nseconds(period.as_nanos() as u64));
                    }
                    {
                        let Ok(stopped) = thread_stop.lock() else {
                            break;
                        };
                        if *stopped || src.push_buffer(buffer).is_err() {
                            break;
                        }
                        sent();
                    }
                    next.store(index + 1, Ordering::Relaxed);
                    deadline += period;
                    let now = std::time::Instant::now();
                    if deadline > now {
                        std::thread::sleep(deadline - now);
                    } else {
                        deadline = now;
                    }
                }
            })?;
        Ok((
            appsrc,
            ClipPlayer {
                stop,
                restart,
                running,
            },
        ))
    }

    /// The next frame sent is the clip's first key frame; starts sending if it had not yet.
    pub fn restart_on_keyframe(&self) {
        self.restart.store(true, Ordering::Relaxed);
        self.running.store(true, Ordering::Relaxed);
    }
}

impl ClipPlayer {
    /// Stops sending; no frame is sent after this returns.
    pub fn halt(&self) {
        if let Ok(mut stopped) = self.stop.lock() {
            *stopped = true;
        }
    }
}

impl Drop for ClipPlayer {
    fn drop(&mut self) {
        self.halt();
    }
}
