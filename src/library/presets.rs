//! Export presets: what an export makes, as data.
//!
//! The presets live in `data/export-presets.json` (compiled in), so adding a format is an edit
//! to a data file plus a run of the test that builds every preset's pipeline. Element chains
//! are `gst-launch` descriptions; the export engine builds them with `gst::parse`.

use serde::Deserialize;

/// The preset file, compiled into the binary.
const PRESETS_JSON: &str = include_str!("../../data/export-presets.json");

/// What kind of output a preset makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PresetKind {
    /// One file per participant segment, streams copied without re-encoding.
    Remux,
    /// One composite video of the whole session: tiles on a canvas, audio mixed, encoded.
    Grid,
    /// One audio file per participant, decoded, aligned to the session start and encoded.
    Audio,
    /// One file per participant segment for video editors: streams the container takes
    /// (`video_caps`, `audio_caps`) are copied, the others decoded and encoded to those
    /// formats with whatever encoders are installed.
    Edit,
    /// One OpenTimelineIO file for video editors, referencing the recorded files (no media is
    /// written, nothing is decoded).
    Timeline,
}

/// Output picture of a grid export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Canvas {
    pub width: u32,
    pub height: u32,
    pub framerate: u32,
}

/// One export format.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Preset {
    /// Stable identifier, used on the command line and in settings.
    pub id: String,
    /// English name; translate with `crate::i18n::gettext` when showing it.
    pub name: String,
    /// English one-line explanation; translated like `name`.
    pub description: String,
    pub kind: PresetKind,
    /// File name extension of the outputs, without the dot.
    pub extension: String,
    /// The muxer (or, for WAV, the writer element) as a one-element launch description; empty
    /// for a timeline, which writes JSON itself.
    #[serde(default)]
    pub muxer: String,
    /// For remux: the video caps names the container can hold.
    #[serde(default)]
    pub video_caps: Vec<String>,
    /// For remux: the audio caps names the container can hold.
    #[serde(default)]
    pub audio_caps: Vec<String>,
    /// For grid: raw video in, encoded video out (launch description).
    #[serde(default)]
    pub video_encoder: Option<String>,
    /// For grid and audio: raw audio in, encoded audio out (launch description).
    #[serde(default)]
    pub audio_encoder: Option<String>,
    /// For grid: the output picture.
    #[serde(default)]
    pub canvas: Option<Canvas>,
}

impl Preset {
    /// Whether a remux into this container can carry a stream with these caps.
    pub fn accepts(&self, caps_name: &str) -> bool {
        if caps_name.starts_with("video/") {
            self.video_caps.iter().any(|c| c == caps_name)
        } else {
            self.audio_caps.iter().any(|c| c == caps_name)
        }
    }
}

/// Every preset, in the order they are offered.
///
/// # Errors
/// Only if the compiled-in preset file is broken, which the unit tests rule out.
pub fn all() -> Result<Vec<Preset>, serde_json::Error> {
    serde_json::from_str(PRESETS_JSON)
}

/// The preset with this id.
pub fn by_id(id: &str) -> Option<Preset> {
    all().ok()?.into_iter().find(|p| p.id == id)
}

/// A human name for a caps name, for messages ("VP8 video cannot go into MP4").
pub fn codec_label(caps_name: &str) -> &str {
    match caps_name {
        "video/x-vp8" => "VP8",
        "video/x-vp9" => "VP9",
        "video/x-h264" => "H.264",
        "video/x-h265" => "H.265",
        "video/x-av1" => "AV1",
        "audio/x-opus" => "Opus",
        "audio/mpeg" => "AAC",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn preset_file_parses_with_unique_ids() {
        let presets = all().expect("data/export-presets.json parses");
        assert!(!presets.is_empty());
        let ids: HashSet<&str> = presets.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids.len(), presets.len(), "duplicate preset id");
        for kind in [
            PresetKind::Remux,
            PresetKind::Grid,
            PresetKind::Audio,
            PresetKind::Edit,
            PresetKind::Timeline,
        ] {
            assert!(presets.iter().any(|p| p.kind == kind), "no {kind:?} preset");
        }
    }

    #[test]
    fn every_preset_has_what_its_kind_needs() {
        for p in all().unwrap() {
            assert!(
                !p.extension.is_empty() && !p.extension.contains('.'),
                "{}",
                p.id
            );
            match p.kind {
                PresetKind::Remux | PresetKind::Edit => assert!(
                    !p.video_caps.is_empty() && !p.audio_caps.is_empty(),
                    "{}: remux and edit need the codecs they take",
                    p.id
                ),
                PresetKind::Grid => assert!(
                    p.video_encoder.is_some() && p.audio_encoder.is_some() && p.canvas.is_some(),
                    "{}: grid needs encoders and a canvas",
                    p.id
                ),
                PresetKind::Audio => assert!(p.audio_encoder.is_some(), "{}", p.id),
                PresetKind::Timeline => assert!(p.muxer.is_empty(), "{}", p.id),
            }
            if p.kind != PresetKind::Timeline {
                assert!(!p.muxer.is_empty(), "{}: no muxer", p.id);
            }
        }
    }

    #[test]
    fn container_rules_are_what_the_formats_allow() {
        let webm = by_id("webm").unwrap();
        assert!(webm.accepts("video/x-vp8") && !webm.accepts("video/x-h264"));
        let mp4 = by_id("mp4").unwrap();
        assert!(mp4.accepts("video/x-h264") && !mp4.accepts("video/x-vp8"));
        assert!(mp4.accepts("audio/x-opus"));
        assert!(by_id("no-such-preset").is_none());
    }
}
