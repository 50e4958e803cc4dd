//! One webrtcbin per participant session, in a pipeline of its own so one bad peer cannot
//! stall or take down the others.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use gst::prelude::*;
use gst_webrtc::{WebRTCDataChannel, WebRTCSDPType, WebRTCSessionDescription};

use super::ice::IceConfig;
use crate::room::{
    ConnectionState, IceState, MediaKind, PairKind, PeerEvent, PeerKey, SelectedPair,
};

/// A received track, ready for recording and preview branches to be attached to its tee.
#[derive(Debug, Clone)]
pub struct Track {
    pub kind: MediaKind,
    /// RTP encoding name, upper case: VP8, VP9, H264, AV1, OPUS.
    pub encoding: String,
    pub caps: gst::Caps,
    pub tee: gst::Element,
    /// Holds the track's first packets until the engine attached its recording branch, so
    /// the first key frame is not dropped by a tee without branches.
    pub hold: TrackHold,
}

/// A blocking probe on a new track's pad, removed once the main loop has attached the
/// recording branch. Clones share the probe; releasing twice is harmless.
#[derive(Debug, Clone)]
pub struct TrackHold {
    pad: gst::Pad,
    probe: Arc<Mutex<Option<gst::PadProbeId>>>,
}

impl TrackHold {
    fn new(pad: &gst::Pad) -> TrackHold {
        let probe = pad.add_probe(
            gst::PadProbeType::BLOCK | gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
            |_, _| gst::PadProbeReturn::Ok,
        );
        TrackHold {
            pad: pad.clone(),
            probe: Arc::new(Mutex::new(probe)),
        }
    }

    /// Lets the held packets flow.
    pub fn release(&self) {
        let probe = self.probe.lock().ok().and_then(|mut guard| guard.take());
        if let Some(probe) = probe {
            self.pad.remove_probe(probe);
        }
    }
}

/// What a peer reports to the engine.
#[derive(Debug, Clone)]
pub enum PeerMessage {
    Room(PeerEvent),
    Track(Track),
    Error(super::failure::PipelineError),
}

type Events = async_channel::Sender<(PeerKey, PeerMessage)>;

struct Shared {
    key: PeerKey,
    events: Events,
    channel: Mutex<Option<WebRTCDataChannel>>,
    rtp_activity: AtomicBool,
    local_addresses: Mutex<HashSet<String>>,
    watched_transports: Mutex<HashSet<usize>>,
    media_seen: Mutex<HashSet<MediaKind>>,
}

impl Shared {
    fn send(&self, message: PeerMessage) {
        // Unbounded: never blocks a streaming thread. A closed channel means the engine is gone.
        let _ = self.events.try_send((self.key.clone(), message));
    }

    fn room(&self, event: PeerEvent) {
        self.send(PeerMessage::Room(event));
    }
}

/// A participant session's webrtcbin.
pub struct Peer {
    key: PeerKey,
    pipeline: gst::Pipeline,
    webrtcbin: gst::Element,
    shared: Arc<Shared>,
    _bus_watch: Option<gst::bus::BusWatchGuard>,
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer").field("key", &self.key).finish()
    }
}

impl Peer {
    /// Builds and starts the pipeline; negotiation starts with [`Peer::apply_offer`].
    pub fn new(key: PeerKey, ice: &IceConfig, events: Events) -> anyhow::Result<Peer> {
        let pipeline =
            gst::Pipeline::with_name(&format!("peer-{}", sanitize_name(&key.to_string())));
        // Recording branches stop with EOS; their sinks' EOS must reach the bus.
        pipeline.set_property("message-forward", true);
        let webrtcbin = gst::ElementFactory::make("webrtcbin")
            .name("webrtcbin")
            .property_from_str("bundle-policy", "max-bundle")
            .build()?;
        pipeline.add(&webrtcbin)?;
        ice.apply(&webrtcbin);
        tune_jitterbuffers(&webrtcbin);

        let shared = Arc::new(Shared {
            key: key.clone(),
            events,
            channel: Mutex::new(None),
            rtp_activity: AtomicBool::new(false),
            local_addresses: Mutex::new(HashSet::new()),
            watched_transports: Mutex::new(HashSet::new()),
            media_seen: Mutex::new(HashSet::new()),
        });
        connect_signals(&pipeline, &webrtcbin, &shared);

        let bus_watch = pipeline.bus().and_then(|bus| {
            let shared = Arc::downgrade(&shared);
            bus.add_watch(move |_, message| {
                if let gst::MessageView::Error(err) = message.view()
                    && let Some(shared) = shared.upgrade()
                {
                    let error = super::failure::PipelineError::from_message(err);
                    tracing::warn!(
                        peer = %shared.key,
                        kind = error.kind.as_str(),
                        "pipeline error from {}: {}",
                        error.source,
                        error.text
                    );
                    shared.send(PeerMessage::Error(error));
                }
                gst::glib::ControlFlow::Continue
            })
            .ok()
        });
        pipeline.set_state(gst::State::Playing)?;
        Ok(Peer {
            key,
            pipeline,
            webrtcbin,
            shared,
            _bus_watch: bus_watch,
        })
    }

    pub fn key(&self) -> &PeerKey {
        &self.key
    }

    pub fn pipeline(&self) -> &gst::Pipeline {
        &self.pipeline
    }

    /// Validates an offer, applies it, and answers: `AnswerReady` comes back as an event.
    pub fn apply_offer(&self, sdp: &str) {
        let message = match validate_sdp(sdp) {
            Ok(message) => message,
            Err(reason) => {
                self.shared.room(PeerEvent::NegotiationFailed(reason));
                return;
            }
        };
        let offer = WebRTCSessionDescription::new(WebRTCSDPType::Offer, message);
        let webrtcbin = self.webrtcbin.downgrade();
        let shared = Arc::downgrade(&self.shared);
        let promise = gst::Promise::with_change_func(move |reply| {
            let (Some(webrtcbin), Some(shared)) = (webrtcbin.upgrade(), shared.upgrade()) else {
                return;
            };
            if let Err(reason) = promise_error(reply) {
                shared.room(PeerEvent::NegotiationFailed(format!(
                    "offer rejected: {reason}"
                )));
                return;
            }
            shared.room(PeerEvent::RemoteDescriptionApplied);
            watch_transports(&webrtcbin, &shared);
            create_answer(&webrtcbin, &shared);
        });
        self.webrtcbin
            .emit_by_name::<()>("set-remote-description", &[&offer, &promise]);
    }

    /// Hands a remote candidate (already validated by the room) to webrtcbin.
    pub fn add_candidate(&self, mline: u32, candidate: &str) {
        self.webrtcbin
            .emit_by_name::<()>("add-ice-candidate", &[&mline, &candidate]);
    }

    /// Sends text on the data channel; false when there is no open channel.
    pub fn send_on_channel(&self, text: &str) -> bool {
        let Ok(guard) = self.shared.channel.lock() else {
            return false;
        };
        match guard.as_ref() {
            Some(channel) if channel.ready_state() == gst_webrtc::WebRTCDataChannelState::Open => {
                if let Err(err) = channel.send_string_full(Some(text)) {
                    tracing::debug!("data channel send failed: {err}");
                }
                true
            }
            _ => false,
        }
    }

    /// True once if RTP arrived since the last call.
    pub fn take_rtp_activity(&self) -> bool {
        self.shared.rtp_activity.swap(false, Ordering::Relaxed)
    }

    /// Asks webrtcbin for statistics; the selected pair comes back as an event.
    pub fn poll_stats(&self) {
        let shared = Arc::downgrade(&self.shared);
        let promise = gst::Promise::with_change_func(move |reply| {
            let Some(shared) = shared.upgrade() else {
                return;
            };
            if let Ok(Some(stats)) = reply
                && let Some(pair) = selected_pair_from_stats(stats, &shared)
            {
                shared.room(PeerEvent::SelectedPair(pair));
            }
        });
        self.webrtcbin
            .emit_by_name::<()>("get-stats", &[&None::<gst::Pad>, &promise]);
    }

    /// Frees everything. Recording branches must have been finalised before.
    pub fn shutdown(&self) {
        if let Ok(mut guard) = self.shared.channel.lock()
            && let Some(channel) = guard.take()
        {
            channel.close();
        }
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

fn sanitize_name(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(48)
        .collect()
}

/// Parses an SDP with GStreamer's own parser and refuses what webrtcbin should never see.
pub fn validate_sdp(sdp: &str) -> Result<gst_sdp::SDPMessage, String> {
    const MAX_SDP_BYTES: usize = 64 * 1024;
    if sdp.len() > MAX_SDP_BYTES {
        return Err(format!("SDP of {} bytes is too large", sdp.len()));
    }
    if sdp.bytes().any(|b| b == 0) {
        return Err("SDP contains a NUL byte".to_owned());
    }
    let message = gst_sdp::SDPMessage::parse_buffer(sdp.as_bytes())
        .map_err(|_| "SDP could not be parsed".to_owned())?;
    if message.medias_len() == 0 {
        return Err("SDP has no media sections".to_owned());
    }
    if message.medias_len() > 16 {
        return Err(format!("SDP has {} media sections", message.medias_len()));
    }
    for media in message.medias() {
        if media.media().is_none() {
            return Err("SDP media section without a type".to_owned());
        }
    }
    Ok(message)
}

fn promise_error(
    reply: Result<Option<&gst::StructureRef>, gst::PromiseError>,
) -> Result<(), String> {
    match reply {
        Ok(Some(structure)) => {
            if let Ok(err) = structure.get::<gst::glib::Error>("error") {
                Err(err.to_string())
            } else {
                Ok(())
            }
        }
        Ok(None) => Ok(()),
        Err(err) => Err(format!("{err:?}")),
    }
}

fn create_answer(webrtcbin: &gst::Element, shared: &Arc<Shared>) {
    let weak_bin = webrtcbin.downgrade();
    let shared = Arc::downgrade(shared);
    let promise = gst::Promise::with_change_func(move |reply| {
        let (Some(webrtcbin), Some(shared)) = (weak_bin.upgrade(), shared.upgrade()) else {
            return;
        };
        let answer = match reply {
            Ok(Some(structure)) => structure.get::<WebRTCSessionDescription>("answer"),
            _ => {
                shared.room(PeerEvent::NegotiationFailed("no answer created".into()));
                return;
            }
        };
        let Ok(answer) = answer else {
            shared.room(PeerEvent::NegotiationFailed(
                "webrtcbin could not answer the offer".into(),
            ));
            return;
        };
        let sdp = answer.sdp().to_string();
        webrtcbin.emit_by_name::<()>("set-local-description", &[&answer, &None::<gst::Promise>]);
        shared.room(PeerEvent::AnswerReady { sdp });
    });
    webrtcbin.emit_by_name::<()>("create-answer", &[&None::<gst::Structure>, &promise]);
}

fn connect_signals(pipeline: &gst::Pipeline, webrtcbin: &gst::Element, shared: &Arc<Shared>) {
    let weak = Arc::downgrade(shared);
    webrtcbin.connect("on-ice-candidate", false, move |values| {
        let shared = weak.upgrade()?;
        let mline = values.get(1).and_then(|v| v.get::<u32>().ok())?;
        let candidate = values.get(2).and_then(|v| v.get::<String>().ok())?;
        if let Ok(parsed) = crate::protocol::candidate::parse_candidate(&candidate)
            && let Ok(mut set) = shared.local_addresses.lock()
        {
            set.insert(format!("{}:{}", parsed.address, parsed.port));
        }
        shared.room(PeerEvent::LocalCandidate { mline, candidate });
        None
    });

    let weak = Arc::downgrade(shared);
    webrtcbin.connect("on-new-transceiver", false, move |values| {
        // NACK is off by default and then stripped from the answer: ask for retransmissions.
        if let Some(transceiver) = values
            .get(1)
            .and_then(|v| v.get::<gst::glib::Object>().ok())
            && transceiver.has_property("do-nack")
        {
            transceiver.set_property("do-nack", true);
        }
        let _ = weak.upgrade();
        None
    });

    let weak = Arc::downgrade(shared);
    webrtcbin.connect_notify(Some("connection-state"), move |bin, _| {
        let Some(shared) = weak.upgrade() else { return };
        let state = bin.property::<gst_webrtc::WebRTCPeerConnectionState>("connection-state");
        shared.room(PeerEvent::Connection(connection_state(state)));
    });

    let weak = Arc::downgrade(shared);
    webrtcbin.connect_notify(Some("ice-connection-state"), move |bin, _| {
        let Some(shared) = weak.upgrade() else { return };
        let state = bin.property::<gst_webrtc::WebRTCICEConnectionState>("ice-connection-state");
        shared.room(PeerEvent::Ice {
            transport: "rtp".into(),
            state: ice_state(state),
        });
        watch_transports(bin, &shared);
    });

    let weak = Arc::downgrade(shared);
    webrtcbin.connect("on-data-channel", false, move |values| {
        let shared = weak.upgrade()?;
        let channel = values
            .get(1)
            .and_then(|v| v.get::<WebRTCDataChannel>().ok())?;
        attach_channel(&channel, &shared);
        None
    });

    let weak = Arc::downgrade(shared);
    let pipeline_weak = pipeline.downgrade();
    webrtcbin.connect_pad_added(move |_, pad| {
        let (Some(shared), Some(pipeline)) = (weak.upgrade(), pipeline_weak.upgrade()) else {
            return;
        };
        if pad.direction() != gst::PadDirection::Src {
            return;
        }
        if let Err(err) = link_track(&pipeline, pad, &shared) {
            tracing::warn!(peer = %shared.key, "could not take a track: {err}");
            shared.send(PeerMessage::Error(super::failure::PipelineError::other(
                format!("could not take a track: {err}"),
            )));
        }
    });
}

fn attach_channel(channel: &WebRTCDataChannel, shared: &Arc<Shared>) {
    let weak = Arc::downgrade(shared);
    channel.connect_on_open(move |_| {
        if let Some(shared) = weak.upgrade() {
            shared.room(PeerEvent::ChannelOpen);
        }
    });
    let weak = Arc::downgrade(shared);
    channel.connect_on_close(move |_| {
        if let Some(shared) = weak.upgrade() {
            shared.room(PeerEvent::ChannelClosed);
        }
    });
    let weak = Arc::downgrade(shared);
    channel.connect_on_message_string(move |_, text| {
        if let (Some(shared), Some(text)) = (weak.upgrade(), text) {
            if text.len() > 256 * 1024 {
                tracing::warn!(peer = %shared.key, "dropping a {} byte data-channel message", text.len());
                return;
            }
            shared.room(PeerEvent::ChannelMessage(text.to_owned()));
        }
    });
    let already_open = channel.ready_state() == gst_webrtc::WebRTCDataChannelState::Open;
    if let Ok(mut guard) = shared.channel.lock() {
        *guard = Some(channel.clone());
    }
    if already_open {
        shared.room(PeerEvent::ChannelOpen);
    }
}

/// Follows each ICE transport's own state: the SCTP one and every receiver's.
fn watch_transports(webrtcbin: &gst::Element, shared: &Arc<Shared>) {
    let mut transports: Vec<(String, gst_webrtc::WebRTCICETransport)> = Vec::new();
    if let Some(sctp) = webrtcbin.property::<Option<gst::glib::Object>>("sctp-transport")
        && let Some(dtls) = sctp.property::<Option<gst_webrtc::WebRTCDTLSTransport>>("transport")
        && let Some(ice) = dtls.transport()
    {
        transports.push(("sctp".into(), ice));
    }
    let mut index = 0u32;
    while let Some(transceiver) = webrtcbin
        .emit_by_name::<Option<gst_webrtc::WebRTCRTPTransceiver>>(
            "get-transceiver",
            &[&(index as i32)],
        )
    {
        if let Some(dtls) = transceiver.receiver().and_then(|r| r.transport())
            && let Some(ice) = dtls.transport()
        {
            transports.push((format!("media{index}"), ice));
        }
        index += 1;
        if index > 32 {
            break;
        }
    }
    for (name, transport) in transports {
        let id = transport.as_ptr() as usize;
        let fresh = shared
            .watched_transports
            .lock()
            .map(|mut set| set.insert(id))
            .unwrap_or(false);
        if !fresh {
            continue;
        }
        shared.room(PeerEvent::Ice {
            transport: name.clone(),
            state: ice_state(transport.state()),
        });
        let weak = Arc::downgrade(shared);
        transport.connect_state_notify(move |transport| {
            if let Some(shared) = weak.upgrade() {
                shared.room(PeerEvent::Ice {
                    transport: name.clone(),
                    state: ice_state(transport.state()),
                });
            }
        });
    }
}

fn connection_state(state: gst_webrtc::WebRTCPeerConnectionState) -> ConnectionState {
    use gst_webrtc::WebRTCPeerConnectionState as S;
    match state {
        S::New => ConnectionState::New,
        S::Connecting => ConnectionState::Connecting,
        S::Connected => ConnectionState::Connected,
        S::Disconnected => ConnectionState::Disconnected,
        S::Failed => ConnectionState::Failed,
        _ => ConnectionState::Closed,
    }
}

fn ice_state(state: gst_webrtc::WebRTCICEConnectionState) -> IceState {
    use gst_webrtc::WebRTCICEConnectionState as S;
    match state {
        S::New => IceState::New,
        S::Checking => IceState::Checking,
        S::Connected => IceState::Connected,
        S::Completed => IceState::Completed,
        S::Failed => IceState::Failed,
        S::Disconnected => IceState::Disconnected,
        _ => IceState::Closed,
    }
}

/// Links a new webrtcbin source pad into a tee that recording and preview branches attach to.
/// NACK stays on, but the jitter buffer asks for a retransmission only once it sees a gap:
/// by default it also arms a timer for every packet it expects next, which on a clean
/// network is most of a recorder's CPU time per participant.
fn tune_jitterbuffers(webrtcbin: &gst::Element) {
    let Some(rtpbin) = webrtcbin
        .downcast_ref::<gst::Bin>()
        .and_then(|bin| bin.by_name("rtpbin"))
    else {
        tracing::debug!("webrtcbin has no rtpbin child to tune");
        return;
    };
    rtpbin.connect("new-jitterbuffer", false, |values| {
        if let Some(jitterbuffer) = values.get(1).and_then(|v| v.get::<gst::Element>().ok())
            && jitterbuffer.has_property("rtx-next-seqnum")
        {
            jitterbuffer.set_property("rtx-next-seqnum", false);
        }
        None
    });
}

fn link_track(
    pipeline: &gst::Pipeline,
    pad: &gst::Pad,
    shared: &Arc<Shared>,
) -> anyhow::Result<()> {
    let caps = pad
        .current_caps()
        .or_else(|| Some(pad.query_caps(None)))
        .ok_or_else(|| anyhow::anyhow!("pad without caps"))?;
    let structure = caps
        .structure(0)
        .ok_or_else(|| anyhow::anyhow!("empty caps"))?;
    let media = structure.get::<&str>("media").unwrap_or("");
    let encoding = structure
        .get::<&str>("encoding-name")
        .unwrap_or("")
        .to_ascii_uppercase();
    let kind = match media {
        "audio" => MediaKind::Audio,
        "video" => MediaKind::Video,
        other => anyhow::bail!("unexpected media {other:?}"),
    };
    // Without branches (or between them) the tee drops what it gets instead of failing.
    let tee = gst::ElementFactory::make("tee")
        .property("allow-not-linked", true)
        .build()?;
    pipeline.add(&tee)?;
    tee.sync_state_with_parent()?;
    let tee_sink = tee
        .static_pad("sink")
        .ok_or_else(|| anyhow::anyhow!("tee without sink pad"))?;

    let weak = Arc::downgrade(shared);
    let seen = AtomicBool::new(false);
    tee_sink.add_probe(
        gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
        move |_, _| {
            if let Some(shared) = weak.upgrade() {
                shared.rtp_activity.store(true, Ordering::Relaxed);
                // Runs for every packet: the lock is taken for this track's first one only.
                if seen.swap(true, Ordering::Relaxed) {
                    return gst::PadProbeReturn::Ok;
                }
                let first = shared
                    .media_seen
                    .lock()
                    .map(|mut seen| seen.insert(kind))
                    .unwrap_or(false);
                if first {
                    shared.room(PeerEvent::MediaFlowing(kind));
                }
            }
            gst::PadProbeReturn::Ok
        },
    );
    let hold = TrackHold::new(pad);
    if let Err(err) = pad.link(&tee_sink) {
        hold.release();
        return Err(err.into());
    }
    // Should the main loop never take the track, the packets flow (into the void) anyway.
    let fallback = hold.clone();
    glib::timeout_add_once(std::time::Duration::from_secs(2), move || {
        fallback.release()
    });
    shared.send(PeerMessage::Track(Track {
        kind,
        encoding,
        caps,
        tee,
        hold,
    }));
    Ok(())
}

/// Reads the selected candidate pair out of `get-stats`.
///
/// GStreamer 1.22 labels local and remote candidates the wrong way round in some paths, so the
/// orientation is checked against the addresses this side actually gathered.
fn selected_pair_from_stats(stats: &gst::StructureRef, shared: &Shared) -> Option<SelectedPair> {
    let mut pair_ids: Option<(String, String)> = None;
    for (_, value) in stats.iter() {
        let Ok(entry) = value.get::<gst::Structure>() else {
            continue;
        };
        let Ok(kind) = entry.get::<gst_webrtc::WebRTCStatsType>("type") else {
            continue;
        };
        if kind == gst_webrtc::WebRTCStatsType::CandidatePair
            && let (Ok(local), Ok(remote)) = (
                entry.get::<String>("local-candidate-id"),
                entry.get::<String>("remote-candidate-id"),
            )
        {
            pair_ids = Some((local, remote));
        }
    }
    let (local_id, remote_id) = pair_ids?;
    let describe = |id: &str| -> Option<(PairKind, String)> {
        let entry = stats.get::<gst::Structure>(id).ok()?;
        let address = entry
            .get::<String>("address")
            .ok()
            .or_else(|| entry.get::<String>("ip").ok())?;
        let port = entry.get::<u32>("port").unwrap_or(0);
        // 1.22 reports the type as a string; newer versions as an enum with the same nicks.
        let kind = entry
            .get::<String>("candidate-type")
            .ok()
            .and_then(|t| PairKind::from_type(&t))
            .or_else(|| {
                entry
                    .value("candidate-type")
                    .ok()
                    .and_then(|v| v.serialize().ok())
                    .and_then(|t| PairKind::from_type(t.as_str()))
            })?;
        Some((kind, format!("{address}:{port}")))
    };
    let (mut local_kind, mut local_address) = describe(&local_id)?;
    let (mut remote_kind, mut remote_address) = describe(&remote_id)?;
    let ours = shared.local_addresses.lock().ok()?;
    if !ours.contains(&local_address) && ours.contains(&remote_address) {
        std::mem::swap(&mut local_kind, &mut remote_kind);
        std::mem::swap(&mut local_address, &mut remote_address);
    }
    Some(SelectedPair {
        local_kind,
        local_address,
        remote_kind,
        remote_address,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_sdp_is_refused_before_webrtcbin_sees_it() {
        gst::init().unwrap();
        assert!(validate_sdp("").is_err());
        assert!(validate_sdp("hello").is_err());
        assert!(validate_sdp(&"a".repeat(100_000)).is_err());
        assert!(validate_sdp("v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n").is_err());
        let good = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n";
        assert!(validate_sdp(good).is_ok());
    }
}
