//! Time-split parts (`--split-every`): the interval as typed, and where the marks fall on the
//! session timeline. Pure, so the arithmetic is tested without a pipeline.

use std::time::Duration;

/// Parts shorter than this would be mostly the wait for their first key frame.
pub const MIN_INTERVAL: Duration = Duration::from_secs(2);

/// Why a `--split-every` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntervalError {
    #[error("{0:?} is not a duration: write it like 30m, 1h, 1h30m, 90s or 45 (seconds)")]
    Malformed(String),
    #[error("{0:?} is too short: parts are at least 2 seconds long")]
    TooShort(String),
}

/// Reads `30m`, `10s`, `1h30m`, `2h` or a bare number of seconds.
pub fn parse_interval(text: &str) -> Result<Duration, IntervalError> {
    let malformed = || IntervalError::Malformed(text.to_owned());
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(malformed());
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    let mut units_seen = String::new();
    for c in trimmed.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let scale = match c.to_ascii_lowercase() {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return Err(malformed()),
        };
        // Each unit once, largest first: "10s5m" is more likely a typo than a wish.
        let order = "hms";
        let here = order.find(c.to_ascii_lowercase()).ok_or_else(malformed)?;
        if digits.is_empty()
            || units_seen
                .chars()
                .any(|seen| order.find(seen).is_some_and(|at| at >= here))
        {
            return Err(malformed());
        }
        units_seen.push(c.to_ascii_lowercase());
        let n: u64 = digits.parse().map_err(|_| malformed())?;
        total = n
            .checked_mul(scale)
            .and_then(|s| total.checked_add(s))
            .ok_or_else(malformed)?;
        digits.clear();
    }
    if !digits.is_empty() {
        // A bare number is seconds; after units it would be ambiguous ("1m30").
        if !units_seen.is_empty() {
            return Err(malformed());
        }
        total = digits.parse().map_err(|_| malformed())?;
    }
    let interval = Duration::from_secs(total);
    if interval < MIN_INTERVAL {
        return Err(IntervalError::TooShort(text.to_owned()));
    }
    Ok(interval)
}

/// The first mark strictly after `elapsed` on a timeline with a mark every `every` from 0.
/// A recorder that fell behind (a paused process) skips the marks it missed rather than
/// making a burst of tiny parts.
pub fn next_mark(elapsed: Duration, every: Duration) -> Duration {
    let every_ns = every.as_nanos().max(1);
    let passed = elapsed.as_nanos() / every_ns;
    let next = (passed + 1).saturating_mul(every_ns);
    Duration::from_nanos(u64::try_from(next).unwrap_or(u64::MAX))
}

/// The file stem of part `part` (from 0) of a stretch whose first file is `stem`: the first
/// part keeps the stem as it always was, the others are `stem.part2`, `stem.part3`…
pub fn part_stem(stem: &str, part: u32) -> String {
    if part == 0 {
        stem.to_owned()
    } else {
        format!("{stem}.part{}", u64::from(part) + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_read_as_people_write_them() {
        let s = Duration::from_secs;
        assert_eq!(parse_interval("30m"), Ok(s(1800)));
        assert_eq!(parse_interval("10s"), Ok(s(10)));
        assert_eq!(parse_interval("1h30m"), Ok(s(5400)));
        assert_eq!(parse_interval("2H"), Ok(s(7200)));
        assert_eq!(parse_interval(" 45 "), Ok(s(45)));
        assert_eq!(parse_interval("1h0m5s"), Ok(s(3605)));
        for bad in [
            "",
            "m",
            "10x",
            "1m30",
            "10s5m",
            "1m1m",
            "-5s",
            "1.5m",
            "99999999999999999999h",
        ] {
            assert!(
                matches!(parse_interval(bad), Err(IntervalError::Malformed(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            parse_interval("1s"),
            Err(IntervalError::TooShort(_))
        ));
        assert!(matches!(
            parse_interval("0"),
            Err(IntervalError::TooShort(_))
        ));
    }

    #[test]
    fn marks_fall_every_interval_from_the_start() {
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        assert_eq!(next_mark(s(0), s(10)), s(10));
        assert_eq!(next_mark(ms(9_999), s(10)), s(10));
        assert_eq!(next_mark(s(10), s(10)), s(20));
        assert_eq!(next_mark(ms(10_250), s(10)), s(20));
        // Fell behind by several marks: the next one ahead, not a burst.
        assert_eq!(next_mark(ms(47_000), s(10)), s(50));
    }

    #[test]
    fn part_stems() {
        assert_eq!(part_stem("alice", 0), "alice");
        assert_eq!(part_stem("alice", 1), "alice.part2");
        assert_eq!(part_stem("alice part 2", 2), "alice part 2.part3");
    }
}
