//! LUKS2 disk images made entirely in userspace (`cryptsetup reencrypt --encrypt` on a plain file: no
//! device-mapper, no loop device), with a cheap pbkdf2 keyslot so that a TCG guest opens them in a
//! second. The root image's `/sbin/init` prints [`crate::MARKER`] with what the initramfs left
//! behind, then powers off.
//! It must never use the default argon2id keyslot (1 GiB of guest memory) nor a filesystem that
//! reaches into the last `--reduce-device-size` bytes of the file (they are cut off silently).

use crate::chroot::Chroot;
use crate::error::{Error, Result};
use crate::host::run;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const ROOT_UUID: &str = "5e2e0000-0000-4000-8000-000000000001";
pub const DATA_UUID: &str = "5e2e0000-0000-4000-8000-000000000002";

#[derive(Clone, Debug)]
pub struct LuksImage {
    pub path: PathBuf,
    pub uuid: String,
    pub passphrase: String,
}

/// What the unlocked root says: the marker, then facts a scenario checks (which mappings are open,
/// whether the initramfs left `/run/tessera` or a running agent behind).
const INIT: &str = r#"#!/bin/busybox sh
B=/bin/busybox
$B grep -q " /proc " /proc/mounts 2>/dev/null || $B mount -t proc proc /proc
maps=$($B ls /dev/mapper 2>/dev/null | $B grep -v '^control$' | $B tr '\n' ',')
run=absent
[ -e /run/tessera ] && run=present
agents=0
for c in /proc/[0-9]*/comm; do
  [ "$($B cat "$c" 2>/dev/null)" = tessera-agent ] && agents=$((agents + 1))
done
echo "ROOT-UNLOCKED-OK $($B cat /MARKER) mapper=$maps run-tessera=$run agents=$agents" > /dev/console
$B sync
$B poweroff -f
echo o > /proc/sysrq-trigger
$B sleep 5
"#;

/// The chroot's busybox and the shared objects it needs, as (path inside the chroot, real file).
fn busybox_closure(chroot: &Chroot) -> Result<Vec<(String, PathBuf)>> {
    let ldd = chroot.run(&["ldd", "/bin/busybox"])?;
    let mut wanted = vec!["/bin/busybox".to_string()];
    for line in ldd.lines() {
        // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
        let path = match line.split_once("=>") {
            Some((_, rhs)) => rhs.split_whitespace().next(),
            None => line.split_whitespace().next(),
        };
        if let Some(p) = path.filter(|p| p.starts_with('/')) {
            wanted.push(p.to_string());
        }
    }
    let mut out = Vec::new();
    for p in wanted {
        let real = chroot.run(&["readlink", "-f", &p])?;
        out.push((p, chroot.dir.join(real.trim().trim_start_matches('/'))));
    }
    Ok(out)
}

fn encrypt(img: &Path, passphrase: &str, uuid: &str, work: &Path) -> Result<()> {
    let keyfile = work.join(format!(
        "{}.pass",
        img.file_name().unwrap().to_string_lossy()
    ));
    std::fs::write(&keyfile, passphrase).map_err(Error::io("writing the key file"))?;
    // cryptsetup locks a reencryption by UUID, and every scenario uses the same UUIDs: one at a time.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let _flock = crate::cache::lock("cryptsetup-reencrypt")?;
    // reencrypt writes a temporary header named after the UUID into its working folder: keep
    // parallel scenarios (same UUIDs) apart.
    run(Command::new("cryptsetup")
        .current_dir(work)
        .args([
            "reencrypt",
            "--encrypt",
            "--type",
            "luks2",
            "--reduce-device-size",
            "16M",
        ])
        .args([
            "--pbkdf",
            "pbkdf2",
            "--pbkdf-force-iterations",
            "1000",
            "--batch-mode",
        ])
        .args(["--uuid", uuid, "--key-file"])
        .arg(&keyfile)
        .arg(img))?;
    let _ = std::fs::remove_file(&keyfile);
    Ok(())
}

/// A 64 MiB LUKS2 image holding a 32 MiB ext4 root: busybox, `/sbin/init`, `/MARKER`.
pub fn root_image(chroot: &Chroot, work: &Path, passphrase: &str) -> Result<LuksImage> {
    let src = work.join("rootsrc");
    let _ = std::fs::remove_dir_all(&src);
    for d in ["bin", "sbin", "dev", "proc", "sys", "run", "tmp", "etc"] {
        std::fs::create_dir_all(src.join(d)).map_err(Error::io("making the root tree"))?;
    }
    for (inside, real) in busybox_closure(chroot)? {
        let dest = src.join(inside.trim_start_matches('/'));
        std::fs::create_dir_all(dest.parent().unwrap())
            .map_err(Error::io("making the root tree"))?;
        std::fs::copy(&real, &dest).map_err(Error::io(format!("copying {}", real.display())))?;
    }
    std::fs::write(src.join("MARKER"), "e2e-marker-file\n").map_err(Error::io("writing MARKER"))?;
    // systemd (dracut) refuses to switch into a root without os-release.
    std::fs::write(
        src.join("etc/os-release"),
        "ID=tessera-e2e\nNAME=\"tessera e2e root\"\n",
    )
    .map_err(Error::io("writing os-release"))?;
    let init = src.join("sbin/init");
    std::fs::write(&init, INIT).map_err(Error::io("writing init"))?;
    run(Command::new("chmod").arg("755").arg(&init))?;
    let img = work.join("root.img");
    make_image(&img, Some(&src), "e2eroot")?;
    encrypt(&img, passphrase, crate::disk::ROOT_UUID, work)?;
    Ok(LuksImage {
        path: img,
        uuid: ROOT_UUID.into(),
        passphrase: passphrase.into(),
    })
}

/// A 64 MiB LUKS2 data volume (an empty ext4 inside).
pub fn data_image(work: &Path, passphrase: &str) -> Result<LuksImage> {
    let img = work.join("data.img");
    make_image(&img, None, "e2edata")?;
    encrypt(&img, passphrase, DATA_UUID, work)?;
    Ok(LuksImage {
        path: img,
        uuid: DATA_UUID.into(),
        passphrase: passphrase.into(),
    })
}

fn make_image(img: &Path, tree: Option<&Path>, label: &str) -> Result<()> {
    let _ = std::fs::remove_file(img);
    let f = std::fs::File::create(img).map_err(Error::io("creating the image"))?;
    f.set_len(64 << 20).map_err(Error::io("sizing the image"))?;
    let mut mkfs = Command::new("mkfs.ext4");
    mkfs.args(["-q", "-F", "-L", label]);
    if let Some(t) = tree {
        mkfs.arg("-d").arg(t);
    }
    // 32 MiB filesystem in a 64 MiB file: the LUKS header takes the room `--reduce-device-size` makes.
    run(mkfs.arg(img).arg("32M")).map(|_| ())
}
