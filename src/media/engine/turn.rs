//! The TURN servers' word on our credentials, asked once at start.

use std::rc::Rc;
use std::time::Duration;

use super::Engine;
use crate::media::{ice, turn_check};

impl Engine {
    /// Asks each TURN server for an allocation with our credentials, off the main loop: a
    /// refusal is otherwise invisible (libnice just gathers no relay candidate).
    pub(super) fn check_turn_servers(&self) {
        let urls = self.inner.config.ice.turn.clone();
        if urls.is_empty() {
            return;
        }
        let (tx, rx) = async_channel::bounded(urls.len());
        for url in urls {
            let tx = tx.clone();
            let spawned = std::thread::Builder::new()
                .name("turn-check".into())
                .spawn(move || {
                    let verdict = turn_check::check(&url, Duration::from_secs(2));
                    let _ = tx.send_blocking((ice::redact_turn_url(&url), verdict));
                });
            if let Err(err) = spawned {
                tracing::warn!("could not check the TURN server: {err}");
            }
        }
        let weak = Rc::downgrade(&self.inner);
        glib::spawn_future_local(async move {
            while let Ok((server, verdict)) = rx.recv().await {
                let Some(inner) = weak.upgrade() else { break };
                use turn_check::TurnVerdict;
                match verdict {
                    TurnVerdict::Accepted => {
                        tracing::info!("TURN server {server} accepts our credentials")
                    }
                    TurnVerdict::CredentialsRefused { code, reason } => {
                        tracing::warn!(
                            "TURN server {server} refused our credentials ({code} {reason})"
                        );
                        let relay_only = inner.config.ice.relay_only;
                        inner.room.borrow_mut().on_turn_refused(relay_only);
                    }
                    TurnVerdict::NoAnswer => {
                        tracing::warn!("TURN server {server} does not answer")
                    }
                    TurnVerdict::Unchecked(why) => {
                        tracing::info!("TURN server {server} not checked: {why}")
                    }
                }
            }
        });
    }
}
