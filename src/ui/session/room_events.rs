//! What the engine and the room report, rendered as tiles, toasts and notifications.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use adw::prelude::*;
use gtk::{gdk, glib};

use super::participants::pause_while_unmapped;
use super::{Session, explain_unreachable};
use crate::i18n::{gettext, gettext_f};
use crate::media::engine::{EngineEvent, PreviewEvent};
use crate::room::{Health, LeaveReason, Problem, RoomEvent};
use crate::ui::tile::{IceBadge, PairBadge};
use crate::ui::window::{RoomtapeWindow, ViewState};

impl Session {
    pub(super) fn on_event(&self, event: EngineEvent, server: &str) {
        let Some(window) = self.window() else { return };
        match event {
            EngineEvent::Room(event) => self.on_room_event(&window, event, server),
            EngineEvent::FolderLost { dir, .. } => {
                window.show_toast(&gettext_f(
                    "The recording folder {folder} was deleted while recording; recording goes on in a new one",
                    &[("folder", &dir.display().to_string())],
                ));
            }
            EngineEvent::TrackRefused {
                participant,
                encoding,
                ..
            } => {
                let label = self.label_of(&participant);
                window.show_toast(&gettext_f(
                    // Translators: {codec} is a codec name such as AV1.
                    "{name} sends {codec}, which this computer cannot record; their other tracks are recorded",
                    &[("name", &label), ("codec", &encoding)],
                ));
            }
            EngineEvent::Preview(PreviewEvent::Video {
                participant,
                preview,
                ..
            }) => {
                self.ensure_participant(&participant, &participant.clone(), None);
                // Without gtk4paintablesink the preview decodes into a fakesink: no picture.
                let paintable = preview
                    .sink
                    .has_property("paintable")
                    .then(|| preview.sink.property::<gdk::Paintable>("paintable"));
                // The tile notifies as it takes the picture: the map is not borrowed meanwhile.
                if let Some(tile) = self.tile_of(&participant) {
                    if let Some(paintable) = &paintable {
                        tile.set_paintable(paintable);
                    }
                    pause_while_unmapped(&tile, &preview.pause);
                    self.with_participant(&participant, |p| p.video = Some(preview));
                }
            }
            EngineEvent::Preview(PreviewEvent::AudioMeter {
                participant, pause, ..
            }) => {
                self.ensure_participant(&participant, &participant.clone(), None);
                if let Some(tile) = self.tile_of(&participant) {
                    pause_while_unmapped(&tile, &pause);
                }
            }
            EngineEvent::Preview(PreviewEvent::Level {
                participant,
                peak_db,
            }) => {
                if let Some(tile) = self.tile_of(&participant) {
                    tile.set_level(peak_db);
                }
            }
            EngineEvent::Preview(PreviewEvent::Stats { participant, stats }) => {
                // The panel's labels notify as they change: hold the preview's counters, not
                // the map.
                let video = self
                    .inner
                    .participants
                    .borrow()
                    .get(&participant)
                    .and_then(|p| p.video.as_ref())
                    .map(|v| Arc::clone(&v.stats));
                self.inner.panel.update_stats(
                    &participant,
                    &stats,
                    video.as_deref().map(|v| (v, 0)),
                );
            }
            EngineEvent::RecordingStarted { dir } => {
                self.inner.last_session_dir.replace(Some(dir));
            }
            event @ (EngineEvent::RecordingFinished { .. }
            | EngineEvent::DiskSpace { .. }
            | EngineEvent::DiskLow { .. }
            | EngineEvent::DiskFloor { .. }) => self.on_recording_event(&window, event),
            EngineEvent::SegmentFinished {
                participant,
                outcome: Err(error),
                ..
            } => {
                let label = self.label_of(&participant);
                window.show_toast(&gettext_f(
                    "{name}'s recording could not be finished: {error}",
                    &[("name", &label), ("error", &error.message)],
                ));
            }
            EngineEvent::Fatal(message) => {
                if self.inner.joined.get() {
                    window.show_toast(&message);
                    crate::ui::notify::send(
                        &window,
                        "error",
                        &gettext("Room Error"),
                        &message,
                        &[],
                    );
                } else {
                    self.fail(explain_unreachable(server, &message));
                }
            }
            EngineEvent::SegmentFinished { .. }
            | EngineEvent::Track { .. }
            | EngineEvent::PeerClosed { .. }
            | EngineEvent::FirstKeyframe { .. } => {}
        }
    }

    pub(super) fn on_room_event(&self, window: &RoomtapeWindow, event: RoomEvent, server: &str) {
        match event {
            RoomEvent::SignalingConnected { .. } => {
                let first = !self.inner.joined.replace(true);
                window.set_view_state(ViewState::Room);
                if first && self.inner.settings.boolean("auto-record") {
                    self.toggle_recording();
                } else if !first {
                    window.show_toast(&gettext("Reconnected to the signaling server"));
                }
            }
            RoomEvent::SignalingLost { reason, .. } => {
                if self.inner.joined.get() {
                    window.show_toast(&gettext_f(
                        "Lost the signaling server ({reason}). Reconnecting; the connections to participants keep going.",
                        &[("reason", reason.trim_end_matches('.'))],
                    ));
                } else {
                    self.fail(explain_unreachable(server, &reason));
                }
            }
            RoomEvent::ServerMessage { message, .. } => {
                let text = crate::explain::server_message(&message);
                if self.inner.joined.get() {
                    window.show_toast(&text);
                } else {
                    self.fail(text);
                }
            }
            RoomEvent::Discovered {
                id,
                stream_id,
                at_ms,
            } => {
                self.ensure_participant(&id, &stream_id, Some(at_ms));
            }
            RoomEvent::Joined {
                id,
                stream_id,
                at_ms,
                ..
            } => {
                self.ensure_participant(&id, &stream_id, Some(at_ms));
                let mut came_in = false;
                let tile = self.with_participant(&id, |p| {
                    if p.tile.left() {
                        p.health = Health::default();
                        p.problems.clear();
                    }
                    came_in = !std::mem::replace(&mut p.present, true);
                    p.tile.clone()
                });
                // Set with the map no longer borrowed: the tile notifies.
                if let Some(tile) = tile {
                    tile.set_left(false);
                }
                if came_in {
                    self.notify_joined_soon(&id);
                }
                self.show_problems(&id);
                self.show_health(&id, at_ms);
            }
            RoomEvent::Label { id, label, at_ms } => {
                self.ensure_participant(&id, &label, Some(at_ms));
                if let Some(tile) = self.tile_of(&id) {
                    tile.set_label(label.as_str());
                }
                self.inner.panel.set_label(&id, &label);
            }
            RoomEvent::Left {
                id, reason, at_ms, ..
            } => {
                if reason == LeaveReason::Replaced {
                    return;
                }
                let label = self.label_of(&id);
                let tile = self.with_participant(&id, |p| {
                    p.present = false;
                    p.problems.clear();
                    if matches!(reason, LeaveReason::Vanished | LeaveReason::Failed) {
                        p.problems.push((
                            Problem::NoPong,
                            gettext_f("{name}’s connection was lost", &[("name", &label)]),
                        ));
                    }
                    p.tile.clone()
                });
                // Set with the map no longer borrowed: the tile notifies.
                if let Some(tile) = tile {
                    tile.set_connection_lost(matches!(
                        reason,
                        LeaveReason::Vanished | LeaveReason::Failed
                    ));
                    tile.set_left(true);
                    tile.set_ice_state(IceBadge::Closed);
                    tile.set_pair_kind(PairBadge::None);
                }
                self.show_problems(&id);
                self.inner
                    .panel
                    .set_state(&id, IceBadge::Closed, None, at_ms);
                let lost = matches!(reason, LeaveReason::Vanished | LeaveReason::Failed);
                crate::ui::notify::send(
                    window,
                    &format!("participant-{id}"),
                    &if lost {
                        gettext_f("{name}’s Connection Was Lost", &[("name", &label)])
                    } else {
                        gettext_f("{name} Left", &[("name", &label)])
                    },
                    &if lost {
                        gettext(
                            "Their recording so far is saved; they are recorded again if they come back.",
                        )
                    } else {
                        gettext("Their recording so far is saved.")
                    },
                    &[],
                );
            }
            RoomEvent::Connection { id, state, at_ms } => {
                self.update_health(&id, at_ms, |h| h.connection = state);
            }
            RoomEvent::Ice {
                id,
                transport,
                state,
                at_ms,
            } => {
                self.update_health(&id, at_ms, |h| {
                    h.transports.insert(transport, state);
                });
            }
            RoomEvent::ChannelOpen { id, at_ms } => {
                self.update_health(&id, at_ms, |h| h.channel_open = true);
            }
            RoomEvent::SelectedPair { id, pair, at_ms } => {
                self.update_health(&id, at_ms, |h| h.selected_pair = Some(pair));
            }
            RoomEvent::Candidate(entry) => {
                let id = entry.participant.clone();
                self.ensure_participant(&id, &id.clone(), Some(entry.at_ms));
                let label = self.label_of(&id);
                self.inner.panel.add_candidate(entry, &label);
            }
            RoomEvent::Watchdog { id, problem, at_ms } => {
                self.with_participant(&id, |p| {
                    p.problems.retain(|(known, _)| *known != problem);
                    p.problems.push((problem, crate::explain::problem(problem)));
                });
                self.show_problems(&id);
                self.show_health(&id, at_ms);
            }
            RoomEvent::WatchdogCleared {
                id, problem, at_ms, ..
            } => {
                self.with_participant(&id, |p| p.problems.retain(|(known, _)| *known != problem));
                self.show_problems(&id);
                self.show_health(&id, at_ms);
            }
            RoomEvent::Dropped { reason, .. } => {
                if let Some(hint) = crate::explain::dropped(&reason)
                    && !self.inner.password_hint_shown.replace(true)
                {
                    window.show_toast(&hint);
                }
            }
            RoomEvent::MediaFlowing { .. } => {}
        }
    }

    /// Says that `id` joined once their name is known (it comes over the data channel just
    /// after the join), unless they left again meanwhile.
    pub(super) fn notify_joined_soon(&self, id: &str) {
        const NAME_WAIT: Duration = Duration::from_millis(1500);
        let weak = Rc::downgrade(&self.inner);
        let id = id.to_owned();
        let generation = self.inner.generation.get();
        glib::timeout_add_local_once(NAME_WAIT, move || {
            let Some(inner) = weak.upgrade() else { return };
            let session = Session { inner };
            let present = session
                .inner
                .participants
                .borrow()
                .get(id.as_str())
                .is_some_and(|p| p.present);
            if session.inner.generation.get() != generation || !present {
                return;
            }
            let Some(window) = session.window() else {
                return;
            };
            let label = session.label_of(&id);
            crate::ui::notify::send(
                &window,
                &format!("participant-{id}"),
                &gettext_f("{name} Joined", &[("name", &label)]),
                &gettext_f(
                    "{name} is in {room}",
                    &[
                        ("name", &label),
                        ("room", &session.inner.room_name.borrow()),
                    ],
                ),
                &[],
            );
        });
    }
}
