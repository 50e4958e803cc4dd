//! Hidden test hook (`--demo-record-seconds N`): drives the real window the way an operator
//! would (the real `win.record` action) and reports what its widgets show as JSON on stdout.

use std::cell::Cell;
use std::io::Write;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use adw::prelude::*;
use gtk::glib;

use super::RoomtapeWindow;
use super::session::Session;

/// How long the room may take until every tile is connected.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long finishing the files may take.
const FINISH_TIMEOUT: Duration = Duration::from_secs(40);

fn all_connected(summary: &serde_json::Value) -> bool {
    let Some(tiles) = summary["tiles"].as_array() else {
        return false;
    };
    tiles.len() >= 3
        && tiles.iter().all(|t| {
            matches!(t["ice"].as_str(), Some("connected" | "completed"))
                && t["has_video"].as_bool() == Some(true)
        })
}

pub(super) fn record_and_report(
    app: &adw::Application,
    window: &RoomtapeWindow,
    session: Session,
    seconds: f64,
    screenshot: Option<PathBuf>,
    failed: Rc<Cell<bool>>,
) {
    let record_for = Duration::try_from_secs_f64(seconds).unwrap_or_default();
    glib::spawn_future_local(glib::clone!(
        #[weak]
        app,
        #[weak]
        window,
        async move {
            // The side panel is part of what is checked (and shown in the screenshot).
            let _ = WidgetExt::activate_action(&window, "win.toggle-panel", None);
            let started = Instant::now();
            while !all_connected(&session.summary()) && started.elapsed() < CONNECT_TIMEOUT {
                glib::timeout_future(Duration::from_millis(250)).await;
            }
            let connected = session.summary();
            let connect_secs = started.elapsed().as_secs_f64();

            let _ = WidgetExt::activate_action(&window, "win.record", None);
            glib::timeout_future(record_for).await;
            let recording = session.summary();
            if let Some(path) = &screenshot {
                if let Err(err) = super::screenshot::save_widget_png_soon(&window, path).await {
                    eprintln!("roomtape: could not save the screenshot: {err:#}");
                    failed.set(true);
                }
            }
            let _ = WidgetExt::activate_action(&window, "win.record", None);
            let stop_pressed = Instant::now();
            let after_stop = session.summary();
            loop {
                let now = session.summary();
                let done = now["finishing"] == false && now["recording"] == false;
                if done || stop_pressed.elapsed() > FINISH_TIMEOUT {
                    break;
                }
                glib::timeout_future(Duration::from_millis(100)).await;
            }
            let finished_secs = stop_pressed.elapsed().as_secs_f64();
            let report = serde_json::json!({
                "connect_secs": connect_secs,
                "connected": connected,
                "recording": recording,
                "after_stop": after_stop,
                "finish_secs": finished_secs,
                "finished": session.summary(),
            });
            println!("{report}");
            let _ = std::io::stdout().flush();
            app.quit();
        }
    ));
}
