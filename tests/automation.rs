//! `record` driven and watched by other tools, all on loopback: webhooks received by Python's
//! own HTTP server (and a slow one, and a closed port), command hooks that write down what
//! they were given, and the control API used with curl.

// Tests print what they measured; the harness captures it.
#![allow(clippy::print_stdout)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// Python's `http.server`, answering POSTs after `delay_s` and appending each one to `log`
/// as a JSON line: path, content type, body.
struct Receiver {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Receiver {
    fn start(log: PathBuf, delay_s: f64) -> Receiver {
        let script = r#"
import json, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
log, delay = sys.argv[1], float(sys.argv[2])
class Hook(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        time.sleep(delay)
        with open(log, "a") as f:
            f.write(json.dumps({"path": self.path, "content_type": self.headers.get("Content-Type"), "body": body.decode()}) + "\n")
        self.send_response(204)
        self.end_headers()
    def log_message(self, *args):
        pass
server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;
        let mut child = Command::new("python3")
            .args(["-c", script])
            .arg(&log)
            .arg(delay_s.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let mut port = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut port)
            .expect("the receiver prints its port");
        Receiver {
            child,
            url: format!("http://127.0.0.1:{}/hook", port.trim()),
            log,
        }
    }

    fn received(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn event_names(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| e["event"].as_str().map(str::to_owned))
        .collect()
}

/// `record` with `args`, in JSON mode; output collected.
fn record_to_end(url: &str, room: &str, args: &[&str]) -> (std::process::Output, Vec<Value>) {
    let output = Command::new(env!("CARGO_BIN_EXE_roomtape"))
        .args(record_args(url, room, "false"))
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("record runs");
    let events = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    (output, events)
}

#[test]
fn webhooks_get_every_event_and_a_slow_or_dead_endpoint_costs_the_recording_nothing() {
    let _serial = serial();
    let out = temp_dir("webhooks");
    let good = Receiver::start(out.join("good.jsonl"), 0.0);
    let slow = Receiver::start(out.join("slow.jsonl"), 2.0);
    let dead = "http://127.0.0.1:9/closed";
    let (_server, url) = serve("official");
    let _alice = publish(&url, "hooked", "alice", "false", &[]);
    let recordings = out.join("recordings");
    let started = Instant::now();
    let (output, printed) = record_to_end(
        &url,
        "hooked",
        &[
            "--duration",
            "8",
            "--webhook",
            &good.url,
            "--webhook",
            &slow.url,
            "--webhook",
            dead,
            "--output",
            recordings.to_str().expect("utf-8"),
        ],
    );
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");

    // The endpoint got each event --json-events printed, the same object, as JSON.
    let received = good.received();
    let bodies: Vec<Value> = received
        .iter()
        .map(|r| serde_json::from_str(r["body"].as_str().unwrap_or_default()).expect("JSON body"))
        .collect();
    for request in &received {
        assert_eq!(request["content_type"], "application/json", "{request}");
        assert_eq!(request["path"], "/hook", "{request}");
    }
    let names = event_names(&bodies);
    eprintln!(
        "FIGURE webhook: {} events received, {} printed, record took {:.1} s",
        bodies.len(),
        printed.len(),
        took.as_secs_f64()
    );
    for wanted in ["joined", "segment_finished", "recording_finished"] {
        assert!(names.iter().any(|n| n == wanted), "{wanted} in {names:?}");
    }
    assert_eq!(
        bodies, printed,
        "the webhook posts what --json-events prints"
    );

    // The slow endpoint got events too, without holding up the others; the dead one is
    // reported once the run ends.
    assert!(!slow.received().is_empty(), "the slow endpoint got events");
    assert!(
        stderr.contains(dead) && stderr.contains("failed"),
        "the dead endpoint is named: {stderr}"
    );
    // The recording is whole: alice's file is about the 8 s asked for.
    let dir = session_dir(&recordings);
    let manifest = manifest(&dir);
    let duration = manifest["participants"][0]["segments"][0]["duration_ns"]
        .as_u64()
        .unwrap_or(0);
    assert!(duration > 5_000_000_000, "{manifest}");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn hook_commands_get_each_file_and_the_session_and_their_failures_are_not_fatal() {
    let _serial = serial();
    let out = temp_dir("hooks");
    let (_server, url) = serve("official");
    let hostile = "$(touch pwned) `id` ; rm -rf x";
    let _alice = publish(&url, "hooks", "alice", "false", &["--label", hostile]);
    let recordings = out.join("recordings");
    let segments = out.join("segments.tsv");
    let done = out.join("done.txt");
    let on_segment = format!(
        r#"printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$ROOMTAPE_PARTICIPANT" "$ROOMTAPE_FILE" "$ROOMTAPE_VIDEO_CODEC" "$ROOMTAPE_AUDIO_CODEC" "$ROOMTAPE_DURATION" "$ROOMTAPE_OK" >> '{}'"#,
        segments.display()
    );
    let on_recording = format!(
        r#"printf '%s %s %s' "$ROOMTAPE_SESSION_DIR" "$ROOMTAPE_MANIFEST" "$ROOMTAPE_OK" > '{}'; exit 7"#,
        done.display()
    );
    let (output, _) = record_to_end(
        &url,
        "hooks",
        &[
            "--duration",
            "6",
            "--on-segment-finished",
            &on_segment,
            "--on-recording-finished",
            &on_recording,
            "--output",
            recordings.to_str().expect("utf-8"),
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The hook failed (exit 7): said, and the recording still succeeded.
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("--on-recording-finished") && stderr.contains("7"),
        "{stderr}"
    );
    let dir = session_dir(&recordings);
    let lines = std::fs::read_to_string(&segments).expect("the segment hook ran");
    eprintln!("FIGURE segment hook got: {lines}");
    let fields: Vec<&str> = lines
        .lines()
        .next()
        .unwrap_or_default()
        .split('\t')
        .collect();
    assert_eq!(fields.len(), 6, "{lines}");
    assert_eq!(fields[0], hostile, "the name reaches the hook as it is");
    assert!(Path::new(fields[1]).is_file(), "the file exists: {lines}");
    assert!(Path::new(fields[1]).starts_with(&dir), "{lines}");
    assert_eq!(fields[2], "vp8");
    assert_eq!(fields[3], "opus");
    let seconds: f64 = fields[4].parse().expect("a duration in seconds");
    assert!(seconds > 3.0, "{lines}");
    assert_eq!(fields[5], "1");
    assert!(!out.join("pwned").exists() && !Path::new("pwned").exists());
    let session = std::fs::read_to_string(&done).expect("the recording hook ran");
    assert_eq!(
        session,
        format!("{} {} 1", dir.display(), dir.join("session.json").display())
    );
    let _ = std::fs::remove_dir_all(&out);
}

fn curl(method: &str, url: &str, token: Option<&str>) -> (u32, Value) {
    let mut command = Command::new("curl");
    command.args(["-s", "-o", "-", "-w", "\n%{http_code}", "-X", method, url]);
    if let Some(token) = token {
        command.args(["-H", &format!("Authorization: Bearer {token}")]);
    }
    let output = command.output().expect("curl runs (package curl)");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", ""));
    (
        code.trim().parse().unwrap_or(0),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

#[test]
fn the_control_api_reports_leaves_out_and_stops_the_recording() {
    let _serial = serial();
    let out = temp_dir("control");
    let (_server, url) = serve("official");
    let _alice = publish(&url, "controlled", "alice", "false", &[]);
    let recordings = out.join("recordings");
    let mut recorder = record(
        &url,
        "controlled",
        "false",
        &[
            "--control",
            "127.0.0.1:0",
            "--output",
            recordings.to_str().expect("utf-8"),
        ],
    );
    let listening = recorder
        .wait_event(Duration::from_secs(20), |e| {
            e["event"] == "control_listening"
        })
        .expect("the control API says where it is");
    let base = listening["url"].as_str().expect("url").to_owned();
    let token = listening["token"].as_str().expect("token").to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{listening}");

    // No token, a wrong one: refused.
    assert_eq!(curl("GET", &format!("{base}status"), None).0, 401);
    assert_eq!(
        curl(
            "GET",
            &format!("{base}status"),
            Some("0123456789abcdef0123456789abcdef")
        )
        .0,
        401
    );
    // Alice shows up connected.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut status = Value::Null;
    while Instant::now() < deadline {
        let (code, body) = curl("GET", &format!("{base}status"), Some(&token));
        assert_eq!(code, 200, "{body}");
        status = body;
        let connected = status["participants"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["present"] == true && p["ice"] != ""));
        if connected && status["written_bytes"].as_u64().unwrap_or(0) > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    eprintln!("FIGURE status: {status}");
    assert_eq!(status["recording"], true, "{status}");
    assert_eq!(status["room"], "controlled", "{status}");
    assert!(status["free_bytes"].as_u64().unwrap_or(0) > 0, "{status}");
    let id = status["participants"][0]["id"]
        .as_str()
        .expect("a participant id")
        .to_owned();
    assert_eq!(status["participants"][0]["stream_id"], "alice", "{status}");

    // Leave alice out, then take her back: her first segment ends, a second one starts.
    let (code, body) = curl(
        "POST",
        &format!("{base}participants/{id}/exclude"),
        Some(&token),
    );
    assert_eq!(code, 200, "{body}");
    let (_, status) = curl("GET", &format!("{base}status"), Some(&token));
    assert_eq!(status["participants"][0]["excluded"], true, "{status}");
    recorder
        .wait_event(Duration::from_secs(20), |e| {
            e["event"] == "segment_finished"
        })
        .expect("her segment is finished when she is left out");
    let (code, _) = curl(
        "POST",
        &format!("{base}participants/{id}/include"),
        Some(&token),
    );
    assert_eq!(code, 200);
    assert_eq!(
        curl(
            "POST",
            &format!("{base}participants/nobody/exclude"),
            Some(&token)
        )
        .0,
        404
    );
    assert_eq!(curl("GET", &format!("{base}stop"), Some(&token)).0, 405);
    std::thread::sleep(Duration::from_secs(3));

    // Stop: the files are finished and record exits 0.
    let (code, _) = curl("POST", &format!("{base}stop"), Some(&token));
    assert_eq!(code, 202);
    recorder
        .wait_event(Duration::from_secs(30), |e| {
            e["event"] == "recording_finished"
        })
        .expect("stopped through the API");
    assert!(recorder.wait_exit(Duration::from_secs(20)), "record exits");
    let manifest = manifest(&session_dir(&recordings));
    let segments = manifest["participants"][0]["segments"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(segments.len(), 2, "left out and back: {manifest}");
    assert_eq!(segments[0]["end_reason"], "excluded", "{manifest}");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn the_control_api_refuses_an_address_that_is_not_loopback() {
    let output = Command::new(env!("CARGO_BIN_EXE_roomtape"))
        .args(["record", "--server", "ws://127.0.0.1:9", "--room", "x"])
        .args(["--no-record", "--control", "0.0.0.0:0", "--duration", "1"])
        .stdin(Stdio::null())
        .output()
        .expect("record runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_ne!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("not a loopback address") && stderr.contains("--control-allow-remote"),
        "{stderr}"
    );
}

/// Every `session.json` under `dir`.
fn manifests_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.file_name().is_some_and(|n| n == "session.json") {
                found.push(path);
            }
        }
    }
    found
}

/// `gapplication action` (GLib's own client) on `bus`.
fn gapplication(bus: &common::desktop_bus::PrivateBus, action: &str, parameter: Option<&str>) {
    let status = Command::new("gapplication")
        .args(["action", "io.github.roomtape.Roomtape", action])
        .args(parameter)
        .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
        .status()
        .expect("gapplication runs (package libglib2.0-bin)");
    assert!(status.success(), "gapplication action {action}");
}

#[test]
fn the_app_joins_records_stops_and_leaves_through_gapplication_actions() {
    assert!(
        std::env::var_os("DISPLAY").is_some(),
        "DISPLAY is not set: run this test under an X server"
    );
    let _serial = serial();
    let bus = common::desktop_bus::PrivateBus::start();
    let home = temp_dir("dbus-actions");
    let (_server, url) = serve("official");
    let _alice = publish(&url, "remote", "alice", "false", &[]);
    // The app's webhook preference, set as a keyfile the way GSettings reads one.
    let receiver = Receiver::start(home.join("app-webhook.jsonl"), 0.0);
    let keyfile = home.join("config/glib-2.0/settings/keyfile");
    std::fs::create_dir_all(keyfile.parent().expect("parent")).expect("settings dir");
    std::fs::write(
        &keyfile,
        format!(
            "[io/github/roomtape/Roomtape]\nwebhooks=['{}']\n",
            receiver.url
        ),
    )
    .expect("keyfile");
    let log = home.join("app.log");
    let child = Command::new(env!("CARGO_BIN_EXE_roomtape"))
        .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("GSK_RENDERER", "cairo")
        .env("GTK_A11Y", "none")
        .env("GSETTINGS_BACKEND", "keyfile")
        .env("RUST_LOG", "roomtape=info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("the app starts");
    // Killed when dropped, should an assertion fail first.
    let mut app = Proc::from_child(child, std::sync::mpsc::channel().1);
    assert!(
        bus.wait_for_owner("io.github.roomtape.Roomtape", Duration::from_secs(30)),
        "the app is on the bus"
    );

    let link = format!("'https://vdo.ninja/?room=remote&pw=false&wss={url}'");
    gapplication(&bus, "join", Some(&link));
    // `record` does nothing until the room is joined: repeat it until a session starts.
    let deadline = Instant::now() + Duration::from_secs(40);
    while manifests_under(&home).is_empty() && Instant::now() < deadline {
        gapplication(&bus, "record", None);
        std::thread::sleep(Duration::from_secs(1));
    }
    let manifest_path = manifests_under(&home).pop().unwrap_or_else(|| {
        panic!(
            "no recording started: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        )
    });
    std::thread::sleep(Duration::from_secs(4));
    gapplication(&bus, "record", None); // already recording: nothing changes
    gapplication(&bus, "stop", None);
    let finished = |path: &Path| {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .filter(|m| m["state"] == "finished")
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut manifest = None;
    while manifest.is_none() && Instant::now() < deadline {
        manifest = finished(&manifest_path);
        std::thread::sleep(Duration::from_millis(250));
    }
    let manifest = manifest.expect("stop finished the recording");
    gapplication(&bus, "leave", None);
    gapplication(&bus, "quit", None);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut exited = None;
    while exited.is_none() && Instant::now() < deadline {
        exited = app.child.try_wait().expect("wait");
        std::thread::sleep(Duration::from_millis(100));
    }

    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(exited.is_some(), "quit over D-Bus ends the app: {text}");
    assert!(text.contains("asked over D-Bus to join"), "{text}");
    let participants = manifest["participants"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(participants.len(), 1, "{manifest}");
    let segments = participants[0]["segments"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    eprintln!("FIGURE recorded over D-Bus: {segments:?}");
    assert_eq!(
        segments.len(),
        1,
        "one segment: record twice did not restart {manifest}"
    );
    assert_eq!(segments[0]["end_reason"], "stopped", "{manifest}");
    assert!(
        segments[0]["duration_ns"].as_u64().unwrap_or(0) > 3_000_000_000,
        "{manifest}"
    );
    // The app posted the room's events to the webhook of its preferences.
    let posted: Vec<Value> = receiver
        .received()
        .iter()
        .filter_map(|r| serde_json::from_str(r["body"].as_str().unwrap_or_default()).ok())
        .collect();
    let names = event_names(&posted);
    eprintln!("FIGURE app webhook events: {names:?}");
    for wanted in [
        "joined",
        "recording_started",
        "segment_finished",
        "recording_finished",
    ] {
        assert!(names.iter().any(|n| n == wanted), "{wanted} in {names:?}");
    }
    let _ = std::fs::remove_dir_all(&home);
}
