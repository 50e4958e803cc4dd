//! The cut of one track at a `--split-every` mark: which of two parts' branches takes each
//! buffer. Both the branches' probes and the split that builds the new part use it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use gst::prelude::*;

/// Where one track of a participant moves from one part's file to the next, at a
/// `--split-every` mark. The old part's branch and the new part's branch both see every buffer
/// (the tee feeds both, from one streaming thread), and each buffer goes to exactly one of
/// them: the first buffer at or after the threshold (for video: a key frame) is the cut,
/// decided by whichever branch sees it first, and everything from it on is the new part's.
#[derive(Debug)]
pub struct TrackCut {
    /// Pipeline running time of the mark, in ns: the new part takes nothing before it.
    mark_rt: u64,
    /// For audio beside video: the video's cut, which audio follows, so a part's tracks start
    /// together and no audio is in two parts.
    follow: Option<Arc<TrackCut>>,
    /// Running time + 1 of the new part's first buffer; 0 while undecided.
    at: AtomicU64,
    /// Running time + 1 of the latest buffer the old part took: a buffer the old part already
    /// wrote (before the threshold was known) is never claimed by the new part too.
    old_last: AtomicU64,
    /// The new branch's queue output: once the cut is known, the part's file timeline is moved
    /// to start at it.
    pub(super) new_queue_src: Mutex<Option<gst::Pad>>,
    /// The running time the new branch's offset already removes.
    new_base: u64,
}

impl TrackCut {
    pub fn new(mark_rt: u64, follow: Option<Arc<TrackCut>>) -> TrackCut {
        TrackCut {
            mark_rt,
            follow,
            at: AtomicU64::new(0),
            old_last: AtomicU64::new(0),
            new_queue_src: Mutex::new(None),
            new_base: mark_rt,
        }
    }

    /// The running time of the new part's first buffer, once decided.
    pub fn decided(&self) -> Option<u64> {
        let at = self.at.load(Ordering::SeqCst);
        (at > 0).then(|| at - 1)
    }

    /// Where the new part's file timeline begins: the video's cut when there is video.
    pub(super) fn origin(&self) -> Option<u64> {
        match &self.follow {
            Some(video) => video.decided(),
            None => self.decided(),
        }
    }

    /// Whether the buffer at running time `rt` belongs to the new part; the first one that
    /// does decides the cut. `key` is false for a video delta frame.
    pub fn belongs_to_new(&self, rt: u64, key: bool, old_side: bool) -> bool {
        if let Some(at) = self.decided() {
            return rt >= at;
        }
        let threshold = match &self.follow {
            Some(video) => video.decided(),
            None => Some(self.mark_rt),
        };
        let Some(threshold) = threshold else {
            return false;
        };
        if rt < threshold || !key {
            return false;
        }
        if !old_side && rt.saturating_add(1) <= self.old_last.load(Ordering::SeqCst) {
            return false;
        }
        match self
            .at
            .compare_exchange(0, rt.saturating_add(1), Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) => {
                tracing::debug!(
                    rt,
                    mark_rt = self.mark_rt,
                    old_side,
                    origin = ?self.origin(),
                    "the new part starts here"
                );
                self.move_origin();
                true
            }
            Err(at) => rt.saturating_add(1) >= at,
        }
    }

    /// The old part took the buffer at `rt`.
    pub fn taken_by_old(&self, rt: u64) {
        self.old_last
            .fetch_max(rt.saturating_add(1), Ordering::SeqCst);
    }

    /// Shifts the new part's file timeline so that it starts at the cut, not at the mark: the
    /// part's length is then what a player shows, and its tracks share one origin.
    fn move_origin(&self) {
        let Some(origin) = self.origin() else { return };
        let shift = origin.saturating_sub(self.new_base);
        if let Ok(pad) = self.new_queue_src.lock()
            && let Some(pad) = pad.as_ref()
        {
            pad.set_offset(-(i64::try_from(shift).unwrap_or(i64::MAX)));
        }
    }
}
