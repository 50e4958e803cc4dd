//! One tile and one panel entry per participant: their health badge, problems and labels.
//!
//! The session's map of participants is never borrowed while a tile's or the panel's setters
//! run: they notify, and a notify handler that calls back into the session would find the
//! map borrowed and panic. Each place reads or updates the map, clones the tile (a reference)
//! and drops the borrow first.

use std::rc::Rc;

use adw::prelude::*;

use super::Session;
use crate::media::preview::{PauseHandle, VideoPreview};
use crate::room::{Health, ParticipantId, Problem};
use crate::ui::tile::{IceBadge, PairBadge, RoomtapeTile};

pub(super) struct Participant {
    pub(super) tile: RoomtapeTile,
    pub(super) health: Health,
    pub(super) video: Option<VideoPreview>,
    pub(super) problems: Vec<(Problem, String)>,
    /// In the room now (joined and not left since): a join is news only when this is false.
    pub(super) present: bool,
}

impl Session {
    pub(super) fn ensure_participant(&self, id: &str, label: &str, at_ms: Option<u64>) {
        self.inner.panel.ensure(id, label, at_ms);
        if self.inner.participants.borrow().contains_key(id) {
            return;
        }
        let Some(window) = self.window() else { return };
        let tile = RoomtapeTile::new(id, label);
        window.tile_box().append(&tile);
        let engine = self.inner.engine.borrow().clone();
        if let Some(engine) = &engine {
            tile.set_included(!engine.is_recording_excluded(id));
        }
        let weak = Rc::downgrade(&self.inner);
        tile.connect_included_notify(move |tile| {
            let Some(inner) = weak.upgrade() else { return };
            if let Some(engine) = inner.engine.borrow().as_ref() {
                engine.set_recording_excluded(&tile.participant_id(), !tile.included());
            }
        });
        let weak = Rc::downgrade(&self.inner);
        tile.connect_dismissed(move |tile| {
            let Some(inner) = weak.upgrade() else { return };
            let removed = inner
                .participants
                .borrow_mut()
                .remove(tile.participant_id().as_str());
            if let (Some(participant), Some(window)) = (removed, inner.window.upgrade()) {
                window.tile_box().remove(&participant.tile);
            }
        });
        tile.set_recording_secs(self.recording_secs());
        self.inner.participants.borrow_mut().insert(
            ParticipantId::from(id),
            Participant {
                tile,
                health: Health::default(),
                video: None,
                problems: Vec::new(),
                present: false,
            },
        );
    }

    pub(super) fn label_of(&self, id: &str) -> String {
        self.inner
            .participants
            .borrow()
            .get(id)
            .map(|p| p.tile.label())
            .unwrap_or_else(|| id.to_owned())
    }

    /// Renders a participant's health on the tile and in the panel.
    pub(super) fn show_health(&self, id: &str, at_ms: u64) {
        let (tile, state, pair) = {
            let participants = self.inner.participants.borrow();
            let Some(participant) = participants.get(id) else {
                return;
            };
            // Media that stopped on a connection that still looks up is the first sign of a
            // publisher that is gone: the badge stops being green before the room gives up on
            // it.
            let stalled = participant.health.is_connected()
                && participant
                    .problems
                    .iter()
                    .any(|(problem, _)| matches!(problem, Problem::NoRtp | Problem::NoPong));
            let state = if stalled {
                IceBadge::NoMedia
            } else {
                participant.health.ice_state().into()
            };
            (
                participant.tile.clone(),
                state,
                participant.health.selected_pair.clone(),
            )
        };
        tile.set_ice_state(state);
        tile.set_pair_kind(PairBadge::from(pair.as_ref().map(|p| p.badge_kind())));
        self.inner.panel.set_state(id, state, pair.as_ref(), at_ms);
    }

    pub(super) fn update_health(&self, id: &str, at_ms: u64, f: impl FnOnce(&mut Health)) {
        if self.with_participant(id, |p| f(&mut p.health)).is_some() {
            self.show_health(id, at_ms);
        }
    }

    pub(super) fn show_problems(&self, id: &str) {
        let (tile, text) = {
            let participants = self.inner.participants.borrow();
            let Some(participant) = participants.get(id) else {
                return;
            };
            let text = (!participant.problems.is_empty()).then(|| {
                participant
                    .problems
                    .iter()
                    .map(|(_, text)| text.clone())
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            (participant.tile.clone(), text)
        };
        tile.set_problem(text.as_deref());
        self.inner.panel.set_problem(id, text.as_deref());
    }

    /// The participant's tile, without holding the map borrowed (see the module's note).
    /// Changes what the session knows of participant `id`; the map is borrowed only for `f`,
    /// so whatever `f` hands back (a tile) is set up after, when its notifications may call
    /// back into the session.
    pub(super) fn with_participant<R>(
        &self,
        id: &str,
        f: impl FnOnce(&mut Participant) -> R,
    ) -> Option<R> {
        self.inner.participants.borrow_mut().get_mut(id).map(f)
    }

    pub(super) fn tile_of(&self, id: &str) -> Option<RoomtapeTile> {
        self.inner
            .participants
            .borrow()
            .get(id)
            .map(|p| p.tile.clone())
    }
}

/// A tile that is not on screen (the Recordings page is showing, the tile was dismissed)
/// decodes nothing, neither its picture nor its level meter: GTK unmaps it, and the preview's
/// valve closes until it is mapped again.
pub(super) fn pause_while_unmapped(tile: &RoomtapeTile, pause: &PauseHandle) {
    pause.set_paused(!tile.is_mapped());
    let on_map = pause.clone();
    tile.connect_map(move |_| on_map.set_paused(false));
    let on_unmap = pause.clone();
    tile.connect_unmap(move |_| on_unmap.set_paused(true));
}
