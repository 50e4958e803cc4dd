//! `roomtape bench`: measures the recorder with synthetic participants on loopback.
//!
//! The recorder runs as a child process so its CPU time and memory can be read from /proc
//! alone; the signaling server and the publishers run in this process and send a clip that
//! was encoded once, so they stay cheap and are not counted.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use super::BenchArgs;
use crate::media::clip::EncodedClip;
use crate::media::publisher::{AudioMode, Publisher, PublisherConfig};
use crate::protocol::crypto::Password;
use crate::signaling::server::{Dialect, SignalingServer};

const INSIDE_NAMESPACE: &str = "ROOMTAPE_BENCH_NETNS";

/// Figures for one participant count.
#[derive(Debug, Serialize)]
pub struct BenchResult {
    pub participants: u32,
    pub seconds: f64,
    pub resolution: String,
    pub previews: bool,
    /// Recorder user+sys CPU ÷ wall time ÷ participants, in % of one core.
    pub cpu_per_participant_pct: f64,
    pub cpu_total_pct: f64,
    pub rss_peak_mb: f64,
    pub rss_baseline_mb: f64,
    pub rss_per_participant_mb: f64,
    pub first_keyframe_ms_p50: f64,
    pub first_keyframe_ms_p95: f64,
    pub first_keyframe_ms_max: f64,
    pub connect_ms_p50: f64,
    pub connect_ms_p95: f64,
    pub frames_sent: u64,
    pub frames_recorded: u64,
    pub frames_lost: i64,
    pub frames_recorded_pct: f64,
    pub threads: u64,
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    if std::env::var_os(INSIDE_NAMESPACE).is_none() {
        return reexec_in_namespace();
    }
    crate::media::init()?;
    let (width, height) = super::parse_resolution(&args.resolution)?;
    anyhow::ensure!(args.seconds > 0.0, "--seconds must be positive");
    eprintln!("bench: encoding a {width}x{height} clip once…");
    let clip = Arc::new(EncodedClip::encode("vp8", width, height, 30, 4, 2500)?);
    let mut results = Vec::new();
    for &n in &args.participants {
        anyhow::ensure!((1..=64).contains(&n), "participant counts must be 1 to 64");
        // With previews, each count is measured both ways so the previews' own cost is the
        // difference between two runs of the same machine, minutes apart.
        let modes: &[bool] = if args.previews {
            &[false, true]
        } else {
            &[false]
        };
        for &previews in modes {
            let what = if previews { " with previews" } else { "" };
            eprintln!("bench: {n} participant(s){what}, {} s…", args.seconds);
            results.push(run_one(n, previews, &args, &clip)?);
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        print_table(&results);
    }
    Ok(())
}

/// Runs this same command again inside a network namespace with only loopback.
fn reexec_in_namespace() -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let status = Command::new("unshare")
        .arg("--net")
        .arg("--")
        .arg("sh")
        .arg("-c")
        .arg("ip link set lo up && exec \"$@\"")
        .arg("bench")
        .arg(&exe)
        .args(&args)
        .env(INSIDE_NAMESPACE, "1")
        .status()
        .map_err(|err| anyhow::anyhow!("cannot run unshare: {err}"))?;
    anyhow::ensure!(
        status.success(),
        "the benchmark failed (it needs root for a loopback-only network namespace)"
    );
    Ok(())
}

struct RecorderProcess {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
    events: Vec<Value>,
}

impl RecorderProcess {
    fn drain(&mut self) {
        while let Ok(line) = self.lines.try_recv() {
            if let Ok(value) = serde_json::from_str(&line) {
                self.events.push(value);
            }
        }
    }

    fn count(&mut self, event: &str) -> usize {
        self.drain();
        self.events.iter().filter(|e| e["event"] == event).count()
    }
}

impl Drop for RecorderProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the GLib main context for a while (server and publishers live on it).
fn pump(duration: Duration) {
    let context = glib::MainContext::default();
    let deadline = Instant::now() + duration;
    while Instant::now() < deadline {
        while context.iteration(false) {}
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn pump_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        pump(Duration::from_millis(50));
    }
    done()
}

fn run_one(
    n: u32,
    previews: bool,
    args: &BenchArgs,
    clip: &Arc<EncodedClip>,
) -> anyhow::Result<BenchResult> {
    let server = SignalingServer::start("127.0.0.1:0".parse()?, Dialect::Official)?;
    let url = server.url();
    let output = std::env::temp_dir().join(format!("roomtape-bench-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&output);
    std::fs::create_dir_all(&output)?;
    let mut command = Command::new(std::env::current_exe()?);
    command.args([
        "record",
        "--server",
        &url,
        "--room",
        "bench",
        "--password",
        "false",
        "--stun",
        "false",
        "--json-events",
        "--output",
    ]);
    command.arg(&output);
    if previews {
        command.args(["--decode-previews", "480x270"]);
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut recorder = RecorderProcess {
        child,
        lines: rx,
        events: Vec::new(),
    };
    let pid = recorder.child.id();
    anyhow::ensure!(
        pump_until(Duration::from_secs(15), || recorder
            .count("signaling_connected")
            > 0),
        "the recorder did not connect to the local server"
    );
    pump(Duration::from_millis(500));
    let rss_baseline = read_status_kb(pid, "VmRSS:").unwrap_or(0);

    let mut publishers = Vec::new();
    for i in 0..n {
        let mut config = PublisherConfig::new(&url, "bench", &format!("p{i:02}"));
        config.password = Password::Disabled;
        config.audio = AudioMode::Tone;
        config.clip = Some(clip.clone());
        publishers.push(Publisher::start(config)?);
    }
    let all_started = pump_until(Duration::from_secs(30 + u64::from(n) * 2), || {
        recorder.count("first_keyframe") >= n as usize
    });
    if !all_started {
        eprintln!(
            "bench: only {} of {n} participants reached the recording in time",
            recorder.count("first_keyframe")
        );
    }
    let cpu_start = read_cpu_ticks(pid)?;
    let wall_start = Instant::now();
    pump(Duration::from_secs_f64(args.seconds));
    let cpu_end = read_cpu_ticks(pid)?;
    let wall = wall_start.elapsed().as_secs_f64();
    let rss_peak = read_status_kb(pid, "VmHWM:").unwrap_or(0);
    let rss_now = read_status_kb(pid, "VmRSS:").unwrap_or(0);
    let threads = read_status_kb(pid, "Threads:").unwrap_or(0);

    for publisher in &publishers {
        publisher.stop();
    }
    let frames_sent: u64 = publishers
        .iter()
        .map(|p| p.stats().video_frames_sent.load(Ordering::Relaxed))
        .sum();
    // Each goodbye finalises that participant's file.
    pump_until(Duration::from_secs(30), || {
        recorder.count("segment_finished") >= n as usize
    });
    for publisher in &publishers {
        publisher.close();
    }
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
    pump_until(Duration::from_secs(30), || {
        matches!(recorder.child.try_wait(), Ok(Some(_)))
    });
    recorder.drain();
    drop(server);

    let frames_recorded = count_recorded_frames(&output);
    let ticks_per_second = clock_ticks_per_second();
    let cpu_seconds = (cpu_end.saturating_sub(cpu_start)) as f64 / ticks_per_second;
    let cpu_total_pct = cpu_seconds / wall * 100.0;
    let mut keyframe_ms: Vec<f64> = recorder
        .events
        .iter()
        .filter(|e| e["event"] == "first_keyframe" && e["kind"] == "video")
        .filter_map(|e| e["after_ms"].as_f64())
        .collect();
    let connect_ms = connect_times(&recorder.events);
    let _ = std::fs::remove_dir_all(&output);
    keyframe_ms.sort_by(f64::total_cmp);
    Ok(BenchResult {
        participants: n,
        seconds: wall,
        resolution: args.resolution.clone(),
        previews,
        cpu_per_participant_pct: cpu_total_pct / f64::from(n),
        cpu_total_pct,
        rss_peak_mb: rss_peak as f64 / 1024.0,
        rss_baseline_mb: rss_baseline as f64 / 1024.0,
        rss_per_participant_mb: rss_now.saturating_sub(rss_baseline) as f64 / 1024.0 / f64::from(n),
        first_keyframe_ms_p50: percentile(&keyframe_ms, 0.50),
        first_keyframe_ms_p95: percentile(&keyframe_ms, 0.95),
        first_keyframe_ms_max: keyframe_ms.last().copied().unwrap_or(f64::NAN),
        connect_ms_p50: percentile(&connect_ms, 0.50),
        connect_ms_p95: percentile(&connect_ms, 0.95),
        frames_sent,
        frames_recorded,
        frames_lost: frames_sent as i64 - frames_recorded as i64,
        frames_recorded_pct: if frames_sent == 0 {
            0.0
        } else {
            frames_recorded as f64 / frames_sent as f64 * 100.0
        },
        threads,
    })
}

/// First offer (joined) to connected, per participant session, in ms.
fn connect_times(events: &[Value]) -> Vec<f64> {
    let mut joined: HashMap<String, f64> = HashMap::new();
    let mut times = Vec::new();
    for event in events {
        let Some(id) = event["id"].as_str() else {
            continue;
        };
        let Some(at) = event["at_ms"].as_f64() else {
            continue;
        };
        if event["event"] == "joined" {
            joined.insert(id.to_owned(), at);
        } else if event["event"] == "connection"
            && event["state"] == "connected"
            && let Some(start) = joined.remove(id)
        {
            times.push(at - start);
        }
    }
    times.sort_by(f64::total_cmp);
    times
}

fn count_recorded_frames(output: &Path) -> u64 {
    let mut total = 0;
    for file in media_files(output) {
        match crate::media::inspect::count_frames(&file) {
            Ok(count) => total += count.video,
            Err(err) => eprintln!("bench: {err}"),
        }
    }
    total
}

fn media_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(media_files(&path));
        } else if path.extension().is_some_and(|e| e == "mkv") {
            files.push(path);
        }
    }
    files
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn read_cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which may itself contain spaces: state is field 3.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0);
    let stime: u64 = fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    Ok(utime + stime)
}

fn read_status_kb(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

fn print_table(results: &[BenchResult]) {
    println!(
        "{:>4} {:>8} {:>9} {:>9} {:>8} {:>8} {:>8} {:>14} {:>12} {:>16} {:>8}",
        "N",
        "previews",
        "cpu/part%",
        "cpu tot%",
        "rss MB",
        "MB/part",
        "threads",
        "keyframe ms",
        "connect ms",
        "frames rec/sent",
        "rec %"
    );
    for r in results {
        println!(
            "{:>4} {:>8} {:>9.2} {:>9.1} {:>8.1} {:>8.1} {:>8} {:>14} {:>12} {:>16} {:>8.2}",
            r.participants,
            if r.previews { "yes" } else { "no" },
            r.cpu_per_participant_pct,
            r.cpu_total_pct,
            r.rss_peak_mb,
            r.rss_per_participant_mb,
            r.threads,
            format!(
                "{:.0}/{:.0}/{:.0}",
                r.first_keyframe_ms_p50, r.first_keyframe_ms_p95, r.first_keyframe_ms_max
            ),
            format!("{:.0}/{:.0}", r.connect_ms_p50, r.connect_ms_p95),
            format!("{}/{}", r.frames_recorded, r.frames_sent),
            r.frames_recorded_pct
        );
    }
    println!(
        "(keyframe: p50/p95/max from recording start to the first key frame on disk; connect: p50/p95 first offer to connected)"
    );
    println!();
    for target in check_targets(results) {
        println!(
            "{:<44} {:>10}  target {:<9} {}",
            target.what,
            target.measured,
            target.target,
            if target.met { "met" } else { "MISSED" }
        );
    }
}

/// One of the performance targets, judged on measured figures.
#[derive(Debug, PartialEq)]
pub struct TargetCheck {
    pub what: &'static str,
    pub measured: String,
    pub target: &'static str,
    pub met: bool,
}

/// The largest value (NaN when there is none).
fn worst(values: impl Iterator<Item = f64>) -> f64 {
    values.fold(f64::NAN, f64::max)
}

/// Judges the runs against the recorder's targets; only what the runs measured is judged.
pub fn check_targets(results: &[BenchResult]) -> Vec<TargetCheck> {
    let mut checks = Vec::new();
    let (record_only, with_previews): (Vec<&BenchResult>, Vec<&BenchResult>) =
        results.iter().partition(|r| !r.previews);
    if !record_only.is_empty() {
        let cpu = worst(record_only.iter().map(|r| r.cpu_per_participant_pct));
        checks.push(TargetCheck {
            what: "record-only CPU per participant (worst N)",
            measured: format!("{cpu:.2} %"),
            target: "<= 2 %",
            met: cpu <= 2.0,
        });
        // What each participant beyond the first costs, fixed costs left out.
        let smallest = record_only.iter().min_by_key(|r| r.participants);
        let largest = record_only.iter().max_by_key(|r| r.participants);
        if let (Some(a), Some(b)) = (smallest, largest)
            && b.participants > a.participants
        {
            let slope =
                (b.cpu_total_pct - a.cpu_total_pct) / f64::from(b.participants - a.participants);
            checks.push(TargetCheck {
                what: "record-only CPU per added participant",
                measured: format!("{slope:.2} %"),
                target: "<= 2 %",
                met: slope <= 2.0,
            });
        }
    }
    if let Some(largest) = results
        .iter()
        .filter(|r| r.participants >= 16)
        .max_by_key(|r| r.participants)
    {
        checks.push(TargetCheck {
            what: "frames recorded with 16+ participants",
            measured: format!("{:.2} %", largest.frames_recorded_pct),
            target: ">= 99.9 %",
            met: largest.frames_recorded_pct >= 99.9,
        });
    }
    if !results.is_empty() {
        let p95 = worst(results.iter().map(|r| r.first_keyframe_ms_p95));
        checks.push(TargetCheck {
            what: "record to first key frame p95 (worst N)",
            measured: format!("{p95:.0} ms"),
            target: "<= 300 ms",
            met: p95 <= 300.0,
        });
        // Per mode, the slope between the smallest and largest run, or the one run's own
        // figure; the worse mode counts.
        let rss_slope = |runs: &[&BenchResult]| {
            let smallest = runs.iter().min_by_key(|r| r.participants);
            let largest = runs.iter().max_by_key(|r| r.participants);
            match (smallest, largest) {
                (Some(a), Some(b)) if b.participants > a.participants => {
                    (b.rss_peak_mb - a.rss_peak_mb) / f64::from(b.participants - a.participants)
                }
                (_, Some(b)) => b.rss_per_participant_mb,
                _ => f64::NAN,
            }
        };
        let per_added = worst([rss_slope(&record_only), rss_slope(&with_previews)].into_iter());
        checks.push(TargetCheck {
            what: "RSS per added participant",
            measured: format!("{per_added:.1} MB"),
            target: "<= 25 MB",
            met: per_added <= 25.0,
        });
    }
    if !with_previews.is_empty() {
        let cpu = worst(with_previews.iter().map(|r| r.cpu_per_participant_pct));
        checks.push(TargetCheck {
            what: "record + preview CPU per tile (worst N)",
            measured: format!("{cpu:.2} %"),
            target: "<= 8 %",
            met: cpu <= 8.0,
        });
        let own_costs = with_previews.iter().filter_map(|with| {
            record_only
                .iter()
                .find(|without| without.participants == with.participants)
                .map(|without| {
                    (with.cpu_total_pct - without.cpu_total_pct) / f64::from(with.participants)
                })
        });
        let cpu = worst(own_costs);
        if !cpu.is_nan() {
            checks.push(TargetCheck {
                what: "preview alone CPU per tile (worst N)",
                measured: format!("{cpu:.2} %"),
                target: "<= 8 %",
                met: cpu <= 8.0,
            });
        }
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let values = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];
        assert_eq!(percentile(&values, 0.5), 5.0);
        assert_eq!(percentile(&values, 0.95), 10.0);
        assert!(percentile(&[], 0.5).is_nan());
    }

    fn result(participants: u32, cpu: f64, rss_peak_mb: f64, previews: bool) -> BenchResult {
        BenchResult {
            participants,
            seconds: 10.0,
            resolution: "1280x720".into(),
            previews,
            cpu_per_participant_pct: cpu,
            cpu_total_pct: cpu * f64::from(participants),
            rss_peak_mb,
            rss_baseline_mb: 40.0,
            rss_per_participant_mb: 5.0,
            first_keyframe_ms_p50: 10.0,
            first_keyframe_ms_p95: 20.0,
            first_keyframe_ms_max: 30.0,
            connect_ms_p50: 300.0,
            connect_ms_p95: 400.0,
            frames_sent: 1000,
            frames_recorded: 999,
            frames_lost: 1,
            frames_recorded_pct: 99.9,
            threads: 10,
        }
    }

    #[test]
    fn targets_are_judged_on_the_worst_run() {
        let runs = [result(1, 1.5, 45.0, false), result(16, 2.5, 105.0, false)];
        let checks = check_targets(&runs);
        let cpu = &checks[0];
        assert_eq!(cpu.measured, "2.50 %");
        assert!(!cpu.met, "the 16-participant run misses 2 %");
        let frames = checks
            .iter()
            .find(|c| c.what.starts_with("frames"))
            .unwrap();
        assert!(frames.met);
        let rss = checks.iter().find(|c| c.what.starts_with("RSS")).unwrap();
        assert_eq!(rss.measured, "4.0 MB", "(105 - 45) / 15");
        assert!(checks.iter().all(|c| !c.what.contains("preview")));
        let added = checks
            .iter()
            .find(|c| c.what.contains("added participant") && c.what.contains("CPU"))
            .unwrap();
        assert_eq!(added.measured, "2.57 %", "(40 - 1.5) / 15");
        let with_previews = check_targets(&[result(4, 9.0, 60.0, true)]);
        let preview = with_previews
            .iter()
            .find(|c| c.what.contains("preview"))
            .unwrap();
        assert!(!preview.met);
        assert!(
            with_previews.iter().all(|c| !c.what.contains("alone")),
            "no record-only run to subtract"
        );
    }

    #[test]
    fn the_previews_own_cost_is_the_difference_of_paired_runs() {
        let runs = [
            result(1, 4.0, 45.0, false),
            result(1, 11.0, 60.0, true),
            result(4, 3.0, 52.0, false),
            result(4, 10.5, 100.0, true),
        ];
        let checks = check_targets(&runs);
        let alone = checks.iter().find(|c| c.what.contains("alone")).unwrap();
        assert_eq!(alone.measured, "7.50 %", "the worse of 7.0 and 7.5");
        assert!(alone.met);
        let combined = checks
            .iter()
            .find(|c| c.what.starts_with("record + preview"))
            .unwrap();
        assert_eq!(combined.measured, "11.00 %");
        assert!(!combined.met);
        let rss = checks.iter().find(|c| c.what.starts_with("RSS")).unwrap();
        assert_eq!(
            rss.measured, "13.3 MB",
            "(100 - 60) / 3 with previews, not across modes"
        );
    }

    #[test]
    fn connect_times_pair_joins_with_connections() {
        let events = vec![
            serde_json::json!({"event":"joined","id":"a","at_ms":100}),
            serde_json::json!({"event":"connection","id":"a","state":"connecting","at_ms":150}),
            serde_json::json!({"event":"connection","id":"a","state":"connected","at_ms":400}),
            serde_json::json!({"event":"joined","id":"b","at_ms":200}),
        ];
        assert_eq!(connect_times(&events), vec![300.0]);
    }
}
