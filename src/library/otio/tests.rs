use super::*;
use crate::library::manifest::EndReason;

const S: u64 = 1_000_000_000;

/// A session folder with the given files (one byte each), removed on drop.
struct Folder(PathBuf);

impl Folder {
    fn new(name: &str, files: &[&str]) -> Self {
        let dir = std::env::temp_dir().join(format!("roomtape-otio-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for file in files {
            std::fs::write(dir.join(file), b"x").unwrap();
        }
        Self(dir)
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn segment(file: &str, start_ns: u64, duration_ns: Option<u64>, video: bool) -> Segment {
    Segment {
        file: file.into(),
        start_offset_ns: start_ns,
        duration_ns,
        video_codec: video.then(|| "VP8".into()),
        audio_codec: Some("OPUS".into()),
        end_reason: Some(EndReason::Left),
        ..Segment::default()
    }
}

fn manifest(people: &[(&str, &str, Vec<Segment>)]) -> SessionManifest {
    let mut m = SessionManifest::new("Weekly", "wss://example.org", 1_700_000_000_000);
    for (id, label, segments) in people {
        let p = m.participant_mut(id, label, id);
        for (i, s) in segments.iter().enumerate() {
            p.segments.push(Segment {
                index: u32::try_from(i).unwrap(),
                ..s.clone()
            });
        }
    }
    m
}

fn tracks(t: &Timeline) -> &Vec<Value> {
    t.document["tracks"]["children"].as_array().unwrap()
}

/// (kind, name, start frame) of each child of a track.
fn layout(track: &Value) -> Vec<(String, f64, f64)> {
    let mut at = 0.0;
    track["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let start = at;
            let length = c["source_range"]["duration"]["value"].as_f64().unwrap();
            at += length;
            (c["OTIO_SCHEMA"].as_str().unwrap().to_owned(), start, length)
        })
        .collect()
}

#[test]
fn frames_round_to_the_nearest() {
    assert_eq!(frames(0), 0);
    assert_eq!(frames(S), 30);
    // 1/60 s is half a frame: rounds up; a hair less rounds down.
    assert_eq!(frames(S / 60 + 1), 1);
    assert_eq!(frames(S / 60 - 1), 0);
    assert_eq!(frames(3 * S + 49 * S / 1000), 91);
    assert_eq!(frames(u64::MAX), 553_402_322_211);
}

#[test]
fn clips_sit_at_their_offsets_with_gaps_before_them() {
    let dir = Folder::new("offsets", &["Alice.mkv", "Alice-2.mkv", "Bob.mkv"]);
    let m = manifest(&[
        (
            "alice",
            "Alice",
            vec![
                segment("Alice.mkv", 0, Some(10 * S), true),
                segment("Alice-2.mkv", 15 * S, Some(5 * S), true),
            ],
        ),
        (
            "bob",
            "Bob",
            vec![segment("Bob.mkv", 3 * S + S / 100, Some(4 * S), true)],
        ),
    ]);
    let t = build(&m, &dir.0, None).unwrap();
    assert!(t.skipped.is_empty(), "{:?}", t.skipped);
    assert_eq!(t.clips, 6);
    let names: Vec<&str> = tracks(&t)
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "Alice (video)",
            "Bob (video)",
            "Alice (audio)",
            "Bob (audio)"
        ]
    );
    let kinds: Vec<&str> = tracks(&t)
        .iter()
        .map(|t| t["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["Video", "Video", "Audio", "Audio"]);
    let clip = |s: f64, l: f64| ("Clip.2".to_owned(), s, l);
    let gap = |s: f64, l: f64| ("Gap.1".to_owned(), s, l);
    assert_eq!(
        layout(&tracks(&t)[0]),
        [clip(0.0, 300.0), gap(300.0, 150.0), clip(450.0, 150.0)]
    );
    // 3.01 s is frame 90.3: frame 90.
    assert_eq!(layout(&tracks(&t)[1]), [gap(0.0, 90.0), clip(90.0, 120.0)]);
    assert_eq!(layout(&tracks(&t)[3]), layout(&tracks(&t)[1]));

    let reference = &tracks(&t)[1]["children"][1]["media_references"]["DEFAULT_MEDIA"];
    let url = reference["target_url"].as_str().unwrap();
    assert!(
        Path::new(url).is_absolute() && !url.starts_with("file:"),
        "{url}"
    );
    assert_eq!(Path::new(url), dir.0.join("Bob.mkv"));
    assert_eq!(reference["available_range"]["duration"]["value"], 120.0);
    // One rate everywhere: Kdenlive takes the project's frame rate from it.
    let text = t.document.to_string();
    assert!(!text.contains("48000"));
    assert_eq!(
        text.matches("\"rate\":30.0").count(),
        text.matches("\"rate\"").count()
    );
}

#[test]
fn boundaries_are_rounded_so_back_to_back_parts_touch() {
    let dir = Folder::new("rounding", &["a.mkv", "a-2.mkv"]);
    // Frames 0.6 to 31.2, then 31.2 to 61.2. Start plus rounded length (1 + 31) would
    // overlap the second part, which starts at frame 31.
    let m = manifest(&[(
        "a",
        "A",
        vec![
            segment("a.mkv", S / 50, Some(S + S / 50), true),
            segment("a-2.mkv", S + S / 25, Some(S), true),
        ],
    )]);
    let t = build(&m, &dir.0, None).unwrap();
    assert_eq!(
        layout(&tracks(&t)[0]),
        [
            ("Gap.1".to_owned(), 0.0, 1.0),
            ("Clip.2".to_owned(), 1.0, 30.0),
            ("Clip.2".to_owned(), 31.0, 30.0)
        ]
    );
    let last = &tracks(&t)[0]["children"][2];
    assert_eq!(last["source_range"]["start_time"]["value"], 0.0);
}

#[test]
fn overlapping_parts_are_trimmed_not_stacked() {
    let dir = Folder::new("overlap", &["a.mkv", "a-2.mkv"]);
    let m = manifest(&[(
        "a",
        "A",
        vec![
            segment("a.mkv", 0, Some(2 * S), false),
            segment("a-2.mkv", S, Some(2 * S), false),
        ],
    )]);
    let t = build(&m, &dir.0, None).unwrap();
    assert_eq!(
        layout(&tracks(&t)[0]),
        [
            ("Clip.2".to_owned(), 0.0, 60.0),
            ("Clip.2".to_owned(), 60.0, 30.0)
        ]
    );
    assert_eq!(
        tracks(&t)[0]["children"][1]["source_range"]["start_time"]["value"],
        30.0
    );
}

#[test]
fn same_labels_get_distinct_tracks() {
    let dir = Folder::new("labels", &["g1.mkv", "g2.mkv", "h.mkv"]);
    let m = manifest(&[
        ("g1", "Guest", vec![segment("g1.mkv", 0, Some(S), true)]),
        ("g2", "Guest", vec![segment("g2.mkv", 0, Some(S), true)]),
        ("h", "", vec![segment("h.mkv", 0, Some(S), true)]),
    ]);
    let t = build(&m, &dir.0, None).unwrap();
    let names: HashSet<&str> = tracks(&t)
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 6, "{names:?}");
    assert!(names.contains("Guest [g1] (video)") && names.contains("Guest [g2] (audio)"));
    assert!(names.contains("h (video)"), "unlabelled: stream id");
}

#[test]
fn an_audio_only_participant_has_no_video_track() {
    let dir = Folder::new("audio-only", &["a.mkv", "r.mka"]);
    let m = manifest(&[
        ("a", "Alice", vec![segment("a.mkv", 0, Some(S), true)]),
        ("r", "Radio", vec![segment("r.mka", 2 * S, Some(S), false)]),
    ]);
    let t = build(&m, &dir.0, None).unwrap();
    let names: Vec<&str> = tracks(&t)
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Alice (video)", "Alice (audio)", "Radio (audio)"]);
}

#[test]
fn unfinished_and_missing_segments_are_left_out_and_said() {
    let dir = Folder::new("skipped", &["a.mkv", "a-3.mkv"]);
    let m = manifest(&[(
        "a",
        "Alice",
        vec![
            segment("a.mkv", 0, Some(S), true),
            segment("a-2.mkv", 2 * S, Some(S), true),
            segment("a-3.mkv", 4 * S, None, true),
            segment("../../etc/passwd", 6 * S, Some(S), true),
        ],
    )]);
    let t = build(&m, &dir.0, None).unwrap();
    assert_eq!(t.clips, 2);
    assert_eq!(t.skipped.len(), 3, "{:?}", t.skipped);
    assert!(t.skipped[0].starts_with("Alice part 2: no file"));
    assert!(t.skipped[1].contains("length unknown"));

    let nothing = manifest(&[("a", "Alice", vec![segment("a-3.mkv", 0, None, true)])]);
    let err = build(&nothing, &dir.0, None).unwrap_err();
    assert!(err.to_string().contains("length unknown"), "{err}");
    assert!(matches!(
        build(&manifest(&[]), &dir.0, None),
        Err(TimelineError::Empty(_))
    ));
}

#[test]
fn mp4s_for_editing_in_the_export_folder_are_referenced() {
    let dir = Folder::new("edited", &["Alice.mkv", "Bob.mkv"]);
    let export = dir.0.join("export");
    std::fs::create_dir_all(&export).unwrap();
    std::fs::write(export.join("Alice.mp4"), b"x").unwrap();
    std::fs::write(export.join("Bob.mp4"), b"").unwrap();
    let m = manifest(&[
        ("a", "Alice", vec![segment("Alice.mkv", 0, Some(S), true)]),
        ("b", "Bob", vec![segment("Bob.mkv", 0, Some(S), true)]),
    ]);
    let t = build(&m, &dir.0, Some(&export)).unwrap();
    let url = |t: &Timeline, track: usize| {
        tracks(t)[track]["children"][0]["media_references"]["DEFAULT_MEDIA"]["target_url"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(Path::new(&url(&t, 0)), export.join("Alice.mp4"));
    // An empty file is an export that did not finish.
    assert_eq!(Path::new(&url(&t, 1)), dir.0.join("Bob.mkv"));
    let t = build(&m, &dir.0, None).unwrap();
    assert_eq!(Path::new(&url(&t, 0)), dir.0.join("Alice.mkv"));
}

#[test]
fn every_object_names_its_schema() {
    fn check(v: &Value, path: &str) {
        match v {
            Value::Object(map) => {
                // Metadata is free-form; media_references is a map of references.
                if path.ends_with("metadata") {
                    return;
                }
                if !path.ends_with("media_references") {
                    assert!(map.contains_key("OTIO_SCHEMA"), "{path}: {v}");
                }
                for (k, child) in map {
                    check(child, &format!("{path}.{k}"));
                }
            }
            Value::Array(items) => items.iter().for_each(|i| check(i, path)),
            _ => {}
        }
    }
    let dir = Folder::new("schemas", &["a.mkv"]);
    let m = manifest(&[("a", "A", vec![segment("a.mkv", S, Some(S), true)])]);
    let t = build(&m, &dir.0, None).unwrap();
    check(&t.document, "timeline");
    assert_eq!(
        t.document["name"],
        format!("Weekly, {}", m.started_at[..16].replace('T', " "))
    );
}
