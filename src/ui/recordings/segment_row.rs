//! One recorded stretch of one participant: thumbnail, name, length, codecs, size, and a Play
//! button that opens the file in the default player.

use std::cell::RefCell;
use std::path::PathBuf;

use adw::prelude::*;
use adw::subclass::prelude::*;
use gtk::glib;

use crate::i18n::gettext;
use crate::library::Segment;

mod imp {
    use super::*;

    #[derive(Debug, Default, gtk::CompositeTemplate)]
    #[template(file = "segment_row.ui")]
    pub struct RoomtapeSegmentRow {
        #[template_child]
        pub(super) thumb_stack: TemplateChild<gtk::Stack>,
        #[template_child]
        pub(super) picture: TemplateChild<gtk::Picture>,
        #[template_child]
        pub(super) placeholder_icon: TemplateChild<gtk::Image>,
        #[template_child]
        pub(super) play_button: TemplateChild<gtk::Button>,
        /// The file Play opens (the merged segment file, or its first track file).
        pub(super) file: RefCell<Option<PathBuf>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for RoomtapeSegmentRow {
        const NAME: &'static str = "RoomtapeSegmentRow";
        type Type = super::SegmentRow;
        type ParentType = adw::ActionRow;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for RoomtapeSegmentRow {
        fn constructed(&self) {
            self.parent_constructed();
            let obj = self.obj();
            self.play_button.connect_clicked(glib::clone!(
                #[weak]
                obj,
                move |_| {
                    if let Some(file) = obj.imp().file.borrow().clone() {
                        super::super::open_path(obj.upcast_ref(), &file);
                    }
                }
            ));
        }
    }
    impl WidgetImpl for RoomtapeSegmentRow {}
    impl ListBoxRowImpl for RoomtapeSegmentRow {}
    impl PreferencesRowImpl for RoomtapeSegmentRow {}
    impl ActionRowImpl for RoomtapeSegmentRow {}
}

glib::wrapper! {
    pub struct SegmentRow(ObjectSubclass<imp::RoomtapeSegmentRow>)
        @extends adw::ActionRow, adw::PreferencesRow, gtk::ListBoxRow, gtk::Widget,
        @implements gtk::Accessible, gtk::Actionable, gtk::Buildable, gtk::ConstraintTarget;
}

impl SegmentRow {
    /// A row for `segment` of the participant called `label`; `file` is what Play opens
    /// (`None` if nothing playable is on disk); `thumbnail` asks for a picture of it.
    /// `files` are the files of its parts, when a `--split-every` mark split it into several.
    pub fn new(
        label: &str,
        segment: &Segment,
        files: &[String],
        file: Option<PathBuf>,
        thumbnail: bool,
    ) -> Self {
        let row: Self = glib::Object::new();
        let title = if segment.index == 0 {
            label.to_owned()
        } else {
            crate::i18n::gettext_f(
                // Translators: one recorded file of a participant who left and came back: their name and which of their parts it is.
                "{name} (part {part})",
                &[("name", label), ("part", &(segment.index + 1).to_string())],
            )
        };
        row.set_title(&glib::markup_escape_text(&title));
        let mut subtitle = super::segment_details(segment);
        if files.len() > 1 {
            subtitle.push('\n');
            subtitle.push_str(&crate::i18n::gettext_f(
                // Translators: a recording split into several files; {files} lists their names.
                "{count} files: {files}",
                &[
                    ("count", &files.len().to_string()),
                    ("files", &files.join(", ")),
                ],
            ));
            row.set_subtitle_lines(3);
        }
        row.set_subtitle(&glib::markup_escape_text(&subtitle));
        let imp = row.imp();
        imp.play_button.set_sensitive(file.is_some());
        if file.is_none() {
            imp.play_button
                .set_tooltip_text(Some(&gettext("The file of this recording is missing")));
        }
        if segment.video_codec.is_none() {
            imp.placeholder_icon
                .set_icon_name(Some("audio-x-generic-symbolic"));
        }
        imp.file.replace(file.clone());
        if let Some(file) = file.filter(|_| thumbnail && segment.video_codec.is_some()) {
            glib::spawn_future_local(glib::clone!(
                #[weak]
                row,
                async move {
                    if let Some(png) = super::thumbnail::load(file).await {
                        let imp = row.imp();
                        imp.picture.set_filename(Some(&png));
                        imp.thumb_stack.set_visible_child_name("picture");
                    }
                }
            ));
        }
        row
    }
}
