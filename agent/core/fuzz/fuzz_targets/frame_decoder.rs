//! The stream decoder on arbitrary bytes in arbitrary chunks: it always makes progress, never
//! panics, and every frame it yields has a good CRC (so framing it again decodes to the same).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_core::limits::{MAX_FRAME, MAX_PAYLOAD};
use tessera_core::{frame, Decoded, Decoder};

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, input)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    let mut d = Decoder::new();
    for piece in input.chunks(chunk) {
        let mut rest = piece;
        loop {
            let (used, ev) = d.decode(rest);
            match ev {
                Decoded::NeedMore => {
                    assert_eq!(used, rest.len());
                    break;
                }
                Decoded::Text(t) => assert!(!t.is_empty() && !t.contains(&0)),
                Decoded::Frame(p) => {
                    assert!(!p.is_empty() && p.len() <= MAX_PAYLOAD);
                    let p = p.to_vec();
                    let mut out = [0u8; MAX_FRAME];
                    let n = frame::encode(&p, &mut out).expect("a decoded payload frames again");
                    let mut again = Decoder::new();
                    assert_eq!(again.decode(&out[..n]).1, Decoded::Frame(&p[..]));
                }
                Decoded::Error(_) => {}
            }
            assert!(used > 0 && used <= rest.len());
            rest = &rest[used..];
        }
    }
});
