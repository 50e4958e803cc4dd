use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use gst::prelude::*;
use gst_pbutils::prelude::*;

use super::pipeline::write_one;
use super::plan::{Cell, Job, PlannedOutput, Source, SourceFile, StreamInfo};
use super::*;
use crate::library::presets::{self, Canvas, PresetKind};

/// Builds a synthetic "recorded" Matroska file with the given encoders.
fn make_media(dir: &Path, name: &str, video: &str, audio: bool) -> PathBuf {
    let path = dir.join(name);
    let audio_branch = if audio {
        "audiotestsrc num-buffers=20 ! audioconvert ! opusenc ! m."
    } else {
        ""
    };
    let desc = format!(
        "videotestsrc num-buffers=15 ! video/x-raw,width=160,height=120,framerate=15/1 ! \
         {video} ! m. {audio_branch} matroskamux name=m ! filesink location=\"{}\"",
        path.display()
    );
    let pipeline = gst::parse::launch(&desc)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    crate::media::recorder::run_to_eos(&pipeline, Duration::from_secs(60)).unwrap();
    pipeline.set_state(gst::State::Null).unwrap();
    path
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "roomtape-export-unit-{name}-{}",
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Every preset builds a pipeline that links and runs to the end on real input: the
/// launch descriptions parse, the elements exist, and caps negotiate.
#[test]
fn every_preset_builds_a_working_pipeline() {
    gst::init().unwrap();
    let dir = temp_dir("presets");
    let vp8 = make_media(&dir, "vp8.mkv", "vp8enc deadline=1", true);
    let h264 = make_media(&dir, "h264.mkv", "x264enc ! h264parse", true);
    let source = |path: &Path, video: &str, start_ns: u64| Source {
        stem: "s".into(),
        start_ns,
        duration_ns: 1_000_000_000,
        files: vec![SourceFile {
            path: path.to_owned(),
            streams: vec![
                StreamInfo {
                    caps_name: video.into(),
                    is_video: true,
                },
                StreamInfo {
                    caps_name: "audio/x-opus".into(),
                    is_video: false,
                },
            ],
        }],
    };
    for preset in presets::all().unwrap() {
        if preset.kind == PresetKind::Timeline {
            continue;
        }
        let input = if preset.accepts("video/x-vp8") || preset.kind != PresetKind::Remux {
            source(&vp8, "video/x-vp8", 0)
        } else {
            source(&h264, "video/x-h264", 0)
        };
        let job = match preset.kind {
            PresetKind::Remux => Job::Remux(input),
            PresetKind::Edit => Job::Edit(input),
            PresetKind::Grid => Job::Grid {
                sources: vec![(0, input), (1, source(&h264, "video/x-h264", 500_000_000))],
                cells: vec![
                    Cell {
                        label: "Alice".into(),
                        has_video: true,
                    },
                    Cell {
                        label: "Bob".into(),
                        has_video: true,
                    },
                ],
                canvas: Canvas {
                    width: 320,
                    height: 180,
                    framerate: 15,
                },
            },
            PresetKind::Audio => Job::Audio(vec![input]),
            PresetKind::Timeline => unreachable!("skipped above"),
        };
        let output = PlannedOutput {
            stem: preset.id.clone(),
            job,
            duration_ns: 1_500_000_000,
        };
        let out = dir.join(format!("out.{}", preset.extension));
        let mut fractions = Vec::new();
        write_one(&output, &preset, &out, &CancelFlag::new(), &mut |f| {
            fractions.push(f)
        })
        .unwrap_or_else(|e| panic!("preset {}: {e}", preset.id));
        assert!(
            out.metadata().is_ok_and(|m| m.len() > 0),
            "preset {} wrote nothing",
            preset.id
        );
        assert_eq!(fractions.last(), Some(&1.0), "preset {}", preset.id);
        fs::remove_file(&out).unwrap();
    }
    let _ = fs::remove_dir_all(&dir);
}

/// A grid frame, read back as pixels: the video cell carries its participant's name, and
/// the participant without a camera has a card with their initial and name instead of a
/// black cell.
#[test]
fn grid_cells_show_names_and_a_card_for_audio_only() {
    gst::init().unwrap();
    let dir = temp_dir("gridnames");
    // Black video, so anything light in the cell is the name.
    let black = dir.join("black.mkv");
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc pattern=black num-buffers=30 ! video/x-raw,width=320,height=180,framerate=15/1 ! \
         vp8enc deadline=1 ! matroskamux ! filesink location=\"{}\"",
        black.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    crate::media::recorder::run_to_eos(&pipeline, Duration::from_secs(60)).unwrap();
    pipeline.set_state(gst::State::Null).unwrap();
    let tone = make_media(&dir, "tone.mkv", "vp8enc deadline=1", true);
    let video = Source {
        stem: "a".into(),
        start_ns: 0,
        duration_ns: 2_000_000_000,
        files: vec![SourceFile {
            path: black,
            streams: vec![StreamInfo {
                caps_name: "video/x-vp8".into(),
                is_video: true,
            }],
        }],
    };
    let audio_only = Source {
        stem: "b".into(),
        start_ns: 0,
        duration_ns: 1_000_000_000,
        files: vec![SourceFile {
            path: tone,
            streams: vec![StreamInfo {
                caps_name: "audio/x-opus".into(),
                is_video: false,
            }],
        }],
    };
    let preset = presets::by_id("grid-webm").unwrap();
    let output = PlannedOutput {
        stem: "grid".into(),
        job: Job::Grid {
            sources: vec![(0, video), (1, audio_only)],
            cells: vec![
                Cell {
                    label: "Alice".into(),
                    has_video: true,
                },
                Cell {
                    label: "Bob".into(),
                    has_video: false,
                },
            ],
            canvas: Canvas {
                width: 640,
                height: 180,
                framerate: 15,
            },
        },
        duration_ns: 2_000_000_000,
    };
    let out = dir.join("grid.webm");
    write_one(&output, &preset, &out, &CancelFlag::new(), &mut |_| {}).unwrap();
    // One frame at 1 s, as grey bytes.
    let frame_pipeline = gst::parse::launch(&format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! video/x-raw,format=GRAY8 ! \
         appsink name=sink sync=false",
        out.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let sink = frame_pipeline
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    frame_pipeline.set_state(gst::State::Playing).unwrap();
    let mut frame = None;
    while let Ok(sample) = sink.pull_sample() {
        let pts = sample.buffer().and_then(|b| b.pts()).unwrap_or_default();
        if pts >= gst::ClockTime::from_mseconds(1000) {
            frame = Some(sample);
            break;
        }
    }
    frame_pipeline.set_state(gst::State::Null).unwrap();
    let sample = frame.expect("a frame at 1 s");
    let info = gst_video::VideoInfo::from_caps(sample.caps().unwrap()).unwrap();
    let map = sample.buffer().unwrap().map_readable().unwrap();
    let stride = info.stride()[0] as usize;
    let light = |x0: usize, x1: usize, y0: usize, y1: usize| {
        (y0..y1)
            .flat_map(|y| (x0..x1).map(move |x| (x, y)))
            .filter(|&(x, y)| map[y * stride + x] > 180)
            .count()
    };
    // Alice's cell (left half): her name at the bottom left, on black video.
    let name_pixels = light(0, 200, 130, 180);
    let above_name = light(0, 320, 0, 100);
    // Bob's cell (right half): a card with his initial and name.
    let card_pixels = light(320, 640, 0, 180);
    eprintln!("FIGURE grid pixels: name {name_pixels}, above it {above_name}, card {card_pixels}");
    assert!(name_pixels > 50, "no name drawn on the video cell");
    assert!(above_name < 10, "the video itself is black");
    assert!(card_pixels > 100, "the audio-only cell is not a card");
    let _ = fs::remove_dir_all(&dir);
}

/// VP8 + Opus (what browsers send) becomes H.264 + AAC in MP4, for the whole duration.
#[test]
fn mp4_for_editing_re_encodes_vp8_and_opus_and_copies_h264() {
    gst::init().unwrap();
    let dir = temp_dir("edit");
    let vp8 = make_media(&dir, "vp8.mkv", "vp8enc deadline=1", true);
    let preset = presets::by_id("mp4-edit").unwrap();
    let source = Source {
        stem: "alice".into(),
        start_ns: 0,
        duration_ns: 1_000_000_000,
        files: vec![SourceFile {
            path: vp8,
            streams: vec![
                StreamInfo {
                    caps_name: "video/x-vp8".into(),
                    is_video: true,
                },
                StreamInfo {
                    caps_name: "audio/x-opus".into(),
                    is_video: false,
                },
            ],
        }],
    };
    let output = PlannedOutput {
        stem: "alice".into(),
        job: Job::Edit(source),
        duration_ns: 1_000_000_000,
    };
    let out = dir.join("alice.mp4");
    let mut fractions = Vec::new();
    write_one(&output, &preset, &out, &CancelFlag::new(), &mut |f| {
        fractions.push(f)
    })
    .unwrap();
    let uri = glib::filename_to_uri(&out, None).unwrap();
    let info = gst_pbutils::Discoverer::new(gst::ClockTime::from_seconds(20))
        .unwrap()
        .discover_uri(&uri)
        .unwrap();
    let caps: Vec<String> = info
        .stream_list()
        .iter()
        .filter_map(|s| s.caps())
        .filter_map(|c| c.structure(0).map(|s| s.name().to_string()))
        .collect();
    assert!(caps.contains(&"video/x-h264".to_owned()), "{caps:?}");
    assert!(caps.contains(&"audio/mpeg".to_owned()), "{caps:?}");
    let duration = info.duration().unwrap().mseconds();
    assert!(duration >= 950, "{duration} ms of 1,000");
    assert!(fractions.windows(2).all(|w| w[0] <= w[1]), "{fractions:?}");
    assert_eq!(fractions.last(), Some(&1.0));
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn encoders_for_mp4_for_editing_are_found_among_the_installed() {
    gst::init().unwrap();
    let video = encoder_for("video/x-h264");
    let audio = encoder_for("audio/mpeg");
    eprintln!("FIGURE encoders: {video:?} {audio:?}");
    assert!(video.is_some() && audio.is_some(), "{video:?} {audio:?}");
    assert_eq!(encoder_for("video/x-no-such-codec"), None);
}
