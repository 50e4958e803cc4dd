//! `roomtape export`: a recorded session into MKV/WebM/MP4 per participant, a grid video,
//! audio tracks, or an OpenTimelineIO timeline, with progress on the terminal and Ctrl+C to
//! cancel.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{AudioFormat, ExportArgs, ExportFormat, GridFormat};
use crate::library::export::{self, CancelFlag, ExportError, Progress};
use crate::library::presets;

/// Exit code after Ctrl+C or SIGTERM, as shells report a death by SIGINT.
const EXIT_CANCELLED: u8 = 130;

/// The preset id a command line asks for.
pub fn preset_id(args: &ExportArgs) -> &'static str {
    match args.format {
        ExportFormat::Mkv => "mkv",
        ExportFormat::Webm => "webm",
        ExportFormat::Mp4 if args.copy_only => "mp4",
        ExportFormat::Mp4 => "mp4-edit",
        ExportFormat::Grid => match args.grid_format {
            GridFormat::Mp4 => "grid-mp4",
            GridFormat::Webm => "grid-webm",
        },
        ExportFormat::Audio => match args.audio_format {
            AudioFormat::Opus => "audio-opus",
            AudioFormat::Wav => "audio-wav",
        },
        ExportFormat::Otio => "otio",
    }
}

/// Runs the export on a worker thread while the main thread waits for it or for a signal.
pub fn run(args: ExportArgs) -> ExitCode {
    let id = preset_id(&args);
    let Some(preset) = presets::by_id(id) else {
        eprintln!("roomtape: the export preset {id} is missing from this build");
        return ExitCode::FAILURE;
    };
    if !args
        .session
        .join(crate::library::MANIFEST_FILE_NAME)
        .is_file()
    {
        eprintln!(
            "roomtape: {} is not a session folder (it has no {})",
            args.session.display(),
            crate::library::MANIFEST_FILE_NAME
        );
        return ExitCode::FAILURE;
    }
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| export::default_output_dir(&args.session));

    let cancel = CancelFlag::new();
    let context = glib::MainContext::new();
    let main_loop = glib::MainLoop::new(Some(&context), false);
    let (done_tx, done_rx) = mpsc::channel();
    let worker = {
        let cancel = cancel.clone();
        let main_loop = main_loop.clone();
        let session = args.session.clone();
        std::thread::spawn(move || {
            let mut printer = ProgressPrinter::new();
            let result = export::export(&session, &preset, &output, &cancel, &mut |p| {
                printer.show(p)
            });
            printer.finish();
            let _ = done_tx.send(result);
            // Queued on the loop's context, so it also works if the loop has not started yet.
            main_loop.context().invoke(move || main_loop.quit());
        })
    };

    let guard = context.acquire();
    let mut sources = Vec::new();
    if guard.is_ok() {
        for signal in [libc::SIGINT, libc::SIGTERM] {
            let cancel = cancel.clone();
            let source =
                glib::unix_signal_source_new(signal, None, glib::Priority::DEFAULT, move || {
                    eprintln!("roomtape: cancelling the export…");
                    cancel.cancel();
                    glib::ControlFlow::Continue
                });
            source.attach(Some(&context));
            sources.push(source);
        }
        main_loop.run();
    }
    drop(guard);
    let result = done_rx.recv();
    let _ = worker.join();
    for source in sources {
        source.destroy();
    }
    match result {
        Ok(Ok(files)) => {
            for file in files {
                println!("wrote {}", file.display());
            }
            ExitCode::SUCCESS
        }
        Ok(Err(ExportError::Cancelled)) => {
            eprintln!("roomtape: export cancelled, nothing was written");
            ExitCode::from(EXIT_CANCELLED)
        }
        Ok(Err(err)) => {
            eprintln!("roomtape: {err}");
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("roomtape: the export stopped unexpectedly");
            ExitCode::FAILURE
        }
    }
}

/// Prints progress: a rewritten line on a terminal, one line per whole percent otherwise.
struct ProgressPrinter {
    tty: bool,
    last_percent: Option<u32>,
    last_file: String,
    last_print: Instant,
}

impl ProgressPrinter {
    fn new() -> Self {
        Self {
            tty: std::io::stderr().is_terminal(),
            last_percent: None,
            last_file: String::new(),
            last_print: Instant::now(),
        }
    }

    fn show(&mut self, progress: &Progress) {
        let percent = (progress.fraction * 100.0).floor() as u32;
        let same = self.last_percent == Some(percent) && self.last_file == progress.current;
        if same
            || (!self.tty
                && self.last_print.elapsed() < Duration::from_millis(200)
                && percent < 100)
        {
            return;
        }
        self.last_percent = Some(percent);
        self.last_file.clone_from(&progress.current);
        self.last_print = Instant::now();
        let line = format!(
            "progress {percent:3}% [{}/{}] {}",
            progress.index, progress.count, progress.current
        );
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r\x1b[2K{line}");
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
    }

    fn finish(&self) {
        if self.tty && self.last_percent.is_some() {
            eprintln!();
        }
    }
}
