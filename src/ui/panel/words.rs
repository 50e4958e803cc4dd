//! What the panel says: bitrates and candidate log lines in words. The ICE states' words are
//! the tile's (`IceBadge::text`), so the badges in both places read the same.

use crate::i18n::gettext;
use crate::room::{CandidateDirection, CandidateLogEntry};

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
