//! Test hooks: what the test suite and the documentation's screenshots ask of the window.
//!
//! Every hook comes through one hidden command-line option, `--test-hook KEY=VALUE`
//! (repeatable), parsed here ([`TestHook`]) and gathered into [`TestHooks`]:
//!
//! | key | value | what it does |
//! | --- | --- | --- |
//! | `screenshot` | a file | save a PNG of the window after `screenshot-delay`, then quit (with `record-seconds`: while recording) |
//! | `screenshot-delay` | seconds (3) | how long to wait before `screenshot` |
//! | `record-seconds` | seconds | once the room is connected, run `scenario` (recording this long), print a JSON report, quit |
//! | `scenario` | a [`DemoScenario`] (`record`) | what `record-seconds` exercises besides Record and Stop |
//! | `demo-people` | 1 to 16 | how many synthetic people the demo room holds |
//! | `recordings-dir` | a folder | open the Recordings page on it, newest session expanded; print what it lists |
//! | `recordings-export` | a preset | with `recordings-dir`: export the newest session from the Export dialog; print how it goes |
//!
//! What the hooks report goes to stdout through [`report`], the only place in the window that
//! prints.

mod library;
mod room;
mod secrets;

use std::cell::Cell;
use std::io::Write;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use adw::prelude::*;
use gtk::{gio, glib};

use crate::media::demo::MAX_DEMO_PEOPLE;
use crate::ui::session::Session;
use crate::ui::window::RoomtapeWindow;

/// How long the room may take until every tile is connected.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long finishing the files may take.
const FINISH_TIMEOUT: Duration = Duration::from_secs(40);
/// How long a dialog may take to appear.
const DIALOG_TIMEOUT: Duration = Duration::from_secs(10);

/// What the `record-seconds` test hook does in the demo room.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum DemoScenario {
    /// Record, wait, Stop, wait for the files.
    #[default]
    Record,
    /// Switch one tile's record toggle off first, then record like `record`.
    Exclude,
    /// Record, then close the window: it asks, and "Stop and Close" finishes the files.
    Close,
    /// Save the candidate log through the panel's Save… button, then record like `record`.
    SaveLog,
    /// While recording, ask to leave, open the demo and join another room: each asks first;
    /// cancel each, then leave for real.
    Confirm,
    /// Record like `record` with another window in front: the window is in the background,
    /// so what happens is said in notifications too.
    Background,
    /// With --room on a server that cannot be reached: read the error, press Edit… and report
    /// what the join dialog is filled in with.
    EditJoin,
    /// Freeze one participant's media (the connection stays up) until the tile's badge says
    /// so, then let it flow again; no recording.
    NoMedia,
    /// Type a default room password and TURN credentials into Preferences and join a room
    /// with a password to remember; report once the keyring has them.
    SecretsWrite,
    /// Report what Preferences and the Join dialog (a recent room chosen) fill in from the
    /// keyring.
    SecretsRead,
}

/// A `--test-hook` value that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("expected KEY=VALUE, got “{0}”")]
    NotKeyValue(String),
    #[error("unknown test hook “{0}”")]
    UnknownKey(String),
    #[error("{key} wants {wanted}, got “{value}”")]
    BadValue {
        key: String,
        wanted: &'static str,
        value: String,
    },
    #[error("the test hook {hook} only works with {needs}")]
    Needs {
        hook: &'static str,
        needs: &'static str,
    },
}

/// One `--test-hook KEY=VALUE`.
#[derive(Debug, Clone, PartialEq)]
pub enum TestHook {
    Screenshot(PathBuf),
    ScreenshotDelay(f64),
    RecordSeconds(f64),
    Scenario(DemoScenario),
    DemoPeople(usize),
    RecordingsDir(PathBuf),
    RecordingsExport(String),
}

impl TestHook {
    /// Reads `KEY=VALUE` (the value may hold `=` itself).
    pub fn parse(text: &str) -> Result<Self, HookError> {
        let (key, value) = text
            .split_once('=')
            .ok_or_else(|| HookError::NotKeyValue(text.to_owned()))?;
        let bad = |wanted| HookError::BadValue {
            key: key.to_owned(),
            wanted,
            value: value.to_owned(),
        };
        let seconds = || {
            value
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s >= 0.0)
                .ok_or_else(|| bad("a number of seconds"))
        };
        Ok(match key {
            "screenshot" => TestHook::Screenshot(PathBuf::from(value)),
            "screenshot-delay" => TestHook::ScreenshotDelay(seconds()?),
            "record-seconds" => TestHook::RecordSeconds(seconds()?),
            "scenario" => TestHook::Scenario(
                <DemoScenario as clap::ValueEnum>::from_str(value, false)
                    .map_err(|_| bad("a scenario"))?,
            ),
            "demo-people" => TestHook::DemoPeople(
                value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_DEMO_PEOPLE).contains(n))
                    .ok_or_else(|| bad("a number of people from 1 to 16"))?,
            ),
            "recordings-dir" => TestHook::RecordingsDir(PathBuf::from(value)),
            "recordings-export" => TestHook::RecordingsExport(value.to_owned()),
            _ => return Err(HookError::UnknownKey(key.to_owned())),
        })
    }
}

/// The test hooks of one launch; the default is none.
#[derive(Debug, Clone, PartialEq)]
pub struct TestHooks {
    /// Save a PNG of the window here after `screenshot_delay` seconds, then quit.
    pub screenshot: Option<PathBuf>,
    pub screenshot_delay: f64,
    /// Once the room's tiles are connected, run `scenario` (recording this long), print a
    /// JSON summary of the window and quit.
    pub record_seconds: Option<f64>,
    pub scenario: DemoScenario,
    /// How many synthetic people the demo room holds.
    pub demo_people: Option<usize>,
    /// Show the Recordings page listing this folder, and print what it lists after each scan.
    pub recordings_dir: Option<PathBuf>,
    /// With `recordings_dir`: export the newest session with this preset from the Export
    /// dialog, and print how it goes.
    pub recordings_export: Option<String>,
}

impl Default for TestHooks {
    fn default() -> Self {
        TestHooks {
            screenshot: None,
            screenshot_delay: 3.0,
            record_seconds: None,
            scenario: DemoScenario::default(),
            demo_people: None,
            recordings_dir: None,
            recordings_export: None,
        }
    }
}

impl FromIterator<TestHook> for TestHooks {
    /// A later hook with the same key wins.
    fn from_iter<I: IntoIterator<Item = TestHook>>(hooks: I) -> Self {
        let mut out = TestHooks::default();
        for hook in hooks {
            match hook {
                TestHook::Screenshot(path) => out.screenshot = Some(path),
                TestHook::ScreenshotDelay(secs) => out.screenshot_delay = secs,
                TestHook::RecordSeconds(secs) => out.record_seconds = Some(secs),
                TestHook::Scenario(scenario) => out.scenario = scenario,
                TestHook::DemoPeople(count) => out.demo_people = Some(count),
                TestHook::RecordingsDir(dir) => out.recordings_dir = Some(dir),
                TestHook::RecordingsExport(preset) => out.recordings_export = Some(preset),
            }
        }
        out
    }
}

impl TestHooks {
    /// Refuses hooks that would be silently ignored: the number of demo people without the
    /// demo room (`demo`: `--demo` was given), an export without the Recordings folder.
    pub fn check(&self, demo: bool) -> Result<(), HookError> {
        if self.demo_people.is_some() && !demo {
            return Err(HookError::Needs {
                hook: "demo-people",
                needs: "--demo",
            });
        }
        if self.recordings_export.is_some() && self.recordings_dir.is_none() {
            return Err(HookError::Needs {
                hook: "recordings-export",
                needs: "recordings-dir",
            });
        }
        Ok(())
    }

    /// Test runs start several windows at once: they do not make one instance.
    pub(super) fn is_test_run(&self) -> bool {
        self.screenshot.is_some() || self.record_seconds.is_some() || self.recordings_dir.is_some()
    }

    /// What has to be in place before the window is made.
    pub(super) fn prepare(&self, settings: &gio::Settings) {
        if self.record_seconds.is_some() && self.screenshot.is_some() {
            // The documentation's 1280×800 screenshot (the frame takes 20 px).
            let _ = settings.set_int("window-width", 1300);
            let _ = settings.set_int("window-height", 820);
        }
    }

    /// Starts the hooks on a window that was just presented; a screenshot that could not be
    /// saved sets `failed`.
    pub(super) fn start(
        &self,
        app: &adw::Application,
        window: &RoomtapeWindow,
        session: Session,
        failed: Rc<Cell<bool>>,
    ) {
        if let Some(dir) = &self.recordings_dir {
            library::show_library(window, dir.clone(), self.recordings_export.clone());
        }
        if let Some(seconds) = self.record_seconds {
            let plan = Plan {
                scenario: self.scenario,
                seconds,
                screenshot: self.screenshot.clone(),
            };
            room::record_and_report(app, window, session, plan, failed);
        } else if let Some(path) = &self.screenshot {
            schedule_screenshot(app, window, path.clone(), self.screenshot_delay, failed);
        }
    }
}

/// What the demo-room hook does.
#[derive(Debug, Clone)]
struct Plan {
    scenario: DemoScenario,
    /// How long to record.
    seconds: f64,
    /// Save the window here while recording.
    screenshot: Option<PathBuf>,
}

/// Prints one line of a test hook's report on stdout, at once: the tests read it from a pipe
/// while the app runs. Nothing else in the window prints. A reader that went away is no reason
/// to stop the app, so write errors are ignored (where `println!` would panic).
#[allow(clippy::disallowed_methods)]
fn report(line: impl std::fmt::Display) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Waits for `f` to give something, up to `timeout`.
async fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let started = Instant::now();
    loop {
        if let Some(found) = f() {
            return Some(found);
        }
        if started.elapsed() > timeout {
            return None;
        }
        glib::timeout_future(Duration::from_millis(100)).await;
    }
}

/// After `delay_secs`, saves the window as a PNG at `path` and quits; a failure sets `failed`.
fn schedule_screenshot(
    app: &adw::Application,
    window: &RoomtapeWindow,
    path: PathBuf,
    delay_secs: f64,
    failed: Rc<Cell<bool>>,
) {
    let delay = Duration::try_from_secs_f64(delay_secs).unwrap_or_default();
    glib::spawn_future_local(glib::clone!(
        #[weak]
        app,
        #[weak]
        window,
        async move {
            glib::timeout_future(delay).await;
            // With a short delay the first frame may still be on its way.
            for _ in 0..50 {
                if window.is_mapped() && window.width() > 0 {
                    break;
                }
                glib::timeout_future(Duration::from_millis(100)).await;
            }
            match crate::ui::screenshot::save_widget_png_soon(&window, &path).await {
                Ok(()) => tracing::info!("saved the window to {}", path.display()),
                Err(err) => {
                    eprintln!("roomtape: could not save the screenshot: {err:#}");
                    failed.set(true);
                }
            }
            app.quit();
        }
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hooks_read_key_value_pairs() {
        let hooks: TestHooks = [
            "screenshot=/tmp/a=b.png",
            "screenshot-delay=0.5",
            "scenario=save-log",
            "record-seconds=2",
            "demo-people=9",
            "recordings-dir=/tmp/lib",
            "recordings-export=audio-wav",
        ]
        .into_iter()
        .map(|text| TestHook::parse(text).expect(text))
        .collect();
        assert_eq!(hooks.screenshot, Some(PathBuf::from("/tmp/a=b.png")));
        assert_eq!(hooks.screenshot_delay, 0.5);
        assert_eq!(hooks.scenario, DemoScenario::SaveLog);
        assert_eq!(hooks.record_seconds, Some(2.0));
        assert_eq!(hooks.demo_people, Some(9));
        assert_eq!(hooks.recordings_dir, Some(PathBuf::from("/tmp/lib")));
        assert_eq!(hooks.recordings_export.as_deref(), Some("audio-wav"));
        assert!(hooks.is_test_run());
        assert!(!TestHooks::default().is_test_run());
    }

    #[test]
    fn bad_hooks_are_refused() {
        for text in [
            "screenshot",
            "nonsense=1",
            "screenshot-delay=soon",
            "record-seconds=-1",
            "scenario=dance",
            "demo-people=0",
            "demo-people=17",
        ] {
            assert!(TestHook::parse(text).is_err(), "{text} was taken");
        }
    }

    #[test]
    fn hooks_that_would_be_ignored_are_refused() {
        let hooks = |texts: &[&str]| -> TestHooks {
            texts.iter().map(|t| TestHook::parse(t).unwrap()).collect()
        };
        assert!(hooks(&["demo-people=6"]).check(true).is_ok());
        assert!(hooks(&["demo-people=6"]).check(false).is_err());
        assert!(hooks(&["recordings-export=mkv"]).check(false).is_err());
        assert!(
            hooks(&["recordings-dir=/tmp", "recordings-export=mkv"])
                .check(false)
                .is_ok()
        );
    }
}
