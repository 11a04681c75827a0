//! The SSHSIG armored and binary parsers on arbitrary input: never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_core::sshsig;

fuzz_target!(|data: &[u8]| {
    let _ = sshsig::parse_blob(data);
    if let Ok((key, sig)) = sshsig::parse_armored(data) {
        let _ = sshsig::verify(&key, data, &sig);
    }
});
