//! The recording as the window shows it: the Record button's state and words, and the question
//! asked before anything would stop a running recording.

use adw::prelude::*;
use gtk::glib;

use super::{RoomtapeWindow, imp};
use crate::i18n::{gettext, gettext_f};

/// Where the room's recording is: the Record button reads "Record Room", a red "Stop · hh:mm:ss"
/// while running, and "Finishing…" until every file is final.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, glib::Enum)]
#[enum_type(name = "RoomtapeRecordState")]
pub enum RecordState {
    #[default]
    Idle,
    Running,
    /// Stopped: the files are being finalised.
    Finishing,
}

// The Record button's words and icon, bound in the template to the record state.
#[gtk::template_callbacks(functions)]
impl imp::RoomtapeWindow {
    #[template_callback]
    fn record_icon(state: RecordState) -> &'static str {
        match state {
            RecordState::Idle => "media-record-symbolic",
            RecordState::Running => "media-playback-stop-symbolic",
            RecordState::Finishing => "content-loading-symbolic",
        }
    }

    #[template_callback]
    fn record_label(state: RecordState, elapsed: u64) -> String {
        match state {
            RecordState::Idle => gettext("_Record Room"),
            RecordState::Running => gettext_f(
                // Translators: the record button while recording; {elapsed} is the time recorded so far (1:02:03). The underscore marks the access key.
                "_Stop · {elapsed}",
                &[("elapsed", &crate::ui::tile::format_elapsed(elapsed))],
            ),
            RecordState::Finishing => gettext("Finishing…"),
        }
    }

    #[template_callback]
    fn record_tooltip(state: RecordState) -> String {
        match state {
            RecordState::Idle => {
                gettext("Record every participant, each into its own file (Ctrl+R)")
            }
            RecordState::Running => gettext("Stop recording and finish every file (Ctrl+R)"),
            RecordState::Finishing => gettext("Every participant's file is being finalised"),
        }
    }
}

impl RoomtapeWindow {
    /// Asks before closing while a recording runs; "Stop and Close" emits
    /// `stop-and-close-requested`.
    pub(super) fn confirm_close(&self) {
        self.confirm_stop(
            &gettext("Stop Recording and Close?"),
            &gettext(
                "The room is being recorded. Closing stops the recording and finishes every file first.",
            ),
            &gettext("_Stop and Close"),
            |win| win.emit_by_name::<()>("stop-and-close-requested", &[]),
        );
    }

    /// Whether leaving the room now would stop a recording (running or finishing its files).
    pub(super) fn leaving_stops_a_recording(&self) -> bool {
        self.record_state() != RecordState::Idle
    }

    /// The same question as closing the window, for anything else that would end a running
    /// recording: `then` runs only when the operator chose to stop.
    pub(super) fn confirm_stop(
        &self,
        heading: &str,
        body: &str,
        stop_label: &str,
        then: impl Fn(&Self) + 'static,
    ) {
        let dialog = adw::MessageDialog::new(Some(self), Some(heading), Some(body));
        dialog.add_responses(&[
            ("cancel", &gettext("_Keep Recording")),
            ("stop", stop_label),
        ]);
        dialog.set_response_appearance("stop", adw::ResponseAppearance::Destructive);
        dialog.set_default_response(Some("cancel"));
        dialog.set_close_response("cancel");
        dialog.connect_response(
            None,
            glib::clone!(
                #[weak(rename_to = win)]
                self,
                move |_, response| {
                    if response == "stop" {
                        then(&win);
                    }
                }
            ),
        );
        dialog.present();
    }

    pub fn connect_stop_and_close_requested<F: Fn(&Self) + 'static>(
        &self,
        f: F,
    ) -> glib::SignalHandlerId {
        self.connect_closure(
            "stop-and-close-requested",
            false,
            glib::closure_local!(move |win: &Self| f(win)),
        )
    }
}
