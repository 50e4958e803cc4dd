//! The Keyboard Shortcuts window.

use gtk::prelude::*;

/// Every shortcut the app sets up; [`ACCELS`](super::ACCELS) must match it (a test checks).
const SHORTCUTS_UI: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<interface domain="roomtape">
  <object class="GtkShortcutsWindow" id="shortcuts">
    <property name="modal">True</property>
    <child>
      <object class="GtkShortcutsSection">
        <property name="section-name">shortcuts</property>
        <property name="max-height">12</property>
        <child>
          <object class="GtkShortcutsGroup">
            <property name="title" translatable="yes">Room</property>
            <child>
              <object class="GtkShortcutsShortcut">
                <property name="title" translatable="yes">Join a room</property>
                <property name="accelerator">&lt;Control&gt;j</property>
              </object>
            </child>
            <child>
              <object class="GtkShortcutsShortcut">
                <property name="title" translatable="yes">Start or stop recording</property>
                <property name="accelerator">&lt;Control&gt;r</property>
              </object>
            </child>
            <child>
              <object class="GtkShortcutsShortcut">
                <property name="title" translatable="yes">Show or hide the connections panel</property>
                <property name="accelerator">F9</property>
              </object>
            </child>
            <child>
              <object class="GtkShortcutsShortcut">
                <property name="title" translatable="yes">Show the live room</property>
                <property name="accelerator">&lt;Alt&gt;1</property>
              </object>
            </child>
            <child>
              <object class="GtkShortcutsShortcut">
                <property name="title" translatable="yes">Show the recordings</property>
                <property name="accelerator">&lt;Alt&gt;2</property>
              </object>
            </child>
          </object>
        </child>
        <child>
          <object class="GtkShortcutsGroup">
            <property name="title" translatable="yes">General</property>
            <child>
              <object class="GtkShortcutsShortcut">
                <property name="title" translatable="yes">Main menu</property>
                <property name="accelerator">F10</property>
              </object>
            </child>
            <child>
              <object class="GtkShortcutsShortcut">
                <property name="title" translatable="yes">Preferences</property>
                <property name="accelerator">&lt;Control&gt;comma</property>
              </object>
            </child>
            <child>
              <object class="GtkShortcutsShortcut">
                <property name="title" translatable="yes">Keyboard shortcuts</property>
                <property name="accelerator">&lt;Control&gt;question</property>
              </object>
            </child>
            <child>
              <object class="GtkShortcutsShortcut">
                <property name="title" translatable="yes">Quit</property>
                <property name="accelerator">&lt;Control&gt;q</property>
              </object>
            </child>
          </object>
        </child>
      </object>
    </child>
  </object>
</interface>
"#;

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
