//! `tessera flash` end to end on real files: initrds made with GNU cpio and the real compressors,
//! uInitrds made with mkimage, a root filesystem tree, and a real sshd on the loopback interface.
//! The agent stand-in is the machine's static busybox (a real static ELF of the host's
//! architecture); the qemu boot tests in tests/ use the real agent.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use tessera_flash::cpio::{self, Entry};
use tessera_flash::initrd::{Initrd, Kind};
use tessera_flash::modes::ssh::SshTarget;
use tessera_flash::{uimage, Error};
use tessera_flash::{Mode, Options};

const UUID: &str = "5e2e0000-0000-4000-8000-000000000001";

fn host_board() -> &'static str {
    if cfg!(target_arch = "x86_64") {
        "qemu-amd64"
    } else {
        "qemu-arm64"
    }
}

fn other_board() -> &'static str {
    if cfg!(target_arch = "x86_64") {
        "rpi4"
    } else {
        "odroid-h3"
    }
}

fn admin_key() -> String {
    let seed = [42u8; 32];
    let k = tessera_flash::keys::HostKey::from_seed(seed);
    tessera_flash::keys::openssh_line(&k.public, "admin@test")
}

fn hook_dir(root: &Path) -> PathBuf {
    let d = root.join("hook");
    for (rel, body) in [
        ("hooks/tessera", "#!/bin/sh\n# hook\n"),
        (
            "scripts/init-premount/tessera",
            "#!/bin/sh\n# start the agent\n",
        ),
        (
            "scripts/local-bottom/tessera",
            "#!/bin/sh\n# stop the agent\n",
        ),
        ("lib/keyscript", "#!/bin/sh\n# keyscript\n"),
        ("conf-hooks.d/tessera", "UMASK=0077\n"),
    ] {
        let p = d.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, body).unwrap();
    }
    d
}

fn cmd(dir: &Path, board: &str) -> Options {
    Options {
        board: board.into(),
        agent: Some(PathBuf::from("/bin/busybox")),
        hook_dir: Some(hook_dir(dir)),
        boards: None,
        host_id: None,
        volumes: vec![],
        listen: vec![],
        serial: true,
        admin_keys: vec![admin_key()],
        authorized_keys: None,
        host_key: None,
        new_host_key: false,
        pin: false,
        dry_run: false,
    }
}

fn pipe(cmd: &str, args: &[&str], input: &[u8]) -> Vec<u8> {
    let mut c = Command::new(cmd)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = c.stdin.take().unwrap();
    let input = input.to_vec();
    let t = std::thread::spawn(move || stdin.write_all(&input).unwrap());
    let out = c.wait_with_output().unwrap();
    t.join().unwrap();
    assert!(out.status.success(), "{cmd}");
    out.stdout
}

/// A Debian-shaped initrd: usr-merged (sbin, lib -> usr/...), cryptsetup, crypttab, ORDER files,
/// an early microcode cpio, the main archive compressed with `compressor`, made by GNU cpio.
fn debian_initrd(dir: &Path, compressor: &[&str]) -> Vec<u8> {
    let t = dir.join("tree");
    for d in [
        "usr/sbin",
        "usr/lib/modules/6.1.0-test/kernel/drivers/net",
        "cryptroot",
        "scripts/init-premount",
        "scripts/local-bottom",
        "etc",
        "conf",
    ] {
        std::fs::create_dir_all(t.join(d)).unwrap();
    }
    std::os::unix::fs::symlink("usr/sbin", t.join("sbin")).unwrap();
    std::os::unix::fs::symlink("usr/lib", t.join("lib")).unwrap();
    std::fs::copy("/usr/sbin/cryptsetup", t.join("usr/sbin/cryptsetup")).unwrap();
    std::fs::write(
        t.join("usr/lib/modules/6.1.0-test/kernel/drivers/net/virtio_net.ko"),
        b"ko",
    )
    .unwrap();
    std::fs::write(
        t.join("cryptroot/crypttab"),
        format!("cryptroot UUID={UUID} none luks,discard\n"),
    )
    .unwrap();
    std::fs::write(t.join("scripts/functions"), "# initramfs-tools library\n").unwrap();
    std::fs::write(
        t.join("scripts/init-premount/ORDER"),
        "/scripts/init-premount/udev \"$@\"\n[ -e /conf/param.conf ] && . /conf/param.conf\n",
    )
    .unwrap();
    std::fs::write(
        t.join("scripts/local-bottom/ORDER"),
        "/scripts/local-bottom/cryptroot \"$@\"\n[ -e /conf/param.conf ] && . /conf/param.conf\n",
    )
    .unwrap();
    let main = pipe(
        "sh",
        &[
            "-c",
            &format!(
                "cd {} && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet",
                t.display()
            ),
        ],
        b"",
    );
    let mut initrd = cpio::write(&[
        Entry::dir("kernel", 0o755),
        Entry::file("kernel/x86/microcode/GenuineIntel.bin", 0o644, vec![9; 10]),
    ])
    .unwrap();
    initrd.extend(pipe(compressor[0], &compressor[1..], &main));
    initrd
}

fn read_initrd(path: &Path) -> (Vec<u8>, Initrd) {
    let (payload, _) = tessera_flash::initrd::load(path).unwrap();
    let parsed = Initrd::parse(path, &payload).unwrap();
    (payload, parsed)
}

#[test]
fn initrd_mode_appends_an_aligned_segment_with_order_crypttab_and_keys() {
    for compressor in [
        &["gzip", "-9c"][..],
        &["zstd", "-q", "-19", "-c"][..],
        &["xz", "--check=crc32", "-c"][..],
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("initrd.img");
        let original = debian_initrd(dir.path(), compressor);
        std::fs::write(&path, &original).unwrap();

        let mut c = cmd(dir.path(), host_board());
        let c_mode = Mode::Initrd { file: path.clone() };
        c.host_id = Some("web1".into());
        let report = tessera_flash::run(&c_mode, &c).unwrap();
        assert_eq!(report.host_id, "web1");

        assert_eq!(
            std::fs::read(dir.path().join("initrd.img.bak")).unwrap(),
            original
        );
        let (payload, img) = read_initrd(&path);
        assert!(
            payload.starts_with(&original),
            "the original bytes stay in front"
        );
        let last = img.members.last().unwrap();
        assert_eq!(last.kind, Kind::Cpio);
        assert_eq!(
            last.offset % 4,
            0,
            "{}: segment must start 4-byte aligned",
            compressor[0]
        );
        assert_eq!(img.members.len(), 3);
        // usr-merge: the agent lands in usr/sbin, the keyscript in usr/lib.
        assert_eq!(
            img.file("usr/sbin/tessera-agent").unwrap().data,
            std::fs::read("/bin/busybox").unwrap()
        );
        assert!(img.file("usr/lib/tessera/keyscript").is_some());
        let conf =
            String::from_utf8(img.file("etc/tessera/agent.conf").unwrap().data.clone()).unwrap();
        assert!(conf.contains("host-id web1\n"), "{conf}");
        assert!(
            conf.contains(&format!(
                "volume cryptroot /dev/disk/by-uuid/{UUID} keyscript\n"
            )),
            "{conf}"
        );
        let serial = if host_board() == "qemu-amd64" {
            "serial /dev/ttyS0 115200\n"
        } else {
            "serial /dev/ttyAMA0 115200\n"
        };
        assert!(conf.contains(serial), "{conf}");
        let key = img.file("etc/tessera/host_key").unwrap();
        assert_eq!((key.data.len(), key.mode & 0o777), (32, 0o600));
        let pubkey = tessera_flash::keys::HostKey::from_seed_bytes("k", &key.data)
            .unwrap()
            .public;
        assert_eq!(pubkey, report.host_public);
        let ak = String::from_utf8(
            img.file("etc/tessera/authorized_keys")
                .unwrap()
                .data
                .clone(),
        )
        .unwrap();
        assert_eq!(ak, format!("{}\n", admin_key()));
        let order = String::from_utf8(
            img.file("scripts/init-premount/ORDER")
                .unwrap()
                .data
                .clone(),
        )
        .unwrap();
        assert!(
            order.starts_with("/scripts/init-premount/udev")
                && order.contains("/scripts/init-premount/tessera \"$@\"\n"),
            "{order}"
        );
        let order = String::from_utf8(img.file("scripts/local-bottom/ORDER").unwrap().data.clone())
            .unwrap();
        assert!(
            order.contains("/scripts/local-bottom/cryptroot")
                && order.contains("/scripts/local-bottom/tessera \"$@\""),
            "{order}"
        );
        let tab = String::from_utf8(img.file("cryptroot/crypttab").unwrap().data.clone()).unwrap();
        assert_eq!(
            tab,
            format!("cryptroot UUID={UUID} none luks,discard,keyscript=/lib/tessera/keyscript\n")
        );
        // New directories come before their files; existing ones (and the sbin symlink) are not touched.
        let names: Vec<&str> = last.entries.iter().map(|e| e.name.as_str()).collect();
        assert!(
            names.contains(&"usr/lib/tessera") && names.contains(&"etc/tessera"),
            "{names:?}"
        );
        assert!(
            !names.contains(&"sbin") && !names.contains(&"usr/sbin") && !names.contains(&"etc"),
            "{names:?}"
        );

        // A second flash replaces the segment and keeps the host key and the .bak.
        let again = cmd(dir.path(), host_board());
        let again_mode = Mode::Initrd { file: path.clone() };
        let report2 = tessera_flash::run(&again_mode, &again).unwrap();
        assert_eq!(report2.host_public, report.host_public);
        assert_eq!(report2.host_id, "web1", "host id from the earlier segment");
        let (payload2, img2) = read_initrd(&path);
        assert_eq!(img2.members.len(), 3, "segment replaced, not stacked");
        assert_eq!(payload2.len(), payload.len());
        assert_eq!(
            std::fs::read(dir.path().join("initrd.img.bak")).unwrap(),
            original
        );
    }
}

#[test]
fn initrd_mode_rewrites_a_uinitrd_made_by_mkimage() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("initrd.img");
    std::fs::write(&plain, debian_initrd(dir.path(), &["zstd", "-q", "-c"])).unwrap();
    let uinitrd = dir.path().join("uInitrd");
    let arch = if cfg!(target_arch = "x86_64") {
        "x86_64"
    } else {
        "arm64"
    };
    let st = Command::new("mkimage")
        .args([
            "-A", arch, "-O", "linux", "-T", "ramdisk", "-C", "gzip", "-n", "uInitrd", "-d",
        ])
        .arg(&plain)
        .arg(&uinitrd)
        .output()
        .unwrap();
    assert!(st.status.success());

    // A board that boots plain initrds refuses the uInitrd, and the other way round.
    let mut c = cmd(dir.path(), host_board());
    let c_mode = Mode::Initrd {
        file: uinitrd.clone(),
    };
    c.host_id = Some("hc4".into());
    let err = tessera_flash::run(&c_mode, &c).unwrap_err();
    assert!(err.to_string().contains("is a U-Boot uInitrd"), "{err}");
    let boards = dir.path().join("boards");
    std::fs::create_dir_all(&boards).unwrap();
    let profile = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../boards")
            .join(format!("{}.toml", host_board())),
    )
    .unwrap()
    .replace(
        &format!("name = \"{}\"", host_board()),
        "name = \"uboot-test\"",
    )
    .replace("initrd-format = \"plain\"", "initrd-format = \"uinitrd\"");
    std::fs::write(boards.join("uboot-test.toml"), profile).unwrap();
    let mut c = cmd(dir.path(), "uboot-test");
    c.boards = Some(boards.clone());
    let c_mode = Mode::Initrd {
        file: plain.clone(),
    };
    c.host_id = Some("hc4".into());
    assert!(tessera_flash::run(&c_mode, &c)
        .unwrap_err()
        .to_string()
        .contains("is a plain initrd"));

    let before = std::fs::read(&uinitrd).unwrap();
    let mut c = cmd(dir.path(), "uboot-test");
    c.boards = Some(boards);
    let c_mode = Mode::Initrd {
        file: uinitrd.clone(),
    };
    c.host_id = Some("hc4".into());
    tessera_flash::run(&c_mode, &c).unwrap();
    let after = std::fs::read(&uinitrd).unwrap();
    let (header, payload) = uimage::parse(&after).unwrap();
    assert_eq!(header.name(), "uInitrd");
    assert_eq!(header.image_type, uimage::TYPE_RAMDISK);
    assert!(payload.starts_with(&before[64..]));
    let out = Command::new("mkimage")
        .arg("-l")
        .arg(&uinitrd)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("Data Size:    {} Bytes", payload.len())),
        "{text}"
    );
    let extracted = dir.path().join("payload");
    let st = Command::new("dumpimage")
        .args(["-T", "ramdisk", "-p", "0", "-o"])
        .arg(&extracted)
        .arg(&uinitrd)
        .status()
        .unwrap();
    assert!(st.success(), "dumpimage checks the data CRC");
    assert_eq!(std::fs::read(&extracted).unwrap(), payload);
    let img = Initrd::parse(&uinitrd, payload).unwrap();
    assert!(img.file("usr/sbin/tessera-agent").is_some());
    assert_eq!(img.members.last().unwrap().offset % 4, 0);
    assert_eq!(
        std::fs::read(dir.path().join("uInitrd.bak")).unwrap(),
        before
    );
}

#[test]
fn initrd_mode_refuses_mismatches_and_dry_run_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("initrd.img");
    let original = debian_initrd(dir.path(), &["gzip", "-c"]);
    std::fs::write(&path, &original).unwrap();

    let mut c = cmd(dir.path(), host_board());
    let c_mode = Mode::Initrd { file: path.clone() };
    c.host_id = Some("web1".into());
    c.dry_run = true;
    let report = tessera_flash::run(&c_mode, &c).unwrap();
    assert!(
        report
            .actions
            .iter()
            .any(|a| a.contains("add file /usr/sbin/tessera-agent")),
        "{:?}",
        report.actions
    );
    assert_eq!(std::fs::read(&path).unwrap(), original);
    assert!(!dir.path().join("initrd.img.bak").exists());

    let mut c = cmd(dir.path(), other_board());
    let c_mode = Mode::Initrd { file: path.clone() };
    c.host_id = Some("web1".into());
    let err = tessera_flash::run(&c_mode, &c).unwrap_err();
    assert!(matches!(err, Error::Target { .. }), "{err}");

    let mut c = cmd(dir.path(), host_board());
    let c_mode = Mode::Initrd { file: path.clone() };
    c.host_id = Some("web1".into());
    c.agent = Some(dir.path().join("wrong-agent"));
    let mut foreign = vec![0u8; 120];
    foreign[..4].copy_from_slice(b"\x7fELF");
    foreign[4] = 2;
    foreign[5] = 1;
    let machine: u16 = if cfg!(target_arch = "x86_64") {
        183
    } else {
        62
    };
    foreign[18..20].copy_from_slice(&machine.to_le_bytes());
    std::fs::write(dir.path().join("wrong-agent"), &foreign).unwrap();
    let err = tessera_flash::run(&c_mode, &c).unwrap_err();
    assert!(matches!(err, Error::WrongArch { .. }), "{err}");

    let c = cmd(dir.path(), "no-such-board");
    let c_mode = Mode::Initrd { file: path.clone() };
    let err = tessera_flash::run(&c_mode, &c).unwrap_err();
    assert!(matches!(err, Error::UnknownBoard { .. }), "{err}");

    let dracut = dir.path().join("dracut.img");
    let entries = [
        Entry::dir("usr/lib/dracut", 0o755),
        Entry::file(
            "usr/sbin/cryptsetup",
            0o755,
            std::fs::read("/usr/sbin/cryptsetup").unwrap(),
        ),
    ];
    std::fs::write(
        &dracut,
        pipe("gzip", &["-c"], &cpio::write(&entries).unwrap()),
    )
    .unwrap();
    let mut c = cmd(dir.path(), host_board());
    let c_mode = Mode::Initrd { file: dracut };
    c.host_id = Some("web1".into());
    let err = tessera_flash::run(&c_mode, &c).unwrap_err();
    assert!(matches!(err, Error::Dracut { .. }), "{err}");
    // The hint names what installs the dracut module, never another flash mode (which refuses it).
    assert!(
        err.hint().contains("initramfs-hook/install.sh"),
        "{}",
        err.hint()
    );
    assert!(!err.hint().contains("flash"), "{}", err.hint());

    let bare = dir.path().join("bare.img");
    let entries = [
        Entry::dir("scripts", 0o755),
        Entry::file("scripts/functions", 0o644, b"#\n".to_vec()),
    ];
    std::fs::write(
        &bare,
        pipe("gzip", &["-c"], &cpio::write(&entries).unwrap()),
    )
    .unwrap();
    let mut c = cmd(dir.path(), host_board());
    let c_mode = Mode::Initrd { file: bare };
    c.host_id = Some("web1".into());
    let err = tessera_flash::run(&c_mode, &c).unwrap_err();
    assert!(matches!(err, Error::NoCryptsetup { .. }), "{err}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        original,
        "refusals write nothing"
    );
}

/// A root filesystem tree with what `flash root` looks at.
fn fake_root(dir: &Path) -> PathBuf {
    let r = dir.join("root");
    for d in [
        "usr/share/initramfs-tools/hooks",
        "usr/sbin",
        "etc/dropbear/initramfs",
        "boot",
    ] {
        std::fs::create_dir_all(r.join(d)).unwrap();
    }
    std::fs::write(
        r.join("usr/share/initramfs-tools/hooks/cryptroot"),
        "#!/bin/sh\n",
    )
    .unwrap();
    std::fs::copy("/usr/sbin/cryptsetup", r.join("usr/sbin/cryptsetup")).unwrap();
    std::fs::write(r.join("etc/hostname"), "nas1\n").unwrap();
    std::fs::write(
        r.join("etc/crypttab"),
        format!("# <target> <source> <key> <options>\ncryptroot UUID={UUID} none luks,initramfs\nswap /dev/vdb /dev/urandom swap,noauto\n"),
    )
    .unwrap();
    r
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn root_mode_installs_config_keys_agent_and_hook_and_keeps_the_host_key() {
    let dir = tempfile::tempdir().unwrap();
    let r = fake_root(dir.path());
    let dropbear = tessera_flash::keys::openssh_line(&[5; 32], "bob@dropbear");
    std::fs::write(
        r.join("etc/dropbear/initramfs/authorized_keys"),
        format!("no-port-forwarding {dropbear}\n"),
    )
    .unwrap();

    let mut c = cmd(dir.path(), host_board());
    let c_mode = Mode::Root {
        dir: r.clone(),
        update_initramfs: false,
    };
    c.dry_run = true;
    let report = tessera_flash::run(&c_mode, &c).unwrap();
    assert!(
        report
            .actions
            .iter()
            .all(|a| a.contains("(new,") || a.starts_with("pin")),
        "{:?}",
        report.actions
    );
    assert!(!r.join("etc/tessera").exists(), "dry run wrote nothing");

    let mut c = cmd(dir.path(), host_board());
    let c_mode = Mode::Root {
        dir: r.clone(),
        update_initramfs: false,
    };
    c.admin_keys = vec![];
    c.authorized_keys = Some(r.join("etc/dropbear/initramfs/authorized_keys"));
    let report = tessera_flash::run(&c_mode, &c).unwrap();
    assert_eq!(report.host_id, "nas1", "host id from /etc/hostname");
    let conf = std::fs::read_to_string(r.join("etc/tessera/agent.conf")).unwrap();
    assert!(
        conf.contains(&format!(
            "volume cryptroot /dev/disk/by-uuid/{UUID} keyscript\n"
        )),
        "{conf}"
    );
    assert!(
        !conf.contains("swap"),
        "noauto volumes are left out: {conf}"
    );
    assert_eq!(
        std::fs::read_to_string(r.join("etc/tessera/authorized_keys")).unwrap(),
        format!("{dropbear}\n")
    );
    let seed = std::fs::read(r.join("etc/tessera/host_key")).unwrap();
    assert_eq!(
        (seed.len(), mode(&r.join("etc/tessera/host_key"))),
        (32, 0o600)
    );
    assert_eq!(mode(&r.join("etc/tessera")), 0o700);
    let pub_line = std::fs::read_to_string(r.join("etc/tessera/host_key.pub")).unwrap();
    assert!(pub_line.starts_with("ssh-ed25519 ") && pub_line.trim_end().ends_with(" tessera-host"));
    assert_eq!(
        std::fs::read(r.join("usr/lib/tessera/tessera-agent")).unwrap(),
        std::fs::read("/bin/busybox").unwrap()
    );
    for (p, m) in [
        ("usr/lib/tessera/tessera-agent", 0o755),
        ("usr/lib/tessera/keyscript", 0o755),
        ("etc/initramfs-tools/hooks/tessera", 0o755),
        ("etc/initramfs-tools/scripts/init-premount/tessera", 0o755),
        ("etc/initramfs-tools/scripts/local-bottom/tessera", 0o755),
        ("etc/initramfs-tools/conf.d/tessera", 0o644),
        ("etc/tessera/initramfs.conf", 0o644),
    ] {
        assert_eq!(mode(&r.join(p)), m, "{p}");
    }
    assert!(
        std::fs::read_to_string(r.join("etc/tessera/initramfs.conf"))
            .unwrap()
            .contains("NIC_MODULES=\"virtio_net")
    );

    // Again: the host key stays (pins stay valid), everything else is reported unchanged.
    let mut c = cmd(dir.path(), host_board());
    let c_mode = Mode::Root {
        dir: r.clone(),
        update_initramfs: false,
    };
    c.admin_keys = vec![];
    c.authorized_keys = Some(r.join("etc/dropbear/initramfs/authorized_keys"));
    let again = tessera_flash::run(&c_mode, &c).unwrap();
    assert_eq!(again.host_public, report.host_public);
    assert_eq!(std::fs::read(r.join("etc/tessera/host_key")).unwrap(), seed);
    assert!(
        again
            .actions
            .iter()
            .filter(|a| a.starts_with("write"))
            .all(|a| a.contains("(unchanged,")),
        "{:?}",
        again.actions
    );

    // --new-host-key rotates it.
    let mut c = cmd(dir.path(), host_board());
    let c_mode = Mode::Root {
        dir: r.clone(),
        update_initramfs: false,
    };
    c.new_host_key = true;
    assert_ne!(
        tessera_flash::run(&c_mode, &c).unwrap().host_public,
        report.host_public
    );
}

#[test]
fn root_mode_refuses_roots_without_cryptsetup_or_of_another_architecture() {
    let dir = tempfile::tempdir().unwrap();
    let r = fake_root(dir.path());
    let c = cmd(dir.path(), other_board());
    let c_mode = Mode::Root {
        dir: r.clone(),
        update_initramfs: false,
    };
    let err = tessera_flash::run(&c_mode, &c).unwrap_err();
    assert!(err.to_string().contains("but board"), "{err}");

    std::fs::remove_file(r.join("usr/share/initramfs-tools/hooks/cryptroot")).unwrap();
    let c = cmd(dir.path(), host_board());
    let c_mode = Mode::Root {
        dir: r.clone(),
        update_initramfs: false,
    };
    let err = tessera_flash::run(&c_mode, &c).unwrap_err();
    assert!(matches!(err, Error::NoCryptsetup { .. }), "{err}");
    assert!(err.hint().contains("cryptsetup-initramfs"));
    assert!(!r.join("etc/tessera").exists());

    let c = cmd(dir.path(), host_board());
    let c_mode = Mode::Root {
        dir: dir.path().join("nothing-here"),
        update_initramfs: false,
    };
    assert!(matches!(
        tessera_flash::run(&c_mode, &c).unwrap_err(),
        Error::Target { .. }
    ));
}

#[test]
fn the_host_key_is_pinned_in_known_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let r = fake_root(dir.path());
    let config = dir.path().join("config");
    // The only test in this binary that reads XDG_CONFIG_HOME.
    std::env::set_var("XDG_CONFIG_HOME", &config);
    let mut c = cmd(dir.path(), host_board());
    let c_mode = Mode::Root {
        dir: r.clone(),
        update_initramfs: false,
    };
    c.pin = true;
    let report = tessera_flash::run(&c_mode, &c).unwrap();
    let kh = std::fs::read_to_string(config.join("tessera/known_hosts")).unwrap();
    let line = format!(
        "nas1 {}\n",
        tessera_flash::keys::openssh_line(&report.host_public, "").trim()
    );
    assert_eq!(kh, line);
    let pubfile = std::fs::read_to_string(r.join("etc/tessera/host_key.pub")).unwrap();
    assert_eq!(
        pubfile.split_whitespace().nth(1),
        line.split_whitespace().nth(2)
    );

    // Flashing again keeps the target's key: the pin matches and stays as it is.
    let mut c = cmd(dir.path(), host_board());
    let c_mode = Mode::Root {
        dir: r.clone(),
        update_initramfs: false,
    };
    c.pin = true;
    tessera_flash::run(&c_mode, &c).unwrap();
    assert_eq!(
        std::fs::read_to_string(config.join("tessera/known_hosts")).unwrap(),
        line
    );
    // Another host key is never pinned silently: an error that names --new-host-key, also in a
    // dry run ...
    let other = dir.path().join("other_key");
    std::fs::write(&other, [42u8; 32]).unwrap();
    let mut c = cmd(dir.path(), host_board());
    let c_mode = Mode::Root {
        dir: r.clone(),
        update_initramfs: false,
    };
    c.pin = true;
    c.host_key = Some(other.clone());
    let mut dry = c.clone();
    dry.dry_run = true;
    assert!(matches!(
        tessera_flash::run(&c_mode, &dry).unwrap_err(),
        Error::PinDiffers { .. }
    ));
    let err = tessera_flash::run(&c_mode, &c).unwrap_err();
    assert!(matches!(err, Error::PinDiffers { .. }), "{err}");
    assert!(err.hint().contains("--new-host-key"), "{}", err.hint());
    assert_eq!(
        std::fs::read_to_string(config.join("tessera/known_hosts")).unwrap(),
        line
    );
    // ... refused before anything was written: the target still has the pinned key.
    assert_eq!(
        std::fs::read_to_string(r.join("etc/tessera/host_key.pub")).unwrap(),
        pubfile
    );
    // ... which replaces the pin on purpose.
    let mut c = cmd(dir.path(), host_board());
    let c_mode = Mode::Root {
        dir: r.clone(),
        update_initramfs: false,
    };
    c.pin = true;
    c.new_host_key = true;
    let report = tessera_flash::run(&c_mode, &c).unwrap();
    assert_eq!(
        std::fs::read_to_string(config.join("tessera/known_hosts")).unwrap(),
        format!(
            "nas1 {}\n",
            tessera_flash::keys::openssh_line(&report.host_public, "")
        )
    );
}

/// A real sshd on 127.0.0.1 that lets this user in with a throwaway key.
struct Sshd {
    child: std::process::Child,
    command: String,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_sshd(dir: &Path) -> Option<Sshd> {
    if !Path::new("/usr/sbin/sshd").exists() || unsafe { libc_geteuid() } != 0 {
        eprintln!("skipping: needs root and /usr/sbin/sshd (openssh-server)");
        return None;
    }
    let d = dir.join("sshd");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
    for k in ["host", "client"] {
        let st = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(d.join(k))
            .status()
            .unwrap();
        assert!(st.success());
    }
    std::fs::copy(d.join("client.pub"), d.join("authorized_keys")).unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    std::fs::create_dir_all("/run/sshd").unwrap();
    let child = Command::new("/usr/sbin/sshd")
        .args([
            "-D",
            "-e",
            "-f",
            "/dev/null",
            "-p",
            &port.to_string(),
            "-o",
            "ListenAddress=127.0.0.1",
        ])
        .arg("-h")
        .arg(d.join("host"))
        .arg("-o")
        .arg(format!(
            "AuthorizedKeysFile={}",
            d.join("authorized_keys").display()
        ))
        .args([
            "-o",
            "PermitRootLogin=prohibit-password",
            "-o",
            "PasswordAuthentication=no",
            "-o",
            "UsePAM=no",
            "-o",
            "StrictModes=no",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let command = format!(
        "ssh -p {port} -i {} -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=5",
        d.join("client").display()
    );
    let sshd = Sshd { child, command };
    for _ in 0..50 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(sshd);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("sshd did not start on port {port}");
}

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

#[test]
fn ssh_mode_installs_into_a_remote_root_through_a_real_sshd() {
    let dir = tempfile::tempdir().unwrap();
    let Some(sshd) = start_sshd(dir.path()) else {
        return;
    };
    let r = fake_root(dir.path());
    let user = std::env::var("USER").unwrap_or_else(|_| "root".into());

    let mut c = cmd(dir.path(), host_board());
    let c_mode = Mode::Ssh(SshTarget {
        destination: format!("{user}@127.0.0.1"),
        command: sshd.command.clone(),
        root: r.display().to_string(),
        update_initramfs: false,
    });
    c.dry_run = true;
    let report = tessera_flash::run(&c_mode, &c).unwrap();
    assert_eq!(report.host_id, "nas1", "hostname read over ssh");
    assert!(!r.join("etc/tessera").exists());

    let c = cmd(dir.path(), host_board());
    let c_mode = Mode::Ssh(SshTarget {
        destination: format!("{user}@127.0.0.1"),
        command: sshd.command.clone(),
        root: r.display().to_string(),
        update_initramfs: false,
    });
    let report = tessera_flash::run(&c_mode, &c).unwrap();
    let seed = std::fs::read(r.join("etc/tessera/host_key")).unwrap();
    assert_eq!(
        tessera_flash::keys::HostKey::from_seed_bytes("k", &seed)
            .unwrap()
            .public,
        report.host_public
    );
    assert_eq!(mode(&r.join("etc/tessera/host_key")), 0o600);
    assert_eq!(
        std::fs::read(r.join("usr/lib/tessera/tessera-agent")).unwrap(),
        std::fs::read("/bin/busybox").unwrap()
    );
    assert!(std::fs::read_to_string(r.join("etc/tessera/agent.conf"))
        .unwrap()
        .contains("host-id nas1\n"));

    // A second run over ssh keeps the host key it finds there.
    let c = cmd(dir.path(), host_board());
    let c_mode = Mode::Ssh(SshTarget {
        destination: format!("{user}@127.0.0.1"),
        command: sshd.command.clone(),
        root: r.display().to_string(),
        update_initramfs: false,
    });
    assert_eq!(
        tessera_flash::run(&c_mode, &c).unwrap().host_public,
        report.host_public
    );

    // Refusals come back over ssh too.
    std::fs::remove_file(r.join("usr/sbin/cryptsetup")).unwrap();
    let c = cmd(dir.path(), host_board());
    let c_mode = Mode::Ssh(SshTarget {
        destination: format!("{user}@127.0.0.1"),
        command: sshd.command.clone(),
        root: r.display().to_string(),
        update_initramfs: true,
    });
    assert!(matches!(
        tessera_flash::run(&c_mode, &c).unwrap_err(),
        Error::NoCryptsetup { .. }
    ));

    let c = cmd(dir.path(), host_board());
    let c_mode = Mode::Ssh(SshTarget {
        destination: "nobody@127.0.0.1".into(),
        command: sshd.command.clone(),
        root: "/".into(),
        update_initramfs: true,
    });
    let err = tessera_flash::run(&c_mode, &c).unwrap_err();
    assert!(matches!(err, Error::Command { .. }), "{err}");
}

#[test]
fn root_mode_writes_only_config_and_keys_when_the_agent_package_is_installed() {
    let dir = tempfile::tempdir().unwrap();
    let r = fake_root(dir.path());
    std::fs::create_dir_all(r.join("var/lib/dpkg/info")).unwrap();
    std::fs::write(
        r.join("var/lib/dpkg/info/tessera-agent.list"),
        "/usr/share/initramfs-tools/hooks/tessera\n",
    )
    .unwrap();
    let mut c = cmd(dir.path(), host_board());
    let c_mode = Mode::Root {
        dir: r.clone(),
        update_initramfs: false,
    };
    c.agent = Some(dir.path().join("no-agent-needed"));
    let report = tessera_flash::run(&c_mode, &c).unwrap();
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("package is installed")),
        "{:?}",
        report.notes
    );
    assert!(r.join("etc/tessera/agent.conf").is_file());
    assert!(r.join("etc/tessera/host_key").is_file());
    assert!(!r.join("usr/lib/tessera").exists());
    assert!(!r.join("etc/initramfs-tools").exists());
}
