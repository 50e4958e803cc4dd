//! Export planning: which files to make from a session's media, refused up front when the
//! preset cannot do it. Pure data: the media found on disk goes in ([`ParticipantMedia`], from
//! [`super::inputs`]), the outputs to write come out ([`PlannedOutput`]); the pipelines that
//! carry them out are in [`super::pipeline`] and [`super::mix`].

use std::path::PathBuf;

use super::ExportError;
use crate::library::manifest::SessionManifest;
use crate::library::naming;
use crate::library::presets::{Canvas, Preset, PresetKind, codec_label};

/// One elementary stream of a media file.
#[derive(Debug, Clone)]
pub(super) struct StreamInfo {
    pub(super) caps_name: String,
    pub(super) is_video: bool,
}

/// A media file of a segment, as the discoverer saw it.
#[derive(Debug, Clone)]
pub(super) struct SourceFile {
    pub(super) path: PathBuf,
    pub(super) streams: Vec<StreamInfo>,
}

/// One segment's media: usually one file, or the per-track files a crashed recorder left.
#[derive(Debug, Clone)]
pub(super) struct Source {
    /// Output stem for per-segment outputs (the recorded file's stem).
    pub(super) stem: String,
    pub(super) start_ns: u64,
    pub(super) duration_ns: u64,
    pub(super) files: Vec<SourceFile>,
}

impl Source {
    pub(super) fn has(&self, video: bool) -> bool {
        self.files
            .iter()
            .any(|f| f.streams.iter().any(|s| s.is_video == video))
    }

    pub(super) fn end_ns(&self) -> u64 {
        self.start_ns.saturating_add(self.duration_ns)
    }
}

/// A participant with the segments whose media could be found.
#[derive(Debug, Clone)]
pub(super) struct ParticipantMedia {
    pub(super) label: String,
    pub(super) sources: Vec<Source>,
}

/// One output file to make.
pub(super) enum Job {
    Remux(Source),
    Edit(Source),
    Grid {
        /// (tile index, source) for every segment.
        sources: Vec<(usize, Source)>,
        /// One per tile, in tile order: who sits there.
        cells: Vec<Cell>,
        canvas: Canvas,
    },
    Audio(Vec<Source>),
}

/// A participant's place in a grid video.
#[derive(Debug, Clone)]
pub(super) struct Cell {
    pub(super) label: String,
    /// Without video, the cell is a card with their initial and name.
    pub(super) has_video: bool,
}

pub(super) struct PlannedOutput {
    pub(super) stem: String,
    pub(super) job: Job,
    /// Length of the output's timeline, for progress.
    pub(super) duration_ns: u64,
}

/// One output per recorded file (a remux or an edit export), each its own `job`.
fn one_per_source(media: &[ParticipantMedia], job: fn(Source) -> Job) -> Vec<PlannedOutput> {
    media
        .iter()
        .flat_map(|p| &p.sources)
        .map(|source| PlannedOutput {
            stem: source.stem.clone(),
            duration_ns: source.duration_ns,
            job: job(source.clone()),
        })
        .collect()
}

/// Decides which files to write, refusing up front what the preset cannot do.
/// `has_encoder` says whether an encoder for a caps name is installed (GStreamer's registry for
/// a real export), so the plan stays free of GStreamer.
pub(super) fn plan(
    manifest: &SessionManifest,
    media: &[ParticipantMedia],
    preset: &Preset,
    has_encoder: &dyn Fn(&str) -> bool,
) -> Result<Vec<PlannedOutput>, ExportError> {
    let any = media.iter().any(|p| !p.sources.is_empty());
    if !any {
        return Err(ExportError::Nothing(
            "no recorded media files were found in the session folder".to_owned(),
        ));
    }
    match preset.kind {
        PresetKind::Remux => {
            let mut refused = Vec::new();
            for participant in media {
                for source in &participant.sources {
                    for stream in source.files.iter().flat_map(|f| &f.streams) {
                        if !preset.accepts(&stream.caps_name) {
                            refused.push(format!(
                                "{} ({})",
                                participant.label,
                                codec_label(&stream.caps_name)
                            ));
                        }
                    }
                }
            }
            if !refused.is_empty() {
                refused.dedup();
                let allowed: Vec<&str> = preset
                    .video_caps
                    .iter()
                    .chain(&preset.audio_caps)
                    .map(|c| codec_label(c))
                    .collect();
                return Err(ExportError::Unsupported(format!(
                    "{} can only hold {} without re-encoding; these recordings use other codecs: {}. \
                     Export them as \"MP4 for editing\" (which re-encodes what MP4 cannot hold), \
                     as MKV (which copies everything), or as a grid video",
                    preset.extension.to_uppercase(),
                    allowed.join(", "),
                    refused.join(", ")
                )));
            }
            Ok(one_per_source(media, Job::Remux))
        }
        PresetKind::Edit => {
            for caps_name in preset.video_caps.iter().chain(&preset.audio_caps) {
                if !has_encoder(caps_name) {
                    return Err(ExportError::MissingElement(format!(
                        "an encoder for {}",
                        codec_label(caps_name)
                    )));
                }
            }
            Ok(one_per_source(media, Job::Edit))
        }
        PresetKind::Grid => {
            let canvas = preset.canvas.ok_or_else(|| {
                ExportError::Unsupported(format!("preset {} has no canvas", preset.id))
            })?;
            let mut cells = Vec::new();
            let mut sources = Vec::new();
            // Everyone recorded gets a cell: video, or a card with their name.
            for participant in media.iter().filter(|p| !p.sources.is_empty()) {
                let tile = cells.len();
                cells.push(Cell {
                    label: participant.label.clone(),
                    has_video: participant.sources.iter().any(|s| s.has(true)),
                });
                for source in &participant.sources {
                    sources.push((tile, source.clone()));
                }
            }
            let duration_ns = sources.iter().map(|(_, s)| s.end_ns()).max().unwrap_or(0);
            let room = naming::sanitize_component_or(&manifest.room, "session");
            Ok(vec![PlannedOutput {
                stem: format!("{room} grid"),
                duration_ns,
                job: Job::Grid {
                    sources,
                    cells,
                    canvas,
                },
            }])
        }
        PresetKind::Timeline => Err(ExportError::Unsupported(
            "a timeline is written from the manifest, without probing media".to_owned(),
        )),
        PresetKind::Audio => {
            let outputs: Vec<PlannedOutput> = media
                .iter()
                .filter_map(|p| {
                    let sources: Vec<Source> =
                        p.sources.iter().filter(|s| s.has(false)).cloned().collect();
                    let duration_ns = sources.iter().map(Source::end_ns).max()?;
                    Some(PlannedOutput {
                        stem: naming::sanitize_component_or(&p.label, naming::FALLBACK_PARTICIPANT),
                        duration_ns,
                        job: Job::Audio(sources),
                    })
                })
                .collect();
            if outputs.is_empty() {
                return Err(ExportError::Nothing(
                    "nobody in this session was recorded with audio".to_owned(),
                ));
            }
            Ok(outputs)
        }
    }
}

/// A stream an edit export decodes and encodes again.
#[derive(Debug, Clone, PartialEq)]
pub struct Reencoded {
    pub participant: String,
    /// As recorded ("VP8"), and what it becomes ("H.264").
    pub from: String,
    pub to: String,
    pub video: bool,
    pub seconds: f64,
}

/// Tile rectangles: a near-square grid with every participant in a fixed place.
pub fn tile_layout(
    tiles: usize,
    canvas_width: u32,
    canvas_height: u32,
) -> Vec<(i32, i32, i32, i32)> {
    if tiles == 0 {
        return Vec::new();
    }
    let cols = (tiles as f64).sqrt().ceil() as usize;
    let rows = tiles.div_ceil(cols);
    // Even sizes: most encoders want 4:2:0 chroma.
    let w = (canvas_width as usize / cols) & !1;
    let h = (canvas_height as usize / rows) & !1;
    (0..tiles)
        .map(|i| {
            let (col, row) = (i % cols, i / cols);
            ((col * w) as i32, (row * h) as i32, w as i32, h as i32)
        })
        .collect()
}

/// Which of the streams found an edit export with `preset` would decode and encode again.
pub(super) fn reencoded(media: &[ParticipantMedia], preset: &Preset) -> Vec<Reencoded> {
    let mut out = Vec::new();
    for participant in media {
        for source in &participant.sources {
            for stream in source.files.iter().flat_map(|f| &f.streams) {
                if preset.accepts(&stream.caps_name) {
                    continue;
                }
                let target = if stream.is_video {
                    preset.video_caps.first()
                } else {
                    preset.audio_caps.first()
                };
                out.push(Reencoded {
                    participant: participant.label.clone(),
                    from: codec_label(&stream.caps_name).to_owned(),
                    to: target
                        .map(|t| codec_label(t).to_owned())
                        .unwrap_or_default(),
                    video: stream.is_video,
                    seconds: source.duration_ns as f64 / 1e9,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::library::presets;

    #[test]
    fn layout_is_a_near_square_grid_inside_the_canvas() {
        assert!(tile_layout(0, 1280, 720).is_empty());
        assert_eq!(tile_layout(1, 1280, 720), [(0, 0, 1280, 720)]);
        let two = tile_layout(2, 1280, 720);
        assert_eq!(two, [(0, 0, 640, 720), (640, 0, 640, 720)]);
        for n in 1..=10 {
            let tiles = tile_layout(n, 1280, 720);
            assert_eq!(tiles.len(), n);
            let mut seen = HashSet::new();
            for (x, y, w, h) in tiles {
                assert!(
                    x + w <= 1280 && y + h <= 720,
                    "{n}: tile outside the canvas"
                );
                assert!(w % 2 == 0 && h % 2 == 0 && w > 0 && h > 0);
                assert!(seen.insert((x, y)), "{n}: two tiles in one place");
            }
        }
    }

    #[test]
    fn a_vp8_recording_is_refused_for_mp4_with_the_reason() {
        let media = vec![ParticipantMedia {
            label: "Alice".into(),
            sources: vec![Source {
                stem: "Alice".into(),
                start_ns: 0,
                duration_ns: 1,
                files: vec![SourceFile {
                    path: PathBuf::from("/nonexistent/Alice.mkv"),
                    streams: vec![StreamInfo {
                        caps_name: "video/x-vp8".into(),
                        is_video: true,
                    }],
                }],
            }],
        }];
        let manifest = SessionManifest::new("r", "s", 0);
        let mp4 = presets::by_id("mp4").unwrap();
        let err = plan(&manifest, &media, &mp4, &|_| true)
            .err()
            .expect("refused");
        let msg = err.to_string();
        assert!(
            matches!(err, ExportError::Unsupported(_))
                && msg.contains("VP8")
                && msg.contains("Alice"),
            "{msg}"
        );
        assert!(
            plan(&manifest, &media, &presets::by_id("mkv").unwrap(), &|_| {
                true
            })
            .is_ok()
        );
        assert!(matches!(
            plan(&manifest, &[], &mp4, &|_| true),
            Err(ExportError::Nothing(_))
        ));
    }

    fn media_of(label: &str, start_ns: u64, duration_ns: u64, caps: &[&str]) -> ParticipantMedia {
        ParticipantMedia {
            label: label.into(),
            sources: vec![Source {
                stem: label.into(),
                start_ns,
                duration_ns,
                files: vec![SourceFile {
                    path: PathBuf::from(format!("/nonexistent/{label}.mkv")),
                    streams: caps
                        .iter()
                        .map(|c| StreamInfo {
                            caps_name: (*c).into(),
                            is_video: c.starts_with("video/"),
                        })
                        .collect(),
                }],
            }],
        }
    }

    /// The plan alone, without GStreamer: who gets a grid cell, which participants get an
    /// audio file, how long each output is, and what an edit export would re-encode.
    #[test]
    fn grid_audio_and_edit_plans_from_the_media_found() {
        let media = vec![
            media_of("Alice", 0, 4_000, &["video/x-vp8", "audio/x-opus"]),
            media_of("Bob", 1_000, 5_000, &["audio/x-opus"]),
            media_of("Carol", 2_000, 1_000, &["video/x-h264"]),
            ParticipantMedia {
                label: "Dave".into(),
                sources: Vec::new(),
            },
        ];
        let manifest = SessionManifest::new("Team room", "s", 0);

        let grid = plan(
            &manifest,
            &media,
            &presets::by_id("grid-webm").unwrap(),
            &|_| true,
        )
        .unwrap();
        let [output] = grid.as_slice() else {
            panic!("one grid video, not {}", grid.len());
        };
        assert_eq!(output.stem, "Team room grid");
        assert_eq!(output.duration_ns, 6_000, "until Bob's segment ends");
        let Job::Grid { sources, cells, .. } = &output.job else {
            panic!("not a grid job");
        };
        let seats: Vec<(&str, bool)> = cells
            .iter()
            .map(|c| (c.label.as_str(), c.has_video))
            .collect();
        assert_eq!(seats, [("Alice", true), ("Bob", false), ("Carol", true)]);
        let tiles: Vec<usize> = sources.iter().map(|(tile, _)| *tile).collect();
        assert_eq!(tiles, [0, 1, 2]);

        let audio = plan(
            &manifest,
            &media,
            &presets::by_id("audio-wav").unwrap(),
            &|_| true,
        )
        .unwrap();
        let files: Vec<(&str, u64)> = audio
            .iter()
            .map(|o| (o.stem.as_str(), o.duration_ns))
            .collect();
        assert_eq!(
            files,
            [("Alice", 4_000), ("Bob", 6_000)],
            "Carol has no audio"
        );
        let silent = [media_of("Carol", 0, 1, &["video/x-h264"])];
        assert!(matches!(
            plan(
                &manifest,
                &silent,
                &presets::by_id("audio-opus").unwrap(),
                &|_| true
            ),
            Err(ExportError::Nothing(_))
        ));

        let edit = presets::by_id("mp4-edit").unwrap();
        assert_eq!(plan(&manifest, &media, &edit, &|_| true).unwrap().len(), 3);
        // Without an AAC encoder the edit export is refused before anything is written.
        match plan(&manifest, &media, &edit, &|caps| caps != "audio/mpeg") {
            Err(ExportError::MissingElement(what)) => assert_eq!(what, "an encoder for AAC"),
            Err(other) => panic!("expected a missing encoder, got {other}"),
            Ok(_) => panic!("planned an edit export without an AAC encoder"),
        }
        // VP8 and Opus become H.264 and AAC; Carol's H.264 is copied.
        let streams = reencoded(&media, &edit);
        let reencoded: Vec<(&str, &str, &str)> = streams
            .iter()
            .map(|r| (r.participant.as_str(), r.from.as_str(), r.to.as_str()))
            .collect();
        assert_eq!(
            reencoded,
            [
                ("Alice", "VP8", "H.264"),
                ("Alice", "Opus", "AAC"),
                ("Bob", "Opus", "AAC")
            ]
        );
    }
}
