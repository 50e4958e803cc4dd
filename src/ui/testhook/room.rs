//! The demo-room scenarios (`record-seconds`, `scenario`): they drive the real window the way
//! an operator would (the real `win.record` action, the tiles' record toggles, the window's
//! close button, the panel's Save… button) and report what its widgets show as JSON.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use adw::prelude::*;
use gtk::glib;
use gtk::glib::translate::IntoGlib;

use super::{CONNECT_TIMEOUT, DIALOG_TIMEOUT, DemoScenario, FINISH_TIMEOUT, Plan, wait_for};
use crate::media::demo::DemoPerson;
use crate::media::publisher::VideoMode;
use crate::ui::session::Session;
use crate::ui::window::{RecordState, RoomtapeWindow};

/// The participant the `exclude` scenario leaves out.
const EXCLUDED_LABEL: &str = "Bob";

/// Whether this demo participant publishes video (unknown labels are expected to).
fn expects_video(people: &[DemoPerson], label: &str) -> bool {
    people
        .iter()
        .find(|p| p.label == label || p.stream == label)
        .is_none_or(|p| p.video == VideoMode::Live)
}

/// Every demo participant has a tile, is connected, and shows what they publish: live video,
/// or the camera-off placeholder.
fn all_connected(people: &[DemoPerson], summary: &serde_json::Value) -> bool {
    let Some(tiles) = summary["tiles"].as_array() else {
        return false;
    };
    tiles.len() >= people.len()
        && tiles.iter().all(|t| {
            let label = t["label"].as_str().unwrap_or_default();
            let shown = if expects_video(people, label) {
                t["has_video"].as_bool() == Some(true)
            } else {
                t["placeholder"] == "camera-off"
            };
            matches!(t["ice"].as_str(), Some("connected" | "completed")) && shown
        })
}

/// The visible message dialog transient for `window`, if one is presented.
fn presented_dialog(window: &RoomtapeWindow) -> Option<adw::MessageDialog> {
    gtk::Window::list_toplevels()
        .into_iter()
        .filter_map(|w| w.downcast::<adw::MessageDialog>().ok())
        .find(|d| d.is_visible() && d.transient_for().as_ref() == Some(window.upcast_ref()))
}

fn audit_json(audit: &crate::ui::a11y::Audit) -> serde_json::Value {
    serde_json::to_value(audit).unwrap_or_default()
}

/// Opens a dialog through `action`, audits its controls and closes it again.
async fn audit_dialog(window: &RoomtapeWindow, action: &str) -> serde_json::Value {
    let before = gtk::Window::list_toplevels();
    let activated = WidgetExt::activate_action(window, action, None).is_ok();
    let dialog = wait_for(DIALOG_TIMEOUT, || {
        gtk::Window::list_toplevels()
            .into_iter()
            .filter(|w| !before.contains(w))
            .filter_map(|w| w.downcast::<gtk::Window>().ok())
            .find(|w| w.is_visible())
    })
    .await;
    let audit = dialog
        .as_ref()
        .map(|d| audit_json(&crate::ui::a11y::audit(d)));
    if let Some(dialog) = &dialog {
        dialog.close();
    }
    serde_json::json!({ "activated": activated, "opened": dialog.is_some(), "audit": audit })
}

/// Switches the record toggle of `label`'s tile off the way a keyboard user would.
async fn exclude(session: &Session, label: &str) -> serde_json::Value {
    let Some(tile) = session.tiles().into_iter().find(|t| t.label() == label) else {
        return serde_json::json!({ "label": label, "found": false });
    };
    let toggle = tile.record_toggle();
    let was_active = toggle.is_active();
    toggle.grab_focus();
    let activated = WidgetExt::activate(&toggle);
    // A button activated from the keyboard shows itself pressed for a moment, then toggles.
    let _ = wait_for(DIALOG_TIMEOUT, || {
        (toggle.is_active() != was_active).then_some(())
    })
    .await;
    serde_json::json!({
        "label": label,
        "id": tile.participant_id(),
        "found": true,
        "activated": activated,
        "was_active": was_active,
        "active": toggle.is_active(),
        "included": tile.included(),
        "tooltip": toggle.tooltip_text().map(|t| t.to_string()),
    })
}

/// Clicks Save… in the candidate log, types `name` into its file dialog and presses Save;
/// the file goes to the folder the dialog opened in.
async fn save_candidate_log(session: &Session, name: &str) -> serde_json::Value {
    session.panel().save_button().emit_clicked();
    let dialog = wait_for(DIALOG_TIMEOUT, || session.panel().save_dialog()).await;
    let mut chosen = None;
    if let Some(dialog) = &dialog {
        dialog.set_current_name(name);
        chosen = wait_for(DIALOG_TIMEOUT, || dialog.file().and_then(|f| f.path())).await;
        // What the dialog's Save button does.
        dialog.emit_by_name::<()>("response", &[&gtk::ResponseType::Accept.into_glib()]);
        dialog.hide();
    }
    serde_json::json!({
        "dialog_opened": dialog.is_some(),
        "dialog_closed": session.panel().save_dialog().is_none(),
        "path": chosen,
        "visible_lines": session.panel().visible_text().lines().count(),
    })
}

/// What a confirmation dialog shows: whether there is one, its heading and its answers.
fn dialog_report(dialog: Option<&adw::MessageDialog>) -> serde_json::Value {
    serde_json::json!({
        "dialog": dialog.is_some(),
        "heading": dialog.and_then(|d| d.heading()).map(|h| h.to_string()),
        "responses": dialog.map(|d| {
            ["cancel", "stop"]
                .iter()
                .filter(|id| d.has_response(id))
                .map(|id| d.response_label(id).to_string())
                .collect::<Vec<_>>()
        }),
    })
}

/// What a confirmation dialog showed, after answering it with `response`.
async fn answer_dialog(window: &RoomtapeWindow, response: &str) -> serde_json::Value {
    let dialog = wait_for(DIALOG_TIMEOUT, || presented_dialog(window)).await;
    let report = dialog_report(dialog.as_ref());
    if let Some(dialog) = dialog {
        dialog.response(response);
        // The dialog closes itself after its response.
        let _ = wait_for(DIALOG_TIMEOUT, || (!dialog.is_visible()).then_some(())).await;
    }
    report
}

/// While recording: leaving, opening the demo and joining another room each ask first, and
/// "Keep Recording" keeps it running; then leaving for real finishes the files.
async fn confirm_before_stopping(
    window: &RoomtapeWindow,
    session: &Session,
    plan: &Plan,
) -> serde_json::Map<String, serde_json::Value> {
    let mut report = serde_json::Map::new();
    let _ = WidgetExt::activate_action(window, "win.record", None);
    glib::timeout_future(Duration::try_from_secs_f64(plan.seconds).unwrap_or_default()).await;
    report.insert("recording".into(), session.summary());
    let another = crate::ui::join_request::JoinRequest {
        room: "another-room".into(),
        server: "ws://127.0.0.1:9".into(),
        password: crate::protocol::crypto::Password::Default,
    };
    for attempt in ["leave", "demo", "join"] {
        match attempt {
            "leave" => {
                let _ = WidgetExt::activate_action(window, "win.leave", None);
            }
            "demo" => {
                let _ = WidgetExt::activate_action(window, "win.demo", None);
            }
            _ => window.request_join(another.clone()),
        }
        let mut asked = answer_dialog(window, "cancel").await;
        asked["still_recording"] = (window.record_state() == RecordState::Running).into();
        asked["view"] = format!("{:?}", window.view_state()).into();
        report.insert(format!("{attempt}_asked"), asked);
    }
    let stop_pressed = Instant::now();
    let _ = WidgetExt::activate_action(window, "win.leave", None);
    report.insert(
        "leave_confirmed".into(),
        answer_dialog(window, "stop").await,
    );
    // Leaving goes on finishing the files in the background, until the manifest says so.
    let finished = |dir: &std::path::Path| {
        std::fs::read_to_string(dir.join("session.json"))
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .is_some_and(|manifest| manifest["state"] == "finished")
    };
    let _ = wait_for(FINISH_TIMEOUT, || {
        session.last_session_dir().filter(|dir| finished(dir))
    })
    .await;
    report.insert(
        "finish_secs".into(),
        stop_pressed.elapsed().as_secs_f64().into(),
    );
    report.insert("finished".into(), session.summary());
    report
}

/// A join that fails: the error names its cause once, and Edit… opens the join dialog filled
/// in as it was.
async fn edit_after_error(window: &RoomtapeWindow) -> serde_json::Map<String, serde_json::Value> {
    let mut report = serde_json::Map::new();
    let error = wait_for(CONNECT_TIMEOUT, || window.error_text()).await;
    report.insert("error".into(), serde_json::json!(error));
    let before = gtk::Window::list_toplevels();
    let edited = WidgetExt::activate_action(window, "win.edit-join", None).is_ok();
    report.insert("edit_activated".into(), edited.into());
    let dialog = wait_for(DIALOG_TIMEOUT, || {
        gtk::Window::list_toplevels()
            .into_iter()
            .filter(|w| !before.contains(w))
            .find_map(|w| w.downcast::<crate::ui::join_dialog::JoinDialog>().ok())
    })
    .await;
    if let Some(dialog) = &dialog {
        let (room, server, password, typed) = dialog.fields();
        report.insert(
            "dialog".into(),
            serde_json::json!({"room": room, "server": server, "password": password, "password_typed": typed}),
        );
        dialog.close();
    }
    report
}

/// The participant the `no-media` scenario freezes.
const FROZEN_STREAM: &str = "bob";

/// Freezes one participant's media until their badge shows it, then lets it flow again.
async fn freeze_media(
    window: &RoomtapeWindow,
    session: &Session,
    plan: &Plan,
    failed: &Cell<bool>,
) -> serde_json::Map<String, serde_json::Value> {
    let mut report = serde_json::Map::new();
    let badge = |session: &Session| {
        session
            .tiles()
            .into_iter()
            .find(|t| t.label().eq_ignore_ascii_case(FROZEN_STREAM))
            .map(|t| {
                (
                    t.ice_state().as_str().to_owned(),
                    t.ice_badge_text(),
                    t.ice_badge_classes(),
                )
            })
    };
    report.insert(
        "frozen".into(),
        session.pause_demo_media(FROZEN_STREAM, true).into(),
    );
    let frozen_at = Instant::now();
    let shown = wait_for(Duration::from_secs(15), || {
        badge(session).filter(|(state, _, _)| state == "no-media")
    })
    .await;
    report.insert(
        "no_media_after_secs".into(),
        frozen_at.elapsed().as_secs_f64().into(),
    );
    report.insert("while_frozen".into(), serde_json::json!(shown));
    report.insert("others_while_frozen".into(), session.summary());
    if let Some(path) = &plan.screenshot
        && let Err(err) = crate::ui::screenshot::save_widget_png_soon(window, path).await
    {
        eprintln!("roomtape: could not save the screenshot: {err:#}");
        failed.set(true);
    }
    session.pause_demo_media(FROZEN_STREAM, false);
    let thawed_at = Instant::now();
    let back = wait_for(Duration::from_secs(15), || {
        badge(session).filter(|(state, _, _)| matches!(state.as_str(), "connected" | "completed"))
    })
    .await;
    report.insert(
        "back_after_secs".into(),
        thawed_at.elapsed().as_secs_f64().into(),
    );
    report.insert("after_thaw".into(), serde_json::json!(back));
    report
}

/// Record, wait, press Stop (or close the window and answer its question), wait for the
/// files; returns what the window showed along the way.
async fn record(
    window: &RoomtapeWindow,
    session: &Session,
    plan: &Plan,
    failed: &Cell<bool>,
) -> serde_json::Map<String, serde_json::Value> {
    let mut report = serde_json::Map::new();
    let _ = WidgetExt::activate_action(window, "win.record", None);
    glib::timeout_future(Duration::try_from_secs_f64(plan.seconds).unwrap_or_default()).await;
    report.insert("recording".into(), session.summary());
    if let Some(path) = &plan.screenshot
        && let Err(err) = crate::ui::screenshot::save_widget_png_soon(window, path).await
    {
        eprintln!("roomtape: could not save the screenshot: {err:#}");
        failed.set(true);
    }
    let stop_pressed = Instant::now();
    if plan.scenario == DemoScenario::Close {
        // Ctrl+W: the key's action, as the application binds it.
        let accels = window
            .application()
            .map(|app| app.accels_for_action("window.close"))
            .unwrap_or_default();
        report.insert(
            "close_accels".into(),
            accels
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .into(),
        );
        let _ = WidgetExt::activate_action(window, "window.close", None);
        let dialog = wait_for(DIALOG_TIMEOUT, || presented_dialog(window)).await;
        let mut asked = dialog_report(dialog.as_ref());
        asked["window_visible"] = window.is_visible().into();
        asked["still_recording"] = (window.record_state() == RecordState::Running).into();
        report.insert("close_asked".into(), asked);
        if let Some(dialog) = dialog {
            dialog.response("stop");
        }
        report.insert("after_stop".into(), session.summary());
        let closed = wait_for(FINISH_TIMEOUT, || (!window.is_visible()).then_some(())).await;
        report.insert("window_closed".into(), closed.is_some().into());
        report.insert(
            "finish_secs".into(),
            stop_pressed.elapsed().as_secs_f64().into(),
        );
        report.insert(
            "session_dir".into(),
            serde_json::json!(session.last_session_dir()),
        );
        return report;
    }
    let _ = WidgetExt::activate_action(window, "win.record", None);
    report.insert("after_stop".into(), session.summary());
    let _ = wait_for(FINISH_TIMEOUT, || {
        let now = session.summary();
        (now["finishing"] == false && now["recording"] == false).then_some(())
    })
    .await;
    report.insert(
        "finish_secs".into(),
        stop_pressed.elapsed().as_secs_f64().into(),
    );
    report.insert("finished".into(), session.summary());
    report
}

pub(super) fn record_and_report(
    app: &adw::Application,
    window: &RoomtapeWindow,
    session: Session,
    plan: Plan,
    failed: Rc<Cell<bool>>,
) {
    // The window may close before the report is out (the close scenario).
    let hold = app.hold();
    glib::spawn_future_local(glib::clone!(
        #[weak]
        app,
        #[weak]
        window,
        async move {
            // Another application's window in front: everything happens in the background.
            let in_front = (plan.scenario == DemoScenario::Background).then(|| {
                let other = gtk::Window::builder()
                    .title("Another Application")
                    .default_width(320)
                    .default_height(200)
                    .build();
                other.present();
                other
            });
            let early = match plan.scenario {
                DemoScenario::EditJoin => Some(edit_after_error(&window).await),
                DemoScenario::SecretsWrite => Some(super::secrets::write_secrets(&window).await),
                DemoScenario::SecretsRead => Some(super::secrets::read_secrets(&window).await),
                _ => None,
            };
            if let Some(report) = early {
                super::report(serde_json::Value::Object(report));
                drop(hold);
                app.quit();
                return;
            }
            // The side panel is part of what is checked (and shown in the screenshot).
            let _ = WidgetExt::activate_action(&window, "win.toggle-panel", None);
            let started = Instant::now();
            let people = session.demo_people();
            while !all_connected(&people, &session.summary()) && started.elapsed() < CONNECT_TIMEOUT
            {
                glib::timeout_future(Duration::from_millis(250)).await;
            }
            let mut report = serde_json::Map::new();
            report.insert("scenario".into(), format!("{:?}", plan.scenario).into());
            report.insert("connected".into(), session.summary());
            report.insert(
                "connect_secs".into(),
                started.elapsed().as_secs_f64().into(),
            );
            // Every control of the room (tiles, header bar, panel) named and reachable.
            report.insert("a11y".into(), audit_json(&crate::ui::a11y::audit(&window)));
            match plan.scenario {
                DemoScenario::Exclude => {
                    report.insert("excluded".into(), exclude(&session, EXCLUDED_LABEL).await);
                    report.insert("before_recording".into(), session.summary());
                }
                DemoScenario::SaveLog => {
                    let saved = save_candidate_log(&session, "candidates.txt").await;
                    report.insert("saved_log".into(), saved);
                    report.insert(
                        "candidates_when_saved".into(),
                        session.summary()["candidates"].clone(),
                    );
                }
                DemoScenario::Record => {
                    // The dialogs' controls too: named and reachable.
                    let join = audit_dialog(&window, "win.join").await;
                    let preferences = audit_dialog(&window, "app.preferences").await;
                    report.insert(
                        "dialog_a11y".into(),
                        serde_json::json!({ "join": join, "preferences": preferences }),
                    );
                }
                DemoScenario::Close
                | DemoScenario::Background
                | DemoScenario::EditJoin
                | DemoScenario::SecretsWrite
                | DemoScenario::SecretsRead => {}
                DemoScenario::Confirm => {
                    report.extend(confirm_before_stopping(&window, &session, &plan).await);
                }
                DemoScenario::NoMedia => {
                    report.extend(freeze_media(&window, &session, &plan, &failed).await);
                }
            }
            if !matches!(plan.scenario, DemoScenario::Confirm | DemoScenario::NoMedia) {
                report.extend(record(&window, &session, &plan, &failed).await);
            }
            if let Some(other) = in_front {
                report.insert("window_active_at_end".into(), window.is_active().into());
                other.destroy();
            }
            super::report(serde_json::Value::Object(report));
            drop(hold);
            app.quit();
        }
    ));
}
