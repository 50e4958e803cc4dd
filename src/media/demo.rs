//! The demo room: a local signaling server on 127.0.0.1 and synthetic publishers in the same
//! process, so the whole path (signaling, ICE, recording, previews) can be seen working
//! without a browser or a network.

use crate::media::ice::IceConfig;
use crate::media::publisher::{AudioMode, Publisher, PublisherConfig, VideoMode};
use crate::signaling::server::{Dialect, ServerError, SignalingServer};

/// The demo room's name on the local server.
pub const DEMO_ROOM: &str = "roomtape-demo";

/// One of the demo's synthetic participants.
#[derive(Debug, Clone, Copy)]
pub struct DemoPerson {
    pub stream: &'static str,
    pub label: &'static str,
    pub video: VideoMode,
    pub audio: AudioMode,
}

/// The demo's synthetic participants: two talking on camera, one with a muted microphone and
/// one with the camera off (audio only).
pub const DEMO_PEOPLE: [DemoPerson; 4] = [
    DemoPerson {
        stream: "alice",
        label: "Alice",
        video: VideoMode::Live,
        audio: AudioMode::Tone,
    },
    DemoPerson {
        stream: "bob",
        label: "Bob",
        video: VideoMode::Live,
        audio: AudioMode::Tone,
    },
    DemoPerson {
        stream: "carol",
        label: "Carol",
        video: VideoMode::Live,
        audio: AudioMode::Muted,
    },
    DemoPerson {
        stream: "dave",
        label: "Dave",
        video: VideoMode::Off,
        audio: AudioMode::Tone,
    },
];

/// More synthetic people, for screenshots of larger rooms.
const MORE_DEMO_NAMES: [&str; 12] = [
    "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy", "Mallory", "Niaj", "Olivia", "Peggy",
    "Rupert", "Sybil",
];

/// How many people the demo room holds unless asked for another number.
pub const USUAL_DEMO_PEOPLE: usize = DEMO_PEOPLE.len();

/// The most people the demo room can hold.
pub const MAX_DEMO_PEOPLE: usize = DEMO_PEOPLE.len() + MORE_DEMO_NAMES.len();

/// The demo room's first `count` people (at least one, at most [`MAX_DEMO_PEOPLE`]): the usual
/// four, then more on camera for screenshots of larger rooms.
pub fn demo_people(count: usize) -> Vec<DemoPerson> {
    DEMO_PEOPLE
        .iter()
        .copied()
        .chain(MORE_DEMO_NAMES.iter().map(|name| DemoPerson {
            stream: name,
            label: name,
            video: VideoMode::Live,
            audio: AudioMode::Tone,
        }))
        .take(count.clamp(1, MAX_DEMO_PEOPLE))
        .collect()
}

/// Why the demo room could not start.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Server(#[from] ServerError),
    #[error(transparent)]
    Publisher(#[from] anyhow::Error),
}

/// A local signaling server with synthetic publishers; dropping it closes them all.
pub struct Demo {
    server: SignalingServer,
    publishers: Vec<Publisher>,
}

impl Drop for Demo {
    fn drop(&mut self) {
        for publisher in &self.publishers {
            publisher.close();
        }
        self.server.stop();
    }
}

impl Demo {
    /// Starts the server and publishers for `people` on the calling thread's GLib main context.
    pub fn start(people: &[DemoPerson]) -> Result<Demo, DemoError> {
        let server = SignalingServer::start(
            std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            Dialect::Official,
        )?;
        let url = server.url();
        let mut publishers = Vec::new();
        for person in people {
            let mut config = PublisherConfig::new(&url, DEMO_ROOM, person.stream);
            config.label = person.label.to_owned();
            config.video = person.video;
            config.audio = person.audio;
            config.framerate = 24;
            config.bitrate_kbps = 800;
            config.ice = IceConfig {
                stun: None,
                turn: Vec::new(),
                relay_only: false,
                loopback: true,
            };
            publishers.push(Publisher::start(config)?);
        }
        Ok(Demo { server, publishers })
    }

    /// The local server's address, for the engine to join.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Stops (or restarts) the media of the participant `stream`, their connection kept, as a
    /// frozen browser tab does; returns whether there is such a participant.
    pub fn pause_media(&self, stream: &str, paused: bool) -> bool {
        let Some(publisher) = self.publishers.iter().find(|p| p.stream_id() == stream) else {
            return false;
        };
        publisher.set_media_paused(paused);
        true
    }
}
