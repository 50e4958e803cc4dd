//! Build-time constants. Plain `cargo build` must give a working app, so every value has a
//! default here instead of coming from a generated file.

/// The application id, also the GSettings schema id and the icon name.
pub const APP_ID: &str = "io.github.roomtape.Roomtape";
/// The gettext domain of every user-visible string.
pub const GETTEXT_PACKAGE: &str = "roomtape";
/// Version from Cargo.toml.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Where compiled translations live when installed; overridable at build time.
pub const LOCALEDIR: &str = match option_env!("ROOMTAPE_LOCALEDIR") {
    Some(dir) => dir,
    None => "/usr/share/locale",
};
/// The folder `build.rs` compiled the GSettings schema into, so the app runs uninstalled.
pub const BUILD_SCHEMA_DIR: Option<&str> = option_env!("ROOMTAPE_BUILD_SCHEMA_DIR");
/// The folder `build.rs` compiled the translations into, for the same reason.
pub const BUILD_LOCALE_DIR: Option<&str> = option_env!("ROOMTAPE_BUILD_LOCALE_DIR");
/// The source tree's data folder (icons), used when running from a checkout.
pub const SOURCE_DATA_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data");

/// Whether this binary runs from the checkout it was built in (`cargo run`, the tests): then
/// the schema, translations and icons come from the build and the source tree. An installed
/// copy uses only what was installed, even while the checkout still exists.
pub fn running_from_checkout() -> bool {
    let checkout = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.canonicalize().ok())
        .zip(checkout.canonicalize().ok())
        .is_some_and(|(exe, checkout)| exe.starts_with(checkout))
}
/// The public VDO.Ninja signaling server, the default when nothing else is configured.
pub const DEFAULT_SERVER: &str = "wss://wss.vdo.ninja:443";
