//! Playing one built pipeline to its end: progress from what reaches the muxer, cancel, stalls.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use gst::prelude::*;

use super::{CancelFlag, ProgressMeter};

/// A pipeline whose output does not advance for this long is reported as stuck.
const STALL_TIMEOUT: Duration = Duration::from_secs(60);

/// How often progress is reported and the cancel flag is checked.
const POLL: Duration = Duration::from_millis(100);

/// How far one stream has reached its muxer.
#[derive(Debug, Default)]
struct StreamPosition {
    ns: AtomicU64,
    seen: AtomicBool,
    ended: AtomicBool,
}

/// Every stream of one output, as its muxer receives them.
#[derive(Debug, Clone, Default)]
pub(super) struct Positions(Arc<std::sync::Mutex<Vec<Arc<StreamPosition>>>>);

impl Positions {
    /// Each stream's position, `None` before its first buffer; an ended stream is at `end_ns`.
    fn snapshot(&self, end_ns: u64) -> Vec<Option<u64>> {
        self.0
            .lock()
            .map(|streams| {
                streams
                    .iter()
                    .map(|s| {
                        if s.ended.load(Ordering::Relaxed) {
                            Some(end_ns)
                        } else if s.seen.load(Ordering::Relaxed) {
                            Some(s.ns.load(Ordering::Relaxed))
                        } else {
                            None
                        }
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Follows the buffers (and the end) of one stream reaching the muxer, for progress.
pub(super) fn track_position(pad: &gst::Pad, positions: &Positions) {
    let stream = Arc::new(StreamPosition::default());
    if let Ok(mut streams) = positions.0.lock() {
        streams.push(stream.clone());
    }
    pad.add_probe(
        gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM,
        move |_, info| {
            if let Some(buffer) = info.buffer() {
                if let Some(pts) = buffer.pts() {
                    let end = pts.nseconds() + buffer.duration().map_or(0, |d| d.nseconds());
                    stream.ns.fetch_max(end, Ordering::Relaxed);
                    stream.seen.store(true, Ordering::Relaxed);
                }
            } else if let Some(gst::PadProbeData::Event(event)) = &info.data
                && event.type_() == gst::EventType::Eos
            {
                stream.ended.store(true, Ordering::Relaxed);
            }
            gst::PadProbeReturn::Ok
        },
    );
}

pub(super) enum RunError {
    Cancelled,
    Failed(String),
}

/// Plays `pipeline` to EOS, reporting `position / duration` and watching `cancel`.
pub(super) fn run_pipeline(
    pipeline: &gst::Pipeline,
    duration_ns: u64,
    positions: &Positions,
    cancel: &CancelFlag,
    report: &mut dyn FnMut(f64),
) -> Result<(), RunError> {
    let mut meter = ProgressMeter::new(duration_ns);
    let bus = pipeline
        .bus()
        .ok_or_else(|| RunError::Failed("pipeline without bus".to_owned()))?;
    if let Err(err) = pipeline.set_state(gst::State::Playing) {
        // The bus usually says why.
        let why = bus
            .timed_pop_filtered(gst::ClockTime::ZERO, &[gst::MessageType::Error])
            .and_then(|m| match m.view() {
                gst::MessageView::Error(e) => Some(e.error().to_string()),
                _ => None,
            });
        return Err(RunError::Failed(why.unwrap_or_else(|| err.to_string())));
    }
    let mut last_position = 0u64;
    let mut last_change = Instant::now();
    loop {
        if cancel.is_cancelled() {
            return Err(RunError::Cancelled);
        }
        if let Some(message) = bus.timed_pop(gst::ClockTime::from_nseconds(POLL.as_nanos() as u64))
        {
            match message.view() {
                gst::MessageView::Eos(_) => {
                    report(meter.finish());
                    return Ok(());
                }
                gst::MessageView::Error(err) => {
                    return Err(RunError::Failed(format!(
                        "{} ({})",
                        err.error(),
                        err.debug().map(|d| d.to_string()).unwrap_or_default()
                    )));
                }
                _ => continue,
            }
        }
        let snapshot = positions.snapshot(duration_ns);
        let now_position = snapshot.iter().map(|p| p.unwrap_or(0)).sum::<u64>();
        if now_position != last_position {
            last_position = now_position;
            last_change = Instant::now();
        } else if last_change.elapsed() > STALL_TIMEOUT {
            return Err(RunError::Failed(format!(
                "no progress for {} s",
                STALL_TIMEOUT.as_secs()
            )));
        }
        report(meter.update(&snapshot));
    }
}
