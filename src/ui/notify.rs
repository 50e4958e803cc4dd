//! Desktop notifications for what an operator must hear about while looking at another window.
//! They go through `gio::Notification`, so GNOME Shell, any freedesktop notification server
//! and, later, the portal under Flatpak all show them.

use adw::prelude::*;
use gtk::gio;

use crate::i18n::gettext;

/// A button on a notification: its label and an `app.` action with a string target.
pub struct Button {
    pub label: String,
    pub action: &'static str,
    pub target: String,
}

/// Sends a notification, unless `window` has the focus (its toasts say it already). `id`
/// replaces an earlier notification of the same kind.
pub fn send(window: &impl IsA<gtk::Window>, id: &str, title: &str, body: &str, buttons: &[Button]) {
    let window = window.as_ref();
    if window.is_active() {
        return;
    }
    let Some(app) = window.application() else {
        return;
    };
    let notification = gio::Notification::new(title);
    notification.set_body(Some(body));
    for button in buttons {
        notification.add_button_with_target_value(
            &button.label,
            button.action,
            Some(&button.target.to_variant()),
        );
    }
    app.send_notification(Some(id), &notification);
}

/// What a finished recording offers: open its folder, or show it on the Recordings page.
pub fn recording_buttons(dir: &str) -> [Button; 2] {
    [
        Button {
            label: gettext("Open Folder"),
            action: "app.open-folder",
            target: dir.to_owned(),
        },
        Button {
            label: gettext("Show in Recordings"),
            action: "app.show-recording",
            target: dir.to_owned(),
        },
    ]
}
