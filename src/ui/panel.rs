//! The side panel: per-participant connection details and the ICE candidate log.
//!
//! Plain Rust over the window's list boxes; the session feeds it room events.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use adw::prelude::*;
use gtk::{gio, glib};

use crate::i18n::{gettext, gettext_f};
use crate::media::preview::PreviewStats;
use crate::media::stats::LinkStats;
use crate::room::{CandidateDirection, CandidateLogEntry, SelectedPair};
use crate::ui::RoomtapeWindow;

/// The ICE badge's state in words.
pub fn ice_state_text(state: &str) -> String {
    match state {
        "new" => gettext("new"),
        "checking" => gettext("checking"),
        "connected" => gettext("connected"),
        "completed" => gettext("completed"),
        "failed" => gettext("failed"),
        "disconnected" => gettext("disconnected"),
        "closed" => gettext("closed"),
        // Translators: a badge; the connection looks up, but no audio or video has arrived for
        // a few seconds.
        "no-media" => gettext("no media"),
        other => other.to_owned(),
    }
}

/// Candidate types the type filter offers, after "All types".
const TYPES: [&str; 4] = ["host", "srflx", "prflx", "relay"];

/// One logged candidate with what the panel shows about it.
#[derive(Debug, Clone)]
pub struct LoggedCandidate {
    pub entry: CandidateLogEntry,
    pub label: String,
    pub wall: String,
}

impl LoggedCandidate {
    /// One line of the log, as shown and as copied or saved.
    pub fn text_line(&self) -> String {
        let e = &self.entry;
        let arrow = match e.direction {
            CandidateDirection::Local => gettext("local →"),
            CandidateDirection::Remote => gettext("remote ←"),
        };
        let verdict = if e.accepted {
            gettext("accepted")
        } else {
            gettext("rejected")
        };
        let mut line = format!(
            "{} {} {} {} {} {}:{} {}",
            self.wall, self.label, arrow, e.kind, e.protocol, e.address, e.port, verdict
        );
        if let Some(note) = crate::explain::candidate_note(e) {
            line.push_str(&format!(" ({note})"));
        }
        line
    }
}

/// Bitrate in words: "2.4 Mb/s", "310 kb/s".
pub fn format_bitrate(bits_per_second: f64) -> String {
    if bits_per_second >= 1_000_000.0 {
        format!("{:.1} Mb/s", bits_per_second / 1_000_000.0)
    } else {
        format!("{:.0} kb/s", bits_per_second / 1000.0)
    }
}

struct ConnectionRow {
    row: gtk::ListBoxRow,
    title: gtk::Label,
    badge: gtk::Label,
    history: gtk::Label,
    pair: gtk::Label,
    stats: gtk::Label,
    problem: gtk::Label,
    joined_ms: Option<u64>,
    transitions: Vec<String>,
    last_state: String,
    last_stats: Option<(Instant, u64, u64)>,
}

struct Inner {
    window: glib::WeakRef<RoomtapeWindow>,
    connections: gtk::ListBox,
    candidates: gtk::ListBox,
    participant_filter: gtk::DropDown,
    type_filter: gtk::DropDown,
    participant_model: gtk::StringList,
    participant_ids: RefCell<Vec<String>>,
    rows: RefCell<BTreeMap<String, ConnectionRow>>,
    log: Rc<RefCell<Vec<LoggedCandidate>>>,
    save_dialog: RefCell<Option<gtk::FileChooserNative>>,
}

/// The side panel of one window.
#[derive(Clone)]
pub struct Panel {
    inner: Rc<Inner>,
}

impl Panel {
    pub fn new(window: &RoomtapeWindow) -> Panel {
        let participant_model = gtk::StringList::new(&[&gettext("All participants")]);
        let participant_filter = window.candidate_participant_filter();
        participant_filter.set_model(Some(&participant_model));
        let mut types = vec![gettext("All types")];
        types.extend(TYPES.iter().map(|t| (*t).to_owned()));
        let type_refs: Vec<&str> = types.iter().map(String::as_str).collect();
        let type_filter = window.candidate_type_filter();
        type_filter.set_model(Some(&gtk::StringList::new(&type_refs)));

        let panel = Panel {
            inner: Rc::new(Inner {
                window: window.downgrade(),
                connections: window.connections_list(),
                candidates: window.candidates_list(),
                participant_filter,
                type_filter,
                participant_model,
                participant_ids: RefCell::new(vec![String::new()]),
                rows: RefCell::new(BTreeMap::new()),
                log: Rc::new(RefCell::new(Vec::new())),
                save_dialog: RefCell::new(None),
            }),
        };
        let weak = Rc::downgrade(&panel.inner);
        panel.inner.candidates.set_filter_func(move |row| {
            let Some(inner) = weak.upgrade() else {
                return true;
            };
            let Ok(index) = usize::try_from(row.index()) else {
                return true;
            };
            inner.log.borrow().get(index).is_none_or(|logged| {
                Panel {
                    inner: inner.clone(),
                }
                .passes(logged)
            })
        });
        for dropdown in [&panel.inner.participant_filter, &panel.inner.type_filter] {
            let weak = Rc::downgrade(&panel.inner);
            dropdown.connect_selected_notify(move |_| {
                if let Some(inner) = weak.upgrade() {
                    inner.candidates.invalidate_filter();
                }
            });
        }
        let weak = Rc::downgrade(&panel.inner);
        window.candidate_copy_button().connect_clicked(move |_| {
            if let Some(inner) = weak.upgrade() {
                Panel { inner }.copy();
            }
        });
        let weak = Rc::downgrade(&panel.inner);
        window.candidate_save_button().connect_clicked(move |_| {
            if let Some(inner) = weak.upgrade() {
                Panel { inner }.save();
            }
        });
        panel
    }

    fn passes(&self, logged: &LoggedCandidate) -> bool {
        let participant = self.inner.participant_filter.selected() as usize;
        if participant > 0 {
            let ids = self.inner.participant_ids.borrow();
            if ids.get(participant).map(String::as_str) != Some(logged.entry.participant.as_str()) {
                return false;
            }
        }
        let kind = self.inner.type_filter.selected() as usize;
        kind == 0 || TYPES.get(kind - 1) == Some(&logged.entry.kind.as_str())
    }

    /// Removes everything (a new room).
    pub fn clear(&self) {
        let inner = &self.inner;
        for (_, row) in std::mem::take(&mut *inner.rows.borrow_mut()) {
            inner.connections.remove(&row.row);
        }
        inner.log.borrow_mut().clear();
        while let Some(row) = inner.candidates.row_at_index(0) {
            inner.candidates.remove(&row);
        }
        inner.participant_filter.set_selected(0);
        let count = inner.participant_model.n_items();
        inner
            .participant_model
            .splice(1, count.saturating_sub(1), &[]);
        inner.participant_ids.borrow_mut().truncate(1);
    }

    /// Makes sure a participant has a row; `at_ms` of joining anchors the timestamps.
    pub fn ensure(&self, id: &str, label: &str, joined_ms: Option<u64>) {
        let inner = &self.inner;
        if let Some(row) = inner.rows.borrow_mut().get_mut(id) {
            if row.joined_ms.is_none() {
                row.joined_ms = joined_ms;
            }
            return;
        }
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
            .label(ice_state_text("new"))
            .css_classes(["ice-badge", "ice-new"])
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
        inner.connections.append(&row);
        inner.rows.borrow_mut().insert(
            id.to_owned(),
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
                last_state: String::new(),
                last_stats: None,
            },
        );
        inner.participant_model.append(label);
        inner.participant_ids.borrow_mut().push(id.to_owned());
    }

    pub fn set_label(&self, id: &str, label: &str) {
        if let Some(row) = self.inner.rows.borrow().get(id) {
            row.title.set_label(label);
        }
        let position = self
            .inner
            .participant_ids
            .borrow()
            .iter()
            .position(|p| p == id);
        if let Some(position) = position {
            self.inner
                .participant_model
                .splice(position as u32, 1, &[label]);
        }
        // Lines logged before the participant said their name show it from now on, in the
        // list and in what Copy and Save… write.
        let mut log = self.inner.log.borrow_mut();
        for (index, logged) in log.iter_mut().enumerate() {
            if logged.entry.participant != id || logged.label == label {
                continue;
            }
            logged.label = label.to_owned();
            if let Some(text) = i32::try_from(index)
                .ok()
                .and_then(|i| self.inner.candidates.row_at_index(i))
                .and_then(|row| row.child())
                .and_then(|child| child.downcast::<gtk::Label>().ok())
            {
                text.set_label(&logged.text_line());
            }
        }
    }

    /// Records a state change (with its time) and refreshes the badge.
    pub fn set_state(&self, id: &str, state: &str, pair: Option<&SelectedPair>, at_ms: u64) {
        let mut rows = self.inner.rows.borrow_mut();
        let Some(row) = rows.get_mut(id) else { return };
        if row.last_state != state {
            row.last_state = state.to_owned();
            let since = at_ms.saturating_sub(row.joined_ms.unwrap_or(at_ms));
            row.transitions.push(format!(
                "{} {:.2} s",
                ice_state_text(state),
                since as f64 / 1000.0
            ));
            row.history.set_label(&row.transitions.join(" → "));
            row.history.set_visible(true);
        }
        for class in row.badge.css_classes() {
            if class.starts_with("ice-") && class != "ice-badge" {
                row.badge.remove_css_class(&class);
            }
        }
        row.badge.add_css_class(&format!("ice-{state}"));
        let badge = match pair {
            Some(pair) => format!("{} · {}", ice_state_text(state), pair.badge_kind().as_str()),
            None => ice_state_text(state),
        };
        row.badge.set_label(&badge);
        if let Some(pair) = pair {
            row.pair.set_label(&gettext_f(
                // Translators: the candidate pair in use; the kinds are host, srflx, prflx or relay, the addresses are IP:port.
                "Pair: {local_kind} {local_address} ↔ {remote_kind} {remote_address}",
                &[
                    ("local_kind", pair.local_kind.as_str()),
                    ("local_address", &pair.local_address),
                    ("remote_kind", pair.remote_kind.as_str()),
                    ("remote_address", &pair.remote_address),
                ],
            ));
            row.pair.set_visible(true);
        }
    }

    pub fn set_problem(&self, id: &str, problem: Option<&str>) {
        if let Some(row) = self.inner.rows.borrow().get(id) {
            row.problem.set_label(problem.unwrap_or_default());
            row.problem.set_visible(problem.is_some());
        }
    }

    /// Bitrate, loss and RTT from webrtcbin; resolution and frame rate from the preview.
    pub fn update_stats(&self, id: &str, link: &LinkStats, video: Option<(&PreviewStats, u64)>) {
        let mut rows = self.inner.rows.borrow_mut();
        let Some(row) = rows.get_mut(id) else { return };
        let now = Instant::now();
        let frames = video.map_or(0, |(stats, _)| stats.frames_decoded.load(Ordering::Relaxed));
        let mut parts = Vec::new();
        if let Some((then, bytes, old_frames)) = row.last_stats {
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
        row.last_stats = Some((now, link.bytes_received, frames));
        if !parts.is_empty() {
            row.stats.set_label(&parts.join(" · "));
            row.stats.set_visible(true);
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
        self.inner.log.borrow_mut().push(logged);
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
        self.inner.candidates.append(&row);
    }

    /// Logged candidates per participant id (what the log holds, unfiltered).
    pub fn candidate_counts(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        let mut index = 0;
        while let Some(row) = self.inner.candidates.row_at_index(index) {
            *counts.entry(row.widget_name().to_string()).or_insert(0) += 1;
            index += 1;
        }
        counts
    }

    /// The lines the filters let through.
    pub fn visible_text(&self) -> String {
        let mut out = String::new();
        for logged in self.inner.log.borrow().iter().filter(|l| self.passes(l)) {
            out.push_str(&logged.text_line());
            out.push('\n');
        }
        out
    }

    fn copy(&self) {
        let Some(window) = self.inner.window.upgrade() else {
            return;
        };
        let text = self.visible_text();
        window.clipboard().set_text(&text);
        window.show_toast(&gettext("Candidate log copied"));
    }

    /// The Save… button: asks for a file, then [`Self::save_to`] it.
    fn save(&self) {
        let Some(window) = self.inner.window.upgrade() else {
            return;
        };
        let dialog = gtk::FileChooserNative::new(
            Some(&gettext("Save Candidate Log")),
            Some(&window),
            gtk::FileChooserAction::Save,
            Some(&gettext("_Save")),
            Some(&gettext("_Cancel")),
        );
        dialog.set_modal(true);
        dialog.set_current_name("candidates.txt");
        let weak = Rc::downgrade(&self.inner);
        dialog.connect_response(move |dialog, response| {
            let Some(inner) = weak.upgrade() else { return };
            inner.save_dialog.replace(None);
            if response != gtk::ResponseType::Accept {
                return;
            }
            if let Some(path) = dialog.file().and_then(|f| gio::File::path(&f)) {
                Panel { inner }.save_to(&path);
            }
        });
        dialog.show();
        self.inner.save_dialog.replace(Some(dialog));
    }

    /// The file dialog the Save… button opened, while it is open (for the test hook).
    pub fn save_dialog(&self) -> Option<gtk::FileChooserNative> {
        self.inner.save_dialog.borrow().clone()
    }

    /// Writes the lines the filters let through to `path` and tells the operator how it went.
    pub fn save_to(&self, path: &std::path::Path) -> bool {
        let result = std::fs::write(path, self.visible_text().as_bytes());
        if let Some(window) = self.inner.window.upgrade() {
            window.show_toast(&match &result {
                Ok(()) => gettext_f(
                    "Saved the candidate log to {path}",
                    &[("path", &path.display().to_string())],
                ),
                Err(err) => gettext_f(
                    "Could not save the candidate log: {error}",
                    &[("error", &err.to_string())],
                ),
            });
        }
        if let Err(err) = &result {
            tracing::warn!(
                "could not save the candidate log to {}: {err}",
                path.display()
            );
        }
        result.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitrates_read_naturally() {
        assert_eq!(format_bitrate(2_400_000.0), "2.4 Mb/s");
        assert_eq!(format_bitrate(310_000.0), "310 kb/s");
    }

    #[test]
    fn candidate_lines_say_everything() {
        let (entry, _) = CandidateLogEntry::from_raw(
            10,
            "uuid1",
            "s1",
            CandidateDirection::Remote,
            "candidate:1 1 udp 2122260223 192.168.1.4 50012 typ host",
        );
        let logged = LoggedCandidate {
            entry,
            label: "Alice".into(),
            wall: "12:01:03".into(),
        };
        let line = logged.text_line();
        for part in [
            "12:01:03",
            "Alice",
            "host",
            "udp",
            "192.168.1.4:50012",
            "accepted",
        ] {
            assert!(line.contains(part), "{line} lacks {part}");
        }
        let (bad, _) =
            CandidateLogEntry::from_raw(10, "u", "s", CandidateDirection::Local, "garbage");
        let line = LoggedCandidate {
            entry: bad,
            label: "Bob".into(),
            wall: String::new(),
        }
        .text_line();
        assert!(line.contains("rejected"), "{line}");
    }
}
