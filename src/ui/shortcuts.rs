//! The Keyboard Shortcuts window.

use gtk::prelude::*;

/// Keyboard shortcuts, set on the application; the shortcuts window lists each of them.
pub(crate) const ACCELS: &[(&str, &[&str])] = &[
    ("app.preferences", &["<Control>comma"]),
    ("app.shortcuts", &["<Control>question"]),
    ("app.quit", &["<Control>q"]),
    // GtkWindow's own action: it asks before closing a window that is recording.
    ("window.close", &["<Control>w"]),
    ("win.join", &["<Control>j"]),
    ("win.record", &["<Control>r"]),
    ("win.toggle-panel", &["F9"]),
    ("win.show-live", &["<Alt>1"]),
    ("win.show-recordings", &["<Alt>2"]),
];

/// Every shortcut the app sets up; [`ACCELS`] must match it (a test checks).
const SHORTCUTS_UI: &str = include_str!("shortcuts.ui");

/// Shows the Keyboard Shortcuts window over `parent`.
pub fn present(parent: &impl IsA<gtk::Window>) {
    let builder = gtk::Builder::from_string(SHORTCUTS_UI);
    let Some(window) = builder.object::<gtk::ShortcutsWindow>("shortcuts") else {
        tracing::error!("the shortcuts window description has no window");
        return;
    };
    window.set_transient_for(Some(parent));
    window.present();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_accelerator_is_listed() {
        for (action, accels) in ACCELS {
            for accel in *accels {
                let escaped = accel.replace('<', "&lt;").replace('>', "&gt;");
                let property = format!(r#"<property name="accelerator">{escaped}</property>"#);
                assert!(
                    SHORTCUTS_UI.contains(&property),
                    "{action} ({accel}) is missing from the shortcuts window"
                );
            }
        }
    }
}
