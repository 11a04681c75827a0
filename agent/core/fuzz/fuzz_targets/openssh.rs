//! The OpenSSH key-line parser on arbitrary lines: never panics, and a key it finds writes
//! back to a line that parses to the same key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_core::openssh::{encode, parse_line, KeyLine, ENCODED_LEN};

fuzz_target!(|data: &[u8]| {
    if let Ok(KeyLine::Ed25519 { key, .. }) = parse_line(data) {
        let mut out = [0u8; ENCODED_LEN];
        let line = encode(&key, &mut out).as_bytes().to_vec();
        assert!(matches!(parse_line(&line), Ok(KeyLine::Ed25519 { key: k, .. }) if k == key));
    }
});
