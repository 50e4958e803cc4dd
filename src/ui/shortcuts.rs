//! The Keyboard Shortcuts window.

use gtk::prelude::*;

/// Every shortcut the app sets up; [`ACCELS`](super::ACCELS) must match it (a test checks).
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
        for (action, accels) in crate::ui::ACCELS {
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
