//! Random report descriptors, then random report bytes through the Power Device mapping:
//! neither step may panic, and every field must lie inside its report.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_sensors::hid::descriptor::{parse, ReportKind};
use tessera_sensors::hid::power::{decode, Identity};

fuzz_target!(|data: &[u8]| {
    // First byte splits the input: descriptor, then the bytes every report read returns.
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let at = (split as usize * rest.len()) / 256;
    let (desc, report) = rest.split_at(at);
    if let Ok(d) = parse(desc) {
        for f in &d.fields {
            let len = d
                .report_len(f.kind, f.report_id)
                .expect("field without report");
            assert!(
                (f.bit_offset + f.bit_size) as usize <= (len - usize::from(d.uses_report_ids)) * 8
            );
            let _ = f.value(report);
        }
        let mut fetch = |_: ReportKind, id: u8, _: usize| {
            let mut v = report.to_vec();
            if let Some(b) = v.first_mut() {
                *b = id;
            }
            Ok(v)
        };
        let _ = decode(
            &d,
            &Identity {
                vendor: 0x0463,
                ..Default::default()
            },
            &mut fetch,
        );
    }
});
