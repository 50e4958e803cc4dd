//! One session in the library: room, date, length, people and size; expands into one row per
//! recorded segment. Its actions (show in folder, export, delete) act on the session folder.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use adw::prelude::*;
use adw::subclass::prelude::*;
use gtk::{gio, glib};

use crate::i18n::{gettext, gettext_f, ngettext_f};
use crate::library::SessionSummary;

use super::segment_row::SegmentRow;

mod imp {
    use super::*;

    #[derive(Debug, Default, gtk::CompositeTemplate)]
    #[template(file = "session_row.ui")]
    pub struct RoomtapeSessionRow {
        #[template_child]
        pub(super) recovered_badge: TemplateChild<gtk::Label>,
        #[template_child]
        pub(super) export_button: TemplateChild<gtk::Button>,
        /// The session folder.
        pub(super) dir: RefCell<PathBuf>,
        pub(super) summary: RefCell<Option<SessionSummary>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for RoomtapeSessionRow {
        const NAME: &'static str = "RoomtapeSessionRow";
        type Type = super::SessionRow;
        type ParentType = adw::ExpanderRow;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
            klass.install_action("session.reveal", None, |row, _, _| row.reveal());
            klass.install_action("session.export", None, |row, _, _| row.export());
            klass.install_action("session.delete", None, |row, _, _| row.confirm_delete());
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for RoomtapeSessionRow {}
    impl WidgetImpl for RoomtapeSessionRow {}
    impl ListBoxRowImpl for RoomtapeSessionRow {}
    impl PreferencesRowImpl for RoomtapeSessionRow {}
    impl ExpanderRowImpl for RoomtapeSessionRow {}
}

glib::wrapper! {
    pub struct SessionRow(ObjectSubclass<imp::RoomtapeSessionRow>)
        @extends adw::ExpanderRow, adw::PreferencesRow, gtk::ListBoxRow, gtk::Widget,
        @implements gtk::Accessible, gtk::Actionable, gtk::Buildable, gtk::ConstraintTarget;
}

impl SessionRow {
    pub fn new(summary: &SessionSummary) -> Self {
        let row: Self = glib::Object::new();
        let manifest = &summary.manifest;
        let room = if manifest.room.is_empty() {
            gettext("Unnamed room")
        } else {
            manifest.room.clone()
        };
        row.set_title(&glib::markup_escape_text(&room));
        let people = ngettext_f(
            "{count} participant",
            "{count} participants",
            u32::try_from(summary.participant_count).unwrap_or(u32::MAX),
            &[("count", &summary.participant_count.to_string())],
        );
        let subtitle = [
            super::format_date(manifest.started_unix_ms),
            super::format_duration(summary.duration_ns),
            people,
            glib::format_size(summary.total_bytes).to_string(),
        ]
        .join(" · ");
        row.set_subtitle(&glib::markup_escape_text(&subtitle));
        let imp = row.imp();
        let live = super::is_live(summary);
        imp.recovered_badge.set_visible(summary.recovered);
        if live {
            imp.recovered_badge.set_label(&gettext("Recording"));
            imp.recovered_badge
                .set_tooltip_text(Some(&gettext("This session is being recorded now")));
            imp.recovered_badge.remove_css_class("warning");
            imp.recovered_badge.add_css_class("error");
            row.action_set_enabled("session.export", false);
            row.action_set_enabled("session.delete", false);
        }
        imp.dir.replace(summary.dir.clone());

        let mut any = false;
        for participant in &manifest.participants {
            let label = if participant.label.is_empty() {
                participant.id.as_str()
            } else {
                participant.label.as_str()
            };
            // The parts of a stretch split at `--split-every` marks are one row.
            for group in participant.segment_groups() {
                let Some(first) = group.first() else { continue };
                let file = super::playable_file(&summary.dir, first);
                let whole = super::combined(&group);
                let files: Vec<String> = group
                    .iter()
                    .filter(|s| !s.file.is_empty())
                    .map(|s| s.file.clone())
                    .collect();
                // Files still growing would get a new thumbnail on every rescan.
                row.add_row(&SegmentRow::new(label, &whole, &files, file, !live));
                any = true;
            }
        }
        // Who an audio export leaves out: said before anyone exports and wonders.
        let without_audio = manifest.participants_without_audio();
        if any && !without_audio.is_empty() {
            let note = adw::ActionRow::builder()
                .title(glib::markup_escape_text(&gettext_f(
                    "No audio from {names}: audio exports leave them out",
                    &[("names", &without_audio.join(", "))],
                )))
                .build();
            note.add_css_class("dim-label");
            row.add_row(&note);
        }
        if !any {
            let empty = adw::ActionRow::builder()
                .title(glib::markup_escape_text(&gettext(
                    "Nobody was recorded in this session",
                )))
                .build();
            empty.add_css_class("dim-label");
            row.add_row(&empty);
            row.action_set_enabled("session.export", false);
        }
        imp.summary.replace(Some(summary.clone()));
        row
    }

    /// The session folder this row shows.
    pub fn dir(&self) -> PathBuf {
        self.imp().dir.borrow().clone()
    }

    fn reveal(&self) {
        super::open_path(self.upcast_ref(), &self.dir());
    }

    fn export(&self) {
        let Some(summary) = self.imp().summary.borrow().clone() else {
            return;
        };
        let parent = self.root().and_downcast::<gtk::Window>();
        super::export_dialog::ExportDialog::new(parent.as_ref(), &summary).present();
    }

    fn confirm_delete(&self) {
        let dir = self.dir();
        let parent = self.root().and_downcast::<gtk::Window>();
        let dialog = adw::MessageDialog::new(
            parent.as_ref(),
            Some(&gettext("Delete this session?")),
            Some(&gettext_f(
                "The folder “{folder}” and every recording in it are moved to the trash.",
                &[(
                    "folder",
                    &dir.file_name().unwrap_or_default().to_string_lossy(),
                )],
            )),
        );
        dialog.add_responses(&[
            ("cancel", &gettext("_Cancel")),
            ("delete", &gettext("_Delete")),
        ]);
        dialog.set_response_appearance("delete", adw::ResponseAppearance::Destructive);
        dialog.set_default_response(Some("cancel"));
        dialog.set_close_response("cancel");
        dialog.connect_response(
            None,
            glib::clone!(
                #[weak(rename_to = row)]
                self,
                move |_, response| {
                    if response == "delete" {
                        row.set_sensitive(false);
                        glib::spawn_future_local(async move {
                            if let Err(err) = delete_session(&row.dir()).await {
                                row.set_sensitive(true);
                                super::show_error(
                                    row.upcast_ref(),
                                    &gettext("Could Not Delete the Session"),
                                    &err,
                                );
                            }
                            // On success the folder monitor refreshes the list.
                        });
                    }
                }
            ),
        );
        dialog.present();
    }
}

/// Moves the session folder to the trash; where there is no trash, deletes it.
async fn delete_session(dir: &Path) -> Result<(), String> {
    let file = gio::File::for_path(dir);
    match file.trash_future(glib::Priority::DEFAULT).await {
        Ok(()) => Ok(()),
        Err(err) => {
            tracing::info!("cannot trash {}: {err}; deleting it", dir.display());
            let dir = dir.to_owned();
            gio::spawn_blocking(move || {
                std::fs::remove_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))
            })
            .await
            .map_err(|_| "the delete stopped unexpectedly".to_owned())?
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deleting_a_session_removes_its_folder() {
        let dir =
            std::env::temp_dir().join(format!("roomtape-delete-session-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(crate::library::MANIFEST_FILE_NAME), b"{}").unwrap();
        std::fs::write(dir.join("Alice.mkv"), b"media").unwrap();
        glib::MainContext::default()
            .block_on(delete_session(&dir))
            .unwrap();
        assert!(!dir.exists(), "{} still there", dir.display());
        // A folder that is already gone is an error, not a panic.
        assert!(
            glib::MainContext::default()
                .block_on(delete_session(&dir))
                .is_err()
        );
    }
}
