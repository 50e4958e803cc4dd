//! `roomtape serve`: the local signaling server until SIGINT or SIGTERM.

use std::io::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::signaling::server::{Dialect, SignalingServer};

/// Runs a signaling server until SIGINT or SIGTERM (the `roomtape serve` command).
///
/// Runs on the process-wide default GLib main context, because that is where GLib delivers UNIX
/// signals; call it from `main`. The banner goes to stdout and is flushed so scripts can wait
/// for it.
pub fn run(listen: SocketAddr, dialect: Dialect) -> anyhow::Result<()> {
    let handles = crate::limits::raise_open_file_limit();
    tracing::debug!("serve may open {handles} files");
    let context = glib::MainContext::default();
    context
        .with_thread_default(|| serve_until_signal(&context, listen, dialect))
        .map_err(|_| anyhow::anyhow!("the default GLib main context is owned by another thread"))?
}

fn serve_until_signal(
    context: &glib::MainContext,
    listen: SocketAddr,
    dialect: Dialect,
) -> anyhow::Result<()> {
    let main_loop = glib::MainLoop::new(Some(context), false);
    let server = SignalingServer::start(listen, dialect)?;
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(
            stdout,
            "Roomtape signaling server ({dialect} dialect) listening on {}",
            server.url()
        )?;
        stdout.flush()?;
    }
    let signal_sources: Vec<glib::SourceId> = [libc::SIGINT, libc::SIGTERM]
        .into_iter()
        .map(|signum| {
            let main_loop = main_loop.clone();
            glib::unix_signal_add_local(signum, move || {
                tracing::info!("signal {signum} received, stopping the signaling server");
                main_loop.quit();
                glib::ControlFlow::Continue
            })
        })
        .collect();
    main_loop.run();
    for source in signal_sources {
        source.remove();
    }
    server.stop();
    // Give the close frames a moment to go out before the process exits.
    let deadline = Instant::now() + Duration::from_millis(300);
    while Instant::now() < deadline && context.pending() {
        context.iteration(false);
    }
    Ok(())
}
