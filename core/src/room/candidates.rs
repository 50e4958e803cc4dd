//! Remote candidates per peer session, and the candidate log.
//!
//! A candidate is held only until that session's remote description is applied; from then on
//! every candidate is applied at once. The reference recorder parked late candidates forever.

use serde::Serialize;

use crate::ids::{ParticipantId, SessionId};
use crate::protocol::candidate::{ParsedCandidate, parse_candidate};
use crate::protocol::message::IceCandidateInit;

/// Where a candidate came from, seen from this recorder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CandidateDirection {
    /// Gathered here and sent to the participant.
    Local,
    /// Received from the participant.
    Remote,
}

/// One line of the candidate log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CandidateLogEntry {
    pub at_ms: u64,
    pub participant: ParticipantId,
    pub session: SessionId,
    pub direction: CandidateDirection,
    /// host / srflx / prflx / relay, or "?" when the line could not be parsed.
    pub kind: String,
    pub protocol: String,
    pub address: String,
    pub port: u16,
    pub accepted: bool,
    /// Why it was rejected, or a note (e.g. "mDNS name: resolves only on the same LAN").
    pub note: Option<String>,
    /// The address is an mDNS name (`….local`), which resolves only on the same LAN; the
    /// front-ends say so next to it.
    #[serde(skip)]
    pub mdns: bool,
}

impl CandidateLogEntry {
    /// Builds a log line from a raw candidate string; the result says whether it is usable.
    pub fn from_raw(
        at_ms: u64,
        participant: &str,
        session: &str,
        direction: CandidateDirection,
        raw: &str,
    ) -> (CandidateLogEntry, Option<ParsedCandidate>) {
        match parse_candidate(raw) {
            Ok(parsed) => {
                let mdns = parsed.is_mdns;
                (
                    CandidateLogEntry {
                        at_ms,
                        participant: participant.into(),
                        session: session.into(),
                        direction,
                        kind: parsed.kind.as_str().to_owned(),
                        protocol: parsed.protocol.to_string(),
                        address: parsed.address.clone(),
                        port: parsed.port,
                        accepted: true,
                        note: None,
                        mdns,
                    },
                    Some(parsed),
                )
            }
            Err(err) => (
                CandidateLogEntry {
                    at_ms,
                    participant: participant.into(),
                    session: session.into(),
                    direction,
                    kind: "?".to_owned(),
                    protocol: "?".to_owned(),
                    address: String::new(),
                    port: 0,
                    accepted: false,
                    note: Some(err.to_string()),
                    mdns: false,
                },
                None,
            ),
        }
    }

    /// A line for "copy as text" in a bug report.
    pub fn to_text_line(&self) -> String {
        let direction = match self.direction {
            CandidateDirection::Local => "local ",
            CandidateDirection::Remote => "remote",
        };
        let verdict = if self.accepted { "ok" } else { "REJECTED" };
        let mut line = format!(
            "{:>9.3}s {} {} {:<5} {:<3} {}:{} {}",
            self.at_ms as f64 / 1000.0,
            self.participant,
            direction,
            self.kind,
            self.protocol,
            self.address,
            self.port,
            verdict
        );
        if let Some(note) = &self.note {
            line.push_str(" (");
            line.push_str(note);
            line.push(')');
        }
        line
    }
}

/// The most candidates one session may send; more is abuse, not a network.
pub const MAX_CANDIDATES_PER_SESSION: usize = 256;

/// What to do with a candidate that just arrived.
#[derive(Debug, PartialEq)]
pub enum Admission {
    ApplyNow(IceCandidateInit),
    Held,
    Rejected(String),
}

/// The remote candidates of one peer session.
#[derive(Debug, Default)]
pub struct CandidateQueue {
    held: Vec<IceCandidateInit>,
    remote_applied: bool,
    received: usize,
}

impl CandidateQueue {
    pub fn new() -> CandidateQueue {
        CandidateQueue::default()
    }

    /// Takes a validated candidate: applied now when the remote description is in, else held.
    pub fn admit(&mut self, candidate: IceCandidateInit) -> Admission {
        if self.received >= MAX_CANDIDATES_PER_SESSION {
            return Admission::Rejected(format!(
                "more than {MAX_CANDIDATES_PER_SESSION} candidates in one session"
            ));
        }
        self.received += 1;
        if self.remote_applied {
            Admission::ApplyNow(candidate)
        } else {
            self.held.push(candidate);
            Admission::Held
        }
    }

    /// The remote description is applied: everything held goes out, nothing is parked later.
    pub fn remote_description_applied(&mut self) -> Vec<IceCandidateInit> {
        self.remote_applied = true;
        std::mem::take(&mut self.held)
    }

    pub fn is_remote_applied(&self) -> bool {
        self.remote_applied
    }

    pub fn held_count(&self) -> usize {
        self.held.len()
    }

    pub fn received_count(&self) -> usize {
        self.received
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(port: u16) -> IceCandidateInit {
        IceCandidateInit {
            candidate: format!("candidate:1 1 udp 2122260223 127.0.0.1 {port} typ host"),
            sdp_m_line_index: Some(0),
            sdp_mid: Some("0".into()),
            username_fragment: None,
        }
    }

    #[test]
    fn candidates_wait_for_the_remote_description_then_flow_immediately() {
        let mut queue = CandidateQueue::new();
        assert_eq!(queue.admit(cand(1)), Admission::Held);
        assert_eq!(queue.admit(cand(2)), Admission::Held);
        let drained = queue.remote_description_applied();
        assert_eq!(drained, vec![cand(1), cand(2)]);
        assert_eq!(queue.held_count(), 0);
        // Late candidates are never parked.
        assert_eq!(queue.admit(cand(3)), Admission::ApplyNow(cand(3)));
        assert!(queue.remote_description_applied().is_empty());
        assert_eq!(queue.admit(cand(4)), Admission::ApplyNow(cand(4)));
    }

    #[test]
    fn a_flood_of_candidates_is_cut_off() {
        let mut queue = CandidateQueue::new();
        queue.remote_description_applied();
        for i in 0..MAX_CANDIDATES_PER_SESSION {
            assert!(matches!(
                queue.admit(cand(i as u16 + 1)),
                Admission::ApplyNow(_)
            ));
        }
        assert!(matches!(queue.admit(cand(9)), Admission::Rejected(_)));
    }

    #[test]
    fn log_entries_describe_good_and_bad_candidates() {
        let (entry, parsed) = CandidateLogEntry::from_raw(
            1500,
            "alice",
            "s1",
            CandidateDirection::Remote,
            "candidate:1 1 udp 2122260223 192.168.1.4 50012 typ host",
        );
        assert!(parsed.is_some());
        assert!(entry.accepted);
        assert_eq!(entry.kind, "host");
        assert_eq!(entry.port, 50012);
        assert!(entry.to_text_line().contains("192.168.1.4:50012 ok"));

        let (entry, parsed) =
            CandidateLogEntry::from_raw(0, "bob", "s", CandidateDirection::Remote, "garbage");
        assert!(parsed.is_none());
        assert!(!entry.accepted);
        assert!(entry.note.is_some());
        assert!(entry.to_text_line().contains("REJECTED"));
    }
}
