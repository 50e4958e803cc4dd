//! `roomtape record`: the headless recorder.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashMap};
use std::io::{IsTerminal, Write};
use std::rc::Rc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{RecordArgs, RecordExit};
use crate::library::disk_space::{DiskReport, format_duration, format_size};
use crate::media::engine::{Engine, EngineConfig, EngineEvent, StartRecordingError};
use crate::media::ice::IceConfig;
use crate::media::recorder::RecordOptions;
use crate::protocol::crypto::Password;
use crate::room::RoomEvent;

/// Builds the engine configuration the command line asks for.
pub fn engine_config(args: &RecordArgs) -> anyhow::Result<EngineConfig> {
    let room = args.room.with_link_resolved()?;
    let password = room
        .password
        .as_deref()
        .map(Password::parse)
        .unwrap_or(Password::Default);
    let mut config = EngineConfig::new(&room.server, &room.room, password);
    config.salt = room.salt.clone();
    config.ice = IceConfig {
        stun: IceConfig::parse_stun(args.stun.as_deref(), Some("stun://stun.l.google.com:19302")),
        turn: turn_servers(args)?,
        relay_only: args.relay_only,
        loopback: false,
    };
    config.wanted_streams = args
        .streams
        .iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    config.want_audio = !args.no_audio;
    config.want_video = !args.no_video;
    config.prefer_video_codec = args.prefer_codec.map(|c| c.wire_name().to_owned());
    Ok(config)
}

/// TURN servers from --turn, --turn-file (one per line) and ROOMTAPE_TURN (separated by white
/// space): the last two keep credentials out of the process list.
fn turn_servers(args: &RecordArgs) -> anyhow::Result<Vec<String>> {
    let mut servers = args.turn.clone();
    if let Some(path) = &args.turn_file {
        let text = std::fs::read_to_string(path).map_err(|err| {
            anyhow::anyhow!("cannot read the TURN file {}: {err}", path.display())
        })?;
        servers.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_owned),
        );
    }
    if let Ok(text) = std::env::var("ROOMTAPE_TURN") {
        servers.extend(text.split_whitespace().map(str::to_owned));
    }
    Ok(servers)
}

pub fn run(args: RecordArgs) -> RecordExit {
    match record(args) {
        Ok(exit) => exit,
        Err(err) => {
            let _ = std::io::stdout().flush();
            eprintln!("roomtape: {err:#}");
            match err.downcast_ref::<StartRecordingError>() {
                Some(StartRecordingError::NotEnoughSpace { .. }) => RecordExit::DiskFloor,
                _ => RecordExit::Failed,
            }
        }
    }
}

/// What the run has seen, for the status line, the summary and the exit code.
#[derive(Default)]
struct Progress {
    started: Option<Instant>,
    present: BTreeSet<String>,
    disk: Option<DiskReport>,
    stopping: bool,
    disk_floor: bool,
    all_ok: bool,
}

fn record(args: RecordArgs) -> anyhow::Result<RecordExit> {
    crate::media::init()?;
    let context = glib::MainContext::default();
    let main_loop = glib::MainLoop::new(Some(&context), false);
    let mut config = engine_config(&args)?;
    if let Some(size) = &args.decode_previews {
        let (_, height) = super::parse_resolution(size)?;
        config.previews = Some(crate::media::preview::PreviewConfig {
            height,
            framerate: 15,
        });
    }
    let room_name = config.room.clone();
    let (engine, events) = Engine::start(config)?;
    let console = Rc::new(Console::new(args.json_events));
    let _inhibitor = (!args.no_record).then(|| {
        super::sleep_inhibitor::SleepInhibitor::take(&format!("Recording room {room_name}"))
    });

    let session_dir = if args.no_record {
        None
    } else {
        let output = args
            .output
            .clone()
            .unwrap_or_else(crate::library::naming::default_recordings_dir);
        let dir = engine.start_recording(
            &output,
            RecordOptions {
                audio: !args.no_audio,
                video: !args.no_video,
                min_free: args.min_free,
                split_every: args.split_every,
            },
        )?;
        console.line(&format!(
            "Recording room {room_name:?} into {}",
            dir.display()
        ));
        Some(dir)
    };

    let progress = Rc::new(RefCell::new(Progress {
        started: Some(Instant::now()),
        all_ok: true,
        ..Default::default()
    }));
    let stop = {
        let engine = engine.clone();
        let main_loop = main_loop.clone();
        let progress = progress.clone();
        move || {
            if std::mem::replace(&mut progress.borrow_mut().stopping, true) {
                return;
            }
            let engine = engine.clone();
            let main_loop = main_loop.clone();
            let progress = progress.clone();
            glib::spawn_future_local(async move {
                let ok = engine.shutdown().await;
                progress.borrow_mut().all_ok = ok;
                // Let the last events print.
                glib::timeout_future(Duration::from_millis(100)).await;
                main_loop.quit();
            });
        }
    };
    {
        let console = console.clone();
        let progress = progress.clone();
        let stop = stop.clone();
        glib::spawn_future_local(async move {
            while let Ok(event) = events.recv().await {
                let stop_now = track_progress(&mut progress.borrow_mut(), &event);
                if !(progress.borrow().stopping && is_our_own_disconnect(&event)) {
                    print_event(&console, &event);
                }
                if stop_now {
                    stop();
                }
            }
        });
    }
    if console.wants_status() && session_dir.is_some() {
        let console = console.clone();
        let progress = progress.clone();
        glib::timeout_add_local(STATUS_EVERY, move || {
            let progress = progress.borrow();
            if progress.stopping {
                console.clear_status();
                return glib::ControlFlow::Break;
            }
            console.status(&status_line(&progress));
            glib::ControlFlow::Continue
        });
    }
    for signal in [libc_sigint(), libc_sigterm()] {
        let stop = stop.clone();
        glib::unix_signal_add_local(signal, move || {
            stop();
            glib::ControlFlow::Continue
        });
    }
    if let Some(seconds) = args.duration {
        let stop = stop.clone();
        glib::timeout_add_local_once(Duration::from_secs_f64(seconds.max(0.0)), stop);
    }
    main_loop.run();
    console.clear_status();
    let progress = progress.borrow();
    let Some(dir) = session_dir else {
        return Ok(if progress.all_ok {
            RecordExit::Recorded
        } else {
            RecordExit::Failed
        });
    };
    let recorded = super::summary::recorded_files(&dir);
    if recorded.is_empty() {
        let removed = super::summary::remove_if_empty(&dir);
        console.line(&if removed {
            format!("Nobody was recorded; {} was removed", dir.display())
        } else {
            format!("Nobody was recorded in {}", dir.display())
        });
    } else if !console.json {
        console.line(&super::summary::table(&recorded));
    }
    let _ = std::io::stdout().flush();
    Ok(if progress.disk_floor {
        RecordExit::DiskFloor
    } else if !progress.all_ok {
        RecordExit::Failed
    } else if recorded.is_empty() {
        RecordExit::NobodyRecorded
    } else {
        RecordExit::Recorded
    })
}

/// How often the status line is refreshed.
const STATUS_EVERY: Duration = Duration::from_secs(2);

/// Updates what the run has seen; returns whether the recording must stop now.
fn track_progress(progress: &mut Progress, event: &EngineEvent) -> bool {
    match event {
        EngineEvent::Room(RoomEvent::Joined { id, .. }) => {
            progress.present.insert(id.clone());
        }
        EngineEvent::Room(RoomEvent::Left { id, .. }) => {
            progress.present.remove(id);
        }
        EngineEvent::DiskSpace { report, .. } | EngineEvent::DiskLow { report, .. } => {
            progress.disk = Some(*report);
        }
        EngineEvent::DiskFloor { .. } => {
            progress.disk_floor = true;
            return true;
        }
        _ => {}
    }
    false
}

/// The socket closing because we leave is no news.
fn is_our_own_disconnect(event: &EngineEvent) -> bool {
    matches!(event, EngineEvent::Room(RoomEvent::SignalingLost { .. }))
}

/// "00:12:31 · 3 participants · 412.3 MB written · 18.2 GB free, about 6 h 10 min left"
fn status_line(progress: &Progress) -> String {
    let elapsed = progress
        .started
        .map(|s| s.elapsed().as_secs())
        .unwrap_or_default();
    let people = match progress.present.len() {
        1 => "1 participant".to_owned(),
        n => format!("{n} participants"),
    };
    let mut line = format!(
        "{:02}:{:02}:{:02} · {people}",
        elapsed / 3600,
        (elapsed % 3600) / 60,
        elapsed % 60
    );
    if let Some(disk) = &progress.disk {
        line.push_str(&format!(
            " · {} written · {} free",
            format_size(disk.written_bytes),
            format_size(disk.free_bytes)
        ));
        if let Some(left) = disk.time_left {
            line.push_str(&format!(", about {} left", format_duration(left)));
        }
    }
    line
}

/// Where the lines go: events on stdout, and on a terminal one status line kept at the bottom.
struct Console {
    json: bool,
    terminal: bool,
    status_shown: Cell<bool>,
    /// Participant ids and the names they go by, for lines in words.
    names: RefCell<HashMap<String, String>>,
}

impl Console {
    fn new(json: bool) -> Console {
        Console {
            json,
            terminal: std::io::stdout().is_terminal(),
            status_shown: Cell::new(false),
            names: RefCell::new(HashMap::new()),
        }
    }

    fn name(&self, id: &str) -> String {
        self.names
            .borrow()
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.to_owned())
    }

    fn wants_status(&self) -> bool {
        self.terminal && !self.json
    }

    /// A line of output (an event, in words or JSON). Human lines are left out in JSON mode.
    fn line(&self, text: &str) {
        if self.json && !text.starts_with('{') {
            return;
        }
        self.clear_status();
        println!("{text}");
    }

    fn status(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        let _ = write!(out, "\r\x1b[2K{text}");
        let _ = out.flush();
        self.status_shown.set(true);
    }

    fn clear_status(&self) {
        if self.status_shown.replace(false) {
            let mut out = std::io::stdout().lock();
            let _ = write!(out, "\r\x1b[2K");
            let _ = out.flush();
        }
    }
}

const fn libc_sigint() -> i32 {
    2
}

const fn libc_sigterm() -> i32 {
    15
}

fn print_event(console: &Console, event: &EngineEvent) {
    let json_events = console.json;
    let line = match event {
        EngineEvent::Room(room_event) => {
            if json_events {
                Some(room_event.to_json_line())
            } else {
                describe(room_event, &mut console.names.borrow_mut())
            }
        }
        EngineEvent::SegmentFinished {
            participant,
            file,
            ok,
            error,
            failure,
        } => Some(if json_events {
            json!({"event": "segment_finished", "id": participant, "file": file, "ok": ok, "error": error, "failure": failure}).to_string()
        } else if *ok {
            format!("{}: saved {}", console.name(participant), file.display())
        } else {
            format!(
                "{}: could not finalise {}: {}",
                console.name(participant),
                file.display(),
                error.as_deref().unwrap_or("unknown error")
            )
        }),
        EngineEvent::RecordingStarted { dir } => {
            json_events.then(|| json!({"event": "recording_started", "dir": dir}).to_string())
        }
        EngineEvent::RecordingFinished { dir, all_ok } => Some(if json_events {
            json!({"event": "recording_finished", "dir": dir, "ok": all_ok}).to_string()
        } else {
            format!("Session saved in {}", dir.display())
        }),
        EngineEvent::Fatal(message) => Some(if json_events {
            json!({"event": "fatal", "message": message}).to_string()
        } else {
            format!("Error: {message}")
        }),
        EngineEvent::FirstKeyframe { participant, kind, after_ms } => json_events.then(|| {
            json!({"event": "first_keyframe", "id": participant, "kind": kind, "after_ms": after_ms}).to_string()
        }),
        EngineEvent::FolderLost {
            dir,
            message,
            recreated,
        } => Some(if json_events {
            json!({"event": "recording_folder_lost", "dir": dir, "recreated": recreated, "message": message}).to_string()
        } else {
            format!("Error: {message}")
        }),
        EngineEvent::TrackRefused {
            participant,
            kind,
            encoding,
            reason,
        } => Some(if json_events {
            json!({"event": "track_refused", "id": participant, "kind": kind, "encoding": encoding, "reason": reason}).to_string()
        } else {
            format!("{}: {reason}", console.name(participant))
        }),
        EngineEvent::DiskLow { dir, report } => Some(if json_events {
            json!({"event": "disk_low", "dir": dir, "free_bytes": report.free_bytes, "written_bytes": report.written_bytes, "bytes_per_sec": report.bytes_per_sec, "time_left_s": report.time_left.map(|t| t.as_secs())}).to_string()
        } else {
            format!(
                "Disk space is low: {} free in {}, about {} of recording left",
                format_size(report.free_bytes),
                dir.display(),
                report.time_left.map(format_duration).unwrap_or_default()
            )
        }),
        EngineEvent::DiskFloor {
            dir,
            free_bytes,
            floor_bytes,
        } => Some(if json_events {
            json!({"event": "disk_floor", "dir": dir, "free_bytes": free_bytes, "floor_bytes": floor_bytes}).to_string()
        } else {
            format!(
                "Stopping: only {} free in {}, and --min-free keeps {}; every file is being finished",
                format_size(*free_bytes),
                dir.display(),
                format_size(*floor_bytes)
            )
        }),
        EngineEvent::DiskSpace { .. }
        | EngineEvent::Track { .. }
        | EngineEvent::PeerClosed { .. }
        | EngineEvent::Preview(_) => None,
    };
    if let Some(line) = line {
        console.line(&line);
    }
}

/// A room event in words, participants named as people know them.
fn describe(event: &RoomEvent, names: &mut HashMap<String, String>) -> Option<String> {
    let name = |id: &str| names.get(id).cloned().unwrap_or_else(|| id.to_owned());
    Some(match event {
        RoomEvent::SignalingConnected { .. } => "Connected to the signaling server".to_owned(),
        RoomEvent::SignalingLost { reason, .. } => format!("Signaling lost: {reason}"),
        RoomEvent::ServerMessage { message, .. } => format!("Server says: {message}"),
        RoomEvent::Joined { id, stream_id, .. } => {
            names.entry(id.clone()).or_insert_with(|| stream_id.clone());
            format!("{stream_id}: joined")
        }
        RoomEvent::Label { id, label, .. } => {
            let before = name(id);
            names.insert(id.clone(), label.clone());
            if before == *label {
                return None;
            }
            format!("{before}: is {label}")
        }
        RoomEvent::Left { id, reason, .. } => format!("{}: left ({})", name(id), reason.as_str()),
        RoomEvent::SelectedPair { id, pair, .. } => format!(
            "{}: using {} {} <-> {} {}",
            name(id),
            pair.local_kind.as_str(),
            pair.local_address,
            pair.remote_kind.as_str(),
            pair.remote_address
        ),
        RoomEvent::MediaFlowing { id, kind, .. } => {
            format!(
                "{}: {} flowing",
                name(id),
                format!("{kind:?}").to_lowercase()
            )
        }
        RoomEvent::Watchdog {
            id, explanation, ..
        } => format!("{}: {explanation}", name(id)),
        _ => return None,
    })
}
