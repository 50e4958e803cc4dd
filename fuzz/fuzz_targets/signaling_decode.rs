//! Every signaling frame and data-channel message decoder, with and without a password.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use roomtape_fuzz::protocol::crypto::{Password, RoomCrypto};
use roomtape_fuzz::protocol::{candidate, datachannel, message};

static CRYPTOS: LazyLock<[RoomCrypto; 2]> = LazyLock::new(|| {
    [
        RoomCrypto::new(&Password::Disabled, "vdo.ninja"),
        RoomCrypto::new(&Password::parse("s3cret"), "vdo.ninja"),
    ]
});

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for crypto in CRYPTOS.iter() {
        if let Ok(envelope) = message::decode(&text, crypto) {
            // What decodes must encode again without panicking.
            let _ = message::encode(&envelope, crypto);
        }
        let _ = datachannel::decode_channel(&text, crypto);
    }
    let _ = candidate::parse_candidate(&text);
});
