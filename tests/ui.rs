//! The window, started as the real binary under the X server the test command provides
//! (`xvfb-run`), rendered to a PNG by `--screenshot` and checked.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use roomtape::cli::Cli;
use roomtape::ui::LaunchOptions;

const TIMEOUT: Duration = Duration::from_secs(60);

/// A PNG path in the temp folder, unique to this test and process.
fn temp_png(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("roomtape-ui-{}-{name}.png", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// Starts the app with `args` plus `--screenshot`, waits for it and returns the PNG's bytes.
fn screenshot(name: &str, args: &[&str]) -> Vec<u8> {
    assert!(
        std::env::var_os("DISPLAY").is_some(),
        "DISPLAY is not set: run the UI tests under an X server, e.g. \
         xvfb-run -a -s \"-screen 0 1280x800x24 -nolisten tcp\" cargo test --test ui"
    );
    let path = temp_png(name);
    let mut child = Command::new(env!("CARGO_BIN_EXE_roomtape"))
        .args(args)
        .arg("--screenshot")
        .arg(&path)
        .args(["--screenshot-delay", "2"])
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
fn demo_record(seconds: &str) -> (serde_json::Value, PathBuf) {
    assert!(
        std::env::var_os("DISPLAY").is_some(),
        "DISPLAY is not set: run the UI tests under an X server"
    );
    let home = std::env::temp_dir().join(format!("roomtape-ui-home-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(&home).expect("temp home");
    let child = Command::new(env!("CARGO_BIN_EXE_roomtape"))
        .args(["--demo", "--demo-record-seconds", seconds])
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("GSK_RENDERER", "cairo")
        .env("GTK_A11Y", "none")
        .env("GSETTINGS_BACKEND", "memory")
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
    let (report, home) = demo_record("3");
    let connected = &report["connected"];
    let tiles = connected["tiles"].as_array().expect("tiles");
    assert_eq!(tiles.len(), 3, "three tiles in {connected}");
    let mut labels: Vec<&str> = tiles.iter().filter_map(|t| t["label"].as_str()).collect();
    labels.sort_unstable();
    assert_eq!(labels, ["Alice", "Bob", "Carol"]);
    for tile in tiles {
        assert!(
            matches!(tile["ice"].as_str(), Some("connected" | "completed")),
            "tile not connected: {tile} in {report}"
        );
        assert_eq!(
            tile["has_video"], true,
            "no live video on {tile} in {report}"
        );
        assert_eq!(tile["left"], false);
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
        Some(3),
        "{manifest}"
    );
    let mut mkv: Vec<String> = std::fs::read_dir(&dir)
        .expect("session folder")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".mkv"))
        .collect();
    mkv.sort();
    assert_eq!(mkv, ["Alice.mkv", "Bob.mkv", "Carol.mkv"]);
    for name in &mkv {
        let size = std::fs::metadata(dir.join(name))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(size > 10_000, "{name} is only {size} bytes");
    }
    let _ = std::fs::remove_dir_all(&home);
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
        "--screenshot",
        "/tmp/shot.png",
        "--screenshot-delay",
        "0.5",
    ])
    .unwrap();
    let options = LaunchOptions::from_cli(&cli);
    assert_eq!(
        options,
        LaunchOptions {
            demo: false,
            room: Some("studio-a".into()),
            server: Some("ws://127.0.0.1:8443".into()),
            password: Some("false".into()),
            screenshot: Some(PathBuf::from("/tmp/shot.png")),
            screenshot_delay: 0.5,
            demo_record_seconds: None,
        }
    );

    let options = LaunchOptions::from_cli(&Cli::try_parse_from(["roomtape", "--demo"]).unwrap());
    assert!(options.demo);
    assert_eq!(options.room, None);
    assert_eq!(options.screenshot, None);
    assert_eq!(options.screenshot_delay, 3.0);
}
