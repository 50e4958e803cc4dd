//! The command line: what `main` parses and turns into launch options for the window or a
//! headless command. The two front-ends (`ui`, `cli`) are siblings: only this module knows
//! both.

use clap::Parser;

use crate::cli::Command;
use crate::ui::{LaunchOptions, TestHook, TestHooks};

/// Record every participant of a VDO.Ninja-compatible WebRTC room.
#[derive(Debug, Parser)]
#[command(name = "roomtape", version, about, long_about = None)]
pub struct Cli {
    /// A VDO.Ninja link to join on start (its room, password and server are used).
    #[arg(value_name = "LINK", conflicts_with_all = ["room", "demo"])]
    pub link: Option<String>,
    /// Open the built-in demo room (a local server and four synthetic participants).
    #[arg(long)]
    pub demo: bool,
    /// Join this room on start.
    #[arg(long, value_name = "ROOM")]
    pub room: Option<String>,
    /// Signaling server for --room (ws:// or wss://).
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// Room password for --room: a password, or "false" for none.
    #[arg(long, value_name = "PASSWORD")]
    pub password: Option<String>,
    /// Test hooks for the test suite and screenshots, KEY=VALUE (see `ui::testhook`).
    #[arg(
        long = "test-hook",
        value_name = "KEY=VALUE",
        value_parser = TestHook::parse,
        hide = true
    )]
    pub test_hooks: Vec<TestHook>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomToJoin {
    pub room: String,
    pub server: Option<String>,
    pub password: Option<String>,
}

impl Cli {
    /// How much to log: `record` is quiet unless asked (`-v`); the other commands say what
    /// they do.
    pub fn verbosity(&self) -> u8 {
        match &self.command {
            Some(Command::Record(args)) => args.verbose,
            _ => 1,
        }
    }

    /// The `--test-hook`s given, together.
    pub fn test_hooks(&self) -> TestHooks {
        self.test_hooks.iter().cloned().collect()
    }

    /// The room to join on start: `--room` as given, or what the `LINK` argument says.
    pub fn room_to_join(&self) -> anyhow::Result<Option<RoomToJoin>> {
        if let Some(link) = &self.link {
            let link = crate::signaling::link::parse(link)?;
            return Ok(Some(RoomToJoin {
                room: link.room,
                server: link.server.or_else(|| self.server.clone()),
                password: self.password.clone().or(link.password),
            }));
        }
        Ok(self.room.clone().map(|room| RoomToJoin {
            room,
            server: self.server.clone(),
            password: self.password.clone(),
        }))
    }
}

/// The window's launch options from the command line; `main` has already refused a link that
/// cannot be read.
pub fn launch_options(cli: &Cli) -> LaunchOptions {
    let (room, server, password) = match cli.room_to_join() {
        Ok(Some(join)) => (Some(join.room), join.server, join.password),
        _ => (None, cli.server.clone(), cli.password.clone()),
    };
    LaunchOptions {
        link: cli.link.clone(),
        demo: cli.demo,
        room,
        server,
        password,
        hooks: cli.test_hooks(),
    }
}
