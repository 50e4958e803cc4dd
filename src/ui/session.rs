//! The app glue: the window's requests (join, demo, leave, record, stop-and-close) go to the
//! room engine, and what the engine reports comes back as tiles, badges, the side panel and
//! the Record button's state. The window itself knows nothing about rooms.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use adw::prelude::*;
use gtk::{gdk, gio, glib};

use crate::i18n::{gettext, gettext_f};
use crate::library::disk_space::{self, format_size};
use crate::media::engine::{Engine, EngineConfig, EngineEvent, PreviewEvent, StartRecordingError};
use crate::media::ice::IceConfig;
use crate::media::preview::{PauseHandle, PreviewConfig, VideoPreview};
use crate::media::publisher::{AudioMode, Publisher, PublisherConfig, VideoMode};
use crate::media::recorder::RecordOptions;
use crate::protocol::crypto::Password;
use crate::room::{Health, LeaveReason, Problem, RoomEvent};
use crate::signaling::server::{Dialect, SignalingServer};
use crate::ui::panel::Panel;
use crate::ui::tile::RoomtapeTile;
use crate::ui::{JoinRequest, PASSWORD_DEFAULT, PASSWORD_NONE, RoomtapeWindow, ViewState};

/// The demo room's name on the local server.
pub const DEMO_ROOM: &str = "roomtape-demo";

/// One of the demo's synthetic participants.
#[derive(Debug, Clone, Copy)]
pub struct DemoPerson {
    pub stream: &'static str,
    pub label: &'static str,
    pub video: VideoMode,
    pub audio: AudioMode,
}

/// The demo's synthetic participants: two talking on camera, one with a muted microphone and
/// one with the camera off (audio only).
pub const DEMO_PEOPLE: [DemoPerson; 4] = [
    DemoPerson {
        stream: "alice",
        label: "Alice",
        video: VideoMode::Live,
        audio: AudioMode::Tone,
    },
    DemoPerson {
        stream: "bob",
        label: "Bob",
        video: VideoMode::Live,
        audio: AudioMode::Tone,
    },
    DemoPerson {
        stream: "carol",
        label: "Carol",
        video: VideoMode::Live,
        audio: AudioMode::Muted,
    },
    DemoPerson {
        stream: "dave",
        label: "Dave",
        video: VideoMode::Off,
        audio: AudioMode::Tone,
    },
];

/// More synthetic people, for screenshots of larger rooms (`--demo-people N`).
const MORE_DEMO_NAMES: [&str; 12] = [
    "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy", "Mallory", "Niaj", "Olivia", "Peggy",
    "Rupert", "Sybil",
];

static DEMO_PEOPLE_COUNT: std::sync::OnceLock<usize> = std::sync::OnceLock::new();

/// Makes the demo room hold `count` people (1 to 16) instead of the usual four (the hidden
/// `--demo-people` flag, for screenshots of the grid).
pub fn set_demo_people_count(count: usize) {
    let _ = DEMO_PEOPLE_COUNT.set(count.clamp(1, DEMO_PEOPLE.len() + MORE_DEMO_NAMES.len()));
}

/// The demo room's people: the usual four, or as many as `--demo-people` asked for.
pub fn demo_people() -> Vec<DemoPerson> {
    let count = DEMO_PEOPLE_COUNT
        .get()
        .copied()
        .unwrap_or(DEMO_PEOPLE.len());
    DEMO_PEOPLE
        .iter()
        .copied()
        .chain(MORE_DEMO_NAMES.iter().map(|name| DemoPerson {
            stream: name,
            label: name,
            video: VideoMode::Live,
            audio: AudioMode::Tone,
        }))
        .take(count)
        .collect()
}

/// How long an empty room may stay empty before the operator gets a hint.
const EMPTY_ROOM_HINT: Duration = Duration::from_secs(12);

/// A local signaling server with synthetic publishers.
struct Demo {
    server: SignalingServer,
    publishers: Vec<Publisher>,
}

impl Drop for Demo {
    fn drop(&mut self) {
        for publisher in &self.publishers {
            publisher.close();
        }
        self.server.stop();
    }
}

impl Demo {
    fn start() -> anyhow::Result<Demo> {
        let server = SignalingServer::start(
            std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            Dialect::Official,
        )?;
        let url = server.url();
        let mut publishers = Vec::new();
        for person in demo_people() {
            let mut config = PublisherConfig::new(&url, DEMO_ROOM, person.stream);
            config.label = person.label.to_owned();
            config.video = person.video;
            config.audio = person.audio;
            config.framerate = 24;
            config.bitrate_kbps = 800;
            config.ice = IceConfig {
                stun: None,
                turn: Vec::new(),
                relay_only: false,
                loopback: true,
            };
            publishers.push(Publisher::start(config)?);
        }
        Ok(Demo { server, publishers })
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Recording {
    Idle,
    Running { started: Instant },
    Finishing,
}

struct Participant {
    tile: RoomtapeTile,
    health: Health,
    video: Option<VideoPreview>,
    problems: Vec<(Problem, String)>,
    /// In the room now (joined and not left since): a join is news only when this is false.
    present: bool,
}

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
    participants: RefCell<BTreeMap<String, Participant>>,
    recording: RefCell<Recording>,
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
                panel: Panel::new(window),
                generation: Cell::new(0),
                engine: RefCell::new(None),
                demo: RefCell::new(None),
                participants: RefCell::new(BTreeMap::new()),
                recording: RefCell::new(Recording::Idle),
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
        let password = match request.password.as_str() {
            PASSWORD_DEFAULT => Password::Default,
            PASSWORD_NONE => Password::Disabled,
            custom => Password::Custom(custom.trim().to_owned()),
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
        let demo = match Demo::start() {
            Ok(demo) => demo,
            Err(err) => {
                self.fail(gettext_f(
                    "The demo room could not start: {error}. Check that the GStreamer plugins (good, bad, nice) are installed.",
                    &[("error", &format!("{err:#}"))],
                ));
                return;
            }
        };
        let mut config = EngineConfig::new(&demo.server.url(), DEMO_ROOM, Password::Default);
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
        inner.recording.replace(Recording::Idle);
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
            for (_, participant) in std::mem::take(&mut *inner.participants.borrow_mut()) {
                tiles.remove(&participant.tile);
            }
            window.set_finishing(false);
            window.set_recording(false);
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

    /// Keeps the machine from suspending, idling or logging out while recording.
    fn keep_the_machine_awake(&self, window: &RoomtapeWindow) {
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

    fn let_the_machine_sleep(&self) {
        let cookie = self.inner.inhibit_cookie.replace(0);
        if cookie != 0
            && let Some(app) = self.window().and_then(|w| w.application())
        {
            app.uninhibit(cookie);
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

    fn toggle_recording(&self) {
        let state = self.inner.recording.borrow().clone();
        let Some(window) = self.window() else { return };
        let Some(engine) = self.inner.engine.borrow().clone() else {
            return;
        };
        match state {
            Recording::Idle => {
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
                        self.inner.recording.replace(Recording::Running {
                            started: Instant::now(),
                        });
                        window.set_recording(true);
                        self.start_timer();
                        self.tick();
                    }
                    Err(StartRecordingError::NotEnoughSpace { free, floor, .. }) => {
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
            Recording::Running { .. } => {
                self.inner.recording.replace(Recording::Finishing);
                window.set_finishing(true);
                window.set_recording(false);
                self.tick();
                glib::spawn_future_local(async move {
                    engine.stop_recording().await;
                });
            }
            Recording::Finishing => {}
        }
    }

    fn stop_and_close(&self) {
        let state = self.inner.recording.borrow().clone();
        match state {
            Recording::Running { .. } => {
                self.inner.close_after_stop.set(true);
                self.toggle_recording();
            }
            Recording::Finishing => self.inner.close_after_stop.set(true),
            Recording::Idle => {
                if let Some(window) = self.window() {
                    window.set_allow_close(true);
                    window.close();
                }
            }
        }
    }

    fn start_timer(&self) {
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
    fn tick(&self) {
        let secs = match &*self.inner.recording.borrow() {
            Recording::Running { started } => Some(started.elapsed().as_secs()),
            _ => None,
        };
        if let Some(window) = self.window() {
            window.set_record_elapsed(secs.unwrap_or(0));
        }
        for participant in self.inner.participants.borrow().values() {
            participant.tile.set_recording_secs(secs);
        }
        if secs.is_none()
            && let Some(source) = self.inner.timer.borrow_mut().take()
        {
            source.remove();
        }
    }

    fn ensure_participant(&self, id: &str, label: &str, at_ms: Option<u64>) {
        self.inner.panel.ensure(id, label, at_ms);
        if self.inner.participants.borrow().contains_key(id) {
            return;
        }
        let Some(window) = self.window() else { return };
        let tile = RoomtapeTile::new(id, label);
        window.tile_box().append(&tile);
        let engine = self.inner.engine.borrow().clone();
        if let Some(engine) = &engine {
            tile.set_included(!engine.is_recording_excluded(id));
        }
        let weak = Rc::downgrade(&self.inner);
        tile.connect_included_notify(move |tile| {
            let Some(inner) = weak.upgrade() else { return };
            if let Some(engine) = inner.engine.borrow().as_ref() {
                engine.set_recording_excluded(&tile.participant_id(), !tile.included());
            }
        });
        let weak = Rc::downgrade(&self.inner);
        tile.connect_dismissed(move |tile| {
            let Some(inner) = weak.upgrade() else { return };
            let removed = inner
                .participants
                .borrow_mut()
                .remove(&tile.participant_id());
            if let (Some(participant), Some(window)) = (removed, inner.window.upgrade()) {
                window.tile_box().remove(&participant.tile);
            }
        });
        if let Recording::Running { started } = &*self.inner.recording.borrow() {
            tile.set_recording_secs(Some(started.elapsed().as_secs()));
        }
        self.inner.participants.borrow_mut().insert(
            id.to_owned(),
            Participant {
                tile,
                health: Health::default(),
                video: None,
                problems: Vec::new(),
                present: false,
            },
        );
    }

    fn label_of(&self, id: &str) -> String {
        self.inner
            .participants
            .borrow()
            .get(id)
            .map(|p| p.tile.label())
            .unwrap_or_else(|| id.to_owned())
    }

    /// Renders a participant's health on the tile and in the panel.
    fn show_health(&self, id: &str, at_ms: u64) {
        let participants = self.inner.participants.borrow();
        let Some(participant) = participants.get(id) else {
            return;
        };
        // Media that stopped on a connection that still looks up is the first sign of a
        // publisher that is gone: the badge stops being green before the room gives up on it.
        let stalled = participant.health.is_connected()
            && participant
                .problems
                .iter()
                .any(|(problem, _)| matches!(problem, Problem::NoRtp | Problem::NoPong));
        let state = if stalled {
            "no-media"
        } else {
            participant.health.ice_state().as_str()
        };
        let pair = participant.health.selected_pair.as_ref();
        participant
            .tile
            .set_ice(state, pair.map(|p| p.badge_kind().as_str()));
        self.inner.panel.set_state(id, state, pair, at_ms);
    }

    fn update_health(&self, id: &str, at_ms: u64, f: impl FnOnce(&mut Health)) {
        if let Some(participant) = self.inner.participants.borrow_mut().get_mut(id) {
            f(&mut participant.health);
        } else {
            return;
        }
        self.show_health(id, at_ms);
    }

    fn show_problems(&self, id: &str) {
        let participants = self.inner.participants.borrow();
        let Some(participant) = participants.get(id) else {
            return;
        };
        let text = (!participant.problems.is_empty()).then(|| {
            participant
                .problems
                .iter()
                .map(|(_, text)| text.clone())
                .collect::<Vec<_>>()
                .join("\n")
        });
        participant.tile.set_problem(text.as_deref());
        self.inner.panel.set_problem(id, text.as_deref());
    }

    fn on_event(&self, event: EngineEvent, server: &str) {
        let Some(window) = self.window() else { return };
        match event {
            EngineEvent::Room(event) => self.on_room_event(&window, event, server),
            EngineEvent::FolderLost { dir, .. } => {
                window.show_toast(&gettext_f(
                    "The recording folder {folder} was deleted while recording; recording goes on in a new one",
                    &[("folder", &dir.display().to_string())],
                ));
            }
            EngineEvent::TrackRefused {
                participant,
                encoding,
                ..
            } => {
                let label = self.label_of(&participant);
                window.show_toast(&gettext_f(
                    // Translators: {codec} is a codec name such as AV1.
                    "{name} sends {codec}, which this computer cannot record; their other tracks are recorded",
                    &[("name", &label), ("codec", &encoding)],
                ));
            }
            EngineEvent::Preview(PreviewEvent::Video {
                participant,
                preview,
                ..
            }) => {
                self.ensure_participant(&participant, &participant.clone(), None);
                // Without gtk4paintablesink the preview decodes into a fakesink: no picture.
                let paintable = preview
                    .sink
                    .has_property("paintable")
                    .then(|| preview.sink.property::<gdk::Paintable>("paintable"));
                if let Some(p) = self.inner.participants.borrow_mut().get_mut(&participant) {
                    if let Some(paintable) = &paintable {
                        p.tile.set_paintable(paintable);
                    }
                    pause_while_unmapped(&p.tile, &preview.pause);
                    p.video = Some(preview);
                }
            }
            EngineEvent::Preview(PreviewEvent::AudioMeter {
                participant, pause, ..
            }) => {
                self.ensure_participant(&participant, &participant.clone(), None);
                if let Some(p) = self.inner.participants.borrow().get(&participant) {
                    pause_while_unmapped(&p.tile, &pause);
                }
            }
            EngineEvent::Preview(PreviewEvent::Level {
                participant,
                peak_db,
            }) => {
                if let Some(p) = self.inner.participants.borrow().get(&participant) {
                    p.tile.set_level(peak_db);
                }
            }
            EngineEvent::Preview(PreviewEvent::Stats { participant, stats }) => {
                let participants = self.inner.participants.borrow();
                let video = participants
                    .get(&participant)
                    .and_then(|p| p.video.as_ref())
                    .map(|v| (&*v.stats, 0));
                self.inner.panel.update_stats(&participant, &stats, video);
            }
            EngineEvent::RecordingStarted { dir } => {
                self.inner.last_session_dir.replace(Some(dir));
            }
            EngineEvent::RecordingFinished { dir, all_ok } => {
                self.inner.recording.replace(Recording::Idle);
                self.inner.last_session_dir.replace(Some(dir.clone()));
                self.let_the_machine_sleep();
                window.set_finishing(false);
                window.set_recording(false);
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
                super::notify::send(
                    &window,
                    "recording-saved",
                    &if all_ok {
                        gettext("Recording Saved")
                    } else {
                        gettext("Recording Saved With Problems")
                    },
                    &text,
                    &super::notify::recording_buttons(&shown_dir),
                );
                if self.inner.close_after_stop.replace(false) {
                    window.set_allow_close(true);
                    window.close();
                }
            }
            EngineEvent::SegmentFinished {
                participant,
                ok: false,
                error,
                ..
            } => {
                let label = self.label_of(&participant);
                window.show_toast(&gettext_f(
                    "{name}'s recording could not be finished: {error}",
                    &[("name", &label), ("error", error.as_deref().unwrap_or(""))],
                ));
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
                super::notify::send(&window, "disk", &gettext("Disk Space Is Low"), &text, &[]);
            }
            EngineEvent::DiskFloor {
                dir,
                free_bytes,
                floor_bytes,
            } => {
                // The engine is finishing every file already.
                self.inner.recording.replace(Recording::Finishing);
                window.set_finishing(true);
                window.set_recording(false);
                self.tick();
                let text = gettext_f(
                    "Recording stopped: only {free} free in {folder}, and {floor} is kept free. Every file is being finished.",
                    &[
                        ("free", &format_size(free_bytes)),
                        ("folder", &dir.display().to_string()),
                        ("floor", &format_size(floor_bytes)),
                    ],
                );
                window.show_toast(&text);
                super::notify::send(
                    &window,
                    "disk",
                    &gettext("Recording Stopped: Disk Almost Full"),
                    &text,
                    &[],
                );
            }
            EngineEvent::Fatal(message) => {
                if self.inner.joined.get() {
                    window.show_toast(&message);
                    super::notify::send(&window, "error", &gettext("Room Error"), &message, &[]);
                } else {
                    self.fail(explain_unreachable(server, &message));
                }
            }
            EngineEvent::SegmentFinished { .. }
            | EngineEvent::Track { .. }
            | EngineEvent::PeerClosed { .. }
            | EngineEvent::FirstKeyframe { .. } => {}
        }
    }

    fn on_room_event(&self, window: &RoomtapeWindow, event: RoomEvent, server: &str) {
        match event {
            RoomEvent::SignalingConnected { .. } => {
                let first = !self.inner.joined.replace(true);
                window.set_view_state(ViewState::Room);
                if first && self.inner.settings.boolean("auto-record") {
                    self.toggle_recording();
                } else if !first {
                    window.show_toast(&gettext("Reconnected to the signaling server"));
                }
            }
            RoomEvent::SignalingLost { reason, .. } => {
                if self.inner.joined.get() {
                    window.show_toast(&gettext_f(
                        "Lost the signaling server ({reason}). Reconnecting; the connections to participants keep going.",
                        &[("reason", reason.trim_end_matches('.'))],
                    ));
                } else {
                    self.fail(explain_unreachable(server, &reason));
                }
            }
            RoomEvent::ServerMessage { message, .. } => {
                let text = crate::explain::server_message(&message);
                if self.inner.joined.get() {
                    window.show_toast(&text);
                } else {
                    self.fail(text);
                }
            }
            RoomEvent::Discovered {
                id,
                stream_id,
                at_ms,
            } => {
                self.ensure_participant(&id, &stream_id, Some(at_ms));
            }
            RoomEvent::Joined {
                id,
                stream_id,
                at_ms,
                ..
            } => {
                self.ensure_participant(&id, &stream_id, Some(at_ms));
                let mut came_in = false;
                if let Some(p) = self.inner.participants.borrow_mut().get_mut(id.as_str()) {
                    if p.tile.left() {
                        p.health = Health::default();
                        p.problems.clear();
                    }
                    p.tile.set_left(false);
                    came_in = !std::mem::replace(&mut p.present, true);
                }
                if came_in {
                    self.notify_joined_soon(&id);
                }
                self.show_problems(&id);
                self.show_health(&id, at_ms);
            }
            RoomEvent::Label { id, label, at_ms } => {
                self.ensure_participant(&id, &label, Some(at_ms));
                if let Some(p) = self.inner.participants.borrow().get(id.as_str()) {
                    p.tile.set_label(label.as_str());
                }
                self.inner.panel.set_label(&id, &label);
            }
            RoomEvent::Left {
                id, reason, at_ms, ..
            } => {
                if reason == LeaveReason::Replaced {
                    return;
                }
                let label = self.label_of(&id);
                if let Some(p) = self.inner.participants.borrow_mut().get_mut(id.as_str()) {
                    p.present = false;
                    p.tile.set_connection_lost(matches!(
                        reason,
                        LeaveReason::Vanished | LeaveReason::Failed
                    ));
                    p.tile.set_left(true);
                    p.tile.set_ice("closed", None);
                    p.problems.clear();
                    if matches!(reason, LeaveReason::Vanished | LeaveReason::Failed) {
                        p.problems.push((
                            Problem::NoPong,
                            gettext_f("{name}’s connection was lost", &[("name", &label)]),
                        ));
                    }
                }
                self.show_problems(&id);
                self.inner.panel.set_state(&id, "closed", None, at_ms);
                let lost = matches!(reason, LeaveReason::Vanished | LeaveReason::Failed);
                super::notify::send(
                    window,
                    &format!("participant-{id}"),
                    &if lost {
                        gettext_f("{name}’s Connection Was Lost", &[("name", &label)])
                    } else {
                        gettext_f("{name} Left", &[("name", &label)])
                    },
                    &if lost {
                        gettext(
                            "Their recording so far is saved; they are recorded again if they come back.",
                        )
                    } else {
                        gettext("Their recording so far is saved.")
                    },
                    &[],
                );
            }
            RoomEvent::Connection { id, state, at_ms } => {
                self.update_health(&id, at_ms, |h| h.connection = state);
            }
            RoomEvent::Ice {
                id,
                transport,
                state,
                at_ms,
            } => {
                self.update_health(&id, at_ms, |h| {
                    h.transports.insert(transport, state);
                });
            }
            RoomEvent::ChannelOpen { id, at_ms } => {
                self.update_health(&id, at_ms, |h| h.channel_open = true);
            }
            RoomEvent::SelectedPair { id, pair, at_ms } => {
                self.update_health(&id, at_ms, |h| h.selected_pair = Some(pair));
            }
            RoomEvent::Candidate(entry) => {
                let id = entry.participant.clone();
                self.ensure_participant(&id, &id.clone(), Some(entry.at_ms));
                let label = self.label_of(&id);
                self.inner.panel.add_candidate(entry, &label);
            }
            RoomEvent::Watchdog { id, problem, at_ms } => {
                if let Some(p) = self.inner.participants.borrow_mut().get_mut(id.as_str()) {
                    p.problems.retain(|(known, _)| *known != problem);
                    p.problems.push((problem, crate::explain::problem(problem)));
                }
                self.show_problems(&id);
                self.show_health(&id, at_ms);
            }
            RoomEvent::WatchdogCleared {
                id, problem, at_ms, ..
            } => {
                if let Some(p) = self.inner.participants.borrow_mut().get_mut(id.as_str()) {
                    p.problems.retain(|(known, _)| *known != problem);
                }
                self.show_problems(&id);
                self.show_health(&id, at_ms);
            }
            RoomEvent::Dropped { reason, .. } => {
                if let Some(hint) = crate::explain::dropped(&reason)
                    && !self.inner.password_hint_shown.replace(true)
                {
                    window.show_toast(&hint);
                }
            }
            RoomEvent::MediaFlowing { .. } => {}
        }
    }

    /// Says that `id` joined once their name is known (it comes over the data channel just
    /// after the join), unless they left again meanwhile.
    fn notify_joined_soon(&self, id: &str) {
        const NAME_WAIT: Duration = Duration::from_millis(1500);
        let weak = Rc::downgrade(&self.inner);
        let id = id.to_owned();
        let generation = self.inner.generation.get();
        glib::timeout_add_local_once(NAME_WAIT, move || {
            let Some(inner) = weak.upgrade() else { return };
            let session = Session { inner };
            let present = session
                .inner
                .participants
                .borrow()
                .get(&id)
                .is_some_and(|p| p.present);
            if session.inner.generation.get() != generation || !present {
                return;
            }
            let Some(window) = session.window() else {
                return;
            };
            let label = session.label_of(&id);
            super::notify::send(
                &window,
                &format!("participant-{id}"),
                &gettext_f("{name} Joined", &[("name", &label)]),
                &gettext_f(
                    "{name} is in {room}",
                    &[
                        ("name", &label),
                        ("room", &session.inner.room_name.borrow()),
                    ],
                ),
                &[],
            );
        });
    }

    /// Stops (or restarts) the media of the demo participant `stream`, their connection kept;
    /// returns whether there is such a participant.
    pub fn pause_demo_media(&self, stream: &str, paused: bool) -> bool {
        let demo = self.inner.demo.borrow();
        let Some(publisher) = demo
            .as_ref()
            .and_then(|d| d.publishers.iter().find(|p| p.stream_id() == stream))
        else {
            return false;
        };
        publisher.set_media_paused(paused);
        true
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
                    "ice": tile.ice_state(),
                    "pair": tile.pair_kind(),
                    "left": tile.left(),
                    "has_video": tile.has_video(),
                    "placeholder": tile.placeholder(),
                    "placeholder_text": tile.placeholder_text(),
                    "included": tile.included(),
                    "recording_time": tile.recording_time(),
                })
            })
            .collect();
        serde_json::json!({
            "view": format!("{:?}", window.view_state()),
            "recording": window.is_recording(),
            "finishing": window.is_finishing(),
            "tiles": tiles,
            "candidates": self.inner.panel.candidate_counts(),
            "session_dir": self.last_session_dir(),
            "inhibit_cookie": self.inner.inhibit_cookie.get(),
            "status": window.status_text(),
            "window_active": window.is_active(),
        })
    }
}

/// A tile that is not on screen (the Recordings page is showing, the tile was dismissed)
/// decodes nothing, neither its picture nor its level meter: GTK unmaps it, and the preview's
/// valve closes until it is mapped again.
fn pause_while_unmapped(tile: &RoomtapeTile, pause: &PauseHandle) {
    pause.set_paused(!tile.is_mapped());
    let on_map = pause.clone();
    tile.connect_map(move |_| on_map.set_paused(false));
    let on_unmap = pause.clone();
    tile.connect_unmap(move |_| on_unmap.set_paused(true));
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
