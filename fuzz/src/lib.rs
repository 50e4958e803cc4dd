//! The pure layers of Roomtape, compiled from the app's own sources for fuzzing.
#![allow(dead_code, unused_imports)]

/// The app's translations go through glib; untranslated text is all a fuzzer needs.
pub mod i18n {
    pub fn gettext(msgid: &str) -> String {
        msgid.to_owned()
    }
}
#[path = "../../src/protocol/mod.rs"]
pub mod protocol;
#[path = "../../src/room/mod.rs"]
pub mod room;
