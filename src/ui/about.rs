//! The About window, with the library versions a bug report needs.

use adw::prelude::*;

use crate::config::{APP_ID, VERSION};
use crate::i18n::gettext;

const REPOSITORY: &str = env!("CARGO_PKG_REPOSITORY");

/// GStreamer elements Roomtape cannot work without, with what each is for.
const REQUIRED_ELEMENTS: [(&str, &str); 6] = [
    ("webrtcbin", "WebRTC"),
    ("nicesrc", "ICE"),
    ("gtk4paintablesink", "live tiles"),
    ("matroskamux", "recording"),
    ("vp8dec", "VP8 previews"),
    ("opusdec", "Opus audio"),
];

/// Shows the About window over `parent`.
pub fn present(parent: &impl IsA<gtk::Window>) {
    let about = adw::AboutWindow::builder()
        .transient_for(parent)
        .modal(true)
        .application_name(gettext("Roomtape"))
        .application_icon(APP_ID)
        .version(VERSION)
        .comments(gettext(
            "Record every participant of a VDO.Ninja-compatible WebRTC room, each into its own file.",
        ))
        .developer_name(gettext("The Roomtape developers"))
        .license_type(gtk::License::Gpl30)
        .website(REPOSITORY)
        .issue_url(format!("{REPOSITORY}/issues"))
        .debug_info(debug_info())
        .debug_info_filename("roomtape-debug-info.txt")
        .build();
    about.present();
}

/// The versions of everything Roomtape runs on, and which required elements are missing.
pub fn debug_info() -> String {
    let libnice = gst::Registry::get()
        .find_plugin("nice")
        .map(|plugin| plugin.version().to_string())
        .unwrap_or_else(|| "not found (install gstreamer1.0-nice)".to_owned());
    let mut info = format!(
        "Roomtape {VERSION}\n\
         GTK {}.{}.{}\n\
         libadwaita {}.{}.{}\n\
         {}\n\
         libnice (GStreamer plugin) {libnice}\n",
        gtk::major_version(),
        gtk::minor_version(),
        gtk::micro_version(),
        adw::major_version(),
        adw::minor_version(),
        adw::micro_version(),
        gst::version_string(),
    );
    info.push_str("\nGStreamer elements:\n");
    for (element, purpose) in REQUIRED_ELEMENTS {
        let found = gst::ElementFactory::find(element).is_some();
        let state = if found { "ok" } else { "MISSING" };
        info.push_str(&format!("  {element} ({purpose}): {state}\n"));
    }
    info.push_str("\nEnvironment:\n");
    for var in [
        "XDG_SESSION_TYPE",
        "GDK_BACKEND",
        "GSK_RENDERER",
        "GTK_THEME",
        "LANG",
    ] {
        let value = std::env::var(var).unwrap_or_else(|_| "(unset)".to_owned());
        info.push_str(&format!("  {var}={value}\n"));
    }
    info
}
