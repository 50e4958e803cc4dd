//! The main window: header bar, the Live and Recordings pages and the connections side panel.
//!
//! The window knows nothing about rooms or media. It shows a [`ViewState`] and turns what the
//! operator asks for into GObject signals that the app layer connects to the room engine:
//!
//! | signal | arguments | emitted by |
//! | --- | --- | --- |
//! | `join-requested` | a [`JoinRequest`] | join dialog, `--room`, Try Again |
//! | `demo-requested` | none | "Try the Demo Room", `win.demo`, `--demo`, Try Again |
//! | `leave-requested` | none | Cancel while joining, Back on the error page, `win.leave` |
//! | `record-requested` | none | the Record button, `win.record`: start, or stop when recording |
//! | `stop-and-close-requested` | none | closing the window while recording, after confirming |
//!
//! Before a request signal is emitted the view already moved on (to Joining, or to Empty for a
//! leave), so a handler only has to report progress with [`RoomtapeWindow::set_view_state`].

use adw::prelude::*;
use adw::subclass::prelude::*;
use gtk::{gio, glib};

use crate::i18n::{gettext, gettext_f};
use crate::protocol::crypto::Password;

mod record;

pub use record::RecordState;

/// What the Live page shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ViewState {
    /// Not in a room: the start page with "Join a Room…" and "Try the Demo Room".
    #[default]
    Empty,
    /// A join or the demo was requested and is not answered yet.
    Joining,
    /// In a room: the tile grid.
    Room,
    /// Joining failed or the room was lost; the text says what happened and what to try.
    Error(String),
}

pub use crate::ui::join_request::JoinRequest;

/// The operator's last request, repeated by "Try Again".
#[derive(Debug, Clone, PartialEq, Eq)]
enum RoomRequest {
    Demo,
    Join(JoinRequest),
}

mod imp {
    use std::cell::{Cell, OnceCell, RefCell};
    use std::sync::OnceLock;

    use glib::subclass::Signal;

    use super::*;

    #[derive(Debug, Default, gtk::CompositeTemplate, glib::Properties)]
    #[template(file = "window.ui")]
    #[properties(wrapper_type = super::RoomtapeWindow)]
    pub struct RoomtapeWindow {
        #[template_child]
        pub(super) switcher_title: TemplateChild<adw::ViewSwitcherTitle>,
        #[template_child]
        pub(super) view_stack: TemplateChild<adw::ViewStack>,
        #[template_child]
        pub(super) record_button: TemplateChild<gtk::Button>,
        #[template_child]
        pub(super) menu_button: TemplateChild<gtk::MenuButton>,
        #[template_child]
        pub(super) panel_button: TemplateChild<gtk::ToggleButton>,
        #[template_child]
        pub(super) status_revealer: TemplateChild<gtk::Revealer>,
        #[template_child]
        pub(super) status_icon: TemplateChild<gtk::Image>,
        #[template_child]
        pub(super) status_room: TemplateChild<gtk::Label>,
        #[template_child]
        pub(super) status_detail: TemplateChild<gtk::Label>,
        #[template_child]
        pub(super) flap: TemplateChild<adw::Flap>,
        #[template_child]
        pub(super) live_stack: TemplateChild<gtk::Stack>,
        #[template_child]
        pub(super) joining_spinner: TemplateChild<gtk::Spinner>,
        #[template_child]
        pub(super) joining_title: TemplateChild<gtk::Label>,
        #[template_child]
        pub(super) joining_detail: TemplateChild<gtk::Label>,
        #[template_child]
        pub(super) tile_box: TemplateChild<crate::ui::tile_grid::TileGrid>,
        #[template_child]
        pub(super) error_page: TemplateChild<adw::StatusPage>,
        #[template_child]
        pub(super) edit_button: TemplateChild<gtk::Button>,
        #[template_child]
        pub(super) recordings_page: TemplateChild<crate::ui::recordings::RecordingsPage>,
        #[template_child]
        pub(super) side_panel: TemplateChild<crate::ui::panel::Panel>,
        #[template_child]
        pub(super) toast_overlay: TemplateChild<adw::ToastOverlay>,

        /// The app's settings, shared with the dialogs this window opens.
        #[property(get, construct_only)]
        pub(super) settings: OnceCell<gio::Settings>,
        pub(super) state: RefCell<ViewState>,
        pub(super) request: RefCell<Option<RoomRequest>>,
        /// Where the recording is; the app layer sets it, the Record button shows it.
        #[property(get, set = Self::set_record_state, explicit_notify, builder(RecordState::default()))]
        pub(super) record_state: Cell<RecordState>,
        /// Seconds recorded so far, for the Stop button.
        #[property(get, set = Self::set_record_elapsed, explicit_notify)]
        pub(super) record_elapsed: Cell<u64>,
        /// The operator confirmed closing (or nothing needs confirming any more).
        pub(super) allow_close: Cell<bool>,
        /// Free space and recording time left, while recording.
        pub(super) disk_status: RefCell<Option<String>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for RoomtapeWindow {
        const NAME: &'static str = "RoomtapeWindow";
        type Type = super::RoomtapeWindow;
        type ParentType = adw::ApplicationWindow;

        fn class_init(klass: &mut Self::Class) {
            crate::ui::tile_grid::TileGrid::ensure_type();
            crate::ui::panel::Panel::ensure_type();
            crate::ui::recordings::RecordingsPage::ensure_type();
            klass.bind_template();
            klass.bind_template_callbacks();

            klass.install_action("win.join", None, |win, _, _| win.show_join_dialog());
            klass.install_action("win.edit-join", None, |win, _, _| win.edit_join());
            klass.install_action("win.copy-guest-link", None, |win, _, _| {
                win.copy_guest_link()
            });
            klass.install_action("win.demo", None, |win, _, _| win.request_demo());
            klass.install_action("win.retry", None, |win, _, _| win.retry());
            klass.install_action("win.leave", None, |win, _, _| win.request_leave());
            klass.install_action("win.record", None, |win, _, _| {
                win.emit_by_name::<()>("record-requested", &[]);
            });
            klass.install_action("win.show-live", None, |win, _, _| {
                win.imp().view_stack.set_visible_child_name("live");
            });
            klass.install_action("win.show-recordings", None, |win, _, _| {
                win.imp().view_stack.set_visible_child_name("recordings");
            });
            klass.install_action("win.toggle-panel", None, |win, _, _| {
                let flap = &win.imp().flap;
                flap.set_reveal_flap(!flap.reveals_flap());
            });
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl RoomtapeWindow {
        fn set_record_state(&self, state: RecordState) {
            if self.record_state.replace(state) != state {
                // A new recording's clock starts at zero.
                self.record_elapsed.set(0);
                self.obj().notify_record_elapsed();
                self.obj().notify_record_state();
                self.obj().update_view();
            }
        }

        fn set_record_elapsed(&self, secs: u64) {
            if self.record_elapsed.replace(secs) != secs {
                self.obj().notify_record_elapsed();
            }
        }
    }

    #[glib::derived_properties]
    impl ObjectImpl for RoomtapeWindow {
        fn signals() -> &'static [Signal] {
            static SIGNALS: OnceLock<Vec<Signal>> = OnceLock::new();
            SIGNALS.get_or_init(|| {
                vec![
                    Signal::builder("join-requested")
                        .param_types([JoinRequest::static_type()])
                        .build(),
                    Signal::builder("demo-requested").build(),
                    Signal::builder("leave-requested").build(),
                    Signal::builder("record-requested").build(),
                    Signal::builder("stop-and-close-requested").build(),
                ]
            })
        }

        fn constructed(&self) {
            self.parent_constructed();
            let obj = self.obj();
            if let Some(settings) = self.settings.get() {
                obj.set_default_size(
                    settings.int("window-width").max(360),
                    settings.int("window-height").max(320),
                );
                // An empty setting means the default folder: the page gets the folder itself.
                let resolve = settings.clone();
                settings
                    .bind("output-folder", &*self.recordings_page, "folder")
                    .get()
                    .mapping(move |_, _| Some(crate::settings::recordings_dir(&resolve).to_value()))
                    .build();
            }
            // Screen readers name icon-only controls by these; the tooltips stay for the mouse.
            use crate::ui::a11y::label;
            label(&*self.menu_button, &gettext("Main Menu"));
            label(&*self.panel_button, &gettext("Connections Panel"));
            obj.update_view();
        }
    }

    impl WidgetImpl for RoomtapeWindow {}

    impl WindowImpl for RoomtapeWindow {
        fn close_request(&self) -> glib::Propagation {
            let obj = self.obj();
            if self.record_state.get() != RecordState::Idle && !self.allow_close.get() {
                obj.confirm_close();
                return glib::Propagation::Stop;
            }
            if let Some(settings) = self.settings.get() {
                if !obj.is_maximized() {
                    let (width, height) = obj.default_size();
                    for (key, value) in [("window-width", width), ("window-height", height)] {
                        if let Err(err) = settings.set_int(key, value) {
                            tracing::warn!("could not save the window size: {err}");
                        }
                    }
                }
            }
            self.parent_close_request()
        }
    }

    impl ApplicationWindowImpl for RoomtapeWindow {}
    impl AdwApplicationWindowImpl for RoomtapeWindow {}
}

glib::wrapper! {
    pub struct RoomtapeWindow(ObjectSubclass<imp::RoomtapeWindow>)
        @extends adw::ApplicationWindow, gtk::ApplicationWindow, gtk::Window, gtk::Widget,
        @implements gio::ActionGroup, gio::ActionMap, gtk::Accessible, gtk::Buildable,
            gtk::ConstraintTarget, gtk::Native, gtk::Root, gtk::ShortcutManager;
}

impl RoomtapeWindow {
    pub fn new(app: &impl IsA<gtk::Application>, settings: &gio::Settings) -> Self {
        glib::Object::builder()
            .property("application", app)
            .property("settings", settings)
            .build()
    }

    pub fn view_state(&self) -> ViewState {
        self.imp().state.borrow().clone()
    }

    pub fn set_view_state(&self, state: ViewState) {
        if *self.imp().state.borrow() == state {
            return;
        }
        self.imp().state.replace(state);
        self.update_view();
    }

    /// Lets the next close go through without asking (after stopping for a close).
    pub fn set_allow_close(&self, allow: bool) {
        self.imp().allow_close.set(allow);
    }

    /// A short message at the bottom of the window.
    pub fn show_toast(&self, text: &str) {
        self.imp().toast_overlay.add_toast(adw::Toast::new(text));
    }

    /// The message after a recording, with buttons to open its folder or show it on the
    /// Recordings page.
    pub fn show_recording_toast(&self, text: &str, dir: &std::path::Path) {
        let target = dir.display().to_string().to_variant();
        let toast = adw::Toast::builder()
            .button_label(gettext("Open Folder"))
            .action_name("app.open-folder")
            .action_target(&target)
            .timeout(10)
            .build();
        // A toast has one button of its own: the second goes next to the text.
        let title = gtk::Box::new(gtk::Orientation::Horizontal, 12);
        title.append(
            &gtk::Label::builder()
                .label(text)
                .wrap(true)
                .xalign(0.0)
                .build(),
        );
        title.append(
            &gtk::Button::builder()
                .label(gettext("Show in Recordings"))
                .action_name("app.show-recording")
                .action_target(&target)
                .valign(gtk::Align::Center)
                .css_classes(["flat"])
                .build(),
        );
        toast.set_custom_title(Some(&title));
        self.imp().toast_overlay.add_toast(toast);
    }

    /// Free space and recording time left, shown in the status line while recording.
    pub fn set_disk_status(&self, status: Option<String>) {
        if *self.imp().disk_status.borrow() != status {
            self.imp().disk_status.replace(status);
            self.update_view();
        }
    }

    /// The error page's text, while it shows one (for the test hook).
    pub fn error_text(&self) -> Option<String> {
        match &*self.imp().state.borrow() {
            ViewState::Error(_) => self.imp().error_page.description().map(|d| d.to_string()),
            _ => None,
        }
    }

    /// What the status line says under the header bar (for the test hook).
    pub fn status_text(&self) -> String {
        self.imp().status_detail.label().to_string()
    }

    /// Opens the join dialog filled in with the room that could not be joined.
    fn edit_join(&self) {
        let request = self.imp().request.borrow().clone();
        match request {
            Some(RoomRequest::Join(request)) => {
                self.present_join_dialog(Some(&request));
            }
            _ => self.show_join_dialog(),
        }
    }

    /// Copies the link guests open to join this room, with its password.
    fn copy_guest_link(&self) {
        let request = self.imp().request.borrow().clone();
        let Some(RoomRequest::Join(request)) = request else {
            return;
        };
        // The link says "false" for a room without a password, as VDO.Ninja's own links do.
        let password = match &request.password {
            Password::Default => None,
            Password::Disabled => Some("false"),
            Password::Custom(text) => Some(text.as_str()),
        };
        let salt = self.settings().string("salt");
        let salt = Some(salt.trim()).filter(|s| !s.is_empty());
        let link =
            crate::signaling::link::guest_link(&request.room, &request.server, password, salt);
        self.clipboard().set_text(&link);
        self.show_toast(&gettext_f(
            "Guest link for “{room}” copied: guests open it in their browser to join",
            &[("room", &request.room)],
        ));
    }

    /// The side panel: connection details and the candidate log.
    pub fn side_panel(&self) -> crate::ui::panel::Panel {
        self.imp().side_panel.get()
    }

    /// The Live page's tile grid; the app layer adds one child per participant.
    pub fn tile_box(&self) -> crate::ui::tile_grid::TileGrid {
        self.imp().tile_box.get()
    }

    /// The Recordings page.
    pub fn recordings_page(&self) -> crate::ui::recordings::RecordingsPage {
        self.imp().recordings_page.get()
    }

    /// Opens the join dialog; its Join button calls [`Self::request_join`].
    pub fn show_join_dialog(&self) {
        self.present_join_dialog(None);
    }

    fn present_join_dialog(&self, filled: Option<&JoinRequest>) {
        let dialog = crate::ui::join_dialog::present(self, &self.settings(), filled);
        dialog.connect_join_requested(glib::clone!(
            #[weak(rename_to = window)]
            self,
            move |_, request| window.request_join(request.clone())
        ));
    }

    /// Shows Joining, remembers the room and emits `join-requested`; asks first when that
    /// would stop a running recording.
    pub fn request_join(&self, request: JoinRequest) {
        if self.leaving_stops_a_recording() {
            self.confirm_stop(
                &gettext("Stop Recording and Join Another Room?"),
                &gettext_f(
                    "The room is being recorded. Joining “{room}” stops the recording and finishes every file first.",
                    &[("room", &request.room)],
                ),
                &gettext("_Stop and Join"),
                move |win| win.join_now(request.clone()),
            );
            return;
        }
        self.join_now(request);
    }

    fn join_now(&self, request: JoinRequest) {
        crate::settings::remember_room(
            &self.settings(),
            &request.room,
            &request.server,
            crate::ui::join_request::PasswordKind::of(&request.password).as_setting(),
        );
        self.start_request(RoomRequest::Join(request.clone()));
        self.emit_by_name::<()>("join-requested", &[&request]);
    }

    /// Shows Joining and emits `demo-requested`; asks first when that would stop a running
    /// recording.
    pub fn request_demo(&self) {
        if self.leaving_stops_a_recording() {
            self.confirm_stop(
                &gettext("Stop Recording and Open the Demo Room?"),
                &gettext(
                    "The room is being recorded. Opening the demo room stops the recording and finishes every file first.",
                ),
                &gettext("_Stop and Open"),
                |win| win.demo_now(),
            );
            return;
        }
        self.demo_now();
    }

    fn demo_now(&self) {
        self.start_request(RoomRequest::Demo);
        self.emit_by_name::<()>("demo-requested", &[]);
    }

    /// Goes back to the start page and emits `leave-requested`; asks first when that would
    /// stop a running recording.
    pub fn request_leave(&self) {
        if self.leaving_stops_a_recording() {
            self.confirm_stop(
                &gettext("Stop Recording and Leave?"),
                &gettext(
                    "The room is being recorded. Leaving stops the recording and finishes every file first.",
                ),
                &gettext("_Stop and Leave"),
                |win| win.leave_now(),
            );
            return;
        }
        self.leave_now();
    }

    /// Leaves without asking; a recording is stopped and its files finished.
    pub(crate) fn leave_now(&self) {
        self.stop_showing_a_running_recording();
        self.imp().state.replace(ViewState::Empty);
        self.update_view();
        self.emit_by_name::<()>("leave-requested", &[]);
    }

    pub fn connect_join_requested<F: Fn(&Self, &JoinRequest) + 'static>(
        &self,
        f: F,
    ) -> glib::SignalHandlerId {
        self.connect_closure(
            "join-requested",
            false,
            glib::closure_local!(move |win: &Self, request: &JoinRequest| f(win, request)),
        )
    }

    pub fn connect_demo_requested<F: Fn(&Self) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_closure(
            "demo-requested",
            false,
            glib::closure_local!(move |win: &Self| f(win)),
        )
    }

    pub fn connect_leave_requested<F: Fn(&Self) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_closure(
            "leave-requested",
            false,
            glib::closure_local!(move |win: &Self| f(win)),
        )
    }

    pub fn connect_record_requested<F: Fn(&Self) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_closure(
            "record-requested",
            false,
            glib::closure_local!(move |win: &Self| f(win)),
        )
    }

    fn start_request(&self, request: RoomRequest) {
        let imp = self.imp();
        imp.request.replace(Some(request));
        self.stop_showing_a_running_recording();
        imp.state.replace(ViewState::Joining);
        imp.view_stack.set_visible_child_name("live");
        self.update_view();
    }

    /// Leaving a room ends its running recording; one that is finishing goes on until the app
    /// layer says it is done.
    fn stop_showing_a_running_recording(&self) {
        let imp = self.imp();
        if imp.record_state.get() == RecordState::Running {
            imp.record_state.set(RecordState::Idle);
            imp.record_elapsed.set(0);
            self.notify_record_elapsed();
            self.notify_record_state();
        }
    }

    fn retry(&self) {
        let request = self.imp().request.borrow().clone();
        match request {
            Some(RoomRequest::Demo) => self.request_demo(),
            Some(RoomRequest::Join(request)) => self.request_join(request),
            None => self.show_join_dialog(),
        }
    }

    /// The room's name and where it is, for the status line.
    fn room_summary(&self) -> Option<(String, String)> {
        match self.imp().request.borrow().as_ref()? {
            RoomRequest::Demo => Some((
                gettext("Demo Room"),
                gettext("a local server with synthetic participants"),
            )),
            RoomRequest::Join(join) => Some((join.room.clone(), join.server.clone())),
        }
    }

    /// Renders the state: the visible page, the status line, the Record button and which
    /// actions can run.
    fn update_view(&self) {
        let imp = self.imp();
        let state = imp.state.borrow().clone();
        let record_state = imp.record_state.get();
        let recording = record_state == RecordState::Running && state == ViewState::Room;
        let summary = self.room_summary();

        let page = match &state {
            ViewState::Empty => "empty",
            ViewState::Joining => "joining",
            ViewState::Room => "room",
            ViewState::Error(_) => "error",
        };
        imp.live_stack.set_visible_child_name(page);
        imp.joining_spinner
            .set_spinning(state == ViewState::Joining);

        if state == ViewState::Joining {
            let (title, detail) = match &summary {
                Some((room, place)) => (
                    gettext_f("Joining “{room}”…", &[("room", room)]),
                    place.clone(),
                ),
                None => (gettext("Joining…"), String::new()),
            };
            imp.joining_title.set_label(&title);
            imp.joining_detail.set_label(&detail);
            imp.joining_detail.set_visible(!detail.is_empty());
        }
        if let ViewState::Error(message) = &state {
            imp.error_page.set_description(Some(message));
        }

        // Status line under the header bar: which room, where, and how it is going.
        let status = summary.as_ref().and_then(|(room, place)| {
            let (icon, what) = match &state {
                ViewState::Empty => return None,
                ViewState::Joining => ("content-loading-symbolic", gettext("joining")),
                ViewState::Room if recording => (
                    "media-record-symbolic",
                    match imp.disk_status.borrow().as_deref() {
                        Some(disk) => gettext_f(
                            // Translators: part of the window's subtitle; {free_space} is for example “12 GB free, about 3 h left”.
                            "recording · {free_space}",
                            &[("free_space", disk)],
                        ),
                        None => gettext("recording"),
                    },
                ),
                ViewState::Room => ("network-transmit-receive-symbolic", gettext("in the room")),
                ViewState::Error(_) => ("network-error-symbolic", gettext("not connected")),
            };
            Some((
                icon,
                room,
                gettext_f(
                    // Translators: the window's subtitle: the server's address and what the session is doing (connecting, recording · 12 GB free).
                    "{server} · {state}",
                    &[("server", place), ("state", &what)],
                ),
            ))
        });
        if let Some((icon, room, detail)) = status {
            imp.status_icon.set_icon_name(Some(icon));
            if recording {
                imp.status_icon.add_css_class("recording-dot");
            } else {
                imp.status_icon.remove_css_class("recording-dot");
            }
            imp.status_room.set_label(room);
            imp.status_detail.set_label(&detail);
            imp.switcher_title.set_subtitle(room);
            imp.status_revealer.set_reveal_child(true);
        } else {
            imp.switcher_title.set_subtitle("");
            imp.status_revealer.set_reveal_child(false);
        }

        // The Record button's words and icon are bound in the template; its colour is not.
        if recording {
            imp.record_button.add_css_class("destructive-action");
            imp.record_button.add_css_class("recording");
        } else {
            imp.record_button.remove_css_class("recording");
            imp.record_button.remove_css_class("destructive-action");
        }
        let finishing = record_state == RecordState::Finishing;

        self.action_set_enabled("win.record", state == ViewState::Room && !finishing);
        self.action_set_enabled("win.join", state != ViewState::Joining);
        self.action_set_enabled("win.demo", state != ViewState::Joining);
        self.action_set_enabled("win.leave", state != ViewState::Empty);
        // Without an earlier request (a bad --room), Try Again opens the join dialog.
        self.action_set_enabled("win.retry", matches!(state, ViewState::Error(_)));
        let joined_a_room = matches!(*imp.request.borrow(), Some(RoomRequest::Join(_)));
        let editable = joined_a_room && matches!(state, ViewState::Error(_));
        self.action_set_enabled("win.edit-join", editable);
        imp.edit_button.set_visible(editable);
        self.action_set_enabled(
            "win.copy-guest-link",
            joined_a_room && matches!(state, ViewState::Room | ViewState::Joining),
        );
    }
}
