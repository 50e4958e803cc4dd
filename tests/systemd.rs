//! `data/roomtape-record@.service`, the template that records one room per instance, as
//! `systemd-analyze` sees it: it loads without a warning, its command runs the built binary
//! with options `record` accepts, and its sandbox keeps the exposure score low.

// Tests print what they measured; the harness captures it.
#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const BIN: &str = env!("CARGO_BIN_EXE_roomtape");
const UNIT: &str = "roomtape-record@.service";

/// The unit as install.sh writes it, running the binary under test, in a folder of its own.
fn installed_unit(name: &str) -> PathBuf {
    let text = std::fs::read_to_string(Path::new(ROOT).join("data").join(UNIT)).expect("unit");
    assert!(text.contains("@bindir@/roomtape "), "{text}");
    let bindir = Path::new(BIN).parent().expect("binary folder");
    let dir = std::env::temp_dir().join(format!("roomtape-systemd-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let unit = dir.join(UNIT);
    std::fs::write(
        &unit,
        text.replace("@bindir@", bindir.to_str().expect("utf-8")),
    )
    .expect("write unit");
    unit
}

/// Runs systemd-analyze; the output is stdout and stderr together.
fn analyze(args: &[&str], unit: &Path) -> (bool, String) {
    let out = Command::new("systemd-analyze")
        .args(args)
        .arg(unit)
        .output()
        .expect("systemd-analyze runs (install the systemd package: build-aux/install-deps.sh)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout),
    )
}

#[test]
fn the_template_unit_verifies_cleanly() {
    let unit = installed_unit("verify");
    // The man page is not installed where tests run; everything else is checked. systemd
    // reports unknown keys and bad values as "ignoring" warnings with a success status, so
    // any output at all is a failure.
    let (ok, text) = analyze(&["verify", "--man=no"], &unit);
    assert!(
        ok && text.trim().is_empty(),
        "systemd-analyze verify: {text}"
    );
    // An instance, as `systemctl enable roomtape-record@show1` makes it.
    let instance = unit.with_file_name("roomtape-record@show1.service");
    let (ok, text) = analyze(&["verify", "--man=no"], &instance);
    assert!(
        ok && text.trim().is_empty(),
        "verify of an instance: {text}"
    );
    let _ = std::fs::remove_dir_all(unit.parent().expect("dir"));
}

/// The check itself works: a unit with a typo, a bad value or a missing binary is refused.
#[test]
fn verify_would_catch_a_broken_unit() {
    let unit = installed_unit("broken");
    let good = std::fs::read_to_string(&unit).expect("unit");
    for (what, broken) in [
        (
            "unknown key",
            good.replace("KillSignal=SIGINT", "KillSignall=SIGINT"),
        ),
        (
            "bad value",
            good.replace("KillSignal=SIGINT", "KillSignal=SIGBOGUS"),
        ),
        ("missing binary", good.replace(BIN, "/nonexistent/roomtape")),
    ] {
        std::fs::write(&unit, broken).expect("write");
        let (ok, text) = analyze(&["verify", "--man=no"], &unit);
        assert!(!ok || !text.trim().is_empty(), "{what} went unnoticed");
    }
    let _ = std::fs::remove_dir_all(unit.parent().expect("dir"));
}

/// `systemd-analyze security` scores what a compromised recorder could do, 0 (nothing) to 10;
/// the sandbox keeps it in systemd's "OK" band, and says so if a change loosens it.
#[test]
fn the_sandbox_keeps_the_exposure_low() {
    let unit = installed_unit("security");
    let (ok, text) = analyze(
        &["security", "--offline=yes", "--no-pager", "--threshold=20"],
        &unit,
    );
    let overall = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_default()
        .to_owned();
    eprintln!("FIGURE systemd security: {overall}");
    assert!(ok, "exposure above 2.0:\n{text}");
    let _ = std::fs::remove_dir_all(unit.parent().expect("dir"));
}

/// The options in ExecStart exist: `record` parses the command line the unit gives it.
#[test]
fn exec_start_options_are_ones_record_takes() {
    let text = std::fs::read_to_string(Path::new(ROOT).join("data").join(UNIT)).expect("unit");
    let exec = text
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart=@bindir@/roomtape "))
        .expect("an ExecStart line");
    let help = Command::new(BIN)
        .args(["record", "--help"])
        .output()
        .expect("roomtape record --help");
    let help = String::from_utf8_lossy(&help.stdout);
    let words: Vec<&str> = exec.split_whitespace().collect();
    assert_eq!(words.first(), Some(&"record"), "{exec}");
    for option in words.iter().filter(|w| w.starts_with("--")) {
        assert!(help.contains(option), "record has no option {option}");
    }
    // The secrets it documents are read from the environment by `record` itself.
    for var in ["ROOMTAPE_PASSWORD", "ROOMTAPE_TURN"] {
        assert!(text.contains(var), "{var} is documented in the unit");
        let source = std::fs::read_to_string(Path::new(ROOT).join("src/cli/mod.rs")).expect("cli")
            + &std::fs::read_to_string(Path::new(ROOT).join("src/cli/record.rs")).expect("cli");
        assert!(source.contains(var), "{var} is not read by record");
    }
}
