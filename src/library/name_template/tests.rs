use super::*;
use std::path::{Component, Path};

fn values<'a>(label: &'a str, part: u32) -> NameValues<'a> {
    NameValues {
        room: "Weekly Show",
        date: "2025-03-01",
        time: "18-04-05",
        label,
        stream: "abc123",
        stretch: 1,
        part,
    }
}

fn render(template: &str, values: &NameValues<'_>) -> String {
    NameTemplate::parse(template)
        .unwrap_or_else(|err| panic!("{template:?}: {err}"))
        .render(values)
}

/// What the recorder named files before templates: see `SessionRecorder::attach_track`.
fn old_stem(label: &str, stream: &str, stretch: u32, part: u32) -> String {
    let base = naming::sanitize_component(if label.is_empty() { stream } else { label });
    let stem = if stretch <= 1 {
        base
    } else {
        format!("{base} part {stretch}")
    };
    super::super::split::part_stem(&stem, part - 1)
}

fn assert_one_component(name: &str) {
    assert!(!name.is_empty());
    assert!(name.len() <= naming::MAX_COMPONENT_BYTES, "{name:?}");
    assert!(!name.contains(['/', '\\']), "{name:?}");
    assert!(!name.contains(".."), "{name:?}");
    assert!(!name.chars().any(char::is_control), "{name:?}");
    assert!(!name.starts_with('.'), "{name:?}");
    let mut components = Path::new(name).components();
    assert!(matches!(components.next(), Some(Component::Normal(_))));
    assert!(components.next().is_none(), "{name:?}");
}

#[test]
fn each_placeholder_is_filled() {
    let v = values("Alice", 1);
    assert_eq!(render("{room}", &v), "Weekly Show");
    assert_eq!(render("{date}", &v), "2025-03-01");
    assert_eq!(render("{time}", &v), "18-04-05");
    assert_eq!(render("{label}", &v), "Alice");
    assert_eq!(render("{stream}", &v), "abc123");
    assert_eq!(render("{part}", &v), "1");
    assert_eq!(
        render(
            "{room}_{date}_{time}_{label}_{stream}_{part}",
            &values("Bob", 3)
        ),
        "Weekly Show_2025-03-01_18-04-05_Bob_abc123_3"
    );
    assert_eq!(render("take {label}!", &v), "take Alice!");
    // A label-less participant is named by their stream id, as before.
    assert_eq!(render("x-{label}", &values("", 1)), "x-abc123");
}

#[test]
fn templates_are_checked() {
    assert_eq!(NameTemplate::parse(""), Err(NameTemplateError::Empty));
    assert_eq!(NameTemplate::parse("  "), Err(NameTemplateError::Empty));
    assert_eq!(
        NameTemplate::parse("{label}-{nme}"),
        Err(NameTemplateError::UnknownPlaceholder("nme".into()))
    );
    assert_eq!(
        NameTemplate::parse("{Label}"),
        Err(NameTemplateError::UnknownPlaceholder("Label".into()))
    );
    assert_eq!(
        NameTemplate::parse("{}"),
        Err(NameTemplateError::UnknownPlaceholder(String::new()))
    );
    assert_eq!(
        NameTemplate::parse("{label"),
        Err(NameTemplateError::UnbalancedBrace(1))
    );
    assert_eq!(
        NameTemplate::parse("a{{label}}"),
        Err(NameTemplateError::UnbalancedBrace(2))
    );
    assert_eq!(
        NameTemplate::parse("x}"),
        Err(NameTemplateError::UnbalancedBrace(2))
    );
    let message = NameTemplate::parse("{nme}").unwrap_err().to_string();
    assert!(message.contains("{nme}"), "{message}");
    assert!(message.contains(PLACEHOLDERS), "{message}");
    let message = NameTemplate::parse("{x").unwrap_err().to_string();
    assert!(message.contains("{label}"), "{message}");
    assert_eq!(
        NameTemplate::parse_preference(" "),
        Ok(NameTemplate::default())
    );
    assert!(NameTemplate::parse_preference("{x}").is_err());
}

#[test]
fn templates_read_back_as_written() {
    for text in ["{label}", "{room} - {label} ({part})", "plain"] {
        let template = NameTemplate::parse(text).expect("valid");
        assert_eq!(template.to_string(), text);
    }
    assert_eq!(NameTemplate::default().to_string(), DEFAULT_TEMPLATE);
    assert_eq!(
        NameTemplate::parse(DEFAULT_TEMPLATE),
        Ok(NameTemplate::default())
    );
}

#[test]
fn default_gives_the_names_of_before() {
    let template = NameTemplate::default();
    let long = "é".repeat(300);
    for label in [
        "Alice",
        "",
        "../../etc/passwd",
        "..",
        "CON",
        " Zoë 🎙️ ",
        long.as_str(),
        "a\nb",
    ] {
        for stretch in 1..=3 {
            for part in 1..=3 {
                let v = NameValues {
                    stretch,
                    ..values(label, part)
                };
                assert_eq!(
                    template.render(&v),
                    old_stem(label, "abc123", stretch, part),
                    "{label:?} {stretch} {part}"
                );
            }
        }
    }
    assert_eq!(template.render(&values("Alice", 2)), "Alice.part2");
}

#[test]
fn parts_never_share_a_name() {
    assert_eq!(render("{label}-{part}", &values("Alice", 1)), "Alice-1");
    assert_eq!(render("{label}-{part}", &values("Alice", 2)), "Alice-2");
    assert_eq!(render("{room}", &values("Alice", 1)), "Weekly Show");
    assert_eq!(render("{room}", &values("Alice", 4)), "Weekly Show.part4");
    let v = NameValues {
        stretch: 2,
        ..values("Alice", 3)
    };
    assert_eq!(render("{label}", &v), "Alice part 2.part3");
    assert_eq!(render("{label}-{part}", &v), "Alice-3 part 2");
}

#[test]
fn hostile_values_stay_one_safe_component() {
    let long = "x".repeat(300);
    let hostile = [
        "../../x",
        "a/b",
        "..",
        long.as_str(),
        "....",
        "line\nbreak",
        "back\\slash",
        "\u{202E}gpj.exe",
        "\0",
    ];
    for template in [
        "{label}",
        "{room}-{label}-{part}",
        "{label}{stream}{room}",
        "../{label}/..",
        "{date}/{time}",
    ] {
        for value in hostile {
            let v = NameValues {
                room: value,
                date: value,
                time: value,
                label: value,
                stream: value,
                stretch: 1,
                part: 2,
            };
            let name = render(template, &v);
            if template == DEFAULT_TEMPLATE {
                // The names of before: a long label with its `.part2` may be cut once
                // more when the file is named, which keeps it one component.
                assert_one_component(&naming::sanitize_component(&name));
                continue;
            }
            assert_one_component(&name);
            // Room for `.partN.audio` and a counter before the final cut.
            let track = format!("{name}.part12.video");
            assert_eq!(naming::sanitize_component(&track).len(), track.len());
        }
    }
    assert_eq!(render("{label}", &values("../../x", 1)), "x");
    assert_eq!(render("{label}", &values("a/b", 1)), "ab");
    assert_eq!(render("{label}-{part}", &values("../../x", 1)), "x-1");
    assert_eq!(render("{room}/{label}", &values("a", 1)), "Weekly Showa");
    assert_eq!(render("{label}", &values("line\nbreak", 1)), "line break");
}

#[test]
fn empty_results_fall_back_to_the_default_name() {
    assert_eq!(render("{label}", &values("..", 1)), "participant");
    assert_eq!(render("..", &values("Alice", 1)), "Alice");
    assert_eq!(render("{label}", &values("....", 2)), "participant.part2");
    let v = NameValues {
        room: "..",
        ..values("...", 1)
    };
    assert_eq!(render("{room}/{label}", &v), "participant");
    assert_eq!(render("/{room}", &values("Bob", 1)), "Weekly Show");
    let v = NameValues {
        room: "",
        ..values("Bob", 1)
    };
    assert_eq!(render("/{room}", &v), "Bob");
}
