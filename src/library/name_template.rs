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
mod tests;
