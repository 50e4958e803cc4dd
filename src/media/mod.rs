//! GStreamer: one webrtcbin per participant session, the synthetic publisher, recording.
//!
//! GStreamer threads never touch room state or widgets: they translate what happens into
//! typed events sent over `async-channel`, drained on the GLib main loop.

pub mod branch_guard;
pub mod clip;
pub mod demo;
pub mod engine;
pub mod error;
pub mod failure;
pub mod ice;
pub mod inspect;
pub mod peer;
pub mod preview;
pub mod publisher;
pub mod recorder;
pub mod stats;
pub mod turn_check;

/// Initialises GStreamer once and checks the elements Roomtape cannot work without.
pub fn init() -> Result<(), error::EngineError> {
    gst::init()?;
    ice::redact_gstreamer_log();
    let missing: Vec<&str> = [
        "webrtcbin",
        "nicesrc",
        "rtpvp8depay",
        "rtph264depay",
        "rtpopusdepay",
        "matroskamux",
        "filesink",
        "videotestsrc",
        "vp8enc",
        "opusenc",
    ]
    .into_iter()
    .filter(|name| gst::ElementFactory::find(name).is_none())
    .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(error::EngineError::ElementsMissing(missing))
    }
}
