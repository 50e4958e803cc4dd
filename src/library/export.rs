//! Export: turning a recorded session into files people use elsewhere.
//!
//! The kinds of output, chosen by a [`Preset`]:
//! - **remux**: one file per participant segment in MKV, WebM or MP4, streams copied as they
//!   were recorded (refused up front, with the reason, when the container cannot hold a codec);
//! - **grid**: one video of the whole session, every participant in a fixed tile, each segment
//!   placed on the session timeline at its `start_offset_ns` (tiles are black before someone
//!   joined and after they left), all audio mixed, encoded;
//! - **audio**: one audio file per participant covering the timeline from the session start,
//!   silence where they were not recorded, so the tracks line up in an audio editor;
//! - **edit**: one MP4 per participant segment that every video editor opens (H.264 + AAC):
//!   streams already in those formats are copied, the others decoded and encoded with the
//!   encoders GStreamer has (`encodebin` picks them from an encoding profile);
//! - **timeline**: one OpenTimelineIO file that places the recorded files on the session
//!   timeline for a video editor ([`super::otio`]); no media is read or written.
//!
//! Unlike the rest of `library/` this module drives GStreamer. Its entry point [`export`]
//! blocks: run it off the main thread. It never writes into an original: every output is
//! written as `.<name>.partial` in the output folder and renamed into place once complete;
//! on failure or cancel the partial file is removed.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use gst::prelude::*;
use gst_pbutils::prelude::*;

use super::manifest::{ManifestError, SessionManifest};
use super::naming;
use super::otio;
use super::presets::{Canvas, Preset, PresetKind, codec_label};

/// Name of the folder exports go to inside a session folder when no other is given.
pub const DEFAULT_EXPORT_FOLDER: &str = "export";

/// A pipeline whose output does not advance for this long is reported as stuck.
const STALL_TIMEOUT: Duration = Duration::from_secs(60);

/// How often progress is reported and the cancel flag is checked.
const POLL: Duration = Duration::from_millis(100);

/// Sample rate and channel count everything is mixed at.
const MIX_RATE: i32 = 48_000;
const MIX_CHANNELS: i32 = 2;

/// Asks a running export to stop. Clones share the flag.
#[derive(Debug, Clone, Default)]
pub struct CancelFlag(Arc<AtomicBool>);

impl CancelFlag {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the export stop at its next check (within about 100 ms) and clean up.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// How far an export is.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// Of the whole export (all its output files), from 0 to 1.
    pub fraction: f64,
    /// Which output file is being written (its final name, without folder).
    pub current: String,
    /// Output number, from 1, and how many there are.
    pub index: usize,
    pub count: usize,
}

/// Why an export did not happen or did not finish.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Stopped through a [`CancelFlag`]; nothing was left behind.
    #[error("the export was cancelled")]
    Cancelled,
    /// The session folder has no usable manifest.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The chosen format cannot hold what was recorded (e.g. VP8 into MP4).
    #[error("{0}")]
    Unsupported(String),
    /// The session has no media this export could use.
    #[error("nothing to export: {0}")]
    Nothing(String),
    /// A GStreamer element this export needs is not installed.
    #[error(
        "GStreamer element \"{0}\" is missing; install the GStreamer plugin sets (good, bad, ugly, libav)"
    )]
    MissingElement(String),
    /// Creating or renaming files failed.
    #[error("{0}")]
    Io(String),
    /// GStreamer reported an error while exporting.
    #[error("export of {file} failed: {message}")]
    Pipeline { file: String, message: String },
}

/// Where exports go when the user names no folder.
pub fn default_output_dir(session_dir: &Path) -> PathBuf {
    session_dir.join(DEFAULT_EXPORT_FOLDER)
}

/// One elementary stream of a media file.
#[derive(Debug, Clone)]
struct StreamInfo {
    caps_name: String,
    is_video: bool,
}

/// A media file of a segment, as the discoverer saw it.
#[derive(Debug, Clone)]
struct SourceFile {
    path: PathBuf,
    streams: Vec<StreamInfo>,
}

/// One segment's media: usually one file, or the per-track files a crashed recorder left.
#[derive(Debug, Clone)]
struct Source {
    /// Output stem for per-segment outputs (the recorded file's stem).
    stem: String,
    start_ns: u64,
    duration_ns: u64,
    files: Vec<SourceFile>,
}

impl Source {
    fn has(&self, video: bool) -> bool {
        self.files
            .iter()
            .any(|f| f.streams.iter().any(|s| s.is_video == video))
    }

    fn end_ns(&self) -> u64 {
        self.start_ns.saturating_add(self.duration_ns)
    }
}

/// A participant with the segments whose media could be found.
#[derive(Debug, Clone)]
struct ParticipantMedia {
    label: String,
    sources: Vec<Source>,
}

/// One output file to make.
enum Job {
    Remux(Source),
    Edit(Source),
    Grid {
        /// (tile index, source) for every segment.
        sources: Vec<(usize, Source)>,
        /// One per tile, in tile order: who sits there.
        cells: Vec<Cell>,
        canvas: Canvas,
    },
    Audio(Vec<Source>),
}

/// A participant's place in a grid video.
#[derive(Debug, Clone)]
struct Cell {
    label: String,
    /// Without video, the cell is a card with their initial and name.
    has_video: bool,
}

struct PlannedOutput {
    stem: String,
    job: Job,
    /// Length of the output's timeline, for progress.
    duration_ns: u64,
}

/// Exports the session in `session_dir` with `preset` into `output_dir` (created if needed).
///
/// Blocks until done; reports progress through `on_progress` about ten times a second and
/// checks `cancel` as often. Returns the files written.
///
/// # Errors
/// See [`ExportError`]. On any error no output of the failed step remains, and outputs of
/// earlier steps of the same export are removed too, so an export either completes or leaves
/// nothing.
pub fn export(
    session_dir: &Path,
    preset: &Preset,
    output_dir: &Path,
    cancel: &CancelFlag,
    on_progress: &mut dyn FnMut(&Progress),
) -> Result<Vec<PathBuf>, ExportError> {
    if preset.kind == PresetKind::Timeline {
        return export_timeline(session_dir, preset, output_dir, cancel, on_progress);
    }
    gst::init().map_err(|e| ExportError::Io(format!("GStreamer did not start: {e}")))?;
    let manifest = SessionManifest::load(session_dir)?;
    let media = find_media(session_dir, &manifest);
    let outputs = plan(&manifest, &media, preset)?;

    fs::create_dir_all(output_dir)
        .map_err(|e| ExportError::Io(format!("cannot create {}: {e}", output_dir.display())))?;

    let total_ns: u64 = outputs.iter().map(|o| o.duration_ns.max(1)).sum();
    let count = outputs.len();
    let mut done_ns = 0u64;
    let mut written: Vec<PathBuf> = Vec::new();
    let mut reserved: HashSet<String> = HashSet::new();
    for (i, output) in outputs.into_iter().enumerate() {
        let final_name = free_name_in(output_dir, &reserved, &output.stem, &preset.extension);
        reserved.insert(final_name.clone());
        let partial = output_dir.join(format!(".{final_name}.partial"));
        let weight = output.duration_ns.max(1);
        let mut report = |fraction: f64| {
            let overall =
                (done_ns as f64 + fraction.clamp(0.0, 1.0) * weight as f64) / total_ns as f64;
            on_progress(&Progress {
                fraction: overall.clamp(0.0, 1.0),
                current: final_name.clone(),
                index: i + 1,
                count,
            });
        };
        report(0.0);
        let result = write_one(&output, preset, &partial, cancel, &mut report).and_then(|()| {
            let target = output_dir.join(&final_name);
            fs::rename(&partial, &target)
                .map(|()| target)
                .map_err(|e| ExportError::Io(format!("cannot rename {}: {e}", partial.display())))
        });
        match result {
            Ok(target) => written.push(target),
            Err(err) => {
                let _ = fs::remove_file(&partial);
                for file in &written {
                    let _ = fs::remove_file(file);
                }
                return Err(match err {
                    ExportError::Pipeline { message, .. } if cancel.is_cancelled() => {
                        tracing::debug!("export cancelled while failing: {message}");
                        ExportError::Cancelled
                    }
                    ExportError::Pipeline { message, .. } => ExportError::Pipeline {
                        file: final_name,
                        message,
                    },
                    other => other,
                });
            }
        }
        done_ns += weight;
    }
    Ok(written)
}

/// A name `stem.ext` (or `stem-2.ext`…) that is neither in `dir` yet nor `reserved` by this
/// export: an export never overwrites a file.
fn free_name_in(dir: &Path, reserved: &HashSet<String>, stem: &str, ext: &str) -> String {
    let mut taken = reserved.clone();
    if let Ok(entries) = fs::read_dir(dir) {
        taken.extend(
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned()),
        );
    }
    naming::unique_in(&taken, stem, ext)
}

/// Writes the OpenTimelineIO file of a session: a few kilobytes of JSON, so progress jumps
/// from start to end.
fn export_timeline(
    session_dir: &Path,
    preset: &Preset,
    output_dir: &Path,
    cancel: &CancelFlag,
    on_progress: &mut dyn FnMut(&Progress),
) -> Result<Vec<PathBuf>, ExportError> {
    let manifest = SessionManifest::load(session_dir)?;
    let timeline = otio::build(&manifest, session_dir, Some(output_dir))
        .map_err(|e| ExportError::Nothing(e.to_string()))?;
    for skipped in &timeline.skipped {
        tracing::warn!("left out of the timeline: {skipped}");
    }
    let mut json = serde_json::to_vec_pretty(&timeline.document)
        .map_err(|e| ExportError::Io(format!("cannot write the timeline: {e}")))?;
    json.push(b'\n');
    if cancel.is_cancelled() {
        return Err(ExportError::Cancelled);
    }
    fs::create_dir_all(output_dir)
        .map_err(|e| ExportError::Io(format!("cannot create {}: {e}", output_dir.display())))?;

    // Named after the session folder, which says room and time, so that timelines of several
    // sessions exported to one place stay apart.
    let stem = session_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = naming::sanitize_component_or(
        &stem,
        &naming::sanitize_component_or(&manifest.room, "session"),
    );
    let final_name = free_name_in(output_dir, &HashSet::new(), &stem, &preset.extension);
    let mut report = |fraction: f64| {
        on_progress(&Progress {
            fraction,
            current: final_name.clone(),
            index: 1,
            count: 1,
        });
    };
    report(0.0);
    let partial = output_dir.join(format!(".{final_name}.partial"));
    let target = output_dir.join(&final_name);
    let written = super::files::replace_with_new(&partial)
        .and_then(|mut file| {
            std::io::Write::write_all(&mut file, &json)?;
            file.sync_all()
        })
        .and_then(|()| fs::rename(&partial, &target));
    if let Err(e) = written {
        let _ = fs::remove_file(&partial);
        return Err(ExportError::Io(format!(
            "cannot write {}: {e}",
            target.display()
        )));
    }
    report(1.0);
    Ok(vec![target])
}

/// Builds one output's pipeline and plays it to the end into `partial`.
fn write_one(
    output: &PlannedOutput,
    preset: &Preset,
    partial: &Path,
    cancel: &CancelFlag,
    report: &mut dyn FnMut(f64),
) -> Result<(), ExportError> {
    let pipeline = gst::Pipeline::new();
    let position = Positions::default();
    let built = match &output.job {
        // A remux is an edit export that found nothing to re-encode (the plan refused it).
        Job::Remux(source) | Job::Edit(source) => {
            build_per_segment(&pipeline, preset, source, partial, &position)
        }
        Job::Grid {
            sources,
            cells,
            canvas,
        } => build_decoded(
            &pipeline,
            preset,
            sources,
            Some(Grid {
                cells,
                canvas: *canvas,
                duration_ns: output.duration_ns,
            }),
            partial,
            &position,
        ),
        Job::Audio(sources) => {
            let sources: Vec<(usize, Source)> = sources.iter().map(|s| (0, s.clone())).collect();
            build_decoded(&pipeline, preset, &sources, None, partial, &position)
        }
    };
    let result = built.and_then(|()| {
        run_pipeline(&pipeline, output.duration_ns, &position, cancel, report).map_err(|message| {
            match message {
                RunError::Cancelled => ExportError::Cancelled,
                RunError::Failed(message) => ExportError::Pipeline {
                    file: partial.display().to_string(),
                    message,
                },
            }
        })
    });
    let _ = pipeline.set_state(gst::State::Null);
    result
}

/// What the recording left on disk for each participant, probed with the discoverer.
fn find_media(session_dir: &Path, manifest: &SessionManifest) -> Vec<ParticipantMedia> {
    let discoverer = gst_pbutils::Discoverer::new(gst::ClockTime::from_seconds(20)).ok();
    let mut out = Vec::new();
    for participant in &manifest.participants {
        let label = if participant.label.is_empty() {
            participant.id.clone()
        } else {
            participant.label.clone()
        };
        let mut sources = Vec::new();
        for segment in &participant.segments {
            // The merged file when it exists, else the per-track files left by a crash.
            let candidates: Vec<PathBuf> = match segment.path_in(session_dir) {
                Some(path) if !segment.file.is_empty() && is_nonempty_file(&path) => vec![path],
                _ => segment
                    .track_files
                    .iter()
                    .filter_map(|name| naming::resolve_in(session_dir, name))
                    .filter(|p| is_nonempty_file(p))
                    .collect(),
            };
            let mut files = Vec::new();
            let mut probed_ns = 0u64;
            for path in candidates {
                match probe(discoverer.as_ref(), &path) {
                    Some((streams, duration)) if !streams.is_empty() => {
                        probed_ns = probed_ns.max(duration);
                        files.push(SourceFile { path, streams });
                    }
                    _ => tracing::warn!("{} has no playable streams, skipped", path.display()),
                }
            }
            if files.is_empty() {
                continue;
            }
            let stem = Path::new(&segment.file)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| {
                    let base = naming::sanitize_component_or(&label, naming::FALLBACK_PARTICIPANT);
                    let stem = if segment.index == 0 {
                        base
                    } else {
                        format!("{base} part {}", segment.index + 1)
                    };
                    crate::library::split::part_stem(&stem, segment.part)
                });
            sources.push(Source {
                stem,
                start_ns: segment.start_offset_ns,
                duration_ns: segment.duration_ns.filter(|d| *d > 0).unwrap_or(probed_ns),
                files,
            });
        }
        out.push(ParticipantMedia { label, sources });
    }
    out
}

fn is_nonempty_file(path: &Path) -> bool {
    path.metadata().is_ok_and(|m| m.is_file() && m.len() > 0)
}

/// Streams and duration of a file.
fn probe(
    discoverer: Option<&gst_pbutils::Discoverer>,
    path: &Path,
) -> Option<(Vec<StreamInfo>, u64)> {
    let uri = glib::filename_to_uri(path, None).ok()?;
    let info = discoverer?.discover_uri(&uri).ok()?;
    let streams = info
        .stream_list()
        .iter()
        .filter_map(|s| s.caps())
        .filter_map(|caps| caps.structure(0).map(|s| s.name().to_string()))
        .filter(|name| name.starts_with("video/") || name.starts_with("audio/"))
        .map(|caps_name| StreamInfo {
            is_video: caps_name.starts_with("video/"),
            caps_name,
        })
        .collect();
    Some((streams, info.duration().map_or(0, |d| d.nseconds())))
}

/// Decides which files to write, refusing up front what the preset cannot do.
fn plan(
    manifest: &SessionManifest,
    media: &[ParticipantMedia],
    preset: &Preset,
) -> Result<Vec<PlannedOutput>, ExportError> {
    let any = media.iter().any(|p| !p.sources.is_empty());
    if !any {
        return Err(ExportError::Nothing(
            "no recorded media files were found in the session folder".to_owned(),
        ));
    }
    match preset.kind {
        PresetKind::Remux => {
            let mut refused = Vec::new();
            for participant in media {
                for source in &participant.sources {
                    for stream in source.files.iter().flat_map(|f| &f.streams) {
                        if !preset.accepts(&stream.caps_name) {
                            refused.push(format!(
                                "{} ({})",
                                participant.label,
                                codec_label(&stream.caps_name)
                            ));
                        }
                    }
                }
            }
            if !refused.is_empty() {
                refused.dedup();
                let allowed: Vec<&str> = preset
                    .video_caps
                    .iter()
                    .chain(&preset.audio_caps)
                    .map(|c| codec_label(c))
                    .collect();
                return Err(ExportError::Unsupported(format!(
                    "{} can only hold {} without re-encoding; these recordings use other codecs: {}. \
                     Export them as \"MP4 for editing\" (which re-encodes what MP4 cannot hold), \
                     as MKV (which copies everything), or as a grid video",
                    preset.extension.to_uppercase(),
                    allowed.join(", "),
                    refused.join(", ")
                )));
            }
            Ok(media
                .iter()
                .flat_map(|p| &p.sources)
                .map(|source| PlannedOutput {
                    stem: source.stem.clone(),
                    duration_ns: source.duration_ns,
                    job: Job::Remux(source.clone()),
                })
                .collect())
        }
        PresetKind::Edit => {
            for caps_name in preset.video_caps.iter().chain(&preset.audio_caps) {
                if encoder_for(caps_name).is_none() {
                    return Err(ExportError::MissingElement(format!(
                        "an encoder for {}",
                        codec_label(caps_name)
                    )));
                }
            }
            Ok(media
                .iter()
                .flat_map(|p| &p.sources)
                .map(|source| PlannedOutput {
                    stem: source.stem.clone(),
                    duration_ns: source.duration_ns,
                    job: Job::Edit(source.clone()),
                })
                .collect())
        }
        PresetKind::Grid => {
            let canvas = preset.canvas.ok_or_else(|| {
                ExportError::Unsupported(format!("preset {} has no canvas", preset.id))
            })?;
            let mut cells = Vec::new();
            let mut sources = Vec::new();
            // Everyone recorded gets a cell: video, or a card with their name.
            for participant in media.iter().filter(|p| !p.sources.is_empty()) {
                let tile = cells.len();
                cells.push(Cell {
                    label: participant.label.clone(),
                    has_video: participant.sources.iter().any(|s| s.has(true)),
                });
                for source in &participant.sources {
                    sources.push((tile, source.clone()));
                }
            }
            let duration_ns = sources.iter().map(|(_, s)| s.end_ns()).max().unwrap_or(0);
            let room = naming::sanitize_component_or(&manifest.room, "session");
            Ok(vec![PlannedOutput {
                stem: format!("{room} grid"),
                duration_ns,
                job: Job::Grid {
                    sources,
                    cells,
                    canvas,
                },
            }])
        }
        PresetKind::Timeline => Err(ExportError::Unsupported(
            "a timeline is written from the manifest, without probing media".to_owned(),
        )),
        PresetKind::Audio => {
            let outputs: Vec<PlannedOutput> = media
                .iter()
                .filter_map(|p| {
                    let sources: Vec<Source> =
                        p.sources.iter().filter(|s| s.has(false)).cloned().collect();
                    let duration_ns = sources.iter().map(Source::end_ns).max()?;
                    Some(PlannedOutput {
                        stem: naming::sanitize_component_or(&p.label, naming::FALLBACK_PARTICIPANT),
                        duration_ns,
                        job: Job::Audio(sources),
                    })
                })
                .collect();
            if outputs.is_empty() {
                return Err(ExportError::Nothing(
                    "nobody in this session was recorded with audio".to_owned(),
                ));
            }
            Ok(outputs)
        }
    }
}

fn make(factory: &str) -> Result<gst::Element, ExportError> {
    gst::ElementFactory::make(factory)
        .build()
        .map_err(|_| ExportError::MissingElement(factory.to_owned()))
}

/// A bad preset description, reported with the preset it came from.
fn bad_preset(preset: &Preset, what: &str, err: impl std::fmt::Display) -> ExportError {
    ExportError::Unsupported(format!("preset {}: {what}: {err}", preset.id))
}

/// The muxer (one element) of a preset.
fn make_muxer(preset: &Preset) -> Result<gst::Element, ExportError> {
    let element = gst::parse::launch(&preset.muxer).map_err(|e| bad_preset(preset, "muxer", e))?;
    if element.is::<gst::Bin>() {
        return Err(bad_preset(
            preset,
            "muxer",
            "must be a single element, not a chain",
        ));
    }
    Ok(element)
}

/// An encoder chain of a preset, as a bin with one sink and one source pad.
fn make_chain(
    preset: &Preset,
    what: &str,
    desc: Option<&str>,
) -> Result<gst::Element, ExportError> {
    let desc = desc.ok_or_else(|| bad_preset(preset, what, "missing"))?;
    gst::parse::bin_from_description(desc, true)
        .map(|bin| bin.upcast())
        .map_err(|e| bad_preset(preset, what, e))
}

/// A sink pad on the muxer for one stream: `video_%u`/`audio_%u` request pads, or the static
/// `sink` pad of single-stream writers such as `wavenc`.
fn muxer_pad(mux: &gst::Element, video: bool) -> Option<gst::Pad> {
    let template = if video { "video_%u" } else { "audio_%u" };
    mux.request_pad_simple(template)
        .or_else(|| mux.static_pad("sink").filter(|p| !p.is_linked()))
}

fn file_source(path: &Path) -> Result<gst::Element, ExportError> {
    gst::ElementFactory::make("filesrc")
        .property("location", path.to_string_lossy().as_ref())
        .build()
        .map_err(|_| ExportError::MissingElement("filesrc".to_owned()))
}

fn file_sink(partial: &Path) -> Result<gst::Element, ExportError> {
    gst::ElementFactory::make("filesink")
        .property("location", partial.to_string_lossy().as_ref())
        .build()
        .map_err(|_| ExportError::MissingElement("filesink".to_owned()))
}

fn queue(max_time: Duration) -> Result<gst::Element, ExportError> {
    gst::ElementFactory::make("queue")
        .property("max-size-buffers", 0u32)
        .property("max-size-bytes", 0u32)
        .property("max-size-time", max_time.as_nanos() as u64)
        .build()
        .map_err(|_| ExportError::MissingElement("queue".to_owned()))
}

fn link_err(err: impl std::fmt::Debug) -> ExportError {
    ExportError::Pipeline {
        file: String::new(),
        message: format!("cannot link elements: {err:?}"),
    }
}

fn add_err(err: impl std::fmt::Display) -> ExportError {
    ExportError::Pipeline {
        file: String::new(),
        message: format!("cannot build the pipeline: {err}"),
    }
}

/// How far one stream has reached its muxer.
#[derive(Debug, Default)]
struct StreamPosition {
    ns: AtomicU64,
    seen: AtomicBool,
    ended: AtomicBool,
}

/// Every stream of one output, as its muxer receives them.
#[derive(Debug, Clone, Default)]
struct Positions(Arc<std::sync::Mutex<Vec<Arc<StreamPosition>>>>);

impl Positions {
    /// Each stream's position, `None` before its first buffer; an ended stream is at `end_ns`.
    fn snapshot(&self, end_ns: u64) -> Vec<Option<u64>> {
        self.0
            .lock()
            .map(|streams| {
                streams
                    .iter()
                    .map(|s| {
                        if s.ended.load(Ordering::Relaxed) {
                            Some(end_ns)
                        } else if s.seen.load(Ordering::Relaxed) {
                            Some(s.ns.load(Ordering::Relaxed))
                        } else {
                            None
                        }
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Follows the buffers (and the end) of one stream reaching the muxer, for progress.
fn track_position(pad: &gst::Pad, positions: &Positions) {
    let stream = Arc::new(StreamPosition::default());
    if let Ok(mut streams) = positions.0.lock() {
        streams.push(stream.clone());
    }
    pad.add_probe(
        gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM,
        move |_, info| {
            if let Some(buffer) = info.buffer() {
                if let Some(pts) = buffer.pts() {
                    let end = pts.nseconds() + buffer.duration().map_or(0, |d| d.nseconds());
                    stream.ns.fetch_max(end, Ordering::Relaxed);
                    stream.seen.store(true, Ordering::Relaxed);
                }
            } else if let Some(gst::PadProbeData::Event(event)) = &info.data
                && event.type_() == gst::EventType::Eos
            {
                stream.ended.store(true, Ordering::Relaxed);
            }
            gst::PadProbeReturn::Ok
        },
    );
}

/// The progress of one output, from what reached its muxer. The stream furthest behind sets
/// the pace (a grid's audio runs far ahead of its video), shown progress never goes back, and
/// it stays under 100 % until the muxer has finished the file (MP4's index is written last).
#[derive(Debug, Clone)]
pub struct ProgressMeter {
    duration_ns: u64,
    shown: f64,
}

impl ProgressMeter {
    /// The most shown before the output is complete.
    pub const BEFORE_DONE: f64 = 0.99;

    pub fn new(duration_ns: u64) -> ProgressMeter {
        ProgressMeter {
            duration_ns,
            shown: 0.0,
        }
    }

    /// `positions`: how far each stream has reached, `None` for one with no data yet.
    pub fn update(&mut self, positions: &[Option<u64>]) -> f64 {
        if self.duration_ns == 0 || positions.is_empty() {
            return self.shown;
        }
        let slowest = positions.iter().map(|p| p.unwrap_or(0)).min().unwrap_or(0);
        let fraction = (slowest as f64 / self.duration_ns as f64).min(Self::BEFORE_DONE);
        self.shown = self.shown.max(fraction);
        self.shown
    }

    /// The muxer has written everything.
    pub fn finish(&mut self) -> f64 {
        self.shown = 1.0;
        self.shown
    }
}

/// Links a dynamic pad of a demuxer or decoder to the first waiting chain of its kind, or to
/// a fakesink when nothing wants it (a stream the export does not use).
fn connect_dynamic_pads(
    element: &gst::Element,
    pipeline: &gst::Pipeline,
    chains: Vec<(bool, gst::Pad)>,
) {
    let waiting = Arc::new(std::sync::Mutex::new(chains));
    let pipeline_weak = pipeline.downgrade();
    let waiting_for_pads = waiting.clone();
    element.connect_pad_added(move |_, pad| {
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        let is_video = caps
            .structure(0)
            .is_some_and(|s| s.name().starts_with("video/"))
            || pad.name().starts_with("video");
        let target = waiting_for_pads.lock().ok().and_then(|mut w| {
            let pos = w.iter().position(|(v, _)| *v == is_video)?;
            Some(w.remove(pos).1)
        });
        match target {
            Some(sink) => {
                if let Err(err) = pad.link(&sink) {
                    tracing::warn!("export: cannot link {}: {err:?}", pad.name());
                }
            }
            None => {
                let Some(pipeline) = pipeline_weak.upgrade() else {
                    return;
                };
                if let Ok(sink) = gst::ElementFactory::make("fakesink")
                    .property("sync", false)
                    .property("async", false)
                    .build()
                    && pipeline.add(&sink).is_ok()
                    && sink.sync_state_with_parent().is_ok()
                    && let Some(sink_pad) = sink.static_pad("sink")
                {
                    let _ = pad.link(&sink_pad);
                }
            }
        }
    });
    // A stream the discoverer promised but the file did not deliver: end its chain so the
    // muxer or mixer does not wait for it forever.
    element.connect_no_more_pads(move |_| {
        if let Ok(mut w) = waiting.lock() {
            for (_, sink) in w.drain(..) {
                sink.send_event(gst::event::Eos::new());
            }
        }
    });
}

/// The installed encoder GStreamer would pick for a caps name (highest rank first), if any.
pub fn encoder_for(caps_name: &str) -> Option<String> {
    let caps = target_caps(caps_name);
    let mut encoders = gst::ElementFactory::factories_with_type(
        gst::ElementFactoryType::ENCODER,
        gst::Rank::MARGINAL,
    )
    .into_iter()
    .filter(|f| f.can_src_any_caps(&caps))
    // OpenMAX wrappers register everywhere but work only on some hardware.
    .filter(|f| !f.name().contains("omx"))
    .collect::<Vec<_>>();
    encoders.sort_by_key(|f| std::cmp::Reverse(f.rank()));
    encoders.first().map(|f| f.name().to_string())
}

/// The caps an encoding profile targets for a caps name of the preset.
fn target_caps(caps_name: &str) -> gst::Caps {
    match caps_name {
        "audio/mpeg" => gst::Caps::builder("audio/mpeg")
            .field("mpegversion", 4i32)
            .build(),
        other => gst::Caps::new_empty_simple(other),
    }
}

/// A stream an edit export decodes and encodes again.
#[derive(Debug, Clone, PartialEq)]
pub struct Reencoded {
    pub participant: String,
    /// As recorded ("VP8"), and what it becomes ("H.264").
    pub from: String,
    pub to: String,
    pub video: bool,
    pub seconds: f64,
}

/// Which streams of a session an edit export would re-encode. Empty when everything is
/// copied. Blocks (the discoverer reads the files).
pub fn reencoded_streams(
    session_dir: &Path,
    preset: &Preset,
) -> Result<Vec<Reencoded>, ExportError> {
    gst::init().map_err(|e| ExportError::Io(format!("GStreamer did not start: {e}")))?;
    let manifest = SessionManifest::load(session_dir)?;
    let mut out = Vec::new();
    for participant in find_media(session_dir, &manifest) {
        for source in &participant.sources {
            for stream in source.files.iter().flat_map(|f| &f.streams) {
                if preset.accepts(&stream.caps_name) {
                    continue;
                }
                let target = if stream.is_video {
                    preset.video_caps.first()
                } else {
                    preset.audio_caps.first()
                };
                out.push(Reencoded {
                    participant: participant.label.clone(),
                    from: codec_label(&stream.caps_name).to_owned(),
                    to: target
                        .map(|t| codec_label(t).to_owned())
                        .unwrap_or_default(),
                    video: stream.is_video,
                    seconds: source.duration_ns as f64 / 1e9,
                });
            }
        }
    }
    Ok(out)
}

/// One output file per segment: copies the streams the container takes, and decodes and
/// re-encodes the others through `encodebin` (encoders chosen by GStreamer from what is
/// installed; only an edit export has such streams):
/// `filesrc → matroskademux → (parser | decodebin → convert → encodebin) → queue → muxer`.
fn build_per_segment(
    pipeline: &gst::Pipeline,
    preset: &Preset,
    source: &Source,
    partial: &Path,
    positions: &Positions,
) -> Result<(), ExportError> {
    let mux = make_muxer(preset)?;
    let sink = file_sink(partial)?;
    pipeline.add_many([&mux, &sink]).map_err(add_err)?;
    mux.link(&sink).map_err(link_err)?;
    // Editors seek: a key frame every two seconds, quality-based rate control.
    pipeline.connect_deep_element_added(|_, _, element| {
        if element.factory().is_some_and(|f| f.name() == "x264enc") {
            element.set_property_from_str("speed-preset", "veryfast");
            element.set_property_from_str("pass", "qual");
            element.set_property("quantizer", 20u32);
            element.set_property("key-int-max", 60u32);
        }
    });
    for file in &source.files {
        let src = file_source(&file.path)?;
        let demux = make("matroskademux")?;
        pipeline.add_many([&src, &demux]).map_err(add_err)?;
        src.link(&demux).map_err(link_err)?;
        let mut chains = Vec::new();
        for stream in &file.streams {
            let mux_pad = muxer_pad(&mux, stream.is_video).ok_or_else(|| {
                ExportError::Unsupported(format!("{} takes no such stream", preset.muxer))
            })?;
            let out_queue = queue(Duration::from_secs(5))?;
            pipeline.add(&out_queue).map_err(add_err)?;
            out_queue
                .static_pad("src")
                .ok_or_else(|| link_err("queue"))?
                .link(&mux_pad)
                .map_err(link_err)?;
            track_position(&mux_pad, positions);
            let entry = if preset.accepts(&stream.caps_name) {
                let mut elements = Vec::new();
                if let Some(parser) = parser_for(&stream.caps_name) {
                    elements.push(make(parser)?);
                }
                pipeline.add_many(&elements).map_err(add_err)?;
                elements.push(out_queue.clone());
                gst::Element::link_many(&elements).map_err(link_err)?;
                elements[0].clone()
            } else {
                reencode_chain(pipeline, preset, stream.is_video, &out_queue)?
            };
            let sink_pad = entry.static_pad("sink").ok_or_else(|| link_err("chain"))?;
            chains.push((stream.is_video, sink_pad));
        }
        connect_dynamic_pads(&demux, pipeline, chains);
    }
    Ok(())
}

/// queue → decodebin → convert → encodebin (the preset's format) → `out`. Returns the first
/// element.
fn reencode_chain(
    pipeline: &gst::Pipeline,
    preset: &Preset,
    video: bool,
    out: &gst::Element,
) -> Result<gst::Element, ExportError> {
    let target = if video {
        preset.video_caps.first()
    } else {
        preset.audio_caps.first()
    }
    .ok_or_else(|| bad_preset(preset, "formats", "none to encode into"))?;
    let profile: gst_pbutils::EncodingProfile = if video {
        gst_pbutils::EncodingVideoProfile::builder(&target_caps(target))
            .build()
            .upcast()
    } else {
        gst_pbutils::EncodingAudioProfile::builder(&target_caps(target))
            .build()
            .upcast()
    };
    let input = queue(Duration::from_secs(3))?;
    let decode = make("decodebin")?;
    let converters: Vec<gst::Element> = if video {
        vec![make("videoconvert")?]
    } else {
        vec![make("audioconvert")?, make("audioresample")?]
    };
    let encode = gst::ElementFactory::make("encodebin")
        .property("profile", &profile)
        .build()
        .map_err(|_| ExportError::MissingElement("encodebin".to_owned()))?;
    pipeline
        .add_many([&input, &decode, &encode])
        .map_err(add_err)?;
    pipeline.add_many(&converters).map_err(add_err)?;
    input.link(&decode).map_err(link_err)?;
    gst::Element::link_many(&converters).map_err(link_err)?;
    // encodebin hands out a sink pad for what can reach its profile (a pad asked for by
    // template name must name a profile): linking the elements asks for one by caps.
    converters
        .last()
        .ok_or_else(|| link_err("converter"))?
        .link(&encode)
        .map_err(|_| {
            ExportError::MissingElement(format!("an encoder for {}", codec_label(target)))
        })?;
    encode.link(out).map_err(link_err)?;
    let first_converter = converters
        .first()
        .and_then(|c| c.static_pad("sink"))
        .ok_or_else(|| link_err("converter"))?;
    decode.connect_pad_added(move |_, pad| {
        if !first_converter.is_linked()
            && let Err(err) = pad.link(&first_converter)
        {
            tracing::warn!("export: cannot link the decoder: {err:?}");
        }
    });
    Ok(input)
}

/// The parser that gives a muxer the stream format it wants, where one is needed.
fn parser_for(caps_name: &str) -> Option<&'static str> {
    match caps_name {
        "video/x-h264" => Some("h264parse"),
        "video/x-h265" => Some("h265parse"),
        "video/x-vp9" => Some("vp9parse"),
        "video/x-av1" => Some("av1parse"),
        "audio/x-opus" => Some("opusparse"),
        "audio/mpeg" => Some("aacparse"),
        _ => None,
    }
    .filter(|name| gst::ElementFactory::find(name).is_some())
}

/// Tile rectangles: a near-square grid with every participant in a fixed place.
pub fn tile_layout(
    tiles: usize,
    canvas_width: u32,
    canvas_height: u32,
) -> Vec<(i32, i32, i32, i32)> {
    if tiles == 0 {
        return Vec::new();
    }
    let cols = (tiles as f64).sqrt().ceil() as usize;
    let rows = tiles.div_ceil(cols);
    // Even sizes: most encoders want 4:2:0 chroma.
    let w = (canvas_width as usize / cols) & !1;
    let h = (canvas_height as usize / rows) & !1;
    (0..tiles)
        .map(|i| {
            let (col, row) = (i % cols, i / cols);
            ((col * w) as i32, (row * h) as i32, w as i32, h as i32)
        })
        .collect()
}

/// What a grid video shows: who sits in which cell, on what canvas, for how long.
struct Grid<'a> {
    cells: &'a [Cell],
    canvas: Canvas,
    duration_ns: u64,
}

/// Decodes every source, places it on the session timeline, mixes and encodes:
/// `filesrc → decodebin → convert/scale → [offset] → compositor/audiomixer → encoder → muxer`.
/// Without a `grid`, only audio is used (the audio-only export). In a grid each cell has a
/// card underneath (the name, and whether the person is away or has no camera) that shows
/// wherever their video does not, and their video carries their name.
fn build_decoded(
    pipeline: &gst::Pipeline,
    preset: &Preset,
    sources: &[(usize, Source)],
    grid: Option<Grid>,
    partial: &Path,
    positions: &Positions,
) -> Result<(), ExportError> {
    let mux = make_muxer(preset)?;
    let sink = file_sink(partial)?;
    pipeline.add_many([&mux, &sink]).map_err(add_err)?;
    mux.link(&sink).map_err(link_err)?;

    let want_audio = sources.iter().any(|(_, s)| s.has(false));
    let audio_mixer = if want_audio {
        let mixer = make("audiomixer")?;
        let caps = mix_audio_caps();
        let filter = gst::ElementFactory::make("capsfilter")
            .property("caps", &caps)
            .build()
            .map_err(|_| ExportError::MissingElement("capsfilter".to_owned()))?;
        let encoder = make_chain(preset, "audio encoder", preset.audio_encoder.as_deref())?;
        let q = queue(Duration::ZERO)?;
        pipeline
            .add_many([&mixer, &filter, &encoder, &q])
            .map_err(add_err)?;
        gst::Element::link_many([&mixer, &filter, &encoder, &q]).map_err(link_err)?;
        let mux_pad = muxer_pad(&mux, false)
            .ok_or_else(|| ExportError::Unsupported(format!("{} takes no audio", preset.muxer)))?;
        q.static_pad("src")
            .ok_or_else(|| link_err("queue"))?
            .link(&mux_pad)
            .map_err(link_err)?;
        track_position(&mux_pad, positions);
        Some(mixer)
    } else {
        None
    };

    let video_mixer = match &grid {
        Some(Grid {
            cells,
            canvas,
            duration_ns,
        }) if !cells.is_empty() => {
            let mixer = gst::ElementFactory::make("compositor")
                .property_from_str("background", "black")
                .build()
                .map_err(|_| ExportError::MissingElement("compositor".to_owned()))?;
            let caps = gst::Caps::builder("video/x-raw")
                .field("width", canvas.width as i32)
                .field("height", canvas.height as i32)
                .field("framerate", gst::Fraction::new(canvas.framerate as i32, 1))
                .field("pixel-aspect-ratio", gst::Fraction::new(1, 1))
                .build();
            let filter = gst::ElementFactory::make("capsfilter")
                .property("caps", &caps)
                .build()
                .map_err(|_| ExportError::MissingElement("capsfilter".to_owned()))?;
            let encoder = make_chain(preset, "video encoder", preset.video_encoder.as_deref())?;
            let q = queue(Duration::ZERO)?;
            pipeline
                .add_many([&mixer, &filter, &encoder, &q])
                .map_err(add_err)?;
            gst::Element::link_many([&mixer, &filter, &encoder, &q]).map_err(link_err)?;
            let mux_pad = muxer_pad(&mux, true).ok_or_else(|| {
                ExportError::Unsupported(format!("{} takes no video", preset.muxer))
            })?;
            q.static_pad("src")
                .ok_or_else(|| link_err("queue"))?
                .link(&mux_pad)
                .map_err(link_err)?;
            track_position(&mux_pad, positions);
            let layout = tile_layout(cells.len(), canvas.width, canvas.height);
            for (cell, &rect) in cells.iter().zip(&layout) {
                cell_card(pipeline, &mixer, cell, rect, *canvas, *duration_ns)?;
            }
            Some((mixer, layout))
        }
        _ => None,
    };

    for (tile, source) in sources {
        let offset = i64::try_from(source.start_ns).unwrap_or(i64::MAX);
        for file in &source.files {
            let src = file_source(&file.path)?;
            let decode = make("decodebin")?;
            pipeline.add_many([&src, &decode]).map_err(add_err)?;
            src.link(&decode).map_err(link_err)?;
            let mut chains = Vec::new();
            for stream in &file.streams {
                let chain_pad = if stream.is_video {
                    match (&video_mixer, &grid) {
                        (Some((mixer, layout)), Some(grid)) => {
                            let (Some(&rect), Some(cell)) =
                                (layout.get(*tile), grid.cells.get(*tile))
                            else {
                                continue;
                            };
                            Some(video_chain(pipeline, mixer, rect, &cell.label, offset)?)
                        }
                        _ => None,
                    }
                } else {
                    match &audio_mixer {
                        Some(mixer) => Some(audio_chain(pipeline, mixer, offset)?),
                        None => None,
                    }
                };
                if let Some(pad) = chain_pad {
                    chains.push((stream.is_video, pad));
                }
            }
            connect_dynamic_pads(&decode, pipeline, chains);
        }
    }
    Ok(())
}

fn mix_audio_caps() -> gst::Caps {
    gst::Caps::builder("audio/x-raw")
        .field("format", "F32LE")
        .field("layout", "interleaved")
        .field("rate", MIX_RATE)
        .field("channels", MIX_CHANNELS)
        .build()
}

/// A cell's card, under its video for the whole session: the participant's name and, where no
/// video of theirs covers it, why ("not in the room", or their initial for someone who never
/// had a camera).
fn cell_card(
    pipeline: &gst::Pipeline,
    mixer: &gst::Element,
    cell: &Cell,
    (x, y, w, h): (i32, i32, i32, i32),
    canvas: Canvas,
    duration_ns: u64,
) -> Result<(), ExportError> {
    let frames = (u128::from(duration_ns) * u128::from(canvas.framerate))
        .div_ceil(1_000_000_000)
        .max(1);
    let background = gst::ElementFactory::make("videotestsrc")
        .property_from_str("pattern", "solid-color")
        .property("foreground-color", 0xff26_2626u32)
        .property("num-buffers", i32::try_from(frames).unwrap_or(i32::MAX))
        .build()
        .map_err(|_| ExportError::MissingElement("videotestsrc".to_owned()))?;
    let caps = gst::Caps::builder("video/x-raw")
        .field("width", w)
        .field("height", h)
        .field("framerate", gst::Fraction::new(canvas.framerate as i32, 1))
        .field("pixel-aspect-ratio", gst::Fraction::new(1, 1))
        .build();
    let filter = gst::ElementFactory::make("capsfilter")
        .property("caps", &caps)
        .build()
        .map_err(|_| ExportError::MissingElement("capsfilter".to_owned()))?;
    let name = glib::markup_escape_text(&cell.label);
    let initial: String = cell
        .label
        .chars()
        .take(1)
        .flat_map(char::to_uppercase)
        .collect();
    let markup = if cell.has_video {
        format!("<b>{name}</b>\n<small>not in the room</small>")
    } else {
        format!(
            "<span size=\"300%\" weight=\"bold\">{}</span>\n<b>{name}</b>\n<small>audio only</small>",
            glib::markup_escape_text(&initial)
        )
    };
    let text = gst::ElementFactory::make("textoverlay")
        .property("text", markup)
        .property_from_str("valignment", "center")
        .property_from_str("halignment", "center")
        .property_from_str("line-alignment", "center")
        .property("font-desc", format!("Sans {}", font_size(h)))
        .build()
        .map_err(|_| ExportError::MissingElement("textoverlay".to_owned()))?;
    let convert = make("videoconvert")?;
    pipeline
        .add_many([&background, &filter, &text, &convert])
        .map_err(add_err)?;
    gst::Element::link_many([&background, &filter, &text, &convert]).map_err(link_err)?;
    let pad = mixer
        .request_pad_simple("sink_%u")
        .ok_or_else(|| link_err("compositor refused a pad"))?;
    pad.set_property("xpos", x);
    pad.set_property("ypos", y);
    pad.set_property("width", w);
    pad.set_property("height", h);
    pad.set_property("zorder", 0u32);
    convert
        .static_pad("src")
        .ok_or_else(|| link_err("videoconvert"))?
        .link(&pad)
        .map_err(link_err)?;
    Ok(())
}

/// A text size that reads well in a cell `height` pixels high.
fn font_size(height: i32) -> i32 {
    (height / 12).clamp(10, 32)
}

/// queue → videoconvert → videoscale → tile caps → name → compositor pad at the tile, above the
/// cell's card, offset onto the session timeline. Returns the chain's sink pad.
fn video_chain(
    pipeline: &gst::Pipeline,
    mixer: &gst::Element,
    (x, y, w, h): (i32, i32, i32, i32),
    label: &str,
    offset: i64,
) -> Result<gst::Pad, ExportError> {
    let q = queue(Duration::from_secs(3))?;
    let convert = make("videoconvert")?;
    let scale = gst::ElementFactory::make("videoscale")
        .property("add-borders", true)
        .build()
        .map_err(|_| ExportError::MissingElement("videoscale".to_owned()))?;
    let caps = gst::Caps::builder("video/x-raw")
        .field("width", w)
        .field("height", h)
        .field("pixel-aspect-ratio", gst::Fraction::new(1, 1))
        .build();
    let filter = gst::ElementFactory::make("capsfilter")
        .property("caps", &caps)
        .build()
        .map_err(|_| ExportError::MissingElement("capsfilter".to_owned()))?;
    let name = gst::ElementFactory::make("textoverlay")
        .property("text", label)
        .property_from_str("valignment", "bottom")
        .property_from_str("halignment", "left")
        .property("shaded-background", true)
        .property("font-desc", format!("Sans Bold {}", font_size(h)))
        .build()
        .map_err(|_| ExportError::MissingElement("textoverlay".to_owned()))?;
    let named = make("videoconvert")?;
    pipeline
        .add_many([&q, &convert, &scale, &filter, &name, &named])
        .map_err(add_err)?;
    gst::Element::link_many([&q, &convert, &scale, &filter, &name, &named]).map_err(link_err)?;
    let mixer_pad = mixer
        .request_pad_simple("sink_%u")
        .ok_or_else(|| link_err("compositor refused a pad"))?;
    mixer_pad.set_property("xpos", x);
    mixer_pad.set_property("ypos", y);
    mixer_pad.set_property("width", w);
    mixer_pad.set_property("height", h);
    mixer_pad.set_property("zorder", 1u32);
    let src = named
        .static_pad("src")
        .ok_or_else(|| link_err("videoconvert"))?;
    src.set_offset(offset);
    src.link(&mixer_pad).map_err(link_err)?;
    q.static_pad("sink").ok_or_else(|| link_err("queue"))
}

/// queue → audioconvert → audioresample → mix caps → audiomixer pad, offset onto the session
/// timeline. Returns the chain's sink pad.
fn audio_chain(
    pipeline: &gst::Pipeline,
    mixer: &gst::Element,
    offset: i64,
) -> Result<gst::Pad, ExportError> {
    let q = queue(Duration::from_secs(3))?;
    let convert = make("audioconvert")?;
    let resample = make("audioresample")?;
    let filter = gst::ElementFactory::make("capsfilter")
        .property("caps", mix_audio_caps())
        .build()
        .map_err(|_| ExportError::MissingElement("capsfilter".to_owned()))?;
    pipeline
        .add_many([&q, &convert, &resample, &filter])
        .map_err(add_err)?;
    gst::Element::link_many([&q, &convert, &resample, &filter]).map_err(link_err)?;
    let mixer_pad = mixer
        .request_pad_simple("sink_%u")
        .ok_or_else(|| link_err("audiomixer refused a pad"))?;
    let src = filter
        .static_pad("src")
        .ok_or_else(|| link_err("capsfilter"))?;
    src.set_offset(offset);
    src.link(&mixer_pad).map_err(link_err)?;
    q.static_pad("sink").ok_or_else(|| link_err("queue"))
}

enum RunError {
    Cancelled,
    Failed(String),
}

/// Plays `pipeline` to EOS, reporting `position / duration` and watching `cancel`.
fn run_pipeline(
    pipeline: &gst::Pipeline,
    duration_ns: u64,
    positions: &Positions,
    cancel: &CancelFlag,
    report: &mut dyn FnMut(f64),
) -> Result<(), RunError> {
    let mut meter = ProgressMeter::new(duration_ns);
    let bus = pipeline
        .bus()
        .ok_or_else(|| RunError::Failed("pipeline without bus".to_owned()))?;
    if let Err(err) = pipeline.set_state(gst::State::Playing) {
        // The bus usually says why.
        let why = bus
            .timed_pop_filtered(gst::ClockTime::ZERO, &[gst::MessageType::Error])
            .and_then(|m| match m.view() {
                gst::MessageView::Error(e) => Some(e.error().to_string()),
                _ => None,
            });
        return Err(RunError::Failed(why.unwrap_or_else(|| err.to_string())));
    }
    let mut last_position = 0u64;
    let mut last_change = Instant::now();
    loop {
        if cancel.is_cancelled() {
            return Err(RunError::Cancelled);
        }
        if let Some(message) = bus.timed_pop(gst::ClockTime::from_nseconds(POLL.as_nanos() as u64))
        {
            match message.view() {
                gst::MessageView::Eos(_) => {
                    report(meter.finish());
                    return Ok(());
                }
                gst::MessageView::Error(err) => {
                    return Err(RunError::Failed(format!(
                        "{} ({})",
                        err.error(),
                        err.debug().map(|d| d.to_string()).unwrap_or_default()
                    )));
                }
                _ => continue,
            }
        }
        let snapshot = positions.snapshot(duration_ns);
        let now_position = snapshot.iter().map(|p| p.unwrap_or(0)).sum::<u64>();
        if now_position != last_position {
            last_position = now_position;
            last_change = Instant::now();
        } else if last_change.elapsed() > STALL_TIMEOUT {
            return Err(RunError::Failed(format!(
                "no progress for {} s",
                STALL_TIMEOUT.as_secs()
            )));
        }
        report(meter.update(&snapshot));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::library::presets;

    #[test]
    fn layout_is_a_near_square_grid_inside_the_canvas() {
        assert!(tile_layout(0, 1280, 720).is_empty());
        assert_eq!(tile_layout(1, 1280, 720), [(0, 0, 1280, 720)]);
        let two = tile_layout(2, 1280, 720);
        assert_eq!(two, [(0, 0, 640, 720), (640, 0, 640, 720)]);
        for n in 1..=10 {
            let tiles = tile_layout(n, 1280, 720);
            assert_eq!(tiles.len(), n);
            let mut seen = HashSet::new();
            for (x, y, w, h) in tiles {
                assert!(
                    x + w <= 1280 && y + h <= 720,
                    "{n}: tile outside the canvas"
                );
                assert!(w % 2 == 0 && h % 2 == 0 && w > 0 && h > 0);
                assert!(seen.insert((x, y)), "{n}: two tiles in one place");
            }
        }
    }

    /// Builds a synthetic "recorded" Matroska file with the given encoders.
    fn make_media(dir: &Path, name: &str, video: &str, audio: bool) -> PathBuf {
        let path = dir.join(name);
        let audio_branch = if audio {
            "audiotestsrc num-buffers=20 ! audioconvert ! opusenc ! m."
        } else {
            ""
        };
        let desc = format!(
            "videotestsrc num-buffers=15 ! video/x-raw,width=160,height=120,framerate=15/1 ! \
             {video} ! m. {audio_branch} matroskamux name=m ! filesink location=\"{}\"",
            path.display()
        );
        let pipeline = gst::parse::launch(&desc)
            .unwrap()
            .downcast::<gst::Pipeline>()
            .unwrap();
        crate::media::recorder::run_to_eos(&pipeline, Duration::from_secs(60)).unwrap();
        pipeline.set_state(gst::State::Null).unwrap();
        path
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "roomtape-export-unit-{name}-{}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Every preset builds a pipeline that links and runs to the end on real input: the
    /// launch descriptions parse, the elements exist, and caps negotiate.
    #[test]
    fn every_preset_builds_a_working_pipeline() {
        gst::init().unwrap();
        let dir = temp_dir("presets");
        let vp8 = make_media(&dir, "vp8.mkv", "vp8enc deadline=1", true);
        let h264 = make_media(&dir, "h264.mkv", "x264enc ! h264parse", true);
        let source = |path: &Path, video: &str, start_ns: u64| Source {
            stem: "s".into(),
            start_ns,
            duration_ns: 1_000_000_000,
            files: vec![SourceFile {
                path: path.to_owned(),
                streams: vec![
                    StreamInfo {
                        caps_name: video.into(),
                        is_video: true,
                    },
                    StreamInfo {
                        caps_name: "audio/x-opus".into(),
                        is_video: false,
                    },
                ],
            }],
        };
        for preset in presets::all().unwrap() {
            if preset.kind == PresetKind::Timeline {
                continue;
            }
            let input = if preset.accepts("video/x-vp8") || preset.kind != PresetKind::Remux {
                source(&vp8, "video/x-vp8", 0)
            } else {
                source(&h264, "video/x-h264", 0)
            };
            let job = match preset.kind {
                PresetKind::Remux => Job::Remux(input),
                PresetKind::Edit => Job::Edit(input),
                PresetKind::Grid => Job::Grid {
                    sources: vec![(0, input), (1, source(&h264, "video/x-h264", 500_000_000))],
                    cells: vec![
                        Cell {
                            label: "Alice".into(),
                            has_video: true,
                        },
                        Cell {
                            label: "Bob".into(),
                            has_video: true,
                        },
                    ],
                    canvas: Canvas {
                        width: 320,
                        height: 180,
                        framerate: 15,
                    },
                },
                PresetKind::Audio => Job::Audio(vec![input]),
                PresetKind::Timeline => unreachable!("skipped above"),
            };
            let output = PlannedOutput {
                stem: preset.id.clone(),
                job,
                duration_ns: 1_500_000_000,
            };
            let out = dir.join(format!("out.{}", preset.extension));
            let mut fractions = Vec::new();
            write_one(&output, &preset, &out, &CancelFlag::new(), &mut |f| {
                fractions.push(f)
            })
            .unwrap_or_else(|e| panic!("preset {}: {e}", preset.id));
            assert!(
                out.metadata().is_ok_and(|m| m.len() > 0),
                "preset {} wrote nothing",
                preset.id
            );
            assert_eq!(fractions.last(), Some(&1.0), "preset {}", preset.id);
            fs::remove_file(&out).unwrap();
        }
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_vp8_recording_is_refused_for_mp4_with_the_reason() {
        let media = vec![ParticipantMedia {
            label: "Alice".into(),
            sources: vec![Source {
                stem: "Alice".into(),
                start_ns: 0,
                duration_ns: 1,
                files: vec![SourceFile {
                    path: PathBuf::from("/nonexistent/Alice.mkv"),
                    streams: vec![StreamInfo {
                        caps_name: "video/x-vp8".into(),
                        is_video: true,
                    }],
                }],
            }],
        }];
        let manifest = SessionManifest::new("r", "s", 0);
        let mp4 = presets::by_id("mp4").unwrap();
        let err = plan(&manifest, &media, &mp4).err().expect("refused");
        let msg = err.to_string();
        assert!(
            matches!(err, ExportError::Unsupported(_))
                && msg.contains("VP8")
                && msg.contains("Alice"),
            "{msg}"
        );
        assert!(plan(&manifest, &media, &presets::by_id("mkv").unwrap()).is_ok());
        assert!(matches!(
            plan(&manifest, &[], &mp4),
            Err(ExportError::Nothing(_))
        ));
    }

    #[test]
    fn progress_follows_the_slowest_stream_never_goes_back_and_ends_only_when_done() {
        let second = 1_000_000_000u64;
        let mut meter = ProgressMeter::new(10 * second);
        assert_eq!(meter.update(&[]), 0.0);
        // Audio has reached the end, video is at 2 s: 20 %, not 100 %.
        assert!((meter.update(&[Some(10 * second), Some(2 * second)]) - 0.2).abs() < 1e-9);
        // A stream without data yet holds it at the start; what was shown stays.
        assert!((meter.update(&[Some(10 * second), None]) - 0.2).abs() < 1e-9);
        assert!((meter.update(&[Some(10 * second), Some(5 * second)]) - 0.5).abs() < 1e-9);
        // Both streams at the end: the file is not finished yet (MP4 writes its index last).
        let at_end = meter.update(&[Some(10 * second), Some(10 * second)]);
        assert_eq!(at_end, ProgressMeter::BEFORE_DONE);
        assert_eq!(
            meter.update(&[Some(11 * second), Some(12 * second)]),
            ProgressMeter::BEFORE_DONE
        );
        assert_eq!(meter.finish(), 1.0);
        // Over a whole run the figures only grow.
        let mut meter = ProgressMeter::new(100);
        let mut last = 0.0;
        for (a, v) in [(10, 0), (50, 5), (30, 40), (100, 60), (100, 99), (100, 100)] {
            let shown = meter.update(&[Some(a), Some(v)]);
            assert!(shown >= last, "went back from {last} to {shown}");
            last = shown;
        }
    }

    /// A grid frame, read back as pixels: the video cell carries its participant's name, and
    /// the participant without a camera has a card with their initial and name instead of a
    /// black cell.
    #[test]
    fn grid_cells_show_names_and_a_card_for_audio_only() {
        gst::init().unwrap();
        let dir = temp_dir("gridnames");
        // Black video, so anything light in the cell is the name.
        let black = dir.join("black.mkv");
        let pipeline = gst::parse::launch(&format!(
            "videotestsrc pattern=black num-buffers=30 ! video/x-raw,width=320,height=180,framerate=15/1 ! \
             vp8enc deadline=1 ! matroskamux ! filesink location=\"{}\"",
            black.display()
        ))
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
        crate::media::recorder::run_to_eos(&pipeline, Duration::from_secs(60)).unwrap();
        pipeline.set_state(gst::State::Null).unwrap();
        let tone = make_media(&dir, "tone.mkv", "vp8enc deadline=1", true);
        let video = Source {
            stem: "a".into(),
            start_ns: 0,
            duration_ns: 2_000_000_000,
            files: vec![SourceFile {
                path: black,
                streams: vec![StreamInfo {
                    caps_name: "video/x-vp8".into(),
                    is_video: true,
                }],
            }],
        };
        let audio_only = Source {
            stem: "b".into(),
            start_ns: 0,
            duration_ns: 1_000_000_000,
            files: vec![SourceFile {
                path: tone,
                streams: vec![StreamInfo {
                    caps_name: "audio/x-opus".into(),
                    is_video: false,
                }],
            }],
        };
        let preset = presets::by_id("grid-webm").unwrap();
        let output = PlannedOutput {
            stem: "grid".into(),
            job: Job::Grid {
                sources: vec![(0, video), (1, audio_only)],
                cells: vec![
                    Cell {
                        label: "Alice".into(),
                        has_video: true,
                    },
                    Cell {
                        label: "Bob".into(),
                        has_video: false,
                    },
                ],
                canvas: Canvas {
                    width: 640,
                    height: 180,
                    framerate: 15,
                },
            },
            duration_ns: 2_000_000_000,
        };
        let out = dir.join("grid.webm");
        write_one(&output, &preset, &out, &CancelFlag::new(), &mut |_| {}).unwrap();
        // One frame at 1 s, as grey bytes.
        let frame_pipeline = gst::parse::launch(&format!(
            "filesrc location=\"{}\" ! decodebin ! videoconvert ! video/x-raw,format=GRAY8 ! \
             appsink name=sink sync=false",
            out.display()
        ))
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
        let sink = frame_pipeline
            .by_name("sink")
            .unwrap()
            .downcast::<gst_app::AppSink>()
            .unwrap();
        frame_pipeline.set_state(gst::State::Playing).unwrap();
        let mut frame = None;
        while let Ok(sample) = sink.pull_sample() {
            let pts = sample.buffer().and_then(|b| b.pts()).unwrap_or_default();
            if pts >= gst::ClockTime::from_mseconds(1000) {
                frame = Some(sample);
                break;
            }
        }
        frame_pipeline.set_state(gst::State::Null).unwrap();
        let sample = frame.expect("a frame at 1 s");
        let info = gst_video::VideoInfo::from_caps(sample.caps().unwrap()).unwrap();
        let map = sample.buffer().unwrap().map_readable().unwrap();
        let stride = info.stride()[0] as usize;
        let light = |x0: usize, x1: usize, y0: usize, y1: usize| {
            (y0..y1)
                .flat_map(|y| (x0..x1).map(move |x| (x, y)))
                .filter(|&(x, y)| map[y * stride + x] > 180)
                .count()
        };
        // Alice's cell (left half): her name at the bottom left, on black video.
        let name_pixels = light(0, 200, 130, 180);
        let above_name = light(0, 320, 0, 100);
        // Bob's cell (right half): a card with his initial and name.
        let card_pixels = light(320, 640, 0, 180);
        eprintln!(
            "FIGURE grid pixels: name {name_pixels}, above it {above_name}, card {card_pixels}"
        );
        assert!(name_pixels > 50, "no name drawn on the video cell");
        assert!(above_name < 10, "the video itself is black");
        assert!(card_pixels > 100, "the audio-only cell is not a card");
        let _ = fs::remove_dir_all(&dir);
    }

    /// VP8 + Opus (what browsers send) becomes H.264 + AAC in MP4, for the whole duration.
    #[test]
    fn mp4_for_editing_re_encodes_vp8_and_opus_and_copies_h264() {
        gst::init().unwrap();
        let dir = temp_dir("edit");
        let vp8 = make_media(&dir, "vp8.mkv", "vp8enc deadline=1", true);
        let preset = presets::by_id("mp4-edit").unwrap();
        let source = Source {
            stem: "alice".into(),
            start_ns: 0,
            duration_ns: 1_000_000_000,
            files: vec![SourceFile {
                path: vp8,
                streams: vec![
                    StreamInfo {
                        caps_name: "video/x-vp8".into(),
                        is_video: true,
                    },
                    StreamInfo {
                        caps_name: "audio/x-opus".into(),
                        is_video: false,
                    },
                ],
            }],
        };
        let output = PlannedOutput {
            stem: "alice".into(),
            job: Job::Edit(source),
            duration_ns: 1_000_000_000,
        };
        let out = dir.join("alice.mp4");
        let mut fractions = Vec::new();
        write_one(&output, &preset, &out, &CancelFlag::new(), &mut |f| {
            fractions.push(f)
        })
        .unwrap();
        let uri = glib::filename_to_uri(&out, None).unwrap();
        let info = gst_pbutils::Discoverer::new(gst::ClockTime::from_seconds(20))
            .unwrap()
            .discover_uri(&uri)
            .unwrap();
        let caps: Vec<String> = info
            .stream_list()
            .iter()
            .filter_map(|s| s.caps())
            .filter_map(|c| c.structure(0).map(|s| s.name().to_string()))
            .collect();
        assert!(caps.contains(&"video/x-h264".to_owned()), "{caps:?}");
        assert!(caps.contains(&"audio/mpeg".to_owned()), "{caps:?}");
        let duration = info.duration().unwrap().mseconds();
        assert!(duration >= 950, "{duration} ms of 1,000");
        assert!(fractions.windows(2).all(|w| w[0] <= w[1]), "{fractions:?}");
        assert_eq!(fractions.last(), Some(&1.0));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn encoders_for_mp4_for_editing_are_found_among_the_installed() {
        gst::init().unwrap();
        let video = encoder_for("video/x-h264");
        let audio = encoder_for("audio/mpeg");
        eprintln!("FIGURE encoders: {video:?} {audio:?}");
        assert!(video.is_some() && audio.is_some(), "{video:?} {audio:?}");
        assert_eq!(encoder_for("video/x-no-such-codec"), None);
    }

    #[test]
    fn cancel_flag_is_shared_by_clones() {
        let flag = CancelFlag::new();
        let other = flag.clone();
        assert!(!other.is_cancelled());
        flag.cancel();
        assert!(other.is_cancelled());
    }
}
