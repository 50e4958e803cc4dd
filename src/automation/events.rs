//! Engine events as the JSON objects `record --json-events` prints, one per line, and the
//! webhooks post: the same object for both, so a script written against one reads the other.

use serde_json::{Value, json};

use crate::media::engine::EngineEvent;
use crate::room::RoomEvent;

/// A room event as the core serialises it, with the words the core leaves to front-ends: a
/// watchdog's `explanation`, and the note on an mDNS candidate.
fn room_event_json(event: &RoomEvent) -> Value {
    let mut value = serde_json::to_value(event)
        .unwrap_or_else(|err| json!({"event": "unserialisable", "error": err.to_string()}));
    if let Some(object) = value.as_object_mut() {
        match event {
            RoomEvent::Watchdog { problem, .. } => {
                object.insert(
                    "explanation".into(),
                    crate::explain::problem(*problem).into(),
                );
            }
            RoomEvent::Candidate(entry) => {
                object.insert("note".into(), crate::explain::candidate_note(entry).into());
            }
            _ => {}
        }
    }
    value
}

/// The event's JSON object, or `None` for events that only feed the live view.
pub fn event_json(event: &EngineEvent) -> Option<Value> {
    Some(match event {
        EngineEvent::Room(room_event) => room_event_json(room_event),
        EngineEvent::SegmentFinished {
            participant,
            file,
            outcome,
        } => {
            // A split part is saved, with the kind of the change that ended it.
            let (error, failure) = match outcome {
                Ok(saved) => (None, saved.split),
                Err(err) => (Some(err.message.as_str()), err.failure),
            };
            json!({"event": "segment_finished", "id": participant, "file": file, "ok": outcome.is_ok(), "error": error, "failure": failure})
        }
        EngineEvent::RecordingStarted { dir } => json!({"event": "recording_started", "dir": dir}),
        EngineEvent::RecordingFinished { dir, all_ok } => {
            json!({"event": "recording_finished", "dir": dir, "ok": all_ok})
        }
        EngineEvent::Fatal(message) => json!({"event": "fatal", "message": message}),
        EngineEvent::FirstKeyframe {
            participant,
            kind,
            after_ms,
        } => {
            json!({"event": "first_keyframe", "id": participant, "kind": kind, "after_ms": after_ms})
        }
        EngineEvent::FolderLost {
            dir,
            message,
            recreated,
        } => {
            json!({"event": "recording_folder_lost", "dir": dir, "recreated": recreated, "message": message})
        }
        EngineEvent::TrackRefused {
            participant,
            kind,
            encoding,
            reason,
        } => {
            json!({"event": "track_refused", "id": participant, "kind": kind, "encoding": encoding, "reason": reason})
        }
        EngineEvent::DiskLow { dir, report } => {
            json!({"event": "disk_low", "dir": dir, "free_bytes": report.free_bytes, "written_bytes": report.written_bytes, "bytes_per_sec": report.bytes_per_sec, "time_left_s": report.time_left.map(|t| t.as_secs())})
        }
        EngineEvent::DiskFloor {
            dir,
            free_bytes,
            floor_bytes,
        } => {
            json!({"event": "disk_floor", "dir": dir, "free_bytes": free_bytes, "floor_bytes": floor_bytes})
        }
        EngineEvent::DiskSpace { .. }
        | EngineEvent::Track { .. }
        | EngineEvent::PeerClosed { .. }
        | EngineEvent::Preview(_) => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::engine::{SegmentError, SegmentSaved};
    use crate::media::failure::FailureKind;

    fn finished(outcome: crate::media::engine::SegmentResult) -> Value {
        let event = EngineEvent::SegmentFinished {
            participant: "p1".into(),
            file: "/rec/a.mkv".into(),
            outcome,
        };
        event_json(&event).expect("segment_finished is an event for programs")
    }

    #[test]
    fn segment_finished_keeps_its_shape() {
        assert_eq!(
            finished(Ok(SegmentSaved::default())),
            json!({"event": "segment_finished", "id": "p1", "file": "/rec/a.mkv", "ok": true, "error": null, "failure": null})
        );
        // A split is saved: `ok` stays true and the kind says why the part ended.
        assert_eq!(
            finished(Ok(SegmentSaved {
                split: Some(FailureKind::Format)
            })),
            json!({"event": "segment_finished", "id": "p1", "file": "/rec/a.mkv", "ok": true, "error": null, "failure": "format"})
        );
        assert_eq!(
            finished(Err(SegmentError {
                message: "the disk is full".into(),
                failure: Some(FailureKind::DiskFull),
            })),
            json!({"event": "segment_finished", "id": "p1", "file": "/rec/a.mkv", "ok": false, "error": "the disk is full", "failure": "disk_full"})
        );
        assert_eq!(
            finished(Err(SegmentError {
                message: "no media arrived for this segment".into(),
                failure: None,
            })),
            json!({"event": "segment_finished", "id": "p1", "file": "/rec/a.mkv", "ok": false, "error": "no media arrived for this segment", "failure": null})
        );
    }
}
