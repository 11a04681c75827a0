//! The heartbeat and ack decoders on arbitrary payloads: never panic, nothing verifies under
//! a key that signed nothing, and an ack decodes only from its one encoding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_core::heartbeat::{decode, decode_ack, encode_ack, verify, MAX_ACK};

fuzz_target!(|data: &[u8]| {
    if decode(data).is_ok() {
        // Nobody holds the secret half of this key: nothing the fuzzer makes verifies under it.
        assert!(verify(data, &[0x42; 32]).is_err());
    }
    if let Some(ack) = decode_ack(data) {
        let mut out = [0u8; MAX_ACK];
        let n = encode_ack(&ack, &mut out);
        assert_eq!(&out[..n], data);
    }
});
