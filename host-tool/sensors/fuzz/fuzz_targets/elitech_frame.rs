//! Random serial replies through the Elitech frame parsers: no panic, and anything accepted has a
//! correct start byte and checksum.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_sensors::elitech::{
    checksum, last_page, parse_devinfo, parse_header, parse_page, Model, DEVINFO_LEN, HEADER_LEN,
};

fuzz_target!(|data: &[u8]| {
    let ok_frame =
        |b: &[u8]| b.first() == Some(&0x55) && b.last() == Some(&checksum(&b[..b.len() - 1]));
    if let Ok(info) = parse_devinfo(data) {
        assert!(data.len() == DEVINFO_LEN && ok_frame(data));
        let _ = last_page(info.model, info.record_count);
    }
    if let Ok((count, _)) = parse_header(data) {
        assert!(data.len() == HEADER_LEN && ok_frame(data));
        for m in [Model::Rc4, Model::Rc4hc, Model::Rc5] {
            if let Some((_, n)) = last_page(m, count) {
                assert!(n >= 1 && n <= m.page_values());
            }
        }
    }
    let n = data.len().saturating_sub(2) / 2;
    if let Ok(values) = parse_page(data, n) {
        assert_eq!(values.len(), n);
    }
});
