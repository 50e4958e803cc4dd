//! Recordings on disk: session folders, their `session.json` manifests, safe file names, and
//! the scan that turns the recordings folder into a library.
//!
//! Layout: `<XDG Videos>/Roomtape/<room> <YYYY-MM-DD HH-MM-SS>/` holds `session.json` and the
//! media files of one session. This layer does plain file I/O only (no GTK; GStreamer only in
//! [`export`], which turns sessions into other formats; [`otio`] describes them for editors), so it is shared by the app and the
//! headless recorder and tested without a display.
//!
//! Every name that reaches a path passes through [`naming::sanitize_component`]: participant
//! labels and stream ids come from strangers, and path traversal through such names is a known
//! failure of other recorders.

pub mod disk_space;
pub mod export;
pub mod files;
pub mod manifest;
pub mod name_template;
pub mod naming;
pub mod otio;
pub mod presets;
pub mod scan;
pub mod split;

pub use manifest::{
    EndReason, MANIFEST_FILE_NAME, ManifestError, ParticipantEntry, Segment, SessionManifest,
    SessionState,
};
pub use naming::{
    default_recordings_dir, sanitize_component, session_folder_name, unique_file_name, unique_in,
};
pub use scan::{SessionSummary, scan_recordings};
