//! Message parsing on arbitrary payloads: never panics, and whatever it accepts is canonical
//! (encoding it again gives exactly the input).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_core::limits::MAX_PAYLOAD;
use tessera_core::Message;

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = Message::decode(data) {
        let mut out = [0u8; MAX_PAYLOAD];
        let n = msg.encode(&mut out).expect("a decoded message encodes");
        assert_eq!(&out[..n], data, "accepted a non-canonical encoding");
    }
});
