//! Receive statistics from webrtcbin's `get-stats`, for the app's connection panel.

use gst::prelude::*;

/// Totals over every received RTP stream of one peer, as webrtcbin reports them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LinkStats {
    pub bytes_received: u64,
    pub packets_received: u64,
    pub packets_lost: i64,
    /// Largest round-trip time any stats entry gives, when one does.
    pub rtt_ms: Option<f64>,
    /// Largest inter-arrival jitter, in seconds.
    pub jitter_s: Option<f64>,
}

impl LinkStats {
    /// Reads the `get-stats` reply.
    pub fn from_structure(stats: &gst::StructureRef) -> LinkStats {
        let mut out = LinkStats::default();
        for (_, value) in stats.iter() {
            let Ok(entry) = value.get::<gst::Structure>() else {
                continue;
            };
            if let Ok(rtt) = entry.get::<f64>("round-trip-time")
                && rtt.is_finite()
                && rtt > 0.0
            {
                let ms = rtt * 1000.0;
                out.rtt_ms = Some(out.rtt_ms.map_or(ms, |old: f64| old.max(ms)));
            }
            let Ok(kind) = entry.get::<gst_webrtc::WebRTCStatsType>("type") else {
                continue;
            };
            if kind != gst_webrtc::WebRTCStatsType::InboundRtp {
                continue;
            }
            out.bytes_received += entry.get::<u64>("bytes-received").unwrap_or(0);
            out.packets_received += entry.get::<u64>("packets-received").unwrap_or(0);
            out.packets_lost += entry
                .get::<i64>("packets-lost")
                .or_else(|_| entry.get::<i32>("packets-lost").map(i64::from))
                .unwrap_or(0);
            if let Ok(jitter) = entry.get::<f64>("jitter") {
                out.jitter_s = Some(out.jitter_s.map_or(jitter, |old: f64| old.max(jitter)));
            }
        }
        out
    }

    /// Lost packets as a share of all expected, in percent.
    pub fn loss_percent(&self) -> f64 {
        let lost = self.packets_lost.max(0) as f64;
        let expected = self.packets_received as f64 + lost;
        if expected > 0.0 {
            lost * 100.0 / expected
        } else {
            0.0
        }
    }
}

/// Asks a webrtcbin for statistics; `done` runs with them on a GStreamer thread.
pub fn request(webrtcbin: &gst::Element, done: impl FnOnce(LinkStats) + Send + 'static) {
    let done = std::sync::Mutex::new(Some(done));
    let promise = gst::Promise::with_change_func(move |reply| {
        if let Ok(Some(stats)) = reply
            && let Ok(mut slot) = done.lock()
            && let Some(done) = slot.take()
        {
            done(LinkStats::from_structure(stats));
        }
    });
    webrtcbin.emit_by_name::<()>("get-stats", &[&None::<gst::Pad>, &promise]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbound_streams_are_summed_and_loss_is_a_share() {
        gst::init().unwrap();
        let inbound = |bytes: u64, packets: u64, lost: i64| {
            gst::Structure::builder("application/x-webrtc-stats")
                .field("type", gst_webrtc::WebRTCStatsType::InboundRtp)
                .field("bytes-received", bytes)
                .field("packets-received", packets)
                .field("packets-lost", lost)
                .build()
        };
        let rtt = gst::Structure::builder("application/x-webrtc-stats")
            .field("type", gst_webrtc::WebRTCStatsType::RemoteInboundRtp)
            .field("round-trip-time", 0.012f64)
            .build();
        let stats = gst::Structure::builder("application/x-webrtc-stats")
            .field("a", inbound(1000, 90, 10))
            .field("b", inbound(500, 10, 0))
            .field("c", rtt)
            .build();
        let link = LinkStats::from_structure(&stats);
        assert_eq!(link.bytes_received, 1500);
        assert_eq!(link.packets_received, 100);
        assert_eq!(link.packets_lost, 10);
        assert!((link.loss_percent() - 10.0 / 110.0 * 100.0).abs() < 1e-9);
        assert!((link.rtt_ms.unwrap() - 12.0).abs() < 1e-9);
        assert_eq!(LinkStats::default().loss_percent(), 0.0);
    }
}
