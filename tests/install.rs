//! Roomtape as an installed GNOME app: `build-aux/install.sh` into a temporary prefix, the
//! installed copy started on its own (it uses only what was installed, never the checkout's
//! schema, icons or catalogs), translated, one instance per session, and an uninstall that
//! removes exactly what was installed. Runs under the X server of the test command.

// Tests print what they measured; the harness captures it.
#![allow(clippy::print_stdout)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::desktop_bus::PrivateBus;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const APP_ID: &str = "io.github.roomtape.Roomtape";

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("roomtape-install-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn install(prefix: &Path, extra: &[&str]) -> String {
    let output = Command::new("bash")
        .arg(Path::new(ROOT).join("build-aux/install.sh"))
        .arg("--prefix")
        .arg(prefix)
        .args(extra)
        .output()
        .expect("install.sh runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "install.sh {extra:?} failed: {text}"
    );
    text
}

/// The installed binary, run with a home of its own and the prefix as its data dir, in a mount
/// namespace where an empty tmpfs covers the checkout: the sources, `target/`, the compiled
/// catalogs and the schema the build knows of are all gone for it.
fn installed_app(prefix: &Path, home: &Path) -> Command {
    let mut command = Command::new("unshare");
    command
        .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .arg(r#"mount -t tmpfs checkout-gone "$0" && test ! -e "$0/Cargo.toml" && exec "$@""#)
        .arg(ROOT)
        .arg(prefix.join("bin/roomtape"));
    command
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env(
            "XDG_DATA_DIRS",
            format!("{}:/usr/share", prefix.join("share").display()),
        )
        .env("GSK_RENDERER", "cairo")
        .env("GTK_A11Y", "none")
        .env("GSETTINGS_BACKEND", "memory")
        .env_remove("GSETTINGS_SCHEMA_DIR")
        .stdin(Stdio::null());
    command
}

#[test]
fn the_installed_app_runs_on_its_own_translated_and_uninstalls_cleanly() {
    let base = temp("prefix");
    let prefix = base.join("usr");
    let home = base.join("home");
    std::fs::create_dir_all(&home).expect("home");
    // A build folder of its own, deleted once installed.
    let build = base.join("build");
    std::fs::create_dir_all(&build).expect("build folder");
    let built = build.join("roomtape");
    std::fs::copy(env!("CARGO_BIN_EXE_roomtape"), &built).expect("copy the binary");
    install(&prefix, &["--binary", built.to_str().expect("utf-8")]);
    std::fs::remove_dir_all(&build).expect("delete the build folder");

    let languages: Vec<String> = std::fs::read_to_string(Path::new(ROOT).join("po/LINGUAS"))
        .expect("LINGUAS")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    assert!(
        languages.len() >= 2,
        "at least two translations: {languages:?}"
    );
    let mut expected = vec![
        "bin/roomtape".to_owned(),
        format!("share/applications/{APP_ID}.desktop"),
        format!("share/metainfo/{APP_ID}.metainfo.xml"),
        format!("share/glib-2.0/schemas/{APP_ID}.gschema.xml"),
        "share/glib-2.0/schemas/gschemas.compiled".to_owned(),
        format!("share/icons/hicolor/scalable/apps/{APP_ID}.svg"),
        format!("share/icons/hicolor/symbolic/apps/{APP_ID}-symbolic.svg"),
        "share/man/man1/roomtape.1.gz".to_owned(),
        "lib/systemd/system/roomtape-record@.service".to_owned(),
    ];
    for lang in &languages {
        expected.push(format!("share/locale/{lang}/LC_MESSAGES/roomtape.mo"));
    }
    for file in &expected {
        assert!(prefix.join(file).is_file(), "{file} is installed");
    }
    let unit = std::fs::read_to_string(prefix.join("lib/systemd/system/roomtape-record@.service"))
        .expect("unit file");
    assert!(
        unit.contains(&format!(
            "ExecStart={}/bin/roomtape record ",
            prefix.display()
        )),
        "the unit runs the installed binary: {unit}"
    );

    // The installed data files are valid, and carry the translations.
    let desktop = prefix.join(format!("share/applications/{APP_ID}.desktop"));
    let status = Command::new("desktop-file-validate")
        .arg(&desktop)
        .status()
        .expect("runs");
    assert!(status.success(), "desktop-file-validate");
    let desktop_text = std::fs::read_to_string(&desktop).expect("desktop file");
    for lang in &languages {
        assert!(
            desktop_text.contains(&format!("Comment[{lang}]=")),
            "{lang} in {desktop_text}"
        );
    }
    let metainfo = prefix.join(format!("share/metainfo/{APP_ID}.metainfo.xml"));
    let output = Command::new("appstreamcli")
        .args(["validate", "--no-net"])
        .arg(&metainfo)
        .output()
        .expect("appstreamcli runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );

    // It starts with the build folder deleted and the checkout out of reach, and shows its
    // window.
    let png = base.join("window.png");
    let status = installed_app(&prefix, &home)
        .arg("--test-hook")
        .arg(format!("screenshot={}", png.display()))
        .args(["--test-hook", "screenshot-delay=1"])
        .status()
        .expect("the installed app starts");
    assert!(status.success(), "the installed app failed: {status}");
    assert!(
        png.metadata().is_ok_and(|m| m.len() > 10 * 1024),
        "no window was drawn"
    );

    // In German, the window speaks German: the status line of the demo room.
    let output = installed_app(&prefix, &home)
        .args([
            "--demo",
            "--test-hook",
            "record-seconds=1",
            "--test-hook",
            "scenario=record",
        ])
        .env("LANGUAGE", "de")
        .env("LANG", "C.UTF-8")
        .env("LC_ALL", "C.UTF-8")
        .output()
        .expect("the installed app runs the demo");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: serde_json::Value = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no report in {stdout}"));
    let in_the_room = Command::new("gettext")
        .args(["-d", "roomtape", "in the room"])
        .env("TEXTDOMAINDIR", prefix.join("share/locale"))
        .env("LANGUAGE", "de")
        .env("LANG", "C.UTF-8")
        .env("LC_ALL", "C.UTF-8")
        .output()
        .expect("gettext runs");
    let in_the_room = String::from_utf8_lossy(&in_the_room.stdout).into_owned();
    assert_ne!(in_the_room, "in the room", "the catalog translates it");
    let status = report["connected"]["status"].as_str().unwrap_or_default();
    eprintln!("FIGURE German status line: {status}");
    assert!(
        status.ends_with(&in_the_room),
        "{status:?} is not German ({in_the_room:?})"
    );

    // Uninstalling removes exactly what was installed: nothing is left under the prefix.
    let before = files_under(&prefix);
    assert!(before.len() >= expected.len());
    install(&prefix, &["--uninstall"]);
    let left = files_under(&prefix);
    assert!(left.is_empty(), "left behind: {left:?}");
    let _ = std::fs::remove_dir_all(&base);
}

/// A second launch hands its link to the window already open and quits; the first joins it.
#[test]
fn a_second_launch_hands_its_link_to_the_running_window() {
    let bus = PrivateBus::start();
    let home = temp("single");
    let log = home.join("first.log");
    let mut first = Command::new(env!("CARGO_BIN_EXE_roomtape"))
        .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
        .env("HOME", &home)
        .env("GSK_RENDERER", "cairo")
        .env("GTK_A11Y", "none")
        .env("GSETTINGS_BACKEND", "memory")
        .env("RUST_LOG", "roomtape=info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("the first launch starts");
    assert!(
        bus.wait_for_owner(APP_ID, Duration::from_secs(30)),
        "the first launch owns {APP_ID} on the session bus"
    );

    let link = "https://vdo.ninja/?room=forwarded&pw=false&wss=ws://127.0.0.1:9";
    let mut second = Command::new(env!("CARGO_BIN_EXE_roomtape"))
        .arg(link)
        .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
        .env("HOME", &home)
        .env("GSETTINGS_BACKEND", "memory")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the second launch starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = second.try_wait().expect("wait") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = second.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        status.is_some_and(|s| s.success()),
        "the second launch quits: {status:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut text = String::new();
    while Instant::now() < deadline {
        text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("another launch asked to join forwarded") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        first.try_wait().expect("wait").is_none(),
        "the first launch is still running"
    );
    let _ = first.kill();
    let _ = first.wait();
    assert!(
        text.contains("another launch asked to join forwarded"),
        "the first window took the link: {text}"
    );
    let _ = std::fs::remove_dir_all(&home);
}
