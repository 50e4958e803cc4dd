//! The Recordings page: the library of saved sessions and their export.

use super::RoomtapeWindow;

/// Fills the window's Recordings page. Called once when the window is created.
pub fn attach(window: &RoomtapeWindow) {
    let _ = window;
}
