//! Random upsd reply lines through the word splitter: no panic, and a line without quotes or
//! backslashes splits exactly like split_whitespace.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_sensors::nut::parse_line;

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(data);
    let words = parse_line(&line);
    if !line.contains(['"', '\\', '\r', '\n']) && line.len() <= tessera_sensors::nut::MAX_LINE {
        let plain: Vec<&str> = line.split([' ', '\t']).filter(|w| !w.is_empty()).collect();
        assert_eq!(words.unwrap(), plain);
    }
});
