//! Roomtape: record every participant of a VDO.Ninja-compatible WebRTC room.
//!
//! Layers, imports pointing downward only (see `docs/architecture.md`):
//! `ui` → `cli` → `library` → `media` → `signaling` → `room` → `protocol`.

pub mod cli;
pub mod config;
pub mod i18n;
pub mod library;
pub mod limits;
pub mod media;
pub mod protocol;
pub mod room;
pub mod settings;
pub mod signaling;
pub mod ui;

/// Logs go to stderr; `RUST_LOG` filters them, `G_MESSAGES_DEBUG=all` turns on debug output.
/// `verbosity` 0 shows errors only, 1 adds what happens (info), 2 and more debug output.
pub fn init_logging(verbosity: u8) {
    use tracing_subscriber::EnvFilter;
    let debug = std::env::var("G_MESSAGES_DEBUG").is_ok_and(|v| v == "all");
    let default = match verbosity {
        _ if debug => "roomtape=debug",
        0 => "roomtape=error",
        1 => "roomtape=info",
        _ => "roomtape=debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
