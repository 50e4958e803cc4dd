//! Real parts for integration tests: the `roomtape` binary as signaling server, synthetic
//! publishers and headless recorder, all on 127.0.0.1 (the test command runs every test in a
//! loopback-only network namespace).

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod desktop_bus;
pub mod peers;

pub const BIN: &str = env!("CARGO_BIN_EXE_roomtape");

static HEAVY: Mutex<()> = Mutex::new(());

/// WebRTC tests are CPU-heavy on two cores: run them one at a time.
pub fn serial() -> MutexGuard<'static, ()> {
    HEAVY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn signal(child: &Child, name: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status();
}

/// The lines of a child's output, read on a thread of their own so that waits can time out.
pub fn lines_of(output: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(output).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// A child process that is killed when dropped.
pub struct Proc {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    pub seen: Vec<String>,
}

impl Proc {
    pub fn spawn(args: &[&str]) -> Proc {
        Proc::spawn_program(BIN, args)
    }

    /// Any program (a wrapper such as `unshare`), stdout read line by line like the others.
    pub fn spawn_program(program: &str, args: &[&str]) -> Proc {
        let mut child = Command::new(program)
            .args(args)
            .env("RUST_LOG", "roomtape=info")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn roomtape");
        let stdout = child.stdout.take().expect("stdout");
        Proc::from_child(child, lines_of(stdout))
    }

    /// A child started elsewhere, with its stdout already being read.
    pub fn from_child(child: Child, lines: mpsc::Receiver<String>) -> Proc {
        Proc {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a stdout line matching `pred`.
    pub fn wait_line(&mut self, timeout: Duration, pred: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + timeout;
        for line in &self.seen {
            if pred(line) {
                return Some(line.clone());
            }
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if pred(&line) {
                        return Some(line);
                    }
                }
                Err(_) => return None,
            }
        }
    }

    /// Waits for a JSON event line matching `pred`.
    pub fn wait_event(
        &mut self,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        self.wait_line(timeout, |line| {
            serde_json::from_str::<Value>(line).is_ok_and(|v| pred(&v))
        })
        .and_then(|line| serde_json::from_str(&line).ok())
    }

    /// Like [`Proc::wait_event`], but the matched line is taken out of `seen`, so that
    /// waiting again finds the next such event rather than the same one.
    pub fn take_event(
        &mut self,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        let line = self.wait_line(timeout, |line| {
            serde_json::from_str::<Value>(line).is_ok_and(|v| pred(&v))
        })?;
        if let Some(at) = self.seen.iter().position(|seen| *seen == line) {
            self.seen.remove(at);
        }
        serde_json::from_str(&line).ok()
    }

    /// Every JSON event seen so far (after draining what is buffered).
    pub fn events(&mut self) -> Vec<Value> {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
        self.seen
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    pub fn terminate(&self) {
        signal(&self.child, "TERM");
    }

    pub fn kill9(&self) {
        signal(&self.child, "KILL");
    }

    /// Sends SIGTERM and waits for the exit; returns whether it exited with 0.
    pub fn stop(&mut self, timeout: Duration) -> bool {
        self.terminate();
        self.wait_exit(timeout)
    }

    pub fn wait_exit(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    // Collect what is left to read.
                    std::thread::sleep(Duration::from_millis(100));
                    let _ = self.events();
                    return status.success();
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => return false,
            }
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `roomtape serve` on a free loopback port.
pub fn serve(dialect: &str) -> (Proc, String) {
    let mut server = Proc::spawn(&["serve", "--listen", "127.0.0.1:0", "--dialect", dialect]);
    let line = server
        .wait_line(Duration::from_secs(10), |l| l.contains("ws://127.0.0.1:"))
        .expect("server announces its URL");
    let url = line[line.find("ws://").expect("url")..].trim().to_owned();
    (server, url)
}

/// `roomtape publish` with extra arguments.
pub fn publish(url: &str, room: &str, stream: &str, password: &str, extra: &[&str]) -> Proc {
    let mut args = vec![
        "publish",
        "--server",
        url,
        "--room",
        room,
        "--stream",
        stream,
        "--password",
        password,
    ];
    args.extend_from_slice(extra);
    Proc::spawn(&args)
}

/// The arguments of `roomtape record --json-events` on loopback (no STUN) for one room.
pub fn record_args<'a>(url: &'a str, room: &'a str, password: &'a str) -> Vec<&'a str> {
    vec![
        "record",
        "--server",
        url,
        "--room",
        room,
        "--password",
        password,
        "--stun",
        "false",
        "--json-events",
    ]
}

/// `roomtape record --json-events` with extra arguments.
pub fn record(url: &str, room: &str, password: &str, extra: &[&str]) -> Proc {
    let mut args = record_args(url, room, password);
    args.extend_from_slice(extra);
    Proc::spawn(&args)
}

/// Reads "frames_sent video=N audio=M" from a stopped publisher.
pub fn frames_sent(publisher: &mut Proc) -> (u64, u64) {
    let line = publisher
        .wait_line(Duration::from_secs(5), |l| l.starts_with("frames_sent"))
        .expect("publisher reports frames sent");
    let number = |key: &str| -> u64 {
        line.split_whitespace()
            .find_map(|part| part.strip_prefix(key))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    (number("video="), number("audio="))
}

/// A fresh, empty folder under the system temp dir.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("roomtape-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// The single session folder inside `dir`.
pub fn session_dir(dir: &Path) -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read output dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("session.json").exists())
        .collect();
    assert_eq!(
        found.len(),
        1,
        "exactly one session folder in {}",
        dir.display()
    );
    found.remove(0)
}

pub fn manifest(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("session.json")).expect("manifest"))
        .expect("manifest is JSON")
}

/// What GStreamer's discoverer and a demuxing pass say about a recorded file.
#[derive(Debug, Default)]
pub struct MediaReport {
    pub duration_s: f64,
    pub video_codec: Option<String>,
    pub audio_codec: Option<String>,
    pub video_frames: u64,
    pub audio_frames: u64,
    pub first_video_is_key: Option<bool>,
    pub width: u32,
    pub height: u32,
}

/// GStreamer's discoverer on a file; a file it cannot read fails the test.
pub fn discover_info(path: &Path) -> gst_pbutils::DiscovererInfo {
    gst::init().expect("gst init");
    let discoverer =
        gst_pbutils::Discoverer::new(gst::ClockTime::from_seconds(20)).expect("discoverer");
    let uri = glib::filename_to_uri(path, None).expect("uri");
    discoverer
        .discover_uri(&uri)
        .unwrap_or_else(|e| panic!("{} does not play: {e}", path.display()))
}

pub fn inspect(path: &Path) -> MediaReport {
    use gst::prelude::*;
    use gst_pbutils::prelude::*;
    let info = discover_info(path);
    let mut report = MediaReport {
        duration_s: info.duration().map(|d| d.seconds_f64()).unwrap_or(0.0),
        ..Default::default()
    };
    for stream in info.video_streams() {
        report.video_codec = stream
            .caps()
            .and_then(|c| c.structure(0).map(|s| s.name().to_string()));
        report.width = stream.width();
        report.height = stream.height();
    }
    for stream in info.audio_streams() {
        report.audio_codec = stream
            .caps()
            .and_then(|c| c.structure(0).map(|s| s.name().to_string()));
    }
    // Count frames by demuxing.
    let pipeline = gst::Pipeline::new();
    let src = gst::ElementFactory::make("filesrc")
        .property("location", path.to_string_lossy().as_ref())
        .build()
        .unwrap();
    let demux = gst::ElementFactory::make("matroskademux").build().unwrap();
    pipeline.add_many([&src, &demux]).unwrap();
    src.link(&demux).unwrap();
    let counts = std::sync::Arc::new(Mutex::new((0u64, 0u64, None::<bool>)));
    let pipeline_weak = pipeline.downgrade();
    let counts_for_pads = counts.clone();
    demux.connect_pad_added(move |_, pad| {
        let Some(pipeline) = pipeline_weak.upgrade() else {
            return;
        };
        let is_video = pad.name().starts_with("video");
        let sink = gst::ElementFactory::make("fakesink")
            .property("sync", false)
            .build()
            .unwrap();
        let queue = gst::ElementFactory::make("queue").build().unwrap();
        pipeline.add_many([&queue, &sink]).unwrap();
        queue.link(&sink).unwrap();
        queue.sync_state_with_parent().unwrap();
        sink.sync_state_with_parent().unwrap();
        let counts = counts_for_pads.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(buffer) = info.buffer() {
                let mut c = counts.lock().unwrap();
                if is_video {
                    if c.2.is_none() {
                        c.2 = Some(!buffer.flags().contains(gst::BufferFlags::DELTA_UNIT));
                    }
                    c.0 += 1;
                } else {
                    c.1 += 1;
                }
            }
            gst::PadProbeReturn::Ok
        });
        pad.link(&queue.static_pad("sink").unwrap()).unwrap();
    });
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let _ = bus.timed_pop_filtered(
        gst::ClockTime::from_seconds(60),
        &[gst::MessageType::Eos, gst::MessageType::Error],
    );
    pipeline.set_state(gst::State::Null).unwrap();
    let c = counts.lock().unwrap();
    report.video_frames = c.0;
    report.audio_frames = c.1;
    report.first_video_is_key = c.2;
    report
}

/// What decoding a file's video track frame by frame found.
#[derive(Debug, Default)]
pub struct DecodeReport {
    /// Decoded frames per picture size, in the order the sizes first appeared.
    pub sizes: Vec<((i32, i32), u64)>,
    pub decoded_frames: u64,
    /// Whether the decoder or demuxer reported an error.
    pub error: Option<String>,
}

impl DecodeReport {
    pub fn distinct_sizes(&self) -> usize {
        self.sizes.len()
    }
}

/// Decodes the video track of a Matroska file with GStreamer's own decoders (decodebin), and
/// counts frames per decoded picture size.
pub fn decode_video(path: &Path) -> DecodeReport {
    use gst::prelude::*;
    gst::init().expect("gst init");
    let pipeline = gst::Pipeline::new();
    let src = gst::ElementFactory::make("filesrc")
        .property("location", path.to_string_lossy().as_ref())
        .build()
        .unwrap();
    let demux = gst::ElementFactory::make("matroskademux").build().unwrap();
    pipeline.add_many([&src, &demux]).unwrap();
    src.link(&demux).unwrap();
    let report = std::sync::Arc::new(Mutex::new(DecodeReport::default()));
    let pipeline_weak = pipeline.downgrade();
    let for_pads = report.clone();
    demux.connect_pad_added(move |_, pad| {
        let Some(pipeline) = pipeline_weak.upgrade() else {
            return;
        };
        let queue = gst::ElementFactory::make("queue").build().unwrap();
        pipeline.add(&queue).unwrap();
        queue.sync_state_with_parent().unwrap();
        if !pad.name().starts_with("video") {
            let sink = gst::ElementFactory::make("fakesink")
                .property("sync", false)
                .build()
                .unwrap();
            pipeline.add(&sink).unwrap();
            sink.sync_state_with_parent().unwrap();
            queue.link(&sink).unwrap();
            pad.link(&queue.static_pad("sink").unwrap()).unwrap();
            return;
        }
        let decode = gst::ElementFactory::make("decodebin").build().unwrap();
        pipeline.add(&decode).unwrap();
        decode.sync_state_with_parent().unwrap();
        queue.link(&decode).unwrap();
        let pipeline_weak = pipeline.downgrade();
        let report = for_pads.clone();
        decode.connect_pad_added(move |_, decoded| {
            let Some(pipeline) = pipeline_weak.upgrade() else {
                return;
            };
            let sink = gst::ElementFactory::make("fakesink")
                .property("sync", false)
                .build()
                .unwrap();
            pipeline.add(&sink).unwrap();
            sink.sync_state_with_parent().unwrap();
            let report = report.clone();
            decoded.add_probe(gst::PadProbeType::BUFFER, move |pad, _| {
                let size = pad.current_caps().and_then(|caps| {
                    let s = caps.structure(0)?;
                    Some((s.get::<i32>("width").ok()?, s.get::<i32>("height").ok()?))
                });
                if let Some(size) = size {
                    let mut r = report.lock().unwrap();
                    r.decoded_frames += 1;
                    match r.sizes.iter_mut().find(|(known, _)| *known == size) {
                        Some((_, n)) => *n += 1,
                        None => r.sizes.push((size, 1)),
                    }
                }
                gst::PadProbeReturn::Ok
            });
            decoded.link(&sink.static_pad("sink").unwrap()).unwrap();
        });
        pad.link(&queue.static_pad("sink").unwrap()).unwrap();
    });
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let message = bus.timed_pop_filtered(
        gst::ClockTime::from_seconds(120),
        &[gst::MessageType::Eos, gst::MessageType::Error],
    );
    let error = match message.as_ref().map(|m| m.view()) {
        Some(gst::MessageView::Error(err)) => Some(format!("{} ({:?})", err.error(), err.debug())),
        Some(_) => None,
        None => Some("decoding timed out".to_owned()),
    };
    pipeline.set_state(gst::State::Null).unwrap();
    let mut report = std::mem::take(&mut *report.lock().unwrap());
    report.error = error;
    report
}
