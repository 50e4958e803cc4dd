//! `roomtape record`: the headless recorder.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{IsTerminal, Write};
use std::rc::Rc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{RecordArgs, RecordExit};
use crate::library::disk_space::{DiskReport, format_duration, format_size};
use crate::media::engine::{Engine, EngineConfig, EngineError, EngineEvent};
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
            match err.downcast_ref::<EngineError>() {
                Some(EngineError::NotEnoughSpace { .. }) => RecordExit::DiskFloor,
                _ => RecordExit::Failed,
            }
        }
    }
}

/// What the run has seen, for the status line, the control API, the summary and the exit
/// code.
#[derive(Default)]
struct Progress {
    started: Option<Instant>,
    present: BTreeSet<String>,
    /// Everyone seen, by participant id, for `GET /status`.
    participants: BTreeMap<String, ParticipantStatus>,
    disk: Option<DiskReport>,
    stopping: bool,
    disk_floor: bool,
    all_ok: bool,
}

/// One participant as `GET /status` shows them.
#[derive(Debug, Default, Clone, serde::Serialize)]
struct ParticipantStatus {
    id: String,
    stream_id: String,
    label: String,
    present: bool,
    /// The ICE state of their connection, as the badges show it.
    ice: String,
    excluded: bool,
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
                name_template: args.name_template.clone().unwrap_or_default(),
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
    let webhooks = Rc::new(RefCell::new(Some(
        crate::automation::webhook::Webhooks::start(&args.webhook),
    )));
    let hooks = Rc::new(super::hooks::Hooks::new(
        args.on_segment_finished.clone(),
        args.on_recording_finished.clone(),
        &room_name,
    ));
    {
        let console = console.clone();
        let progress = progress.clone();
        let stop = stop.clone();
        let webhooks = webhooks.clone();
        let hooks = hooks.clone();
        let session_dir = session_dir.clone();
        glib::spawn_future_local(async move {
            while let Ok(event) = events.recv().await {
                let stop_now = track_progress(&mut progress.borrow_mut(), &event);
                let our_own_disconnect =
                    progress.borrow().stopping && is_our_own_disconnect(&event);
                if !our_own_disconnect {
                    print_event(&console, &event);
                    if let (Some(webhooks), Some(json)) = (
                        webhooks.borrow().as_ref(),
                        crate::automation::events::event_json(&event),
                    ) {
                        webhooks.send(&json);
                    }
                }
                run_hooks(&hooks, session_dir.as_deref(), &event);
                if stop_now {
                    stop();
                }
            }
        });
    }
    let _control = match args.control {
        Some(listen) => Some(start_control(
            &args,
            listen,
            &engine,
            &progress,
            session_dir.as_deref(),
            stop.clone(),
            &console,
        )?),
        None => None,
    };
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
    if let Some(webhooks) = webhooks.borrow_mut().take() {
        webhooks.finish(WEBHOOK_GRACE);
    }
    hooks.wait_for_all();
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

/// How long the webhooks may take to send what is still queued when the recording ends.
const WEBHOOK_GRACE: Duration = Duration::from_secs(10);

/// Runs the command hooks an event calls for.
fn run_hooks(
    hooks: &super::hooks::Hooks,
    session_dir: Option<&std::path::Path>,
    event: &EngineEvent,
) {
    let Some(session_dir) = session_dir else {
        return;
    };
    match event {
        EngineEvent::SegmentFinished {
            participant,
            file,
            outcome,
        } => hooks.segment_finished(
            session_dir,
            &super::hooks::FinishedFile::describe(session_dir, participant, file, outcome.is_ok()),
        ),
        EngineEvent::RecordingFinished { dir, all_ok } => hooks.recording_finished(dir, *all_ok),
        _ => {}
    }
}

/// Starts `--control` and says where it is and with which token.
fn start_control(
    args: &RecordArgs,
    listen: std::net::SocketAddr,
    engine: &Engine,
    progress: &Rc<RefCell<Progress>>,
    session_dir: Option<&std::path::Path>,
    stop: impl Fn() + 'static,
    console: &Console,
) -> anyhow::Result<super::control::ControlServer> {
    let token = match &args.control_token_file {
        Some(path) => super::control::token_from_file(path)?,
        None => super::control::new_token(),
    };
    let status = {
        let engine = engine.clone();
        let progress = progress.clone();
        let room = engine.config().room.clone();
        let session_dir = session_dir.map(|d| d.to_owned());
        move || {
            let progress = progress.borrow();
            let participants: Vec<ParticipantStatus> = progress
                .participants
                .values()
                .map(|p| ParticipantStatus {
                    excluded: engine.is_recording_excluded(&p.id),
                    ..p.clone()
                })
                .collect();
            json!({
                "room": room,
                "recording": engine.is_recording(),
                "stopping": progress.stopping,
                "session_dir": session_dir,
                "elapsed_s": progress.started.map(|s| s.elapsed().as_secs_f64()),
                "participants": participants,
                "written_bytes": progress.disk.map(|d| d.written_bytes),
                "free_bytes": progress.disk.map(|d| d.free_bytes),
                "time_left_s": progress.disk.and_then(|d| d.time_left).map(|t| t.as_secs()),
            })
        }
    };
    let exclude = {
        let engine = engine.clone();
        let progress = progress.clone();
        move |id: &str, excluded: bool| {
            let known = progress.borrow().participants.contains_key(id);
            if known {
                engine.set_recording_excluded(id, excluded);
            }
            known
        }
    };
    let server = super::control::start(
        listen,
        args.control_allow_remote,
        token.clone(),
        super::control::ControlActions {
            status: Box::new(status),
            stop: Box::new(stop),
            exclude: Box::new(exclude),
        },
    )?;
    // The token is for the operator, not for webhooks: printed here, never sent as an event.
    let shown_token = if args.control_token_file.is_some() {
        None
    } else {
        Some(token.as_str())
    };
    if console.json {
        console.line(
            &json!({"event": "control_listening", "url": server.url, "token": shown_token})
                .to_string(),
        );
    } else {
        console.line(&match shown_token {
            Some(token) => format!("Control API on {} (token {token})", server.url),
            None => format!("Control API on {} (token from the file)", server.url),
        });
    }
    Ok(server)
}

/// How often the status line is refreshed.
const STATUS_EVERY: Duration = Duration::from_secs(2);

/// Updates what the run has seen; returns whether the recording must stop now.
fn track_progress(progress: &mut Progress, event: &EngineEvent) -> bool {
    match event {
        EngineEvent::Room(RoomEvent::Joined { id, stream_id, .. }) => {
            progress.present.insert(id.to_string());
            let entry = progress.participants.entry(id.to_string()).or_default();
            entry.id = id.to_string();
            entry.stream_id = stream_id.to_string();
            if entry.label.is_empty() {
                entry.label = stream_id.to_string();
            }
            entry.present = true;
        }
        EngineEvent::Room(RoomEvent::Label { id, label, .. }) => {
            if let Some(entry) = progress.participants.get_mut(id.as_str()) {
                entry.label = label.clone();
            }
        }
        EngineEvent::Room(RoomEvent::Ice { id, state, .. }) => {
            if let Some(entry) = progress.participants.get_mut(id.as_str()) {
                entry.ice = state.as_str().to_owned();
            }
        }
        EngineEvent::Room(RoomEvent::Left { id, .. }) => {
            progress.present.remove(id.as_str());
            if let Some(entry) = progress.participants.get_mut(id.as_str()) {
                entry.present = false;
            }
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
    let line = if console.json {
        crate::automation::events::event_json(event).map(|value| value.to_string())
    } else {
        event_in_words(console, event)
    };
    if let Some(line) = line {
        console.line(&line);
    }
}

/// An event as a line for people, or `None` for what only programs care about.
fn event_in_words(console: &Console, event: &EngineEvent) -> Option<String> {
    match event {
        EngineEvent::Room(room_event) => describe(room_event, &mut console.names.borrow_mut()),
        EngineEvent::SegmentFinished {
            participant,
            file,
            outcome,
        } => Some(match outcome {
            Ok(_) => format!("{}: saved {}", console.name(participant), file.display()),
            Err(error) => format!(
                "{}: could not finalise {}: {}",
                console.name(participant),
                file.display(),
                error.message
            ),
        }),
        EngineEvent::RecordingFinished { dir, .. } => {
            Some(format!("Session saved in {}", dir.display()))
        }
        EngineEvent::Fatal(message) | EngineEvent::FolderLost { message, .. } => {
            Some(format!("Error: {message}"))
        }
        EngineEvent::TrackRefused {
            participant,
            reason,
            ..
        } => Some(format!("{}: {reason}", console.name(participant))),
        EngineEvent::DiskLow { dir, report } => Some(format!(
            "Disk space is low: {} free in {}, about {} of recording left",
            format_size(report.free_bytes),
            dir.display(),
            report.time_left.map(format_duration).unwrap_or_default()
        )),
        EngineEvent::DiskFloor {
            dir,
            free_bytes,
            floor_bytes,
        } => Some(format!(
            "Stopping: only {} free in {}, and --min-free keeps {}; every file is being finished",
            format_size(*free_bytes),
            dir.display(),
            format_size(*floor_bytes)
        )),
        EngineEvent::RecordingStarted { .. }
        | EngineEvent::FirstKeyframe { .. }
        | EngineEvent::DiskSpace { .. }
        | EngineEvent::Track { .. }
        | EngineEvent::PeerClosed { .. }
        | EngineEvent::Preview(_) => None,
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
            names
                .entry(id.to_string())
                .or_insert_with(|| stream_id.to_string());
            format!("{stream_id}: joined")
        }
        RoomEvent::Label { id, label, .. } => {
            let before = name(id);
            names.insert(id.to_string(), label.clone());
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
        RoomEvent::Watchdog { id, problem, .. } => {
            format!("{}: {}", name(id), crate::explain::problem(*problem))
        }
        _ => return None,
    })
}
