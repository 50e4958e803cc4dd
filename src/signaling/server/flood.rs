//! The flood limit of one connection: a token bucket and a strike counter.

use std::time::{Duration, Instant};

/// Flood limit: sustained frames per second per connection.
const FLOOD_RATE_PER_SEC: f64 = 200.0;
/// Flood limit: burst size (frames) a quiet connection may send at once.
const FLOOD_BURST: f64 = 400.0;
/// Length of the windows in which dropped frames are counted.
const FLOOD_WINDOW: Duration = Duration::from_secs(1);
/// A connection that had frames dropped in this many consecutive windows is disconnected.
const FLOOD_STRIKES_BEFORE_CLOSE: u32 = 5;

/// Verdict on one incoming frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Admission {
    Accept,
    /// Over the limit; `first_in_window` lets the caller log once per window, not per frame.
    Drop {
        first_in_window: bool,
    },
    /// Over the limit for [`FLOOD_STRIKES_BEFORE_CLOSE`] consecutive windows.
    Disconnect,
}

/// Token bucket ([`FLOOD_RATE_PER_SEC`], burst [`FLOOD_BURST`]) plus a strike counter, so short
/// bursts are absorbed, brief excess is dropped, and only sustained abuse costs the connection.
#[derive(Debug)]
pub(super) struct FloodGuard {
    tokens: f64,
    last_refill: Instant,
    window_start: Instant,
    dropped_in_window: u32,
    strikes: u32,
}

impl FloodGuard {
    pub(super) fn new(now: Instant) -> Self {
        Self {
            tokens: FLOOD_BURST,
            last_refill: now,
            window_start: now,
            dropped_in_window: 0,
            strikes: 0,
        }
    }

    pub(super) fn admit(&mut self, now: Instant) -> Admission {
        let since_window = now.saturating_duration_since(self.window_start);
        if since_window >= FLOOD_WINDOW {
            // A window with drops directly followed by this one continues the streak; a quiet
            // window (or a gap) ends it.
            self.strikes = if self.dropped_in_window > 0 && since_window < 2 * FLOOD_WINDOW {
                self.strikes + 1
            } else {
                0
            };
            self.window_start = now;
            self.dropped_in_window = 0;
        }
        let elapsed = now
            .saturating_duration_since(self.last_refill)
            .as_secs_f64();
        self.tokens = (self.tokens + elapsed * FLOOD_RATE_PER_SEC).min(FLOOD_BURST);
        self.last_refill = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Admission::Accept;
        }
        self.dropped_in_window = self.dropped_in_window.saturating_add(1);
        if self.strikes >= FLOOD_STRIKES_BEFORE_CLOSE {
            Admission::Disconnect
        } else {
            Admission::Drop {
                first_in_window: self.dropped_in_window == 1,
            }
        }
    }
}
