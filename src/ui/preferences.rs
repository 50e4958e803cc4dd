//! The Preferences window: every row is bound to a GSettings key, so changes apply at once.

use std::cell::RefCell;
use std::rc::Rc;

use adw::prelude::*;
use gtk::{gio, glib};

use crate::i18n::gettext;

/// The `preview-quality` nicks, in the order of the combo row.
const PREVIEW_QUALITIES: [&str; 4] = ["off", "low", "medium", "high"];

/// Builds and shows the Preferences window over `parent`.
pub fn present(parent: &impl IsA<gtk::Window>, settings: &gio::Settings) {
    let window = adw::PreferencesWindow::builder()
        .transient_for(parent)
        .modal(true)
        .search_enabled(false)
        .default_width(640)
        .default_height(640)
        .build();
    window.add(&connection_page(settings));
    window.add(&recording_page(&window, settings));
    window.present();
}

fn connection_page(settings: &gio::Settings) -> adw::PreferencesPage {
    let page = adw::PreferencesPage::builder()
        .title(gettext("Connection"))
        .icon_name("network-server-symbolic")
        .build();

    let signaling = adw::PreferencesGroup::builder()
        .title(gettext("Signaling"))
        .description(gettext(
            "The defaults of the join dialog. An empty salt is derived from the server's host name.",
        ))
        .build();
    let server = adw::EntryRow::builder()
        .title(gettext("Server (ws:// or wss://)"))
        .build();
    settings.bind("server-url", &server, "text").build();
    let (password_mode, password) = password_rows(settings);
    let salt = adw::EntryRow::builder().title(gettext("Hash Salt")).build();
    settings.bind("salt", &salt, "text").build();
    signaling.add(&server);
    signaling.add(&password_mode);
    signaling.add(&password);
    signaling.add(&salt);
    if let Some(note) = crate::ui::keyring::unavailable_note() {
        let row = adw::ActionRow::builder()
            .title(gettext("Passwords Are Not Saved"))
            .subtitle(note)
            .build();
        row.add_prefix(&gtk::Image::from_icon_name("dialog-warning-symbolic"));
        signaling.add(&row);
    }
    page.add(&signaling);

    let ice = adw::PreferencesGroup::builder()
        .title(gettext("Network Traversal"))
        .description(gettext(
            "Separate several servers with commas. STUN as stun://host:port; TURN as turn://host:port or turns://host:port, with its user name and password below.",
        ))
        .build();
    let stun = adw::EntryRow::builder()
        .title(gettext("STUN Servers"))
        .build();
    bind_string_list(settings, "stun-servers", &stun);
    let turn = adw::EntryRow::builder()
        .title(gettext("TURN Servers"))
        .build();
    bind_string_list(settings, "turn-servers", &turn);
    let relay_only = switch_row(
        settings,
        "relay-only",
        &gettext("Relay Only"),
        &gettext("Connect through the TURN servers only, never directly"),
    );
    let (turn_user, turn_password) = turn_credential_rows();
    ice.add(&stun);
    ice.add(&turn);
    ice.add(&turn_user);
    ice.add(&turn_password);
    ice.add(&relay_only);
    page.add(&ice);
    page
}

fn recording_page(
    window: &adw::PreferencesWindow,
    settings: &gio::Settings,
) -> adw::PreferencesPage {
    let page = adw::PreferencesPage::builder()
        .title(gettext("Recording"))
        .icon_name("media-record-symbolic")
        .build();

    let files = adw::PreferencesGroup::builder()
        .title(gettext("Files"))
        .build();
    files.add(&output_folder_row(window, settings));
    files.add(&switch_row(
        settings,
        "auto-record",
        &gettext("Record on Join"),
        &gettext("Start recording as soon as the room is joined"),
    ));
    files.add(&min_free_row(settings));
    files.add(&split_every_row(settings));
    page.add(&files);
    page.add(&name_template_group(settings));

    let automation = adw::PreferencesGroup::builder()
        .title(gettext("Automation"))
        .description(gettext(
            "Each event (joined, left, file finished, recording finished, disk low…) is posted as JSON to these http:// or https:// URLs. Separate several with commas. Used from the next room joined.",
        ))
        .build();
    let webhooks = adw::EntryRow::builder().title(gettext("Webhooks")).build();
    bind_string_list(settings, "webhooks", &webhooks);
    automation.add(&webhooks);
    page.add(&automation);

    let what = adw::PreferencesGroup::builder()
        .title(gettext("What to Record"))
        .description(gettext("Used from the next room joined."))
        .build();
    what.add(&choice_row(
        settings,
        "record-media",
        &gettext("Tracks"),
        &[
            ("both", gettext("Audio and Video")),
            ("video", gettext("Video Only")),
            ("audio", gettext("Audio Only")),
        ],
    ));
    what.add(&choice_row(
        settings,
        "prefer-codec",
        &gettext("Preferred Video Codec"),
        &[
            ("", gettext("Any")),
            ("vp8", "VP8".to_owned()),
            ("vp9", "VP9".to_owned()),
            ("h264", "H.264".to_owned()),
            ("av1", "AV1".to_owned()),
        ],
    ));
    let streams = adw::EntryRow::builder()
        .title(gettext(
            "Only These Streams (ids, comma separated; empty for everyone)",
        ))
        .build();
    let ids: Vec<String> = settings
        .strv("stream-filter")
        .iter()
        .map(|s| s.to_string())
        .collect();
    streams.set_text(&ids.join(", "));
    streams.connect_changed(glib::clone!(
        #[strong]
        settings,
        move |row| {
            let ids: Vec<String> = row
                .text()
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect();
            let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
            if let Err(err) = settings.set_strv("stream-filter", refs.as_slice()) {
                tracing::warn!("could not save the stream filter: {err}");
            }
        }
    ));
    what.add(&streams);
    page.add(&what);

    let previews = adw::PreferencesGroup::builder()
        .title(gettext("Live Previews"))
        .build();
    let qualities = gtk::StringList::new(&[]);
    for label in [
        gettext("Off"),
        gettext("Low"),
        gettext("Medium"),
        gettext("High"),
    ] {
        qualities.append(&label);
    }
    let quality = adw::ComboRow::builder()
        .title(gettext("Preview Quality"))
        .subtitle(gettext(
            "How large live tiles are decoded; recordings are never affected",
        ))
        .model(&qualities)
        .build();
    settings
        .bind("preview-quality", &quality, "selected")
        .mapping(|variant, _| {
            let nick = variant.str()?;
            let index = PREVIEW_QUALITIES.iter().position(|q| *q == nick)?;
            Some((index as u32).to_value())
        })
        .set_mapping(|value, _| {
            let index = value.get::<u32>().ok()?;
            PREVIEW_QUALITIES
                .get(index as usize)
                .map(|nick| nick.to_variant())
        })
        .build();
    previews.add(&quality);
    page.add(&previews);
    page
}

/// The default room password as the join dialog asks for it: Default, Custom (then typed)
/// or None. The choice goes to the `password-kind` key, a custom password to the keyring.
fn password_rows(settings: &gio::Settings) -> (adw::ComboRow, adw::PasswordEntryRow) {
    use crate::protocol::crypto::Password;
    use crate::ui::join_request::{PasswordKind, password_choices};
    let labels = gtk::StringList::new(&[]);
    for label in password_choices() {
        labels.append(&label);
    }
    let saved = crate::ui::keyring::default_room_password(settings);
    // The kind chosen, even when the custom password itself is not known (yet).
    let saved_kind = PasswordKind::from_setting(&settings.string("password-kind"));
    let mode = adw::ComboRow::builder()
        .title(gettext("Room Password"))
        .model(&labels)
        .selected(saved_kind.position())
        .build();
    let password = adw::PasswordEntryRow::builder()
        .title(gettext("Password"))
        .visible(saved_kind == PasswordKind::Custom)
        .build();
    if let Password::Custom(text) = &saved {
        password.set_text(text);
    }
    let store = glib::clone!(
        #[strong]
        settings,
        #[weak]
        mode,
        #[weak]
        password,
        move || {
            let custom = PasswordKind::at(mode.selected()) == PasswordKind::Custom;
            password.set_visible(custom);
            // An empty custom password is not saved: it would mean the default.
            if custom && password.text().is_empty() {
                return;
            }
            let chosen = PasswordKind::at(mode.selected()).password(&password.text());
            crate::ui::keyring::set_default_room_password(&settings, &chosen);
        }
    );
    let on_mode = store.clone();
    mode.connect_selected_notify(move |_| on_mode());
    password.connect_changed(move |_| store());
    (mode, password)
}

/// The user name and password of the TURN servers, kept in the keyring.
fn turn_credential_rows() -> (adw::EntryRow, adw::PasswordEntryRow) {
    let (user, secret) = crate::ui::keyring::turn_credentials()
        .and_then(|c| c.split_once(':').map(|(u, p)| (u.to_owned(), p.to_owned())))
        .unwrap_or_default();
    let user_row = adw::EntryRow::builder()
        .title(gettext("TURN User Name"))
        .text(user.as_str())
        .build();
    let password_row = adw::PasswordEntryRow::builder()
        .title(gettext("TURN Password"))
        .text(secret.as_str())
        .build();
    let store = glib::clone!(
        #[weak]
        user_row,
        #[weak]
        password_row,
        move || {
            let user = user_row.text();
            let credentials = if user.is_empty() {
                String::new()
            } else {
                format!("{user}:{}", password_row.text())
            };
            crate::ui::keyring::set_turn_credentials(&credentials);
        }
    );
    let store = std::rc::Rc::new(store);
    let store_too = store.clone();
    user_row.connect_changed(move |_| store());
    password_row.connect_changed(move |_| store_too());
    (user_row, password_row)
}

/// A combo row for a string key with a fixed set of values: (value, label).
fn choice_row(
    settings: &gio::Settings,
    key: &'static str,
    title: &str,
    choices: &[(&'static str, String)],
) -> adw::ComboRow {
    let labels = gtk::StringList::new(&[]);
    for (_, label) in choices {
        labels.append(label);
    }
    let row = adw::ComboRow::builder().title(title).model(&labels).build();
    let values: Vec<&'static str> = choices.iter().map(|(value, _)| *value).collect();
    let to_index = values.clone();
    settings
        .bind(key, &row, "selected")
        .mapping(move |variant, _| {
            let value = variant.str()?;
            let index = to_index.iter().position(|v| *v == value).unwrap_or(0);
            Some((index as u32).to_value())
        })
        .set_mapping(move |value, _| {
            let index = value.get::<u32>().ok()?;
            values.get(index as usize).map(|v| v.to_variant())
        })
        .build();
    row
}

/// The free space a recording keeps, in megabytes, from a short list of choices.
const MIN_FREE_CHOICES_MB: [u32; 6] = [100, 500, 1_000, 2_000, 5_000, 10_000];

fn min_free_row(settings: &gio::Settings) -> adw::ComboRow {
    let choices = gtk::StringList::new(&[]);
    for mb in MIN_FREE_CHOICES_MB {
        choices.append(&crate::library::disk_space::format_size(
            u64::from(mb) * 1_000_000,
        ));
    }
    let row = adw::ComboRow::builder()
        .title(gettext("Free Space to Keep"))
        .subtitle(gettext(
            "No recording starts below it, and a running one stops, every file finished, before reaching it",
        ))
        .model(&choices)
        .build();
    settings
        .bind("min-free-mb", &row, "selected")
        .mapping(|variant, _| {
            let mb = variant.get::<u32>()?;
            // A value set elsewhere shows as the nearest choice at or above it.
            let index = MIN_FREE_CHOICES_MB
                .iter()
                .position(|choice| *choice >= mb)
                .unwrap_or(MIN_FREE_CHOICES_MB.len() - 1);
            Some((index as u32).to_value())
        })
        .set_mapping(|value, _| {
            let index = value.get::<u32>().ok()?;
            MIN_FREE_CHOICES_MB
                .get(index as usize)
                .map(|mb| mb.to_variant())
        })
        .build();
    row
}

/// How often a recording goes on in a new file, in minutes; 0 keeps one file per stretch.
const SPLIT_CHOICES_MIN: [u32; 7] = [0, 5, 10, 15, 30, 60, 120];

fn split_every_row(settings: &gio::Settings) -> adw::ComboRow {
    let choices = gtk::StringList::new(&[]);
    for minutes in SPLIT_CHOICES_MIN {
        choices.append(&match minutes {
            0 => gettext("Off"),
            m if m % 60 == 0 => crate::i18n::gettext_f(
                // Translators: a choice of Split Into Parts Every: a number of hours.
                "{hours} h",
                &[("hours", &(m / 60).to_string())],
            ),
            m => crate::i18n::gettext_f(
                // Translators: a choice of Split Into Parts Every: a number of minutes.
                "{minutes} min",
                &[("minutes", &m.to_string())],
            ),
        });
    }
    let row = adw::ComboRow::builder()
        .title(gettext("Split Into Parts Every"))
        .subtitle(gettext(
            "Everyone's recording goes on in a new file at the next key frame, with no gap",
        ))
        .model(&choices)
        .build();
    settings
        .bind("split-every-minutes", &row, "selected")
        .mapping(|variant, _| {
            let minutes = variant.get::<u32>()?;
            // A value set elsewhere shows as the nearest choice at or above it.
            let index = SPLIT_CHOICES_MIN
                .iter()
                .position(|choice| *choice >= minutes)
                .unwrap_or(SPLIT_CHOICES_MIN.len() - 1);
            Some((index as u32).to_value())
        })
        .set_mapping(|value, _| {
            let index = value.get::<u32>().ok()?;
            SPLIT_CHOICES_MIN
                .get(index as usize)
                .map(|minutes| minutes.to_variant())
        })
        .build();
    row
}

/// The file-name template: saved only while what is typed is a valid template (or empty, the
/// default naming), so recording never starts with one that cannot be used; otherwise the
/// reason shows under the row.
fn name_template_group(settings: &gio::Settings) -> adw::PreferencesGroup {
    let group = adw::PreferencesGroup::builder()
        .title(gettext("File Names"))
        .description(gettext(
            // Translators: {room}, {date}, {time}, {label}, {stream} and {part} are typed as they are: do not translate them.
            "Plain text with {room}, {date}, {time}, {label} (the participant's name), {stream} and {part} (1, 2, … when split into parts). Each name is cleaned of / and .. and control characters and shortened, so files stay in the session folder. Empty: {label}.",
        ))
        .build();
    let row = adw::EntryRow::builder()
        .title(gettext("Name Template"))
        .text(settings.string("name-template"))
        .build();
    let error = gtk::Label::builder()
        .xalign(0.0)
        .wrap(true)
        .visible(false)
        .margin_top(6)
        .css_classes(["error", "caption"])
        .build();
    row.connect_changed({
        let settings = settings.clone();
        let error = error.clone();
        move |row| {
            let text = row.text();
            match crate::library::name_template::NameTemplate::parse_preference(&text) {
                Ok(_) => {
                    row.remove_css_class("error");
                    error.set_visible(false);
                    if settings.string("name-template") != text
                        && let Err(err) = settings.set_string("name-template", &text)
                    {
                        tracing::warn!("cannot save the name template: {err}");
                    }
                }
                Err(err) => {
                    row.add_css_class("error");
                    error.set_label(&name_template_error(&err));
                    error.set_visible(true);
                }
            }
        }
    });
    group.add(&row);
    group.add(&error);
    group
}

/// Why a typed template is not used, in the user's language.
fn name_template_error(err: &crate::library::name_template::NameTemplateError) -> String {
    use crate::library::name_template::NameTemplateError;
    match err {
        NameTemplateError::Empty => gettext("The template is empty."),
        NameTemplateError::UnknownPlaceholder(name) => crate::i18n::gettext_f(
            // Translators: {placeholder} is what was typed between braces; {room}, {date}, {time}, {label}, {stream} and {part} are typed as they are: do not translate them.
            "Unknown placeholder {placeholder}: use {room}, {date}, {time}, {label}, {stream} or {part}. Not saved.",
            &[("placeholder", &format!("{{{name}}}"))],
        ),
        NameTemplateError::UnbalancedBrace(at) => crate::i18n::gettext_f(
            // Translators: {position} is a number, counted in characters from 1; {label} is typed as it is: do not translate it.
            "Unbalanced brace at character {position}: placeholders are written like {label}. Not saved.",
            &[("position", &at.to_string())],
        ),
    }
}

/// An action row with a switch bound to a boolean key.
fn switch_row(settings: &gio::Settings, key: &str, title: &str, subtitle: &str) -> adw::ActionRow {
    let switch = gtk::Switch::builder().valign(gtk::Align::Center).build();
    settings.bind(key, &switch, "active").build();
    let row = adw::ActionRow::builder()
        .title(title)
        .subtitle(subtitle)
        .activatable_widget(&switch)
        .build();
    row.add_suffix(&switch);
    row
}

/// Binds a string-array key to an entry row as a comma-separated list.
fn bind_string_list(settings: &gio::Settings, key: &str, row: &adw::EntryRow) {
    settings
        .bind(key, row, "text")
        .mapping(|variant, _| {
            let items = variant.get::<Vec<String>>()?;
            Some(join_list(&items).to_value())
        })
        .set_mapping(|value, _| {
            let text = value.get::<String>().ok()?;
            Some(split_list(&text).to_variant())
        })
        .build();
}

/// Shows a list the way the entry row edits it.
pub(crate) fn join_list(items: &[String]) -> String {
    items.join(", ")
}

/// Reads a comma-separated list: blanks around items and empty items are dropped.
pub(crate) fn split_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The recordings folder: where it is now, a button to choose another, one to reset it.
fn output_folder_row(window: &adw::PreferencesWindow, settings: &gio::Settings) -> adw::ActionRow {
    let row = adw::ActionRow::builder()
        .title(gettext("Recordings Folder"))
        .subtitle_lines(2)
        .build();
    let reset = gtk::Button::builder()
        .icon_name("edit-undo-symbolic")
        .tooltip_text(gettext("Use the Default Folder"))
        .valign(gtk::Align::Center)
        .css_classes(["flat"])
        .build();
    let choose = gtk::Button::builder()
        .icon_name("folder-open-symbolic")
        .tooltip_text(gettext("Choose a Folder"))
        .valign(gtk::Align::Center)
        .css_classes(["flat"])
        .build();
    crate::ui::a11y::label(&reset, &gettext("Use the Default Folder"));
    crate::ui::a11y::label(&choose, &gettext("Choose a Folder"));
    row.add_suffix(&reset);
    row.add_suffix(&choose);
    row.set_activatable_widget(Some(&choose));

    let show = glib::clone!(
        #[weak]
        row,
        #[weak]
        reset,
        move |settings: &gio::Settings| {
            let dir = crate::settings::recordings_dir(settings);
            row.set_subtitle(&glib::markup_escape_text(&dir.display().to_string()));
            reset.set_visible(!settings.string("output-folder").is_empty());
        }
    );
    show(settings);
    settings.connect_changed(Some("output-folder"), move |settings, _| show(settings));

    reset.connect_clicked(glib::clone!(
        #[strong]
        settings,
        move |_| settings.reset("output-folder")
    ));

    // A native dialog is not kept alive by GTK: hold it until it answers.
    let chooser: Rc<RefCell<Option<gtk::FileChooserNative>>> = Rc::default();
    choose.connect_clicked(glib::clone!(
        #[weak]
        window,
        #[strong]
        settings,
        move |_| {
            let native = gtk::FileChooserNative::new(
                Some(&gettext("Choose the Recordings Folder")),
                Some(&window),
                gtk::FileChooserAction::SelectFolder,
                Some(&gettext("_Select")),
                Some(&gettext("_Cancel")),
            );
            native.set_modal(true);
            let current = gio::File::for_path(crate::settings::recordings_dir(&settings));
            if current.query_exists(None::<&gio::Cancellable>)
                && let Err(err) = native.set_current_folder(Some(&current))
            {
                tracing::debug!("could not open the chooser in the current folder: {err}");
            }
            native.connect_response(glib::clone!(
                #[strong]
                settings,
                #[strong]
                chooser,
                move |native, response| {
                    if response == gtk::ResponseType::Accept
                        && let Some(path) = native.file().and_then(|f| f.path())
                        && let Err(err) =
                            settings.set_string("output-folder", &path.to_string_lossy())
                    {
                        tracing::warn!("could not save the recordings folder: {err}");
                    }
                    chooser.replace(None);
                }
            ));
            native.show();
            chooser.replace(Some(native));
        }
    ));
    row
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_round_trip_through_the_entry_text() {
        assert_eq!(
            split_list(" stun://a:1 ,, stun://b:2,"),
            ["stun://a:1", "stun://b:2"]
        );
        assert!(split_list("  ").is_empty());
        let items = vec!["turn://u:p@h:3478".to_owned(), "turns://h:5349".to_owned()];
        assert_eq!(split_list(&join_list(&items)), items);
    }
}
