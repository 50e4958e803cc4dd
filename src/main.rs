use std::process::ExitCode;

use clap::Parser;
use roomtape::command_line::Cli;

fn main() -> ExitCode {
    roomtape::glib_log::route_to_tracing();
    roomtape::i18n::init();
    let cli = Cli::parse();
    roomtape::init_logging(cli.verbosity());
    if let Err(err) = cli.room_to_join() {
        eprintln!("roomtape: {err}");
        return ExitCode::from(2);
    }
    if let Err(err) = cli.test_hooks().check(cli.demo) {
        eprintln!("roomtape: {err}");
        return ExitCode::from(2);
    }
    match cli.command {
        Some(command) => roomtape::cli::run(command),
        None => roomtape::ui::run(roomtape::command_line::launch_options(&cli)),
    }
}
