//! One participant's tile: live video (or a camera-off placeholder), name, audio level meter,
//! ICE badge, recording dot with elapsed time, a per-participant record toggle, and what the
//! watchdogs found. A participant who left keeps a greyed tile until it is dismissed.

use adw::prelude::*;
use adw::subclass::prelude::*;
use gtk::{gdk, glib};

use crate::i18n::{gettext, gettext_f};

mod state;

pub use state::{IceBadge, PairBadge, Placeholder};

/// `hh:mm:ss` for the recording time.
pub fn format_elapsed(secs: u64) -> String {
    format!(
        "{:02}:{:02}:{:02}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

/// A level meter reading (0‥1) from a peak in dB: −60 dB and below is silence.
pub fn level_fraction(peak_db: f64) -> f64 {
    if peak_db.is_nan() {
        return 0.0;
    }
    ((peak_db + 60.0) / 60.0).clamp(0.0, 1.0)
}

mod imp {
    use std::cell::{Cell, RefCell};
    use std::sync::OnceLock;

    use glib::subclass::Signal;

    use super::*;

    #[derive(Debug, Default, gtk::CompositeTemplate, glib::Properties)]
    #[template(file = "tile.ui")]
    #[properties(wrapper_type = super::RoomtapeTile)]
    pub struct RoomtapeTile {
        #[template_child]
        pub(super) video_stack: TemplateChild<gtk::Stack>,
        #[template_child]
        pub(super) picture: TemplateChild<gtk::Picture>,
        #[template_child]
        pub(super) placeholder_avatar: TemplateChild<adw::Avatar>,
        #[template_child]
        pub(super) placeholder_icon: TemplateChild<gtk::Image>,
        #[template_child]
        pub(super) placeholder_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub(super) rec_box: TemplateChild<gtk::Box>,
        #[template_child]
        pub(super) rec_time: TemplateChild<gtk::Label>,
        #[template_child]
        pub(super) dismiss_button: TemplateChild<gtk::Button>,
        #[template_child]
        pub(super) problem_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub(super) name_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub(super) level_bar: TemplateChild<gtk::LevelBar>,
        #[template_child]
        pub(super) ice_badge: TemplateChild<gtk::Label>,
        #[template_child]
        pub(super) record_toggle: TemplateChild<gtk::ToggleButton>,

        /// The room's id for this participant.
        #[property(get, construct_only)]
        pub(super) participant_id: RefCell<String>,
        /// The name shown (the label the participant chose, or their stream id).
        #[property(get, set = Self::set_label_text, explicit_notify)]
        pub(super) label: RefCell<String>,
        /// The connection badge's state.
        #[property(get, set = Self::set_ice_state, explicit_notify, builder(IceBadge::default()))]
        pub(super) ice_state: Cell<IceBadge>,
        /// The selected pair's kind, none before one is chosen.
        #[property(get, set = Self::set_pair_kind, explicit_notify, builder(PairBadge::default()))]
        pub(super) pair_kind: Cell<PairBadge>,
        /// They left the room: the tile is greyed and can be dismissed.
        #[property(get)]
        pub(super) left: Cell<bool>,
        /// Whether leaving was a lost connection rather than a goodbye.
        pub(super) connection_lost: Cell<bool>,
        /// Include them when the room is recorded (the tile's record toggle).
        #[property(get, set = Self::set_included, explicit_notify, default = true)]
        pub(super) included: Cell<bool>,
        /// Video frames are showing.
        #[property(get)]
        pub(super) has_video: Cell<bool>,
        /// What shows in place of the video; none while the video shows.
        #[property(get, builder(Placeholder::default()))]
        pub(super) placeholder: Cell<Placeholder>,
        /// What the placeholder page shows: the placeholder, or while the video shows the last
        /// one before it, so the page keeps its icon and words while the stack fades it out.
        #[property(get, builder(Placeholder::default()))]
        pub(super) shown_placeholder: Cell<Placeholder>,
        pub(super) recording_secs: Cell<Option<u64>>,
        pub(super) video_expected: Cell<bool>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for RoomtapeTile {
        const NAME: &'static str = "RoomtapeTile";
        type Type = super::RoomtapeTile;
        type ParentType = adw::Bin;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
            klass.bind_template_callbacks();
            klass.set_css_name("roomtape-tile");
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl RoomtapeTile {
        fn set_label_text(&self, label: String) {
            if *self.label.borrow() == label {
                return;
            }
            self.label.replace(label);
            self.obj().notify_label();
            self.obj().update_view();
        }

        fn set_ice_state(&self, state: IceBadge) {
            if self.ice_state.replace(state) != state {
                self.obj().notify_ice_state();
                self.obj().update_view();
            }
        }

        fn set_pair_kind(&self, kind: PairBadge) {
            if self.pair_kind.replace(kind) != kind {
                self.obj().notify_pair_kind();
                self.obj().update_view();
            }
        }

        fn set_included(&self, included: bool) {
            if self.included.replace(included) != included {
                self.record_toggle.set_active(included);
                self.obj().notify_included();
                self.obj().update_view();
            }
        }
    }

    // The words, icons and pages that the template binds to the tile's typed state.
    #[gtk::template_callbacks(functions)]
    impl RoomtapeTile {
        #[template_callback]
        fn video_page(placeholder: Placeholder) -> &'static str {
            if placeholder == Placeholder::None {
                "video"
            } else {
                "off"
            }
        }

        #[template_callback]
        fn placeholder_icon(placeholder: Placeholder) -> &'static str {
            placeholder.icon_name()
        }

        #[template_callback]
        fn placeholder_text(placeholder: Placeholder) -> String {
            placeholder.text()
        }

        /// Without video a person is shown by their initials, as in a call.
        #[template_callback]
        fn shows_initials(placeholder: Placeholder) -> bool {
            placeholder == Placeholder::CameraOff
        }

        #[template_callback]
        fn shows_icon(placeholder: Placeholder) -> bool {
            placeholder != Placeholder::CameraOff
        }

        #[template_callback]
        fn badge_text(state: IceBadge, pair: PairBadge) -> String {
            super::badge_text(state, pair)
        }

        #[template_callback]
        fn badge_tooltip(state: IceBadge, pair: PairBadge) -> String {
            gettext_f(
                "Connection: {state}. Candidate pair: {pair}",
                &[
                    ("state", &state.text()),
                    (
                        "pair",
                        &match pair {
                            PairBadge::None => gettext("none selected yet"),
                            kind => kind.as_str().to_owned(),
                        },
                    ),
                ],
            )
        }
    }

    #[glib::derived_properties]
    impl ObjectImpl for RoomtapeTile {
        fn signals() -> &'static [Signal] {
            static SIGNALS: OnceLock<Vec<Signal>> = OnceLock::new();
            SIGNALS.get_or_init(|| vec![Signal::builder("dismissed").build()])
        }

        fn constructed(&self) {
            self.parent_constructed();
            let obj = self.obj();
            self.included.set(true);
            self.record_toggle.connect_toggled(glib::clone!(
                #[weak]
                obj,
                move |toggle| obj.set_included(toggle.is_active())
            ));
            self.dismiss_button.connect_clicked(glib::clone!(
                #[weak]
                obj,
                move |_| obj.emit_by_name::<()>("dismissed", &[])
            ));
            self.level_bar
                .update_property(&[gtk::accessible::Property::Label(&gettext("Audio level"))]);
            obj.update_view();
        }
    }

    impl WidgetImpl for RoomtapeTile {}
    impl BinImpl for RoomtapeTile {}
}

glib::wrapper! {
    pub struct RoomtapeTile(ObjectSubclass<imp::RoomtapeTile>)
        @extends adw::Bin, gtk::Widget,
        @implements gtk::Accessible, gtk::Buildable, gtk::ConstraintTarget;
}

impl RoomtapeTile {
    pub fn new(participant_id: &str, label: &str) -> Self {
        glib::Object::builder()
            .property("participant-id", participant_id)
            .property("label", label)
            .build()
    }

    /// The tile's "include in the recording" toggle (for the test hook).
    pub fn record_toggle(&self) -> gtk::ToggleButton {
        self.imp().record_toggle.get()
    }

    /// Shows the live video from a preview sink's paintable.
    pub fn set_paintable(&self, paintable: &gdk::Paintable) {
        let imp = self.imp();
        imp.video_expected.set(true);
        imp.picture.set_paintable(Some(paintable));
        let check = glib::clone!(
            #[weak(rename_to = tile)]
            self,
            move |paintable: &gdk::Paintable| {
                let showing = paintable.intrinsic_width() > 0;
                if tile.imp().has_video.replace(showing) != showing {
                    tile.notify_has_video();
                    tile.update_view();
                }
            }
        );
        check(paintable);
        paintable.connect_invalidate_size(check);
        self.update_view();
    }

    /// Left because the connection was lost (no goodbye): the placeholder says so.
    pub fn set_connection_lost(&self, lost: bool) {
        if self.imp().connection_lost.replace(lost) != lost {
            self.update_view();
        }
    }

    pub fn set_left(&self, left: bool) {
        if self.imp().left.replace(left) != left {
            self.notify_left();
            self.update_view();
        }
    }

    /// The audio meter, from the loudest channel's peak in dB.
    pub fn set_level(&self, peak_db: f64) {
        self.imp().level_bar.set_value(level_fraction(peak_db));
    }

    /// Recording time of this participant, or `None` when they are not being recorded.
    pub fn set_recording_secs(&self, secs: Option<u64>) {
        if self.imp().recording_secs.replace(secs) != secs {
            self.update_view();
        }
    }

    /// What the connection badge reads ("no media", "connected · host").
    pub fn ice_badge_text(&self) -> String {
        self.imp().ice_badge.label().to_string()
    }

    /// The badge's style classes (its colour comes from the `ice-*` one).
    pub fn ice_badge_classes(&self) -> Vec<String> {
        self.imp()
            .ice_badge
            .css_classes()
            .iter()
            .map(|c| c.to_string())
            .collect()
    }

    /// The recording time the tile shows ("00:00:03"), `None` when it shows none.
    pub fn recording_time(&self) -> Option<String> {
        let imp = self.imp();
        imp.rec_box
            .is_visible()
            .then(|| imp.rec_time.label().to_string())
    }

    /// The text shown in place of the video ("Camera off", "Connecting…"), empty while the
    /// video shows.
    pub fn placeholder_text(&self) -> String {
        // The hidden page keeps its last words for the crossfade; they are not shown.
        if self.placeholder() == Placeholder::None {
            String::new()
        } else {
            self.imp().placeholder_label.label().into()
        }
    }

    /// What a watchdog found, shown over the video; `None` clears it.
    pub fn set_problem(&self, problem: Option<&str>) {
        let label = &self.imp().problem_label;
        label.set_label(problem.unwrap_or_default());
        label.set_visible(problem.is_some());
    }

    pub fn connect_dismissed<F: Fn(&Self) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_closure(
            "dismissed",
            false,
            glib::closure_local!(move |tile: &Self| f(tile)),
        )
    }

    fn update_view(&self) {
        let imp = self.imp();
        let label = imp.label.borrow().clone();
        let left = imp.left.get();
        let ice = imp.ice_state.get();

        let placeholder = if imp.has_video.get() {
            Placeholder::None
        } else if left && imp.connection_lost.get() {
            Placeholder::ConnectionLost
        } else if left {
            Placeholder::Left
        } else if imp.video_expected.get() {
            Placeholder::Waiting
        } else if ice.is_connected() {
            Placeholder::CameraOff
        } else {
            Placeholder::Connecting
        };
        // The page takes its new words before the stack is told to show it.
        if placeholder != Placeholder::None
            && imp.shown_placeholder.replace(placeholder) != placeholder
        {
            self.notify_shown_placeholder();
        }
        if imp.placeholder.replace(placeholder) != placeholder {
            self.notify_placeholder();
        }

        for state in IceBadge::ALL {
            imp.ice_badge.remove_css_class(&state.css_class());
        }
        imp.ice_badge.add_css_class(&ice.css_class());
        let badge = badge_text(ice, imp.pair_kind.get());

        let meter_text = gettext_f("How loud {name} is", &[("name", &label)]);
        imp.level_bar.set_tooltip_text(Some(&meter_text));
        crate::ui::a11y::label(&*imp.level_bar, &meter_text);

        let included = imp.included.get();
        let toggle_text = if included {
            gettext_f(
                "Recording includes {name} (click to leave them out)",
                &[("name", &label)],
            )
        } else {
            gettext_f(
                "{name} is left out of the recording (click to include)",
                &[("name", &label)],
            )
        };
        imp.record_toggle.set_tooltip_text(Some(&toggle_text));
        crate::ui::a11y::label(&*imp.record_toggle, &toggle_text);
        imp.record_toggle.set_icon_name(if included {
            "media-record-symbolic"
        } else {
            "action-unavailable-symbolic"
        });
        if included {
            imp.record_toggle.add_css_class("recording-dot");
        } else {
            imp.record_toggle.remove_css_class("recording-dot");
        }

        match imp.recording_secs.get() {
            Some(secs) if included && !left => {
                imp.rec_time.set_label(&format_elapsed(secs));
                imp.rec_box.set_visible(true);
            }
            _ => imp.rec_box.set_visible(false),
        }

        imp.dismiss_button.set_visible(left);
        crate::ui::a11y::label(
            &*imp.dismiss_button,
            &gettext_f("Dismiss {name}'s tile", &[("name", &label)]),
        );
        if left {
            self.add_css_class("left");
        } else {
            self.remove_css_class("left");
        }
        self.update_property(&[gtk::accessible::Property::Label(&gettext_f(
            // Translators: what a screen reader says for a tile: the participant's name and their connection state.
            "{name}: {state}",
            &[("name", &label), ("state", &badge)],
        ))]);
    }
}

/// The badge's words: the state and, once chosen, the kind of pair in use.
fn badge_text(state: IceBadge, pair: PairBadge) -> String {
    match pair {
        PairBadge::None => state.text(),
        kind => gettext_f(
            // Translators: a participant's connection badge: the ICE state and the kinds of candidates in use (host, srflx, relay).
            "{state} · {pair}",
            &[("state", &state.text()), ("pair", kind.as_str())],
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elapsed_time_reads_as_a_clock() {
        assert_eq!(format_elapsed(0), "00:00:00");
        assert_eq!(format_elapsed(751), "00:12:31");
        assert_eq!(format_elapsed(3600 * 2 + 61), "02:01:01");
    }

    #[test]
    fn level_meter_maps_decibels() {
        assert_eq!(level_fraction(-100.0), 0.0);
        assert_eq!(level_fraction(0.0), 1.0);
        assert!((level_fraction(-30.0) - 0.5).abs() < 1e-9);
        assert_eq!(level_fraction(f64::NAN), 0.0);
    }
}
