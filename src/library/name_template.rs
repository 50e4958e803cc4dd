//! File-name templates (`record --name-template`, the `name-template` preference): how a
//! participant's files are named inside the session folder.
//!
//! A template is plain text with placeholders: `{room}`, `{date}`, `{time}`, `{label}`,
//! `{stream}` and `{part}`. Every value comes from strangers (labels, stream ids, room names),
//! so each one is sanitised on its own and the whole result once more with
//! [`naming::sanitize_component`]'s rules: whatever the template and the values, the result is a
//! single ordinary file name, and the file stays inside the session folder. Uniqueness within
//! the folder is left to the recorder, as before.

use std::fmt;

use super::naming;

/// The template that gives the names Roomtape always gave: the participant's label.
pub const DEFAULT_TEMPLATE: &str = "{label}";

/// The placeholders, as error messages and help texts list them.
pub const PLACEHOLDERS: &str = "{room}, {date}, {time}, {label}, {stream}, {part}";

/// Bytes a rendered custom template may take, so that the suffixes still to come (` part 3`
/// for a participant who came back, `.part12` for a part, `.audio` for a track file) survive
/// the final cut to [`naming::MAX_COMPONENT_BYTES`]: without them two parts would get names
/// that differ only by a uniqueness counter. The default template keeps the full length so
/// that names stay what they were before templates existed.
const CUSTOM_STEM_BYTES: usize = naming::MAX_COMPONENT_BYTES - 28;

/// Why a template was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameTemplateError {
    #[error("the name template is empty: use plain text and the placeholders {PLACEHOLDERS}")]
    Empty,
    #[error("unknown placeholder {{{0}}} in the name template: use {PLACEHOLDERS}")]
    UnknownPlaceholder(String),
    #[error(
        "unbalanced brace at character {0} of the name template: placeholders are written \
         like {{label}}; use {PLACEHOLDERS}"
    )]
    UnbalancedBrace(usize),
}

/// One value a template can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placeholder {
    Room,
    Date,
    Time,
    Label,
    Stream,
    Part,
}

impl Placeholder {
    const ALL: [Placeholder; 6] = [
        Placeholder::Room,
        Placeholder::Date,
        Placeholder::Time,
        Placeholder::Label,
        Placeholder::Stream,
        Placeholder::Part,
    ];

    fn name(self) -> &'static str {
        match self {
            Placeholder::Room => "room",
            Placeholder::Date => "date",
            Placeholder::Time => "time",
            Placeholder::Label => "label",
            Placeholder::Stream => "stream",
            Placeholder::Part => "part",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Value(Placeholder),
}

/// A parsed template; [`NameTemplate::default`] is [`DEFAULT_TEMPLATE`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameTemplate {
    pieces: Vec<Piece>,
}

impl Default for NameTemplate {
    fn default() -> Self {
        NameTemplate {
            pieces: vec![Piece::Value(Placeholder::Label)],
        }
    }
}

impl fmt::Display for NameTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => f.write_str(text)?,
                Piece::Value(value) => write!(f, "{{{}}}", value.name())?,
            }
        }
        Ok(())
    }
}

/// What a template is filled with, for one part of one participant's stretch.
#[derive(Debug, Clone, Copy)]
pub struct NameValues<'a> {
    /// The room name as joined.
    pub room: &'a str,
    /// Session start, local, `YYYY-MM-DD`.
    pub date: &'a str,
    /// Session start, local, `HH-MM-SS`.
    pub time: &'a str,
    /// The participant's label when their recording started; their stream id if they had none.
    pub label: &'a str,
    /// The participant's stream id.
    pub stream: &'a str,
    /// Which stretch of the participant this is, from 1: they may leave and come back.
    pub stretch: u32,
    /// Which time-split part of the stretch this is, from 1.
    pub part: u32,
}

impl NameTemplate {
    /// Reads a template. `{` must open one of the placeholders and be closed by `}`; any
    /// other text is kept as written (and sanitised when rendered).
    pub fn parse(text: &str) -> Result<NameTemplate, NameTemplateError> {
        if text.trim().is_empty() {
            return Err(NameTemplateError::Empty);
        }
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().enumerate();
        while let Some((at, c)) = chars.next() {
            match c {
                '{' => {
                    let mut name = String::new();
                    let closed = loop {
                        match chars.next() {
                            Some((_, '}')) => break true,
                            Some((_, '{')) | None => break false,
                            Some((_, c)) => name.push(c),
                        }
                    };
                    if !closed {
                        return Err(NameTemplateError::UnbalancedBrace(at + 1));
                    }
                    let value = Placeholder::ALL
                        .into_iter()
                        .find(|p| p.name() == name)
                        .ok_or(NameTemplateError::UnknownPlaceholder(name))?;
                    if !literal.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut literal)));
                    }
                    pieces.push(Piece::Value(value));
                }
                '}' => return Err(NameTemplateError::UnbalancedBrace(at + 1)),
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        Ok(NameTemplate { pieces })
    }

    /// A template from a preference, where the empty text means the default naming.
    pub fn parse_preference(text: &str) -> Result<NameTemplate, NameTemplateError> {
        if text.trim().is_empty() {
            Ok(NameTemplate::default())
        } else {
            NameTemplate::parse(text)
        }
    }

    fn has(&self, wanted: Placeholder) -> bool {
        self.pieces.contains(&Piece::Value(wanted))
    }

    /// The file stem (no extension) for `values`: one sanitised path component.
    ///
    /// - Each value is sanitised on its own before it is put in, then the whole result again
    ///   (no separators, no `..`, no control characters, bounded length).
    /// - A result with nothing usable left is the default name, as if there were no template.
    /// - A participant's second stretch onwards gets ` part N` after the name, as before.
    /// - `{part}` is the part number, from 1 (so `{label}-{part}` gives `alice-1`, `alice-2`…).
    ///   A template without `{part}` gets `.part2`, `.part3`… from the second part on, as
    ///   before, so parts never share a name.
    pub fn render(&self, values: &NameValues<'_>) -> String {
        let mut raw = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => raw.push_str(text),
                Piece::Value(value) => raw.push_str(&naming::sanitize_component_or(
                    &value_text(*value, values),
                    "",
                )),
            }
        }
        let stem = if *self == NameTemplate::default() {
            naming::sanitize_component(&raw)
        } else {
            naming::sanitize_component_within(&raw, "", CUSTOM_STEM_BYTES)
        };
        let stem = if stem.is_empty() {
            naming::sanitize_component(&default_label(values))
        } else {
            stem
        };
        let stem = if values.stretch > 1 {
            format!("{stem} part {}", values.stretch)
        } else {
            stem
        };
        if self.has(Placeholder::Part) {
            stem
        } else {
            super::split::part_stem(&stem, values.part.saturating_sub(1))
        }
    }
}

/// The label as today's names use it: the stream id stands in for an empty label.
fn default_label(values: &NameValues<'_>) -> String {
    if values.label.is_empty() {
        values.stream.to_owned()
    } else {
        values.label.to_owned()
    }
}

fn value_text(value: Placeholder, values: &NameValues<'_>) -> String {
    match value {
        Placeholder::Room => values.room.to_owned(),
        Placeholder::Date => values.date.to_owned(),
        Placeholder::Time => values.time.to_owned(),
        Placeholder::Label => default_label(values),
        Placeholder::Stream => values.stream.to_owned(),
        Placeholder::Part => values.part.max(1).to_string(),
    }
}

#[cfg(test)]
mod tests {
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
}
