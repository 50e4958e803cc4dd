//! The GTK front-end: application start-up, the main window and its dialogs.
//!
//! [`run`] owns the `adw::Application`; [`RoomtapeWindow`] shows a [`ViewState`] and reports
//! what the operator asks for through signals (see the `window` module) that the app layer
//! connects to the room engine.

pub mod a11y;
mod about;
mod join_dialog;
mod join_request;
mod keyring;
mod notify;
pub mod panel;
mod preferences;
pub mod recordings;
pub mod screenshot;
pub mod session;
mod shortcuts;
mod testhook;

pub use testhook::{DemoScenario, HookError, TestHook, TestHooks};
pub mod tile;
mod tile_grid;
mod window;

use std::cell::{Cell, RefCell};
use std::path::Path;
use std::process::ExitCode;
use std::rc::Rc;

use adw::prelude::*;
use gtk::{gio, glib};

use crate::config::{APP_ID, SOURCE_DATA_DIR};

pub use window::{JoinRequest, RecordState, RoomtapeWindow, ViewState};

/// What the window does right after it opens, from the command line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LaunchOptions {
    /// The VDO.Ninja link as given, to hand to a window that is already open.
    pub link: Option<String>,
    /// Start the demo room.
    pub demo: bool,
    /// Join this room (ignored with `demo`).
    pub room: Option<String>,
    /// Server for `room`; the `server-url` setting when `None`.
    pub server: Option<String>,
    /// Password for `room` ("false" for none); the `password` setting when `None`.
    pub password: Option<String>,
    /// What the test suite asks of this launch (`--test-hook`).
    pub hooks: TestHooks,
}

impl LaunchOptions {
    /// What to hand to a window already open: the link, or one made of --room and its options.
    fn link_for_running_window(&self) -> Option<String> {
        if let Some(link) = &self.link {
            return Some(link.clone());
        }
        let room = self.room.as_ref()?;
        let server = self
            .server
            .clone()
            .unwrap_or_else(|| crate::config::DEFAULT_SERVER.to_owned());
        Some(crate::signaling::link::guest_link(
            room,
            &server,
            self.password.as_deref(),
            None,
        ))
    }

    /// Starts what was asked for: the demo, or the room (checked like the join dialog does).
    fn apply(&self, window: &RoomtapeWindow) {
        if self.demo {
            window.request_demo();
            return;
        }
        let Some(room) = &self.room else {
            return;
        };
        join_with_defaults(
            window,
            room.clone(),
            self.server.clone(),
            self.password.clone(),
            |window, problem| window.set_view_state(ViewState::Error(problem)),
        );
    }
}

/// Runs the GTK app until its last window closes.
pub fn run(options: LaunchOptions) -> ExitCode {
    if let Err(err) = gst::init() {
        eprintln!("roomtape: GStreamer could not be initialised: {err}");
        return ExitCode::FAILURE;
    }
    if let Err(err) = gstgtk4::plugin_register_static() {
        tracing::warn!("live previews are unavailable: gtk4paintablesink did not register: {err}");
    }
    let settings = match crate::settings::open() {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("roomtape: {err}");
            return ExitCode::FAILURE;
        }
    };

    // One instance: a second launch hands its room to the window already open and quits.
    let mut flags = gio::ApplicationFlags::HANDLES_OPEN;
    if options.hooks.is_test_run() {
        flags |= gio::ApplicationFlags::NON_UNIQUE;
    }
    let app = adw::Application::builder()
        .application_id(APP_ID)
        .flags(flags)
        .build();
    app.connect_startup(glib::clone!(
        #[strong]
        settings,
        move |app| startup(app, &settings)
    ));

    let link_for_running_window = options.link_for_running_window();
    let options = RefCell::new(Some(options));
    // The app layer of the window lives as long as the application.
    let session_slot: Rc<RefCell<Option<session::Session>>> = Rc::default();
    let screenshot_failed = Rc::new(Cell::new(false));
    app.connect_activate(glib::clone!(
        #[strong]
        screenshot_failed,
        #[strong]
        session_slot,
        move |app| {
            if let Some(window) = app.active_window() {
                window.present();
                return;
            }
            if let Some(options) = options.borrow().as_ref() {
                options.hooks.prepare(&settings);
            }
            let window = RoomtapeWindow::new(app, &settings);
            let session = session::Session::attach(&window);
            if let Some(count) = options.borrow().as_ref().and_then(|o| o.hooks.demo_people) {
                session.set_demo_people(count);
            }
            session_slot.replace(Some(session.clone()));
            window.present();
            if let Some(options) = options.take() {
                options.apply(&window);
                options
                    .hooks
                    .start(app, &window, session, screenshot_failed.clone());
            }
        }
    ));

    // clap already parsed the arguments; GApplication must not see them.
    // Registering runs `startup` (the actions, the style) in the first instance: after the
    // handlers above are connected.
    if let Err(err) = app.register(gio::Cancellable::NONE) {
        tracing::warn!("could not register with the session bus: {err}");
    }
    if app.is_remote() {
        match link_for_running_window {
            Some(link) => app.open(&[gio::File::for_uri(&link)], ""),
            None => app.activate(),
        }
        // The hand-over is an asynchronous D-Bus call: sent before this process ends.
        if let Some(connection) = app.dbus_connection()
            && let Err(err) = connection.flush_sync(gio::Cancellable::NONE)
        {
            tracing::warn!("could not hand over to the running window: {err}");
            return ExitCode::FAILURE;
        }
        tracing::info!("Roomtape is already running: handed over to its window");
        return ExitCode::SUCCESS;
    }
    app.connect_open(|app, files, _| {
        // A link can come before the first window exists: make it (activate builds it at once).
        if app.active_window().is_none() {
            app.activate();
        }
        let Some(window) = app.active_window().and_downcast::<RoomtapeWindow>() else {
            tracing::warn!("no window to take the link from another launch");
            return;
        };
        window.present();
        for file in files {
            join_from_link(&window, &file.uri());
        }
    });
    let argv0 = std::env::args()
        .next()
        .unwrap_or_else(|| "roomtape".to_owned());
    let code = app.run_with_args(&[argv0]);
    if screenshot_failed.get() {
        ExitCode::FAILURE
    } else {
        code.into()
    }
}

/// Joins the room a link from another launch names (asking first while recording).
fn join_from_link(window: &RoomtapeWindow, link: &str) {
    let parsed = match crate::signaling::link::parse(link) {
        Ok(parsed) => parsed,
        Err(err) => {
            window.show_toast(&crate::i18n::gettext_f(
                "Could not use the link from another launch: {error}",
                &[("error", &err.to_string())],
            ));
            return;
        }
    };
    tracing::info!("another launch asked to join {}", parsed.room);
    join_with_defaults(
        window,
        parsed.room,
        parsed.server,
        parsed.password,
        |window, problem| window.show_toast(&problem),
    );
}

/// Joins what `app.join` was given: a VDO.Ninja link, or a bare room name on the server and
/// with the password of the settings.
fn join_room_or_link(window: &RoomtapeWindow, text: &str) {
    if crate::signaling::link::looks_like_link(text) {
        join_from_link(window, text);
    } else {
        join_with_defaults(
            window,
            text.trim().to_owned(),
            None,
            None,
            |window, problem| window.show_toast(&problem),
        );
    }
}

/// Joins `room`, on `server` with `password` where given and otherwise with the settings'
/// (the default password may be in the keyring, which answers asynchronously); a request the
/// join dialog would refuse goes to `refused` with the reason.
fn join_with_defaults(
    window: &RoomtapeWindow,
    room: String,
    server: Option<String>,
    password: Option<String>,
    refused: fn(&RoomtapeWindow, String),
) {
    let settings = window.settings();
    glib::spawn_future_local(glib::clone!(
        #[weak]
        window,
        async move {
            keyring::ready(&settings).await;
            let server = server.unwrap_or_else(|| settings.string("server-url").into());
            let password = password.map_or_else(
                || keyring::default_room_password(&settings),
                |text| join_request::password_from_text(&text),
            );
            match join_dialog::validate(&room, &server, password) {
                Ok(request) => window.request_join(request),
                Err((_, problem)) => refused(&window, problem),
            }
        }
    ));
}

/// The window the remote-control actions act on, made when there is none yet.
fn remote_window(app: &adw::Application) -> Option<RoomtapeWindow> {
    if app.active_window().is_none() {
        app.activate();
    }
    app.active_window().and_downcast::<RoomtapeWindow>()
}

/// Actions other programs call over D-Bus (`gapplication action io.github.roomtape.Roomtape
/// record`): they do what the buttons do, and are no-ops when there is nothing to do (`record`
/// while recording, `stop` while not), so scripts can repeat them safely.
fn remote_control_actions() -> Vec<gio::ActionEntry<adw::Application>> {
    let join = gio::ActionEntry::builder("join")
        .parameter_type(Some(glib::VariantTy::STRING))
        .activate(|app: &adw::Application, _, target| {
            let Some(text) = target.and_then(|t| t.get::<String>()) else {
                return;
            };
            if let Some(window) = remote_window(app) {
                tracing::info!("asked over D-Bus to join {text}");
                join_room_or_link(&window, &text);
            }
        })
        .build();
    let demo = gio::ActionEntry::builder("demo")
        .activate(|app: &adw::Application, _, _| {
            if let Some(window) = remote_window(app) {
                window.request_demo();
            }
        })
        .build();
    let record = gio::ActionEntry::builder("record")
        .activate(|app: &adw::Application, _, _| {
            if let Some(window) = remote_window(app)
                && window.view_state() == ViewState::Room
                && window.record_state() != RecordState::Running
            {
                let _ = WidgetExt::activate_action(&window, "win.record", None);
            }
        })
        .build();
    let stop = gio::ActionEntry::builder("stop")
        .activate(|app: &adw::Application, _, _| {
            if let Some(window) = app.active_window().and_downcast::<RoomtapeWindow>()
                && window.record_state() == RecordState::Running
            {
                let _ = WidgetExt::activate_action(&window, "win.record", None);
            }
        })
        .build();
    // A script that says leave means it: no question, and the files are finished first.
    let leave = gio::ActionEntry::builder("leave")
        .activate(|app: &adw::Application, _, _| {
            if let Some(window) = app.active_window().and_downcast::<RoomtapeWindow>() {
                window.leave_now();
            }
        })
        .build();
    vec![join, demo, record, stop, leave]
}

/// Styles, icons, application actions and shortcuts: everything that needs a display.
fn startup(app: &adw::Application, settings: &gio::Settings) {
    glib::spawn_future_local(glib::clone!(
        #[strong]
        settings,
        async move { keyring::ready(&settings).await }
    ));
    gtk::Window::set_default_icon_name(APP_ID);
    if let Some(display) = gtk::gdk::Display::default() {
        let provider = gtk::CssProvider::new();
        provider.load_from_data(include_str!("../../data/style.css"));
        gtk::style_context_add_provider_for_display(
            &display,
            &provider,
            gtk::STYLE_PROVIDER_PRIORITY_APPLICATION,
        );
        // Running from a checkout: the app icon is not installed yet.
        let icons = Path::new(SOURCE_DATA_DIR).join("icons");
        if icons.is_dir() && crate::config::running_from_checkout() {
            gtk::IconTheme::for_display(&display).add_search_path(icons);
        }
    }

    let preferences = gio::ActionEntry::builder("preferences")
        .activate(glib::clone!(
            #[strong]
            settings,
            move |app: &adw::Application, _, _| {
                if let Some(window) = app.active_window() {
                    preferences::present(&window, &settings);
                }
            }
        ))
        .build();
    let about = gio::ActionEntry::builder("about")
        .activate(|app: &adw::Application, _, _| {
            if let Some(window) = app.active_window() {
                about::present(&window);
            }
        })
        .build();
    let shortcuts = gio::ActionEntry::builder("shortcuts")
        .activate(|app: &adw::Application, _, _| {
            if let Some(window) = app.active_window() {
                shortcuts::present(&window);
            }
        })
        .build();
    // Closing each window first gives it a chance to save its size (or, later, to ask).
    let quit = gio::ActionEntry::builder("quit")
        .activate(|app: &adw::Application, _, _| {
            for window in app.windows() {
                window.close();
            }
        })
        .build();
    // Targets of notification and toast buttons: they work with the window in the background.
    let open_folder = gio::ActionEntry::builder("open-folder")
        .parameter_type(Some(glib::VariantTy::STRING))
        .activate(|app: &adw::Application, _, target| {
            let Some(dir) = target.and_then(|t| t.get::<String>()) else {
                return;
            };
            let uri = gio::File::for_path(&dir).uri();
            if let Err(err) =
                gio::AppInfo::launch_default_for_uri(&uri, gio::AppLaunchContext::NONE)
            {
                tracing::warn!("cannot open {dir}: {err}");
                if let Some(window) = app.active_window().and_downcast::<RoomtapeWindow>() {
                    window.show_toast(&crate::i18n::gettext_f(
                        "Could not open the folder {folder}: {error}",
                        &[("folder", &dir), ("error", &err.to_string())],
                    ));
                }
            }
        })
        .build();
    let show_recording = gio::ActionEntry::builder("show-recording")
        .parameter_type(Some(glib::VariantTy::STRING))
        .activate(|app: &adw::Application, _, target| {
            let Some(dir) = target.and_then(|t| t.get::<String>()) else {
                return;
            };
            if let Some(window) = app.active_window().and_downcast::<RoomtapeWindow>() {
                window.recordings_page().show_session(Path::new(&dir));
                let _ = WidgetExt::activate_action(&window, "win.show-recordings", None);
                window.present();
            }
        })
        .build();
    app.add_action_entries([
        preferences,
        about,
        shortcuts,
        quit,
        open_folder,
        show_recording,
    ]);
    app.add_action_entries(remote_control_actions());
    for (action, accels) in shortcuts::ACCELS {
        app.set_accels_for_action(action, accels);
    }
}
