//! The side panel: per-participant connection details and the ICE candidate log, with its
//! filters, Copy and Save….
//!
//! A composite-template widget the window embeds; the session feeds it room events. It
//! reaches its window only through the widget tree (the toast overlay above it, its root for
//! the file dialog), so it knows nothing about the window.

mod connection;
mod words;

use std::cell::RefCell;
use std::collections::BTreeMap;

use adw::prelude::*;
use adw::subclass::prelude::*;
use gtk::{gio, glib};

use crate::i18n::{gettext, gettext_f};
use crate::media::preview::PreviewStats;
use crate::media::stats::LinkStats;
use crate::room::{CandidateLogEntry, SelectedPair};
use crate::ui::tile::IceBadge;

use connection::ConnectionRow;
pub use words::{LoggedCandidate, format_bitrate};

/// Candidate types the type filter offers, after "All types".
const TYPES: [&str; 4] = ["host", "srflx", "prflx", "relay"];

mod imp {
    use std::cell::Cell;

    use super::*;

    #[derive(Debug, Default, gtk::CompositeTemplate, glib::Properties)]
    #[template(file = "panel.ui")]
    #[properties(wrapper_type = super::Panel)]
    pub struct RoomtapeSidePanel {
        #[template_child]
        pub(super) connections_list: TemplateChild<gtk::ListBox>,
        #[template_child]
        pub(super) candidates_list: TemplateChild<gtk::ListBox>,
        #[template_child]
        pub(super) participant_filter: TemplateChild<gtk::DropDown>,
        #[template_child]
        pub(super) type_filter: TemplateChild<gtk::DropDown>,
        #[template_child]
        pub(super) save_button: TemplateChild<gtk::Button>,

        /// "All participants", then one name per participant, in `participant_ids` order.
        pub(super) participant_model: RefCell<Option<gtk::StringList>>,
        /// The id behind each entry of the participant filter ("" for all).
        pub(super) participant_ids: RefCell<Vec<String>>,
        pub(super) rows: RefCell<BTreeMap<String, ConnectionRow>>,
        pub(super) log: RefCell<Vec<LoggedCandidate>>,
        pub(super) save_dialog: RefCell<Option<gtk::FileChooserNative>>,
        /// How many candidates the log holds, whatever the filters show.
        #[property(get)]
        pub(super) logged_candidates: Cell<u32>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for RoomtapeSidePanel {
        const NAME: &'static str = "RoomtapeSidePanel";
        type Type = super::Panel;
        type ParentType = gtk::Box;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
            klass.install_action("panel.copy", None, |panel, _, _| panel.copy());
            klass.install_action("panel.save", None, |panel, _, _| panel.save());
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    #[glib::derived_properties]
    impl ObjectImpl for RoomtapeSidePanel {
        fn constructed(&self) {
            self.parent_constructed();
            let obj = self.obj();
            let participants = gtk::StringList::new(&[&gettext("All participants")]);
            self.participant_filter.set_model(Some(&participants));
            self.participant_model.replace(Some(participants));
            self.participant_ids.replace(vec![String::new()]);
            let mut types = vec![gettext("All types")];
            types.extend(TYPES.iter().map(|t| (*t).to_owned()));
            let type_refs: Vec<&str> = types.iter().map(String::as_str).collect();
            self.type_filter
                .set_model(Some(&gtk::StringList::new(&type_refs)));

            self.candidates_list.set_filter_func(glib::clone!(
                #[weak]
                obj,
                #[upgrade_or]
                true,
                move |row| {
                    let Ok(index) = usize::try_from(row.index()) else {
                        return true;
                    };
                    obj.imp()
                        .log
                        .borrow()
                        .get(index)
                        .is_none_or(|logged| obj.passes(logged))
                }
            ));
            for dropdown in [&*self.participant_filter, &*self.type_filter] {
                dropdown.connect_selected_notify(glib::clone!(
                    #[weak]
                    obj,
                    move |_| obj.imp().candidates_list.invalidate_filter()
                ));
            }
            // Screen readers name the filters by these; the tooltips stay for the mouse.
            crate::ui::a11y::label(
                &*self.participant_filter,
                &gettext("Participant whose candidates are shown"),
            );
            crate::ui::a11y::label(&*self.type_filter, &gettext("Candidate type shown"));
        }
    }

    impl WidgetImpl for RoomtapeSidePanel {}
    impl BoxImpl for RoomtapeSidePanel {}
}

glib::wrapper! {
    /// The side panel of one window.
    pub struct Panel(ObjectSubclass<imp::RoomtapeSidePanel>)
        @extends gtk::Box, gtk::Widget,
        @implements gtk::Accessible, gtk::Buildable, gtk::ConstraintTarget, gtk::Orientable;
}

impl Default for Panel {
    fn default() -> Self {
        glib::Object::new()
    }
}

impl Panel {
    pub fn new() -> Self {
        Self::default()
    }

    fn participant_model(&self) -> Option<gtk::StringList> {
        self.imp().participant_model.borrow().clone()
    }

    fn passes(&self, logged: &LoggedCandidate) -> bool {
        let imp = self.imp();
        let participant = imp.participant_filter.selected() as usize;
        if participant > 0 {
            let ids = imp.participant_ids.borrow();
            if ids.get(participant).map(String::as_str) != Some(logged.entry.participant.as_str()) {
                return false;
            }
        }
        let kind = imp.type_filter.selected() as usize;
        kind == 0 || TYPES.get(kind - 1) == Some(&logged.entry.kind.as_str())
    }

    /// Removes everything (a new room).
    pub fn clear(&self) {
        let imp = self.imp();
        for (_, row) in std::mem::take(&mut *imp.rows.borrow_mut()) {
            imp.connections_list.remove(&row.row);
        }
        imp.log.borrow_mut().clear();
        while let Some(row) = imp.candidates_list.row_at_index(0) {
            imp.candidates_list.remove(&row);
        }
        imp.participant_filter.set_selected(0);
        if let Some(model) = self.participant_model() {
            let count = model.n_items();
            model.splice(1, count.saturating_sub(1), &[]);
        }
        imp.participant_ids.borrow_mut().truncate(1);
        self.set_logged_candidates(0);
    }

    fn set_logged_candidates(&self, count: u32) {
        if self.imp().logged_candidates.replace(count) != count {
            self.notify_logged_candidates();
        }
    }

    /// Makes sure a participant has a row; `joined_ms` anchors the timestamps.
    pub fn ensure(&self, id: &str, label: &str, joined_ms: Option<u64>) {
        let imp = self.imp();
        if let Some(row) = imp.rows.borrow_mut().get_mut(id) {
            row.anchor(joined_ms);
            return;
        }
        let row = ConnectionRow::new(id, label, joined_ms);
        imp.connections_list.append(&row.row);
        imp.rows.borrow_mut().insert(id.to_owned(), row);
        if let Some(model) = self.participant_model() {
            model.append(label);
        }
        imp.participant_ids.borrow_mut().push(id.to_owned());
    }

    pub fn set_label(&self, id: &str, label: &str) {
        let imp = self.imp();
        if let Some(row) = imp.rows.borrow().get(id) {
            row.set_label(label);
        }
        let position = imp.participant_ids.borrow().iter().position(|p| p == id);
        if let (Some(position), Some(model)) = (position, self.participant_model()) {
            model.splice(position as u32, 1, &[label]);
        }
        // Lines logged before the participant said their name show it from now on, in the
        // list and in what Copy and Save… write.
        let mut log = imp.log.borrow_mut();
        for (index, logged) in log.iter_mut().enumerate() {
            if logged.entry.participant != id || logged.label == label {
                continue;
            }
            logged.label = label.to_owned();
            if let Some(text) = i32::try_from(index)
                .ok()
                .and_then(|i| imp.candidates_list.row_at_index(i))
                .and_then(|row| row.child())
                .and_then(|child| child.downcast::<gtk::Label>().ok())
            {
                text.set_label(&logged.text_line());
            }
        }
    }

    /// Records a state change (with its time) and refreshes the badge.
    pub fn set_state(&self, id: &str, state: IceBadge, pair: Option<&SelectedPair>, at_ms: u64) {
        if let Some(row) = self.imp().rows.borrow_mut().get_mut(id) {
            row.set_state(state, pair, at_ms);
        }
    }

    pub fn set_problem(&self, id: &str, problem: Option<&str>) {
        if let Some(row) = self.imp().rows.borrow().get(id) {
            row.set_problem(problem);
        }
    }

    /// Bitrate, loss and RTT from webrtcbin; resolution and frame rate from the preview.
    pub fn update_stats(&self, id: &str, link: &LinkStats, video: Option<(&PreviewStats, u64)>) {
        if let Some(row) = self.imp().rows.borrow_mut().get_mut(id) {
            row.update_stats(link, video);
        }
    }

    /// Adds a candidate to the log.
    pub fn add_candidate(&self, entry: CandidateLogEntry, label: &str) {
        let wall = glib::DateTime::now_local()
            .and_then(|now| now.format("%H:%M:%S"))
            .map(|s| s.to_string())
            .unwrap_or_default();
        let logged = LoggedCandidate {
            entry,
            label: label.to_owned(),
            wall,
        };
        let text = logged.text_line();
        let accepted = logged.entry.accepted;
        let participant = logged.entry.participant.to_string();
        let count = {
            let mut log = self.imp().log.borrow_mut();
            log.push(logged);
            u32::try_from(log.len()).unwrap_or(u32::MAX)
        };
        let label = gtk::Label::builder()
            .label(&text)
            .xalign(0.0)
            .wrap(true)
            .wrap_mode(gtk::pango::WrapMode::WordChar)
            .css_classes(["candidate-log"])
            .build();
        if !accepted {
            label.add_css_class("error");
        }
        let row = gtk::ListBoxRow::builder()
            .child(&label)
            .name(&participant)
            .build();
        self.imp().candidates_list.append(&row);
        self.set_logged_candidates(count);
    }

    /// Logged candidates per participant id (what the log holds, unfiltered).
    pub fn candidate_counts(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        let mut index = 0;
        while let Some(row) = self.imp().candidates_list.row_at_index(index) {
            *counts.entry(row.widget_name().to_string()).or_insert(0) += 1;
            index += 1;
        }
        counts
    }

    /// The lines the filters let through.
    pub fn visible_text(&self) -> String {
        let mut out = String::new();
        for logged in self.imp().log.borrow().iter().filter(|l| self.passes(l)) {
            out.push_str(&logged.text_line());
            out.push('\n');
        }
        out
    }

    /// A short message in the window's toast overlay, the panel's ancestor.
    fn show_toast(&self, text: &str) {
        match self
            .ancestor(adw::ToastOverlay::static_type())
            .and_downcast::<adw::ToastOverlay>()
        {
            Some(overlay) => overlay.add_toast(adw::Toast::new(text)),
            None => tracing::info!("{text}"),
        }
    }

    /// The Copy button (`panel.copy`).
    fn copy(&self) {
        self.clipboard().set_text(&self.visible_text());
        self.show_toast(&gettext("Candidate log copied"));
    }

    /// The Save… button (`panel.save`): asks for a file, then [`Self::save_to`] it.
    fn save(&self) {
        let parent = self.root().and_downcast::<gtk::Window>();
        let dialog = gtk::FileChooserNative::new(
            Some(&gettext("Save Candidate Log")),
            parent.as_ref(),
            gtk::FileChooserAction::Save,
            Some(&gettext("_Save")),
            Some(&gettext("_Cancel")),
        );
        dialog.set_modal(true);
        dialog.set_current_name("candidates.txt");
        dialog.connect_response(glib::clone!(
            #[weak(rename_to = panel)]
            self,
            move |dialog, response| {
                panel.imp().save_dialog.replace(None);
                if response != gtk::ResponseType::Accept {
                    return;
                }
                if let Some(path) = dialog.file().and_then(|f| gio::File::path(&f)) {
                    panel.save_to(&path);
                }
            }
        ));
        dialog.show();
        self.imp().save_dialog.replace(Some(dialog));
    }

    /// The candidate log's Save… button (for the test hook, which clicks it so that a button
    /// that lost its action fails the test).
    pub fn save_button(&self) -> gtk::Button {
        self.imp().save_button.get()
    }

    /// The file dialog the Save… button opened, while it is open (for the test hook).
    pub fn save_dialog(&self) -> Option<gtk::FileChooserNative> {
        self.imp().save_dialog.borrow().clone()
    }

    /// Writes the lines the filters let through to `path` and tells the operator how it went.
    pub fn save_to(&self, path: &std::path::Path) -> bool {
        let result = std::fs::write(path, self.visible_text().as_bytes());
        self.show_toast(&match &result {
            Ok(()) => gettext_f(
                "Saved the candidate log to {path}",
                &[("path", &path.display().to_string())],
            ),
            Err(err) => gettext_f(
                "Could not save the candidate log: {error}",
                &[("error", &err.to_string())],
            ),
        });
        if let Err(err) = &result {
            tracing::warn!(
                "could not save the candidate log to {}: {err}",
                path.display()
            );
        }
        result.is_ok()
    }
}
