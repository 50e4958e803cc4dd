//! Roomtape's pure layers: what the VDO.Ninja wire protocol says (`protocol`) and what a room
//! does with it (`room`), as data in and commands out. Nothing here touches GLib, GTK,
//! GStreamer or libsoup — the compiler checks it, since this crate cannot name them — so it is
//! tested and fuzzed without a display or a media framework. Words for people are the
//! front-ends' business: the room says what happened, as data.

pub mod ids;
pub mod protocol;
pub mod room;
