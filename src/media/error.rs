//! What can go wrong starting the engine and recording, by what failed. The words the
//! front-ends show (the folder, file and space errors) are those they have always shown: an I/O
//! error is part of the sentence, not a source below it, so `{err}` and `{err:#}` read the same.
//! The branch-building variants only reach the log, and name the element or pad that failed.

use std::io;
use std::path::PathBuf;

use crate::library::disk_space::format_size;
use crate::signaling::client::ClientError;

/// Why the engine could not start, or could not record.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// GStreamer itself could not be initialised.
    #[error(transparent)]
    GStreamer(#[from] glib::Error),
    /// Plugins Roomtape cannot work without are not installed.
    #[error(
        "GStreamer elements missing: {} (install gstreamer1.0-nice and the good, bad and ugly plugin sets)",
        .0.join(", ")
    )]
    ElementsMissing(Vec<&'static str>),
    /// The signaling address is unusable or the server cannot be reached.
    #[error(transparent)]
    Signaling(#[from] ClientError),
    #[error("already recording")]
    AlreadyRecording,
    #[error(
        "only {} free in {}: recording needs more than {} (the floor set with --min-free or in Preferences)",
        format_size(*free),
        dir.display(),
        format_size(*floor)
    )]
    NotEnoughSpace { dir: PathBuf, free: u64, floor: u64 },
    /// The folder the session folders go in.
    #[error("cannot create the recordings folder {}: {error}", path.display())]
    RecordingsFolder { path: PathBuf, error: io::Error },
    #[error("cannot create the session folder {}: {error}", path.display())]
    SessionFolder { path: PathBuf, error: io::Error },
    /// `session.json` could not be written when the session began.
    #[error("cannot write {}: {error}", path.display())]
    Manifest { path: PathBuf, error: io::Error },
    /// A track file could not be made in the session folder.
    #[error("cannot create {}: {error}", path.display())]
    TrackFile { path: PathBuf, error: io::Error },
    /// A track in an encoding the recorder has no branch for.
    #[error("no recorder for {0}")]
    NoRecorderFor(String),
    /// A GStreamer element could not be made (its plugin is missing, most often).
    #[error("cannot make the GStreamer element {factory}: {error}")]
    Element {
        factory: &'static str,
        error: glib::BoolError,
    },
    /// An element has no pad of that name.
    #[error("{element} has no {pad} pad")]
    NoPad {
        element: &'static str,
        pad: &'static str,
    },
    /// The recording branch could not be added to, linked in or started with the pipeline.
    #[error("cannot build the recording branch: {0}")]
    Branch(glib::BoolError),
    #[error("cannot link the recording branch to its track: {0}")]
    Link(gst::PadLinkError),
}

impl EngineError {
    /// The error for an element `factory` that could not be made.
    pub(crate) fn element(factory: &'static str) -> impl FnOnce(glib::BoolError) -> EngineError {
        move |error| EngineError::Element { factory, error }
    }
}
