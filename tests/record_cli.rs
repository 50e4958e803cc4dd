//! `roomtape record` as people script it: exit codes, what it prints on a pipe, its logs, and
//! the sleep inhibitor it takes from systemd-logind over the system bus.

// Tests print what they measured; the harness captures it.
#![allow(clippy::print_stdout)]

mod common;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::desktop_bus::{FakeService, PrivateBus, Service};
use common::*;

/// `roomtape record` with `args`, as a script runs it: no terminal, no RUST_LOG.
fn record_command(args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .arg("record")
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("G_MESSAGES_DEBUG")
        .stdin(Stdio::null());
    command
}

fn run(command: &mut Command) -> (Output, String, String) {
    let output = command.output().expect("roomtape runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output, stdout, stderr)
}

#[test]
fn exit_codes_tell_usage_nobody_and_no_space_apart() {
    let _serial = serial();
    let out = temp_dir("exitcodes");
    let (_server, url) = serve("official");
    let output = out.to_str().unwrap();

    // The command line is wrong: 2, like every clap error.
    let (result, _, stderr) = run(&mut record_command(&["--room", "r", "--min-free", "lots"]));
    assert_eq!(result.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("500M"),
        "says what a size looks like: {stderr}"
    );

    // Nobody came: 3, and no empty session folder is left behind.
    let (result, stdout, stderr) = run(&mut record_command(&[
        "--server",
        &url,
        "--room",
        "empty",
        "--password",
        "false",
        "--stun",
        "false",
        "--duration",
        "4",
        "--output",
        output,
    ]));
    assert_eq!(result.status.code(), Some(3), "{stdout}\n{stderr}");
    assert!(stdout.contains("Nobody was recorded"), "{stdout}");
    let left: Vec<_> = std::fs::read_dir(&out).unwrap().collect();
    assert!(
        left.is_empty(),
        "the empty session folder is removed: {left:?}"
    );

    // Less free space than --min-free: 4, nothing started, the reason said.
    let (result, stdout, stderr) = run(&mut record_command(&[
        "--server",
        &url,
        "--room",
        "full",
        "--password",
        "false",
        "--stun",
        "false",
        "--duration",
        "4",
        "--min-free",
        "1000T",
        "--output",
        output,
    ]));
    assert_eq!(result.status.code(), Some(4), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("free in") && stderr.contains("--min-free"),
        "{stderr}"
    );
    assert!(
        std::fs::read_dir(&out).unwrap().next().is_none(),
        "nothing started"
    );

    // The exit codes are in the help.
    let (result, stdout, _) = run(&mut record_command(&["--help"]));
    assert!(result.status.success());
    for code in ["0 ", "1 ", "2 ", "3 ", "4 "] {
        assert!(
            stdout.contains(&format!("  {code}")),
            "exit code {code}in --help: {stdout}"
        );
    }
    let _ = std::fs::remove_dir_all(&out);
}

/// On a pipe: the events in words, no status line, no logs unless -v, no "Signaling lost" at a
/// clean stop, a summary table at the end, and exit code 0.
#[test]
fn a_scripted_recording_prints_events_and_a_summary_and_logs_only_with_v() {
    let _serial = serial();
    let out = temp_dir("summary");
    let (_server, url) = serve("official");
    let _alice = publish(
        &url,
        "table",
        "alice",
        "false",
        &["--label", "Alice Liddell"],
    );
    let _bob = publish(&url, "table", "bob", "false", &["--no-video"]);
    let mut quiet = record_command(&[
        "--server",
        &url,
        "--room",
        "table",
        "--password",
        "false",
        "--stun",
        "false",
        "--duration",
        "8",
        "--output",
        out.to_str().unwrap(),
    ]);
    let (result, stdout, stderr) = run(&mut quiet);
    eprintln!("FIGURE record stdout:\n{stdout}");
    assert_eq!(result.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        !stdout.contains('\r') && !stdout.contains("\x1b["),
        "no status line on a pipe"
    );
    assert!(!stdout.contains("Signaling lost"), "{stdout}");
    assert!(!stderr.contains(" INFO "), "no logs without -v: {stderr}");
    let table: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("Participant"))
        .collect();
    assert!(
        table[0].contains("File") && table[0].contains("Duration") && table[0].contains("Size")
    );
    assert_eq!(table.len(), 3, "one row per file: {stdout}");
    assert!(
        table
            .iter()
            .any(|l| l.starts_with("Alice Liddell") && l.contains(".mkv")),
        "{stdout}"
    );
    assert!(
        table
            .iter()
            .any(|l| l.starts_with("bob") && l.contains("MB")
                || l.starts_with("bob") && l.contains("kB")),
        "{stdout}"
    );

    let (result, _, stderr) = run(&mut record_command(&[
        "-v",
        "--server",
        &url,
        "--room",
        "table",
        "--password",
        "false",
        "--stun",
        "false",
        "--duration",
        "3",
        "--output",
        out.to_str().unwrap(),
    ]));
    assert_eq!(result.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains(" INFO "), "-v logs what happens: {stderr}");
    let _ = std::fs::remove_dir_all(&out);
}

/// A logind on a private system bus hands out the inhibitor: taken with "sleep:idle" and a
/// reason naming the room, held while recording, released when the recorder is done. Without
/// logind, one line says so and recording goes on.
#[test]
fn the_machine_is_kept_awake_while_recording() {
    let _serial = serial();
    let out = temp_dir("inhibit");
    let (_server, url) = serve("official");
    let bus = PrivateBus::start();
    let logind = FakeService::start(&bus.address, Service::Logind);
    let mut recorder = Command::new(BIN)
        .args([
            "record",
            "--server",
            &url,
            "--room",
            "awake",
            "--password",
            "false",
            "--stun",
            "false",
            "--json-events",
            "--duration",
            "6",
            "--output",
            out.to_str().unwrap(),
        ])
        .env("DBUS_SYSTEM_BUS_ADDRESS", &bus.address)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("record starts");
    let deadline = Instant::now() + Duration::from_secs(10);
    while logind.calls_of("Inhibit").is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let calls = logind.calls_of("Inhibit");
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(
        calls[0].contains("'sleep:idle'") && calls[0].contains("'block'"),
        "{calls:?}"
    );
    assert!(calls[0].contains("Recording room awake"), "{calls:?}");
    std::thread::sleep(Duration::from_secs(1));
    assert!(!logind.all_released(), "held while recording");
    let status = recorder.wait().expect("record exits");
    assert!(
        logind.all_released(),
        "released when the recorder is done ({status})"
    );
    let stderr = std::io::read_to_string(recorder.stderr.take().unwrap()).unwrap_or_default();
    assert!(
        !stderr.contains("cannot keep the machine awake"),
        "{stderr}"
    );

    // No logind at all.
    let (result, _, stderr) = run(record_command(&[
        "--server",
        &url,
        "--room",
        "awake",
        "--password",
        "false",
        "--stun",
        "false",
        "--duration",
        "2",
        "--output",
        out.to_str().unwrap(),
    ])
    .env(
        "DBUS_SYSTEM_BUS_ADDRESS",
        "unix:path=/nonexistent/roomtape-test-bus",
    ));
    assert_eq!(
        stderr.matches("cannot keep the machine awake").count(),
        1,
        "one line says so: {stderr}"
    );
    assert_eq!(
        result.status.code(),
        Some(3),
        "and it records (nobody here): {stderr}"
    );
    let _ = std::fs::remove_dir_all(&out);
}

/// On a terminal (a pseudo-terminal from util-linux's `script`), one status line is kept up to
/// date in place: elapsed time, participants, MB written, free space.
#[test]
fn on_a_terminal_one_status_line_is_refreshed() {
    let _serial = serial();
    let out = temp_dir("status");
    let (_server, url) = serve("official");
    let _alice = publish(&url, "status", "alice", "false", &[]);
    let command = format!(
        "'{BIN}' record --server '{url}' --room status --password false --stun false --duration 7 --output '{}'",
        out.display()
    );
    let output = Command::new("script")
        .args(["--quiet", "--return", "--command", &command, "/dev/null"])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("script runs (util-linux)");
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{text}");
    let updates: Vec<&str> = text
        .split("\r\x1b[2K")
        .filter(|part| part.contains("participant") && part.contains("written"))
        .collect();
    eprintln!("FIGURE status line: {:?}", updates.last());
    assert!(updates.len() >= 2, "refreshed in place: {text:?}");
    let last = updates.last().expect("a status line");
    assert!(
        last.starts_with("00:00:0") && last.contains("1 participant") && last.contains(" free"),
        "{last:?}"
    );
    let _ = std::fs::remove_dir_all(&out);
}

/// The room password can stay out of the process list: read from a file, or from
/// ROOMTAPE_PASSWORD; either one opens the room as --password does.
#[test]
fn the_password_comes_from_a_file_or_the_environment() {
    let _serial = serial();
    let out = temp_dir("password-file");
    let (_server, url) = serve("official");
    let _alice = publish(&url, "secret-room", "alice", "s cret", &[]);
    let password_file = out.join("password");
    std::fs::write(&password_file, "s cret\n").expect("password file");
    let recordings = out.join("recordings");
    let common = ["--server", &url, "--room", "secret-room", "--stun", "false"];
    let (result, stdout, stderr) = run(record_command(&common)
        .args([
            "--duration",
            "6",
            "--password-file",
            password_file.to_str().unwrap(),
        ])
        .args(["--output", recordings.to_str().unwrap()]));
    assert_eq!(result.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("alice"),
        "recorded with the file's password: {stdout}"
    );
    let (result, stdout, stderr) = run(record_command(&common)
        .env("ROOMTAPE_PASSWORD", "s cret")
        .args(["--duration", "6", "--output", recordings.to_str().unwrap()]));
    assert_eq!(result.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("alice"),
        "recorded with the environment's password: {stdout}"
    );
    // The wrong password reaches nobody: nothing recorded.
    let (result, _, _) = run(record_command(&common)
        .env("ROOMTAPE_PASSWORD", "wrong")
        .args(["--duration", "4", "--output", recordings.to_str().unwrap()]));
    assert_eq!(result.status.code(), Some(3));
    // An empty file is an error that says what to write.
    std::fs::write(&password_file, "").expect("empty");
    let (result, _, stderr) = run(record_command(&common).args([
        "--duration",
        "2",
        "--password-file",
        password_file.to_str().unwrap(),
    ]));
    assert_eq!(result.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("empty") && stderr.contains("false"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&out);
}

/// While `record` runs with its secrets in files, no process line on the machine shows them:
/// not `ps`, not the recorder's own /proc/PID/cmdline.
#[test]
fn no_secret_is_in_the_process_list_while_recording() {
    let _serial = serial();
    let out = temp_dir("ps-secrets");
    let (_server, url) = serve("official");
    let room_password = "ps-room-pw-83e1";
    let turn_password = "ps-turn-pw-2b7c";
    let password_file = out.join("password");
    std::fs::write(&password_file, room_password).expect("password file");
    // The guest keeps it off the command line too, so that any line with it would be ours.
    let _alice = Proc::spawn(&[
        "publish",
        "--server",
        &url,
        "--room",
        "ps-room",
        "--stream",
        "alice",
        "--password-file",
        password_file.to_str().expect("utf-8"),
    ]);
    let turn_file = out.join("turn");
    std::fs::write(
        &turn_file,
        format!("turn://tapeuser:{turn_password}@127.0.0.1:3478\n"),
    )
    .expect("turn file");
    let recordings = out.join("recordings");
    let mut recorder = record_command(&[
        "--server",
        &url,
        "--room",
        "ps-room",
        "--stun",
        "false",
        "--duration",
        "8",
    ])
    .arg("--password-file")
    .arg(&password_file)
    .arg("--turn-file")
    .arg(&turn_file)
    .arg("--output")
    .arg(&recordings)
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("record starts");
    std::thread::sleep(Duration::from_secs(4));
    let ps = Command::new("ps")
        .args(["-eo", "pid,args"])
        .output()
        .expect("ps runs");
    let ps = String::from_utf8_lossy(&ps.stdout).into_owned();
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", recorder.id())).unwrap_or_default();
    let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    let still_running = recorder.try_wait().expect("wait").is_none();
    let output = recorder.wait_with_output().expect("record ends");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(still_running, "ps was read while recording: {stdout}");
    assert!(
        cmdline.contains("--password-file"),
        "the recorder's own line: {cmdline}"
    );
    assert!(ps.contains("--turn-file"), "ps lists the recorder: {ps}");
    for secret in [room_password, turn_password] {
        assert!(!ps.contains(secret), "{secret} in ps:\n{ps}");
        assert!(!cmdline.contains(secret), "{secret} in {cmdline}");
    }
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("alice"),
        "recorded with the file's password: {stdout}"
    );
    let _ = std::fs::remove_dir_all(&out);
}

/// `--name-template` names every part of every participant by the template, each value made
/// safe: a hostile label neither leaves the session folder nor breaks the name.
#[test]
fn name_templates_name_every_part_inside_the_session_folder() {
    let _serial = serial();
    let out = temp_dir("template");
    let (_server, url) = serve("official");
    let mut recorder = record(
        &url,
        "tmpl",
        "false",
        &[
            "--output",
            out.to_str().unwrap(),
            "--name-template",
            "{room}-{label}-{part}",
            "--split-every",
            "10s",
            "--duration",
            "25",
        ],
    );
    recorder
        .wait_event(Duration::from_secs(20), |e| {
            e["event"] == "signaling_connected"
        })
        .expect("connects");
    let _evil = publish(
        &url,
        "tmpl",
        "evil",
        "false",
        &["--label", "../../escape/me"],
    );
    let _bob = publish(&url, "tmpl", "bob", "false", &["--label", "Bob"]);
    assert!(
        recorder.wait_exit(Duration::from_secs(90)),
        "the recorder stops after --duration"
    );

    let outside: Vec<_> = std::fs::read_dir(&out).unwrap().flatten().collect();
    assert_eq!(outside.len(), 1, "only the session folder: {outside:?}");
    let session = session_dir(&out);
    let manifest = manifest(&session);
    let mut expected = vec!["session.json".to_owned()];
    for (stream, label) in [("evil", "escapeme"), ("bob", "Bob")] {
        let parts: Vec<serde_json::Value> = manifest["participants"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["stream_id"] == stream)
            .and_then(|p| p["segments"].as_array().cloned())
            .unwrap_or_default();
        assert!(parts.len() >= 2, "{stream}: {parts:#?}");
        for (n, part) in parts.iter().enumerate() {
            let name = format!("tmpl-{label}-{}.mkv", n + 1);
            assert_eq!(part["file"].as_str(), Some(name.as_str()), "{stream}");
            let file = session.join(&name);
            let report = inspect(&file);
            assert!(report.video_frames > 0, "{name}: video");
            let decoded = decode_video(&file);
            assert_eq!(decoded.error, None, "{name} decodes");
            expected.push(name);
        }
    }
    let mut names: Vec<String> = std::fs::read_dir(&session)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    expected.sort();
    assert_eq!(names, expected, "the folder holds what the manifest says");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn an_invalid_name_template_is_a_usage_error() {
    let (result, _, stderr) = run(&mut record_command(&[
        "--room",
        "r",
        "--name-template",
        "{label}-{nme}",
    ]));
    assert_eq!(result.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("unknown placeholder {nme}") && stderr.contains("{label}, {stream}"),
        "{stderr}"
    );
    let (result, _, stderr) = run(&mut record_command(&[
        "--room",
        "r",
        "--name-template",
        "{label",
    ]));
    assert_eq!(result.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("unbalanced brace"), "{stderr}");

    let (result, stdout, _) = run(&mut record_command(&["--help"]));
    assert!(result.status.success());
    assert!(
        stdout.contains("--name-template <TEMPLATE>") && stdout.contains("{part}"),
        "{stdout}"
    );
}
