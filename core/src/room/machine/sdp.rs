//! The cheap checks an offer passes before a webrtcbin is built for it.

use crate::room::reasons::SdpRefusal;

/// Largest SDP taken (the same bound the peer enforces after parsing).
pub const MAX_SDP_BYTES: usize = 64 * 1024;
/// Most media sections taken in one SDP.
pub const MAX_SDP_MEDIA_SECTIONS: usize = 16;

/// Cheap structural checks on an offer before a webrtcbin is built for it; the peer parses it
/// fully afterwards. Returns why it is refused.
pub fn precheck_sdp(sdp: &str) -> Result<(), SdpRefusal> {
    if sdp.len() > MAX_SDP_BYTES {
        return Err(SdpRefusal::TooLarge { bytes: sdp.len() });
    }
    if sdp.contains('\0') {
        return Err(SdpRefusal::NulByte);
    }
    if !sdp.starts_with("v=0") {
        return Err(SdpRefusal::NotVersionZero);
    }
    let media = sdp
        .lines()
        .filter(|l| l.starts_with("m="))
        .take(MAX_SDP_MEDIA_SECTIONS + 1)
        .count();
    if media == 0 {
        return Err(SdpRefusal::NoMedia);
    }
    if media > MAX_SDP_MEDIA_SECTIONS {
        return Err(SdpRefusal::TooManyMedia {
            most: MAX_SDP_MEDIA_SECTIONS,
        });
    }
    Ok(())
}
