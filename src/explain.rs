//! What the room reports as data, in words for the operator (translated): the front-ends'
//! side of `roomtape-core`, which says what happened but not how to say it.

use crate::i18n::{gettext, gettext_f};
use crate::room::{CandidateLogEntry, DropReason, Problem, ServerNotice, ServerRefusal};

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

/// A server message in words a person understands, with what to try.
pub fn server_message(notice: &ServerNotice) -> String {
    match notice.refusal() {
        Some(ServerRefusal::RoomFull) => gettext(
            "The room is full: the server lets no more people in. Ask the host to make room, or try again later.",
        ),
        Some(ServerRefusal::Denied) => gettext(
            "The server refused to let you in: the password is probably wrong. Check the room password (Default, Custom or None) and join again.",
        ),
        Some(ServerRefusal::IdTaken) | None => gettext_f(
            "The server says: “{message}”",
            &[("message", notice.text())],
        ),
    }
}

/// What the operator should hear about something the room dropped, if anything: only what
/// points at their own settings (a wrong room password) is worth a word.
pub fn dropped(reason: &DropReason) -> Option<String> {
    reason.suggests_wrong_password().then(|| {
        gettext("Some messages could not be decrypted: the room password is probably wrong.")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_messages_say_what_to_try() {
        assert!(server_message(&ServerNotice::new("Room is full")).contains("full"));
        assert!(server_message(&ServerNotice::new("bad password")).contains("password"));
        assert!(server_message(&ServerNotice::new("hello there")).contains("hello there"));
    }
}
