use super::*;
use proptest::prelude::*;
use std::path::Component;

/// The invariants every sanitised name must satisfy, whatever went in.
fn assert_safe(name: &str) {
    assert!(!name.is_empty());
    assert!(name.len() <= MAX_COMPONENT_BYTES, "{name:?} too long");
    assert!(
        !name.contains(['/', '\\', '\0']),
        "{name:?} has a separator"
    );
    assert!(
        !name.chars().any(char::is_control),
        "{name:?} has a control"
    );
    assert!(!name.contains(".."), "{name:?} has ..");
    assert!(!name.starts_with(['.', ' ']), "{name:?} bad start");
    assert!(!name.ends_with(['.', ' ']), "{name:?} bad end");
    let mut components = Path::new(name).components();
    assert!(matches!(components.next(), Some(Component::Normal(_))));
    assert!(components.next().is_none());
}

#[test]
fn traversal_stays_inside() {
    let name = sanitize_component("../../etc/passwd");
    assert_safe(&name);
    assert_eq!(name, "etcpasswd");
    let root = Path::new("/recordings/session");
    assert_eq!(root.join(&name).parent(), Some(root));

    let name = sanitize_component("..\\..\\Windows\\System32");
    assert_safe(&name);
    assert_eq!(name, "WindowsSystem32");
    assert_eq!(sanitize_component("/etc/passwd"), "etcpasswd");
}

#[test]
fn long_names_are_bounded_on_char_boundaries() {
    let name = sanitize_component(&"a".repeat(5000));
    assert_eq!(name.len(), MAX_COMPONENT_BYTES);

    // 3-byte characters: 80 is not a multiple of 3, so the cut must back off.
    let name = sanitize_component(&"語".repeat(5000));
    assert!(name.len() <= MAX_COMPONENT_BYTES);
    assert!(name.len() > MAX_COMPONENT_BYTES - 3);
    assert!(name.chars().all(|c| c == '語'));

    let name = sanitize_component(&"😀".repeat(5000));
    assert_eq!(name.len(), MAX_COMPONENT_BYTES);
}

#[test]
fn truncation_never_leaves_a_trailing_dot_or_space() {
    let raw = format!("{}. . .x", "a".repeat(MAX_COMPONENT_BYTES - 1));
    let name = sanitize_component(&raw);
    assert_safe(&name);
    assert_eq!(name, "a".repeat(MAX_COMPONENT_BYTES - 1));
}

#[test]
fn controls_and_bidi_are_removed() {
    assert_eq!(sanitize_component("Al\0ice\u{7}\u{1b}[31m"), "Alice[31m");
    assert_eq!(sanitize_component("evil\u{202E}vkm.exe"), "evilvkm.exe");
    for c in [
        '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{2066}', '\u{2069}',
    ] {
        assert_eq!(sanitize_component(&format!("a{c}b")), "ab");
    }
    assert_eq!(sanitize_component("\u{200F}Bob\u{FEFF}\u{200B}"), "Bob");
    assert_eq!(sanitize_component("a\u{85}b\u{9f}c"), "a bc"); // NEL is whitespace
    assert_eq!(sanitize_component("a\u{80}b"), "ab");
}

#[test]
fn whitespace_collapses() {
    assert_eq!(sanitize_component("  Alice \t\n  Bob  "), "Alice Bob");
    assert_eq!(sanitize_component("a\r\nb"), "a b");
    assert_eq!(sanitize_component("a \u{202E} b"), "a b");
    assert_eq!(sanitize_component("a\u{3000}b"), "a b");
}

#[test]
fn letters_and_emoji_are_kept() {
    assert_eq!(sanitize_component("Zoë Łukasz 王芳"), "Zoë Łukasz 王芳");
    assert_eq!(sanitize_component("محمد"), "محمد");
    assert_eq!(sanitize_component("🎙️ Host"), "🎙️ Host");
    // Family emoji: joined with U+200D, which must survive.
    let family = "👩\u{200D}👩\u{200D}👧";
    assert_eq!(sanitize_component(family), family);
    // Subdivision flag: tag characters must survive.
    let england = "🏴\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F}";
    assert_eq!(sanitize_component(england), england);
}

#[test]
fn windows_reserved_characters_become_underscores() {
    assert_eq!(sanitize_component(r#"a<b>c:d"e|f?g*h"#), "a_b_c_d_e_f_g_h");
    assert_eq!(sanitize_component("CON"), "CON_");
    assert_eq!(sanitize_component("nul.mkv"), "nul_.mkv");
    assert_eq!(sanitize_component("com7"), "com7_");
    assert_eq!(sanitize_component("COMPUTER"), "COMPUTER");
    assert_eq!(sanitize_component("console"), "console");
}

#[test]
fn empty_and_dot_names_fall_back() {
    for raw in [
        "", ".", "..", "....", " ", " . . ", "/", "\\..\\", "\u{202E}", "\0",
    ] {
        assert_eq!(sanitize_component(raw), FALLBACK_PARTICIPANT, "{raw:?}");
    }
    assert_eq!(sanitize_component(".hidden"), "hidden");
    assert_eq!(sanitize_component("name..."), "name");
    assert_eq!(sanitize_component("a...b"), "a.b");
    assert_eq!(sanitize_component_or("..", "room"), "room");
}

#[test]
fn unique_in_counts_up_and_ignores_case() {
    let mut taken = HashSet::new();
    let first = unique_in(&taken, "Alice", "mkv");
    assert_eq!(first, "Alice.mkv");
    taken.insert(first);
    assert_eq!(unique_in(&taken, "alice", "mkv"), "alice-2.mkv");
    taken.insert("alice-2.mkv".to_owned());
    assert_eq!(unique_in(&taken, "Alice", ".mkv"), "Alice-3.mkv");
    assert_eq!(unique_in(&taken, "Alice", "webm"), "Alice.webm");
    assert_eq!(unique_in(&taken, "../Alice", ""), "Alice");
}

#[test]
fn unique_file_name_skips_existing_files() {
    let dir = std::env::temp_dir().join(format!(
        "roomtape-naming-{}-{}",
        std::process::id(),
        unix_ms(SystemTime::now())
    ));
    std::fs::create_dir_all(&dir).unwrap();
    assert_eq!(unique_file_name(&dir, "Bob", "mkv"), dir.join("Bob.mkv"));
    std::fs::write(dir.join("Bob.mkv"), b"").unwrap();
    std::fs::create_dir(dir.join("Bob-2.mkv")).unwrap();
    assert_eq!(unique_file_name(&dir, "Bob", "mkv"), dir.join("Bob-3.mkv"));
    assert_eq!(
        unique_file_name(&dir, "../Bob", "mkv"),
        dir.join("Bob-3.mkv")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn resolve_in_accepts_only_plain_names() {
    let dir = Path::new("/rec/s");
    assert_eq!(resolve_in(dir, "Alice.mkv"), Some(dir.join("Alice.mkv")));
    for bad in ["", ".", "..", "../x", "a/b", "/etc/passwd", "a\\b", "./a"] {
        assert_eq!(resolve_in(dir, bad), None, "{bad:?}");
    }
}

#[test]
fn times_are_formatted_locally() {
    let t = UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_123);
    assert_eq!(unix_ms(t), 1_700_000_000_123);
    assert_eq!(
        unix_ms(UNIX_EPOCH - std::time::Duration::from_secs(2)),
        -2000
    );

    let expected = glib::DateTime::from_unix_local(1_700_000_000)
        .unwrap()
        .format("%Y-%m-%d %H-%M-%S")
        .unwrap();
    assert_eq!(
        session_folder_name("../My Room", t),
        format!("My Room {expected}")
    );
    assert!(session_folder_name("", t).starts_with("room "));

    let long = session_folder_name(&"x".repeat(5000), t);
    assert!(long.ends_with(expected.as_str()), "{long}");
    assert!(long.len() <= MAX_COMPONENT_BYTES);
    assert_eq!(sanitize_component(&long), long);
    let long = session_folder_name(&"é".repeat(5000), t);
    assert!(long.ends_with(expected.as_str()), "{long}");
    assert_eq!(sanitize_component(&long), long);

    let rfc = local_rfc3339(1_700_000_000_123);
    assert_eq!(rfc.len(), "2023-11-14T22:13:20.123+00:00".len(), "{rfc}");
    assert_eq!(&rfc[19..23], ".123");
    assert!(rfc.as_bytes()[10] == b'T');
}

#[test]
fn default_dir_ends_in_app_folder() {
    assert!(default_recordings_dir().ends_with(APP_FOLDER));
}

proptest! {
    #[test]
    fn any_input_gives_a_safe_idempotent_name(raw in any::<String>()) {
        let name = sanitize_component(&raw);
        assert_safe(&name);
        prop_assert_eq!(sanitize_component(&name), name);
    }

    #[test]
    fn hostile_alphabet_gives_a_safe_name(raw in r"[./\\ \t\x00\u{202E}a<:CON]{0,200}") {
        let name = sanitize_component(&raw);
        assert_safe(&name);
        prop_assert_eq!(sanitize_component(&name), name);
    }
}
