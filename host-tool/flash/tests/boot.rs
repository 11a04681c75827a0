//! `tessera flash` against real Debian initramfs images booted under qemu (the tests/ harness):
//! a stock initrd (gzip, and the same archive as one zstd frame) flashed with `--initrd`, a
//! debootstrap root flashed with `--root --update-initramfs`, and the tessera-agent .deb installed
//! into a copy of that root. Each boot is unlocked over the network by `tessera unlock`, and the
//! unlocked root reports that nothing of tessera survived. Needs scripts/build-agents.sh and the
//! host tool (target/debug/tessera), like every boot test.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use tessera_e2e::chroot::{Arch, Flavor};
use tessera_e2e::scenario::{shared_keys, Scenario, PASSPHRASE};
use tessera_e2e::tools::{self, unlock, Target};
use tessera_e2e::{LuksImage, Nic, MARKER, PROMPT};
use tessera_flash::cli::FlashCmd;

const PROMPT_WAIT: Duration = Duration::from_secs(300);
const UNLOCK_WAIT: Duration = Duration::from_secs(120);
const TOOL_WAIT: Duration = Duration::from_secs(180);

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn flash_cmd(arch: Arch, keys: &tools::Keys) -> FlashCmd {
    FlashCmd {
        board: match arch {
            Arch::Amd64 => "qemu-amd64".into(),
            Arch::Arm64 => "qemu-arm64".into(),
        },
        initrd: None,
        root: None,
        ssh: None,
        ssh_command: "ssh".into(),
        remote_root: "/".into(),
        update_initramfs: false,
        no_update_initramfs: false,
        agent: Some(ok(tools::agent(arch))),
        hook_dir: Some(repo().join("initramfs-hook")),
        boards: None,
        host_id: Some("flash-e2e".into()),
        volume: vec![],
        listen: vec!["0.0.0.0:7743".into()],
        no_serial: false,
        admin_key: vec![keys.identity_pub.trim().to_string()],
        authorized_keys: None,
        // The host key the scenario's `tessera unlock --host-key` expects.
        host_key: Some(keys.host_key_pub.with_extension("")),
        new_host_key: false,
        no_pin: true,
        dry_run: false,
    }
}

/// Boots `initrd` with the LUKS root, unlocks it over the network, checks the clean unlock.
fn boot_and_unlock(s: &Scenario, initrd: &Path, root: &LuksImage, keys: &tools::Keys) {
    let mut m = ok(s.boot(initrd, &[root], Nic::User, ""));
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
        "the kernel dropped the appended segment"
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
    let mut c = flash_cmd(Arch::Amd64, &keys);
    c.initrd = Some(initrd.clone());
    ok(c.execute());
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
        let mut c = flash_cmd(Arch::Amd64, &keys);
        c.root = Some(copy.dir.clone());
        c.update_initramfs = true;
        let report = ok(c.execute());
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
        let mut c = flash_cmd(Arch::Amd64, &keys);
        c.root = Some(copy.dir.clone());
        c.update_initramfs = true;
        let report = ok(c.execute());
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
    c.initrd = Some(uinitrd.clone());
    ok(c.execute());
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
