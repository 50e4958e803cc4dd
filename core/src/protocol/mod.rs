//! The VDO.Ninja wire protocol, as pure data transformations (no I/O, no GTK/GStreamer).
//!
//! * [`crypto`]: password and salt rules, stream-id/room hashing, AES payload encryption.
//! * [`message`]: signaling WebSocket frames (requests, offers/answers, ICE, bye).
//! * [`datachannel`]: JSON messages on the `sendChannel` data channel.
//! * [`candidate`]: validation of ICE candidate lines before they reach webrtcbin.
//!
//! The reference is `docs/vdo-ninja-protocol.md`; section numbers in the docs below refer
//! to it. Everything decoded here is untrusted input: the decoders return errors, never
//! panic, and bound the sizes they accept.

pub mod candidate;
pub mod crypto;
pub mod datachannel;
pub mod message;

pub use candidate::{CandidateError, CandidateKind, ParsedCandidate, Transport, parse_candidate};
pub use crypto::{CryptoError, DEFAULT_PASSWORD, Password, RoomCrypto, hex_prefix, salt_for_host};
pub use datachannel::{ChannelMessage, MediaRequest, decode_channel, encode_channel, info_label};
pub use message::{
    Body, CandidateOrigin, DecodeError, Envelope, IceCandidateInit, ListingMember, MAX_FRAME_CHARS,
    Route, SdpKind, ServerRequest, SessionDescription, decode, encode, encode_bye,
    encode_candidates, encode_description, encode_request, frame_limit, frame_too_large,
};
