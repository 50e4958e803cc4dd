//! The Recordings page on a folder of the test's (`recordings-dir`), and an export from its
//! dialog (`recordings-export`).

use std::cell::Cell;
use std::path::PathBuf;

use adw::prelude::*;
use gtk::{gio, glib};

use super::report;
use crate::ui::window::RoomtapeWindow;

/// Shows the Recordings page listing `dir` instead of the configured folder, newest session
/// expanded, and reports what it lists after each scan; with `export`, the Export dialog then
/// opens for the newest session and runs that preset, reporting its progress and outcome.
pub(super) fn show_library(window: &RoomtapeWindow, dir: PathBuf, export: Option<String>) {
    let page = window.recordings_page();
    // The folder is the hook's from now on, whatever the setting says.
    gio::Settings::unbind(&page, "folder");
    page.expand_newest();
    let first_scan = Cell::new(true);
    page.connect_listed(move |page| {
        let sessions = page.sessions();
        if first_scan.replace(false)
            && let (Some(preset), Some(summary)) = (&export, sessions.first())
        {
            let parent = page.root().and_downcast::<gtk::Window>();
            let dialog = crate::ui::recordings::ExportDialog::new(parent.as_ref(), summary);
            dialog.connect_progress(|_, fraction| {
                report(format_args!("export-dialog progress={fraction:.3}"));
            });
            dialog.connect_done(|_, files| {
                report(format_args!("export-dialog done files={files}"));
            });
            dialog.connect_failed(|_, err| {
                report(format_args!("export-dialog failed: {err}"));
            });
            dialog.present();
            if !dialog.start_preset(preset) {
                report(format_args!("export-dialog unavailable preset={preset}"));
            }
        }
        let segments: usize = sessions
            .iter()
            .flat_map(|s| &s.manifest.participants)
            .map(|p| p.segments.len())
            .sum();
        let live = sessions
            .iter()
            .filter(|s| crate::ui::recordings::is_live(s))
            .count();
        let recovered = sessions.iter().filter(|s| s.recovered).count() - live;
        report(format_args!(
            "recordings-page sessions={} segments={segments} recovered={recovered} live={live}",
            sessions.len()
        ));
    });
    page.set_folder(dir);
    // After the window has set up its own pages.
    glib::idle_add_local_once(glib::clone!(
        #[weak]
        window,
        move || {
            let _ = WidgetExt::activate_action(&window, "win.show-recordings", None);
        }
    ));
}
