//! The Export dialog: pick a preset and a folder, watch the progress, cancel at any time.
//!
//! The export runs on a worker thread ([`crate::library::export::export`] blocks); it reports
//! over an `async-channel` that a main-context future drains into the progress bar. The
//! dialog emits `progress` (the fraction done) as it goes, then `done` (how many files) or
//! `failed` (what went wrong, a cancel included) once it is ready for another export.

use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::OnceLock;

use adw::prelude::*;
use adw::subclass::prelude::*;
use glib::subclass::Signal;
use gtk::glib;

use crate::i18n::{gettext, gettext_f, ngettext_f};
use crate::library::SessionSummary;
use crate::library::export::{self, CancelFlag, ExportError, Progress};
use crate::library::otio;
use crate::library::presets::{self, Preset, PresetKind, codec_label};

/// What the worker thread tells the dialog.
enum Report {
    Progress(Progress),
    Done(Result<Vec<PathBuf>, ExportError>),
}

mod imp {
    use super::*;

    #[derive(Debug, Default, gtk::CompositeTemplate)]
    #[template(file = "export_dialog.ui")]
    pub struct RoomtapeExportDialog {
        #[template_child]
        pub(super) cancel_button: TemplateChild<gtk::Button>,
        #[template_child]
        pub(super) export_button: TemplateChild<gtk::Button>,
        #[template_child]
        pub(super) preset_group: TemplateChild<adw::PreferencesGroup>,
        #[template_child]
        pub(super) folder_row: TemplateChild<adw::ActionRow>,
        #[template_child]
        pub(super) folder_button: TemplateChild<gtk::Button>,
        #[template_child]
        pub(super) progress_group: TemplateChild<adw::PreferencesGroup>,
        #[template_child]
        pub(super) progress_bar: TemplateChild<gtk::ProgressBar>,
        #[template_child]
        pub(super) status_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub(super) show_button: TemplateChild<gtk::Button>,

        pub(super) session_dir: RefCell<PathBuf>,
        pub(super) output_dir: RefCell<PathBuf>,
        /// (preset, its radio button) in the order shown.
        pub(super) choices: RefCell<Vec<(Preset, gtk::CheckButton)>>,
        /// Set while an export runs.
        pub(super) cancel: RefCell<Option<CancelFlag>>,
        /// Where the last finished export went, for Show Files.
        pub(super) finished_in: RefCell<Option<PathBuf>>,
        pub(super) chooser: RefCell<Option<gtk::FileChooserNative>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for RoomtapeExportDialog {
        const NAME: &'static str = "RoomtapeExportDialog";
        type Type = super::ExportDialog;
        type ParentType = adw::Window;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for RoomtapeExportDialog {
        fn signals() -> &'static [Signal] {
            static SIGNALS: OnceLock<Vec<Signal>> = OnceLock::new();
            SIGNALS.get_or_init(|| {
                vec![
                    Signal::builder("progress")
                        .param_types([f64::static_type()])
                        .build(),
                    // The number of files written.
                    Signal::builder("done")
                        .param_types([u32::static_type()])
                        .build(),
                    // What went wrong, in words (also when the export was cancelled).
                    Signal::builder("failed")
                        .param_types([String::static_type()])
                        .build(),
                ]
            })
        }

        fn constructed(&self) {
            self.parent_constructed();
            let obj = self.obj();
            self.cancel_button.connect_clicked(glib::clone!(
                #[weak]
                obj,
                move |_| {
                    // While exporting, Cancel stops the export and keeps the dialog open.
                    if let Some(cancel) = obj.imp().cancel.borrow().as_ref() {
                        cancel.cancel();
                        return;
                    }
                    obj.close();
                }
            ));
            self.export_button.connect_clicked(glib::clone!(
                #[weak]
                obj,
                move |_| obj.on_export_clicked()
            ));
            self.folder_button.connect_clicked(glib::clone!(
                #[weak]
                obj,
                move |_| obj.choose_folder()
            ));
            self.show_button.connect_clicked(glib::clone!(
                #[weak]
                obj,
                move |_| {
                    if let Some(dir) = obj.imp().finished_in.borrow().as_ref() {
                        super::super::open_path(obj.upcast_ref(), dir);
                    }
                }
            ));
        }
    }
    impl WidgetImpl for RoomtapeExportDialog {}
    impl WindowImpl for RoomtapeExportDialog {
        fn close_request(&self) -> glib::Propagation {
            // Closing while exporting cancels: the worker removes its partial file.
            if let Some(cancel) = self.cancel.borrow().as_ref() {
                cancel.cancel();
            }
            self.parent_close_request()
        }
    }
    impl AdwWindowImpl for RoomtapeExportDialog {}
}

glib::wrapper! {
    pub struct ExportDialog(ObjectSubclass<imp::RoomtapeExportDialog>)
        @extends adw::Window, gtk::Window, gtk::Widget,
        @implements gtk::Accessible, gtk::Buildable, gtk::ConstraintTarget, gtk::Native,
            gtk::Root, gtk::ShortcutManager;
}

impl ExportDialog {
    pub fn new(parent: Option<&gtk::Window>, summary: &SessionSummary) -> Self {
        let dialog: Self = glib::Object::builder()
            .property("transient-for", parent)
            .build();
        let imp = dialog.imp();
        imp.session_dir.replace(summary.dir.clone());
        dialog.set_output_dir(export::default_output_dir(&summary.dir));

        // Codecs as recorded, to explain up front which remuxes cannot work.
        let recorded: Vec<String> = summary
            .manifest
            .participants
            .iter()
            .flat_map(|p| &p.segments)
            .flat_map(|s| {
                let video = s
                    .video_codec
                    .as_ref()
                    .map(|c| format!("video/x-{}", c.to_lowercase()));
                let audio = s
                    .audio_codec
                    .as_ref()
                    .map(|c| format!("audio/x-{}", c.to_lowercase()));
                video.into_iter().chain(audio)
            })
            .collect();
        // Who an audio export leaves out: participants recorded without any audio.
        let without_audio = summary.manifest.participants_without_audio();
        let mut group: Option<gtk::CheckButton> = None;
        let mut first_possible = None;
        for preset in presets::all().unwrap_or_default() {
            let refused: Vec<&str> = if preset.kind == PresetKind::Remux {
                let mut refused: Vec<&str> = recorded
                    .iter()
                    .filter(|c| !preset.accepts(c))
                    .map(|c| codec_label(c))
                    .collect();
                refused.sort_unstable();
                refused.dedup();
                refused
            } else {
                Vec::new()
            };
            // A timeline needs finished files of known length; say up front when a crash
            // left none, or how many parts it leaves out.
            let timeline = (preset.kind == PresetKind::Timeline)
                .then(|| otio::build(&summary.manifest, &summary.dir, None));
            let timeline_impossible = matches!(timeline, Some(Err(_)));
            let check = gtk::CheckButton::new();
            check.set_group(group.as_ref());
            group.get_or_insert_with(|| check.clone());
            let description = if !refused.is_empty() {
                gettext_f(
                    "Not possible for this session: {codecs} cannot be copied into this format. Choose “MP4 for editing”, which re-encodes it, or MKV, which copies every codec.",
                    &[("codecs", &refused.join(", "))],
                )
            } else if preset.kind == PresetKind::Audio && !without_audio.is_empty() {
                gettext_f(
                    "{description} Left out for having no audio: {names}.",
                    &[
                        ("description", &gettext(&preset.description)),
                        ("names", &without_audio.join(", ")),
                    ],
                )
            } else if timeline_impossible {
                gettext(
                    "Not possible for this session: no recording has a finished file of known length (the recorder stopped before closing them). Export it as MKV instead.",
                )
            } else if let Some(Ok(built)) = &timeline
                && !built.skipped.is_empty()
            {
                let count = u32::try_from(built.skipped.len()).unwrap_or(u32::MAX);
                ngettext_f(
                    "{description} Leaves out {count} part without a finished file of known length.",
                    "{description} Leaves out {count} parts without a finished file of known length.",
                    count,
                    &[
                        ("description", &gettext(&preset.description)),
                        ("count", &count.to_string()),
                    ],
                )
            } else {
                gettext(&preset.description)
            };
            let possible = refused.is_empty() && !timeline_impossible;
            let row = adw::ActionRow::builder()
                .title(glib::markup_escape_text(&gettext(&preset.name)))
                .subtitle(glib::markup_escape_text(&description))
                .activatable_widget(&check)
                .sensitive(possible)
                .build();
            row.add_prefix(&check);
            imp.preset_group.add(&row);
            if preset.kind == PresetKind::Edit && refused.is_empty() {
                explain_reencoding(&row, &summary.dir, &preset);
            }
            if possible && first_possible.is_none() {
                first_possible = Some(check.clone());
            }
            imp.choices.borrow_mut().push((preset, check));
        }
        match first_possible {
            Some(check) => check.set_active(true),
            None => imp.export_button.set_sensitive(false),
        }
        dialog
    }

    /// Selects the preset `id` and presses Export, as the operator would; false when that
    /// preset cannot be chosen for this session.
    pub fn start_preset(&self, id: &str) -> bool {
        let imp = self.imp();
        let check = imp
            .choices
            .borrow()
            .iter()
            .find(|(preset, _)| preset.id == id)
            .map(|(_, check)| check.clone());
        match check {
            Some(check) if check.is_sensitive() && imp.export_button.is_sensitive() => {
                check.set_active(true);
                imp.export_button.emit_clicked();
                true
            }
            _ => false,
        }
    }

    /// Runs `f` with the fraction done whenever the export reports progress.
    pub fn connect_progress<F: Fn(&Self, f64) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_closure(
            "progress",
            false,
            glib::closure_local!(move |dialog: &Self, fraction: f64| f(dialog, fraction)),
        )
    }

    /// Runs `f` with the number of files written when an export worked.
    pub fn connect_done<F: Fn(&Self, u32) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_closure(
            "done",
            false,
            glib::closure_local!(move |dialog: &Self, files: u32| f(dialog, files)),
        )
    }

    /// Runs `f` with what went wrong when an export failed or was cancelled.
    pub fn connect_failed<F: Fn(&Self, &str) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_closure(
            "failed",
            false,
            glib::closure_local!(move |dialog: &Self, error: String| f(dialog, &error)),
        )
    }

    fn set_output_dir(&self, dir: PathBuf) {
        let imp = self.imp();
        imp.folder_row
            .set_subtitle(&glib::markup_escape_text(&dir.display().to_string()));
        imp.output_dir.replace(dir);
    }

    fn choose_folder(&self) {
        let chooser = gtk::FileChooserNative::new(
            Some(&gettext("Export To")),
            Some(self),
            gtk::FileChooserAction::SelectFolder,
            Some(&gettext("_Select")),
            Some(&gettext("_Cancel")),
        );
        chooser.connect_response(glib::clone!(
            #[weak(rename_to = dialog)]
            self,
            move |chooser, response| {
                if response == gtk::ResponseType::Accept
                    && let Some(path) = chooser.file().and_then(|f| f.path())
                {
                    dialog.set_output_dir(path);
                }
                dialog.imp().chooser.replace(None);
            }
        ));
        chooser.show();
        // The native dialog must outlive this call.
        self.imp().chooser.replace(Some(chooser));
    }

    fn selected_preset(&self) -> Option<Preset> {
        self.imp()
            .choices
            .borrow()
            .iter()
            .find(|(_, check)| check.is_active())
            .map(|(preset, _)| preset.clone())
    }

    fn on_export_clicked(&self) {
        let imp = self.imp();
        if imp.cancel.borrow().is_some() {
            return;
        }
        let Some(preset) = self.selected_preset() else {
            return;
        };
        self.start(preset);
    }

    fn start(&self, preset: Preset) {
        let imp = self.imp();
        let cancel = CancelFlag::new();
        imp.cancel.replace(Some(cancel.clone()));
        imp.preset_group.set_sensitive(false);
        imp.folder_button.set_sensitive(false);
        imp.export_button.set_sensitive(false);
        imp.progress_group.set_visible(true);
        imp.show_button.set_visible(false);
        imp.cancel_button.set_label(&gettext("_Cancel"));
        imp.progress_bar.set_fraction(0.0);
        imp.status_label.remove_css_class("error");
        imp.status_label.set_text(&gettext("Preparing…"));

        let (tx, rx) = async_channel::unbounded();
        let session = imp.session_dir.borrow().clone();
        let output = imp.output_dir.borrow().clone();
        std::thread::spawn(move || {
            let progress_tx = tx.clone();
            let result = export::export(&session, &preset, &output, &cancel, &mut |p| {
                let _ = progress_tx.send_blocking(Report::Progress(p.clone()));
            });
            let _ = tx.send_blocking(Report::Done(result));
        });
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = dialog)]
            self,
            async move {
                while let Ok(report) = rx.recv().await {
                    match report {
                        Report::Progress(p) => dialog.show_progress(&p),
                        Report::Done(result) => {
                            dialog.show_result(result);
                            break;
                        }
                    }
                }
            }
        ));
    }

    fn show_progress(&self, progress: &Progress) {
        let imp = self.imp();
        self.emit_by_name::<()>("progress", &[&progress.fraction]);
        imp.progress_bar.set_fraction(progress.fraction);
        imp.progress_bar
            .set_text(Some(&format!("{:.0} %", progress.fraction * 100.0)));
        imp.status_label.set_text(&gettext_f(
            "Writing {file} ({index} of {count})",
            &[
                ("file", &progress.current),
                ("index", &progress.index.to_string()),
                ("count", &progress.count.to_string()),
            ],
        ));
    }

    fn show_result(&self, result: Result<Vec<PathBuf>, ExportError>) {
        let imp = self.imp();
        // Told last, once the dialog is ready for another export: a handler may start one
        // or close the dialog.
        let outcome = match &result {
            Ok(files) => Ok(u32::try_from(files.len()).unwrap_or(u32::MAX)),
            Err(err) => Err(err.to_string()),
        };
        imp.cancel.replace(None);
        imp.preset_group.set_sensitive(true);
        imp.folder_button.set_sensitive(true);
        imp.export_button.set_sensitive(true);
        match result {
            Ok(files) => {
                imp.finished_in
                    .replace(Some(imp.output_dir.borrow().clone()));
                imp.show_button.set_visible(true);
                imp.progress_bar.set_fraction(1.0);
                imp.progress_bar.set_text(Some("100 %"));
                let names: Vec<String> = files
                    .iter()
                    .filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned()))
                    .collect();
                imp.status_label.set_text(&gettext_f(
                    "Saved: {files}. Choose another format to export again.",
                    &[("files", &names.join(", "))],
                ));
                imp.cancel_button.set_label(&gettext("_Close"));
            }
            Err(ExportError::Cancelled) => {
                imp.progress_bar.set_fraction(0.0);
                imp.progress_bar.set_text(None);
                imp.status_label
                    .set_text(&gettext("Cancelled; nothing was written."));
            }
            Err(err) => {
                imp.status_label.add_css_class("error");
                imp.status_label.set_text(&err.to_string());
            }
        }
        match outcome {
            Ok(files) => self.emit_by_name::<()>("done", &[&files]),
            Err(error) => self.emit_by_name::<()>("failed", &[&error]),
        }
    }
}

/// Says on the row of an edit export which streams it will re-encode and what that costs,
/// once the files are probed (off the main thread: the discoverer reads them).
fn explain_reencoding(row: &adw::ActionRow, session_dir: &std::path::Path, preset: &Preset) {
    let (tx, rx) = async_channel::bounded(1);
    let session_dir = session_dir.to_owned();
    let preset_for_thread = preset.clone();
    std::thread::spawn(move || {
        let _ = tx.send_blocking(export::reencoded_streams(&session_dir, &preset_for_thread));
    });
    let description = gettext(&preset.description);
    glib::spawn_future_local(glib::clone!(
        #[weak]
        row,
        async move {
            let Ok(Ok(streams)) = rx.recv().await else {
                return;
            };
            let text = if streams.is_empty() {
                gettext("Everything is copied as recorded: nothing needs re-encoding.")
            } else {
                // One entry per participant: "Alice (VP8 → H.264, Opus → AAC)".
                let mut per_person: Vec<(String, Vec<String>)> = Vec::new();
                for r in &streams {
                    let change = format!("{} → {}", r.from, r.to);
                    match per_person.iter_mut().find(|(who, _)| *who == r.participant) {
                        Some((_, changes)) if !changes.contains(&change) => changes.push(change),
                        Some(_) => {}
                        None => per_person.push((r.participant.clone(), vec![change])),
                    }
                }
                let list: Vec<String> = per_person
                    .iter()
                    // Translators: one participant in the list of what an export re-encodes, with the codec changes, for example “Alice (VP8 → H.264, Opus → AAC)”.
                    .map(|(who, changes)| {
                        gettext_f(
                            "{name} ({changes})",
                            &[("name", who), ("changes", &changes.join(", "))],
                        )
                    })
                    .collect();
                // Re-encoding 720p video on two cores took a tenth of its length for a test
                // picture; camera video is harder, so up to a quarter is said. Audio is cheap.
                let video_secs: f64 = streams.iter().filter(|r| r.video).map(|r| r.seconds).sum();
                let estimate = std::time::Duration::from_secs_f64((video_secs / 4.0).max(1.0));
                gettext_f(
                    "{description} Re-encodes: {streams}. Expect up to about {duration} on a two-core computer.",
                    &[
                        ("description", &description),
                        ("streams", &list.join(", ")),
                        (
                            "duration",
                            &crate::library::disk_space::format_duration(estimate),
                        ),
                    ],
                )
            };
            row.set_subtitle(&glib::markup_escape_text(&text));
        }
    ));
}
