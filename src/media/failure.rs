//! What went wrong in a recording branch, classified from the GStreamer error itself rather
//! than guessed from its wording, so the event, the log and the window say the real reason.

use gst::prelude::*;
use serde::Serialize;

/// The kind of a recording branch failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// No space left on the device that holds the recording folder.
    DiskFull,
    /// The recording folder (or a file in it) may not be written.
    Permission,
    /// Any other error writing the file (a vanished folder, an I/O error).
    Write,
    /// The muxer or a parser refused the stream: a caps change it cannot take, a format it
    /// cannot carry.
    Format,
    /// A GStreamer element the recording needs is not installed.
    MissingElement,
    /// Something else in the branch.
    Other,
}

impl FailureKind {
    /// Classifies a pipeline error by its domain and code (and, for open errors, the errno text
    /// that GStreamer's file sink puts in the debug string).
    pub fn of(error: &glib::Error, debug: &str) -> FailureKind {
        if let Some(code) = error.kind::<gst::ResourceError>() {
            return match code {
                gst::ResourceError::NoSpaceLeft => FailureKind::DiskFull,
                gst::ResourceError::NotAuthorized => FailureKind::Permission,
                gst::ResourceError::OpenWrite
                | gst::ResourceError::OpenReadWrite
                | gst::ResourceError::Write
                | gst::ResourceError::Close
                | gst::ResourceError::Sync
                | gst::ResourceError::NotFound => classify_io_text(debug),
                _ => FailureKind::Write,
            };
        }
        if let Some(code) = error.kind::<gst::StreamError>() {
            return match code {
                gst::StreamError::Mux
                | gst::StreamError::Format
                | gst::StreamError::WrongType
                | gst::StreamError::NotImplemented
                | gst::StreamError::TypeNotFound
                | gst::StreamError::Failed
                | gst::StreamError::Demux
                | gst::StreamError::Decode => FailureKind::Format,
                gst::StreamError::CodecNotFound => FailureKind::MissingElement,
                _ => FailureKind::Other,
            };
        }
        if let Some(code) = error.kind::<gst::CoreError>() {
            return match code {
                gst::CoreError::MissingPlugin => FailureKind::MissingElement,
                gst::CoreError::Negotiation | gst::CoreError::Caps => FailureKind::Format,
                _ => FailureKind::Other,
            };
        }
        FailureKind::Other
    }

    /// Whether recording again straight away can work: a format problem is about the stream
    /// at that moment (the next part starts on fresh caps), a full disk or a missing element
    /// would only fail again.
    pub fn worth_a_new_part(self) -> bool {
        matches!(self, FailureKind::Format | FailureKind::Other)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::DiskFull => "disk_full",
            FailureKind::Permission => "permission",
            FailureKind::Write => "write",
            FailureKind::Format => "format",
            FailureKind::MissingElement => "missing_element",
            FailureKind::Other => "other",
        }
    }
}

/// File sinks report "Could not open file … for writing" for several errno values; the errno
/// text in the debug string tells them apart.
fn classify_io_text(debug: &str) -> FailureKind {
    let lower = debug.to_ascii_lowercase();
    if lower.contains("no space left") || lower.contains("disk quota") {
        FailureKind::DiskFull
    } else if lower.contains("permission denied")
        || lower.contains("read-only file system")
        || lower.contains("operation not permitted")
    {
        FailureKind::Permission
    } else {
        FailureKind::Write
    }
}

/// A pipeline error as a peer reports it: what the element said, which element said it, and
/// what kind of failure it is.
#[derive(Debug, Clone)]
pub struct PipelineError {
    pub kind: FailureKind,
    /// The error and its debug text, as GStreamer put them.
    pub text: String,
    /// The path of the element that posted it (`/GstPipeline:…/GstMatroskaMux:rec3-mux`).
    pub source: String,
}

impl PipelineError {
    pub fn from_message(error: &gst::message::Error) -> PipelineError {
        let debug = error.debug().map(|d| d.to_string()).unwrap_or_default();
        PipelineError {
            kind: FailureKind::of(&error.error(), &debug),
            text: format!("{} ({debug})", error.error()),
            source: error
                .src()
                .map(|src| src.path_string().to_string())
                .unwrap_or_default(),
        }
    }

    /// An error that did not come from the bus (a track that could not be taken).
    pub fn other(text: String) -> PipelineError {
        PipelineError {
            kind: FailureKind::Other,
            text,
            source: String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_errors_are_told_apart_by_code_and_errno() {
        let full = glib::Error::new(gst::ResourceError::NoSpaceLeft, "no space");
        assert_eq!(FailureKind::of(&full, ""), FailureKind::DiskFull);
        let open = glib::Error::new(gst::ResourceError::OpenWrite, "Could not open file");
        assert_eq!(
            FailureKind::of(&open, "system error: Permission denied"),
            FailureKind::Permission
        );
        assert_eq!(
            FailureKind::of(&open, "system error: No such file or directory"),
            FailureKind::Write
        );
        let write = glib::Error::new(gst::ResourceError::Write, "Error while writing");
        assert_eq!(
            FailureKind::of(&write, "system error: No space left on device"),
            FailureKind::DiskFull
        );
    }

    #[test]
    fn mux_and_negotiation_errors_are_format_failures_worth_a_new_part() {
        let mux = glib::Error::new(gst::StreamError::Mux, "Could not multiplex stream.");
        let kind = FailureKind::of(&mux, "Caps changes are not supported by Matroska");
        assert_eq!(kind, FailureKind::Format);
        assert!(kind.worth_a_new_part());
        let caps = glib::Error::new(gst::CoreError::Negotiation, "not negotiated");
        assert_eq!(FailureKind::of(&caps, ""), FailureKind::Format);
        assert!(!FailureKind::DiskFull.worth_a_new_part());
        let missing = glib::Error::new(gst::CoreError::MissingPlugin, "missing");
        assert_eq!(FailureKind::of(&missing, ""), FailureKind::MissingElement);
    }
}
