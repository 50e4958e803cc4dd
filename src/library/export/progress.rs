//! What the caller and a running export share: the cancel flag it checks, the progress it
//! reports, and how one output's progress is worked out from its streams. Pure: no GStreamer.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Asks a running export to stop. Clones share the flag.
#[derive(Debug, Clone, Default)]
pub struct CancelFlag(Arc<AtomicBool>);

impl CancelFlag {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the export stop at its next check (within about 100 ms) and clean up.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// How far an export is.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// Of the whole export (all its output files), from 0 to 1.
    pub fraction: f64,
    /// Which output file is being written (its final name, without folder).
    pub current: String,
    /// Output number, from 1, and how many there are.
    pub index: usize,
    pub count: usize,
}

/// The progress of one output, from what reached its muxer. The stream furthest behind sets
/// the pace (a grid's audio runs far ahead of its video), shown progress never goes back, and
/// it stays under 100 % until the muxer has finished the file (MP4's index is written last).
#[derive(Debug, Clone)]
pub struct ProgressMeter {
    duration_ns: u64,
    shown: f64,
}

impl ProgressMeter {
    /// The most shown before the output is complete.
    pub const BEFORE_DONE: f64 = 0.99;

    pub fn new(duration_ns: u64) -> ProgressMeter {
        ProgressMeter {
            duration_ns,
            shown: 0.0,
        }
    }

    /// `positions`: how far each stream has reached, `None` for one with no data yet.
    pub fn update(&mut self, positions: &[Option<u64>]) -> f64 {
        if self.duration_ns == 0 || positions.is_empty() {
            return self.shown;
        }
        let slowest = positions.iter().map(|p| p.unwrap_or(0)).min().unwrap_or(0);
        let fraction = (slowest as f64 / self.duration_ns as f64).min(Self::BEFORE_DONE);
        self.shown = self.shown.max(fraction);
        self.shown
    }

    /// The muxer has written everything.
    pub fn finish(&mut self) -> f64 {
        self.shown = 1.0;
        self.shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_follows_the_slowest_stream_never_goes_back_and_ends_only_when_done() {
        let second = 1_000_000_000u64;
        let mut meter = ProgressMeter::new(10 * second);
        assert_eq!(meter.update(&[]), 0.0);
        // Audio has reached the end, video is at 2 s: 20 %, not 100 %.
        assert!((meter.update(&[Some(10 * second), Some(2 * second)]) - 0.2).abs() < 1e-9);
        // A stream without data yet holds it at the start; what was shown stays.
        assert!((meter.update(&[Some(10 * second), None]) - 0.2).abs() < 1e-9);
        assert!((meter.update(&[Some(10 * second), Some(5 * second)]) - 0.5).abs() < 1e-9);
        // Both streams at the end: the file is not finished yet (MP4 writes its index last).
        let at_end = meter.update(&[Some(10 * second), Some(10 * second)]);
        assert_eq!(at_end, ProgressMeter::BEFORE_DONE);
        assert_eq!(
            meter.update(&[Some(11 * second), Some(12 * second)]),
            ProgressMeter::BEFORE_DONE
        );
        assert_eq!(meter.finish(), 1.0);
        // Over a whole run the figures only grow.
        let mut meter = ProgressMeter::new(100);
        let mut last = 0.0;
        for (a, v) in [(10, 0), (50, 5), (30, 40), (100, 60), (100, 99), (100, 100)] {
            let shown = meter.update(&[Some(a), Some(v)]);
            assert!(shown >= last, "went back from {last} to {shown}");
            last = shown;
        }
    }

    #[test]
    fn cancel_flag_is_shared_by_clones() {
        let flag = CancelFlag::new();
        let other = flag.clone();
        assert!(!other.is_cancelled());
        flag.cancel();
        assert!(other.is_cancelled());
    }
}
