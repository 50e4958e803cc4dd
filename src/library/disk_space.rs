//! Free space of the recordings folder, and the guard that stops a recording cleanly before the
//! disk is full: every segment finished and playable, with room left to join its track files.

use std::collections::VecDeque;
use std::path::Path;
use std::time::Duration;

/// The free space below which no recording starts, unless told otherwise.
pub const DEFAULT_MIN_FREE: u64 = 500 * 1000 * 1000;
/// When this little recording time is left, the operator is warned.
pub const LOW_WARNING: Duration = Duration::from_secs(15 * 60);
/// The warning comes again only after the time left went back above this.
const LOW_REARM: Duration = Duration::from_secs(30 * 60);
/// How often the guard looks, in milliseconds.
pub const CHECK_EVERY_MS: u64 = 2_000;
/// The data rate is the average over this long.
const RATE_WINDOW_MS: u64 = 20_000;
/// What is still written after the guard decides to stop (the next check, the jitter buffers'
/// drain, the muxers' last clusters), counted at the current data rate.
const FINISH_ALLOWANCE: Duration = Duration::from_secs(15);

/// Bytes available to an unprivileged writer in the file system holding `path`.
pub fn free_bytes(path: &Path) -> std::io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c_path` is a valid C string and `stats` is writable for one `statvfs`.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), stats.as_mut_ptr()) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it filled `stats`.
    let stats = unsafe { stats.assume_init() };
    #[allow(clippy::unnecessary_cast)] // the field types differ between architectures
    let (blocks, size) = (stats.f_bavail as u64, stats.f_frsize as u64);
    Ok(blocks.saturating_mul(size))
}

/// The free space where `path` is or would be made: of its nearest existing ancestor.
pub fn free_bytes_where(path: &Path) -> std::io::Result<u64> {
    let existing = path
        .ancestors()
        .find(|p| p.exists())
        .unwrap_or_else(|| Path::new("/"));
    free_bytes(existing)
}

/// Why a size given on the command line or in Preferences was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a size: give a number with an optional unit, like 500M, 2G or 750MiB")]
pub struct SizeError {
    text: String,
}

/// Reads "500M", "2G", "1.5GB", "750MiB" or a plain number of bytes. K, M, G and T are powers
/// of 1000 (as GNOME shows sizes); KiB, MiB, GiB and TiB powers of 1024.
pub fn parse_size(text: &str) -> Result<u64, SizeError> {
    let error = || SizeError {
        text: text.to_owned(),
    };
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let number: f64 = number.parse().map_err(|_| error())?;
    let multiplier: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "t" | "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(error()),
    };
    let bytes = number * multiplier;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(error());
    }
    Ok(bytes.round() as u64)
}

/// A size as people read it: "512 bytes", "3.4 MB", "1.2 GB".
pub fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64;
    let mut unit = "";
    for candidate in UNITS {
        value /= 1000.0;
        unit = candidate;
        if value < 1000.0 {
            break;
        }
    }
    format!("{value:.1} {unit}")
}

/// A duration as people read it: "45 s", "12 min", "3 h 20 min".
pub fn format_duration(time: Duration) -> String {
    let secs = time.as_secs();
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs / 60),
        _ => format!("{} h {} min", secs / 3600, (secs % 3600) / 60),
    }
}

/// What the guard saw at one check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DiskReport {
    pub free_bytes: u64,
    /// Everything this recording has written so far.
    pub written_bytes: u64,
    /// The recording's data rate over the last seconds, once it can be measured.
    pub bytes_per_sec: Option<f64>,
    /// Recording time left before the guard stops, at that rate.
    pub time_left: Option<Duration>,
    pub verdict: DiskVerdict,
}

/// What the recording should do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskVerdict {
    Fine,
    /// Less than [`LOW_WARNING`] left: said once (again only after it recovered).
    LowWarning,
    /// Stop now: finishing every file still fits above the floor.
    Stop,
}

/// Watches one recording's free space against the floor the operator set.
#[derive(Debug)]
pub struct DiskGuard {
    floor: u64,
    /// (milliseconds, bytes written), oldest first, spanning the rate window.
    samples: VecDeque<(u64, u64)>,
    warned: bool,
    stopped: bool,
}

impl DiskGuard {
    pub fn new(floor: u64) -> DiskGuard {
        DiskGuard {
            floor,
            samples: VecDeque::new(),
            warned: false,
            stopped: false,
        }
    }

    pub fn floor(&self) -> u64 {
        self.floor
    }

    /// Whether recording may start with `free` bytes available.
    pub fn allows_start(&self, free: u64) -> bool {
        free > self.floor
    }

    /// One check: `free` bytes are available, the recording has written `written` bytes, and
    /// joining the track files of the segments still open will take `pending_merge` more.
    pub fn check(
        &mut self,
        now_ms: u64,
        free: u64,
        written: u64,
        pending_merge: u64,
    ) -> DiskReport {
        self.samples.push_back((now_ms, written));
        while self
            .samples
            .front()
            .is_some_and(|(at, _)| now_ms.saturating_sub(*at) > RATE_WINDOW_MS)
            && self.samples.len() > 2
        {
            self.samples.pop_front();
        }
        let bytes_per_sec = match (self.samples.front(), self.samples.back()) {
            (Some(&(t0, w0)), Some(&(t1, w1))) if t1 > t0 && t1 - t0 >= CHECK_EVERY_MS => {
                Some(w1.saturating_sub(w0) as f64 * 1000.0 / (t1 - t0) as f64)
            }
            _ => None,
        };
        let rate = bytes_per_sec.unwrap_or(0.0);
        let allowance = (rate * FINISH_ALLOWANCE.as_secs_f64()) as u64;
        let usable = free
            .saturating_sub(self.floor)
            .saturating_sub(pending_merge)
            .saturating_sub(allowance);
        // Merging a segment rewrites its tracks: each byte written now needs one more later.
        let time_left = (rate > 0.0).then(|| Duration::from_secs_f64(usable as f64 / (rate * 2.0)));
        let verdict = if self.floor == 0 {
            // A floor of 0 turns the guard off: the operator watches the space themselves.
            DiskVerdict::Fine
        } else if usable == 0 && !self.stopped {
            self.stopped = true;
            DiskVerdict::Stop
        } else if self.stopped {
            DiskVerdict::Fine
        } else {
            match time_left {
                Some(left) if left <= LOW_WARNING && !self.warned => {
                    self.warned = true;
                    DiskVerdict::LowWarning
                }
                Some(left) if left > LOW_REARM => {
                    self.warned = false;
                    DiskVerdict::Fine
                }
                _ => DiskVerdict::Fine,
            }
        };
        DiskReport {
            free_bytes: free,
            written_bytes: written,
            bytes_per_sec,
            time_left,
            verdict,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: u64 = 1_000_000;

    #[test]
    fn sizes_parse_in_both_unit_families() {
        assert_eq!(parse_size("500M"), Ok(500 * MB));
        assert_eq!(parse_size("500 MB"), Ok(500 * MB));
        assert_eq!(parse_size("1.5G"), Ok(1_500 * MB));
        assert_eq!(parse_size("750MiB"), Ok(750 * 1024 * 1024));
        assert_eq!(parse_size("2gib"), Ok(2 * 1024 * 1024 * 1024));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("0"), Ok(0));
        for bad in ["", "M", "lots", "5 parsecs", "-1G", "1e999G", "1.2.3M"] {
            assert!(parse_size(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(
            parse_size("5 parsecs")
                .unwrap_err()
                .to_string()
                .contains("500M")
        );
    }

    #[test]
    fn sizes_and_durations_read_as_people_say_them() {
        assert_eq!(format_size(512), "512 bytes");
        assert_eq!(format_size(3_400_000), "3.4 MB");
        assert_eq!(format_size(1_234_000_000), "1.2 GB");
        assert_eq!(format_duration(Duration::from_secs(45)), "45 s");
        assert_eq!(format_duration(Duration::from_secs(12 * 60 + 5)), "12 min");
        assert_eq!(
            format_duration(Duration::from_secs(3 * 3600 + 20 * 60)),
            "3 h 20 min"
        );
    }

    #[test]
    fn the_free_space_of_a_real_folder_is_read() {
        let free = free_bytes(&std::env::temp_dir()).expect("statvfs on the temp dir");
        assert!(free > 0);
        assert!(free_bytes(Path::new("/no/such/folder/anywhere")).is_err());
    }

    #[test]
    fn nothing_starts_at_or_below_the_floor() {
        let guard = DiskGuard::new(500 * MB);
        assert!(!guard.allows_start(400 * MB));
        assert!(!guard.allows_start(500 * MB));
        assert!(guard.allows_start(501 * MB));
    }

    /// One simulated recording at 1 MB/s onto a disk with `free_at_start` bytes; returns the
    /// second of the first warning, the second of the stop and the free space left then.
    fn simulate(free_at_start: u64, floor: u64) -> (Option<u64>, Option<u64>, u64) {
        let mut guard = DiskGuard::new(floor);
        let mut warned = None;
        for second in (0..100_000u64).step_by(2) {
            let written = second * MB;
            // Everything written is still in open track files: the merge needs as much again.
            let free = free_at_start - written;
            let report = guard.check(second * 1000, free, written, written);
            match report.verdict {
                DiskVerdict::LowWarning => warned = warned.or(Some(second)),
                DiskVerdict::Stop => {
                    // What finishing writes: the jitter buffers' drain and the muxers' last
                    // clusters (well under the allowance), then the merge.
                    let after = free - 3 * MB - written;
                    return (warned, Some(second), after);
                }
                DiskVerdict::Fine => {}
            }
        }
        (warned, None, 0)
    }

    #[test]
    fn the_guard_warns_then_stops_with_room_for_finishing_above_the_floor() {
        let floor = 500 * MB;
        let (warned, stopped, left) = simulate(10_000 * MB, floor);
        let warned = warned.expect("warned");
        let stopped = stopped.expect("stopped");
        // 9,500 MB usable, written twice (tracks, then the merge): about 4,750 s.
        assert!((4_700..=4_760).contains(&stopped), "stopped at {stopped} s");
        // Warned about 15 minutes before.
        let ahead = stopped - warned;
        assert!((880..=920).contains(&ahead), "warned {ahead} s ahead");
        assert!(left >= floor, "only {left} bytes left after finishing");
    }

    #[test]
    fn a_disk_already_close_to_the_floor_stops_at_once_and_warns_once() {
        let floor = 100 * MB;
        let (warned, stopped, left) = simulate(130 * MB, floor);
        assert!(warned.is_some());
        assert!(stopped.expect("stopped") <= 8);
        assert!(left >= floor);
        let mut guard = DiskGuard::new(floor);
        let mut warnings = 0;
        for second in (0..20u64).step_by(2) {
            if guard
                .check(second * 1000, 10_000 * MB, second * MB, 0)
                .verdict
                == DiskVerdict::LowWarning
            {
                warnings += 1;
            }
        }
        assert_eq!(warnings, 0, "plenty of space: no warning");
    }

    #[test]
    fn a_floor_of_zero_turns_the_guard_off() {
        let mut guard = DiskGuard::new(0);
        guard.check(0, 10 * MB, 0, 0);
        let report = guard.check(2_000, MB / 10, 9 * MB, 9 * MB);
        assert_eq!(report.verdict, DiskVerdict::Fine);
        assert!(report.bytes_per_sec.is_some(), "still measured and shown");
        assert!(DiskGuard::new(0).allows_start(1));
    }

    #[test]
    fn the_rate_is_measured_over_a_window_and_unknown_before() {
        let mut guard = DiskGuard::new(0);
        let first = guard.check(0, 1_000 * MB, 0, 0);
        assert_eq!(first.bytes_per_sec, None);
        assert_eq!(first.time_left, None);
        assert_eq!(first.verdict, DiskVerdict::Fine);
        let second = guard.check(2_000, 1_000 * MB, 4 * MB, 0);
        assert_eq!(second.bytes_per_sec, Some(2.0 * MB as f64));
        // A pause in writing shows as a lower rate once the window moves on.
        for at in (4_000..=40_000).step_by(2_000) {
            guard.check(at, 1_000 * MB, 4 * MB, 0);
        }
        let idle = guard.check(42_000, 1_000 * MB, 4 * MB, 0);
        assert_eq!(idle.bytes_per_sec, Some(0.0));
        assert_eq!(idle.time_left, None);
    }
}
