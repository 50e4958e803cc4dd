//! What other programs get from a room, for both front-ends: the events as JSON objects
//! (`record --json-events`, webhooks) and the webhook sender.

pub mod events;
pub mod webhook;
