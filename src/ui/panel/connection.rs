//! One participant's row in the Connections list: name, ICE badge, the states it went
//! through, the candidate pair in use, link statistics and the current problem.

use std::sync::atomic::Ordering;
use std::time::Instant;

use adw::prelude::*;

use super::words::format_bitrate;
use crate::i18n::gettext_f;
use crate::media::preview::PreviewStats;
use crate::media::stats::LinkStats;
use crate::room::SelectedPair;
use crate::ui::tile::IceBadge;

#[derive(Debug)]
pub(super) struct ConnectionRow {
    pub(super) row: gtk::ListBoxRow,
    title: gtk::Label,
    badge: gtk::Label,
    history: gtk::Label,
    pair: gtk::Label,
    stats: gtk::Label,
    problem: gtk::Label,
    joined_ms: Option<u64>,
    transitions: Vec<String>,
    /// The state last recorded, `None` until the first one: that one is a transition too.
    last_state: Option<IceBadge>,
    last_stats: Option<(Instant, u64, u64)>,
}

impl ConnectionRow {
    /// A row for participant `id`; `joined_ms` anchors the times of its state changes.
    pub(super) fn new(id: &str, label: &str, joined_ms: Option<u64>) -> Self {
        let vbox = gtk::Box::builder()
            .orientation(gtk::Orientation::Vertical)
            .spacing(2)
            .margin_top(6)
            .margin_bottom(6)
            .build();
        let head = gtk::Box::builder().spacing(8).build();
        let title = gtk::Label::builder()
            .label(label)
            .xalign(0.0)
            .hexpand(true)
            .ellipsize(gtk::pango::EllipsizeMode::End)
            .css_classes(["heading"])
            .build();
        let badge = gtk::Label::builder()
            .label(IceBadge::New.text())
            .css_classes(["ice-badge".to_owned(), IceBadge::New.css_class()])
            .build();
        head.append(&title);
        head.append(&badge);
        let small = |classes: &[&str]| {
            gtk::Label::builder()
                .xalign(0.0)
                .wrap(true)
                .wrap_mode(gtk::pango::WrapMode::WordChar)
                .selectable(true)
                .visible(false)
                .css_classes(classes.iter().map(|c| (*c).to_owned()).collect::<Vec<_>>())
                .build()
        };
        let history = small(&["caption"]);
        let pair = small(&["caption", "dim-label"]);
        let stats = small(&["caption", "numeric"]);
        let problem = small(&["caption", "warning"]);
        for child in [
            &head.clone().upcast::<gtk::Widget>(),
            history.upcast_ref(),
            pair.upcast_ref(),
            stats.upcast_ref(),
            problem.upcast_ref(),
        ] {
            vbox.append(child);
        }
        let row = gtk::ListBoxRow::builder()
            .child(&vbox)
            .activatable(false)
            .name(id)
            .build();
        ConnectionRow {
            row,
            title,
            badge,
            history,
            pair,
            stats,
            problem,
            joined_ms,
            transitions: Vec::new(),
            last_state: None,
            last_stats: None,
        }
    }

    /// The join time, when the row was made before it was known.
    pub(super) fn anchor(&mut self, joined_ms: Option<u64>) {
        if self.joined_ms.is_none() {
            self.joined_ms = joined_ms;
        }
    }

    pub(super) fn set_label(&self, label: &str) {
        self.title.set_label(label);
    }

    /// Records a state change (with its time) and refreshes the badge.
    pub(super) fn set_state(&mut self, state: IceBadge, pair: Option<&SelectedPair>, at_ms: u64) {
        if self.last_state.replace(state) != Some(state) {
            let since = at_ms.saturating_sub(self.joined_ms.unwrap_or(at_ms));
            self.transitions
                .push(format!("{} {:.2} s", state.text(), since as f64 / 1000.0));
            self.history.set_label(&self.transitions.join(" → "));
            self.history.set_visible(true);
        }
        for other in IceBadge::ALL {
            self.badge.remove_css_class(&other.css_class());
        }
        self.badge.add_css_class(&state.css_class());
        let badge = match pair {
            Some(pair) => format!("{} · {}", state.text(), pair.badge_kind().as_str()),
            None => state.text(),
        };
        self.badge.set_label(&badge);
        if let Some(pair) = pair {
            self.pair.set_label(&gettext_f(
                // Translators: the candidate pair in use; the kinds are host, srflx, prflx or relay, the addresses are IP:port.
                "Pair: {local_kind} {local_address} ↔ {remote_kind} {remote_address}",
                &[
                    ("local_kind", pair.local_kind.as_str()),
                    ("local_address", &pair.local_address),
                    ("remote_kind", pair.remote_kind.as_str()),
                    ("remote_address", &pair.remote_address),
                ],
            ));
            self.pair.set_visible(true);
        }
    }

    pub(super) fn set_problem(&self, problem: Option<&str>) {
        self.problem.set_label(problem.unwrap_or_default());
        self.problem.set_visible(problem.is_some());
    }

    /// Bitrate, loss and RTT from webrtcbin; resolution and frame rate from the preview.
    pub(super) fn update_stats(&mut self, link: &LinkStats, video: Option<(&PreviewStats, u64)>) {
        let now = Instant::now();
        let frames = video.map_or(0, |(stats, _)| stats.frames_decoded.load(Ordering::Relaxed));
        let mut parts = Vec::new();
        if let Some((then, bytes, old_frames)) = self.last_stats {
            let secs = now.duration_since(then).as_secs_f64();
            if secs > 0.2 {
                let bits = link.bytes_received.saturating_sub(bytes) as f64 * 8.0 / secs;
                parts.push(format_bitrate(bits));
                parts.push(gettext_f(
                    // Translators: packet loss of a participant's connection.
                    "{percent} % loss",
                    &[("percent", &format!("{:.1}", link.loss_percent()))],
                ));
                if let Some(rtt) = link.rtt_ms {
                    parts.push(gettext_f(
                        // Translators: round-trip time of a participant's connection.
                        "RTT {milliseconds} ms",
                        &[("milliseconds", &format!("{rtt:.0}"))],
                    ));
                }
                if let Some((stats, _)) = video {
                    let (w, h) = (
                        stats.width.load(Ordering::Relaxed),
                        stats.height.load(Ordering::Relaxed),
                    );
                    if w > 0 && h > 0 {
                        let fps = frames.saturating_sub(old_frames) as f64 / secs;
                        parts.push(format!("{w}×{h} @ {fps:.0} fps"));
                    }
                }
            }
        }
        self.last_stats = Some((now, link.bytes_received, frames));
        if !parts.is_empty() {
            self.stats.set_label(&parts.join(" · "));
            self.stats.set_visible(true);
        }
    }
}
