//! What the room reports as data, in words for the operator (translated): the front-ends'
//! side of `roomtape-core`, which says what happened but not how to say it.

use crate::i18n::gettext;
use crate::room::{CandidateLogEntry, Problem};

/// A sentence for the operator: what happened and what to check.
pub fn problem(problem: Problem) -> String {
    match problem {
        Problem::NoRemoteCandidates => gettext(
            "No remote candidates after 10 s: the other side's candidates never arrived. Check TURN or the signaling server.",
        ),
        Problem::IceStuck => gettext(
            "ICE is still checking after 10 s: no candidate pair works. A firewall may block UDP; try a TURN server.",
        ),
        Problem::NoRtp => {
            gettext("No media for 3 s: the connection is up but no audio or video arrives.")
        }
        Problem::NoPong => gettext(
            "The connection was lost: the participant stopped answering on the data channel.",
        ),
        Problem::TurnRefused => gettext(
            "The TURN server refused the credentials: check the user name and password of the TURN URL.",
        ),
        Problem::NoOffer => {
            gettext("No offer 10 s after asking for the stream: the publisher did not answer.")
        }
    }
}

/// The note shown after a candidate: why it was rejected, or that an mDNS name works only on
/// the same LAN.
pub fn candidate_note(entry: &CandidateLogEntry) -> Option<String> {
    entry.note.clone().or_else(|| {
        entry
            .mdns
            .then(|| gettext("mDNS name: resolves only on the same LAN"))
    })
}
