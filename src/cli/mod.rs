//! The headless front-ends: their arguments and the commands that run them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};

pub mod bench;
pub mod control;
pub mod export;
pub mod hooks;
pub mod publish;
pub mod record;
pub mod serve;
pub mod sleep_inhibitor;
pub mod summary;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Record a room headless: connect to every participant and record each one.
    Record(Box<RecordArgs>),
    /// Run a local VDO.Ninja-compatible signaling server.
    Serve(ServeArgs),
    /// Publish a synthetic participant (test video with its label, test tone) into a room.
    Publish(PublishArgs),
    /// Export a recorded session: remux, composite grid, audio only, or an editor timeline.
    Export(ExportArgs),
    /// Measure the recorder with synthetic participants on loopback and print the figures.
    Bench(BenchArgs),
}

/// The room the app joins on start.
impl RoomArgs {
    /// The password from --password-file, when one is given, as if typed with --password.
    pub fn with_password_file_read(&self) -> anyhow::Result<RoomArgs> {
        let Some(path) = &self.password_file else {
            return Ok(self.clone());
        };
        let text = std::fs::read_to_string(path).map_err(|err| {
            anyhow::anyhow!("cannot read the password file {}: {err}", path.display())
        })?;
        let password = text
            .lines()
            .next()
            .unwrap_or_default()
            .trim_end_matches('\r');
        anyhow::ensure!(
            !password.is_empty(),
            "the password file {} is empty (write \"false\" for a room without a password)",
            path.display()
        );
        Ok(RoomArgs {
            password: Some(password.to_owned()),
            password_file: None,
            ..self.clone()
        })
    }

    /// The same arguments with what a VDO.Ninja link in `--room` says filled in.
    pub fn with_link_resolved(&self) -> anyhow::Result<RoomArgs> {
        let resolved = self.with_password_file_read()?;
        if !crate::signaling::link::looks_like_link(&resolved.room) {
            return Ok(resolved);
        }
        let this = &resolved;
        let link = crate::signaling::link::parse(&this.room)?;
        Ok(RoomArgs {
            server: link.server.unwrap_or_else(|| this.server.clone()),
            room: link.room,
            password: this.password.clone().or(link.password),
            password_file: None,
            salt: this.salt.clone().or(link.salt),
        })
    }
}

/// Where a room is and how to get in: shared by `record` and `publish`.
#[derive(Debug, Clone, Args)]
pub struct RoomArgs {
    /// Signaling server URL (ws:// or wss://).
    #[arg(long, value_name = "URL", default_value = crate::config::DEFAULT_SERVER)]
    pub server: String,
    /// Room name, or a VDO.Ninja link (its room, password, wss and salt are used; an explicit
    /// --password or --salt wins, --server applies when the link names no wss).
    #[arg(long, value_name = "ROOM|LINK")]
    pub room: String,
    /// Room password; omitted for the VDO.Ninja default, "false" for none. Visible to other
    /// users in the process list: prefer --password-file or ROOMTAPE_PASSWORD.
    #[arg(
        long,
        value_name = "PASSWORD",
        env = "ROOMTAPE_PASSWORD",
        hide_env_values = true
    )]
    pub password: Option<String>,
    /// Read the room password from the first line of this file.
    #[arg(long, value_name = "FILE", conflicts_with = "password")]
    pub password_file: Option<PathBuf>,
    /// Hash salt; derived from the server's host name when omitted.
    #[arg(long, value_name = "SALT")]
    pub salt: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum VideoCodec {
    Vp8,
    Vp9,
    H264,
    Av1,
}

impl VideoCodec {
    /// The name VDO.Ninja uses in `preferVideoCodec`.
    pub fn wire_name(self) -> &'static str {
        match self {
            VideoCodec::Vp8 => "vp8",
            VideoCodec::Vp9 => "vp9",
            VideoCodec::H264 => "h264",
            VideoCodec::Av1 => "av1",
        }
    }
}

/// How `record` ends, as its exit code says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordExit {
    /// Everyone who was recorded is in a finished file.
    Recorded = 0,
    /// Something failed: the room could not be joined, a file could not be finished.
    Failed = 1,
    /// The recording ran, but nobody was recorded (no session folder is left behind).
    NobodyRecorded = 3,
    /// The free space reached --min-free: nothing started, or the recording stopped with every
    /// file finished.
    DiskFloor = 4,
}

const RECORD_EXIT_CODES: &str = "\
Exit codes:
  0  every participant who was recorded is in a finished file
  1  an error: the room could not be joined, or a file could not be finished
  2  the command line is wrong
  3  the recording ran, but nobody was recorded (no session folder is left)
  4  the free space reached --min-free: nothing started, or the recording stopped
     early with every file finished";

#[derive(Debug, Clone, Args)]
#[command(after_help = RECORD_EXIT_CODES)]
pub struct RecordArgs {
    #[command(flatten)]
    pub room: RoomArgs,
    /// STUN server as stun://host:port, or "false" for none.
    #[arg(long, value_name = "URL")]
    pub stun: Option<String>,
    /// TURN server as turn://user:pass@host:port (repeatable). Visible in the process list:
    /// prefer --turn-file or ROOMTAPE_TURN (URLs separated by white space).
    #[arg(long, value_name = "URL")]
    pub turn: Vec<String>,
    /// Read TURN server URLs from this file, one per line.
    #[arg(long, value_name = "FILE")]
    pub turn_file: Option<PathBuf>,
    /// Use TURN relay candidates only.
    #[arg(long)]
    pub relay_only: bool,
    /// Video codec to ask publishers for.
    #[arg(long, value_enum, value_name = "CODEC")]
    pub prefer_codec: Option<VideoCodec>,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<f64>,
    /// Print one JSON object per line for every participant event.
    #[arg(long)]
    pub json_events: bool,
    /// Folder to create the session folder in (default: Videos/Roomtape).
    #[arg(long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Only record these stream ids (without the hash suffix), comma separated.
    #[arg(long, value_name = "IDS", value_delimiter = ',')]
    pub streams: Vec<String>,
    /// Record video only.
    #[arg(long)]
    pub no_audio: bool,
    /// Record audio only.
    #[arg(long, conflicts_with = "no_audio")]
    pub no_video: bool,
    /// Connect and report, but write no files.
    #[arg(long)]
    pub no_record: bool,
    /// Free space to keep in the output folder: below it nothing starts, and the recording
    /// stops (every file finished) before reaching it. 500M, 2G, 750MiB…; 0 turns this off.
    #[arg(long, value_name = "SIZE", default_value = "500M", value_parser = parse_min_free)]
    pub min_free: u64,
    /// Start a new part for every participant at each multiple of DURATION from the recording
    /// start (30m, 1h, 10s…), at the first key frame after the mark: parts follow each other
    /// with no gap and no overlap, each a file that plays on its own.
    #[arg(long, value_name = "DURATION", value_parser = parse_split_every)]
    pub split_every: Option<std::time::Duration>,
    /// Name each participant's files by TEMPLATE, plain text with the placeholders {room},
    /// {date} and {time} (session start, YYYY-MM-DD and HH-MM-SS), {label} (the participant's
    /// name, or their stream id), {stream} (stream id) and {part} (1, 2, … with
    /// --split-every). Each value and the whole name are sanitised (no / or .., no control
    /// characters, bounded length), so files stay inside the session folder; a name left
    /// empty is the default one. Without {part}, parts get .part2, .part3…; a name taken
    /// gets -2, -3…  [default: {label}]
    #[arg(long, value_name = "TEMPLATE", value_parser = parse_name_template)]
    pub name_template: Option<crate::library::name_template::NameTemplate>,
    /// Log what happens (-v), or everything (-vv), on stderr.
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Also decode every video track at this size, as the app's preview tiles do (benchmarks).
    #[arg(long, value_name = "WxH", hide = true)]
    pub decode_previews: Option<String>,
    /// POST every event, as the JSON object --json-events prints, to this http(s) URL
    /// (repeatable). A slow or dead endpoint never holds up the recording: what it cannot
    /// take is dropped and logged.
    #[arg(long, value_name = "URL", value_parser = parse_webhook_url)]
    pub webhook: Vec<String>,
    /// Run this command (by `sh -c`) for every finished file, with ROOMTAPE_FILE,
    /// ROOMTAPE_PARTICIPANT, ROOMTAPE_PARTICIPANT_ID, ROOMTAPE_STREAM_ID, ROOMTAPE_VIDEO_CODEC,
    /// ROOMTAPE_AUDIO_CODEC, ROOMTAPE_DURATION (seconds), ROOMTAPE_OK, ROOMTAPE_SESSION_DIR and
    /// ROOMTAPE_ROOM in its environment. Its failures are logged, never fatal.
    #[arg(long, value_name = "CMD")]
    pub on_segment_finished: Option<String>,
    /// Run this command (by `sh -c`) once the recording is finished, with
    /// ROOMTAPE_SESSION_DIR, ROOMTAPE_MANIFEST, ROOMTAPE_ROOM and ROOMTAPE_OK; `record` exits
    /// when it is done.
    #[arg(long, value_name = "CMD")]
    pub on_recording_finished: Option<String>,
    /// Serve a JSON control API here (GET /status, POST /stop, POST
    /// /participants/ID/exclude and /include), loopback only; port 0 picks one. Each request
    /// needs `Authorization: Bearer TOKEN`; the token is printed at start.
    #[arg(long, value_name = "ADDR:PORT")]
    pub control: Option<SocketAddr>,
    /// Read the control API's token from the first line of this file instead of making one.
    #[arg(long, value_name = "FILE", requires = "control")]
    pub control_token_file: Option<PathBuf>,
    /// Let --control listen on an address that is not loopback.
    #[arg(long, requires = "control")]
    pub control_allow_remote: bool,
}

fn parse_webhook_url(raw: &str) -> Result<String, String> {
    crate::automation::webhook::parse_url(raw).map_err(|err| err.to_string())
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on; only loopback unless told otherwise.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8443")]
    pub listen: SocketAddr,
    /// Which server behaviour to imitate.
    #[arg(long, value_name = "DIALECT", default_value = "official")]
    pub dialect: crate::signaling::server::Dialect,
}

#[derive(Debug, Clone, Args)]
pub struct PublishArgs {
    #[command(flatten)]
    pub room: RoomArgs,
    /// Stream id to publish (without the hash suffix).
    #[arg(long, value_name = "ID")]
    pub stream: String,
    /// Name shown for this participant (defaults to the stream id).
    #[arg(long, value_name = "NAME")]
    pub label: Option<String>,
    /// Video codec to send.
    #[arg(long, value_enum, default_value = "vp8")]
    pub codec: VideoCodec,
    /// Send no video track at all (a camera that is off): audio only.
    #[arg(long, conflicts_with = "no_audio")]
    pub no_video: bool,
    /// Send no audio track at all.
    #[arg(long)]
    pub no_audio: bool,
    /// Send an audio track that carries no packets (a muted microphone).
    #[arg(long)]
    pub mute_audio: bool,
    /// Video size as WIDTHxHEIGHT.
    #[arg(long, value_name = "WxH", default_value = "640x360")]
    pub resolution: String,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<f64>,
    /// Neither send nor accept ICE candidates (to test what viewers show when none arrive).
    #[arg(long, hide = true)]
    pub drop_candidates: bool,
    /// Change the video size every SECONDS (full, half, three quarters), as a browser adapting
    /// its bitrate does.
    #[arg(long, value_name = "SECONDS")]
    pub resize_every: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Mkv,
    Webm,
    Mp4,
    Grid,
    Audio,
    /// An OpenTimelineIO timeline for video editors, referencing the recorded files.
    Otio,
}

#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// The session folder (the one holding session.json).
    #[arg(value_name = "SESSION_DIR")]
    pub session: PathBuf,
    /// What to make: mkv, webm (copies), mp4 (H.264 + AAC for editors: copies what it can,
    /// re-encodes the rest), grid (everyone in one video), audio, or otio (a timeline for
    /// video editors that references the recordings, or the mp4 export in the same folder).
    #[arg(long, value_enum)]
    pub format: ExportFormat,
    /// Where to write (default: an "export" folder inside the session).
    #[arg(long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Codecs of --format grid: H.264 + AAC in MP4, or VP9 + Opus in WebM.
    #[arg(long, value_enum, default_value = "mp4")]
    pub grid_format: GridFormat,
    /// File type of --format audio: Opus in Ogg, or uncompressed WAV.
    #[arg(long, value_enum, default_value = "opus")]
    pub audio_format: AudioFormat,
    /// With --format mp4: copy the streams only, and refuse codecs MP4 cannot hold (VP8),
    /// instead of re-encoding them to H.264 and AAC.
    #[arg(long)]
    pub copy_only: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GridFormat {
    Mp4,
    Webm,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AudioFormat {
    Opus,
    Wav,
}

#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Participant counts to measure, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "1,4")]
    pub participants: Vec<u32>,
    /// Seconds to record per count.
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Video size of the synthetic participants.
    #[arg(long, default_value = "1280x720")]
    pub resolution: String,
    /// Measure each count twice: recording only, then with every participant also decoded
    /// for a preview tile.
    #[arg(long)]
    pub previews: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

fn parse_split_every(text: &str) -> Result<std::time::Duration, String> {
    crate::library::split::parse_interval(text).map_err(|err| err.to_string())
}

fn parse_name_template(text: &str) -> Result<crate::library::name_template::NameTemplate, String> {
    crate::library::name_template::NameTemplate::parse(text).map_err(|err| err.to_string())
}

fn parse_min_free(text: &str) -> Result<u64, String> {
    crate::library::disk_space::parse_size(text).map_err(|err| err.to_string())
}

/// Runs a headless subcommand and turns its outcome into an exit code.
pub fn run(command: Command) -> ExitCode {
    let result = match command {
        // Record has its own exit codes (see `RECORD_EXIT_CODES`).
        Command::Record(args) => return ExitCode::from(record::run(*args) as u8),
        Command::Serve(args) => serve::run(args.listen, args.dialect),
        Command::Publish(args) => publish::run(args),
        // Export has its own exit codes (130 when cancelled).
        Command::Export(args) => return export::run(args),
        Command::Bench(args) => bench::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("roomtape: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Parses "WxH" into a size, with a message a person understands.
pub fn parse_resolution(text: &str) -> anyhow::Result<(u32, u32)> {
    let (w, h) = text
        .split_once(['x', 'X'])
        .ok_or_else(|| anyhow::anyhow!("resolution must look like 1280x720, not {text:?}"))?;
    let w: u32 = w.trim().parse()?;
    let h: u32 = h.trim().parse()?;
    anyhow::ensure!(
        (16..=7680).contains(&w) && (16..=4320).contains(&h),
        "resolution {w}x{h} is out of range"
    );
    Ok((w, h))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command_line::{Cli, RoomToJoin};
    use clap::{CommandFactory, Parser};

    #[test]
    fn a_link_argument_joins_its_room_and_subcommands_still_parse() {
        let cli = Cli::try_parse_from([
            "roomtape",
            "https://vdo.ninja/?room=show&pw=s3cret&wss=relay.example.org",
        ])
        .expect("a link parses");
        assert_eq!(
            cli.room_to_join().expect("readable"),
            Some(RoomToJoin {
                room: "show".to_owned(),
                server: Some("wss://relay.example.org".to_owned()),
                password: Some("s3cret".to_owned())
            })
        );
        let cli = Cli::try_parse_from(["roomtape", "https://vdo.ninja/?view=x"]).expect("parses");
        assert!(
            cli.room_to_join().is_err(),
            "a link without a room is refused"
        );
        let cli = Cli::try_parse_from(["roomtape", "record", "--room", "r"]).expect("parses");
        assert!(matches!(cli.command, Some(Command::Record(_))));
        assert!(Cli::try_parse_from(["roomtape", "https://vdo.ninja/?room=a", "--demo"]).is_err());
    }

    #[test]
    fn grammar_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn unknown_flag_is_a_usage_error() {
        let err = Cli::try_parse_from(["roomtape", "--no-such-flag"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        let err =
            Cli::try_parse_from(["roomtape", "record", "--room", "r", "--bogus"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn record_streams_are_split() {
        let cli = Cli::try_parse_from([
            "roomtape",
            "record",
            "--room",
            "r",
            "--streams",
            "a,b",
            "--password",
            "false",
        ])
        .unwrap();
        let Some(Command::Record(args)) = cli.command else {
            panic!("expected record");
        };
        assert_eq!(args.streams, ["a", "b"]);
        assert_eq!(args.room.password.as_deref(), Some("false"));
    }

    #[test]
    fn resolutions_parse_or_explain() {
        assert_eq!(parse_resolution("1280x720").unwrap(), (1280, 720));
        assert!(parse_resolution("big").is_err());
        assert!(parse_resolution("0x0").is_err());
    }
}
