//! Export of real recordings: a session is recorded from webrtcbin publishers on loopback, then
//! exported in every format and checked with GStreamer's discoverer and by decoding the
//! results (where each participant appears in the grid, where each audio track starts).

// Tests print what they measured; the harness captures it.
#![allow(clippy::print_stdout)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::*;
use gst::prelude::*;
use roomtape::library::export::{self, CancelFlag, ExportError};
use roomtape::library::presets;
use roomtape::library::{SessionManifest, SessionSummary, scan_recordings};
use sha2::{Digest, Sha256};

const CONNECT: Duration = Duration::from_secs(20);

/// The two-person session most tests export: Alice (VP8) for about 10 s, Bob (VP8) joining
/// about 3 s after her for about 4 s.
struct Fixture {
    dir: PathBuf,
    manifest: SessionManifest,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let _serial = serial();
        let out = temp_dir("export-two");
        let dir = record_session(
            &out,
            "exp2",
            &[("alice", "vp8", 10.0, 0.0), ("bob", "vp8", 4.0, 3.0)],
            "640x360",
        );
        let manifest = SessionManifest::load(&dir).expect("manifest loads");
        Fixture { dir, manifest }
    })
}

/// Records one session: each publisher `(stream, codec, seconds, delay after the previous one
/// started sending video)`. Returns the session folder once every segment is final.
fn record_session(
    out: &Path,
    room: &str,
    publishers: &[(&str, &str, f64, f64)],
    resolution: &str,
) -> PathBuf {
    let (_server, url) = serve("official");
    let out_arg = out.to_str().expect("utf-8 temp dir");
    let mut recorder = record(&url, room, "false", &["--output", out_arg]);
    recorder
        .wait_event(CONNECT, |e| e["event"] == "signaling_connected")
        .expect("recorder connects");
    let mut running = Vec::new();
    for (stream, codec, seconds, delay) in publishers {
        std::thread::sleep(Duration::from_secs_f64(*delay));
        let duration = seconds.to_string();
        running.push(publish(
            &url,
            room,
            stream,
            "false",
            &[
                "--codec",
                codec,
                "--duration",
                &duration,
                "--resolution",
                resolution,
            ],
        ));
        recorder
            .take_event(CONNECT, |e| {
                e["event"] == "media_flowing" && e["kind"] == "video"
            })
            .unwrap_or_else(|| panic!("no video from {stream}"));
    }
    for publisher in &mut running {
        assert!(
            publisher.wait_exit(Duration::from_secs(40)),
            "publisher exits"
        );
    }
    for _ in publishers {
        recorder
            .take_event(Duration::from_secs(30), |e| {
                e["event"] == "segment_finished"
            })
            .expect("segment finalised");
    }
    assert!(
        recorder.stop(Duration::from_secs(30)),
        "recorder stops cleanly"
    );
    session_dir(out)
}

/// SHA-256 of every file in the session folder (not in subfolders such as `export`).
fn hashes(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .expect("session folder")
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .map(|e| {
            let bytes = std::fs::read(e.path()).expect("read original");
            (
                e.file_name().to_string_lossy().into_owned(),
                hex::encode(Sha256::digest(&bytes)),
            )
        })
        .collect()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn segment(manifest: &SessionManifest, id: &str) -> roomtape::library::Segment {
    manifest
        .participants
        .iter()
        .find(|p| p.id == id)
        .and_then(|p| p.segments.first().cloned())
        .unwrap_or_else(|| panic!("{id} has a segment"))
}

fn secs(ns: u64) -> f64 {
    ns as f64 / 1e9
}

/// What the discoverer says about a file, any container.
#[derive(Debug, Default)]
struct Discovered {
    duration_s: f64,
    container: Option<String>,
    video: Vec<String>,
    audio: Vec<String>,
    width: u32,
    height: u32,
}

fn discover(path: &Path) -> Discovered {
    use gst_pbutils::prelude::*;
    let info = discover_info(path);
    let name = |caps: Option<gst::Caps>| {
        caps.and_then(|c| c.structure(0).map(|s| s.name().to_string()))
            .unwrap_or_default()
    };
    let mut out = Discovered {
        duration_s: info.duration().map(|d| d.seconds_f64()).unwrap_or(0.0),
        container: info.stream_info().map(|s| name(s.caps())),
        ..Default::default()
    };
    for stream in info.video_streams() {
        out.video.push(name(stream.caps()));
        out.width = stream.width();
        out.height = stream.height();
    }
    for stream in info.audio_streams() {
        out.audio.push(name(stream.caps()));
    }
    out
}

/// Timestamp of the first buffer of a kind in a recorded Matroska file.
fn first_pts(path: &Path, video: bool) -> f64 {
    gst::init().expect("gst init");
    let pad = if video { "video_0" } else { "audio_0" };
    let desc = format!(
        "filesrc location=\"{}\" ! matroskademux name=d d.{pad} ! appsink name=s sync=false",
        path.display()
    );
    let pipeline = gst::parse::launch(&desc)
        .expect("pipeline")
        .downcast::<gst::Pipeline>()
        .expect("a pipeline");
    let sink = pipeline
        .by_name("s")
        .expect("appsink")
        .downcast::<gst_app::AppSink>()
        .expect("appsink");
    pipeline.set_state(gst::State::Playing).expect("plays");
    let sample = sink
        .try_pull_sample(gst::ClockTime::from_seconds(20))
        .expect("a first buffer");
    let pts = sample
        .buffer()
        .and_then(|b| b.pts())
        .expect("timestamped")
        .seconds_f64();
    pipeline.set_state(gst::State::Null).expect("stops");
    pts
}

/// Decodes a video scaled to `w`×`h` grey and gives, per frame, its time and the brightest
/// pixel of each rectangle `(x, y, w, h)` in `regions`.
fn region_brightness(
    path: &Path,
    (w, h): (usize, usize),
    regions: &[(usize, usize, usize, usize)],
) -> Vec<(f64, Vec<u8>)> {
    gst::init().expect("gst init");
    let desc = format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! videoscale ! \
         video/x-raw,format=GRAY8,width={w},height={h} ! appsink name=s sync=false",
        path.display()
    );
    let pipeline = gst::parse::launch(&desc)
        .expect("pipeline")
        .downcast::<gst::Pipeline>()
        .expect("a pipeline");
    let sink = pipeline
        .by_name("s")
        .expect("appsink")
        .downcast::<gst_app::AppSink>()
        .expect("appsink");
    pipeline.set_state(gst::State::Playing).expect("plays");
    let mut frames = Vec::new();
    while let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_seconds(20)) {
        let buffer = sample.buffer().expect("buffer");
        let pts = buffer.pts().expect("timestamped").seconds_f64();
        let map = buffer.map_readable().expect("readable");
        // GRAY8 rows are padded to 4 bytes.
        let stride = w.div_ceil(4) * 4;
        let maxima = regions
            .iter()
            .map(|&(rx, ry, rw, rh)| {
                (ry..ry + rh)
                    .flat_map(|y| (rx..rx + rw).map(move |x| (x, y)))
                    .map(|(x, y)| map.get(y * stride + x).copied().unwrap_or(0))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        frames.push((pts, maxima));
    }
    pipeline.set_state(gst::State::Null).expect("stops");
    frames
}

/// The grey of a grid cell's card, shown where the participant's video is not.
const CARD_GREY: i32 = 0x26;

/// When region `i` shows video (anything but the card's grey) first and last.
fn video_span(frames: &[(f64, Vec<u8>)], i: usize) -> Option<(f64, f64)> {
    let shown: Vec<f64> = frames
        .iter()
        .filter(|(_, m)| (i32::from(m[i]) - CARD_GREY).abs() > 12)
        .map(|(t, _)| *t)
        .collect();
    Some((*shown.first()?, *shown.last()?))
}

/// Time of the first audible sample of a WAV file.
fn first_sound(path: &Path) -> f64 {
    gst::init().expect("gst init");
    let desc = format!(
        "filesrc location=\"{}\" ! wavparse ! audioconvert ! \
         audio/x-raw,format=S16LE,channels=1,rate=48000 ! appsink name=s sync=false",
        path.display()
    );
    let pipeline = gst::parse::launch(&desc)
        .expect("pipeline")
        .downcast::<gst::Pipeline>()
        .expect("a pipeline");
    let sink = pipeline
        .by_name("s")
        .expect("appsink")
        .downcast::<gst_app::AppSink>()
        .expect("appsink");
    pipeline.set_state(gst::State::Playing).expect("plays");
    let mut found = None;
    while let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_seconds(20)) {
        let buffer = sample.buffer().expect("buffer");
        let pts = buffer.pts().expect("timestamped").seconds_f64();
        let map = buffer.map_readable().expect("readable");
        if let Some(i) = map
            .chunks_exact(2)
            .position(|s| i16::from_le_bytes([s[0], s[1]]).unsigned_abs() > 1000)
        {
            found = Some(pts + i as f64 / 48_000.0);
            break;
        }
    }
    pipeline.set_state(gst::State::Null).expect("stops");
    found.expect("the track has sound")
}

/// `roomtape export` with its exit code and error output.
fn cli_export(args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(BIN)
        .arg("export")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run roomtape export");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned()
            + &String::from_utf8_lossy(&output.stdout),
    )
}

fn export_with(id: &str, out: &Path) -> Vec<PathBuf> {
    let preset = presets::by_id(id).expect("preset");
    let mut last = 0.0;
    let mut calls = 0;
    let files = export::export(&fixture().dir, &preset, out, &CancelFlag::new(), &mut |p| {
        assert!(p.fraction >= last - 1e-9, "progress goes forward");
        last = p.fraction;
        calls += 1;
    })
    .unwrap_or_else(|e| panic!("{id}: {e}"));
    assert!(
        calls > 1 && (last - 1.0).abs() < 1e-9,
        "{id}: progress to 100 %"
    );
    files
}

#[test]
fn remux_keeps_codecs_and_durations_and_refuses_what_a_container_cannot_hold() {
    let fx = fixture();
    let before = hashes(&fx.dir);
    let out = temp_dir("export-remux");
    for (id, container) in [("mkv", "video/x-matroska"), ("webm", "video/webm")] {
        let files = export_with(id, &out.join(id));
        assert_eq!(files.len(), 2, "{id}: one file per participant");
        for participant in ["alice", "bob"] {
            let original = segment(&fx.manifest, participant);
            let file = files
                .iter()
                .find(|f| f.file_stem().is_some_and(|s| s == participant))
                .unwrap_or_else(|| panic!("{id}: {participant} exported"));
            let got = discover(file);
            let recorded = discover(&fx.dir.join(&original.file));
            assert_eq!(got.container.as_deref(), Some(container), "{id}");
            assert_eq!(got.video, ["video/x-vp8"], "{id}: video copied");
            assert_eq!(got.audio, ["audio/x-opus"], "{id}: audio copied");
            assert_eq!((got.width, got.height), (recorded.width, recorded.height));
            assert!(
                (got.duration_s - recorded.duration_s).abs() < 0.1,
                "{id} {participant}: {} s exported vs {} s recorded",
                got.duration_s,
                recorded.duration_s
            );
        }
    }
    // VP8 has no place in MP4 as it is: copying only is refused with the reason, nothing
    // written, failure exit code.
    let mp4_out = out.join("mp4");
    let (code, text) = cli_export(&[
        fx.dir.to_str().expect("utf-8"),
        "--format",
        "mp4",
        "--copy-only",
        "--output",
        mp4_out.to_str().expect("utf-8"),
    ]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("VP8") && text.contains("MP4"), "{text}");
    assert!(
        text.contains("MP4 for editing"),
        "says what to do instead: {text}"
    );
    assert!(files_in(&mp4_out).is_empty(), "{:?}", files_in(&mp4_out));
    // MP4 for editing: VP8 + Opus become H.264 + AAC for the whole duration.
    let (code, text) = cli_export(&[
        fx.dir.to_str().expect("utf-8"),
        "--format",
        "mp4",
        "--output",
        mp4_out.to_str().expect("utf-8"),
    ]);
    assert_eq!(code, Some(0), "{text}");
    for participant in ["alice", "bob"] {
        let seg = segment(&fx.manifest, participant);
        let recorded = discover(&fx.dir.join(&seg.file));
        let stem = Path::new(&seg.file)
            .file_stem()
            .expect("stem")
            .to_string_lossy()
            .into_owned();
        let got = discover(&mp4_out.join(format!("{stem}.mp4")));
        assert_eq!(got.container.as_deref(), Some("video/quicktime"));
        assert_eq!(
            got.video,
            ["video/x-h264"],
            "{participant}: re-encoded to H.264"
        );
        assert_eq!(
            got.audio,
            ["audio/mpeg"],
            "{participant}: re-encoded to AAC"
        );
        assert_eq!((got.width, got.height), (recorded.width, recorded.height));
        assert!(
            (got.duration_s - recorded.duration_s).abs() < 0.15,
            "{participant}: {} s exported vs {} s recorded",
            got.duration_s,
            recorded.duration_s
        );
    }
    assert_eq!(hashes(&fx.dir), before, "originals unchanged");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn grid_places_everyone_on_the_session_timeline() {
    let fx = fixture();
    let before = hashes(&fx.dir);
    let out = temp_dir("export-grid");
    let alice = segment(&fx.manifest, "alice");
    let bob = segment(&fx.manifest, "bob");
    let joined_apart = secs(bob.start_offset_ns) - secs(alice.start_offset_ns);
    // About 3 s by design; a loaded machine can stretch it. What is checked below is that the
    // grid places Bob where the manifest says he joined, to 0.1 s.
    assert!(
        (2.5..10.0).contains(&joined_apart),
        "Bob joined {joined_apart} s after Alice"
    );
    let session_s = secs(fx.manifest.duration_ns());

    let files = export_with("grid-mp4", &out);
    assert_eq!(files.len(), 1);
    let got = discover(&files[0]);
    assert_eq!(got.container.as_deref(), Some("video/quicktime"));
    assert_eq!(got.video, ["video/x-h264"]);
    assert_eq!(got.audio, ["audio/mpeg"]);
    assert_eq!((got.width, got.height), (1280, 720));
    assert!(
        (got.duration_s - session_s).abs() < 0.2,
        "{} s grid vs {session_s} s session",
        got.duration_s
    );

    // Two tiles side by side; look at their top-left corners at a quarter of the size: the
    // grey of a cell's card (who is not there) or the black around someone's video.
    let frames = region_brightness(&files[0], (320, 180), &[(0, 0, 10, 10), (160, 0, 10, 10)]);
    let (alice_in, alice_out) = video_span(&frames, 0).expect("Alice appears");
    let (bob_in, bob_out) = video_span(&frames, 1).expect("Bob appears");
    let alice_expected = secs(alice.start_offset_ns) + first_pts(&fx.dir.join(&alice.file), true);
    let bob_expected = secs(bob.start_offset_ns) + first_pts(&fx.dir.join(&bob.file), true);
    assert!(
        (alice_in - alice_expected).abs() <= 0.1,
        "Alice appears at {alice_in} s, expected {alice_expected} s"
    );
    assert!(
        (bob_in - bob_expected).abs() <= 0.1,
        "Bob appears at {bob_in} s, expected {bob_expected} s"
    );
    assert!(
        ((bob_in - alice_in) - (bob_expected - alice_expected)).abs() <= 0.1,
        "Bob appears {} s after Alice",
        bob_in - alice_in
    );
    // And Bob's tile goes dark again when his segment ends, while Alice is still there.
    let bob_end = secs(bob.end_offset_ns());
    assert!(
        (bob_out - bob_end).abs() <= 0.15,
        "Bob's tile is lit until {bob_out} s, his segment ends at {bob_end} s"
    );
    assert!(alice_out > bob_out + 1.0, "Alice stays after Bob left");

    let webm = export_with("grid-webm", &out);
    let got = discover(&webm[0]);
    assert_eq!(got.container.as_deref(), Some("video/webm"));
    assert_eq!(
        (got.video.as_slice(), got.audio.as_slice()),
        (
            &["video/x-vp9".to_owned()][..],
            &["audio/x-opus".to_owned()][..]
        )
    );
    assert!((got.duration_s - session_s).abs() < 0.2);
    assert_eq!(hashes(&fx.dir), before, "originals unchanged");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn audio_tracks_start_with_silence_until_the_participant_joined() {
    let fx = fixture();
    let before = hashes(&fx.dir);
    let out = temp_dir("export-audio");
    let wavs = export_with("audio-wav", &out.join("wav"));
    let opus = export_with("audio-opus", &out.join("opus"));
    assert_eq!(
        (wavs.len(), opus.len()),
        (2, 2),
        "one track per participant"
    );
    for participant in ["alice", "bob"] {
        let seg = segment(&fx.manifest, participant);
        let end = secs(seg.end_offset_ns());
        let pick = |files: &[PathBuf]| {
            files
                .iter()
                .find(|f| f.file_stem().is_some_and(|s| s == participant))
                .cloned()
                .unwrap_or_else(|| panic!("{participant} exported"))
        };
        let wav = pick(&wavs);
        let got = discover(&wav);
        assert_eq!(got.container.as_deref(), Some("audio/x-wav"));
        assert!(got.video.is_empty() && got.audio.len() == 1);
        assert!(
            (got.duration_s - end).abs() < 0.1,
            "{participant}: {} s track, segment ends at {end} s",
            got.duration_s
        );
        let expected = secs(seg.start_offset_ns) + first_pts(&fx.dir.join(&seg.file), false);
        let sound = first_sound(&wav);
        assert!(
            (sound - expected).abs() < 0.05,
            "{participant}: sound starts at {sound} s, expected {expected} s"
        );
        let got = discover(&pick(&opus));
        assert_eq!(got.container.as_deref(), Some("audio/ogg"));
        assert_eq!(got.audio, ["audio/x-opus"]);
        assert!(
            (got.duration_s - end).abs() < 0.1,
            "{participant}: opus {} s",
            got.duration_s
        );
    }
    assert_eq!(hashes(&fx.dir), before, "originals unchanged");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn cancelling_leaves_no_file_behind() {
    let fx = fixture();
    let before = hashes(&fx.dir);
    let out = temp_dir("export-cancel");

    // Through the library: cancel once a tenth is done.
    let preset = presets::by_id("grid-webm").expect("preset");
    let cancel = CancelFlag::new();
    let result = export::export(&fx.dir, &preset, &out, &cancel.clone(), &mut |p| {
        if p.fraction > 0.1 {
            cancel.cancel();
        }
    });
    assert!(matches!(result, Err(ExportError::Cancelled)), "{result:?}");
    assert!(files_in(&out).is_empty(), "left: {:?}", files_in(&out));

    // Through the command line: Ctrl+C while it reports progress.
    let mut child = Command::new(BIN)
        .args([
            "export",
            fx.dir.to_str().expect("utf-8"),
            "--format",
            "grid",
            "--grid-format",
            "webm",
            "--output",
            out.to_str().expect("utf-8"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn export");
    let rx = lines_of(child.stderr.take().expect("stderr"));
    let deadline = Instant::now() + Duration::from_secs(30);
    let partial_seen = loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("export reports progress");
        let percent: Option<u32> = line
            .strip_prefix("progress")
            .and_then(|rest| rest.trim().split('%').next())
            .and_then(|n| n.trim().parse().ok());
        if percent.is_some_and(|p| p >= 5) {
            break files_in(&out).iter().any(|n| n.ends_with(".partial"));
        }
    };
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let status = child.wait().expect("export exits");
    assert_eq!(status.code(), Some(130), "cancelled exit code");
    assert!(partial_seen, "the export writes under a temporary name");
    assert!(files_in(&out).is_empty(), "left: {:?}", files_in(&out));
    assert_eq!(hashes(&fx.dir), before, "originals unchanged");
    let _ = std::fs::remove_dir_all(&out);
}

/// The version of the `opentimelineio` package the timeline test reads with.
const OTIO_VERSION: &str = "0.18.1";

/// The Python of `target/otio-venv`, with `opentimelineio` installed. Made here if missing
/// (which needs PyPI); build-aux/test.sh makes it before the tests enter their offline
/// network namespace.
fn otio_python() -> PathBuf {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let made = PYTHON.get_or_init(|| {
        // target/debug/roomtape → target
        let target = Path::new(BIN)
            .ancestors()
            .nth(2)
            .ok_or("no target folder above the binary")?;
        let venv = target.join("otio-venv");
        let python = venv.join("bin").join("python");
        let has_otio = || {
            Command::new(&python)
                .args([
                    "-c",
                    "import opentimelineio; print(opentimelineio.__version__)",
                ])
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == OTIO_VERSION)
        };
        if has_otio() {
            return Ok(python);
        }
        let run = |program: &Path, args: &[&str]| -> Result<(), String> {
            let out = Command::new(program)
                .args(args)
                .output()
                .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "{} {} failed: {}",
                    program.display(),
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr)
                ))
            }
        };
        let venv_arg = venv.to_str().ok_or("target folder is not UTF-8")?;
        run(Path::new("python3"), &["-m", "venv", venv_arg])?;
        let pip = venv.join("bin").join("pip");
        let package = format!("opentimelineio=={OTIO_VERSION}");
        run(&pip, &["install", "--quiet", &package])?;
        if has_otio() {
            Ok(python)
        } else {
            Err(format!(
                "{} has no opentimelineio after pip install",
                venv.display()
            ))
        }
    });
    match made {
        Ok(python) => python.clone(),
        Err(why) => panic!(
            "the OpenTimelineIO reader is missing and could not be installed ({why}). \
             Run build-aux/test.sh, or outside the test network namespace: \
             python3 -m venv target/otio-venv && \
             target/otio-venv/bin/pip install opentimelineio=={OTIO_VERSION}"
        ),
    }
}

/// `export --format otio` writes a timeline the `opentimelineio` package reads back with every
/// participant on a video and an audio track, each clip where the manifest puts it.
#[test]
fn otio_timeline_reads_back_with_opentimelineio() {
    let python = otio_python();
    let fx = fixture();
    let before = hashes(&fx.dir);
    let out = temp_dir("export-otio");
    let (code, text) = cli_export(&[
        fx.dir.to_str().expect("utf-8"),
        "--format",
        "otio",
        "--output",
        out.to_str().expect("utf-8"),
    ]);
    assert_eq!(code, Some(0), "{text}");
    let files = files_in(&out);
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].ends_with(".otio"), "{files:?}");
    let checker = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("otio_check.py");
    let read = Command::new(&python)
        .arg(&checker)
        .arg(out.join(&files[0]))
        .output()
        .expect("run the checker");
    assert!(
        read.status.success(),
        "opentimelineio cannot read the timeline: {}",
        String::from_utf8_lossy(&read.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&read.stdout).expect("the checker prints JSON");
    eprintln!("FIGURE otio: {report}");
    assert_eq!(report["otio_version"], OTIO_VERSION);
    let tracks = report["tracks"].as_array().expect("tracks");
    let frame = 1.0 / 30.0;
    assert_eq!(tracks.len(), 2 * fx.manifest.participants.len(), "{report}");
    for participant in &fx.manifest.participants {
        for kind in ["Video", "Audio"] {
            let name = format!("{} ({})", participant.label, kind.to_lowercase());
            let track = tracks
                .iter()
                .find(|t| t["name"] == name.as_str())
                .unwrap_or_else(|| panic!("no track {name} in {report}"));
            assert_eq!(track["kind"], kind, "{name}");
            let clips = track["clips"].as_array().expect("clips");
            assert_eq!(clips.len(), participant.segments.len(), "{name}");
            for (clip, segment) in clips.iter().zip(&participant.segments) {
                let start = clip["start"].as_f64().expect("start");
                let duration = clip["duration"].as_f64().expect("duration");
                let expected = segment.duration_ns.expect("finished segment");
                assert!(
                    (start - secs(segment.start_offset_ns)).abs() <= frame,
                    "{name}: starts at {start} s, recorded at {} s",
                    secs(segment.start_offset_ns)
                );
                assert!(
                    (duration - secs(expected)).abs() <= frame,
                    "{name}: {duration} s long, recorded {} s",
                    secs(expected)
                );
                assert_eq!(clip["rate"], 30.0, "{name}: one rate for every track");
                let url = clip["target_url"].as_str().expect("target_url");
                let target = Path::new(url);
                assert!(target.is_absolute() && target.is_file(), "{name}: {url}");
                assert_eq!(
                    target.canonicalize().ok(),
                    segment.path_in(&fx.dir).and_then(|p| p.canonicalize().ok()),
                    "{name}: references the recording"
                );
            }
        }
    }
    // Bob joined about 3 s in: his clips start there, after a gap.
    let bob = segment(&fx.manifest, "bob");
    assert!(secs(bob.start_offset_ns) > 2.0, "{bob:?}");
    assert_eq!(hashes(&fx.dir), before, "originals unchanged");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn bad_input_gets_a_clear_message_and_a_failure_code() {
    let missing = temp_dir("export-not-a-session");
    let (code, text) = cli_export(&[missing.to_str().expect("utf-8"), "--format", "mkv"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("not a session folder"), "{text}");
    let (code, _) = cli_export(&[missing.to_str().expect("utf-8"), "--format", "avi"]);
    assert_eq!(code, Some(2), "unknown format is a usage error");
    std::fs::write(missing.join("session.json"), b"{ broken").expect("write");
    let (code, text) = cli_export(&[missing.to_str().expect("utf-8"), "--format", "mkv"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("session.json"), "{text}");
    let _ = std::fs::remove_dir_all(&missing);
}

#[test]
fn four_participants_export_from_the_command_line() {
    let (dir, out) = {
        let _serial = serial();
        let out = temp_dir("export-four");
        let dir = record_session(
            &out,
            "exp4",
            &[
                ("p1", "h264", 5.0, 0.0),
                ("p2", "h264", 5.0, 0.0),
                ("p3", "h264", 5.0, 0.0),
                ("p4", "h264", 5.0, 0.0),
            ],
            "320x180",
        );
        (dir, out)
    };
    let before = hashes(&dir);
    let library: Vec<SessionSummary> = scan_recordings(&out);
    assert_eq!(library.len(), 1);
    assert_eq!(library[0].participant_count, 4);

    let mp4_out = out.join("mp4");
    let (code, text) = cli_export(&[
        dir.to_str().expect("utf-8"),
        "--format",
        "mp4",
        "--copy-only",
        "--output",
        mp4_out.to_str().expect("utf-8"),
    ]);
    assert_eq!(code, Some(0), "{text}");
    let files = files_in(&mp4_out);
    assert_eq!(files.len(), 4, "{files:?}");
    let manifest = SessionManifest::load(&dir).expect("manifest");
    for participant in &manifest.participants {
        let original = &participant.segments[0];
        let stem = Path::new(&original.file).file_stem().expect("stem");
        let name = format!("{}.mp4", stem.to_string_lossy());
        assert!(files.contains(&name), "{name} in {files:?}");
        let got = discover(&mp4_out.join(&name));
        let recorded = discover(&dir.join(&original.file));
        assert_eq!(got.container.as_deref(), Some("video/quicktime"), "{name}");
        assert_eq!(
            got.video,
            ["video/x-h264"],
            "{name}: copied, not re-encoded"
        );
        assert_eq!(got.audio, ["audio/x-opus"], "{name}: Opus in MP4");
        assert_eq!((got.width, got.height), (recorded.width, recorded.height));
        assert!(
            (got.duration_s - recorded.duration_s).abs() < 0.1,
            "{name}: {} s exported, {} s recorded",
            got.duration_s,
            recorded.duration_s
        );
    }

    let grid_out = out.join("grid");
    let (code, text) = cli_export(&[
        dir.to_str().expect("utf-8"),
        "--format",
        "grid",
        "--output",
        grid_out.to_str().expect("utf-8"),
    ]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("progress 100%"), "{text}");
    let grid = files_in(&grid_out);
    assert_eq!(grid.len(), 1, "{grid:?}");
    // A 2×2 grid: every quadrant shows its participant's video at some point (its corner
    // turns from the card's grey to the black around the video).
    let corners = [(0, 0, 8, 8), (160, 0, 8, 8), (0, 90, 8, 8), (160, 90, 8, 8)];
    let frames = region_brightness(&grid_out.join(&grid[0]), (320, 180), &corners);
    for q in 0..4 {
        assert!(
            video_span(&frames, q).is_some(),
            "quadrant {q} never shows anyone"
        );
    }
    assert_eq!(hashes(&dir), before, "originals unchanged");
    let _ = std::fs::remove_dir_all(&out);
}

/// Copies a session folder's files (not its subfolders) into `to`.
fn copy_session(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create copy");
    for entry in std::fs::read_dir(from)
        .expect("read session")
        .filter_map(Result::ok)
    {
        if entry.path().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy file");
        }
    }
}

/// Makes a copy of the fixture look like the recorder died: manifest still `recording`, no
/// durations, Bob's segment only as its per-track file, nothing written for two minutes.
fn crashed_copy(to: &Path) -> PathBuf {
    let dir = unfinished_copy(to, "exp2 crashed");
    let past = std::time::SystemTime::now() - Duration::from_secs(120);
    for name in files_in(&dir) {
        std::fs::File::options()
            .write(true)
            .open(dir.join(&name))
            .and_then(|f| f.set_modified(past))
            .expect("backdate");
    }
    dir
}

/// A copy of the fixture with its manifest still `recording` (files just written: it looks
/// like a recording in progress).
fn unfinished_copy(to: &Path, name: &str) -> PathBuf {
    let fx = fixture();
    let dir = to.join(name);
    copy_session(&fx.dir, &dir);
    let mut manifest = fx.manifest.clone();
    manifest.state = roomtape::library::SessionState::Recording;
    manifest.ended_unix_ms = None;
    manifest.started_unix_ms -= 60_000;
    for participant in &mut manifest.participants {
        for segment in &mut participant.segments {
            segment.duration_ns = None;
            segment.end_reason = None;
            if participant.id == "bob" {
                let track = format!("{}.video-and-audio.mkv", participant.id);
                std::fs::rename(dir.join(&segment.file), dir.join(&track)).expect("rename");
                segment.track_files = vec![track];
            }
        }
    }
    manifest.write_atomic(&dir).expect("write manifest");
    dir
}

#[test]
fn a_crashed_session_still_exports() {
    let out = temp_dir("export-crashed");
    let dir = crashed_copy(&out);
    let before = hashes(&dir);
    let preset = presets::by_id("mkv").expect("preset");
    let files = export::export(
        &dir,
        &preset,
        &dir.join("export"),
        &CancelFlag::new(),
        &mut |_| {},
    )
    .expect("exports from track files");
    assert_eq!(files.len(), 2);
    for file in &files {
        let got = discover(file);
        assert_eq!(got.video, ["video/x-vp8"], "{}", file.display());
        assert!(
            got.duration_s > 2.0,
            "{}: {} s",
            file.display(),
            got.duration_s
        );
    }
    let library = scan_recordings(&out);
    assert_eq!(library.len(), 1);
    assert!(library[0].recovered, "listed as recovered");
    assert_eq!(hashes(&dir), before, "originals unchanged");
    let _ = std::fs::remove_dir_all(&out);
}

/// The Recordings page under Xvfb: lists the sessions (a crashed one marked), makes
/// thumbnails, follows a session appearing on disk, and renders.
#[test]
fn recordings_page_lists_sessions_and_follows_the_folder() {
    assert!(
        std::env::var_os("DISPLAY").is_some(),
        "DISPLAY is not set: run the UI tests under an X server, e.g. \
         xvfb-run -a cargo test --test export"
    );
    let fx = fixture();
    let root = temp_dir("export-ui");
    let cache = root.join("cache");
    let library_dir = root.join("library");
    copy_session(&fx.dir, &library_dir.join("exp2 finished"));
    crashed_copy(&library_dir);
    let live = unfinished_copy(&library_dir, "exp2 live");
    // A recorder writes its track files all the time: keep touching the live copy's, so that
    // it stays live however slowly the page starts on a loaded machine.
    let writing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let toucher = {
        let writing = writing.clone();
        let track = live.join("bob.video-and-audio.mkv");
        std::thread::spawn(move || {
            while writing.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(file) = std::fs::File::options().append(true).open(&track) {
                    let _ = file.set_modified(std::time::SystemTime::now());
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        })
    };
    let shot = root.join("recordings.png");
    let mut app = Command::new(BIN)
        .arg("--test-hook")
        .arg(format!("recordings-dir={}", library_dir.display()))
        .arg("--test-hook")
        .arg(format!("screenshot={}", shot.display()))
        .args(["--test-hook", "screenshot-delay=6"])
        .env("XDG_CACHE_HOME", &cache)
        .env("GSETTINGS_BACKEND", "memory")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the app");
    let rx = lines_of(app.stdout.take().expect("stdout"));
    let wait_report = |what: &str| {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let line = rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .unwrap_or_else(|_| panic!("the page never listed {what}"));
            if line.starts_with("recordings-page") && line.contains(what) {
                return line;
            }
        }
    };
    let first = wait_report("sessions=3");
    assert!(
        first.contains("segments=6") && first.contains("recovered=1") && first.contains("live=1"),
        "{first}"
    );
    // A session appears on disk while the page is open.
    copy_session(&fx.dir, &library_dir.join("exp2 copied later"));
    wait_report("sessions=4");

    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = app.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the app did not quit after its screenshot"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "app exit {status:?}");
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
    let thumbnails = files_in(&cache.join("roomtape").join("thumbnails"));
    assert!(
        thumbnails.iter().filter(|n| n.ends_with(".png")).count() >= 2,
        "thumbnails of the expanded session: {thumbnails:?}"
    );
    writing.store(false, std::sync::atomic::Ordering::Relaxed);
    let _ = toucher.join();
    let _ = std::fs::remove_dir_all(&root);
}

/// The Export dialog runs an export off the main thread, shows progress, and reports the files.
#[test]
fn export_dialog_exports_with_progress() {
    assert!(
        std::env::var_os("DISPLAY").is_some(),
        "DISPLAY is not set: run the UI tests under an X server"
    );
    let fx = fixture();
    let root = temp_dir("export-dialog");
    let session = root.join("library").join("exp2");
    copy_session(&fx.dir, &session);
    let before = hashes(&session);
    let output = Command::new(BIN)
        .arg("--test-hook")
        .arg(format!("recordings-dir={}", root.join("library").display()))
        .args(["--test-hook", "recordings-export=audio-wav"])
        .arg("--test-hook")
        .arg(format!("screenshot={}", root.join("shot.png").display()))
        .args(["--test-hook", "screenshot-delay=8"])
        .env("XDG_CACHE_HOME", root.join("cache"))
        .env("GSETTINGS_BACKEND", "memory")
        .stderr(Stdio::null())
        .output()
        .expect("run the app");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("export-dialog done files=2"), "{stdout}");
    let fractions: Vec<f64> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("export-dialog progress="))
        .filter_map(|f| f.parse().ok())
        .collect();
    assert!(fractions.len() > 1, "progress was shown: {stdout}");
    assert!(fractions.windows(2).all(|w| w[1] >= w[0]), "{fractions:?}");
    assert_eq!(files_in(&session.join("export")), ["alice.wav", "bob.wav"]);
    assert_eq!(hashes(&session), before, "originals unchanged");
    let _ = std::fs::remove_dir_all(&root);
}
