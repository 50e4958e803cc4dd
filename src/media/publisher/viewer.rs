//! One viewer's peer connection on the publisher's side: its webrtcbin with a data channel from
//! the first offer, and the offers, answers and key frames that go through it.

use std::sync::{Arc, Mutex};

use gst::prelude::*;
use gst_webrtc::{WebRTCDataChannel, WebRTCSDPType, WebRTCSessionDescription};

use super::{Publisher, random_alnum};

/// What a viewer's webrtcbin reports from its own threads, handled on the main loop.
pub(super) enum ViewerMessage {
    LocalCandidate { mline: u32, candidate: String },
    ChannelOpen,
    ChannelMessage(String),
    OfferReady { sdp: String, renegotiation: bool },
    NegotiationNeeded,
    Connected,
}

/// One viewer: a pipeline of its own around one webrtcbin, torn down when dropped.
pub(super) struct Viewer {
    pub(super) id: String,
    pub(super) session: String,
    pub(super) pipeline: gst::Pipeline,
    pub(super) webrtcbin: gst::Element,
    pub(super) channel: Arc<Mutex<Option<WebRTCDataChannel>>>,
    pub(super) media_added: bool,
    pub(super) channel_open: bool,
    pub(super) encoders: Vec<gst::Element>,
    pub(super) clip_players: Vec<crate::media::clip::ClipPlayer>,
}

impl Drop for Viewer {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

impl Publisher {
    pub(super) fn build_viewer(&self, viewer_id: &str) -> anyhow::Result<Viewer> {
        let pipeline = gst::Pipeline::new();
        let webrtcbin = gst::ElementFactory::make("webrtcbin")
            .property_from_str("bundle-policy", "max-bundle")
            .build()?;
        pipeline.add(&webrtcbin)?;
        self.inner.config.ice.apply(&webrtcbin);

        let tx = self.inner.tx.clone();
        let id = viewer_id.to_owned();
        let drop_candidates = self.inner.config.drop_candidates;
        webrtcbin.connect("on-ice-candidate", false, move |values| {
            if drop_candidates {
                return None;
            }
            let mline = values.get(1).and_then(|v| v.get::<u32>().ok())?;
            let candidate = values.get(2).and_then(|v| v.get::<String>().ok())?;
            let _ = tx.try_send((
                id.clone(),
                ViewerMessage::LocalCandidate { mline, candidate },
            ));
            None
        });
        let tx = self.inner.tx.clone();
        let id = viewer_id.to_owned();
        webrtcbin.connect("on-negotiation-needed", false, move |_| {
            let _ = tx.try_send((id.clone(), ViewerMessage::NegotiationNeeded));
            None
        });
        let tx = self.inner.tx.clone();
        let id = viewer_id.to_owned();
        webrtcbin.connect_notify(Some("connection-state"), move |bin, _| {
            let state = bin.property::<gst_webrtc::WebRTCPeerConnectionState>("connection-state");
            if state == gst_webrtc::WebRTCPeerConnectionState::Connected {
                let _ = tx.try_send((id.clone(), ViewerMessage::Connected));
            }
        });
        pipeline.set_state(gst::State::Ready)?;
        // The channel must exist before the first offer, which then carries nothing else.
        let channel = webrtcbin
            .emit_by_name::<Option<WebRTCDataChannel>>(
                "create-data-channel",
                &[&"sendChannel", &None::<gst::Structure>],
            )
            .ok_or_else(|| anyhow::anyhow!("webrtcbin refused a data channel"))?;
        let tx = self.inner.tx.clone();
        let id = viewer_id.to_owned();
        channel.connect_on_open(move |_| {
            let _ = tx.try_send((id.clone(), ViewerMessage::ChannelOpen));
        });
        let tx = self.inner.tx.clone();
        let id = viewer_id.to_owned();
        channel.connect_on_message_string(move |_, text| {
            if let Some(text) = text {
                let _ = tx.try_send((id.clone(), ViewerMessage::ChannelMessage(text.to_owned())));
            }
        });
        pipeline.set_state(gst::State::Playing)?;
        Ok(Viewer {
            id: viewer_id.to_owned(),
            session: random_alnum(10),
            pipeline,
            webrtcbin,
            channel: Arc::new(Mutex::new(Some(channel))),
            media_added: false,
            channel_open: false,
            encoders: Vec::new(),
            clip_players: Vec::new(),
        })
    }
}

pub(super) fn send_channel(channel: &Arc<Mutex<Option<WebRTCDataChannel>>>, text: &str) {
    if let Ok(guard) = channel.lock()
        && let Some(channel) = guard.as_ref()
        && channel.ready_state() == gst_webrtc::WebRTCDataChannelState::Open
    {
        if let Err(err) = channel.send_string_full(Some(text)) {
            tracing::debug!("data channel send failed: {err}");
        }
    }
}

pub(super) fn create_offer(
    webrtcbin: &gst::Element,
    viewer_id: &str,
    renegotiation: bool,
    tx: &async_channel::Sender<(String, ViewerMessage)>,
) {
    let weak = webrtcbin.downgrade();
    let tx = tx.clone();
    let id = viewer_id.to_owned();
    let promise = gst::Promise::with_change_func(move |reply| {
        let Some(webrtcbin) = weak.upgrade() else {
            return;
        };
        let Ok(Some(structure)) = reply else { return };
        let Ok(offer) = structure.get::<WebRTCSessionDescription>("offer") else {
            tracing::warn!("webrtcbin made no offer: {structure}");
            return;
        };
        let sdp = offer.sdp().to_string();
        webrtcbin.emit_by_name::<()>("set-local-description", &[&offer, &None::<gst::Promise>]);
        let _ = tx.try_send((id, ViewerMessage::OfferReady { sdp, renegotiation }));
    });
    webrtcbin.emit_by_name::<()>("create-offer", &[&None::<gst::Structure>, &promise]);
}

pub(super) fn force_keyframe_of(viewer: &Viewer) {
    force_keyframe(&viewer.encoders);
    for player in &viewer.clip_players {
        player.restart_on_keyframe();
    }
}

fn force_keyframe(encoders: &[gst::Element]) {
    for encoder in encoders {
        let event = gst_video::UpstreamForceKeyUnitEvent::builder()
            .all_headers(true)
            .build();
        if let Some(pad) = encoder.static_pad("src") {
            let _ = pad.send_event(event);
        }
    }
}

/// The SDP without any `a=candidate` line.
pub(super) fn strip_candidates(sdp: &str) -> String {
    sdp.split_inclusive('\n')
        .filter(|line| !line.starts_with("a=candidate"))
        .collect()
}

pub(super) fn set_answer(webrtcbin: &gst::Element, sdp: &str) {
    let Ok(message) = gst_sdp::SDPMessage::parse_buffer(sdp.as_bytes()) else {
        tracing::warn!("publisher got an unparsable answer");
        return;
    };
    let answer = WebRTCSessionDescription::new(WebRTCSDPType::Answer, message);
    webrtcbin.emit_by_name::<()>("set-remote-description", &[&answer, &None::<gst::Promise>]);
}
