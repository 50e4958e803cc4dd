//! The Record button's states (Record room → Stop · hh:mm:ss → Finishing…), the recording
//! clock on the button and the tiles, and the inhibitor that keeps the machine awake meanwhile.

use std::rc::Rc;
use std::time::{Duration, Instant};

use adw::prelude::*;
use gtk::glib;

use super::Session;
use crate::i18n::{gettext, gettext_f};
use crate::library::disk_space::{self, format_size};
use crate::media::engine::{EngineError, EngineEvent};
use crate::media::recorder::RecordOptions;
use crate::ui::window::{RecordState, RoomtapeWindow};

impl Session {
    /// Where the recording is: the window's record state is the one place that says so.
    fn record_state(&self) -> RecordState {
        self.window()
            .map(|window| window.record_state())
            .unwrap_or_default()
    }

    /// How long the running recording has run, `None` when none runs.
    pub(super) fn recording_secs(&self) -> Option<u64> {
        self.inner
            .recording_since
            .get()
            .filter(|_| self.record_state() == RecordState::Running)
            .map(|started| started.elapsed().as_secs())
    }

    /// The recording stopped and its files are being finished.
    fn show_finishing(&self, window: &RoomtapeWindow) {
        self.inner.recording_since.set(None);
        window.set_record_state(RecordState::Finishing);
        self.tick();
    }

    /// Keeps the machine from suspending, idling or logging out while recording.
    pub(super) fn keep_the_machine_awake(&self, window: &RoomtapeWindow) {
        if self.inner.inhibit_cookie.get() != 0 {
            return;
        }
        let Some(app) = window.application() else {
            return;
        };
        let reason = gettext_f(
            "Recording room {room}",
            &[("room", &self.inner.room_name.borrow())],
        );
        let cookie = app.inhibit(
            Some(window),
            gtk::ApplicationInhibitFlags::SUSPEND
                | gtk::ApplicationInhibitFlags::IDLE
                | gtk::ApplicationInhibitFlags::LOGOUT,
            Some(&reason),
        );
        if cookie == 0 {
            tracing::info!("no session manager took the inhibitor: the machine may sleep");
        }
        self.inner.inhibit_cookie.set(cookie);
    }

    pub(super) fn let_the_machine_sleep(&self) {
        let cookie = self.inner.inhibit_cookie.replace(0);
        if cookie != 0
            && let Some(app) = self.window().and_then(|w| w.application())
        {
            app.uninhibit(cookie);
        }
    }

    pub(super) fn toggle_recording(&self) {
        let state = self.record_state();
        let Some(window) = self.window() else { return };
        let Some(engine) = self.inner.engine.borrow().clone() else {
            return;
        };
        match state {
            RecordState::Idle => {
                let parent = crate::settings::recordings_dir(&self.inner.settings);
                let media = self.inner.settings.string("record-media");
                let options = RecordOptions {
                    audio: media != "video",
                    video: media != "audio",
                    min_free: crate::settings::min_free_bytes(&self.inner.settings),
                    split_every: crate::settings::split_every(&self.inner.settings),
                    name_template: crate::settings::name_template(&self.inner.settings),
                };
                match engine.start_recording(&parent, options) {
                    Ok(dir) => {
                        tracing::info!("recording into {}", dir.display());
                        self.keep_the_machine_awake(&window);
                        self.inner.recording_since.set(Some(Instant::now()));
                        window.set_record_state(RecordState::Running);
                        self.start_timer();
                        self.tick();
                    }
                    Err(EngineError::NotEnoughSpace { free, floor, .. }) => {
                        window.show_toast(&gettext_f(
                            "Not enough free space to record in {folder}: {free} free, and {floor} is kept free. Free some space, or choose another folder or a lower limit in Preferences.",
                            &[("folder", &parent.display().to_string()), ("free", &format_size(free)), ("floor", &format_size(floor))],
                        ))
                    }
                    Err(err) => window.show_toast(&gettext_f(
                        "Could not start recording in {folder}: {error}. Choose another folder in Preferences.",
                        &[("folder", &parent.display().to_string()), ("error", &format!("{err:#}"))],
                    )),
                }
            }
            RecordState::Running => {
                self.show_finishing(&window);
                glib::spawn_future_local(async move {
                    engine.stop_recording().await;
                });
            }
            RecordState::Finishing => {}
        }
    }

    pub(super) fn stop_and_close(&self) {
        match self.record_state() {
            RecordState::Running => {
                self.inner.close_after_stop.set(true);
                self.toggle_recording();
            }
            RecordState::Finishing => self.inner.close_after_stop.set(true),
            RecordState::Idle => {
                if let Some(window) = self.window() {
                    window.set_allow_close(true);
                    window.close();
                }
            }
        }
    }

    pub(super) fn start_timer(&self) {
        let weak = Rc::downgrade(&self.inner);
        let source = glib::timeout_add_local(Duration::from_millis(500), move || {
            let Some(inner) = weak.upgrade() else {
                return glib::ControlFlow::Break;
            };
            Session { inner }.tick();
            glib::ControlFlow::Continue
        });
        if let Some(old) = self.inner.timer.replace(Some(source)) {
            old.remove();
        }
    }

    /// Refreshes the recording times on the Stop button and the tiles.
    pub(super) fn tick(&self) {
        let secs = self.recording_secs();
        if let Some(window) = self.window() {
            window.set_record_elapsed(secs.unwrap_or(0));
        }
        // Collected first: the tiles are set with the map no longer borrowed.
        let tiles: Vec<_> = self
            .inner
            .participants
            .borrow()
            .values()
            .map(|p| p.tile.clone())
            .collect();
        for tile in tiles {
            tile.set_recording_secs(secs);
        }
        if secs.is_none()
            && let Some(source) = self.inner.timer.borrow_mut().take()
        {
            source.remove();
        }
    }

    /// The engine's news about the recording: it finished, or the disk runs low.
    pub(super) fn on_recording_event(&self, window: &RoomtapeWindow, event: EngineEvent) {
        match event {
            EngineEvent::RecordingFinished { dir, all_ok } => {
                self.inner.recording_since.set(None);
                self.inner.last_session_dir.replace(Some(dir.clone()));
                self.let_the_machine_sleep();
                window.set_record_state(RecordState::Idle);
                window.set_disk_status(None);
                self.tick();
                let shown_dir = dir.display().to_string();
                let text = if all_ok {
                    gettext_f("Recording saved in {folder}", &[("folder", &shown_dir)])
                } else {
                    gettext_f(
                        "Some files in {folder} could not be finished; the others are saved.",
                        &[("folder", &shown_dir)],
                    )
                };
                window.show_recording_toast(&text, &dir);
                crate::ui::notify::send(
                    window,
                    "recording-saved",
                    &if all_ok {
                        gettext("Recording Saved")
                    } else {
                        gettext("Recording Saved With Problems")
                    },
                    &text,
                    &crate::ui::notify::recording_buttons(&shown_dir),
                );
                if self.inner.close_after_stop.replace(false) {
                    window.set_allow_close(true);
                    window.close();
                }
            }
            EngineEvent::DiskSpace { report, .. } => {
                let free = format_size(report.free_bytes);
                window.set_disk_status(Some(match report.time_left {
                    Some(left) => gettext_f(
                        // Translators: free disk space and how long the recording can go on, for example “12 GB free, about 3 h left”.
                        "{free} free, about {time_left} left",
                        &[
                            ("free", &free),
                            ("time_left", &disk_space::format_duration(left)),
                        ],
                    ),
                    None => gettext_f("{free} free", &[("free", &free)]),
                }));
            }
            EngineEvent::DiskLow { dir, report } => {
                let text = gettext_f(
                    "Disk space is low: {free} free in {folder}, about {time_left} of recording left. The recording stops by itself before the disk is full.",
                    &[
                        ("free", &format_size(report.free_bytes)),
                        ("folder", &dir.display().to_string()),
                        (
                            "time_left",
                            &report
                                .time_left
                                .map(disk_space::format_duration)
                                .unwrap_or_default(),
                        ),
                    ],
                );
                window.show_toast(&text);
                crate::ui::notify::send(window, "disk", &gettext("Disk Space Is Low"), &text, &[]);
            }
            EngineEvent::DiskFloor {
                dir,
                free_bytes,
                floor_bytes,
            } => {
                // The engine is finishing every file already.
                self.show_finishing(window);
                let text = gettext_f(
                    "Recording stopped: only {free} free in {folder}, and {floor} is kept free. Every file is being finished.",
                    &[
                        ("free", &format_size(free_bytes)),
                        ("folder", &dir.display().to_string()),
                        ("floor", &format_size(floor_bytes)),
                    ],
                );
                window.show_toast(&text);
                crate::ui::notify::send(
                    window,
                    "disk",
                    &gettext("Recording Stopped: Disk Almost Full"),
                    &text,
                    &[],
                );
            }
            _ => {}
        }
    }
}
