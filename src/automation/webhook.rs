//! `record --webhook URL`: every event `--json-events` prints is POSTed, as the same JSON
//! object, to each URL.
//!
//! Each URL has a thread of its own with a bounded queue, so a slow or dead endpoint never
//! holds up the recording or another endpoint: when its queue is full, events for it are
//! dropped and counted, and the count is logged.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use glib::translate::IntoGlib;
use soup::prelude::*;

/// Events waiting for one endpoint; beyond this, new ones are dropped.
pub const QUEUE_LENGTH: usize = 256;
/// How long one POST may take.
const REQUEST_TIMEOUT_S: u32 = 5;
/// Attempts per event, with the waits between them.
const RETRY_WAITS: [Duration; 3] = [
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
];

/// Why a webhook URL is not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookUrlError {
    #[error("{0:?} is not a URL")]
    NotAUrl(String),
    #[error("{0:?}: webhooks are http:// or https:// URLs")]
    Scheme(String),
    #[error("{0:?}: a webhook URL carries no user name or password; use a token in the path")]
    Credentials(String),
}

/// Checks a `--webhook` value: http(s), with a host, and no credentials (they would show in
/// logs and the process list).
pub fn parse_url(raw: &str) -> Result<String, WebhookUrlError> {
    let uri = glib::Uri::parse(raw, glib::UriFlags::NONE)
        .map_err(|_| WebhookUrlError::NotAUrl(raw.to_owned()))?;
    if !matches!(uri.scheme().as_str(), "http" | "https") {
        return Err(WebhookUrlError::Scheme(raw.to_owned()));
    }
    if uri.host().is_none_or(|h| h.is_empty()) {
        return Err(WebhookUrlError::NotAUrl(raw.to_owned()));
    }
    if uri.userinfo().is_some() {
        return Err(WebhookUrlError::Credentials(raw.to_owned()));
    }
    Ok(raw.to_owned())
}

/// What one endpoint's thread has done, for the log at the end.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub delivered: u64,
    /// Given up after every retry failed.
    pub failed: u64,
    /// Never sent: the queue was full.
    pub dropped: u64,
    /// Queued and not yet taken by the sender; what is left when the run ends is lost.
    pub queued: u64,
}

struct Endpoint {
    url: String,
    queue: Option<SyncSender<String>>,
    worker: Option<JoinHandle<()>>,
    delivery: Arc<Mutex<Delivery>>,
}

/// The webhooks of one `record` run.
pub struct Webhooks {
    endpoints: Vec<Endpoint>,
}

impl Webhooks {
    /// Starts a sender thread per URL.
    pub fn start(urls: &[String]) -> Webhooks {
        let endpoints = urls
            .iter()
            .map(|url| {
                let (queue, events) = std::sync::mpsc::sync_channel(QUEUE_LENGTH);
                let delivery = Arc::new(Mutex::new(Delivery::default()));
                let worker = std::thread::Builder::new()
                    .name("webhook".into())
                    .spawn({
                        let url = url.clone();
                        let delivery = delivery.clone();
                        move || deliver(&url, &events, &delivery)
                    })
                    .map_err(|err| tracing::error!("webhook {url}: no thread: {err}"))
                    .ok();
                Endpoint {
                    url: url.clone(),
                    queue: worker.is_some().then_some(queue),
                    worker,
                    delivery,
                }
            })
            .collect();
        Webhooks { endpoints }
    }

    /// Queues `event` for every endpoint; never waits.
    pub fn send(&self, event: &serde_json::Value) {
        if self.endpoints.is_empty() {
            return;
        }
        let body = event.to_string();
        for endpoint in &self.endpoints {
            let Some(queue) = &endpoint.queue else {
                continue;
            };
            // Counted before it is queued: the sender may take it at once.
            lock(&endpoint.delivery).queued += 1;
            match queue.try_send(body.clone()) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                    let mut delivery = lock(&endpoint.delivery);
                    delivery.queued = delivery.queued.saturating_sub(1);
                    delivery.dropped += 1;
                    if delivery.dropped == 1 {
                        tracing::warn!(
                            "webhook {}: the endpoint is not keeping up; events are dropped",
                            endpoint.url
                        );
                    }
                }
            }
        }
    }

    /// Gives every endpoint `grace` to send what is queued (the last events, such as
    /// `recording_finished`, matter most), then reports what each one got.
    pub fn finish(mut self, grace: Duration) -> Vec<(String, Delivery)> {
        let deadline = Instant::now() + grace;
        for endpoint in &mut self.endpoints {
            endpoint.queue.take();
        }
        let mut report = Vec::new();
        for endpoint in &mut self.endpoints {
            if let Some(worker) = endpoint.worker.take() {
                while !worker.is_finished() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(20));
                }
                if worker.is_finished() {
                    let _ = worker.join();
                }
            }
            let delivery = lock(&endpoint.delivery).clone();
            if delivery.dropped > 0 || delivery.failed > 0 || delivery.queued > 0 {
                eprintln!(
                    "roomtape: webhook {}: {} events delivered, {} failed after retries, {} dropped, {} not sent when the run ended",
                    endpoint.url,
                    delivery.delivered,
                    delivery.failed,
                    delivery.dropped,
                    delivery.queued
                );
            }
            report.push((endpoint.url.clone(), delivery));
        }
        report
    }
}

fn lock(delivery: &Mutex<Delivery>) -> std::sync::MutexGuard<'_, Delivery> {
    delivery
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The sender thread: POSTs each queued event, retrying with growing waits.
fn deliver(url: &str, events: &Receiver<String>, delivery: &Mutex<Delivery>) {
    // A main context of this thread's own: libsoup's sync calls iterate it.
    let context = glib::MainContext::new();
    let Ok(()) = context.with_thread_default(|| {
        let session = soup::Session::new();
        session.set_timeout(REQUEST_TIMEOUT_S);
        session.set_user_agent(concat!("Roomtape/", env!("CARGO_PKG_VERSION")));
        while let Ok(body) = events.recv() {
            {
                let mut delivery = lock(delivery);
                delivery.queued = delivery.queued.saturating_sub(1);
            }
            let mut outcome = post(&session, url, &body);
            for wait in RETRY_WAITS {
                if outcome.is_ok() {
                    break;
                }
                std::thread::sleep(wait);
                outcome = post(&session, url, &body);
            }
            let mut delivery = lock(delivery);
            match outcome {
                Ok(()) => delivery.delivered += 1,
                Err(err) => {
                    delivery.failed += 1;
                    tracing::warn!("webhook {url}: {err}; the event is dropped");
                }
            }
        }
    }) else {
        tracing::error!("webhook {url}: no main context for its thread");
        return;
    };
}

fn post(session: &soup::Session, url: &str, body: &str) -> Result<(), String> {
    let message = soup::Message::new("POST", url).map_err(|err| err.to_string())?;
    let bytes = glib::Bytes::from(body.as_bytes());
    message.set_request_body_from_bytes(Some("application/json"), Some(&bytes));
    session
        .send_and_read(&message, gio::Cancellable::NONE)
        .map_err(|err| err.to_string())?;
    let status = message.status().into_glib();
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(format!("the endpoint answered {status}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_urls_without_credentials_are_taken() {
        assert!(parse_url("http://127.0.0.1:8080/hook").is_ok());
        assert!(parse_url("https://hooks.example/roomtape?token=abc").is_ok());
        assert_eq!(
            parse_url("ftp://example/x"),
            Err(WebhookUrlError::Scheme("ftp://example/x".into()))
        );
        assert!(matches!(
            parse_url("http://user:pw@example/x"),
            Err(WebhookUrlError::Credentials(_))
        ));
        assert!(matches!(
            parse_url("not a url"),
            Err(WebhookUrlError::NotAUrl(_))
        ));
        assert!(matches!(
            parse_url("http:///x"),
            Err(WebhookUrlError::NotAUrl(_))
        ));
    }

    #[test]
    fn a_full_queue_drops_and_counts_instead_of_waiting() {
        // A thread that takes nothing: the queue fills, then sending returns at once.
        let (queue, _events) = std::sync::mpsc::sync_channel(QUEUE_LENGTH);
        let delivery = Arc::new(Mutex::new(Delivery::default()));
        let hooks = Webhooks {
            endpoints: vec![Endpoint {
                url: "http://127.0.0.1:9/".into(),
                queue: Some(queue),
                worker: None,
                delivery: delivery.clone(),
            }],
        };
        let event = serde_json::json!({"event": "joined"});
        for _ in 0..QUEUE_LENGTH + 10 {
            hooks.send(&event);
        }
        assert_eq!(lock(&delivery).dropped, 10);
    }
}
