//! The keyring scenarios (`secrets-write`, `secrets-read`): secrets typed into Preferences and
//! the Join dialog go to the keyring, and come back from it.

use std::time::Duration;

use adw::prelude::*;
use gtk::glib;

use super::{DIALOG_TIMEOUT, wait_for};
use crate::ui::window::RoomtapeWindow;

/// The secrets the `secrets-write` scenario types in, and `tests/keyring.rs` looks for.
const SECRET_DEFAULT_PASSWORD: &str = "default-pw-7f3a";
const SECRET_TURN_USER: &str = "tapeuser";
const SECRET_TURN_PASSWORD: &str = "turn-pw-91c2";
const SECRET_ROOM: &str = "keyring-room";
const SECRET_ROOM_SERVER: &str = "ws://127.0.0.1:9";
const SECRET_ROOM_PASSWORD: &str = "room-pw-5d04";

/// Every widget under `root`, depth first.
fn descendants(root: &gtk::Widget) -> Vec<gtk::Widget> {
    let mut out = Vec::new();
    let mut pending = vec![root.clone()];
    while let Some(widget) = pending.pop() {
        let mut child = widget.first_child();
        while let Some(c) = child {
            child = c.next_sibling();
            pending.push(c);
        }
        out.push(widget);
    }
    out
}

/// The preferences row of type `T` titled `title`.
fn row<T: IsA<adw::PreferencesRow> + IsA<gtk::Widget>>(
    root: &gtk::Widget,
    title: &str,
) -> Option<T> {
    descendants(root)
        .into_iter()
        .filter_map(|w| w.downcast::<T>().ok())
        .find(|row| row.title() == title)
}

/// Opens Preferences and waits for its window.
async fn open_preferences(window: &RoomtapeWindow) -> Option<adw::PreferencesWindow> {
    let before = gtk::Window::list_toplevels();
    let app = window.application()?;
    app.activate_action("preferences", None);
    wait_for(DIALOG_TIMEOUT, || {
        gtk::Window::list_toplevels()
            .into_iter()
            .filter(|w| !before.contains(w))
            .find_map(|w| w.downcast::<adw::PreferencesWindow>().ok())
    })
    .await
}

/// Opens the Join dialog and waits for it.
async fn open_join_dialog(window: &RoomtapeWindow) -> Option<crate::ui::join_dialog::JoinDialog> {
    let before = gtk::Window::list_toplevels();
    let _ = WidgetExt::activate_action(window, "win.join", None);
    wait_for(DIALOG_TIMEOUT, || {
        gtk::Window::list_toplevels()
            .into_iter()
            .filter(|w| !before.contains(w))
            .find_map(|w| w.downcast::<crate::ui::join_dialog::JoinDialog>().ok())
    })
    .await
}

/// Types the secrets in where an operator would: Preferences' password and TURN rows, then
/// the Join dialog with Remember Password on; waits until the keyring writes are done.
pub(super) async fn write_secrets(
    window: &RoomtapeWindow,
) -> serde_json::Map<String, serde_json::Value> {
    let mut report = serde_json::Map::new();
    crate::ui::keyring::ready(&window.settings()).await;
    let preferences = open_preferences(window).await;
    report.insert("preferences_opened".into(), preferences.is_some().into());
    if let Some(preferences) = &preferences {
        let root = preferences.upcast_ref::<gtk::Widget>();
        if let Some(mode) = row::<adw::ComboRow>(root, "Room Password") {
            mode.set_selected(crate::ui::join_request::PasswordKind::Custom.position());
        }
        let typed = [
            row::<adw::PasswordEntryRow>(root, "Password")
                .map(|r| r.set_text(SECRET_DEFAULT_PASSWORD))
                .is_some(),
            row::<adw::EntryRow>(root, "TURN Servers")
                .map(|r| r.set_text("turn://127.0.0.1:3478"))
                .is_some(),
            row::<adw::EntryRow>(root, "TURN User Name")
                .map(|r| r.set_text(SECRET_TURN_USER))
                .is_some(),
            row::<adw::PasswordEntryRow>(root, "TURN Password")
                .map(|r| r.set_text(SECRET_TURN_PASSWORD))
                .is_some(),
        ];
        report.insert("rows_found".into(), typed.iter().all(|t| *t).into());
        preferences.close();
    }
    if let Some(dialog) = open_join_dialog(window).await {
        dialog.type_in(SECRET_ROOM, SECRET_ROOM_SERVER, SECRET_ROOM_PASSWORD, true);
        dialog.press_join();
        report.insert("joined".into(), true.into());
    }
    // The writes wait for typing to pause, then go to the keyring.
    glib::timeout_future(Duration::from_millis(700)).await;
    let written = wait_for(DIALOG_TIMEOUT, || {
        (!crate::ui::keyring::writes_pending()).then_some(())
    })
    .await;
    report.insert("writes_done".into(), written.is_some().into());
    report.insert(
        "keyring_unavailable".into(),
        serde_json::json!(crate::ui::keyring::unavailable_reason()),
    );
    report.insert(
        "turn_urls".into(),
        serde_json::json!(crate::ui::keyring::turn_urls(&window.settings())),
    );
    report
}

/// What comes back from the keyring: Preferences' rows, the TURN URLs a join would use, and
/// the Join dialog's password once the recent room is chosen.
pub(super) async fn read_secrets(
    window: &RoomtapeWindow,
) -> serde_json::Map<String, serde_json::Value> {
    let mut report = serde_json::Map::new();
    let settings = window.settings();
    crate::ui::keyring::ready(&settings).await;
    report.insert(
        "password_kind".into(),
        settings.string("password-kind").as_str().into(),
    );
    if let Some(preferences) = open_preferences(window).await {
        let root = preferences.upcast_ref::<gtk::Widget>();
        let text = |row: Option<String>| serde_json::json!(row);
        report.insert(
            "preferences".into(),
            serde_json::json!({
                "password": text(row::<adw::PasswordEntryRow>(root, "Password").map(|r| r.text().into())),
                "turn_user": text(row::<adw::EntryRow>(root, "TURN User Name").map(|r| r.text().into())),
                "turn_password": text(row::<adw::PasswordEntryRow>(root, "TURN Password").map(|r| r.text().into())),
                "not_saved_note": row::<adw::ActionRow>(root, "Passwords Are Not Saved").is_some(),
            }),
        );
        preferences.close();
    }
    report.insert(
        "turn_urls".into(),
        serde_json::json!(crate::ui::keyring::turn_urls(&settings)),
    );
    if let Some(dialog) = open_join_dialog(window).await {
        dialog.choose_recent(0);
        let filled = wait_for(DIALOG_TIMEOUT, || {
            let (password, remember) = dialog.typed_password();
            (!password.is_empty()).then_some((password, remember))
        })
        .await;
        let (room, ..) = dialog.fields();
        report.insert(
            "join_dialog".into(),
            serde_json::json!({
                "room": room,
                "password": filled.as_ref().map(|(p, _)| p),
                "remember": filled.as_ref().map(|(_, r)| r),
            }),
        );
        dialog.close();
    }
    report.insert(
        "keyring_unavailable".into(),
        serde_json::json!(crate::ui::keyring::unavailable_reason()),
    );
    report
}
