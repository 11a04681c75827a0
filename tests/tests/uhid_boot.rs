//! The real hidraw path (sysfs discovery, HIDIOCGRDESC, HIDIOCGRAWINFO/NAME/UNIQ, HIDIOCGFEATURE)
//! against a virtual Eaton UPS made with /dev/uhid. This machine's kernel has no uhid, so
//! tests/uhid-guest.sh boots Debian's kernel in qemu with host-tool/sensors/examples/uhid_guest.rs
//! as /init; the guest prints what the library read and this test checks it. A virtual TEMPer stick there also
//! tests the write(2)/read(2) side of hidraw.

use std::process::Command;

fn line<'a>(out: &'a str, tag: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.split_once(tag).map(|(_, rest)| rest.trim()))
        .unwrap_or_else(|| panic!("no {tag} line in guest output:\n{out}"))
}

#[test]
fn virtual_eaton_ups_over_real_hidraw_ioctls() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/uhid-guest.sh");
    let out = Command::new("bash")
        .arg(script)
        .output()
        .expect("run uhid-guest.sh");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "guest failed: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !text.contains("TESSERA-UHID-LOG"),
        "guest setup or protocol problem:\n{text}"
    );

    let read: serde_json::Value = serde_json::from_str(line(&text, "TESSERA-UHID-READ")).unwrap();
    let ups = read.as_array().unwrap();
    assert_eq!(
        ups.len(),
        2,
        "the virtual UPS and the virtual TEMPer, found by scanning: {read}"
    );
    let temper = &ups[1];
    assert_eq!(
        (temper["id"].as_str(), temper["kind"].as_str()),
        (Some("/dev/hidraw1"), Some("temper"))
    );
    // TEMPerX_V3.2 replies 0x0998 and 0x07c9 with /100 scaling (TEMPered issue #51).
    assert_eq!(temper["temperatures"][0]["probe"], "internal");
    assert_eq!(temper["temperatures"][0]["celsius"], 24.56);
    assert_eq!(temper["temperatures"][1]["probe"], "external");
    assert_eq!(temper["temperatures"][1]["celsius"], 19.93);
    assert_eq!(ups[0]["id"], "/dev/hidraw0");
    assert_eq!(ups[0]["kind"], "ups_hid");
    let vars = &ups[0]["ups"]["vars"];
    for (k, v) in [
        ("battery.charge", "100"),
        ("battery.charge.low", "20"),
        ("battery.runtime", "1440"),
        ("ups.load", "20"),
        ("output.voltage", "230.0"),
        ("output.voltage.nominal", "230"),
        ("ups.power.nominal", "850"),
        ("ups.realpower.nominal", "510"),
        ("ups.beeper.status", "enabled"),
        ("ups.status", "OL"),
        ("ups.vendorid", "0463"),
        ("ups.productid", "ffff"),
        ("device.mfr", "EATON"),
        ("device.model", "Eaton 3S"),
    ] {
        assert_eq!(vars[k], v, "{k} in {vars}");
    }
    assert!(
        vars.get("input.voltage").is_none(),
        "the refused report leaves the value out: {vars}"
    );
    assert!(vars.get("battery.voltage").is_none(), "3S rule: {vars}");
    assert!(
        vars.get("device.serial").is_none(),
        "000000000 is no serial: {vars}"
    );
    assert_eq!(ups[0]["ups"]["status"]["on_line"], true);

    // Every value was fetched with a GET_REPORT the emulator answered; none twice.
    let requests: usize = line(&text, "TESSERA-UHID-REQUESTS").parse().unwrap();
    assert_eq!(
        requests, 8,
        "one GET_REPORT per report holding a mapped value"
    );
    assert!(line(&text, "TESSERA-UHID-PROM").starts_with(
        "network_ups_tools_battery_charge{ups=\"hidraw0\",sensor=\"/dev/hidraw0\"} 100"
    ));

    // Not root: permission denied, naming the node and the udev fix.
    let denied: serde_json::Value =
        serde_json::from_str(line(&text, "TESSERA-UHID-DENIED ")).unwrap();
    assert_eq!(denied["error"]["kind"], "permission_denied", "{denied}");
    let l = line(&text, "TESSERA-UHID-DENIED-LINE");
    assert!(
        l.starts_with("/dev/hidraw0: permission denied;") && l.contains("udev rule"),
        "{l}"
    );

    // The device destroyed while a GET_REPORT is pending: an unplug, in one line.
    let unplug: serde_json::Value =
        serde_json::from_str(line(&text, "TESSERA-UHID-UNPLUG ")).unwrap();
    assert_eq!(unplug["error"]["kind"], "unplugged", "{unplug}");
    assert!(line(&text, "TESSERA-UHID-UNPLUG-LINE").starts_with("/dev/hidraw0: device went away"));
}
