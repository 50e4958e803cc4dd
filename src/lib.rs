//! Roomtape: record every participant of a VDO.Ninja-compatible WebRTC room.
//!
//! Layers, imports pointing downward only (see `docs/architecture.md`): the two front-ends,
//! `ui` and `cli`, which never import each other → `automation` → `media` → `library` and
//! `signaling` → `room` → `protocol`. The last two are the `roomtape-core` crate (`core/`),
//! which cannot reach GLib, GTK, GStreamer or libsoup.

pub mod automation;
// A command prints its result on stdout.
#[allow(clippy::print_stdout, clippy::disallowed_methods)]
pub mod cli;
pub mod command_line;
pub mod config;
pub mod explain;
pub mod glib_log;
pub mod i18n;
pub mod library;
pub mod limits;
pub mod media;
pub mod secrets;
pub mod settings;
pub mod signaling;
pub mod ui;

/// The pure layers live in `roomtape-core`; these names keep `crate::room::…` paths working.
pub use roomtape_core::{protocol, room};

/// Logs go to stderr; `RUST_LOG` filters them, GLib's own messages included (target
/// `roomtape::glib`); `G_MESSAGES_DEBUG=all` turns on debug output.
/// `verbosity` 0 shows errors only, 1 adds what happens (info), 2 and more debug output.
pub fn init_logging(verbosity: u8) {
    use tracing_subscriber::EnvFilter;
    let glib_debug = std::env::var("G_MESSAGES_DEBUG").unwrap_or_default();
    let level = match verbosity {
        _ if glib_debug == "all" => "debug",
        0 => "error",
        1 => "info",
        _ => "debug",
    };
    // Domains G_MESSAGES_DEBUG names are asked for: their debug output passes the filter.
    let glib_level = if glib_debug.trim().is_empty() {
        level
    } else {
        "debug"
    };
    let default = format!("roomtape={level},roomtape::glib={glib_level}");
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
