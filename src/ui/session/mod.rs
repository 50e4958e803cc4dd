//! The app glue: the window's requests (join, demo, leave, record, stop-and-close) go to the
//! room engine, and what the engine reports comes back as tiles, badges, the side panel and
//! the Record button's state. The window itself knows nothing about rooms.

mod participants;
mod recording;
mod room_events;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use adw::prelude::*;
use gtk::{gio, glib};

use crate::i18n::{gettext, gettext_f};
use crate::media::demo::{DEMO_ROOM, Demo, DemoPerson, USUAL_DEMO_PEOPLE, demo_people};
use crate::media::engine::{Engine, EngineConfig, EngineEvent};
use crate::media::ice::IceConfig;
use crate::media::preview::PreviewConfig;
use crate::protocol::crypto::Password;
use crate::room::ParticipantId;
use crate::ui::join_request::JoinRequest;
use crate::ui::panel::Panel;
use crate::ui::tile::RoomtapeTile;
use crate::ui::window::{RecordState, RoomtapeWindow, ViewState};

use participants::Participant;

/// How long an empty room may stay empty before the operator gets a hint.
const EMPTY_ROOM_HINT: Duration = Duration::from_secs(12);

/// How long a room's webhooks may take to send what is queued once the room is left.
const WEBHOOK_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

struct Inner {
    window: glib::WeakRef<RoomtapeWindow>,
    settings: gio::Settings,
    panel: Panel,
    /// Bumped for every new room so events of an old engine are ignored.
    generation: Cell<u64>,
    engine: RefCell<Option<Engine>>,
    demo: RefCell<Option<Demo>>,
    /// How many people the demo room holds (more for screenshots of larger rooms).
    demo_people: Cell<usize>,
    participants: RefCell<BTreeMap<ParticipantId, Participant>>,
    /// When the running recording started (its clock on the Stop button and the tiles).
    recording_since: Cell<Option<Instant>>,
    joined: Cell<bool>,
    timer: RefCell<Option<glib::SourceId>>,
    last_session_dir: RefCell<Option<PathBuf>>,
    close_after_stop: Cell<bool>,
    password_hint_shown: Cell<bool>,
    /// The room's name as the operator knows it, for the inhibitor's reason.
    room_name: RefCell<String>,
    /// GtkApplication's inhibit cookie while a recording runs or finishes (0: none held).
    inhibit_cookie: Cell<u32>,
}

/// The app layer of one window.
#[derive(Clone)]
pub struct Session {
    inner: Rc<Inner>,
}

/// What to tell the operator when the server cannot be reached.
pub fn explain_unreachable(server: &str, reason: &str) -> String {
    let reason = reason.trim().trim_end_matches('.');
    let host = server
        .split_once("://")
        .map_or(server, |(_, rest)| rest)
        .trim_end_matches('/');
    // The connection's own reasons name the server already: said once, not twice.
    if !host.is_empty() && reason.contains(host) {
        return gettext_f(
            // Translators: {reason} is an error from the network library, already translated when it can be.
            "{reason}. Check the address and your network, or try the demo room to see whether Roomtape itself works.",
            &[("reason", reason)],
        );
    }
    gettext_f(
        "Could not reach the signaling server {server}: {reason}. Check the address and your network, or try the demo room to see whether Roomtape itself works.",
        &[("server", server), ("reason", reason)],
    )
}

impl Session {
    /// Connects the window's requests to the engine.
    pub fn attach(window: &RoomtapeWindow) -> Session {
        let session = Session {
            inner: Rc::new(Inner {
                window: window.downgrade(),
                settings: window.settings(),
                panel: window.side_panel(),
                generation: Cell::new(0),
                engine: RefCell::new(None),
                demo: RefCell::new(None),
                demo_people: Cell::new(USUAL_DEMO_PEOPLE),
                participants: RefCell::new(BTreeMap::new()),
                recording_since: Cell::new(None),
                joined: Cell::new(false),
                timer: RefCell::new(None),
                last_session_dir: RefCell::new(None),
                close_after_stop: Cell::new(false),
                password_hint_shown: Cell::new(false),
                room_name: RefCell::new(String::new()),
                inhibit_cookie: Cell::new(0),
            }),
        };
        let weak = Rc::downgrade(&session.inner);
        let with = move |f: fn(&Session)| {
            let weak = weak.clone();
            move |_: &RoomtapeWindow| {
                if let Some(inner) = weak.upgrade() {
                    f(&Session { inner });
                }
            }
        };
        window.connect_demo_requested(with(Session::start_demo));
        window.connect_leave_requested(with(Session::leave));
        window.connect_record_requested(with(Session::toggle_recording));
        window.connect_stop_and_close_requested(with(Session::stop_and_close));
        let weak = Rc::downgrade(&session.inner);
        window.connect_join_requested(move |_, request| {
            if let Some(inner) = weak.upgrade() {
                Session { inner }.join(request);
            }
        });
        session
    }

    fn window(&self) -> Option<RoomtapeWindow> {
        self.inner.window.upgrade()
    }

    /// The side panel (for test hooks).
    pub fn panel(&self) -> &Panel {
        &self.inner.panel
    }

    /// The folder of the last recording that finished.
    pub fn last_session_dir(&self) -> Option<PathBuf> {
        self.inner.last_session_dir.borrow().clone()
    }

    fn preview_config(&self) -> Option<PreviewConfig> {
        PreviewConfig::from_quality(&self.inner.settings.string("preview-quality"))
    }

    fn ice_from_settings(&self) -> IceConfig {
        let settings = &self.inner.settings;
        let stun = settings
            .strv("stun-servers")
            .iter()
            .find_map(|s| IceConfig::parse_stun(Some(s.as_str()), None));
        IceConfig {
            stun,
            turn: crate::ui::keyring::turn_urls(settings),
            relay_only: settings.boolean("relay-only"),
            loopback: false,
        }
    }

    fn join(&self, request: &JoinRequest) {
        let password = match &request.password {
            Password::Custom(custom) => Password::Custom(custom.trim().to_owned()),
            other => other.clone(),
        };
        let mut config = EngineConfig::new(&request.server, &request.room, password);
        let salt = self.inner.settings.string("salt");
        if !salt.trim().is_empty() {
            config.salt = Some(salt.trim().to_owned());
        }
        config.ice = self.ice_from_settings();
        config.previews = self.preview_config();
        let settings = &self.inner.settings;
        let codec = settings.string("prefer-codec");
        config.prefer_video_codec = Some(codec.to_string()).filter(|c| !c.is_empty());
        let media = settings.string("record-media");
        config.want_audio = media != "video";
        config.want_video = media != "audio";
        config.wanted_streams = settings
            .strv("stream-filter")
            .iter()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        self.reset();
        self.inner.room_name.replace(request.room.clone());
        self.start_engine(config);
    }

    fn start_demo(&self) {
        self.reset();
        let demo = match Demo::start(&self.demo_people()) {
            Ok(demo) => demo,
            Err(err) => {
                self.fail(gettext_f(
                    "The demo room could not start: {error}. Check that the GStreamer plugins (good, bad, nice) are installed.",
                    &[("error", &format!("{err:#}"))],
                ));
                return;
            }
        };
        let mut config = EngineConfig::new(&demo.url(), DEMO_ROOM, Password::Default);
        config.ice = IceConfig::default();
        config.previews = self.preview_config();
        self.inner.room_name.replace(gettext("Demo Room"));
        self.inner.demo.replace(Some(demo));
        self.start_engine(config);
    }

    fn start_engine(&self, config: EngineConfig) {
        let server = config.server_url.clone();
        let (engine, events) = match Engine::start(config) {
            Ok(started) => started,
            Err(err) => {
                self.fail(explain_unreachable(&server, &format!("{err:#}")));
                return;
            }
        };
        self.inner.engine.replace(Some(engine));
        let generation = self.inner.generation.get();
        let weak = Rc::downgrade(&self.inner);
        let webhooks = crate::automation::webhook::Webhooks::start(&self.webhook_urls());
        glib::spawn_future_local(async move {
            while let Ok(event) = events.recv().await {
                if let Some(json) = crate::automation::events::event_json(&event) {
                    webhooks.send(&json);
                }
                // After leaving, the room's last events (its files finished) still go to the
                // webhooks, not to the window.
                let current = weak
                    .upgrade()
                    .filter(|inner| inner.generation.get() == generation);
                match current {
                    Some(inner) => Session { inner }.on_event(event, &server),
                    None if matches!(event, EngineEvent::RecordingFinished { .. }) => break,
                    None => {}
                }
            }
            // Sending what is left may take a while; it must not hold up the window.
            std::thread::spawn(move || webhooks.finish(WEBHOOK_GRACE));
        });
        let weak = Rc::downgrade(&self.inner);
        glib::timeout_add_local_once(EMPTY_ROOM_HINT, move || {
            let Some(inner) = weak.upgrade() else { return };
            let session = Session { inner };
            if session.inner.generation.get() == generation
                && session.inner.joined.get()
                && session.inner.participants.borrow().is_empty()
                && let Some(window) = session.window()
            {
                window.show_toast(&gettext(
                    "Nobody is here yet. If people should be, check the room name and password: a wrong password puts you in a different, empty room.",
                ));
            }
        });
    }

    /// Ends the current room (if any) and clears the view.
    fn reset(&self) {
        let inner = &self.inner;
        inner.generation.set(inner.generation.get() + 1);
        inner.joined.set(false);
        inner.close_after_stop.set(false);
        inner.password_hint_shown.set(false);
        inner.recording_since.set(None);
        if let Some(source) = inner.timer.borrow_mut().take() {
            source.remove();
        }
        let engine = inner.engine.borrow_mut().take();
        let demo = inner.demo.borrow_mut().take();
        // A recording being left still finishes its files: the machine stays awake for that.
        let cookie = inner.inhibit_cookie.replace(0);
        let app = self.window().and_then(|w| w.application());
        if engine.is_some() || demo.is_some() || cookie != 0 {
            glib::spawn_future_local(async move {
                if let Some(engine) = engine {
                    engine.shutdown().await;
                }
                drop(demo);
                if let (Some(app), true) = (app, cookie != 0) {
                    app.uninhibit(cookie);
                }
            });
        }
        if let Some(window) = self.window() {
            let tiles = window.tile_box();
            // Taken out first: a `for` would hold the map borrowed through its loop.
            let participants = std::mem::take(&mut *inner.participants.borrow_mut());
            for participant in participants.into_values() {
                tiles.remove(&participant.tile);
            }
            window.set_record_state(RecordState::Idle);
            window.set_disk_status(None);
        }
        inner.panel.clear();
    }

    fn fail(&self, message: String) {
        self.reset();
        if let Some(window) = self.window() {
            super::notify::send(
                &window,
                "error",
                &gettext("Could Not Join the Room"),
                &message,
                &[],
            );
            window.set_view_state(ViewState::Error(message));
        }
    }

    fn leave(&self) {
        self.reset();
    }

    /// The http(s) URLs of the `webhooks` setting; others are left out, and said so.
    fn webhook_urls(&self) -> Vec<String> {
        self.inner
            .settings
            .strv("webhooks")
            .iter()
            .map(|url| url.trim())
            .filter(|url| !url.is_empty())
            .filter_map(|url| {
                crate::automation::webhook::parse_url(url)
                    .map_err(|err| tracing::warn!("webhook not used: {err}"))
                    .ok()
            })
            .collect()
    }

    /// Makes the demo room, when it starts next, hold `count` people.
    pub fn set_demo_people(&self, count: usize) {
        self.inner.demo_people.set(count);
    }

    /// The people the demo room holds.
    pub fn demo_people(&self) -> Vec<DemoPerson> {
        demo_people(self.inner.demo_people.get())
    }

    /// Stops (or restarts) the media of the demo participant `stream`, their connection kept;
    /// returns whether there is such a participant.
    pub fn pause_demo_media(&self, stream: &str, paused: bool) -> bool {
        self.inner
            .demo
            .borrow()
            .as_ref()
            .is_some_and(|demo| demo.pause_media(stream, paused))
    }

    /// The tiles in the grid, in order.
    pub fn tiles(&self) -> Vec<RoomtapeTile> {
        let Some(window) = self.window() else {
            return Vec::new();
        };
        window
            .tile_box()
            .tiles()
            .into_iter()
            .filter_map(|w| w.downcast::<RoomtapeTile>().ok())
            .collect()
    }

    /// What the window shows now, read from its widgets (for the test hook).
    pub fn summary(&self) -> serde_json::Value {
        let Some(window) = self.window() else {
            return serde_json::Value::Null;
        };
        let tiles: Vec<serde_json::Value> = self
            .tiles()
            .iter()
            .map(|tile| {
                serde_json::json!({
                    "id": tile.participant_id(),
                    "label": tile.label(),
                    "ice": tile.ice_state().as_str(),
                    "pair": tile.pair_kind().as_str(),
                    "left": tile.left(),
                    "has_video": tile.has_video(),
                    "placeholder": tile.placeholder().as_str(),
                    "placeholder_text": tile.placeholder_text(),
                    "included": tile.included(),
                    "recording_time": tile.recording_time(),
                })
            })
            .collect();
        serde_json::json!({
            "view": format!("{:?}", window.view_state()),
            "recording": window.record_state() == RecordState::Running,
            "finishing": window.record_state() == RecordState::Finishing,
            "tiles": tiles,
            "candidates": self.inner.panel.candidate_counts(),
            "session_dir": self.last_session_dir(),
            "inhibit_cookie": self.inner.inhibit_cookie.get(),
            "status": window.status_text(),
            "window_active": window.is_active(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_messages_say_what_to_try() {
        let text = explain_unreachable("wss://example.org", "Connection refused.");
        assert!(text.contains("wss://example.org") && text.contains("Connection refused"));
        let reason = "Could not reach the signaling server 127.0.0.1:9: the connection was refused";
        let text = explain_unreachable("ws://127.0.0.1:9", reason);
        assert_eq!(text.matches("Could not reach").count(), 1, "{text}");
        assert_eq!(text.matches("127.0.0.1:9").count(), 1, "{text}");
    }
}
