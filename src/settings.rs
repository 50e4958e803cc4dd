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
    if let Some(dir) = BUILD_SCHEMA_DIR {
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

/// Puts a room at the front of the recent-rooms list, keeping it short and free of repeats.
pub fn remember_room(settings: &gio::Settings, room: &str) {
    let room = room.trim();
    if room.is_empty() {
        return;
    }
    let mut rooms: Vec<String> = settings
        .strv("recent-rooms")
        .iter()
        .map(|r| r.to_string())
        .filter(|r| r != room)
        .collect();
    rooms.insert(0, room.to_owned());
    rooms.truncate(8);
    let refs: Vec<&str> = rooms.iter().map(String::as_str).collect();
    if let Err(err) = settings.set_strv("recent-rooms", refs.as_slice()) {
        tracing::warn!("could not remember room: {err}");
    }
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
            remember_room(&settings, &format!("room{i}"));
        }
        remember_room(&settings, "room5");
        remember_room(&settings, "   ");
        let rooms = settings.strv("recent-rooms");
        assert_eq!(rooms.len(), 8);
        assert_eq!(rooms[0].as_str(), "room5");
        assert_eq!(rooms.iter().filter(|r| r.as_str() == "room5").count(), 1);
    }
}
