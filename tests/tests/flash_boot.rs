//! `tessera flash` against real Debian initramfs images booted under qemu (the tests/ harness):
//! a stock initrd (gzip, and the same archive as one zstd frame) flashed with `flash initrd`, a
//! debootstrap root flashed with `flash root --update-initramfs`, the tessera-agent .deb installed into
//! a copy of that root, and an arm64 uInitrd, both as a bare payload and on an Armbian-shaped SD
//! card booted by Debian's qemu_arm64 U-Boot (boot.scr, armbianEnv.txt). Each boot is unlocked over
//! the network by `tessera unlock`, and the unlocked root reports that nothing of tessera survived.
//! Needs scripts/build-agents.sh and the host tool (target/debug/tessera), like every boot test.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use tessera_e2e::chroot::{Arch, Flavor};
use tessera_e2e::scenario::{shared_keys, Scenario, PASSPHRASE};
use tessera_e2e::tools::{self, unlock, Target};
use tessera_e2e::{LuksImage, Machine, Nic, MARKER, PROMPT};
use tessera_flash::{Mode, Options};

const PROMPT_WAIT: Duration = Duration::from_secs(300);
const UNLOCK_WAIT: Duration = Duration::from_secs(120);
const TOOL_WAIT: Duration = Duration::from_secs(180);

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

fn repo() -> PathBuf {
    tools::workspace()
}

fn flash_cmd(arch: Arch, keys: &tools::Keys) -> Options {
    Options {
        board: match arch {
            Arch::Amd64 => "qemu-amd64".into(),
            Arch::Arm64 => "qemu-arm64".into(),
        },
        agent: Some(ok(tools::agent(arch))),
        hook_dir: Some(repo().join("initramfs-hook")),
        boards: None,
        host_id: Some("flash-e2e".into()),
        volumes: vec![],
        listen: vec!["0.0.0.0:7743".into()],
        serial: true,
        admin_keys: vec![keys.identity_pub.trim().to_string()],
        authorized_keys: None,
        // The host key the scenario's `tessera unlock --host-key` expects.
        host_key: Some(keys.host_key_pub.with_extension("")),
        new_host_key: false,
        pin: false,
        dry_run: false,
    }
}

/// Boots `initrd` with the LUKS root, unlocks it over the network, checks the clean unlock.
fn boot_and_unlock(s: &Scenario, initrd: &Path, root: &LuksImage, keys: &tools::Keys) {
    let m = ok(s.boot(initrd, &[root], Nic::User, ""));
    unlock_booted(m, keys);
}

/// Waits for the cryptroot prompt of a booted machine, unlocks it with `tessera unlock` over the
/// forwarded port, and checks that the root came up clean and the whole initrd was unpacked.
fn unlock_booted(mut m: Machine, keys: &tools::Keys) {
    ok(m.wait_for(&format!("{PROMPT} cryptroot"), PROMPT_WAIT));
    let port = m.port.expect("a forwarded agent port");
    let run = ok(unlock(
        keys,
        &Target::Tcp(port),
        &format!("{PASSPHRASE}\n"),
        &["--wait", "120"],
        TOOL_WAIT,
    ));
    assert!(
        run.success,
        "tessera unlock failed (exit {:?}): {} {}; console: {}",
        run.code,
        run.stdout,
        run.stderr,
        m.log_path().display()
    );
    let line = ok(m.expect_unlocked(UNLOCK_WAIT));
    assert!(
        line.contains(MARKER) && line.contains("mapper=cryptroot,"),
        "{line}"
    );
    assert!(
        line.contains("run-tessera=absent") && line.contains("agents=0"),
        "{line}"
    );
    assert!(
        !m.transcript().contains("Initramfs unpacking failed"),
        "the kernel dropped the appended segment; console: {}",
        m.log_path().display()
    );
}

fn flash_stock_initrd(name: &str, recompress: Option<&[&str]>) {
    let s = ok(Scenario::new(name, Arch::Amd64, Flavor::InitramfsTools));
    let keys = ok(shared_keys());
    let root = ok(s.root_image());
    let stock = ok(s.initrd(&[&root], None));
    let initrd = s.work.join("initrd.img");
    let bytes = std::fs::read(&stock).unwrap();
    let bytes = match recompress {
        None => bytes,
        Some(cmd) => {
            // The same archive as mkinitramfs with COMPRESS=zstd writes it: one zstd frame.
            let sh = format!("gzip -dc | {}", cmd.join(" "));
            let mut c = Command::new("sh")
                .args(["-c", &sh])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let mut stdin = c.stdin.take().unwrap();
            let t =
                std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &bytes).unwrap());
            let out = c.wait_with_output().unwrap();
            t.join().unwrap();
            assert!(out.status.success());
            out.stdout
        }
    };
    std::fs::write(&initrd, &bytes).unwrap();
    let c = flash_cmd(Arch::Amd64, &keys);
    let c_mode = Mode::Initrd {
        file: initrd.clone(),
    };
    ok(tessera_flash::run(&c_mode, &c));
    assert_eq!(std::fs::read(s.work.join("initrd.img.bak")).unwrap(), bytes);
    boot_and_unlock(&s, &initrd, &root, &keys);
}

#[test]
fn flash_initrd_on_a_stock_gzip_initrd_then_unlock() {
    flash_stock_initrd("flash-initrd-gzip", None);
}

#[test]
fn flash_initrd_on_a_stock_zstd_initrd_then_unlock() {
    flash_stock_initrd("flash-initrd-zstd", Some(&["zstd", "-q", "-19", "-c"]));
}

/// A throwaway copy of the scenario's chroot: an overlay mount when the kernel allows it, else cp -a.
/// Holds the harness's build lock for that chroot, so no initrd build changes it meanwhile.
struct RootCopy {
    dir: PathBuf,
    mounted: bool,
    _lock: tessera_e2e::cache::Lock,
}

impl RootCopy {
    fn new(s: &Scenario) -> RootCopy {
        let chroot_name = s
            .chroot
            .dir
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let lock = ok(tessera_e2e::cache::lock(&format!("build-{chroot_name}")));
        let base = s.work.join("rootcopy");
        let (upper, work, dir) = (base.join("upper"), base.join("work"), base.join("root"));
        for d in [&upper, &work, &dir] {
            std::fs::create_dir_all(d).unwrap();
        }
        let opts = format!(
            "lowerdir={},upperdir={},workdir={}",
            s.chroot.dir.display(),
            upper.display(),
            work.display()
        );
        let mounted = Command::new("mount")
            .args(["-t", "overlay", "overlay", "-o", &opts])
            .arg(&dir)
            .status()
            .is_ok_and(|st| st.success());
        if !mounted {
            let st = Command::new("cp")
                .arg("-a")
                .arg(format!("{}/.", s.chroot.dir.display()))
                .arg(&dir)
                .status()
                .unwrap();
            assert!(st.success(), "copying the chroot");
        }
        // Start from a root without tessera (the harness's builds leave their install behind).
        let st = Command::new("sh")
            .arg(repo().join("initramfs-hook/install.sh"))
            .arg("--remove")
            .arg(&dir)
            .status()
            .unwrap();
        assert!(st.success());
        let _ = std::fs::remove_dir_all(dir.join("etc/tessera"));
        let _ = std::fs::remove_dir_all(dir.join("usr/lib/tessera"));
        for e in std::fs::read_dir(dir.join("boot")).unwrap().flatten() {
            if e.file_name().to_string_lossy().starts_with("initrd") {
                std::fs::remove_file(e.path()).unwrap();
            }
        }
        std::fs::write(
            dir.join("etc/crypttab"),
            format!(
                "cryptroot UUID={} none luks,initramfs\n",
                tessera_e2e::disk::ROOT_UUID
            ),
        )
        .unwrap();
        std::fs::write(
            dir.join("etc/fstab"),
            "/dev/mapper/cryptroot / ext4 defaults 0 1\n",
        )
        .unwrap();
        RootCopy {
            dir,
            mounted,
            _lock: lock,
        }
    }

    /// The initrd update-initramfs made, copied out of the root.
    fn take_initrd(&self, s: &Scenario) -> PathBuf {
        let src = self
            .dir
            .join(format!("boot/initrd.img-{}", s.chroot.kernel_version));
        let dst = s.work.join("initrd.img");
        std::fs::copy(&src, &dst).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
        dst
    }
}

impl Drop for RootCopy {
    fn drop(&mut self) {
        if self.mounted {
            let _ = Command::new("umount").arg(&self.dir).status();
        }
    }
}

#[test]
fn flash_root_into_a_debootstrap_root_then_unlock() {
    let s = ok(Scenario::new(
        "flash-root",
        Arch::Amd64,
        Flavor::InitramfsTools,
    ));
    let keys = ok(shared_keys());
    let root = ok(s.root_image());
    let initrd = {
        let copy = RootCopy::new(&s);
        let c = flash_cmd(Arch::Amd64, &keys);
        let c_mode = Mode::Root {
            dir: copy.dir.clone(),
            update_initramfs: true,
        };
        let report = ok(tessera_flash::run(&c_mode, &c));
        assert!(
            report
                .notes
                .iter()
                .any(|n| n.contains("holds sbin/tessera-agent (lsinitramfs)")),
            "{:?}",
            report.notes
        );
        assert!(copy.dir.join("etc/initramfs-tools/hooks/tessera").is_file());
        copy.take_initrd(&s)
    };
    boot_and_unlock(&s, &initrd, &root, &keys);
}

#[test]
fn the_agent_deb_installs_into_a_debootstrap_root_and_its_initramfs_unlocks() {
    let s = ok(Scenario::new(
        "flash-deb",
        Arch::Amd64,
        Flavor::InitramfsTools,
    ));
    let keys = ok(shared_keys());
    let root = ok(s.root_image());
    let debs = repo().join("target/debian-boot-test");
    let st = Command::new(repo().join("scripts/package.sh"))
        .env("OUT", &debs)
        .status()
        .unwrap();
    assert!(st.success(), "scripts/package.sh");
    let deb = debs.join(format!(
        "tessera-agent_{}-1_amd64.deb",
        env!("CARGO_PKG_VERSION")
    ));
    let initrd = {
        let copy = RootCopy::new(&s);
        std::fs::copy(&deb, copy.dir.join("tmp/tessera-agent.deb")).unwrap();
        let out = Command::new("chroot")
            .arg(&copy.dir)
            .args(["dpkg", "-i", "/tmp/tessera-agent.deb"])
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "dpkg -i: {text}");
        assert!(
            text.contains("no /etc/tessera/agent.conf yet"),
            "postinst hint: {text}"
        );
        assert!(
            text.contains("Processing triggers for initramfs-tools"),
            "update-initramfs trigger: {text}"
        );
        assert!(copy
            .dir
            .join("usr/share/initramfs-tools/hooks/tessera")
            .is_file());
        // flash sees the package and writes config and keys only, then rebuilds and checks.
        let c = flash_cmd(Arch::Amd64, &keys);
        let c_mode = Mode::Root {
            dir: copy.dir.clone(),
            update_initramfs: true,
        };
        let report = ok(tessera_flash::run(&c_mode, &c));
        assert!(
            report
                .notes
                .iter()
                .any(|n| n.contains("package is installed")),
            "{:?}",
            report.notes
        );
        assert!(!copy.dir.join("etc/initramfs-tools/hooks/tessera").exists());
        let listing = Command::new("chroot")
            .arg(&copy.dir)
            .args([
                "lsinitramfs",
                &format!("/boot/initrd.img-{}", s.chroot.kernel_version),
            ])
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .output()
            .unwrap();
        let listing = String::from_utf8_lossy(&listing.stdout);
        for f in [
            "usr/sbin/tessera-agent",
            "usr/lib/tessera/keyscript",
            "etc/tessera/agent.conf",
            "scripts/init-premount/tessera",
        ] {
            assert!(listing.lines().any(|l| l == f), "{f} not in the initramfs");
        }
        copy.take_initrd(&s)
    };
    boot_and_unlock(&s, &initrd, &root, &keys);
}

/// The Armbian shape: the stock arm64 initrd wrapped by mkimage as Armbian's 99-uboot hook does,
/// flashed as a uInitrd; dumpimage (which checks both CRCs, as U-Boot does) extracts the payload
/// U-Boot would hand to the kernel, and that payload boots and unlocks.
#[test]
fn flash_a_uinitrd_for_arm64_then_boot_its_payload_and_unlock() {
    let s = ok(Scenario::new(
        "flash-uinitrd-arm64",
        Arch::Arm64,
        Flavor::InitramfsTools,
    ));
    let keys = ok(shared_keys());
    let root = ok(s.root_image());
    let stock = ok(s.initrd(&[&root], None));
    let uinitrd = s.work.join("uInitrd");
    let st = Command::new("mkimage")
        .args([
            "-A", "arm64", "-O", "linux", "-T", "ramdisk", "-C", "gzip", "-n", "uInitrd", "-d",
        ])
        .arg(&stock)
        .arg(&uinitrd)
        .output()
        .unwrap();
    assert!(st.status.success());
    let mut c = flash_cmd(Arch::Arm64, &keys);
    c.board = "qemu-arm64-uboot".into();
    let c_mode = Mode::Initrd {
        file: uinitrd.clone(),
    };
    ok(tessera_flash::run(&c_mode, &c));
    let payload = s.work.join("payload.img");
    let st = Command::new("dumpimage")
        .args(["-T", "ramdisk", "-p", "0", "-o"])
        .arg(&payload)
        .arg(&uinitrd)
        .status()
        .unwrap();
    assert!(st.success(), "dumpimage refused the rewritten uInitrd");
    boot_and_unlock(&s, &payload, &root, &keys);
}

/// Debian's U-Boot for qemu's arm64 `virt` machine (package u-boot-qemu), started as firmware.
const UBOOT_QEMU_ARM64: &str = "/usr/lib/u-boot/qemu_arm64/u-boot.bin";

/// A simplified Armbian boot.cmd: distro boot sets devtype/devnum/distro_bootpart/prefix, the script
/// imports armbianEnv.txt (its `extraargs` reach the kernel command line), loads Image and uInitrd
/// and boots them with the device tree qemu handed to U-Boot (a board would load its own .dtb).
const BOOT_CMD: &str = r#"echo "boot.scr: devtype=${devtype} devnum=${devnum} part=${distro_bootpart}"
setenv rootdev "/dev/mapper/cryptroot"
setenv consoleargs "console=ttyAMA0"
setenv extraargs ""
if test -e ${devtype} ${devnum}:${distro_bootpart} ${prefix}armbianEnv.txt; then
  load ${devtype} ${devnum}:${distro_bootpart} ${scriptaddr} ${prefix}armbianEnv.txt
  env import -t ${scriptaddr} ${filesize}
fi
setenv bootargs "${consoleargs} root=${rootdev} panic=-1 ${extraargs}"
load ${devtype} ${devnum}:${distro_bootpart} ${ramdisk_addr_r} ${prefix}uInitrd
load ${devtype} ${devnum}:${distro_bootpart} ${kernel_addr_r} ${prefix}Image
booti ${kernel_addr_r} ${ramdisk_addr_r} ${fdtcontroladdr}
"#;

const MIB: u64 = 1 << 20;
const BOOT_PART_MIB: u64 = 96;

/// One MBR partition entry (CHS fields unused, as sfdisk writes them for LBA-only disks).
fn mbr_entry(bootable: bool, start: u64, sectors: u64) -> [u8; 16] {
    let mut e = [0u8; 16];
    e[0] = if bootable { 0x80 } else { 0 };
    e[1..4].copy_from_slice(&[0xfe, 0xff, 0xff]);
    e[4] = 0x83;
    e[5..8].copy_from_slice(&[0xfe, 0xff, 0xff]);
    e[8..12].copy_from_slice(&u32::try_from(start).unwrap().to_le_bytes());
    e[12..16].copy_from_slice(&u32::try_from(sectors).unwrap().to_le_bytes());
    e
}

/// An Armbian-shaped SD card image without loop devices: an MBR (written here: two entries do not
/// justify the fdisk package), partition 1 a bootable ext4 `/boot` filled by `mkfs.ext4 -d`
/// (distro boot scans bootable partitions first), partition 2 the LUKS root copied verbatim
/// (crypttab finds it by its LUKS UUID).
fn armbian_disk(bootfs: &Path, root: &LuksImage, out: &Path) {
    use std::io::{Seek, SeekFrom, Write};
    let p1 = out.with_extension("p1");
    let f = std::fs::File::create(&p1).unwrap();
    f.set_len(BOOT_PART_MIB * MIB).unwrap();
    drop(f);
    let st = Command::new("mkfs.ext4")
        .args(["-q", "-F", "-L", "armbi_boot", "-d"])
        .arg(bootfs)
        .arg(&p1)
        .status()
        .unwrap();
    assert!(st.success(), "mkfs.ext4 -d for /boot");
    let root_len = std::fs::metadata(&root.path).unwrap().len().div_ceil(MIB) * MIB;
    let mut disk = std::fs::File::create(out).unwrap();
    disk.set_len(MIB + BOOT_PART_MIB * MIB + root_len + MIB)
        .unwrap();
    let mut mbr = [0u8; 512];
    mbr[446..462].copy_from_slice(&mbr_entry(true, MIB / 512, BOOT_PART_MIB * MIB / 512));
    mbr[462..478].copy_from_slice(&mbr_entry(
        false,
        (MIB + BOOT_PART_MIB * MIB) / 512,
        root_len / 512,
    ));
    mbr[510] = 0x55;
    mbr[511] = 0xaa;
    disk.write_all(&mbr).unwrap();
    disk.seek(SeekFrom::Start(MIB)).unwrap();
    std::io::copy(&mut std::fs::File::open(&p1).unwrap(), &mut disk).unwrap();
    disk.seek(SeekFrom::Start(MIB + BOOT_PART_MIB * MIB))
        .unwrap();
    std::io::copy(&mut std::fs::File::open(&root.path).unwrap(), &mut disk).unwrap();
    std::fs::remove_file(&p1).unwrap();
}

fn mkimage(args: &[&str], input: &Path, output: &Path) {
    let out = Command::new("mkimage")
        .args(args)
        .arg("-d")
        .arg(input)
        .arg(output)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mkimage: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The whole Armbian boot path: an SD card image whose `/boot` holds boot.scr (mkimage -T script),
/// armbianEnv.txt, Image and the uInitrd `tessera flash initrd` rewrote; Debian's qemu_arm64
/// U-Boot finds boot.scr by distro boot, loads both through the legacy-image checks and boots; the
/// flashed agent answers on the network and `tessera unlock` opens the root.
#[test]
fn flash_a_uinitrd_for_arm64_then_boot_it_through_uboot_and_unlock() {
    let s = ok(Scenario::new(
        "flash-uinitrd-uboot",
        Arch::Arm64,
        Flavor::InitramfsTools,
    ));
    let keys = ok(shared_keys());
    let root = ok(s.root_image());
    let stock = ok(s.initrd(&[&root], None));
    let bootfs = s.work.join("bootfs");
    std::fs::create_dir_all(&bootfs).unwrap();
    let uinitrd = bootfs.join("uInitrd");
    mkimage(
        &[
            "-A", "arm64", "-O", "linux", "-T", "ramdisk", "-C", "gzip", "-n", "uInitrd",
        ],
        &stock,
        &uinitrd,
    );
    let mut c = flash_cmd(Arch::Arm64, &keys);
    c.board = "qemu-arm64-uboot".into();
    let c_mode = Mode::Initrd {
        file: uinitrd.clone(),
    };
    ok(tessera_flash::run(&c_mode, &c));
    // The backup stays beside the image, not on the card.
    let _ = std::fs::remove_file(bootfs.join("uInitrd.bak"));
    let boot_cmd = s.work.join("boot.cmd");
    std::fs::write(&boot_cmd, BOOT_CMD).unwrap();
    mkimage(
        &["-C", "none", "-A", "arm64", "-T", "script"],
        &boot_cmd,
        &bootfs.join("boot.scr"),
    );
    // Debian's arm64 vmlinuz is already an uncompressed Image: booti takes it as is.
    std::fs::copy(s.chroot.kernel(), bootfs.join("Image")).unwrap();
    let mut spec = s.spec(&uinitrd, &[&root], Nic::User, "armbian_env=imported");
    std::fs::write(
        bootfs.join("armbianEnv.txt"),
        format!("verbosity=1\nextraargs={}\n", spec.append.trim()),
    )
    .unwrap();
    let disk = s.work.join("sdcard.img");
    armbian_disk(&bootfs, &root, &disk);
    spec.bios = Some(UBOOT_QEMU_ARM64.into());
    spec.disks = vec![disk];
    let m = ok(Machine::boot(&spec));
    ok(m.wait_for("Found U-Boot script /boot.scr", Duration::from_secs(60)));
    ok(m.wait_for(
        "## Loading init Ramdisk from Legacy Image",
        Duration::from_secs(60),
    ));
    ok(m.wait_for("Verifying Checksum ... OK", Duration::from_secs(60)));
    let cmdline = ok(m.wait_line("Kernel command line:", Duration::from_secs(60)));
    assert!(
        cmdline.contains("armbian_env=imported") && cmdline.contains("root=/dev/mapper/cryptroot"),
        "armbianEnv.txt's extraargs did not reach the kernel: {cmdline}"
    );
    unlock_booted(m, &keys);
}
