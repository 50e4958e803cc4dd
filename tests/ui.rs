//! The window, started as the real binary under the X server the test command provides
//! (`xvfb-run`), rendered to a PNG by `--test-hook screenshot=FILE` and checked.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use roomtape::command_line::{Cli, launch_options};
use roomtape::media::inspect::count_frames;
use roomtape::ui::{LaunchOptions, TestHooks};

#[path = "common/desktop_bus.rs"]
#[allow(dead_code)] // logind's part serves the headless recorder's tests
mod desktop_bus;

const TIMEOUT: Duration = Duration::from_secs(60);

/// A PNG path in the temp folder, unique to this test and process.
fn temp_png(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("roomtape-ui-{}-{name}.png", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// Starts the app with `args` plus the screenshot hook, waits for it and returns the PNG's
/// bytes.
fn screenshot(name: &str, args: &[&str]) -> Vec<u8> {
    assert!(
        std::env::var_os("DISPLAY").is_some(),
        "DISPLAY is not set: run the UI tests under an X server, e.g. \
         xvfb-run -a -s \"-screen 0 1280x800x24 -nolisten tcp\" cargo test --test ui"
    );
    let path = temp_png(name);
    let mut child = Command::new(env!("CARGO_BIN_EXE_roomtape"))
        .args(args)
        .arg("--test-hook")
        .arg(format!("screenshot={}", path.display()))
        .args(["--test-hook", "screenshot-delay=2"])
        .env("GSK_RENDERER", "cairo")
        .env("GTK_A11Y", "none")
        .env("GSETTINGS_BACKEND", "memory")
        .stdin(Stdio::null())
        .spawn()
        .expect("the roomtape binary starts");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for roomtape") {
            break status;
        }
        if started.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("roomtape {args:?} did not quit within {TIMEOUT:?} after its screenshot");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "roomtape {args:?} failed: {status}");
    let bytes =
        std::fs::read(&path).unwrap_or_else(|err| panic!("no screenshot at {path:?}: {err}"));
    let _ = std::fs::remove_file(&path);
    bytes
}

/// Width and height from a PNG's IHDR chunk, after checking the signature.
fn png_size(bytes: &[u8], what: &Path) -> (u32, u32) {
    assert!(bytes.len() > 24, "{what:?} is too short to be a PNG");
    assert_eq!(
        &bytes[..8],
        b"\x89PNG\r\n\x1a\n",
        "{what:?} has no PNG signature"
    );
    assert_eq!(&bytes[12..16], b"IHDR", "{what:?} does not start with IHDR");
    let word =
        |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    (word(16), word(20))
}

fn check_window_png(name: &str, args: &[&str]) {
    let bytes = screenshot(name, args);
    let (width, height) = png_size(&bytes, Path::new(name));
    assert!(
        width >= 600 && height >= 400,
        "the {name} window is only {width}x{height}"
    );
    // A flat image compresses to almost nothing; a drawn window with text and icons does not.
    assert!(
        bytes.len() > 10 * 1024,
        "the {name} screenshot is only {} bytes: the window looks empty",
        bytes.len()
    );
}

#[test]
fn start_page_renders() {
    check_window_png("start", &[]);
}

#[test]
fn demo_request_renders() {
    check_window_png("demo", &["--demo"]);
}

/// Runs the demo room through the real window: waits until every tile is connected, clicks
/// Record room (the real `win.record` action), stops it, and returns the JSON report and the
/// folder the recordings went to.
fn demo_record(seconds: &str, scenario: &str) -> (serde_json::Value, PathBuf) {
    demo_record_with(seconds, scenario, &[])
}

/// [`demo_record`] with more environment (a private session bus, say).
fn demo_record_with(
    seconds: &str,
    scenario: &str,
    env: &[(&str, &str)],
) -> (serde_json::Value, PathBuf) {
    let record = format!("record-seconds={seconds}");
    let scenario_hook = format!("scenario={scenario}");
    hook_run(
        scenario,
        &[
            "--demo",
            "--test-hook",
            &record,
            "--test-hook",
            &scenario_hook,
        ],
        env,
    )
}

/// Runs the app with the test hook's `args` in a home of its own; returns the hook's JSON
/// report and that home.
fn hook_run(name: &str, args: &[&str], env: &[(&str, &str)]) -> (serde_json::Value, PathBuf) {
    let scenario = name;
    assert!(
        std::env::var_os("DISPLAY").is_some(),
        "DISPLAY is not set: run the UI tests under an X server"
    );
    let home = std::env::temp_dir().join(format!(
        "roomtape-ui-home-{}-{scenario}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(&home).expect("temp home");
    let child = Command::new(env!("CARGO_BIN_EXE_roomtape"))
        .args(args)
        // A GStreamer or GTK critical (say, around Stop) fails the run instead of scrolling by.
        .env("G_DEBUG", "fatal-criticals")
        // File dialogs open in the working folder.
        .current_dir(&home)
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("GSK_RENDERER", "cairo")
        .env("GTK_A11Y", "none")
        .env("GSETTINGS_BACKEND", "memory")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the roomtape binary starts");
    let pid = child.id();
    let watchdog = std::thread::spawn(move || {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(150) {
            std::thread::sleep(Duration::from_millis(200));
            if !Path::new(&format!("/proc/{pid}")).exists() {
                return;
            }
        }
        let _ = Command::new("kill")
            .arg("-KILL")
            .arg(pid.to_string())
            .status();
    });
    let output = child.wait_with_output().expect("waiting for roomtape");
    let _ = watchdog.join();
    assert!(
        output.status.success(),
        "roomtape --demo failed: {}",
        output.status
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON report in {stdout:?}"));
    let report: serde_json::Value = serde_json::from_str(line).expect("the report is JSON");
    (report, home)
}

#[test]
fn demo_room_connects_records_and_logs_candidates() {
    let (report, home) = demo_record("3", "record");
    let connected = &report["connected"];
    let tiles = connected["tiles"].as_array().expect("tiles");
    assert_eq!(tiles.len(), 4, "four tiles in {connected}");
    let mut labels: Vec<&str> = tiles.iter().filter_map(|t| t["label"].as_str()).collect();
    labels.sort_unstable();
    assert_eq!(labels, ["Alice", "Bob", "Carol", "Dave"]);
    for tile in tiles {
        assert!(
            matches!(tile["ice"].as_str(), Some("connected" | "completed")),
            "tile not connected: {tile} in {report}"
        );
        assert_eq!(tile["left"], false);
        if tile["label"] == "Dave" {
            // Dave's camera is off: no video, the placeholder with his initials instead.
            assert_eq!(tile["has_video"], false, "video on {tile}");
            assert_eq!(tile["placeholder"], "camera-off", "{tile}");
            assert_eq!(tile["placeholder_text"], "Camera off", "{tile}");
        } else {
            assert_eq!(
                tile["has_video"], true,
                "no live video on {tile} in {report}"
            );
            assert_eq!(tile["placeholder"], "", "{tile}");
        }
    }

    // Every button, toggle, menu button and drop-down of the room is named and reachable.
    let a11y = &report["a11y"];
    assert!(
        a11y["controls"].as_u64().unwrap_or(0) >= 13,
        "too few controls found: {a11y}"
    );
    assert_eq!(a11y["unlabelled"], serde_json::json!([]), "{a11y}");
    assert_eq!(a11y["unreachable"], serde_json::json!([]), "{a11y}");

    // So is every control of the join dialog and the preferences window.
    for dialog in ["join", "preferences"] {
        let opened = &report["dialog_a11y"][dialog];
        assert_eq!(
            opened["opened"], true,
            "the {dialog} dialog did not open: {report}"
        );
        let audit = &opened["audit"];
        assert!(
            audit["controls"].as_u64().unwrap_or(0) >= 2,
            "{dialog}: {audit}"
        );
        assert_eq!(
            audit["unlabelled"],
            serde_json::json!([]),
            "{dialog}: {audit}"
        );
        assert_eq!(
            audit["unreachable"],
            serde_json::json!([]),
            "{dialog}: {audit}"
        );
    }

    // While recording, the button is Stop; right after Stop the window shows Finishing.
    assert_eq!(report["recording"]["recording"], true, "{report}");
    assert_eq!(report["after_stop"]["finishing"], true, "{report}");
    let finished = &report["finished"];
    assert_eq!(finished["finishing"], false, "never finished: {report}");
    assert_eq!(finished["recording"], false);

    // The side panel's candidate log has local and remote candidates of everyone.
    let counts = finished["candidates"]
        .as_object()
        .expect("candidate counts");
    for tile in tiles {
        let id = tile["id"].as_str().expect("tile id");
        let n = counts.get(id).and_then(|v| v.as_u64()).unwrap_or(0);
        assert!(n >= 2, "only {n} candidates logged for {tile}");
    }
    // Every tile has the selected pair's type once the stats came in.
    for tile in finished["tiles"].as_array().expect("tiles") {
        assert_eq!(tile["pair"], "host", "no pair type on {tile}");
    }

    // The session is on disk, in Videos/Roomtape under the home folder.
    let dir = PathBuf::from(finished["session_dir"].as_str().expect("session dir"));
    assert!(dir.starts_with(home.join("Videos/Roomtape")), "{dir:?}");
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("session.json")).expect("session.json"),
    )
    .expect("session.json is JSON");
    assert_eq!(
        manifest["participants"].as_array().map(Vec::len),
        Some(4),
        "{manifest}"
    );
    let mut mkv: Vec<String> = std::fs::read_dir(&dir)
        .expect("session folder")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".mkv"))
        .collect();
    mkv.sort();
    assert_eq!(mkv, ["Alice.mkv", "Bob.mkv", "Carol.mkv", "Dave.mkv"]);
    for name in &mkv {
        let size = std::fs::metadata(dir.join(name))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(size > 10_000, "{name} is only {size} bytes");
    }
    // The camera-off participant is still recorded: audio, and no video.
    let dave = count_frames(&dir.join("Dave.mkv")).expect("Dave.mkv demuxes");
    assert_eq!(dave.video, 0, "{dave:?}");
    assert!(
        dave.audio > 50,
        "Dave.mkv has only {} audio frames",
        dave.audio
    );
    let alice = count_frames(&dir.join("Alice.mkv")).expect("Alice.mkv demuxes");
    assert!(alice.video > 10 && alice.audio > 50, "{alice:?}");
    let _ = std::fs::remove_dir_all(&home);
}

/// The session folder a report names, checked to be under the test's home.
fn session_dir(report: &serde_json::Value, at: &serde_json::Value, home: &Path) -> PathBuf {
    let dir = PathBuf::from(
        at["session_dir"]
            .as_str()
            .unwrap_or_else(|| panic!("no session dir in {report}")),
    );
    assert!(dir.starts_with(home.join("Videos/Roomtape")), "{dir:?}");
    dir
}

/// The `.mkv` files in a session folder, sorted.
fn mkv_files(dir: &Path) -> Vec<String> {
    let mut mkv: Vec<String> = std::fs::read_dir(dir)
        .expect("session folder")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".mkv"))
        .collect();
    mkv.sort();
    mkv
}

#[test]
fn a_tile_switched_off_before_recording_gets_no_file() {
    let (report, home) = demo_record("3", "exclude");
    let excluded = &report["excluded"];
    assert_eq!(excluded["found"], true, "{report}");
    assert_eq!(excluded["was_active"], true, "{excluded}");
    assert_eq!(
        excluded["active"], false,
        "the toggle stayed on: {excluded}"
    );
    assert_eq!(excluded["included"], false, "{excluded}");
    let tooltip = excluded["tooltip"].as_str().unwrap_or_default();
    assert!(tooltip.contains("left out"), "{tooltip}");
    let bob = excluded["id"].as_str().expect("Bob's id");
    for tile in report["before_recording"]["tiles"]
        .as_array()
        .expect("tiles")
    {
        assert_eq!(tile["included"], tile["id"] != bob, "{tile}");
    }
    // While recording, Bob's tile shows no recording time, everyone else's does; Bob has
    // no file.
    for tile in report["recording"]["tiles"].as_array().expect("tiles") {
        if tile["id"] == bob {
            assert!(tile["recording_time"].is_null(), "{tile}");
        } else {
            let time = tile["recording_time"].as_str().unwrap_or_default();
            assert!(time.starts_with("00:00:0"), "no recording time on {tile}");
        }
    }
    let finished = &report["finished"];
    assert_eq!(finished["finishing"], false, "never finished: {report}");
    let dir = session_dir(&report, finished, &home);
    assert_eq!(
        mkv_files(&dir),
        ["Alice.mkv", "Carol.mkv", "Dave.mkv"],
        "in {dir:?}"
    );
    for name in ["Alice.mkv", "Carol.mkv", "Dave.mkv"] {
        let frames = count_frames(&dir.join(name)).expect("the file demuxes");
        assert!(frames.video + frames.audio > 20, "{name}: {frames:?}");
    }
    let _ = std::fs::remove_dir_all(&home);
}

#[test]
fn closing_while_recording_asks_and_stop_and_close_finishes_the_files() {
    let (report, home) = demo_record("3", "close");
    assert_eq!(report["recording"]["recording"], true, "{report}");
    assert_eq!(
        report["close_accels"],
        serde_json::json!(["<Control>w"]),
        "{report}"
    );
    let asked = &report["close_asked"];
    assert_eq!(asked["dialog"], true, "no dialog when closing: {report}");
    assert_eq!(asked["heading"], "Stop Recording and Close?", "{asked}");
    assert_eq!(
        asked["responses"],
        serde_json::json!(["_Keep Recording", "_Stop and Close"]),
        "{asked}"
    );
    // While it asks, the window stays open and the recording goes on.
    assert_eq!(asked["window_visible"], true, "{asked}");
    assert_eq!(asked["still_recording"], true, "{asked}");
    // "Stop and Close": Finishing…, then the window closes once the files are final.
    assert_eq!(report["after_stop"]["finishing"], true, "{report}");
    assert_eq!(report["window_closed"], true, "the window stayed: {report}");
    let dir = session_dir(&report, &report, &home);
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("session.json")).expect("session.json"),
    )
    .expect("session.json is JSON");
    let participants = manifest["participants"].as_array().expect("participants");
    assert_eq!(participants.len(), 4, "{manifest}");
    for participant in participants {
        let segment = &participant["segments"][0];
        assert_eq!(segment["end_reason"], "stopped", "{participant}");
        assert!(segment["error"].is_null(), "{participant}");
        let duration = segment["duration_ns"].as_u64().unwrap_or(0);
        assert!(duration > 1_000_000_000, "{participant}");
        let file = segment["file"].as_str().expect("file");
        let frames = count_frames(&dir.join(file)).expect("the file demuxes to its end");
        assert!(frames.video + frames.audio > 20, "{file}: {frames:?}");
    }
    let _ = std::fs::remove_dir_all(&home);
}

#[test]
fn the_candidate_log_saves_one_line_per_candidate() {
    let (report, home) = demo_record("1", "save-log");
    let saved = &report["saved_log"];
    assert_eq!(
        saved["dialog_opened"], true,
        "Save… opened no dialog: {report}"
    );
    assert_eq!(saved["dialog_closed"], true, "{saved}");
    let path = PathBuf::from(saved["path"].as_str().expect("path"));
    assert!(path.starts_with(&home), "{path:?}");
    let text = std::fs::read_to_string(&path).expect("the saved log");
    let lines: Vec<&str> = text.lines().collect();
    let logged: u64 = report["candidates_when_saved"]
        .as_object()
        .expect("candidate counts")
        .values()
        .filter_map(|v| v.as_u64())
        .sum();
    assert!(
        logged >= 8,
        "only {logged} candidates for four people: {report}"
    );
    assert_eq!(lines.len() as u64, logged, "{text}");
    for line in &lines {
        let words: Vec<&str> = line.split_whitespace().collect();
        assert!(
            words
                .iter()
                .any(|w| matches!(*w, "host" | "srflx" | "prflx" | "relay")),
            "no candidate type in {line:?}"
        );
        assert!(
            words
                .iter()
                .any(|w| w.eq_ignore_ascii_case("udp") || w.eq_ignore_ascii_case("tcp")),
            "no protocol in {line:?}"
        );
        assert!(
            words.iter().any(|w| w
                .rsplit_once(':')
                .is_some_and(|(addr, port)| addr.parse::<std::net::IpAddr>().is_ok()
                    && port.parse::<u16>().is_ok())),
            "no address:port in {line:?}"
        );
        assert!(
            ["Alice", "Bob", "Carol", "Dave"]
                .iter()
                .any(|name| line.contains(name)),
            "no participant in {line:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&home);
}

#[test]
fn the_accessibility_audit_finds_unnamed_and_unreachable_controls() {
    use gtk::prelude::*;
    use roomtape::ui::a11y;

    assert!(
        std::env::var_os("DISPLAY").is_some(),
        "DISPLAY is not set: run the UI tests under an X server"
    );
    gtk::init().expect("GTK starts on the X server");
    let root = gtk::Box::new(gtk::Orientation::Vertical, 0);
    let named = gtk::Button::from_icon_name("open-menu-symbolic");
    a11y::label(&named, "Main Menu");
    let with_tooltip = gtk::ToggleButton::new();
    with_tooltip.set_icon_name("sidebar-show-right-symbolic");
    with_tooltip.set_tooltip_text(Some("Show the panel"));
    let with_text = gtk::Button::with_label("Save…");
    let unnamed = gtk::Button::from_icon_name("edit-delete-symbolic");
    let dropdown = gtk::DropDown::from_strings(&["All", "host"]);
    let unreachable = gtk::Button::with_label("Nope");
    unreachable.set_focusable(false);
    let menu = gtk::MenuButton::new();
    menu.set_icon_name("view-more-symbolic");
    a11y::label(&menu, "More");
    for widget in [
        named.upcast_ref::<gtk::Widget>(),
        with_tooltip.upcast_ref(),
        with_text.upcast_ref(),
        unnamed.upcast_ref(),
        dropdown.upcast_ref(),
        unreachable.upcast_ref(),
        menu.upcast_ref(),
    ] {
        root.append(widget);
    }
    let audit = a11y::audit(&root);
    assert_eq!(audit.controls, 7, "{audit:?}");
    let unlabelled: Vec<&str> = audit.unlabelled.iter().map(|f| f.kind.as_str()).collect();
    assert_eq!(unlabelled, ["GtkButton", "GtkDropDown"], "{audit:?}");
    assert_eq!(audit.unlabelled[0].what, "edit-delete-symbolic");
    assert_eq!(audit.unreachable.len(), 1, "{audit:?}");
    assert_eq!(audit.unreachable[0].what, "Nope");
    assert_eq!(
        a11y::accessible_label(named.upcast_ref()).as_deref(),
        Some("Main Menu")
    );
    assert_eq!(a11y::accessible_label(unnamed.upcast_ref()), None);

    dropdown.set_tooltip_text(Some("Candidate type"));
    a11y::label(&unnamed, "Delete");
    unreachable.set_focusable(true);
    let audit = a11y::audit(&root);
    assert!(
        audit.unlabelled.is_empty() && audit.unreachable.is_empty(),
        "{audit:?}"
    );
}

#[test]
fn launch_options_come_from_the_command_line() {
    let cli = Cli::try_parse_from([
        "roomtape",
        "--room",
        "studio-a",
        "--server",
        "ws://127.0.0.1:8443",
        "--password",
        "false",
        "--test-hook",
        "screenshot=/tmp/shot.png",
        "--test-hook",
        "screenshot-delay=0.5",
    ])
    .unwrap();
    let options = launch_options(&cli);
    assert_eq!(
        options,
        LaunchOptions {
            link: None,
            demo: false,
            room: Some("studio-a".into()),
            server: Some("ws://127.0.0.1:8443".into()),
            password: Some("false".into()),
            hooks: TestHooks {
                screenshot: Some(PathBuf::from("/tmp/shot.png")),
                screenshot_delay: 0.5,
                record_seconds: None,
                scenario: roomtape::ui::DemoScenario::Record,
                ..TestHooks::default()
            },
        }
    );

    let options = launch_options(&Cli::try_parse_from(["roomtape", "--demo"]).unwrap());
    assert!(options.demo);
    assert_eq!(options.room, None);
    assert_eq!(options.hooks.screenshot, None);
    assert_eq!(options.hooks.screenshot_delay, 3.0);
}

/// While recording, leaving, opening the demo room and joining another room each ask first
/// with the same question as closing; "Keep Recording" keeps it running, and leaving for real
/// finishes every file.
#[test]
fn while_recording_leave_demo_and_join_ask_first() {
    let (report, home) = demo_record("2", "confirm");
    assert_eq!(report["recording"]["recording"], true, "{report}");
    for (attempt, heading, stop) in [
        ("leave", "Stop Recording and Leave?", "_Stop and Leave"),
        (
            "demo",
            "Stop Recording and Open the Demo Room?",
            "_Stop and Open",
        ),
        (
            "join",
            "Stop Recording and Join Another Room?",
            "_Stop and Join",
        ),
    ] {
        let asked = &report[format!("{attempt}_asked")];
        assert_eq!(asked["dialog"], true, "{attempt} did not ask: {report}");
        assert_eq!(asked["heading"], heading, "{asked}");
        assert_eq!(
            asked["responses"],
            serde_json::json!(["_Keep Recording", stop]),
            "{asked}"
        );
        assert_eq!(asked["still_recording"], true, "{attempt}: {asked}");
        assert_eq!(asked["view"], "Room", "{attempt}: {asked}");
    }
    assert_eq!(report["leave_confirmed"]["dialog"], true, "{report}");
    assert_eq!(report["finished"]["view"], "Empty", "{report}");
    let dir = session_dir(&report, &report["finished"], &home);
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("session.json")).expect("session.json"),
    )
    .expect("session.json is JSON");
    assert_eq!(manifest["state"], "finished", "{manifest}");
    for participant in manifest["participants"].as_array().expect("participants") {
        let file = participant["segments"][0]["file"].as_str().expect("file");
        let frames = count_frames(&dir.join(file)).expect("the file demuxes to its end");
        assert!(frames.video + frames.audio > 20, "{file}: {frames:?}");
    }
    let _ = std::fs::remove_dir_all(&home);
}

/// A participant whose media stops while the connection stays up gets an amber "no media"
/// badge within seconds, the others stay green, and it turns back when media returns.
#[test]
fn stopped_media_turns_the_badge_amber_and_back() {
    let (report, home) = demo_record("0", "no-media");
    assert_eq!(report["frozen"], true, "{report}");
    let (state, text, classes) = (
        &report["while_frozen"][0],
        &report["while_frozen"][1],
        &report["while_frozen"][2],
    );
    assert_eq!(state, "no-media", "{report}");
    assert!(
        text.as_str().is_some_and(|t| t.starts_with("no media")),
        "{text}"
    );
    assert!(
        classes
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c == "ice-no-media")),
        "the amber style: {classes}"
    );
    let after = report["no_media_after_secs"].as_f64().unwrap_or(99.0);
    assert!(after <= 6.0, "shown {after} s after the media stopped");
    for tile in report["others_while_frozen"]["tiles"]
        .as_array()
        .expect("tiles")
    {
        if tile["label"] != "Bob" {
            assert!(
                matches!(tile["ice"].as_str(), Some("connected" | "completed")),
                "{tile}"
            );
        }
    }
    assert!(
        matches!(
            report["after_thaw"][0].as_str(),
            Some("connected" | "completed")
        ),
        "back to green once media flows: {report}"
    );
    let _ = std::fs::remove_dir_all(&home);
}

/// With the window behind another one: a session manager (on a bus of the test's own) is
/// asked to keep the machine awake from Record to the end of Finishing, and a real
/// notification server (dunst) gets who joined and "Recording Saved" with its two buttons.
#[test]
fn recording_in_the_background_keeps_the_machine_awake_and_notifies() {
    let bus = desktop_bus::PrivateBus::start();
    let session_manager =
        desktop_bus::FakeService::start(&bus.address, desktop_bus::Service::SessionManager);
    let notifications =
        std::env::temp_dir().join(format!("roomtape-ui-dunst-{}.txt", std::process::id()));
    let mut dunst = Command::new("dunst")
        .arg("-print")
        .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
        .stdout(std::fs::File::create(&notifications).expect("dunst output"))
        .stderr(Stdio::null())
        .spawn()
        .expect("dunst starts (package dunst)");
    assert!(
        bus.wait_for_owner("org.freedesktop.Notifications", TIMEOUT),
        "dunst serves"
    );

    let (report, home) = demo_record_with(
        "3",
        "background",
        &[("DBUS_SESSION_BUS_ADDRESS", &bus.address)],
    );
    let _ = dunst.kill();
    let _ = dunst.wait();
    let printed = std::fs::read_to_string(&notifications).unwrap_or_default();
    let _ = std::fs::remove_file(&notifications);

    assert_eq!(
        report["connected"]["window_active"], false,
        "in the background: {report}"
    );
    let cookie = desktop_bus::FIRST_COOKIE;
    assert_eq!(report["recording"]["inhibit_cookie"], cookie, "{report}");
    assert_eq!(report["finished"]["inhibit_cookie"], 0, "{report}");
    let inhibits = session_manager.calls_of("Inhibit");
    assert_eq!(inhibits.len(), 1, "{inhibits:?}");
    // (app id, toplevel, reason, flags): logout 1 + suspend 4 + idle 8.
    assert!(
        inhibits[0].contains("'io.github.roomtape.Roomtape'")
            && inhibits[0].contains("'Recording room Demo Room'")
            && inhibits[0].ends_with(" 13)"),
        "{inhibits:?}"
    );
    assert_eq!(
        session_manager.calls_of("Uninhibit"),
        vec![format!("({cookie},)")],
        "released after Finishing"
    );

    let summaries: Vec<&str> = printed
        .lines()
        .filter_map(|l| l.trim().strip_prefix("summary: "))
        .collect();
    for person in ["Alice", "Bob", "Carol", "Dave"] {
        assert!(
            summaries.contains(&format!("'{person} Joined'").as_str()),
            "{person} joined: {summaries:?}"
        );
    }
    assert!(summaries.contains(&"'Recording Saved'"), "{summaries:?}");
    let dir = session_dir(&report, &report["finished"], &home);
    for button in ["Open Folder", "Show in Recordings"] {
        assert!(
            printed.contains(&format!(": \"{button}\"")),
            "{button}: {printed}"
        );
    }
    assert!(
        printed.contains(&format!("app.open-folder('{}')", dir.display())),
        "{printed}"
    );
    let _ = std::fs::remove_dir_all(&home);
}

/// A room that cannot be joined: the error names its cause once, and Edit… opens the join
/// dialog filled in as it was (the custom password too, which lives only in memory).
#[test]
fn a_failed_join_is_explained_once_and_edit_reopens_the_dialog_filled_in() {
    let (report, home) = hook_run(
        "edit-join",
        &[
            "--room",
            "myshow",
            "--server",
            "ws://127.0.0.1:9",
            "--password",
            "s3cret",
            "--test-hook",
            "record-seconds=0",
            "--test-hook",
            "scenario=edit-join",
        ],
        &[],
    );
    let error = report["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error shown: {report}"));
    assert_eq!(
        error.matches("127.0.0.1:9").count(),
        1,
        "the server named once: {error}"
    );
    assert_eq!(error.matches("Could not reach").count(), 1, "{error}");
    assert!(error.contains("refused"), "the cause: {error}");
    assert_eq!(report["edit_activated"], true, "{report}");
    assert_eq!(
        report["dialog"],
        serde_json::json!({
            "room": "myshow",
            "server": "ws://127.0.0.1:9",
            "password": "custom",
            "password_typed": true
        }),
        "{report}"
    );
    let _ = std::fs::remove_dir_all(&home);
}
