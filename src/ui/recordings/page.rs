//! The Recordings page widget: the sessions in its `folder`, newest first.
//!
//! The folder on disk is the source of truth: the page scans it (off the main thread) with
//! [`crate::library::scan_recordings`] and rescans when a `gio::FileMonitor` on the folder or on
//! a session folder reports a change, or when `folder` changes (the window binds it to the
//! `output-folder` setting). Each session is a [`SessionRow`] that expands into its segments.
//! After each scan the page emits `listed`; [`RecordingsPage::sessions`] says what it lists.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use adw::prelude::*;
use adw::subclass::prelude::*;
use glib::subclass::Signal;
use gtk::{gio, glib};

use super::session_row::SessionRow;
use crate::i18n::gettext_f;
use crate::library::{SessionSummary, scan_recordings};

/// Changes on disk come in bursts (a manifest rewrite is a create and a rename): wait this
/// long after the last one before rescanning.
const RESCAN_DELAY: Duration = Duration::from_millis(400);

mod imp {
    use super::*;

    #[derive(Debug, Default, gtk::CompositeTemplate, glib::Properties)]
    #[template(file = "page.ui")]
    #[properties(wrapper_type = super::RecordingsPage)]
    pub struct RoomtapeRecordingsPage {
        #[template_child]
        pub(super) stack: TemplateChild<gtk::Stack>,
        #[template_child]
        pub(super) folder_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub(super) list: TemplateChild<gtk::ListBox>,

        /// The recordings folder the page lists.
        #[property(get, set = Self::set_folder)]
        pub(super) folder: RefCell<PathBuf>,
        /// Whether the last scan found any session (the list shows instead of "No Recordings
        /// Yet").
        #[property(get)]
        pub(super) has_recordings: Cell<bool>,
        /// What the last scan of `folder` found.
        pub(super) sessions: RefCell<Vec<SessionSummary>>,
        pub(super) monitors: RefCell<Vec<gio::FileMonitor>>,
        pub(super) rescan_pending: Cell<bool>,
        /// Expand the newest session after the next scan.
        pub(super) expand_newest: Cell<bool>,
        /// Expand this session after the next scan ("Show in Recordings").
        pub(super) expand_dir: RefCell<Option<PathBuf>>,
    }

    impl RoomtapeRecordingsPage {
        fn set_folder(&self, folder: PathBuf) {
            if *self.folder.borrow() == folder {
                return;
            }
            self.folder.replace(folder);
            self.obj().rescan();
        }
    }

    #[glib::object_subclass]
    impl ObjectSubclass for RoomtapeRecordingsPage {
        const NAME: &'static str = "RoomtapeRecordingsPage";
        type Type = super::RecordingsPage;
        type ParentType = adw::Bin;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    #[glib::derived_properties]
    impl ObjectImpl for RoomtapeRecordingsPage {
        fn signals() -> &'static [Signal] {
            static SIGNALS: OnceLock<Vec<Signal>> = OnceLock::new();
            SIGNALS.get_or_init(|| vec![Signal::builder("listed").build()])
        }

        fn dispose(&self) {
            for monitor in self.monitors.take() {
                monitor.cancel();
            }
        }
    }

    impl WidgetImpl for RoomtapeRecordingsPage {}
    impl BinImpl for RoomtapeRecordingsPage {}
}

glib::wrapper! {
    /// The Recordings page: the library of saved sessions.
    pub struct RecordingsPage(ObjectSubclass<imp::RoomtapeRecordingsPage>)
        @extends adw::Bin, gtk::Widget,
        @implements gtk::Accessible, gtk::Buildable, gtk::ConstraintTarget;
}

impl Default for RecordingsPage {
    fn default() -> Self {
        glib::Object::new()
    }
}

impl RecordingsPage {
    /// What the last scan of the folder found, newest first.
    pub fn sessions(&self) -> Vec<SessionSummary> {
        self.imp().sessions.borrow().clone()
    }

    /// Expands the newest session once the next scan is shown.
    pub fn expand_newest(&self) {
        self.imp().expand_newest.set(true);
    }

    /// Rescans with the session in `dir` expanded.
    pub fn show_session(&self, dir: &Path) {
        self.imp().expand_dir.replace(Some(dir.to_owned()));
        self.rescan();
    }

    /// Runs `f` after every scan, once the page shows what it found.
    pub fn connect_listed<F: Fn(&Self) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_closure(
            "listed",
            false,
            glib::closure_local!(move |page: &Self| f(page)),
        )
    }

    /// Rescans soon, once a burst of changes is over.
    fn rescan_later(&self) {
        if self.imp().rescan_pending.replace(true) {
            return;
        }
        glib::timeout_add_local_once(
            RESCAN_DELAY,
            glib::clone!(
                #[weak(rename_to = page)]
                self,
                move || {
                    page.imp().rescan_pending.set(false);
                    page.rescan();
                }
            ),
        );
    }

    /// Scans the folder on a worker thread and shows the result.
    fn rescan(&self) {
        let root = self.folder();
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = page)]
            self,
            async move {
                let scanned_root = root.clone();
                let sessions = gio::spawn_blocking(move || scan_recordings(&scanned_root))
                    .await
                    .unwrap_or_default();
                // The folder may have changed while this scan ran: a later scan shows it.
                if page.folder() == root {
                    page.show(sessions);
                }
            }
        ));
    }

    fn show(&self, sessions: Vec<SessionSummary>) {
        let imp = self.imp();
        let root = self.folder();
        imp.folder_label.set_text(&gettext_f(
            "Sessions in {folder}",
            &[("folder", &root.display().to_string())],
        ));
        // Keep open what the user had open.
        let mut expanded = HashSet::new();
        while let Some(child) = imp.list.first_child() {
            if let Some(row) = child.downcast_ref::<SessionRow>()
                && row.is_expanded()
            {
                expanded.insert(row.dir());
            }
            imp.list.remove(&child);
        }
        let expand_newest = imp.expand_newest.replace(false);
        if let Some(dir) = imp.expand_dir.take() {
            expanded.insert(dir);
        }
        for (i, summary) in sessions.iter().enumerate() {
            let row = SessionRow::new(summary);
            if expanded.contains(&summary.dir) || (expand_newest && i == 0) {
                row.set_expanded(true);
            }
            imp.list.append(&row);
        }
        let has_recordings = !sessions.is_empty();
        imp.stack
            .set_visible_child_name(if has_recordings { "list" } else { "empty" });
        if imp.has_recordings.replace(has_recordings) != has_recordings {
            self.notify_has_recordings();
        }
        imp.sessions.replace(sessions);
        // Watch before telling, so a change made right after is seen.
        self.watch(&root);
        self.emit_by_name::<()>("listed", &[]);
    }

    /// Monitors the recordings folder (sessions added or removed) and every folder in it
    /// (manifests written or rewritten).
    fn watch(&self, root: &Path) {
        let mut monitors = Vec::new();
        // Every subfolder, not only the listed sessions: a session folder being created or
        // copied in may not have its manifest yet at the first scan.
        let subfolders: Vec<PathBuf> = std::fs::read_dir(root)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.is_dir())
                    .collect()
            })
            .unwrap_or_default();
        let dirs = std::iter::once((root, true))
            .chain(subfolders.iter().map(|dir| (dir.as_path(), false)));
        for (dir, is_root) in dirs {
            match gio::File::for_path(dir)
                .monitor_directory(gio::FileMonitorFlags::WATCH_MOVES, gio::Cancellable::NONE)
            {
                Ok(monitor) => {
                    monitor.connect_changed(glib::clone!(
                        #[weak(rename_to = page)]
                        self,
                        move |_, file, other, event| {
                            if super::worth_a_rescan(is_root, file, other, event) {
                                page.rescan_later();
                            }
                        }
                    ));
                    monitors.push(monitor);
                }
                Err(err) => tracing::debug!("cannot watch {}: {err}", dir.display()),
            }
        }
        for old in self.imp().monitors.replace(monitors) {
            old.cancel();
        }
    }
}
