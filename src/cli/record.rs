//! `roomtape record`: the headless recorder.

use std::cell::Cell;
use std::io::Write;
use std::rc::Rc;
use std::time::Duration;

use serde_json::json;

use super::RecordArgs;
use crate::media::engine::{Engine, EngineConfig, EngineEvent};
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
        turn: args.turn.clone(),
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

pub fn run(args: RecordArgs) -> anyhow::Result<()> {
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
    let (engine, events) = Engine::start(config)?;
    let json_events = args.json_events;

    if !args.no_record {
        let output = args
            .output
            .clone()
            .unwrap_or_else(crate::library::naming::default_recordings_dir);
        let dir = engine.start_recording(
            &output,
            RecordOptions {
                audio: !args.no_audio,
                video: !args.no_video,
            },
        )?;
        if !json_events {
            println!("Recording room {:?} into {}", args.room.room, dir.display());
        }
    }

    glib::spawn_future_local(async move {
        while let Ok(event) = events.recv().await {
            print_event(&event, json_events);
        }
    });

    let exit_ok = Rc::new(Cell::new(true));
    let stopping = Rc::new(Cell::new(false));
    let stop = {
        let engine = engine.clone();
        let main_loop = main_loop.clone();
        let exit_ok = exit_ok.clone();
        let stopping = stopping.clone();
        move || {
            if stopping.replace(true) {
                return;
            }
            let engine = engine.clone();
            let main_loop = main_loop.clone();
            let exit_ok = exit_ok.clone();
            glib::spawn_future_local(async move {
                let ok = engine.shutdown().await;
                exit_ok.set(ok);
                // Let the last events print.
                glib::timeout_future(Duration::from_millis(100)).await;
                main_loop.quit();
            });
        }
    };
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
    let _ = std::io::stdout().flush();
    anyhow::ensure!(exit_ok.get(), "some recordings could not be finalised");
    Ok(())
}

const fn libc_sigint() -> i32 {
    2
}

const fn libc_sigterm() -> i32 {
    15
}

fn print_event(event: &EngineEvent, json_events: bool) {
    let line = match event {
        EngineEvent::Room(room_event) => {
            if json_events {
                Some(room_event.to_json_line())
            } else {
                describe(room_event)
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
            format!("Saved {}", file.display())
        } else {
            format!(
                "Could not finalise {}: {}",
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
            format!("{participant}: {reason}")
        }),
        EngineEvent::Track { .. } | EngineEvent::PeerClosed { .. } | EngineEvent::Preview(_) => {
            None
        }
    };
    if let Some(line) = line {
        println!("{line}");
    }
}

fn describe(event: &RoomEvent) -> Option<String> {
    Some(match event {
        RoomEvent::SignalingConnected { .. } => "Connected to the signaling server".to_owned(),
        RoomEvent::SignalingLost { reason, .. } => format!("Signaling lost: {reason}"),
        RoomEvent::ServerMessage { message, .. } => format!("Server says: {message}"),
        RoomEvent::Joined { stream_id, .. } => format!("{stream_id}: joined"),
        RoomEvent::Label { id, label, .. } => format!("{id}: is {label}"),
        RoomEvent::Left { id, reason, .. } => format!("{id}: left ({})", reason.as_str()),
        RoomEvent::Connection { id, state, .. } => format!("{id}: connection {state:?}"),
        RoomEvent::SelectedPair { id, pair, .. } => format!(
            "{id}: using {} {} <-> {} {}",
            pair.local_kind.as_str(),
            pair.local_address,
            pair.remote_kind.as_str(),
            pair.remote_address
        ),
        RoomEvent::MediaFlowing { id, kind, .. } => format!("{id}: {kind:?} flowing"),
        RoomEvent::Watchdog {
            id, explanation, ..
        } => format!("{id}: {explanation}"),
        _ => return None,
    })
}
