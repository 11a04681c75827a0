//! Debian bookworm chroots made by debootstrap, one per architecture and flavour, cached under
//! `<cache>/chroot-<flavour>-<arch>-<VERSION>/` so that only the first run pays for them.
//! Follows research/e2e-feasibility.md: `--foreign` then a second stage with `INITRD=No` (the arm64
//! second stage would otherwise build two MODULES=most initrds under qemu-user, 10 min) and
//! `MODULES=list` with the few modules a qemu machine needs.
//! It must never modify a finished chroot outside `/etc` and `/boot` (initrd builds do that, under a lock).

use crate::cache;
use crate::error::{Error, Result};
use crate::host::{self, run};
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// Bump when the recipe below changes: old chroots are then ignored (delete them by hand).
pub const VERSION: &str = "bookworm-1";

pub use tessera_conf::Arch;

/// What our qemu machines make of an [`Arch`].
pub trait QemuArch {
    /// The serial console the kernel and the agent use in our qemu machines.
    fn console(self) -> &'static str;
}

impl QemuArch for Arch {
    fn console(self) -> &'static str {
        match self {
            Arch::Amd64 => "ttyS0",
            Arch::Arm64 => "ttyAMA0",
        }
    }
}

/// Which initramfs generator (or extra package) the chroot carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Flavor {
    /// initramfs-tools + cryptsetup-initramfs: Debian's default.
    InitramfsTools,
    /// The same plus dropbear-initramfs, for the side-by-side benchmark.
    Dropbear,
    /// dracut with its systemd initrd instead of initramfs-tools.
    Dracut,
}

impl Flavor {
    fn name(self) -> &'static str {
        match self {
            Flavor::InitramfsTools => "itools",
            Flavor::Dropbear => "dropbear",
            Flavor::Dracut => "dracut",
        }
    }
    fn packages(self, arch: Arch) -> String {
        let kernel = format!("linux-image-{}", arch.debian());
        let extra = match self {
            Flavor::InitramfsTools => "cryptsetup-initramfs,busybox,kmod,udev",
            Flavor::Dropbear => "cryptsetup-initramfs,dropbear-initramfs,busybox,kmod,udev",
            // debootstrap would take initramfs-tools for the kernel's initramfs dependency and then
            // refuse dracut: the kernel and dracut are installed by apt after the second stage.
            Flavor::Dracut => return "cryptsetup,systemd,systemd-sysv,busybox,kmod,udev".into(),
        };
        format!("{kernel},{extra}")
    }
}

/// A finished chroot: its folder and the kernel version it holds.
#[derive(Debug)]
pub struct Chroot {
    pub dir: PathBuf,
    pub arch: Arch,
    pub flavor: Flavor,
    pub kernel_version: String,
    /// Serialises everything that changes `/etc` or `/boot` inside the chroot (initrd builds).
    pub build_lock: Mutex<()>,
}

impl Chroot {
    pub fn kernel(&self) -> PathBuf {
        self.dir
            .join(format!("boot/vmlinuz-{}", self.kernel_version))
    }
    /// Runs a command inside the chroot.
    pub fn run(&self, args: &[&str]) -> Result<String> {
        run(Command::new("chroot")
            .arg(&self.dir)
            .args(args)
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"))
    }
}

type Slot = OnceLock<std::result::Result<&'static Chroot, String>>;

/// The chroot for `arch` and `flavor`, built on first use (once per process, and once per cache
/// thanks to a file lock).
pub fn get(arch: Arch, flavor: Flavor) -> Result<&'static Chroot> {
    static SLOTS: [[Slot; 3]; 2] = [
        [OnceLock::new(), OnceLock::new(), OnceLock::new()],
        [OnceLock::new(), OnceLock::new(), OnceLock::new()],
    ];
    let slot = &SLOTS[arch as usize][flavor as usize];
    let r = slot.get_or_init(|| {
        build(arch, flavor)
            .map(|c| &*Box::leak(Box::new(c)))
            .map_err(|e| e.to_string())
    });
    r.clone().map_err(|e| Error::Unexpected {
        what: format!("building the {arch:?} {flavor:?} chroot failed earlier: {e}"),
        transcript_tail: String::new(),
    })
}

fn build(arch: Arch, flavor: Flavor) -> Result<Chroot> {
    host::require(&["debootstrap", "chroot", "cryptsetup", "mkfs.ext4"])?;
    if arch == Arch::Arm64 {
        host::enable_binfmt_aarch64()?;
    }
    let name = format!("chroot-{}-{}-{VERSION}", flavor.name(), arch.debian());
    let dir = cache::root().join(&name);
    let _lock = cache::lock(&name)?;
    if !dir.join(".tessera-complete").exists() {
        let t0 = std::time::Instant::now();
        eprintln!("e2e: building {name} with debootstrap (once; later runs reuse it)");
        let tmp = cache::root().join(format!("{name}.partial"));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp)
                .map_err(Error::io(format!("removing {}", tmp.display())))?;
        }
        let mirror = host::debian_mirror();
        run(Command::new("debootstrap")
            .arg(format!("--arch={}", arch.debian()))
            .args(["--foreign", "--variant=minbase"])
            .arg(format!("--include={}", flavor.packages(arch)))
            .args(["bookworm"])
            .arg(&tmp)
            .arg(&mirror))?;
        let confd = tmp.join("etc/initramfs-tools/conf.d");
        std::fs::create_dir_all(&confd).map_err(Error::io("creating conf.d"))?;
        // An unowned file: dpkg leaves it alone, so MODULES=list is in force for every build.
        std::fs::write(confd.join("e2e-modules"), "MODULES=list\n")
            .map_err(Error::io("writing conf.d"))?;
        if flavor == Flavor::Dracut {
            // dracut's kernel hook would build a generic image under qemu-user / natively: skip it.
            std::fs::create_dir_all(tmp.join("etc/dracut.conf.d"))
                .map_err(Error::io("dracut.conf.d"))?;
        }
        run(Command::new("chroot")
            .arg(&tmp)
            .args(["/debootstrap/debootstrap", "--second-stage"])
            .env("INITRD", "No")
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"))?;
        if flavor == Flavor::Dracut {
            let apt = |args: &[&str]| {
                run(Command::new("chroot")
                    .arg(&tmp)
                    .args(args)
                    .env("INITRD", "No")
                    .env("DEBIAN_FRONTEND", "noninteractive")
                    .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"))
            };
            apt(&["apt-get", "update", "-qq"])?;
            let kernel = format!("linux-image-{}", arch.debian());
            apt(&[
                "apt-get",
                "install",
                "-y",
                "-qq",
                "--no-install-recommends",
                "dracut",
                "dracut-core",
                &kernel,
            ])?;
        }
        let archives = tmp.join("var/cache/apt/archives");
        for e in std::fs::read_dir(&archives)
            .map_err(Error::io("reading apt archives"))?
            .flatten()
        {
            if e.path().extension().is_some_and(|x| x == "deb") {
                let _ = std::fs::remove_file(e.path());
            }
        }
        let mut modules =
            std::fs::read_to_string(tmp.join("etc/initramfs-tools/modules")).unwrap_or_default();
        modules.push_str("virtio_pci\nvirtio_blk\nvirtio_net\ne1000\next4\n");
        let _ = std::fs::write(tmp.join("etc/initramfs-tools/modules"), modules);
        std::fs::write(tmp.join(".tessera-complete"), format!("{VERSION}\n"))
            .map_err(Error::io("stamp"))?;
        std::fs::rename(&tmp, &dir).map_err(Error::io(format!("renaming {}", tmp.display())))?;
        eprintln!("e2e: {name} ready in {:.0} s", t0.elapsed().as_secs_f64());
    }
    let kernel_version = std::fs::read_dir(dir.join("lib/modules"))
        .map_err(Error::io("reading lib/modules"))?
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .max()
        .ok_or_else(|| Error::Missing {
            what: format!("a kernel in {}", dir.display()),
            hint: format!("delete {} and run again", dir.display()),
        })?;
    Ok(Chroot {
        dir,
        arch,
        flavor,
        kernel_version,
        build_lock: Mutex::new(()),
    })
}
