//! The "Join a Room" dialog: room, server and password, checked before anything is sent.

use adw::prelude::*;
use adw::subclass::prelude::*;
use gtk::{gio, glib};

use crate::i18n::{gettext, gettext_f};
use crate::protocol::crypto::Password;
use crate::ui::join_request::{JoinRequest, PasswordKind, password_choices};

/// Which field a validation problem is about, so that row can be marked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    Room,
    Server,
    Password,
}

/// Checks the dialog's fields and builds the request, or says what to fix.
pub(crate) fn validate(
    room: &str,
    server: &str,
    password: Password,
) -> Result<JoinRequest, (Field, String)> {
    let room = room.trim();
    if room.is_empty() {
        return Err((Field::Room, gettext("Enter the name of the room to join.")));
    }
    let server = server.trim();
    let host = server
        .strip_prefix("wss://")
        .or_else(|| server.strip_prefix("ws://"));
    match host {
        None => {
            return Err((
                Field::Server,
                gettext("The server address must start with ws:// or wss://."),
            ));
        }
        Some(host) if host.is_empty() || host.starts_with('/') => {
            return Err((
                Field::Server,
                gettext("The server address needs a host name after ws:// or wss://."),
            ));
        }
        Some(_) => {}
    }
    if matches!(&password, Password::Custom(text) if text.is_empty()) {
        return Err((
            Field::Password,
            gettext("Enter the room's password, or choose Default or None."),
        ));
    }
    Ok(JoinRequest {
        room: room.to_owned(),
        server: server.to_owned(),
        password,
    })
}

struct Widgets {
    room: adw::EntryRow,
    server: adw::EntryRow,
    mode: adw::ComboRow,
    password: adw::PasswordEntryRow,
    remember_row: adw::ActionRow,
    remember: gtk::Switch,
    problem: gtk::Label,
}

impl Widgets {
    /// The password as the rows say it now.
    fn password(&self) -> Password {
        PasswordKind::at(self.mode.selected()).password(&self.password.text())
    }

    fn custom_chosen(&self) -> bool {
        PasswordKind::at(self.mode.selected()) == PasswordKind::Custom
    }

    fn show_problem(&self, problem: Option<(Field, String)>) {
        let field = problem.as_ref().map(|(field, _)| *field);
        for (row, row_field) in [
            (self.room.upcast_ref::<gtk::Widget>(), Field::Room),
            (self.server.upcast_ref(), Field::Server),
            (self.password.upcast_ref(), Field::Password),
        ] {
            if field == Some(row_field) {
                row.add_css_class("error");
            } else {
                row.remove_css_class("error");
            }
        }
        let text = problem.map(|(_, text)| text).unwrap_or_default();
        self.problem.set_label(&text);
        self.problem.set_visible(!text.is_empty());
    }
}

mod imp {
    use std::cell::OnceCell;
    use std::sync::OnceLock;

    use glib::subclass::Signal;

    use super::*;

    #[derive(Default)]
    pub struct JoinDialog {
        pub(super) widgets: OnceCell<Widgets>,
        /// Counts room-row edits, so that only the last one of a burst reads a link.
        pub(super) room_edits: std::cell::Cell<u64>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for JoinDialog {
        const NAME: &'static str = "RoomtapeJoinDialog";
        type Type = super::JoinDialog;
        type ParentType = adw::Window;
    }

    impl ObjectImpl for JoinDialog {
        fn signals() -> &'static [Signal] {
            static SIGNALS: OnceLock<Vec<Signal>> = OnceLock::new();
            SIGNALS.get_or_init(|| {
                // Join was pressed with a valid request; the dialog has closed.
                vec![
                    Signal::builder("join-requested")
                        .param_types([JoinRequest::static_type()])
                        .build(),
                ]
            })
        }
    }
    impl WidgetImpl for JoinDialog {}
    impl WindowImpl for JoinDialog {}
    impl AdwWindowImpl for JoinDialog {}
}

glib::wrapper! {
    /// A modal window asking for the room, the server and the password.
    pub struct JoinDialog(ObjectSubclass<imp::JoinDialog>)
        @extends adw::Window, gtk::Window, gtk::Widget,
        @implements gtk::Accessible, gtk::Buildable, gtk::ConstraintTarget, gtk::Native,
            gtk::Root, gtk::ShortcutManager;
}

impl JoinDialog {
    /// What the fields hold now, for the test hook: room, server, password choice ("default",
    /// "custom" or "none") and whether a password is typed in.
    pub(crate) fn fields(&self) -> (String, String, &'static str, bool) {
        let widgets = self.widgets();
        (
            widgets.room.text().to_string(),
            widgets.server.text().to_string(),
            PasswordKind::of(&widgets.password()).as_setting(),
            !widgets.password.text().is_empty(),
        )
    }

    fn widgets(&self) -> &Widgets {
        self.imp()
            .widgets
            .get()
            .expect("JoinDialog::new builds the widgets")
    }

    /// A VDO.Ninja link pasted into the room row fills in the room, the server and the
    /// password; one that names no room says why.
    fn room_text_changed(&self) {
        // A link typed by hand is a link only once the typing stops: read it then (a paste is
        // one edit, and is read as soon).
        let edit = self.imp().room_edits.get() + 1;
        self.imp().room_edits.set(edit);
        glib::timeout_add_local_once(
            std::time::Duration::from_millis(400),
            glib::clone!(
                #[weak(rename_to = dialog)]
                self,
                move || {
                    if dialog.imp().room_edits.get() == edit {
                        dialog.read_link();
                    }
                }
            ),
        );
    }

    fn read_link(&self) {
        let widgets = self.widgets();
        let text = widgets.room.text();
        if !crate::signaling::link::looks_like_link(&text) {
            return;
        }
        match crate::signaling::link::parse(&text) {
            Ok(link) => {
                if let Some(server) = &link.server {
                    widgets.server.set_text(server);
                }
                let password = link
                    .password
                    .as_deref()
                    .map(Password::parse)
                    .unwrap_or_default();
                if let Password::Custom(text) = &password {
                    widgets.password.set_text(text);
                }
                widgets
                    .mode
                    .set_selected(PasswordKind::of(&password).position());
                widgets.room.set_text(&link.room);
                widgets.room.set_position(-1);
            }
            Err(err) => widgets.show_problem(Some((
                Field::Room,
                gettext_f(
                    // Translators: {reason} explains what is wrong with a pasted link.
                    "This link cannot be used: {reason}",
                    &[("reason", &err.to_string())],
                ),
            ))),
        }
    }

    /// Validates the fields; closes and asks the window to join, or shows what to fix.
    fn join(&self) {
        // A link pasted a moment ago is read before anything is checked.
        self.read_link();
        let widgets = self.widgets();
        match validate(
            &widgets.room.text(),
            &widgets.server.text(),
            widgets.password(),
        ) {
            Ok(request) => {
                if let Password::Custom(password) = &request.password {
                    crate::ui::keyring::remember_room_password(
                        &request.server,
                        &request.room,
                        widgets.remember.is_active().then_some(password.as_str()),
                    );
                }
                self.close();
                self.emit_by_name::<()>("join-requested", &[&request]);
            }
            Err(problem) => {
                let field = problem.0;
                widgets.show_problem(Some(problem));
                match field {
                    Field::Room => widgets.room.grab_focus(),
                    Field::Server => widgets.server.grab_focus(),
                    Field::Password => widgets.password.grab_focus(),
                };
            }
        }
    }

    /// Fills in the remembered password of `room` on `server` once the keyring answers,
    /// unless the operator has typed one meanwhile.
    fn fill_remembered_password(&self, server: &str, room: &str) {
        let (server, room) = (server.to_owned(), room.to_owned());
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = dialog)]
            self,
            async move {
                let Some(password) = crate::ui::keyring::room_password(&server, &room).await else {
                    return;
                };
                let widgets = dialog.widgets();
                if widgets.password.text().is_empty() && widgets.room.text() == room {
                    widgets.password.set_text(&password);
                    widgets.remember.set_active(true);
                }
            }
        ));
    }

    /// The typed password and whether it is to be remembered, for the test hook.
    pub(crate) fn typed_password(&self) -> (String, bool) {
        let widgets = self.widgets();
        (
            widgets.password.text().to_string(),
            widgets.remember.is_active(),
        )
    }

    /// Chooses the recent room at `index` as its menu does, for the test hook.
    pub(crate) fn choose_recent(&self, index: u32) {
        let _ = WidgetExt::activate_action(self, "join.recent", Some(&index.to_variant()));
    }

    /// Types into the dialog as an operator would, for the test hook.
    pub(crate) fn type_in(&self, room: &str, server: &str, password: &str, remember: bool) {
        let widgets = self.widgets();
        widgets.room.set_text(room);
        widgets.server.set_text(server);
        widgets.mode.set_selected(PasswordKind::Custom.position());
        widgets.password.set_text(password);
        widgets.remember.set_active(remember);
    }

    /// Presses Join, for the test hook.
    pub(crate) fn press_join(&self) {
        self.join();
    }

    fn password_mode_changed(&self) {
        let widgets = self.widgets();
        let custom = widgets.custom_chosen();
        widgets.password.set_visible(custom);
        widgets.remember_row.set_visible(custom);
        if custom {
            widgets.password.grab_focus();
        }
        widgets.show_problem(None);
    }
}

impl JoinDialog {
    /// Join was pressed with a valid request (the dialog has closed already).
    pub(crate) fn connect_join_requested<F: Fn(&Self, &JoinRequest) + 'static>(
        &self,
        f: F,
    ) -> glib::SignalHandlerId {
        self.connect_closure(
            "join-requested",
            false,
            glib::closure_local!(move |dialog: &Self, request: &JoinRequest| f(dialog, request)),
        )
    }
}

/// Opens the join dialog over `parent`, empty or `filled` in with a request made before
/// (Edit… after an error); Join emits `join-requested` with the request.
pub(crate) fn present(
    parent: &impl IsA<gtk::Window>,
    settings: &gio::Settings,
    filled: Option<&JoinRequest>,
) -> JoinDialog {
    let settings = settings.clone();

    let room = adw::EntryRow::builder()
        .title(gettext("Room"))
        .activates_default(true)
        .build();
    let server = adw::EntryRow::builder()
        .title(gettext("Signaling Server"))
        .text(settings.string("server-url").as_str())
        .activates_default(true)
        .build();
    let modes = gtk::StringList::new(&[]);
    for label in password_choices() {
        modes.append(&label);
    }
    let saved_password = crate::ui::keyring::default_room_password(&settings);
    let saved_custom = matches!(saved_password, Password::Custom(_));
    let mode = adw::ComboRow::builder()
        .title(gettext("Password"))
        .model(&modes)
        .selected(PasswordKind::of(&saved_password).position())
        .build();
    let password = adw::PasswordEntryRow::builder()
        .title(gettext("Room Password"))
        .activates_default(true)
        .visible(saved_custom)
        .build();
    if let Password::Custom(text) = &saved_password {
        password.set_text(text);
    }
    let remember = gtk::Switch::builder().valign(gtk::Align::Center).build();
    let remember_row = adw::ActionRow::builder()
        .title(gettext("Remember Password"))
        .subtitle(
            crate::ui::keyring::unavailable_note()
                .unwrap_or_else(|| gettext("Kept in the keyring, for the next time")),
        )
        .activatable_widget(&remember)
        .visible(saved_custom)
        .build();
    remember_row.add_suffix(&remember);
    if let Some(request) = filled {
        room.set_text(&request.room);
        server.set_text(&request.server);
        let custom = match &request.password {
            Password::Custom(text) => Some(text.as_str()),
            Password::Default | Password::Disabled => None,
        };
        mode.set_selected(PasswordKind::of(&request.password).position());
        password.set_visible(custom.is_some());
        remember_row.set_visible(custom.is_some());
        password.set_text(custom.unwrap_or_default());
    }

    let group = adw::PreferencesGroup::builder()
        .description(gettext(
            "Type the room name, or paste the VDO.Ninja link: its room, password and server are filled in.",
        ))
        .build();
    group.add(&room);
    group.add(&server);
    group.add(&mode);
    group.add(&password);
    group.add(&remember_row);

    let problem = gtk::Label::builder()
        .wrap(true)
        .xalign(0.0)
        .visible(false)
        .css_classes(["error"])
        .build();

    let content = gtk::Box::builder()
        .orientation(gtk::Orientation::Vertical)
        .spacing(12)
        .margin_top(12)
        .margin_bottom(24)
        .margin_start(12)
        .margin_end(12)
        .build();
    content.append(&group);
    content.append(&problem);

    let cancel = gtk::Button::builder()
        .label(gettext("_Cancel"))
        .use_underline(true)
        .action_name("window.close")
        .tooltip_text(gettext("Close without joining"))
        .build();
    let join = gtk::Button::builder()
        .label(gettext("_Join"))
        .use_underline(true)
        .tooltip_text(gettext("Join the room"))
        .css_classes(["suggested-action"])
        .build();
    let header = adw::HeaderBar::builder()
        .show_start_title_buttons(false)
        .show_end_title_buttons(false)
        .title_widget(&adw::WindowTitle::new(&gettext("Join a Room"), ""))
        .build();
    header.pack_start(&cancel);
    header.pack_end(&join);

    let body = gtk::Box::new(gtk::Orientation::Vertical, 0);
    body.append(&header);
    body.append(
        &adw::Clamp::builder()
            .maximum_size(480)
            .child(&content)
            .build(),
    );

    let dialog: JoinDialog = glib::Object::builder()
        .property("title", gettext("Join a Room"))
        .property("modal", true)
        .property("transient-for", parent)
        .property("default-width", 480)
        .property("resizable", false)
        .property("content", &body)
        .property("default-widget", &join)
        .build();
    let escape = gtk::ShortcutController::new();
    escape.add_shortcut(gtk::Shortcut::new(
        gtk::ShortcutTrigger::parse_string("Escape"),
        Some(gtk::NamedAction::new("window.close")),
    ));
    dialog.add_controller(escape);

    let widgets = Widgets {
        room: room.clone(),
        server: server.clone(),
        mode: mode.clone(),
        password: password.clone(),
        remember_row,
        remember,
        problem,
    };
    if dialog.imp().widgets.set(widgets).is_err() {
        unreachable!("the widgets are set once, right after construction");
    }
    add_recent_rooms(&dialog, &settings);

    mode.connect_selected_notify(glib::clone!(
        #[weak]
        dialog,
        move |_| dialog.password_mode_changed()
    ));
    let clear_problem = glib::clone!(
        #[weak]
        dialog,
        move || dialog.widgets().show_problem(None)
    );
    room.connect_changed(glib::clone!(
        #[strong]
        clear_problem,
        #[weak]
        dialog,
        move |_| {
            clear_problem();
            dialog.room_text_changed();
        }
    ));
    server.connect_changed(glib::clone!(
        #[strong]
        clear_problem,
        move |_| clear_problem()
    ));
    password.connect_changed(move |_| clear_problem());
    join.connect_clicked(glib::clone!(
        #[weak]
        dialog,
        move |_| dialog.join()
    ));

    dialog.present();
    room.grab_focus();
    dialog
}

/// Offers the rooms joined recently in a menu at the end of the room row; choosing one fills
/// in its server and password choice too, and a custom password the operator asked to
/// remember.
fn add_recent_rooms(dialog: &JoinDialog, settings: &gio::Settings) {
    let rooms = crate::settings::recent_rooms(settings);
    if rooms.is_empty() {
        return;
    }
    let menu = gio::Menu::new();
    for (index, recent) in rooms.iter().enumerate() {
        let place = recent
            .server
            .trim_start_matches("wss://")
            .trim_start_matches("ws://");
        // Menu labels treat "_" as a mnemonic marker; double it to show it.
        let label = gettext_f(
            // Translators: a recent room in the Join dialog's list: the room's name and the server it is on.
            "{room} · {server}",
            &[("room", &recent.room), ("server", place)],
        )
        .replace('_', "__");
        let item = gio::MenuItem::new(Some(&label), None);
        item.set_action_and_target_value(Some("join.recent"), Some(&(index as u32).to_variant()));
        menu.append_item(&item);
    }
    let button = gtk::MenuButton::builder()
        .icon_name("document-open-recent-symbolic")
        .tooltip_text(gettext("Recent Rooms"))
        .valign(gtk::Align::Center)
        .menu_model(&menu)
        .css_classes(["flat"])
        .build();
    crate::ui::a11y::label(&button, &gettext("Recent Rooms"));
    dialog.widgets().room.add_suffix(&button);

    let recent = gio::SimpleAction::new("recent", Some(glib::VariantTy::UINT32));
    recent.connect_activate(glib::clone!(
        #[weak]
        dialog,
        move |_, target| {
            let Some(recent) = target
                .and_then(|t| t.get::<u32>())
                .and_then(|i| rooms.get(i as usize))
            else {
                return;
            };
            let widgets = dialog.widgets();
            widgets.room.set_text(&recent.room);
            if !recent.server.is_empty() {
                widgets.server.set_text(&recent.server);
            }
            let kind = PasswordKind::from_setting(&recent.password_kind);
            widgets.mode.set_selected(kind.position());
            widgets.password.set_text("");
            widgets.remember.set_active(false);
            if widgets.custom_chosen() {
                widgets.password.grab_focus();
                dialog.fill_remembered_password(&widgets.server.text(), &recent.room);
            } else {
                widgets.room.grab_focus();
            }
        }
    ));
    let group = gio::SimpleActionGroup::new();
    group.add_action(&recent);
    dialog.insert_action_group("join", Some(&group));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::join_request::password_from_text;

    #[test]
    fn a_valid_request_is_trimmed() {
        let request = validate(
            "  studio-a ",
            " wss://wss.vdo.ninja:443 ",
            PasswordKind::Default.password(""),
        )
        .unwrap();
        assert_eq!(request.room, "studio-a");
        assert_eq!(request.server, "wss://wss.vdo.ninja:443");
        assert_eq!(request.password, Password::Default);
    }

    #[test]
    fn problems_name_their_field() {
        let field = |room, server, choice, password| {
            validate(room, server, PasswordKind::password(choice, password))
                .unwrap_err()
                .0
        };
        assert_eq!(
            field(" ", "wss://x", PasswordKind::Default, ""),
            Field::Room
        );
        assert_eq!(
            field("r", "https://x", PasswordKind::Default, ""),
            Field::Server
        );
        assert_eq!(
            field("r", "wss://", PasswordKind::Default, ""),
            Field::Server
        );
        assert_eq!(
            field("r", "ws:///path", PasswordKind::Default, ""),
            Field::Server
        );
        assert_eq!(
            field("r", "ws://x", PasswordKind::Custom, ""),
            Field::Password
        );
    }

    #[test]
    fn password_modes_map_to_the_wire_values() {
        let password = |choice, text| {
            validate(
                "r",
                "ws://127.0.0.1:8443",
                PasswordKind::password(choice, text),
            )
            .unwrap()
            .password
        };
        assert_eq!(password(PasswordKind::None, "ignored"), Password::Disabled);
        assert_eq!(
            password(PasswordKind::Default, "ignored"),
            Password::Default
        );
        assert_eq!(
            password(PasswordKind::Custom, "secret"),
            Password::Custom("secret".into())
        );
        assert_eq!(password_from_text(""), Password::Default);
        assert_eq!(password_from_text("false"), Password::Disabled);
        assert_eq!(password_from_text("pw"), Password::Custom("pw".into()));
        for kind in [
            PasswordKind::Default,
            PasswordKind::Custom,
            PasswordKind::None,
        ] {
            assert_eq!(PasswordKind::of(&kind.password("pw")), kind);
            assert_eq!(PasswordKind::at(kind.position()), kind);
            assert_eq!(PasswordKind::from_setting(kind.as_setting()), kind);
        }
    }
}
