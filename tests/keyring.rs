//! Secrets live in the keyring, never in dconf: Roomtape against a real GNOME Keyring
//! (`gnome-keyring-daemon`, unlocked from the test) and real dconf on a private session bus,
//! read back with libsecret's `secret-tool` and `dconf dump`. And with no keyring running,
//! nothing is written to dconf either, and the window says passwords are not kept.
//! Runs under the X server of the test command.

// Tests print what they measured; the harness captures it.
#![allow(clippy::print_stdout)]

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::desktop_bus::PrivateBus;

const APP_ID: &str = "io.github.roomtape.Roomtape";
/// What the test hook's `secrets-write` scenario types in (src/ui/testhook.rs).
const DEFAULT_PASSWORD: &str = "default-pw-7f3a";
const TURN_USER: &str = "tapeuser";
const TURN_PASSWORD: &str = "turn-pw-91c2";
const ROOM: &str = "keyring-room";
const ROOM_SERVER: &str = "ws://127.0.0.1:9";
const ROOM_PASSWORD: &str = "room-pw-5d04";
const SECRETS: [&str; 3] = [DEFAULT_PASSWORD, TURN_PASSWORD, ROOM_PASSWORD];

/// A desktop session of its own: home, XDG folders and a session bus whose services (dconf)
/// use them.
struct Desktop {
    base: PathBuf,
    bus: PrivateBus,
}

impl Desktop {
    fn new(name: &str) -> Desktop {
        let base =
            std::env::temp_dir().join(format!("roomtape-keyring-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        for dir in ["home", "config", "data", "cache"] {
            std::fs::create_dir_all(base.join(dir)).expect("temp dirs");
        }
        let runtime = base.join("runtime");
        std::fs::create_dir_all(&runtime).expect("runtime dir");
        let _ = Command::new("chmod").arg("700").arg(&runtime).status();
        let bus = PrivateBus::start_with_env(&[
            ("HOME", &base.join("home")),
            ("XDG_CONFIG_HOME", &base.join("config")),
            ("XDG_DATA_HOME", &base.join("data")),
            ("XDG_CACHE_HOME", &base.join("cache")),
            ("XDG_RUNTIME_DIR", &runtime),
        ]);
        Desktop { base, bus }
    }

    /// `program` in this session.
    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        command
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus.address)
            .env("HOME", self.base.join("home"))
            .env("XDG_CONFIG_HOME", self.base.join("config"))
            .env("XDG_DATA_HOME", self.base.join("data"))
            .env("XDG_CACHE_HOME", self.base.join("cache"))
            .env("XDG_RUNTIME_DIR", self.base.join("runtime"))
            .stdin(Stdio::null());
        command
    }

    /// Starts GNOME Keyring's Secret Service with a login keyring it creates and unlocks.
    fn start_keyring(&self) {
        let mut daemon = self
            .command("gnome-keyring-daemon")
            .args(["--unlock", "--components=secrets", "--daemonize"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("gnome-keyring-daemon starts (package gnome-keyring)");
        if let Some(mut stdin) = daemon.stdin.take() {
            stdin
                .write_all(b"keyring-unlock-pw")
                .expect("unlock password");
        }
        let status = daemon.wait().expect("gnome-keyring-daemon forks");
        assert!(status.success(), "gnome-keyring-daemon: {status}");
        // --daemonize can return before the bus name is taken.
        assert!(
            self.bus
                .wait_for_owner("org.freedesktop.secrets", Duration::from_secs(10)),
            "the keyring owns org.freedesktop.secrets"
        );
    }

    /// Runs the app's test hook `scenario` in this session with real dconf settings.
    fn hook(&self, scenario: &str) -> serde_json::Value {
        let output = self
            .command(env!("CARGO_BIN_EXE_roomtape"))
            .args(["--test-hook", "record-seconds=0", "--test-hook"])
            .arg(format!("scenario={scenario}"))
            .env("GSETTINGS_BACKEND", "dconf")
            .env("GSK_RENDERER", "cairo")
            .env("GTK_A11Y", "none")
            .env("G_DEBUG", "fatal-criticals")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .expect("roomtape starts");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "{scenario}: {}\n{stderr}",
            output.status
        );
        let line = stdout
            .lines()
            .rev()
            .find(|l| l.starts_with('{'))
            .unwrap_or_else(|| panic!("{scenario}: no report in {stdout:?}\n{stderr}"));
        serde_json::from_str(line).expect("the report is JSON")
    }

    /// Everything Roomtape keeps in dconf, as `dconf dump` prints it, and the raw database.
    fn dconf(&self) -> (String, Vec<u8>) {
        let output = self
            .command("dconf")
            .args(["dump", "/"])
            .output()
            .expect("dconf runs (package dconf-cli)");
        assert!(output.status.success(), "dconf dump");
        let database = std::fs::read(self.base.join("config/dconf/user")).unwrap_or_default();
        (
            String::from_utf8_lossy(&output.stdout).into_owned(),
            database,
        )
    }

    /// What `secret-tool` (libsecret, not Roomtape's client) finds under `attributes`.
    fn secret_tool_lookup(&self, attributes: &[(&str, &str)]) -> Option<String> {
        let mut command = self.command("secret-tool");
        command.arg("lookup").args(["application", APP_ID]);
        for (key, value) in attributes {
            command.args([key, value]);
        }
        let output = command
            .output()
            .expect("secret-tool runs (package libsecret-tools)");
        output.status.success().then(|| {
            String::from_utf8_lossy(&output.stdout)
                .trim_end()
                .to_owned()
        })
    }
}

impl Drop for Desktop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

fn assert_no_secret_in(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for secret in SECRETS {
        assert!(!text.contains(secret), "{secret} is in {what}:\n{text}");
    }
}

fn check_display() {
    assert!(
        std::env::var_os("DISPLAY").is_some(),
        "DISPLAY is not set: run the keyring tests under an X server"
    );
}

#[test]
fn passwords_and_turn_credentials_go_to_the_keyring_and_come_back() {
    check_display();
    let desktop = Desktop::new("gnome-keyring");
    desktop.start_keyring();

    let written = desktop.hook("secrets-write");
    assert_eq!(written["preferences_opened"], true, "{written}");
    assert_eq!(written["rows_found"], true, "{written}");
    assert_eq!(written["writes_done"], true, "{written}");
    assert!(written["keyring_unavailable"].is_null(), "{written}");
    assert_eq!(
        written["turn_urls"],
        serde_json::json!([format!("turn://{TURN_USER}:{TURN_PASSWORD}@127.0.0.1:3478")]),
        "a join uses the credentials: {written}"
    );

    // dconf holds the choices, none of the secrets.
    let (dump, database) = desktop.dconf();
    eprintln!("FIGURE dconf dump:\n{dump}");
    assert!(dump.contains("password-kind='custom'"), "{dump}");
    assert!(
        dump.contains("turn-servers=['turn://127.0.0.1:3478']"),
        "{dump}"
    );
    assert!(
        dump.contains(ROOM),
        "the room is among the recent ones: {dump}"
    );
    assert_no_secret_in("dconf dump /", dump.as_bytes());
    assert!(!database.is_empty(), "dconf wrote its database");
    assert_no_secret_in("the dconf database", &database);

    // The keyring has them, as another Secret Service client reads them.
    assert_eq!(
        desktop
            .secret_tool_lookup(&[("kind", "default-room-password")])
            .as_deref(),
        Some(DEFAULT_PASSWORD)
    );
    assert_eq!(
        desktop
            .secret_tool_lookup(&[("kind", "turn-credentials")])
            .as_deref(),
        Some(format!("{TURN_USER}:{TURN_PASSWORD}").as_str())
    );
    assert_eq!(
        desktop
            .secret_tool_lookup(&[
                ("kind", "room-password"),
                ("server", ROOM_SERVER),
                ("room", ROOM)
            ])
            .as_deref(),
        Some(ROOM_PASSWORD)
    );

    // The next start fills them in again.
    let read = desktop.hook("secrets-read");
    assert_eq!(read["password_kind"], "custom", "{read}");
    assert_eq!(read["preferences"]["password"], DEFAULT_PASSWORD, "{read}");
    assert_eq!(read["preferences"]["turn_user"], TURN_USER, "{read}");
    assert_eq!(
        read["preferences"]["turn_password"], TURN_PASSWORD,
        "{read}"
    );
    assert_eq!(read["preferences"]["not_saved_note"], false, "{read}");
    assert_eq!(read["turn_urls"], written["turn_urls"], "{read}");
    assert_eq!(read["join_dialog"]["room"], ROOM, "{read}");
    assert_eq!(read["join_dialog"]["password"], ROOM_PASSWORD, "{read}");
    assert_eq!(read["join_dialog"]["remember"], true, "{read}");
}

#[test]
fn without_a_keyring_secrets_stay_in_memory_and_out_of_dconf() {
    check_display();
    let desktop = Desktop::new("none");
    let written = desktop.hook("secrets-write");
    let reason = written["keyring_unavailable"].as_str().unwrap_or_default();
    assert!(reason.contains("no keyring"), "{written}");
    assert_eq!(written["writes_done"], true, "{written}");
    // This run still joins with what was typed.
    assert_eq!(
        written["turn_urls"],
        serde_json::json!([format!("turn://{TURN_USER}:{TURN_PASSWORD}@127.0.0.1:3478")]),
        "{written}"
    );
    let (dump, database) = desktop.dconf();
    assert!(dump.contains("password-kind='custom'"), "{dump}");
    assert_no_secret_in("dconf dump /", dump.as_bytes());
    assert_no_secret_in("the dconf database", &database);

    // The next run has no password to fill in, and says why.
    let read = desktop.hook("secrets-read");
    assert_eq!(read["preferences"]["password"], "", "{read}");
    assert_eq!(read["preferences"]["turn_password"], "", "{read}");
    assert_eq!(read["preferences"]["not_saved_note"], true, "{read}");
    assert!(read["join_dialog"]["password"].is_null(), "{read}");
}

/// An old settings value of the `password` key (a custom password) moves to the keyring at
/// start and leaves dconf.
#[test]
fn a_password_an_earlier_version_kept_in_dconf_moves_to_the_keyring() {
    check_display();
    let desktop = Desktop::new("migrate");
    desktop.start_keyring();
    let status = desktop
        .command("dconf")
        .args([
            "write",
            "/io/github/roomtape/Roomtape/password",
            &format!("'{DEFAULT_PASSWORD}'"),
        ])
        .status()
        .expect("dconf write");
    assert!(status.success());
    let read = desktop.hook("secrets-read");
    assert_eq!(read["password_kind"], "custom", "{read}");
    assert_eq!(read["preferences"]["password"], DEFAULT_PASSWORD, "{read}");
    let (dump, database) = desktop.dconf();
    assert_no_secret_in("dconf dump /", dump.as_bytes());
    assert_no_secret_in("the dconf database", &database);
    assert_eq!(
        desktop
            .secret_tool_lookup(&[("kind", "default-room-password")])
            .as_deref(),
        Some(DEFAULT_PASSWORD)
    );
}
