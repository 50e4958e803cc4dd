//! Access to the app's GSettings, with no install step required.
//!
//! The schema compiled by `build.rs` is preferred so a checkout runs as is; an installed schema
//! is the fallback. Tests set `GSETTINGS_BACKEND=memory` so nothing leaks into the user's dconf.

use std::path::PathBuf;

use gio::prelude::*;

use crate::config::{APP_ID, BUILD_SCHEMA_DIR};

/// Why settings could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("the settings schema {0} is neither built nor installed")]
    SchemaMissing(&'static str),
}

/// Opens the app's settings.
pub fn open() -> Result<gio::Settings, SettingsError> {
    let schema = lookup_schema().ok_or(SettingsError::SchemaMissing(APP_ID))?;
    Ok(gio::Settings::new_full(
        &schema,
        None::<&gio::SettingsBackend>,
        None,
    ))
}

fn lookup_schema() -> Option<gio::SettingsSchema> {
    if let Some(dir) = BUILD_SCHEMA_DIR.filter(|_| crate::config::running_from_checkout()) {
        let parent = gio::SettingsSchemaSource::default();
        if let Ok(source) = gio::SettingsSchemaSource::from_directory(dir, parent.as_ref(), false)
            && let Some(schema) = source.lookup(APP_ID, true)
        {
            return Some(schema);
        }
    }
    gio::SettingsSchemaSource::default()?.lookup(APP_ID, true)
}

/// The folder sessions are recorded into: the configured one, or Videos/Roomtape.
pub fn recordings_dir(settings: &gio::Settings) -> PathBuf {
    let configured = settings.string("output-folder");
    if configured.trim().is_empty() {
        crate::library::naming::default_recordings_dir()
    } else {
        PathBuf::from(configured.as_str())
    }
}

/// A room joined recently, as the join dialog offers it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentRoom {
    pub room: String,
    pub server: String,
    /// "default", "custom" or "none": whether a password was set, never the password.
    pub password_kind: String,
}

/// How many rooms are remembered.
const RECENT_ROOMS: usize = 8;

/// The rooms joined recently, newest first.
pub fn recent_rooms(settings: &gio::Settings) -> Vec<RecentRoom> {
    settings
        .value("recent-rooms")
        .get::<Vec<(String, String, String)>>()
        .unwrap_or_default()
        .into_iter()
        .map(|(room, server, password_kind)| RecentRoom {
            room,
            server,
            password_kind,
        })
        .collect()
}

/// Puts a room at the front of the recent-rooms list, keeping it short and free of repeats
/// (the same room on another server is another entry).
pub fn remember_room(settings: &gio::Settings, room: &str, server: &str, password_kind: &str) {
    let room = room.trim();
    if room.is_empty() {
        return;
    }
    let mut rooms: Vec<(String, String, String)> = recent_rooms(settings)
        .into_iter()
        .filter(|r| !(r.room == room && r.server == server))
        .map(|r| (r.room, r.server, r.password_kind))
        .collect();
    rooms.insert(
        0,
        (room.to_owned(), server.to_owned(), password_kind.to_owned()),
    );
    rooms.truncate(RECENT_ROOMS);
    if let Err(err) = settings.set_value("recent-rooms", &rooms.to_variant()) {
        tracing::warn!("could not remember room: {err}");
    }
}

/// The floor of free space, in bytes, that recordings keep.
pub fn min_free_bytes(settings: &gio::Settings) -> u64 {
    u64::from(settings.uint("min-free-mb")) * 1_000_000
}

/// The `--split-every` of the app (`split-every-minutes`, 0 for none).
pub fn split_every(settings: &gio::Settings) -> Option<std::time::Duration> {
    match settings.uint("split-every-minutes") {
        0 => None,
        minutes => Some(std::time::Duration::from_secs(u64::from(minutes) * 60)),
    }
}

/// The file-name template of the app (`name-template`, empty for the default naming). The
/// Preferences only save valid templates; one set from outside that is not is logged and the
/// default naming is used, rather than refusing to record.
pub fn name_template(settings: &gio::Settings) -> crate::library::name_template::NameTemplate {
    let text = settings.string("name-template");
    crate::library::name_template::NameTemplate::parse_preference(&text).unwrap_or_else(|err| {
        tracing::warn!("name-template {text:?} not used: {err}");
        crate::library::name_template::NameTemplate::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory_settings() -> gio::Settings {
        // SAFETY: set before any GSettings object exists in this test process; tests that
        // touch settings all want the memory backend.
        unsafe { std::env::set_var("GSETTINGS_BACKEND", "memory") };
        open().expect("schema compiled by build.rs")
    }

    #[test]
    fn defaults_are_sensible() {
        let settings = memory_settings();
        assert_eq!(settings.string("server-url"), crate::config::DEFAULT_SERVER);
        assert!(!settings.boolean("relay-only"));
        assert_eq!(settings.string("preview-quality"), "medium");
        assert!(recordings_dir(&settings).ends_with("Roomtape"));
    }

    #[test]
    fn recent_rooms_are_deduplicated_and_bounded() {
        let settings = memory_settings();
        for i in 0..12 {
            remember_room(&settings, &format!("room{i}"), "wss://a.example", "default");
        }
        remember_room(&settings, "room5", "wss://a.example", "custom");
        remember_room(&settings, "room5", "wss://b.example", "none");
        remember_room(&settings, "   ", "wss://a.example", "none");
        let rooms = recent_rooms(&settings);
        assert_eq!(rooms.len(), 8);
        assert_eq!(
            rooms[0],
            RecentRoom {
                room: "room5".into(),
                server: "wss://b.example".into(),
                password_kind: "none".into()
            }
        );
        assert_eq!(rooms[1].server, "wss://a.example");
        assert_eq!(rooms[1].password_kind, "custom");
        assert_eq!(rooms.iter().filter(|r| r.room == "room5").count(), 2);
        assert_eq!(min_free_bytes(&settings), 500_000_000);
    }
}
